"""Numerical parity of the generated GPT spec factories with upstream's, beyond the dense case.

Each test builds two ``GPTModel``s with the same config and seed, one from the factories in
``generated.megatron_core.gpt_specs`` and one from upstream's
``megatron.core.models.gpt.gpt_layer_specs`` (same names, same arguments), and compares them
exactly (``torch.equal``, no tolerance) with :func:`tests.megatron_cpu.assert_identical_runs` or
:func:`~tests.megatron_cpu.assert_identical_models`: module class tree, state-dict keys, order
and values and, where the model can run on the CPU, logits, losses and gradients.

* GQA/MQA with SwiGLU (``num_query_groups < num_attention_heads``, ``gated_linear_unit``,
  ``F.silu``; fused and unfused) from ``get_gpt_layer_local_spec``: forward and backward.
* A dense decoder block (``get_gpt_decoder_block_spec`` without experts): forward and backward.
* Decoder blocks mixing dense and MoE layers (``num_moe_experts``, ``moe_layer_freq`` as list and
  int, ``moe_grouped_gemm`` off and on, with and without shared experts): built and compared on
  the CPU only, because the MoE router moves its weight to ``torch.cuda.current_device()`` in
  ``forward`` (0.19.2); the GPU tests below run them forward and backward.
* Multi-token prediction (``get_gpt_mtp_block_spec``, 1 and 2 MTP layers, repeated layer, from a
  layer spec and from a block spec): logits, per-token LM loss, each MTP layer's loss and
  gradients (the MTP loss reaches them through ``MTPLossAutoScaler``).
* GPU only (``@pytest.mark.gpu``, skipped with the reason where there is no CUDA device): MoE
  forward/backward, and a bf16 run of a GQA/SwiGLU model with an MTP block.

Tensor-parallel (TP=2) parity is in ``test_tensor_parallel_parity.py``.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

import pytest
import torch
import torch.nn.functional as F
from megatron.core.models import backends
from megatron.core.models.gpt import gpt_layer_specs as upstream_specs
from megatron.core.transformer.moe.moe_layer import MoELayer
from megatron.core.transformer.multi_token_prediction import MultiTokenPredictionBlockSubmodules
from megatron.core.transformer.transformer_block import TransformerBlockSubmodules
from megatron.core.transformer.transformer_config import TransformerConfig

from generated.megatron_core import gpt_specs as generated_specs
from tests.megatron_cpu import (
    LayerSpec,
    RunResult,
    assert_identical_models,
    assert_identical_runs,
    build_and_run,
    build_only,
    make_config,
)

pytestmark = pytest.mark.usefixtures("megatron_parallel_state", "restore_upstream_lnimpl")

CPU = torch.device("cpu")


@pytest.fixture
def restore_upstream_lnimpl(monkeypatch: pytest.MonkeyPatch) -> None:
    """Undo upstream's rebinding of ``backends.LNImpl`` at teardown.

    ``LocalSpecProvider.layer_norm(rms_norm=True)`` rebinds the module global
    ``megatron.core.models.backends.LNImpl`` to ``WrappedTorchNorm`` and never restores it
    (visible only where apex is installed); ``get_gpt_decoder_block_spec`` also reads
    ``gpt_layer_specs.LNImpl`` for the final norm. Restoring both keeps tests order-independent.
    """
    monkeypatch.setattr(backends, "LNImpl", backends.LNImpl)
    monkeypatch.setattr(upstream_specs, "LNImpl", upstream_specs.LNImpl)


def fresh_configs(**fields: Any) -> Callable[[], TransformerConfig]:
    """A factory of identical configs: each model gets its own, so nothing leaks between them."""
    return lambda: make_config(**fields)


# --------------------------------------------------------------------------------------------
# 1. GQA / MQA + SwiGLU, from get_gpt_layer_local_spec
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class GqaCase:
    """A GQA/SwiGLU config; ``spec_kwargs`` go to both ``get_gpt_layer_local_spec``s."""

    id: str
    config: dict[str, Any]
    spec_kwargs: dict[str, Any] = field(default_factory=dict[str, Any])


GQA_CASES = [
    GqaCase(
        "gqa2-swiglu-layernorm-bias",
        dict(num_query_groups=2, gated_linear_unit=True, activation_func=F.silu),
    ),
    GqaCase(
        "gqa2-fused-swiglu-rmsnorm-qk_layernorm-nobias",
        dict(
            num_query_groups=2,
            gated_linear_unit=True,
            activation_func=F.silu,
            bias_activation_fusion=True,
            add_bias_linear=False,
            normalization="RMSNorm",
            qk_layernorm=True,
        ),
        dict(normalization="RMSNorm", qk_layernorm=True),
    ),
    GqaCase(
        "mqa1-swiglu",
        dict(num_query_groups=1, gated_linear_unit=True, activation_func=F.silu),
    ),
]


@pytest.mark.parametrize("case", [pytest.param(c, id=c.id) for c in GQA_CASES])
def test_gqa_swiglu_local_spec_gives_identical_logits_and_grads_on_cpu(case: GqaCase) -> None:
    """Generated and upstream ``get_gpt_layer_local_spec`` agree exactly for GQA/MQA + SwiGLU."""
    new_config = fresh_configs(**case.config)
    upstream = build_and_run(
        upstream_specs.get_gpt_layer_local_spec(**case.spec_kwargs), new_config()
    )
    generated = build_and_run(
        generated_specs.get_gpt_layer_local_spec(**case.spec_kwargs), new_config()
    )
    # The cases must really be grouped-query: fewer key/value heads than query heads.
    qkv_rows = upstream.state_dict["decoder.layers.0.self_attention.linear_qkv.weight"].shape[0]
    assert qkv_rows < 3 * 64, "linear_qkv is not grouped-query"
    assert_identical_runs(generated, upstream)


# --------------------------------------------------------------------------------------------
# 2. Decoder block specs: dense (runs on the CPU) and dense + MoE (built on the CPU)
# --------------------------------------------------------------------------------------------


def test_dense_decoder_block_spec_gives_identical_logits_and_grads_on_cpu() -> None:
    """``get_gpt_decoder_block_spec`` without experts: same model and numbers as upstream."""
    new_config = fresh_configs(num_layers=3, normalization="RMSNorm", qk_layernorm=True)
    upstream = build_and_run(
        upstream_specs.get_gpt_decoder_block_spec(
            new_config(), use_transformer_engine=False, normalization="RMSNorm"
        ),
        new_config(),
    )
    generated = build_and_run(
        generated_specs.get_gpt_decoder_block_spec(
            new_config(), use_transformer_engine=False, normalization="RMSNorm"
        ),
        new_config(),
    )
    assert_identical_runs(generated, upstream)


@dataclass(frozen=True)
class MoeCase:
    """A 4-layer config with experts; ``moe_layers`` is the layer pattern it must produce."""

    id: str
    config: dict[str, Any]
    moe_layers: tuple[bool, ...]


_MOE_BASE: dict[str, Any] = dict(
    num_layers=4, num_moe_experts=4, moe_ffn_hidden_size=32, moe_router_topk=2
)
MOE_CASES = [
    MoeCase(
        "freq-list-1010-nogrouped",
        dict(_MOE_BASE, moe_layer_freq=[1, 0, 1, 0], moe_grouped_gemm=False),
        (True, False, True, False),
    ),
    MoeCase(
        "freq-list-0110-grouped",
        dict(_MOE_BASE, moe_layer_freq=[0, 1, 1, 0], moe_grouped_gemm=True),
        (False, True, True, False),
    ),
    MoeCase(
        "freq-int-2-nogrouped",
        dict(_MOE_BASE, moe_layer_freq=2, moe_grouped_gemm=False),
        (True, False, True, False),
    ),
    MoeCase(
        "freq-int-2-grouped-shared-experts-swiglu-rmsnorm",
        dict(
            _MOE_BASE,
            moe_layer_freq=2,
            moe_grouped_gemm=True,
            moe_shared_expert_intermediate_size=32,
            add_bias_linear=False,  # SharedExpertMLP asserts it
            gated_linear_unit=True,
            activation_func=F.silu,
            normalization="RMSNorm",
            qk_layernorm=True,
        ),
        (True, False, True, False),
    ),
]
MOE_PARAMS = [pytest.param(c, id=c.id) for c in MOE_CASES]


def _assert_moe_pattern(result: RunResult, moe_layers: tuple[bool, ...]) -> None:
    """The built model has MoE layers exactly where the case says (guards the test itself)."""
    found = tuple(
        result.module_types[f"decoder.layers.{i}.mlp"] is MoELayer for i in range(len(moe_layers))
    )
    assert found == moe_layers, f"MoE layers at {found}, expected {moe_layers}"


def _normalization(config: dict[str, Any]) -> str | None:
    return config.get("normalization")


@pytest.mark.parametrize("case", MOE_PARAMS)
def test_moe_decoder_block_spec_builds_identical_model_on_cpu(case: MoeCase) -> None:
    """``get_gpt_decoder_block_spec`` with dense and MoE layers: same class tree and weights."""
    new_config = fresh_configs(**case.config)
    norm = _normalization(case.config)
    upstream = build_only(
        upstream_specs.get_gpt_decoder_block_spec(
            new_config(), use_transformer_engine=False, normalization=norm
        ),
        new_config(),
    )
    _assert_moe_pattern(upstream, case.moe_layers)
    generated = build_only(
        generated_specs.get_gpt_decoder_block_spec(
            new_config(), use_transformer_engine=False, normalization=norm
        ),
        new_config(),
    )
    assert_identical_models(generated, upstream)


def test_moe_decoder_layer_specs_build_identical_model_on_cpu() -> None:
    """``get_gpt_decoder_layer_specs`` (the per-layer list): same model as upstream's list."""
    case = MOE_CASES[0]
    new_config = fresh_configs(**case.config)

    def block(layer_specs: list[Any]) -> TransformerBlockSubmodules:
        return TransformerBlockSubmodules(layer_specs=layer_specs, layer_norm=backends.LNImpl)

    upstream = build_only(
        block(
            upstream_specs.get_gpt_decoder_layer_specs(new_config(), use_transformer_engine=False)
        ),
        new_config(),
    )
    _assert_moe_pattern(upstream, case.moe_layers)
    generated = build_only(
        block(
            generated_specs.get_gpt_decoder_layer_specs(new_config(), use_transformer_engine=False)
        ),
        new_config(),
    )
    assert_identical_models(generated, upstream)


