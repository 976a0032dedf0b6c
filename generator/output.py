"""Stage 7: write generated files atomically, or compare them with what is committed.

Files under `generated/` (or, for a user's own descriptions, under the user's output package:
`owned`) are owned by the generator (a file no description generates there is orphaned); any
other file (README.md, whose slots table is generated) is compared and replaced on its own.
"""

import ctypes
import difflib
import errno
import fcntl
import functools
import os
import shutil
import signal
import tempfile
import threading
from collections.abc import Callable, Generator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path

HASH_PREFIX = "# Input hash: "
GENERATED = Path("generated")  # the bundled output, relative to the project root
STAGING_PREFIX = ".generated."  # a run's staging folder in the root: .generated.XXXXXXXX/
LOCK = ".generated.lock"  # serializes the runs that write (and clean up) in one root


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


class InterruptedAfterWriting(KeyboardInterrupt):
    """Ctrl-C arrived while the new output was being swapped in; the swap was finished first."""


def write_atomically(root: Path, files: dict[Path, str], owned: Path = GENERATED) -> None:
    """Replaces `owned` (`generated/`, or a user's output package; relative to root) with exactly
    the files under it, all at once, and each other file (README.md) by a rename.

    One run at a time writes in a root (an exclusive lock on `.generated.lock`). Everything is
    written into a staging folder `.generated.XXXXXXXX/` in the root first and then swapped in: on
    Linux `generated/` is exchanged with the staged tree in one step (renameat2 RENAME_EXCHANGE),
    so there is no moment without a complete `generated/`; elsewhere by two renames, the old tree
    kept in the staging folder until the new one is in place. A failure or Ctrl-C while writing
    leaves `generated/` and README.md untouched; Ctrl-C during the swap is held back until the swap
    is done (then InterruptedAfterWriting). Files no longer generated disappear with the old tree.
    What a killed run left behind is cleaned up by the next run (see recover).
    """
    output_dir = root / owned
    generated, documents = _split(files, owned)
    with _locked(root):
        _recover(root)
        staging = Path(tempfile.mkdtemp(prefix=STAGING_PREFIX, dir=root))
        try:
            _stage(staging, root, owned, generated, documents)
            with _sigint_held_back():
                try:
                    _swap(staging / "generated", output_dir, staging / "old")
                    for relative in sorted(documents):
                        os.replace(staging / "documents" / relative, root / relative)
                finally:
                    _recover(root)  # the old tree (or on failure the new one) and the staging
        except BaseException:
            _recover(root)  # the staging folder of a failed or interrupted run
            raise


def _stage(
    staging: Path,
    root: Path,
    owned: Path,
    generated: dict[Path, str],
    documents: dict[Path, str],
) -> None:
    """generated/ as staging/generated/ (made by mkdir: not mkdtemp's private mode), other files
    (README.md) under staging/documents/, with the modes of the files they replace."""
    (staging / "generated").mkdir()
    (staging / "target").write_text(owned.as_posix(), encoding="utf-8")  # for _recover
    for relative, text in sorted(generated.items()):
        target = staging / "generated" / relative.relative_to(owned)
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
    for relative, text in sorted(documents.items()):
        target = staging / "documents" / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(text, encoding="utf-8")
        if (root / relative).exists():
            shutil.copymode(root / relative, target)


def recover(root: Path) -> None:
    """Cleans up after a run that was killed while writing: puts back the previous `generated/`
    if the kill came between the two renames of a swap, and deletes the staging folders. Does
    nothing (writes nothing) when there is nothing to clean; waits while another run writes."""
    if any(root.glob(STAGING_PREFIX + "*")):  # staging folders, or the lock file a kill left
        with _locked(root):
            _recover(root)


def _leftovers(root: Path) -> list[Path]:
    """The staging folders in the root (the lock file aside)."""
    return sorted(path for path in root.glob(STAGING_PREFIX + "*") if path.name != LOCK)


