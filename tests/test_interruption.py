"""A run interrupted while it writes (SIGINT, SIGKILL) leaves generated/ and README.md as they
were, and the next run recovers without clean-up by hand; runs in one root take turns to write.

Each run is `python -m generator generate` in a subprocess (tests/paused_generate.py), paused at a
given point of its write, with a fixed pipeline output instead of a generation (~2 s a run).
"""

import signal
import subprocess
import time
from pathlib import Path

import pytest

from generator.output import LOCK
from tests.generator_runs import ROOT, copy_project, run_generator, tree
from tests.paused_generate import leftovers, save, snapshot, start, wait_for

NOT_CHANGED = "interrupted; generated/ was not changed\n"


@pytest.fixture(scope="module")
def committed() -> dict[str, bytes]:
    """The committed generation (what the project's descriptions generate)."""
    return snapshot(ROOT)


@pytest.fixture(scope="module")
def edited(committed: dict[str, bytes]) -> dict[str, bytes]:
    """Another generation: one module changed, one added, README.md changed."""
    mlp = "generated/megatron_core/mlp.py"
    changed = committed[mlp].replace(b"Interface for linear_fc1 module in MLP.", b"Changed doc.")
    assert changed != committed[mlp]
    return committed | {
        mlp: changed,
        "generated/megatron_core/extra.py": b"EXTRA = 1\n",
        "README.md": committed["README.md"] + b"\nEdited.\n",
    }


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path / "project", with_readme=True)


def _finish(process: subprocess.Popen[str]) -> tuple[int, str, str]:
    out, err = process.communicate(timeout=60)
    return process.returncode, out, err


@pytest.mark.parametrize(
    ("point", "number", "next_generation"),
    [
        ("staged:5", signal.SIGINT, "edited"),
        ("swap", signal.SIGINT, "committed"),
        ("staged:5", signal.SIGKILL, "edited"),
        ("swap", signal.SIGKILL, "no-op"),
    ],
)
def test_a_run_interrupted_while_writing_changes_nothing_and_the_next_run_recovers(
    project: Path,
    tmp_path: Path,
    committed: dict[str, bytes],
    edited: dict[str, bytes],
    point: str,
    number: signal.Signals,
    next_generation: str,
) -> None:
    """The next run writes `edited`, finds `committed` already there, or (`no-op`) stops early:
    nothing changed since the last run, whose stamp is made first here."""
    before = snapshot(project)
    assert before == committed
    if next_generation == "no-op":
        stamp = start(project, tmp_path / "stamp", files=save(tmp_path / "c.json", committed))
        returncode, out, err = _finish(stamp)
        assert returncode == 0, out + err
        assert out.startswith("generated/ and README.md already up to date"), out
    files = save(tmp_path / "edited.json", edited)
    run = start(project, tmp_path / "run", pause=point, files=files, no_cache=True)
    wait_for(tmp_path / "run" / "paused", run)
    run.send_signal(number)
    returncode, out, err = _finish(run)
    assert snapshot(project) == before
    if number == signal.SIGINT:
        assert (returncode, out, err) == (130, "", NOT_CHANGED)
        assert leftovers(project) == []
    else:
        assert returncode == -signal.SIGKILL
        assert any(name != LOCK for name in leftovers(project))  # its staging folder
    if next_generation == "no-op":  # the command itself, no hooks
        result = run_generator(project)
        returncode, out, err = result.returncode, result.stdout, result.stderr
        assert out.startswith("up to date: nothing changed since the last run"), out + err
    else:
        files = save(tmp_path / "next.json", edited if next_generation == "edited" else committed)
        returncode, out, err = _finish(start(project, tmp_path / "next", files=files))
    assert returncode == 0, out + err
    assert snapshot(project) == (edited if next_generation == "edited" else committed)
    assert leftovers(project) == []


def test_ctrl_c_during_the_swap_is_held_back_until_generated_is_written_in_full(
    project: Path, tmp_path: Path, edited: dict[str, bytes]
) -> None:
    files = save(tmp_path / "edited.json", edited)
    run = start(project, tmp_path / "run", pause="after-swap", files=files)
    wait_for(tmp_path / "run" / "paused", run)  # generated/ swapped, README.md not yet
    run.send_signal(signal.SIGINT)
    wait_for(tmp_path / "run" / "signalled", run)
    (tmp_path / "run" / "resume").touch()
    returncode, out, err = _finish(run)
    assert (returncode, out, err) == (
        130,
        "",
        "interrupted after generated/ had been written in full\n",
    )
    assert snapshot(project) == edited
    assert leftovers(project) == []


def test_a_run_killed_between_the_two_renames_of_the_fallback_swap_is_undone_by_the_next(
    project: Path, tmp_path: Path, committed: dict[str, bytes], edited: dict[str, bytes]
) -> None:
    """Where renameat2 is missing, generated/ is moved aside before the new tree is moved in."""
    run = start(
        project,
        tmp_path / "run",
        pause="backup",
        files=save(tmp_path / "edited.json", edited),
        fallback=True,
    )
    wait_for(tmp_path / "run" / "paused", run)
    run.kill()
    assert _finish(run)[0] == -signal.SIGKILL
    assert not (project / "generated").exists()  # the window the exchange closes
    (staging,) = [name for name in leftovers(project) if name != LOCK]
    assert tree(project / staging / "old") == {
        name.removeprefix("generated/"): data
        for name, data in committed.items()
        if name.startswith("generated/")
    }
    files = save(tmp_path / "committed.json", committed)
    returncode, out, err = _finish(start(project, tmp_path / "next", files=files))
    assert returncode == 0, out + err
    assert "already up to date" in out  # put back, so nothing to write
    assert snapshot(project) == committed
    assert leftovers(project) == []


def test_a_second_run_waits_for_the_lock_until_the_first_has_written(
    project: Path, tmp_path: Path, committed: dict[str, bytes], edited: dict[str, bytes]
) -> None:
    files = save(tmp_path / "edited.json", edited)
    first = start(project, tmp_path / "first", pause="swap", files=files, no_cache=True)
    wait_for(tmp_path / "first" / "paused", first)  # holding the lock, everything staged
    files = save(tmp_path / "committed.json", committed)
    second = start(project, tmp_path / "second", files=files, no_cache=True)
    wait_for(tmp_path / "second" / "waiting", second)
    time.sleep(1)
    assert second.poll() is None
    assert not (tmp_path / "second" / "locked").exists()
    assert snapshot(project) == committed
    (tmp_path / "first" / "resume").touch()
    returncode, out, err = _finish(first)
    assert returncode == 0, out + err
    assert out.startswith("wrote generated/ and README.md")
    returncode, out, err = _finish(second)
    assert returncode == 0, out + err
    assert out.startswith("wrote generated/ and README.md")  # the first one's output, replaced
    assert snapshot(project) == committed
    assert leftovers(project) == []
