"""A content-addressed store of text under `.cache/generator/` (git-ignored).

Entries are keyed by the SHA-256 of everything that determines them, so an entry is never
stale: a changed input is a different key. Each entry is written to a temporary file and renamed
into place, so concurrent runs and killed runs leave only whole entries. Deleting the folder is
always safe.
"""

import hashlib
import os
import tempfile
from pathlib import Path

CACHE_DIR = Path(".cache") / "generator"


def key(*parts: str) -> str:
    digest = hashlib.sha256()
    for part in parts:
        digest.update(part.encode() + b"\0")
    return digest.hexdigest()


class TextCache:
    """One namespace of entries (e.g. formatted modules); counts hits and misses.

    An entry starts with the SHA-256 of its text, so an entry damaged on disk (or edited) is a
    miss, never wrong output.
    """

    def __init__(self, directory: Path) -> None:
        self.directory = directory
        self.hits = 0
        self.misses = 0

    def get(self, entry: str) -> str | None:
        try:
            stored = (self.directory / entry[:2] / entry).read_text(encoding="utf-8")
        except (FileNotFoundError, UnicodeDecodeError):
            stored = ""
        digest, _, text = stored.partition("\n")
        if not stored or digest != key(text):
            self.misses += 1
            return None
        self.hits += 1
        return text

    def put(self, entry: str, text: str) -> None:
        store(self.directory / entry[:2] / entry, f"{key(text)}\n{text}")


def store(path: Path, text: str) -> None:
    """Writes `path` whole or not at all; a cache that cannot be written only costs time."""
    temporary: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        handle, temporary = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
        with os.fdopen(handle, "w", encoding="utf-8") as file:
            file.write(text)
        os.replace(temporary, path)
    except OSError:
        if temporary is not None:
            Path(temporary).unlink(missing_ok=True)
