"""`python -m generator generate [--check]`: the bundled descriptions (ROOT/schemas/megatron_core)
-> generated/ (and the README table). With `--schemas DIR ... --out PACKAGE_DIR`: your own
descriptions, validated together with the bundled ones, -> your package (only its modules; they
import the bundled names from generated.megatron_core).

A bundled run whose inputs and outputs are as the last run left them stops after hashing them
(generator.incremental); otherwise every stage runs, and modules whose view is unchanged are
taken from the cache of formatted modules instead of being rendered and formatted again.

Before writing, pyright strict checks the modules whose code is new (generator.typecheck): code
that disagrees with megatron-core's annotations is an error in the description that generated it.

Exit status: 0 written or up to date; 1 invalid descriptions (pyright's errors included), or
(--check) output out of date;
2 a bad --root, --schemas, --out or --package (nothing is generated or written then); 130
interrupted (Ctrl-C).
"""

import argparse
import sys
import time
from pathlib import Path

from generator.cache import CACHE_DIR, TextCache
from generator.incremental import inputs_hash, is_up_to_date, record
from generator.output import InterruptedAfterWriting, recover

from generator.commands.paths import ROOT


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
    parser.add_argument(
        "--no-typecheck",
        action="store_true",
        help="write without running pyright strict on the new code first (CI's pyright gate "
        "still checks it)",
    )
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="run every stage on every file, and neither read nor write .cache/generator/",
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
    if not args.check:
        recover(root)  # what a run killed while writing left behind (when it left anything)
    if args.schemas is not None or args.out is not None or args.package is not None:
        from generator.commands.generate_user import generate_user

        return generate_user(args, root, started)
    schemas = root / "schemas"
    inputs = inputs_hash(schemas, root, (schemas / "megatron_core",))
    if not args.no_cache and is_up_to_date(root, inputs):
        seconds = time.perf_counter() - started
        print(f"up to date: nothing changed since the last run ({seconds:.2f} s).")
        return 0
    # Imported only now: the stages' imports (black, jsonschema, Jinja2) are most of the time
    # a run with nothing to do would otherwise take.
    from generator.commands.generate_full import generate

    formatted = None if args.no_cache else TextCache(root / CACHE_DIR / "formatted")
    status, files = generate(
        schemas,
        root,
        check=args.check,
        formatted=formatted,
        typecheck=not args.no_typecheck,
        started=started,
    )
    if status == 0 and not args.no_cache:
        record(root, inputs, files)
    return status
