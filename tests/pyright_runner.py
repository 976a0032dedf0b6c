"""Runs pyright (strict, with the project's venv) and returns its diagnostics as data: the
generator's own runner (generator/typecheck.py), with the project root importable."""

from dataclasses import dataclass
from pathlib import Path

from generator.typecheck import pyright_report, strict_config

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
    config = strict_config(include=include, extra_paths=extra_paths or [ROOT], roots=roots)
    report = pyright_report(folder, config, len(include or ()))
    errors = [
        Diagnostic(d["file"], d["range"]["start"]["line"] + 1, d.get("rule", ""), d["message"])
        for d in report["generalDiagnostics"]
        if d["severity"] == "error"
    ]
    return errors, report["summary"]
