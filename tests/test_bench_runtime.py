"""The runtime bench (bench/runtime.py) measures like with like: its rows are well-formed, and the
specs, models and training steps it times are the same on both sides. No timing is asserted:
machines are noisy; `python -m bench.runtime` reports the numbers."""

from __future__ import annotations

import gc
import json
import math

import pytest
import torch

from bench import runtime
from bench.report import markdown_table, row_json
from bench.rows import BenchRow

pytestmark = pytest.mark.usefixtures("megatron_parallel_state")


@pytest.fixture(scope="module")
def rows() -> list[BenchRow]:
    """One quick run of the whole bench (2 pairs a row), in this pytest session's parallel state."""
    return runtime.measure(2)


def test_measure_reports_every_spec_model_and_step_row(rows: list[BenchRow]) -> None:
    names = [row.name for row in rows]
    assert names == [
        *(f"spec: {case.name}" for case in runtime.spec_cases()),
        *(
            name
            for case in runtime.MODEL_CASES
            for name in (
                f"build: {case.name}",
                *([f"step: {case.name}"] if case.steps else []),
            )
        ),
    ]
    assert len(set(names)) == len(names)


def test_rows_are_well_formed(rows: list[BenchRow]) -> None:
    for row in rows:
        assert math.isfinite(row.measured_s) and row.measured_s > 0, row
        assert math.isfinite(row.floor_s) and row.floor_s > 0, row
        assert row.floor_name == "upstream's"
        assert row.paired_ratio is not None and math.isfinite(row.paired_ratio) and row.ratio > 0
        assert row.ratio == row.paired_ratio
        assert row.met == (row.ratio <= row.goal)
        expected_goal = runtime.SPEC_GOAL if row.name.startswith("spec: ") else runtime.MODEL_GOAL
        assert row.goal == expected_goal
        assert "95% CI" in row.detail and "n=2" in row.detail
        # The interval brackets the ratio it is about.
        low, high = (float(x) for x in row.detail.split("95% CI ")[1].split(";")[0].split("-"))
        assert low <= row.ratio <= high, row.detail


def test_rows_print_as_json_and_markdown(rows: list[BenchRow]) -> None:
    data = json.loads(json.dumps([row_json(row) for row in rows]))
    assert [item["ratio"] for item in data] == [row.ratio for row in rows]
    table = markdown_table(rows)
    assert table.count("\n") == len(rows) + 1
    assert all(row.name in table for row in rows)


def test_spec_factories_compared_build_the_same_tree() -> None:
    cases = runtime.spec_cases()
    assert len(cases) == 3
    for case in cases:
        assert runtime.spec_difference(case) == [], case.name


@pytest.mark.parametrize("case", runtime.MODEL_CASES, ids=lambda case: case.name)
def test_models_compared_have_equal_state_dicts(case: runtime.ModelCase) -> None:
    with runtime.bench_environment():
        ours, upstream = runtime.model_pair(case)
        assert runtime.model_difference(ours, upstream) is None
        our_state, upstream_state = ours.state_dict(), upstream.state_dict()
        assert list(our_state) == list(upstream_state)
        for key, value in upstream_state.items():
            if isinstance(value, torch.Tensor):
                assert torch.equal(our_state[key], value), key
            else:
                assert our_state[key] == value, key
        if case.steps:
            assert runtime.step_difference(ours, upstream, runtime.fixed_batch()) is None


def test_model_difference_finds_other_weights() -> None:
    """The check measure() relies on fails when the weights differ (another seed)."""
    with runtime.bench_environment():
        ours, upstream = runtime.model_pair(runtime.MODEL_CASES[0], seed=runtime.MODEL_SEED + 1)
        difference = runtime.model_difference(ours, upstream)
    assert difference is not None and "values differ" in difference


def test_step_difference_finds_other_gradients() -> None:
    """The step check fails when the two models compute differently (one weight nudged)."""
    with runtime.bench_environment():
        ours, upstream = runtime.model_pair(runtime.MODEL_CASES[0])
        with torch.no_grad():
            next(ours.parameters()).add_(1.0)
        difference = runtime.step_difference(ours, upstream, runtime.fixed_batch())
    assert difference is not None


def test_measure_refuses_fewer_than_two_repeats() -> None:
    with pytest.raises(ValueError, match="at least 2"):
        runtime.measure(1)


def test_bench_environment_restores_threads_and_gc() -> None:
    threads = torch.get_num_threads()
    with runtime.bench_environment():
        assert torch.get_num_threads() == runtime.THREADS
    assert torch.get_num_threads() == threads
    assert gc.get_freeze_count() == 0 and gc.isenabled()


def test_command_line_refuses_a_bad_repeat_count(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        runtime.main(["--repeats", "1"])
    assert exit_info.value.code == 2
    assert "must be at least 2" in capsys.readouterr().err
