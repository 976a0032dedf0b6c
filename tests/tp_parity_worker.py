"""One rank of the tensor-parallel (TP=2) parity run; started by test_tensor_parallel_parity.py.

Usage: ``python -m tests.tp_parity_worker --rank R --world-size 2 --port P --out DIR``, once per
rank, all with the same free port on 127.0.0.1. Each rank joins a gloo world, sets up megatron's
groups with tensor-parallel size ``world_size``, and for every case in :data:`TP_CASES` builds a
``GPTModel`` from upstream's spec factories and one from the generated ones (same config, same
seed; ``use_cpu_initialization`` builds every full weight on the CPU from the seeded generator
and hands each rank its shard, so the two ranks agree on the weights), runs
:func:`~tests.megatron_cpu.forward_backward_with_labels` and all-gathers the vocab-sharded
logits over the tensor-parallel group. It writes ``DIR/rank{R}.pt``:
``{case_id: {"upstream": result, "generated": result | error text}}``, where a result is the
fields of :class:`~tests.megatron_cpu.RunResult` (this rank's shards) plus
``"gathered_logits"``. A failure of the generated side (e.g. a factory that does not exist yet)
is recorded as text so the other cases still run; an upstream failure aborts the rank.
"""

from __future__ import annotations

import argparse
import dataclasses
import traceback
from collections.abc import Callable
from pathlib import Path
from types import ModuleType
from typing import Any

import torch
import torch.nn.functional as F
from megatron.core import parallel_state
from megatron.core.models.gpt import gpt_layer_specs as upstream_specs
from megatron.core.transformer.multi_token_prediction import MultiTokenPredictionBlockSubmodules

from tests.megatron_cpu import (
    LayerSpec,
    build_and_run,
    distributed_state,
    make_config,
)

TP_CONFIG: dict[str, Any] = dict(
    num_query_groups=2,  # GQA: one key/value group per rank
    gated_linear_unit=True,
    activation_func=F.silu,
    normalization="RMSNorm",
)
"""Config fields shared by the cases (hidden 64, 4 heads: 2 heads and 1 group per rank)."""

SpecBuilder = Callable[
    [ModuleType, Any], tuple[LayerSpec, MultiTokenPredictionBlockSubmodules | None]
]


def _dense(factories: ModuleType, config: Any) -> tuple[LayerSpec, None]:
    del config
    return factories.get_gpt_layer_local_spec(normalization="RMSNorm"), None


def _mtp(
    factories: ModuleType, config: Any
) -> tuple[LayerSpec, MultiTokenPredictionBlockSubmodules | None]:
    layer_spec = factories.get_gpt_layer_local_spec(normalization="RMSNorm")
    return layer_spec, factories.get_gpt_mtp_block_spec(
        config, layer_spec, use_transformer_engine=False
    )


TP_CASES: dict[str, tuple[dict[str, Any], SpecBuilder]] = {
    "dense-gqa-swiglu": ({}, _dense),
    "mtp2-gqa-swiglu": ({"mtp_num_layers": 2}, _mtp),
}
"""Case id -> (extra config fields, how to get the specs from a module of factories)."""


def _run(
    factories: ModuleType, extra: dict[str, Any], specs: SpecBuilder, tp: int
) -> dict[str, Any]:
    def new_config() -> Any:
        return make_config(**TP_CONFIG, **extra, tensor_model_parallel_size=tp)

    layer_spec, mtp_spec = specs(factories, new_config())
    result = build_and_run(layer_spec, new_config(), mtp_block_spec=mtp_spec, with_labels=True)
    assert result.logits is not None
    group = parallel_state.get_tensor_model_parallel_group()
    shards = [torch.empty_like(result.logits) for _ in range(tp)]
    torch.distributed.all_gather(shards, result.logits.contiguous(), group=group)
    fields = {f.name: getattr(result, f.name) for f in dataclasses.fields(result)}
    return {**fields, "gathered_logits": torch.cat(shards, dim=-1)}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rank", type=int, required=True)
    parser.add_argument("--world-size", type=int, required=True)
    parser.add_argument("--port", type=int, required=True)
    parser.add_argument("--out", type=Path, required=True)
    args = parser.parse_args()

    from generated.megatron_core import gpt_specs as generated_specs

    results: dict[str, dict[str, Any]] = {}
    with distributed_state(
        tensor_model_parallel_size=args.world_size,
        rank=args.rank,
        world_size=args.world_size,
        master_port=args.port,
    ):
        for case_id, (extra, specs) in TP_CASES.items():
            upstream = _run(upstream_specs, extra, specs, args.world_size)
            try:
                generated: dict[str, Any] | str = _run(
                    generated_specs, extra, specs, args.world_size
                )
            except Exception:  # recorded for the test to report; the other cases still run
                # A failure before any collective (a missing factory, a spec megatron rejects)
                # happens on every rank alike, so the ranks stay in step; anything else may
                # leave the other rank waiting, which the test's timeout ends.
                generated = traceback.format_exc()
            torch.distributed.barrier()
            results[case_id] = {"upstream": upstream, "generated": generated}
    torch.save(results, args.out / f"rank{args.rank}.pt")


if __name__ == "__main__":
    main()
