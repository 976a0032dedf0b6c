"""A description held in memory (e.g. `infer`'s draft) checked against schemas/slot.schema.json."""

import json
from pathlib import Path
from typing import Any

from jsonschema import Draft202012Validator

from generator.load import SCHEMA_FILE


def schema_errors(schemas_dir: Path, document: dict[str, Any]) -> list[str]:
    """`/json/pointer: message` per schema violation (empty when the document is valid)."""
    validator = Draft202012Validator(json.loads((schemas_dir / SCHEMA_FILE).read_text()))
    # jsonschema's deprecated two-argument overload of iter_errors is unannotated.
    errors = validator.iter_errors(document)  # pyright: ignore[reportUnknownMemberType]
    return sorted(
        "/" + "/".join(str(part) for part in error.absolute_path) + f": {error.message}"
        for error in errors
    )