def _recover(root: Path) -> None:
    """Under the lock, so every staging folder is a dead run's (or this run's, when it is done)."""
    leftovers = _leftovers(root)
    for leftover in leftovers:
        if not (leftover / "old").is_dir():
            continue
        try:  # the folder the dead run was replacing: generated/ or a user's package
            output_dir = root / (leftover / "target").read_text(encoding="utf-8")
        except OSError:
            output_dir = root / GENERATED
        if not output_dir.exists():
            os.rename(leftover / "old", output_dir)  # a complete tree: it was the output
    for leftover in leftovers:
        if leftover.is_dir() and not leftover.is_symlink():
            shutil.rmtree(leftover, ignore_errors=True)
        else:
            leftover.unlink(missing_ok=True)


@contextmanager
def _locked(root: Path) -> Generator[None]:
    """Holds an exclusive lock on `root/.generated.lock`, waiting for it; the file is deleted
    when the lock is released (a waiter that then holds a lock on the deleted file tries again)."""
    path = root / LOCK
    while True:
        descriptor = os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o644)
        try:
            fcntl.flock(descriptor, fcntl.LOCK_EX)
            if os.path.samestat(os.fstat(descriptor), os.stat(path)):
                break
        except FileNotFoundError:
            pass  # deleted by the holder before it released the lock
        except BaseException:
            os.close(descriptor)
            raise
        os.close(descriptor)
    try:
        yield
    finally:
        path.unlink(missing_ok=True)
        os.close(descriptor)


def _swap(new_tree: Path, output_dir: Path, backup: Path) -> None:
    """Puts `new_tree` at `output_dir`; the old tree ends at `new_tree` (exchange) or at
    `backup` (two renames)."""
    if not output_dir.exists():
        os.rename(new_tree, output_dir)
    elif not _exchange(new_tree, output_dir):
        os.rename(output_dir, backup)
        os.rename(new_tree, output_dir)  # if this fails, _recover puts the backup back


_AT_FDCWD = -100
_RENAME_EXCHANGE = 2  # linux/fs.h
# renameat2's errors for a kernel or file system without RENAME_EXCHANGE
_EXCHANGE_UNSUPPORTED = frozenset({errno.ENOSYS, errno.EINVAL, errno.EOPNOTSUPP})


def _exchange(first: Path, second: Path) -> bool:
    """Swaps two paths in one step (Linux renameat2 with RENAME_EXCHANGE); False where the C
    library, the kernel or the file system cannot."""
    renameat2 = _renameat2()
    if renameat2 is None:
        return False
    if renameat2(_AT_FDCWD, os.fsencode(first), _AT_FDCWD, os.fsencode(second), _RENAME_EXCHANGE):
        number = ctypes.get_errno()
        if number in _EXCHANGE_UNSUPPORTED:
            return False
        raise OSError(number, os.strerror(number), str(first), None, str(second))
    return True


@functools.cache
def _renameat2() -> Callable[[int, bytes, int, bytes, int], int] | None:
    """glibc's renameat2 (2.28+), or None."""
    try:
        function = ctypes.CDLL(None, use_errno=True).renameat2
    except (AttributeError, OSError):
        return None
    function.argtypes = [
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_int,
        ctypes.c_char_p,
        ctypes.c_uint,
    ]
    function.restype = ctypes.c_int
    return function


@contextmanager
def _sigint_held_back() -> Generator[None]:
    """Holds Ctrl-C back until the block is done (the swap's renames, deleting the old tree), so
    that a run stops either before it changed anything or after it changed everything; then
    raises InterruptedAfterWriting (or does what the previous SIGINT handler does)."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread receives signals
        return
    received: list[int] = []
    previous = signal.signal(signal.SIGINT, lambda number, _: received.append(number))
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)
    if received:
        if previous is signal.default_int_handler:
            raise InterruptedAfterWriting
        signal.raise_signal(signal.SIGINT)
