"""Stage 7: write generated files atomically, or compare them with what is committed.

Files under `generated/` (or, for a user's own descriptions, under the user's output package:
`owned`) are owned by the generator (a file no description generates there is orphaned); any
other file (README.md, whose slots table is generated) is compared and replaced on its own.
"""

import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

HASH_PREFIX = "# Input hash: "
GENERATED = Path("generated")  # the bundled output, relative to the project root


@dataclass(frozen=True)
class Drift:
    """How the files on disk differ from a fresh generation."""

    stale: tuple[tuple[Path, str], ...]  # (path, why)
    missing: tuple[Path, ...]
    orphaned: tuple[Path, ...]
    diff: str

    @property
    def clean(self) -> bool:
        return not (self.stale or self.missing or self.orphaned)


def existing_files(output_dir: Path) -> set[Path]:
    if not output_dir.is_dir():
        return set()
    return {
        path.relative_to(output_dir)
        for path in output_dir.rglob("*")
        if path.is_file() and "__pycache__" not in path.parts
    }


def _split(files: dict[Path, str], owned: Path) -> tuple[dict[Path, str], dict[Path, str]]:
    """(files under the owned folder, other files such as README.md)."""
    generated = {p: t for p, t in files.items() if p.is_relative_to(owned)}
    return generated, {p: t for p, t in files.items() if p not in generated}


def compare(root: Path, files: dict[Path, str], owned: Path = GENERATED) -> Drift:
    """Stale, missing and orphaned files under `owned` (relative to root), stale or missing
    files outside it (README.md), with a unified diff."""
    output_dir = root / owned
    generated, documents = _split(files, owned)
    expected = {path.relative_to(owned): text for path, text in generated.items()}
    present = existing_files(output_dir)
    stale: list[tuple[Path, str]] = []
    diff: list[str] = []
    for relative in sorted(set(expected) & present):
        actual = (output_dir / relative).read_text(encoding="utf-8")
        if actual != expected[relative]:
            why = (
                "edited by hand since it was generated"
                if _input_hash(actual) == _input_hash(expected[relative])
                else "its descriptions or the generator changed since it was generated"
            )
            stale.append((owned / relative, why))
            diff.extend(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    expected[relative].splitlines(keepends=True),
                    f"a/{(owned / relative).as_posix()}",
                    f"b/{(owned / relative).as_posix()}",
                )
            )
    missing = [owned / p for p in sorted(set(expected) - present)]
    for relative, text in sorted(documents.items()):
        if not (root / relative).is_file():
            missing.append(relative)
            continue
        actual = (root / relative).read_text(encoding="utf-8")
        if actual != text:
            stale.append((relative, "its generated part is out of date or was edited by hand"))
            diff.extend(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    text.splitlines(keepends=True),
                    f"a/{relative.as_posix()}",
                    f"b/{relative.as_posix()}",
                )
            )
    return Drift(
        stale=tuple(stale),
        missing=tuple(missing),
        orphaned=tuple(owned / p for p in sorted(present - set(expected))),
        diff="".join(diff),
    )


def _input_hash(text: str) -> str | None:
    for line in text.splitlines():
        if not line.startswith("#"):
            return None  # the header is the leading comment block
        if line.startswith(HASH_PREFIX):
            return line.removeprefix(HASH_PREFIX)
    return None


def write_atomically(root: Path, files: dict[Path, str], owned: Path = GENERATED) -> None:
    """Replaces `owned` (`generated/`, relative to root) with exactly the files under it, all at
    once, and each other file (README.md) by a rename.

    Everything is written beside what it replaces first and then swapped in with renames, so a
    failure while writing leaves `generated/` and README.md untouched; files no longer generated
    disappear with the old tree.
    """
    output_dir = root / owned
    output_dir.parent.mkdir(parents=True, exist_ok=True)
    backup = output_dir.parent / f".{output_dir.name}.old"
    _recover(output_dir, backup)
    generated, documents = _split(files, owned)
    staging = Path(tempfile.mkdtemp(prefix=f".{output_dir.name}.", dir=output_dir.parent))
    # mkdtemp's folder is private (0700); the output keeps its mode, or gets an ordinary one.
    os.chmod(staging, output_dir.stat().st_mode & 0o7777 if output_dir.is_dir() else 0o755)
    staged: list[tuple[Path, Path]] = []  # (temporary file, target) outside generated/
    try:
        for relative, text in sorted(generated.items()):
            target = staging / relative.relative_to(owned)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        for relative, text in sorted(documents.items()):
            target = root / relative
            handle, name = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
            os.close(handle)
            staged.append((Path(name), target))
            Path(name).write_text(text, encoding="utf-8")
            if target.exists():
                shutil.copymode(target, name)  # mkstemp's file is private (0600)
            else:
                os.chmod(name, 0o644)
        if output_dir.exists():
            os.replace(output_dir, backup)
        os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        for temporary, _ in staged:
            temporary.unlink(missing_ok=True)
        _recover(output_dir, backup)
        raise
    shutil.rmtree(backup, ignore_errors=True)
    for temporary, target in staged:
        os.replace(temporary, target)


def _recover(output_dir: Path, backup: Path) -> None:
    """Restores a backup left by an interrupted swap."""
    if backup.exists() and not output_dir.exists():
        os.replace(backup, output_dir)
    shutil.rmtree(backup, ignore_errors=True)
