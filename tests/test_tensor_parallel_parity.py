"""Parity at tensor-parallel size 2: generated specs vs upstream's, in two CPU processes (gloo).

:mod:`tests.tp_parity_worker` is started once per rank (two subprocesses, a free port on
127.0.0.1, a bounded wait); each rank builds every case of ``TP_CASES`` from upstream's and
from the generated factories and runs it forward and backward with labels. Per case the test
then requires, exactly (``torch.equal``): the same all-gathered logits (the output layer is
vocab-parallel, so each rank only holds half of the vocabulary), and, on each rank, the same
class tree, state-dict shards, logit shard, per-token LM loss, MTP losses and gradient shards.
The processes run once per session (module-scoped fixture); each case is its own test.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path
from typing import Any

import pytest
import torch

from tests.megatron_cpu import RunResult, assert_identical_runs, assert_same_value, find_free_port
from tests.tp_parity_worker import TP_CASES

WORLD_SIZE = 2
TIMEOUT_S = 300
"""Upper bound on the whole two-process run. Each rank needs ~15 s of CPU time (about half of it
importing torch and megatron); the bound is generous because on a loaded machine the wall time
can be several times that."""

REPO_ROOT = Path(__file__).resolve().parent.parent


def _launch_ranks(out: Path) -> list[dict[str, dict[str, Any]]]:
    """Run every rank of the worker to completion (or kill them all) and load their results."""
    port = find_free_port()
    env = dict(os.environ)
    env["PYTHONPATH"] = os.pathsep.join(filter(None, [str(REPO_ROOT), env.get("PYTHONPATH")]))
    env["OMP_NUM_THREADS"] = "1"  # two ranks on a 2-core machine: no oversubscription
    procs = [
        subprocess.Popen(
            [
                sys.executable,
                "-m",
                "tests.tp_parity_worker",
                "--rank",
                str(rank),
                "--world-size",
                str(WORLD_SIZE),
                "--port",
                str(port),
                "--out",
                str(out),
            ],
            cwd=REPO_ROOT,
            env=env,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for rank in range(WORLD_SIZE)
    ]
    outputs: list[str] = []
    try:
        for proc in procs:
            stdout, _ = proc.communicate(timeout=TIMEOUT_S)
            outputs.append(stdout)
    except subprocess.TimeoutExpired:
        for proc in procs:
            proc.kill()
        for proc in procs:
            proc.communicate()
        pytest.fail(f"the TP={WORLD_SIZE} ranks did not finish within {TIMEOUT_S} s")
    for rank, (proc, output) in enumerate(zip(procs, outputs)):
        assert proc.returncode == 0, f"rank {rank} exited with {proc.returncode}:\n{output[-6000:]}"
    return [torch.load(out / f"rank{rank}.pt", weights_only=False) for rank in range(WORLD_SIZE)]


@pytest.fixture(scope="module")
def tp_results(tmp_path_factory: pytest.TempPathFactory) -> list[dict[str, dict[str, Any]]]:
    """Every rank's results (one dict per rank), from one run of the two worker processes."""
    return _launch_ranks(tmp_path_factory.mktemp("tp2"))


def _as_run_result(fields: dict[str, Any]) -> RunResult:
    return RunResult(**{k: v for k, v in fields.items() if k != "gathered_logits"})


@pytest.mark.parametrize("case_id", list(TP_CASES))
def test_tp2_generated_spec_gives_identical_gathered_logits_losses_and_grads(
    case_id: str, tp_results: list[dict[str, dict[str, Any]]]
) -> None:
    """At TP=2 over gloo, both specs give the same gathered logits, shards, losses and grads."""
    for rank, results in enumerate(tp_results):
        upstream, generated = results[case_id]["upstream"], results[case_id]["generated"]
        assert not isinstance(generated, str), f"rank {rank}: generated side failed:\n{generated}"
        # Sanity of the harness: the shards really are halves of the vocabulary.
        gathered = upstream["gathered_logits"]
        assert upstream["logits"].shape[-1] * WORLD_SIZE == gathered.shape[-1]
        assert torch.equal(gathered, tp_results[0][case_id]["upstream"]["gathered_logits"])
        # Per-rank comparison first: a wrong module type is the most informative failure.
        assert_identical_runs(_as_run_result(generated), _as_run_result(upstream))
        assert_same_value(f"rank {rank} gathered logits", generated["gathered_logits"], gathered)
