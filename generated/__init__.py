"""Code generated from schemas/; see generator/."""