# --------------------------------------------------------------------------------------------
# 3. Multi-token prediction
# --------------------------------------------------------------------------------------------


@dataclass(frozen=True)
class MtpCase:
    """An MTP config; ``from_block``: the MTP spec is derived from the decoder block spec (its
    last layer, as in training scripts) rather than from a single layer spec."""

    id: str
    config: dict[str, Any]
    from_block: bool = False


MTP_CASES = [
    MtpCase("mtp1-layer-spec", dict(mtp_num_layers=1)),
    MtpCase("mtp2-layer-spec", dict(mtp_num_layers=2)),
    MtpCase("mtp2-repeated-layer", dict(mtp_num_layers=2, mtp_use_repeated_layer=True)),
    MtpCase(
        "mtp1-block-spec-gqa-swiglu-rmsnorm",
        dict(
            mtp_num_layers=1,
            num_query_groups=2,
            gated_linear_unit=True,
            activation_func=F.silu,
            normalization="RMSNorm",
        ),
        from_block=True,
    ),
]
MTP_PARAMS = [pytest.param(c, id=c.id) for c in MTP_CASES]


def _mtp_specs(
    factories: Any, config: TransformerConfig, case: MtpCase
) -> tuple[LayerSpec, MultiTokenPredictionBlockSubmodules]:
    """``(transformer_layer_spec, mtp_block_spec)`` from one module of factories (the generated
    one or upstream's), built the way ``pretrain_gpt`` does."""
    norm = _normalization(case.config)
    layer_spec: LayerSpec = (
        factories.get_gpt_decoder_block_spec(
            config, use_transformer_engine=False, normalization=norm
        )
        if case.from_block
        else factories.get_gpt_layer_local_spec(normalization=norm)
    )
    mtp_spec = factories.get_gpt_mtp_block_spec(config, layer_spec, use_transformer_engine=False)
    return layer_spec, mtp_spec


