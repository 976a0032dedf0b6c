"""The hash of the code that turns descriptions into files. Imports nothing heavy: the no-op
check (generator.incremental) runs it before any stage is imported."""

import hashlib
from pathlib import Path

GENERATOR_DIR = Path(__file__).resolve().parent
TEMPLATES = GENERATOR_DIR.parent / "templates"

# The pipeline's stages live in generator/*.py. Not hashed, because they generate nothing: the
# command line (cli.py, __main__.py, commands/), spec_tree.py, which reads specs at run time
# (tests, `explain`), the no-op check and its cache, which only decide whether to run, and
# output.py, which writes what the stages made.
_NOT_STAGES = frozenset(
    {"spec_tree.py", "cli.py", "__main__.py", "incremental.py", "cache.py", "output.py"}
)


def generator_fingerprint(schemas_dir: Path) -> str:
    """Hash of the generator's stages, its templates and the description schema."""
    modules = [p for p in GENERATOR_DIR.glob("*.py") if p.name not in _NOT_STAGES]
    labelled = [(f"generator/{p.name}", p) for p in modules]
    labelled += [(f"templates/{p.name}", p) for p in TEMPLATES.glob("*.j2")]
    labelled.append(("schemas/slot.schema.json", schemas_dir / "slot.schema.json"))
    digest = hashlib.sha256()
    for label, path in sorted(labelled):  # by label, so the hash does not depend on locations
        digest.update(label.encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()
