"""Determinism, staleness detection and atomic replacement of generated/."""

import os
import stat
import subprocess
import sys
import threading
import time
from pathlib import Path

import black
import pytest

from generator.formatting import MODE
from tests.generator_runs import ROOT, copy_project, run_generator, tree


@pytest.fixture
def project(tmp_path: Path) -> Path:
    return copy_project(tmp_path)


def test_committed_output_is_up_to_date() -> None:
    result = subprocess.run(
        [sys.executable, "-m", "generator", "generate", "--check", "--no-cache"],
        cwd=ROOT,
        capture_output=True,
        text=True,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_generation_is_byte_identical_across_runs_and_hash_seeds(tmp_path: Path) -> None:
    trees: list[dict[str, bytes]] = []
    for seed in ("1", "4242"):
        root = copy_project(tmp_path / seed, with_generated=False)
        assert run_generator(root, hash_seed=seed).returncode == 0
        trees.append(tree(root / "generated"))
    assert trees[0] == trees[1]
    assert trees[0] == tree(ROOT / "generated")


def test_generated_code_is_black_stable() -> None:
    # format_code skips black's second pass where it cannot change anything: format_str agrees.
    for folder in (ROOT / "generated", ROOT / "examples" / "custom_mlp" / "typed"):
        for path in folder.rglob("*.py"):
            text = path.read_text()
            assert black.format_str(text, mode=MODE) == text, path


def test_check_fails_when_a_description_changed_without_regenerating(project: Path) -> None:
    description = project / "schemas" / "megatron_core" / "mlp.json"
    description.write_text(
        description.read_text().replace("Interface for linear_fc1 module in MLP.", "Changed doc.")
    )
    result = run_generator(project, "--check")
    assert result.returncode == 1
    assert (
        "stale: generated/megatron_core/mlp.py: its descriptions or the generator changed"
        in result.stderr
    )
    assert '-    """Interface for linear_fc1 module in MLP.' in result.stdout  # the unified diff


def test_check_tells_a_hand_edit_from_an_input_change(project: Path) -> None:
    target = project / "generated" / "megatron_core" / "layer_norm.py"
    target.write_text(target.read_text() + "\nHAND_EDIT = 1\n")
    result = run_generator(project, "--check")
    assert result.returncode == 1
    assert "stale: generated/megatron_core/layer_norm.py: edited by hand" in result.stderr


def test_orphaned_files_are_reported_and_then_removed(project: Path) -> None:
    orphan = project / "generated" / "megatron_core" / "old_slot.py"
    orphan.write_text("x = 1\n")
    result = run_generator(project, "--check")
    assert result.returncode == 1
    assert "orphaned: generated/megatron_core/old_slot.py" in result.stderr
    assert run_generator(project).returncode == 0
    assert not orphan.exists()
    assert tree(project / "generated") == tree(ROOT / "generated")


def test_generated_package_reexports_every_protocol_by_name() -> None:
    import generated.megatron_core as package

    for name in (
        "MlpBuilder",
        "MlpInterface",
        "LayerNormBuilder",
        "LinearQkvBuilder",
        "CoreAttentionBuilder",
        "LinearProjBuilder",
        "LinearFc1Builder",
        "LinearFc2Builder",
        "TEActivationFunctionBuilder",
        "TEActivationFunctionInterface",
        "get_gpt_layer_local_spec",
    ):
        assert name in package.__all__
        assert hasattr(package, name)


def test_a_failure_while_writing_leaves_generated_untouched(
    project: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import output
    from generator.pipeline import generate_files

    files = generate_files(project / "schemas", project)
    files[Path("generated") / "megatron_core" / "extra.py"] = "x = 1\n"
    before = tree(project / "generated")
    written: list[Path] = []
    real_write_text = Path.write_text

    def failing_write_text(self: Path, data: str, *args: object, **kwargs: object) -> int:
        if len(written) == 3:
            raise OSError("disk full")
        written.append(self)
        return real_write_text(self, data, *args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(Path, "write_text", failing_write_text)
    with pytest.raises(OSError, match="disk full"):
        output.write_atomically(project, files)
    monkeypatch.undo()
    assert tree(project / "generated") == before
    assert sorted(p.name for p in project.iterdir()) == ["generated", "schemas"]


def _committed_files() -> dict[Path, str]:
    """The committed generation, as the pipeline returns it (generated/ only)."""
    return {
        Path("generated") / relative: data.decode()
        for relative, data in tree(ROOT / "generated").items()
    }


@pytest.mark.parametrize("exchange", [True, False], ids=["renameat2", "two-renames"])
def test_a_write_leaves_generated_with_an_ordinary_folder_mode_and_nothing_beside_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, exchange: bool
) -> None:
    from generator import output

    if not exchange:
        monkeypatch.setattr(output, "_renameat2", lambda: None)
    project = copy_project(tmp_path)
    files = _committed_files()
    files[Path("generated") / "megatron_core" / "extra.py"] = "x = 1\n"
    output.write_atomically(project, files)
    umask = os.umask(0)
    os.umask(umask)
    assert stat.S_IMODE((project / "generated").stat().st_mode) == 0o777 & ~umask  # not 0700
    assert tree(project / "generated") == {
        path.relative_to("generated").as_posix(): text.encode() for path, text in files.items()
    }
    assert sorted(p.name for p in project.iterdir()) == ["generated", "schemas"]


def test_generated_is_never_moved_away_where_renameat2_can_exchange_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import output

    if not sys.platform.startswith("linux"):
        pytest.skip("renameat2 is Linux's")
    assert output._renameat2() is not None, "glibc 2.28 or later has renameat2"
    project = copy_project(tmp_path)
    renamed: list[Path] = []
    real_rename = os.rename

    def rename(source: str | Path, destination: str | Path) -> None:
        renamed.append(Path(source))
        real_rename(source, destination)

    monkeypatch.setattr(os, "rename", rename)
    files = _committed_files()
    files[Path("generated") / "megatron_core" / "extra.py"] = "x = 1\n"
    output.write_atomically(project, files)
    assert project / "generated" not in renamed
    assert (project / "generated" / "megatron_core" / "extra.py").read_text() == "x = 1\n"


def test_a_failure_between_the_two_renames_of_the_fallback_swap_puts_generated_back(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from generator import output

    monkeypatch.setattr(output, "_renameat2", lambda: None)
    project = copy_project(tmp_path)
    before = tree(project / "generated")
    real_rename = os.rename

    def rename(source: str | Path, destination: str | Path) -> None:
        if Path(destination) == project / "generated" and Path(source).name != "old":
            raise OSError("device busy")  # moving the new tree in; putting the old one back works
        real_rename(source, destination)

    monkeypatch.setattr(os, "rename", rename)
    files = _committed_files()
    files[Path("generated") / "megatron_core" / "extra.py"] = "x = 1\n"
    with pytest.raises(OSError, match="device busy"):
        output.write_atomically(project, files)
    monkeypatch.undo()
    assert tree(project / "generated") == before
    assert sorted(p.name for p in project.iterdir()) == ["generated", "schemas"]


def test_the_write_lock_admits_one_holder_at_a_time(tmp_path: Path) -> None:
    """Threads stand in for processes (flock locks each open of the file on its own); the lock
    file is deleted at each release and made again by the next holder."""
    from generator import output

    holders: list[int] = []
    most = [0]
    counter = tmp_path / "counter"
    counter.write_text("0")

    def work() -> None:
        for _ in range(30):
            with output._locked(tmp_path):
                holders.append(1)
                most[0] = max(most[0], len(holders))
                value = int(counter.read_text())
                time.sleep(0.0005)
                counter.write_text(str(value + 1))
                holders.pop()

    threads = [threading.Thread(target=work) for _ in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert (most[0], counter.read_text()) == (1, "120")
    assert sorted(p.name for p in tmp_path.iterdir()) == ["counter"]