def _run_mtp(factories: Any, case: MtpCase, device: torch.device, **config: Any) -> RunResult:
    new_config = fresh_configs(**{**case.config, **config})
    layer_spec, mtp_spec = _mtp_specs(factories, new_config(), case)
    return build_and_run(
        layer_spec, new_config(), mtp_block_spec=mtp_spec, device=device, with_labels=True
    )


@pytest.mark.parametrize("case", MTP_PARAMS)
def test_mtp_block_spec_gives_identical_logits_mtp_losses_and_grads_on_cpu(case: MtpCase) -> None:
    """``get_gpt_mtp_block_spec``: same model, logits, LM and MTP losses and gradients."""
    upstream = _run_mtp(upstream_specs, case, CPU)
    assert upstream.mtp_losses is not None, "no MTP loss was recorded"
    assert upstream.mtp_losses.shape == (case.config["mtp_num_layers"],)
    assert bool((upstream.mtp_losses > 0).all()), "an MTP layer has no loss"
    assert any(name.startswith("mtp.") for name in upstream.state_dict), "no MTP block built"
    generated = _run_mtp(generated_specs, case, CPU)
    assert_identical_runs(generated, upstream)


def test_mtp_block_spec_is_none_without_mtp_layers() -> None:
    """Without ``mtp_num_layers`` both factories return None (no MTP block)."""
    config = make_config()
    layer = generated_specs.get_gpt_layer_local_spec()
    assert (
        generated_specs.get_gpt_mtp_block_spec(config, layer, use_transformer_engine=False) is None
    )
    assert (
        upstream_specs.get_gpt_mtp_block_spec(
            config, upstream_specs.get_gpt_layer_local_spec(), use_transformer_engine=False
        )
        is None
    )


