"""The full run of `generate`: every stage, then compare with or write the output."""

import sys
import time
from pathlib import Path

from generator.cache import TextCache
from generator.errors import DescriptionErrors
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
        texts = {path.as_posix(): text for path, text in files.items()}
        try:
            problems = check_output(texts, root, OUTPUT_PACKAGE.as_posix(), output.origins)
        except PyrightUnavailable as why:
            print(f"error: pyright could not check the new code: {why}", file=sys.stderr)
            print(
                "  fix: run `make generate` (it installs pyright), or pass --no-typecheck",
                file=sys.stderr,
            )
            return 2, {}
        if problems:
            return _rejected(DescriptionErrors(problems)), {}
    write_atomically(root, files)
    changed = len(drift.stale) + len(drift.missing) + len(drift.orphaned)
    seconds = time.perf_counter() - started
    print(f"wrote {outputs} ({made}, {changed} changed, {seconds:.2f} s).")
    return 0, files


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
