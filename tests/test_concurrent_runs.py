"""Runs of `python -m generator generate` writing at once in one root all succeed and leave one
complete generation (the last writer's) and nothing else.

The runs (tests/paused_generate.py) stop right before their write and are let go together, so
their writes do overlap.
"""

import json
import shutil
import subprocess
from pathlib import Path

from tests.generator_runs import ROOT, copy_project
from tests.paused_generate import leftovers, save, snapshot, start, wait_for


def _write_at_once(runs: dict[Path, subprocess.Popen[str]]) -> None:
    """Waits until each run (by its signals folder) is about to write, then lets all go."""
    for signals, run in runs.items():
        wait_for(signals / "paused", run, timeout=240)
    for signals in runs:
        (signals / "resume").touch()
    for run in runs.values():
        out, err = run.communicate(timeout=60)
        assert run.returncode == 0, out + err
        assert out.startswith("wrote generated/ and README.md"), out + err


def _recorded(signals: Path) -> dict[str, bytes]:
    """The files a run generated."""
    files: dict[str, str] = json.loads((signals / "generated.json").read_text())
    return {name: text.encode() for name, text in files.items()}


def test_three_runs_with_the_same_inputs_writing_at_once_leave_that_generation(
    tmp_path: Path,
) -> None:
    project = copy_project(tmp_path / "project", with_generated=False, with_readme=True)
    committed = snapshot(ROOT)
    files = save(tmp_path / "committed.json", committed)
    signals = [tmp_path / f"run{i}" for i in range(3)]
    _write_at_once({s: start(project, s, pause="write", files=files) for s in signals})
    assert snapshot(project) == committed
    assert leftovers(project) == []


def test_runs_with_different_descriptions_writing_at_once_leave_one_whole_generation(
    tmp_path: Path,
) -> None:
    """One run generates from a description with an edited doc (descriptions -> black -> files);
    the other writes the committed generation (what the project's descriptions generate)."""
    project = copy_project(tmp_path / "project", with_generated=False, with_readme=True)
    edited = tmp_path / "edited" / "schemas"
    shutil.copytree(project / "schemas", edited)
    mlp = edited / "megatron_core" / "mlp.json"
    text = mlp.read_text()
    assert "Interface for linear_fc1 module in MLP." in text
    mlp.write_text(text.replace("Interface for linear_fc1 module in MLP.", "Changed doc."))
    committed = snapshot(ROOT)
    files = save(tmp_path / "committed.json", committed)
    first, second = tmp_path / "committed", tmp_path / "edited"
    _write_at_once(
        {
            first: start(project, first, pause="write", files=files),
            second: start(project, second, pause="write", schemas=edited),
        }
    )
    changed = _recorded(second)
    assert changed.keys() == committed.keys()
    assert changed["generated/megatron_core/mlp.py"] != committed["generated/megatron_core/mlp.py"]
    # one whole generation, byte for byte (what `generate --check` compares with the winner's)
    assert snapshot(project) in (committed, changed)
    assert leftovers(project) == []