# --------------------------------------------------------------------------------------------
# 5. On a GPU: what the CPU cannot run
# --------------------------------------------------------------------------------------------


@pytest.mark.gpu
@pytest.mark.parametrize("case", MOE_PARAMS)
def test_moe_decoder_block_spec_gives_identical_logits_and_grads_on_gpu(
    case: MoeCase, cuda_device: torch.device
) -> None:
    """MoE decoder block forward and backward on CUDA: identical logits and gradients."""
    new_config = fresh_configs(**case.config, use_cpu_initialization=False)
    norm = _normalization(case.config)
    upstream = build_and_run(
        upstream_specs.get_gpt_decoder_block_spec(
            new_config(), use_transformer_engine=False, normalization=norm
        ),
        new_config(),
        device=cuda_device,
    )
    _assert_moe_pattern(upstream, case.moe_layers)
    generated = build_and_run(
        generated_specs.get_gpt_decoder_block_spec(
            new_config(), use_transformer_engine=False, normalization=norm
        ),
        new_config(),
        device=cuda_device,
    )
    assert_identical_runs(generated, upstream)


@pytest.mark.gpu
@pytest.mark.parametrize("case", [MTP_CASES[1], MTP_CASES[3]], ids=lambda c: c.id)
def test_bf16_gqa_swiglu_mtp_model_gives_identical_logits_losses_and_grads_on_gpu(
    case: MtpCase, cuda_device: torch.device
) -> None:
    """bf16 GQA/SwiGLU model with an MTP block on CUDA: identical logits, losses, gradients."""
    bf16 = dict(
        bf16=True,
        params_dtype=torch.bfloat16,
        use_cpu_initialization=False,
        num_query_groups=2,
        gated_linear_unit=True,
        activation_func=F.silu,
    )
    upstream = _run_mtp(upstream_specs, case, cuda_device, **bf16)
    assert upstream.logits is not None and upstream.logits.dtype == torch.bfloat16
    generated = _run_mtp(generated_specs, case, cuda_device, **bf16)
    assert_identical_runs(generated, upstream)
