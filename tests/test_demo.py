"""`make demo`: the demo trains a HybridModel from the generated TE-free spec and its loss falls."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def test_demo_trains_with_falling_loss_and_writes_the_loss_curve(tmp_path: Path) -> None:
    """A short run of the real entry point (the demo's own check fails it if the loss does not fall)."""
    picture = tmp_path / "loss.png"
    result = subprocess.run(
        [sys.executable, "-m", "demo.train_hybrid", "--steps", "60", "--out", str(picture)],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=600,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    reported = re.search(r"loss: ([0-9.]+) at the start, ([0-9.]+) at the end", result.stdout)
    assert reported is not None, result.stdout
    start, end = float(reported[1]), float(reported[2])
    assert end < start * 0.8, f"loss fell too little: {start} -> {end}"
    assert picture.read_bytes().startswith(b"\x89PNG\r\n\x1a\n")
