"""`python -m generator dump`: the validated, normalized model as JSON, for debugging."""

import argparse
import dataclasses
import enum
import json
import sys
from pathlib import Path

from generator.errors import DescriptionErrors
from generator.pipeline import validated_catalog

from generator.commands.paths import ROOT, SCHEMAS


def configure(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--schemas", type=Path, default=SCHEMAS)


def run(args: argparse.Namespace) -> int:
    """Prints the validated model, so any generation can be replayed and inspected."""
    try:
        catalog = validated_catalog(args.schemas.resolve(), ROOT)
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
