"""Stage 7: write generated files atomically, or compare them with what is committed."""

import difflib
import os
import shutil
import tempfile
from dataclasses import dataclass
from pathlib import Path

HASH_PREFIX = "# Input hash: "


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


def compare(root: Path, files: dict[Path, str]) -> Drift:
    """Stale, missing and orphaned files under `generated/`, with a unified diff."""
    output_dir = root / "generated"
    expected = {path.relative_to("generated"): text for path, text in files.items()}
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
            stale.append((Path("generated") / relative, why))
            diff.extend(
                difflib.unified_diff(
                    actual.splitlines(keepends=True),
                    expected[relative].splitlines(keepends=True),
                    f"a/generated/{relative}",
                    f"b/generated/{relative}",
                )
            )
    return Drift(
        stale=tuple(stale),
        missing=tuple(Path("generated") / p for p in sorted(set(expected) - present)),
        orphaned=tuple(Path("generated") / p for p in sorted(present - set(expected))),
        diff="".join(diff),
    )


def _input_hash(text: str) -> str | None:
    for line in text.splitlines():
        if not line.startswith("#"):
            return None  # the header is the leading comment block
        if line.startswith(HASH_PREFIX):
            return line.removeprefix(HASH_PREFIX)
    return None


def write_atomically(root: Path, files: dict[Path, str]) -> None:
    """Replaces `generated/` with exactly `files`, all at once.

    The new tree is written beside the old one and swapped in with two renames, so a failure
    while writing leaves `generated/` untouched; files no longer generated disappear with it.
    """
    output_dir = root / "generated"
    backup = root / ".generated.old"
    _recover(output_dir, backup)
    staging = Path(tempfile.mkdtemp(prefix=".generated.", dir=root))
    try:
        for relative, text in sorted(files.items()):
            target = staging / relative.relative_to("generated")
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_text(text, encoding="utf-8")
        if output_dir.exists():
            os.replace(output_dir, backup)
        os.replace(staging, output_dir)
    except BaseException:
        shutil.rmtree(staging, ignore_errors=True)
        _recover(output_dir, backup)
        raise
    shutil.rmtree(backup, ignore_errors=True)


def _recover(output_dir: Path, backup: Path) -> None:
    """Restores a backup left by an interrupted swap."""
    if backup.exists() and not output_dir.exists():
        os.replace(backup, output_dir)
    shutil.rmtree(backup, ignore_errors=True)
