"""The descriptions as they were at a git ref: `git archive` of the schemas folder, unpacked
into a temporary directory with the repository's layout, so that they load like the working
tree's (with that ref's slot.schema.json) and their file names read the same."""

import subprocess
import tarfile
from io import BytesIO
from pathlib import Path


class GitError(Exception):
    """The ref or the repository cannot be read; the message says why."""


def _git(root: Path, *arguments: str) -> subprocess.CompletedProcess[bytes]:
    try:
        return subprocess.run(["git", "-C", str(root), *arguments], capture_output=True)
    except FileNotFoundError:
        raise GitError("git is not installed (the `git` program was not found)") from None


def toplevel(root: Path) -> Path:
    """The top of the git work tree that holds `root`."""
    result = _git(root, "rev-parse", "--show-toplevel")
    if result.returncode != 0:
        raise GitError(f"{root} is not inside a git repository")
    return Path(result.stdout.decode().strip()).resolve()


def commit_of(root: Path, ref: str) -> str:
    """The commit `ref` names in the repository of `root`."""
    result = _git(root, "rev-parse", "--verify", "--quiet", "--end-of-options", f"{ref}^{{commit}}")
    if result.returncode != 0:
        raise GitError(
            f"unknown git ref {ref!r} in {toplevel(root)}"
            " (give a branch, tag or commit; fetch it first in a shallow CI checkout)"
        )
    return result.stdout.decode().strip()


def extract(root: Path, ref: str, folder: Path, into: Path) -> Path:
    """Writes `folder` (inside the repository of `root`) as it was at `ref` under `into`, at the
    same relative path; returns `into` / that path."""
    top = toplevel(root)
    commit = commit_of(root, ref)
    try:
        relative = folder.resolve().relative_to(top).as_posix()
    except ValueError:
        raise GitError(f"{folder} is not inside the git repository {top}") from None
    result = _git(top, "archive", "--format=tar", commit, "--", relative)
    if result.returncode != 0:
        raise GitError(f"{ref!r} has no {relative}/: {result.stderr.decode().strip()}")
    with tarfile.open(fileobj=BytesIO(result.stdout)) as archive:
        archive.extractall(into, filter="data")
    return into / relative
