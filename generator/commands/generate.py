"""`python -m generator generate [--check]`: the bundled descriptions (ROOT/schemas/megatron_core)
-> generated/ (and the README table). With `--schemas DIR ... --out PACKAGE_DIR`: your own
descriptions, validated together with the bundled ones, -> your package (only its modules; they
import the bundled names from generated.megatron_core).

Exit status: 0 written or up to date; 1 invalid descriptions, or (--check) output out of date;
2 a bad --schemas, --out or --package (nothing is generated or written then).
"""

import argparse
import shlex
import sys
import time
from pathlib import Path

from generator.errors import DescriptionErrors
from generator.output import Drift, compare, write_atomically
from generator.pipeline import generate_files, generate_user_files
from generator.slots import README

from generator.commands.paths import ROOT
from generator.commands.user_output import UsageError, UserTarget, user_target

NAME = "generate"
HELP = "generate generated/ from schemas/, or your own descriptions into your package"


def configure(parser: argparse.ArgumentParser) -> None:
    parser.formatter_class = argparse.RawDescriptionHelpFormatter
    parser.add_argument(
        "--check", action="store_true", help="fail if the output is not up to date; write nothing"
    )
    parser.add_argument(
        "--schemas",
        type=Path,
        action="append",
        metavar="DIR",
        help="a folder of your own descriptions (every *.json below it), validated together "
        "with the bundled ones; repeatable; needs --out",
    )
    parser.add_argument(
        "--out",
        type=Path,
        metavar="PACKAGE_DIR",
        help="the package folder your descriptions are generated into (replaced as a whole: "
        "only generated files may be in it)",
    )
    parser.add_argument(
        "--package",
        metavar="NAME",
        help="the dotted import name of --out (default: its path relative to --root)",
    )
    parser.add_argument(
        "--root",
        type=Path,
        default=ROOT,
        help="project root that holds schemas/ (the bundled descriptions), generated/ and "
        "README.md",
    )


def run(args: argparse.Namespace) -> int:
    root: Path = args.root.resolve()
    if args.schemas is None and args.out is None and args.package is None:
        return _run_bundled(args, root)
    try:
        if args.package is not None and args.out is None:
            raise UsageError("--package needs --out", "add --out PACKAGE_DIR")
        target = user_target(args.schemas or [], args.out, args.package, root)
    except UsageError as error:
        print(f"error: {error}", file=sys.stderr)
        return 2
    return _run_user(args, root, target)


def _run_bundled(args: argparse.Namespace, root: Path) -> int:
    started = time.perf_counter()
    try:
        files = generate_files(root / "schemas", root)
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        print(f"{len(errors.errors)} error(s); generated/ was not changed.", file=sys.stderr)
        return 1
    drift = compare(root, files)
    outputs = "generated/ and README.md" if README in files else "generated/"
    if args.check:
        return _report_check(drift, outputs, len(files), "`make generate`")
    if drift.clean:
        seconds = time.perf_counter() - started
        print(f"{outputs} already up to date ({len(files)} files, {seconds:.2f} s).")
        return 0
    write_atomically(root, files)
    changed = len(drift.stale) + len(drift.missing) + len(drift.orphaned)
    seconds = time.perf_counter() - started
    print(f"wrote {outputs} ({len(files)} files, {changed} changed, {seconds:.2f} s).")
    return 0


def _run_user(args: argparse.Namespace, root: Path, target: UserTarget) -> int:
    """Your descriptions -> your package; the bundled output and README.md are not touched."""
    started = time.perf_counter()
    # Your descriptions import your own classes; they resolve from the folder your package is
    # imported from, as they will when it runs.
    if str(target.import_root) not in sys.path:
        sys.path.insert(0, str(target.import_root))
    shown = f"{target.owned.as_posix()}/" if target.base == root else f"{target.out}/"
    try:
        package_files = generate_user_files(root / "schemas", root, target.descriptions)
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        print(f"{len(errors.errors)} error(s); {shown} was not changed.", file=sys.stderr)
        return 1
    files = {target.owned / path: text for path, text in package_files.items()}
    drift = compare(target.base, files, target.owned)
    if args.check:
        return _report_check(drift, shown, len(files), f"`{_command(args)}`")
    if drift.clean:
        seconds = time.perf_counter() - started
        print(
            f"{shown} (package {target.descriptions.package}) already up to date "
            f"({len(files)} files, {seconds:.2f} s)."
        )
        return 0
    write_atomically(target.base, files, target.owned)
    changed = len(drift.stale) + len(drift.missing) + len(drift.orphaned)
    seconds = time.perf_counter() - started
    print(
        f"wrote {shown} (package {target.descriptions.package}; {len(files)} files, "
        f"{changed} changed, {seconds:.2f} s)."
    )
    return 0


def _report_check(drift: Drift, outputs: str, count: int, command: str) -> int:
    if drift.clean:
        print(f"{outputs} up to date ({count} files).")
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


def _command(args: argparse.Namespace) -> str:
    """The command that regenerates the user's package, as it was given."""
    words = ["python", "-m", "generator", "generate"]
    for folder in args.schemas:
        words += ["--schemas", str(folder)]
    words += ["--out", str(args.out)]
    if args.package is not None:
        words += ["--package", args.package]
    if args.root != ROOT:
        words += ["--root", str(args.root)]
    return shlex.join(words)
