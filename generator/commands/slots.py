"""`python -m generator slots`: every upstream slot, what the descriptions say of it, the count."""

import argparse
import sys
from pathlib import Path

from generator.errors import DescriptionErrors
from generator.pipeline import validated_catalog
from generator.slots import inventory, render_text, upstream_slots

from generator.commands.paths import ROOT, SCHEMAS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schemas", type=Path, default=SCHEMAS)


def run(args: argparse.Namespace) -> int:
    """Prints every upstream slot with what the descriptions say of it, then `slots typed: N/M`."""
    try:
        catalog = validated_catalog(args.schemas.resolve(), ROOT)
        table = inventory(catalog, upstream_slots())
    except DescriptionErrors as errors:
        print(errors, file=sys.stderr)
        return 1
    sys.stdout.write(render_text(table))
    return 0
