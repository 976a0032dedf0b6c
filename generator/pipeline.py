"""Runs the stages in order: descriptions -> files (path -> content). Writes nothing."""

import hashlib
from pathlib import Path

from generator.formatting import format_code
from generator.load import load_descriptions
from generator.model import build_model
from generator.render import TEMPLATES, environment, render_module, render_package
from generator.validate import validate
from generator.view import build_views

GENERATOR_DIR = Path(__file__).resolve().parent
OUTPUT_PACKAGE = Path("generated") / "megatron_core"


def generator_fingerprint(schemas_dir: Path) -> str:
    """Hash of the code that turns descriptions into files: generator, templates, schema."""
    labelled = [(f"generator/{p.name}", p) for p in GENERATOR_DIR.glob("*.py")]
    labelled += [(f"templates/{p.name}", p) for p in TEMPLATES.glob("*.j2")]
    labelled.append(("schemas/slot.schema.json", schemas_dir / "slot.schema.json"))
    digest = hashlib.sha256()
    for label, path in sorted(labelled):  # by label, so the hash does not depend on locations
        digest.update(label.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def generate_files(schemas_dir: Path, root: Path) -> dict[Path, str]:
    """All generated files, keyed by path relative to the project root."""
    descriptions = [build_model(loaded) for loaded in load_descriptions(schemas_dir, root)]
    catalog = validate(descriptions)
    modules, package = build_views(catalog, generator_fingerprint(schemas_dir))
    env = environment()
    files = {
        Path("generated") / "__init__.py": '"""Code generated from schemas/; see generator/."""\n',
        OUTPUT_PACKAGE / "__init__.py": format_code(render_package(env, package), "package_init.py.j2"),
    }
    for module in modules:
        files[OUTPUT_PACKAGE / module.path] = format_code(render_module(env, module), "module.py.j2")
    return files
