"""The full run of `generate`: every stage, then compare with or write the output."""

import sys
import time
from collections.abc import Iterable, Mapping
from pathlib import Path

from generator.cache import TextCache
from generator.errors import DescriptionError, DescriptionErrors
from generator.model import Location
from generator.output import Drift, compare, write_atomically
from generator.pipeline import OUTPUT_PACKAGE, generate_output
from generator.slots import README
from generator.typecheck import PyrightUnavailable, check_output


def generate(
    schemas: Path,
    root: Path,
    *,
    check: bool,
    formatted: TextCache | None,
    typecheck: bool,
    started: float,
) -> tuple[int, dict[Path, str]]:
    """(exit status, the files made). Prints what it did or why it failed."""
    try:
        output = generate_output(schemas, root, formatted)
    except DescriptionErrors as errors:
        return _rejected(errors), {}
    files = output.files
    made = (
        f"{formatted.misses} of {len(files)} files rendered" if formatted else f"{len(files)} files"
    )
    drift = compare(root, files)
    outputs = "generated/ and README.md" if README in files else "generated/"
    if check:
        return report_check(drift, outputs, made, "`make generate`"), files
    if drift.clean:
        seconds = time.perf_counter() - started
        print(f"{outputs} already up to date ({made}, {seconds:.2f} s).")
        return 0, files
    if typecheck:
        problems = pyright_stage(
            files,
            root,
            OUTPUT_PACKAGE.as_posix(),
            output.origins,
            "run `make generate` (it installs pyright)",
        )
        if problems is None:
            return 2, {}
        if problems:
            return _rejected(DescriptionErrors(problems)), {}
    write_atomically(root, files)
    changed = len(drift.stale) + len(drift.missing) + len(drift.orphaned)
    seconds = time.perf_counter() - started
    print(f"wrote {outputs} ({made}, {changed} changed, {seconds:.2f} s).")
    return 0, files


def pyright_stage(
    files: Mapping[Path, str],
    base: Path,
    package_dir: str,
    origins: Mapping[str, Location],
    install_hint: str,
    imported_from: Iterable[Path] = (),
) -> list[DescriptionError] | None:
    """The errors pyright strict finds in the new code of `files` (paths relative to `base`),
    located at the descriptions; None, once it has said why, when pyright could not run."""
    texts = {path.as_posix(): text for path, text in files.items()}
    try:
        return check_output(texts, base, package_dir, origins, imported_from)
    except PyrightUnavailable as why:
        print(f"error: pyright could not check the new code: {why}", file=sys.stderr)
        print(f"  fix: {install_hint}, or pass --no-typecheck", file=sys.stderr)
        return None


def _rejected(errors: DescriptionErrors) -> int:
    print(errors, file=sys.stderr)
    print(f"{len(errors.errors)} error(s); generated/ was not changed.", file=sys.stderr)
    return 1


def report_check(drift: Drift, outputs: str, made: str, command: str) -> int:
    """`--check`: 0 when the output is up to date; else the diff, what is stale, missing or
    orphaned, and the command that regenerates it; 1."""
    if drift.clean:
        print(f"{outputs} up to date ({made}).")
        return 0
    sys.stdout.write(drift.diff)
    for path, why in drift.stale:
        print(f"stale: {path}: {why}", file=sys.stderr)
    for path in drift.missing:
        print(f"missing: {path}", file=sys.stderr)
    for path in drift.orphaned:
        print(f"orphaned: {path} (no description generates it)", file=sys.stderr)
    print(f"{outputs} out of date: run {command} and commit the result.", file=sys.stderr)
    return 1
