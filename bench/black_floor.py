"""The floor of a full regeneration: import what the generator imports, then format the same
output with black alone. `python -m bench.black_floor DIR` formats every .py file under DIR."""

import sys
from pathlib import Path

import black
import jinja2
import jsonschema
import jsonschema_rs

from generator.formatting import MODE

# Imported by the generator's stages, so part of the floor.
STAGE_DEPENDENCIES = (jinja2, jsonschema, jsonschema_rs)

if __name__ == "__main__":
    for path in sorted(Path(sys.argv[1]).rglob("*.py")):
        black.format_str(path.read_text(encoding="utf-8"), mode=MODE)
