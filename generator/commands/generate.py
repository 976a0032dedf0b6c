"""`python -m generator generate [--check]`: descriptions -> generated/ (and the README table)."""

import argparse
import sys
import time
from pathlib import Path

from generator.errors import DescriptionErrors
from generator.output import InterruptedAfterWriting, compare, recover, write_atomically
from generator.pipeline import generate_files
from generator.slots import README

from generator.commands.paths import ROOT, SCHEMAS

NAME = "generate"
HELP = "generate generated/ from schemas/"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument(
        "--check", action="store_true", help="fail if generated/ is not up to date; write nothing"
    )
    parser.add_argument(
        "--schemas",
        type=Path,
        default=SCHEMAS,
        help="folder with slot.schema.json and megatron_core/",
    )
    parser.add_argument(
        "--root", type=Path, default=ROOT, help="project root that holds generated/"
    )


def run(args: argparse.Namespace) -> int:
    try:
        return _run(args)
    except InterruptedAfterWriting:
        print("interrupted after generated/ had been written in full", file=sys.stderr)
        return 130
    except KeyboardInterrupt:
        print("interrupted; generated/ was not changed", file=sys.stderr)
        return 130


def _run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    root: Path = args.root.resolve()
    if not root.is_dir():
        print(
            f"--root {root}: no such folder (give the project root, which holds generated/)",
            file=sys.stderr,
        )
        return 2
    try:
        files = generate_files(args.schemas.resolve(), root)
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        print(f"{len(errors.errors)} error(s); generated/ was not changed.", file=sys.stderr)
        return 1
    if not args.check:
        recover(root)  # what a run killed while writing left behind
    drift = compare(root, files)
    outputs = "generated/ and README.md" if README in files else "generated/"
    if args.check:
        if drift.clean:
            print(f"{outputs} up to date ({len(files)} files).")
            return 0
        sys.stdout.write(drift.diff)
        for path, why in drift.stale:
            print(f"stale: {path}: {why}", file=sys.stderr)
        for path in drift.missing:
            print(f"missing: {path}", file=sys.stderr)
        for path in drift.orphaned:
            print(f"orphaned: {path} (no description generates it)", file=sys.stderr)
        print(f"{outputs} out of date: run `make generate` and commit the result.", file=sys.stderr)
        return 1
    if drift.clean:
        seconds = time.perf_counter() - started
        print(f"{outputs} already up to date ({len(files)} files, {seconds:.2f} s).")
        return 0
    write_atomically(root, files)
    changed = len(drift.stale) + len(drift.missing) + len(drift.orphaned)
    seconds = time.perf_counter() - started
    print(f"wrote {outputs} ({len(files)} files, {changed} changed, {seconds:.2f} s).")
    return 0
