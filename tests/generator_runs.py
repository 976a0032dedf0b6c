"""Helpers for tests that run the generator as users do: a project copy, the CLI, the output tree."""

import os
import shutil
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def copy_project(target: Path, *, with_generated: bool = True, with_readme: bool = False) -> Path:
    """Copies schemas/ (and generated/, and README.md with its generated slots table) into
    `target`, laid out as in the project; returns it."""
    shutil.copytree(ROOT / "schemas", target / "schemas")
    if with_generated:
        ignore = shutil.ignore_patterns("__pycache__")
        shutil.copytree(ROOT / "generated", target / "generated", ignore=ignore)
    if with_readme:
        shutil.copyfile(ROOT / "README.md", target / "README.md")
    return target


def run_generator(root: Path, *args: str, hash_seed: str = "0") -> subprocess.CompletedProcess[str]:
    """`python -m generator generate` on the project copy at `root` (its schemas/ holds the
    bundled descriptions)."""
    command = [sys.executable, "-m", "generator", "generate", *args, "--root", str(root)]
    env = {**os.environ, "PYTHONHASHSEED": hash_seed}
    return subprocess.run(command, cwd=ROOT, capture_output=True, text=True, env=env)


def tree(folder: Path) -> dict[str, bytes]:
    """Every file below `folder` (bytecode caches aside), by relative path."""
    return {
        path.relative_to(folder).as_posix(): path.read_bytes()
        for path in sorted(folder.rglob("*"))
        if path.is_file() and "__pycache__" not in path.parts
    }
