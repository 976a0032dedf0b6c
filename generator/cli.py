"""Command line: `python -m generator generate [--check]`, `python -m generator slots` and
`python -m generator dump`."""

import argparse
import dataclasses
import enum
import json
import sys
import time
from pathlib import Path

from generator.errors import DescriptionErrors
from generator.load import load_descriptions
from generator.model import build_model
from generator.output import compare, write_atomically
from generator.pipeline import generate_files
from generator.slots import README, inventory, render_text, upstream_slots
from generator.validate import validate

ROOT = Path(__file__).resolve().parent.parent


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m generator", description=__doc__)
    commands = parser.add_subparsers(dest="command", required=True)
    generate = commands.add_parser("generate", help="generate generated/ from schemas/")
    generate.add_argument(
        "--check", action="store_true", help="fail if generated/ is not up to date; write nothing"
    )
    generate.add_argument(
        "--schemas",
        type=Path,
        default=ROOT / "schemas",
        help="folder with slot.schema.json and megatron_core/",
    )
    generate.add_argument(
        "--root", type=Path, default=ROOT, help="project root that holds generated/"
    )
    dump = commands.add_parser(
        "dump", help="print the validated descriptions as JSON, for debugging"
    )
    dump.add_argument("--schemas", type=Path, default=ROOT / "schemas")
    slots = commands.add_parser(
        "slots",
        help="list every upstream slot of megatron-core: its Builder, implementations, flags",
    )
    slots.add_argument("--schemas", type=Path, default=ROOT / "schemas")
    args = parser.parse_args(argv)
    if args.command == "dump":
        return _dump(args.schemas.resolve())
    if args.command == "slots":
        return _slots(args.schemas.resolve())

    started = time.perf_counter()
    root: Path = args.root.resolve()
    try:
        files = generate_files(args.schemas.resolve(), root)
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        print(f"{len(errors.errors)} error(s); generated/ was not changed.", file=sys.stderr)
        return 1
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
        print(
            f"{outputs} already up to date ({len(files)} files, {time.perf_counter() - started:.2f} s)."
        )
        return 0
    write_atomically(root, files)
    changed = len(drift.stale) + len(drift.missing) + len(drift.orphaned)
    print(
        f"wrote {outputs} ({len(files)} files, {changed} changed, {time.perf_counter() - started:.2f} s)."
    )
    return 0


def _slots(schemas: Path) -> int:
    """Prints every upstream slot with what the descriptions say of it, then `slots typed: N/M`."""
    try:
        loaded = load_descriptions(schemas, ROOT)
        catalog = validate([build_model(item) for item in loaded])
        table = inventory(catalog, upstream_slots())
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        return 1
    sys.stdout.write(render_text(table))
    return 0


def _dump(schemas: Path) -> int:
    """Prints the validated, normalized model, so any generation can be replayed and inspected."""
    try:
        loaded = load_descriptions(schemas, ROOT)
        catalog = validate([build_model(item) for item in loaded])
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        return 1
    models = [
        {key: value for key, value in dataclasses.asdict(d).items() if key != "text"}
        for d in catalog.descriptions
    ]
    print(json.dumps(models, indent=2, default=_json_value))
    return 0


def _json_value(value: object) -> object:
    if isinstance(value, enum.Enum):
        return value.value
    raise TypeError(f"cannot dump {type(value).__name__}")
