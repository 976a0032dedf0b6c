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
    folder: Path,
    *,
    extra_paths: list[Path] | None = None,
    include: list[str] | None = None,
    roots: list[str] | None = None,
) -> tuple[list[Diagnostic], dict[str, int]]:
    """Type-checks `folder` in strict mode; returns (errors, summary counts).

    `include`: only these files (relative to `folder`), each of which must be analyzed;
    `roots`: execution environments, one per folder, so relative imports resolve inside each
    (tests/fuzz/typecheck.py checks many variants of generated/ in one run this way).
    """
    config: dict[str, object] = {
        "typeCheckingMode": "strict",
        "reportMissingTypeStubs": False,
        "pythonVersion": "3.12",
        "venvPath": str(ROOT),
        "venv": ".venv",
        "extraPaths": [str(p) for p in (extra_paths or [ROOT])],
    }
    if include is not None:
        config["include"] = include
    if roots is not None:
        config["executionEnvironments"] = [{"root": root} for root in roots]
    (folder / "pyrightconfig.json").write_text(json.dumps(config))
    completed = subprocess.run(
        [sys.executable, "-m", "pyright", "--outputjson"],
        cwd=folder,
        capture_output=True,
        text=True,
    )
    try:
        report = json.loads(completed.stdout)
    except json.JSONDecodeError:
        raise RuntimeError(
            f"pyright failed: {completed.stdout[-2000:]}{completed.stderr[-2000:]}"
        ) from None
    if include is not None and report["summary"]["filesAnalyzed"] < len(include):
        analyzed = report["summary"]["filesAnalyzed"]
        raise RuntimeError(f"pyright analyzed {analyzed} files of {len(include)} included")
    errors = [
        Diagnostic(d["file"], d["range"]["start"]["line"] + 1, d.get("rule", ""), d["message"])
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    return errors, report["summary"]
