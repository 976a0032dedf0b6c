"""`python -m generator generate [--check]`: descriptions -> generated/ (and the README table).

A run whose inputs and outputs are as the last run left them stops after hashing them
(generator.incremental); otherwise every stage runs, and modules whose view is unchanged are
taken from the cache of formatted modules instead of being rendered and formatted again.
"""

import argparse
import time
from pathlib import Path

from generator.cache import CACHE_DIR, TextCache
from generator.incremental import inputs_hash, is_up_to_date, record

from generator.commands.paths import ROOT, SCHEMAS


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
    parser.add_argument(
        "--no-cache",
        action="store_true",
        help="run every stage on every file, and neither read nor write .cache/generator/",
    )


def run(args: argparse.Namespace) -> int:
    started = time.perf_counter()
    root: Path = args.root.resolve()
    schemas: Path = args.schemas.resolve()
    inputs = inputs_hash(schemas, root, (schemas / "megatron_core",))
    if not args.no_cache and is_up_to_date(root, inputs):
        seconds = time.perf_counter() - started
        print(f"up to date: nothing changed since the last run ({seconds:.2f} s).")
        return 0
    # Imported only now: the stages' imports (black, jsonschema, Jinja2) are most of the time
    # a run with nothing to do would otherwise take.
    from generator.commands.generate_full import generate

    formatted = None if args.no_cache else TextCache(root / CACHE_DIR / "formatted")
    status, files = generate(schemas, root, check=args.check, formatted=formatted, started=started)
    if status == 0 and not args.no_cache:
        record(root, inputs, files)
    return status
