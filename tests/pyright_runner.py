"""Runs pyright (strict, with the project's venv) and returns its diagnostics as data."""

import json
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


@dataclass(frozen=True)
class Diagnostic:
    file: str
    line: int  # 1-based
    rule: str
    message: str


def run_pyright(
    folder: Path, *, extra_paths: list[Path] | None = None
) -> tuple[list[Diagnostic], dict[str, int]]:
    """Type-checks `folder` in strict mode; returns (errors, summary counts)."""
    config = {
        "typeCheckingMode": "strict",
        "reportMissingTypeStubs": False,
        "pythonVersion": "3.12",
        "venvPath": str(ROOT),
        "venv": ".venv",
        "extraPaths": [str(p) for p in (extra_paths or [ROOT])],
    }
    (folder / "pyrightconfig.json").write_text(json.dumps(config))
    completed = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    report = json.loads(completed.stdout)
    errors = [
        Diagnostic(d["file"], d["range"]["start"]["line"] + 1, d.get("rule", ""), d["message"])
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    return errors, report["summary"]
