"""Where the project's inputs live, for the commands' defaults."""

from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent.parent
SCHEMAS = ROOT / "schemas"
