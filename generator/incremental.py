"""Skips a generation whose inputs and outputs are exactly as the last run left them.

A run that wrote or verified the output records a stamp: one hash of everything the output is
made from (the generator's stages and templates, the descriptions, the versions of megatron-core,
black and Jinja2, Python's version) and the hash of every output file. The next run hashes the
same inputs and the files on disk; when both agree with the stamp there is nothing to do, and it
says so without importing any stage (black, jsonschema and Jinja2 are most of a run's start-up).
A file edited by hand, added to or removed from `generated/` makes the check fail, and the full
run then decides. The stamp lives in `.cache/generator/` and is only ever a shortcut.
"""

import hashlib
import json
import sys
from importlib import metadata
from pathlib import Path
from typing import cast

from generator.cache import CACHE_DIR, store
from generator.fingerprint import generator_fingerprint

STAMP = "stamp.json"
# Distributions whose version changes what a run writes: megatron-core's source is read for
# validation and the README table; black formats; Jinja2 renders.
_DISTRIBUTIONS = ("megatron-core", "black", "Jinja2")


def inputs_hash(schemas_dir: Path, root: Path, description_dirs: tuple[Path, ...]) -> str:
    """The hash of everything a run reads to make its output."""
    digest = hashlib.sha256(generator_fingerprint(schemas_dir).encode())
    digest.update(f"{sys.version_info[:3]}\0{root}\0".encode())
    for name in _DISTRIBUTIONS:
        try:
            version = metadata.version(name)
        except metadata.PackageNotFoundError:
            version = "absent"
        digest.update(f"{name}={version}\0".encode())
    for folder in description_dirs:
        for path in sorted(folder.rglob("*.json")):
            digest.update(str(path).encode() + b"\0" + path.read_bytes() + b"\0")
    return digest.hexdigest()


def _hash(content: bytes) -> str:
    return hashlib.sha256(content).hexdigest()


def is_up_to_date(root: Path, inputs: str) -> bool:
    """True when the last run's stamp has these inputs and the files on disk are exactly the
    files it made: same content, and nothing else under `generated/`."""
    try:
        outputs = _recorded_outputs(root, inputs)
        if outputs is None:
            return False
        on_disk = {
            path.relative_to(root).as_posix()
            for path in (root / "generated").rglob("*")
            if path.is_file() and "__pycache__" not in path.parts
        }
        if on_disk != {path for path in outputs if path.startswith("generated/")}:
            return False
        return all(_hash((root / path).read_bytes()) == digest for path, digest in outputs.items())
    except OSError:
        return False


def _recorded_outputs(root: Path, inputs: str) -> dict[str, str] | None:
    """The stamp's output hashes when it was made from `inputs`."""
    try:
        data: object = json.loads((root / CACHE_DIR / STAMP).read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return None
    if not isinstance(data, dict):
        return None
    stamp = cast(dict[str, object], data)  # a JSON object's keys are strings
    outputs = stamp.get("outputs")
    if stamp.get("inputs") != inputs or not isinstance(outputs, dict):
        return None
    return {str(path): str(digest) for path, digest in cast(dict[object, object], outputs).items()}


def record(root: Path, inputs: str, files: dict[Path, str]) -> None:
    """Stamps `files` (path relative to the root -> content) as the output of `inputs`.

    The hashes are of what this run made, not of the disk, so a concurrent run that wrote
    other output in between makes the next check fail instead of trusting it.
    """
    stamp = {
        "inputs": inputs,
        "outputs": {path.as_posix(): _hash(text.encode()) for path, text in sorted(files.items())},
    }
    store(root / CACHE_DIR / STAMP, json.dumps(stamp, sort_keys=True))
