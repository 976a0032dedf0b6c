"""Multi-latent attention (MLA) in the generated GPT layer factories.

* TE and inference factories: for every MLA combination (qk_layernorm on/off, num_experts
  None/4, and mla_down_proj_fusion on/off for TE), upstream's spec and ours, normalized with
  :mod:`generator.spec_tree`, have the same tree outside the ``mlp`` slot (attention, its MLA
  submodules, norms, bias-dropout-adds, sharded_state_dict_keys_map); in the ``mlp`` slot they
  differ exactly as the same combination without MLA does (MLA adds no MLP difference; the MLP
  is computed the same way in both branches). Built under :func:`tests.simulated_te.simulated_te`
  (specs only name classes; upstream's factories need ``TESpecProvider``/``HAVE_TE``/the TE
  version, ours ``te_at_least``).
* local factory: upstream's local MLA spec names ``DotProductAttention`` as core attention,
  which ``MultiLatentAttention`` builds with ``k_channels=``/``v_channels=``; the build fails
  (shown here on CPU), so the generated local factory refuses MLA (NotImplementedError); with
  qk_l2_norm it raises AssertionError first, as upstream.
* decoder-block factories: TE MLA layers read ``mla_down_proj_fusion`` from the config (a field
  of MLATransformerConfig only).
* description: ``MLAAttentionBuilder`` is ``AttentionBuilder`` with ``config: MLATransformerConfig``.
* pyright: the widened slots accept what upstream puts there and still reject other values.
"""

from __future__ import annotations

import itertools
import json
import warnings
from pathlib import Path
from typing import Any

import pytest
import torch

from generator.spec_tree import diff, normalize, render
from tests.pyright_runner import run_pyright
from tests.simulated_te import environment

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from megatron.core.models.gpt import gpt_layer_specs as upstream
    from megatron.core.transformer.spec_utils import build_module
    from megatron.core.transformer.transformer_config import MLATransformerConfig

    from generated.megatron_core import gpt_specs as ours

DESCRIPTIONS = Path(__file__).resolve().parent.parent / "schemas" / "megatron_core"


def trees(factory: str, te: bool, **arguments: object) -> tuple[Any, Any]:
    """(upstream's, ours) normalized trees of ``factory(**arguments)``."""
    with environment(te):
        theirs = normalize(getattr(upstream, factory)(**arguments))
        mine = normalize(getattr(ours, factory)(**arguments))
    return theirs, mine


def split_diff(theirs: Any, mine: Any) -> tuple[list[str], list[str]]:
    """Differences outside the ``mlp`` slot, and inside it."""
    differences = diff(theirs, mine, limit=1000)
    inside = [line for line in differences if line.startswith("mlp")]
    return [line for line in differences if not line.startswith("mlp")], inside


def _flags(**dims: list[Any]) -> list[dict[str, Any]]:
    names = list(dims)
    return [dict(zip(names, values)) for values in itertools.product(*dims.values())]


TE_CASES = _flags(
    qk_layernorm=[False, True], num_experts=[None, 4], mla_down_proj_fusion=[False, True]
)
INFERENCE_CASES = _flags(qk_layernorm=[False, True], num_experts=[None, 4])
FACTORIES = {
    "te": (
        "get_gpt_layer_with_transformer_engine_submodules",
        "get_gpt_layer_with_transformer_engine_spec",
    ),
    "inference": ("get_gpt_layer_with_inference_submodules", "get_gpt_layer_with_inference_spec"),
}
MLA_CASES = [
    pytest.param(factory, case, id=f"{factory}-" + "-".join(f"{k}={v}" for k, v in case.items()))
    for backend, cases in (("te", TE_CASES), ("inference", INFERENCE_CASES))
    for factory in FACTORIES[backend]
    for case in cases
]


@pytest.mark.parametrize(("factory", "case"), MLA_CASES)
def test_mla_spec_tree_matches_upstream(factory: str, case: dict[str, Any]) -> None:
    theirs, mine = trees(factory, True, multi_latent_attention=True, **case)
    outside, inside = split_diff(theirs, mine)
    assert not outside, (
        "MLA spec trees differ outside the mlp slot (first = upstream, second = generated):\n  "
        + "\n  ".join(outside)
        + "\n--- upstream\n"
        + render(theirs)
        + "\n--- generated\n"
        + render(mine)
    )
    # The MLP is built as without MLA: any difference there is the non-MLA one, unchanged.
    without = {k: v for k, v in case.items() if k != "mla_down_proj_fusion"}
    _, inside_without_mla = split_diff(*trees(factory, True, **without))
    assert inside == inside_without_mla


def test_mla_trees_show_what_upstream_builds() -> None:
    """Spot checks of the compared trees (so an empty diff is not two empty trees)."""
    fused, _ = trees(
        "get_gpt_layer_with_transformer_engine_submodules",
        True,
        multi_latent_attention=True,
        mla_down_proj_fusion=True,
        qk_layernorm=True,
    )
    text = render(fused)
    assert "FusedMLASelfAttention(attn_mask_type=AttnMaskType.causal)" in text
    assert (
        "linear_qkv_down_proj: extensions.transformer_engine.TELayerNormColumnParallelLinear"
        in text
    )
    assert "self_attention.linear_qkv_down_proj.layer_norm_" in text
    plain, _ = trees(
        "get_gpt_layer_with_transformer_engine_submodules", True, multi_latent_attention=True
    )
    text = render(plain)
    assert "MLASelfAttention(attn_mask_type=AttnMaskType.causal)" in text
    assert "linear_q_down_proj: extensions.transformer_engine.TELinear" in text
    assert "input_layernorm: extensions.transformer_engine.TENorm(has_residual=True)" in text


@pytest.mark.parametrize("factory", [*FACTORIES["te"], *FACTORIES["inference"]])
def test_qk_l2_norm_with_mla_is_an_assertion_error_as_upstream(factory: str) -> None:
    for module in (upstream, ours):
        with (
            environment(True),
            pytest.raises(AssertionError, match="qk_l2_norm is not supported with MLA"),
        ):
            getattr(module, factory)(multi_latent_attention=True, qk_l2_norm=True)


# ---- local MLA ------------------------------------------------------------------------------

LOCAL_CASES = _flags(
    normalization=[None, "LayerNorm", "RMSNorm"], qk_layernorm=[False, True], num_experts=[None, 4]
)


@pytest.mark.parametrize("factory", ["get_gpt_layer_local_submodules", "get_gpt_layer_local_spec"])
@pytest.mark.parametrize(
    "case", LOCAL_CASES, ids=["-".join(f"{k}={v}" for k, v in c.items()) for c in LOCAL_CASES]
)
def test_local_mla_is_refused_where_upstream_gives_an_unbuildable_spec(
    factory: str, case: dict[str, Any]
) -> None:
    with environment(False):
        spec = getattr(upstream, factory)(multi_latent_attention=True, **case)
        submodules = getattr(spec, "submodules", spec)
        assert (
            submodules.self_attention.submodules.core_attention
            is upstream.LocalSpecProvider().core_attention()
        )
        with pytest.raises(NotImplementedError, match="DotProductAttention"):
            getattr(ours, factory)(multi_latent_attention=True, **case)
        with pytest.raises(AssertionError, match="qk_l2_norm is not supported with MLA"):
            getattr(ours, factory)(multi_latent_attention=True, qk_l2_norm=True, **case)


def tiny_mla_config() -> MLATransformerConfig:
    return MLATransformerConfig(
        num_layers=1,
        hidden_size=64,
        num_attention_heads=4,
        use_cpu_initialization=True,
        multi_latent_attention=True,
        q_lora_rank=16,
        kv_lora_rank=16,
        qk_head_dim=8,
        qk_pos_emb_head_dim=8,
        v_head_dim=8,
        rope_type="rope",
    )


@pytest.mark.usefixtures("megatron_parallel_state")
def test_upstreams_local_mla_spec_fails_to_build(monkeypatch: pytest.MonkeyPatch) -> None:
    """Why the local factory refuses MLA: DotProductAttention takes no k_channels."""
    from tests.megatron_cpu import cpu_shims

    # MLA's RotaryEmbedding asks for the CUDA device (it is not passed use_cpu_initialization).
    monkeypatch.setattr(torch.cuda, "current_device", lambda: "cpu")
    with environment(False), cpu_shims():
        spec = upstream.get_gpt_layer_local_spec(multi_latent_attention=True)
        with pytest.raises(TypeError, match="k_channels"):
            build_module(spec, config=tiny_mla_config(), layer_number=1)


# ---- decoder-block factories ------------------------------------------------------------------


@pytest.mark.usefixtures("megatron_parallel_state")
@pytest.mark.parametrize("fusion", [False, True], ids=["unfused", "fused-down-proj"])
def test_decoder_layer_specs_read_mla_down_proj_fusion_from_the_config(fusion: bool) -> None:
    """TE MLA layers of the decoder block equal upstream's, fused or not as the config says;
    qk_l2_norm still fails first, as upstream."""
    config = tiny_mla_config()
    config.mla_down_proj_fusion = fusion
    with environment(True):
        theirs = normalize(
            upstream.get_gpt_decoder_layer_specs(config, use_transformer_engine=True)
        )
        mine = normalize(ours.get_gpt_decoder_layer_specs(config, use_transformer_engine=True))
        for module in (upstream, ours):
            with pytest.raises(AssertionError, match="qk_l2_norm is not supported with MLA"):
                module.get_gpt_decoder_layer_specs(
                    config, use_transformer_engine=True, qk_l2_norm=True
                )
    assert not diff(theirs, mine), "\n".join(diff(theirs, mine)) + "\n" + render(mine)
    assert "FusedMLASelfAttention" in render(mine) if fusion else "FusedMLA" not in render(mine)


# ---- descriptions and types -------------------------------------------------------------------


def test_mla_attention_builder_is_attention_builder_with_an_mla_config() -> None:
    layer = json.loads((DESCRIPTIONS / "transformer_layer.json").read_text())
    builders = {builder["name"]: builder for builder in layer["builders"]}
    attention, mla = builders["AttentionBuilder"], builders["MLAAttentionBuilder"]
    assert attention["construction"] == mla["construction"] == "build_module"

    def shape(builder: dict[str, Any]) -> list[tuple[Any, ...]]:
        return [
            (
                p["name"],
                p["kind"],
                p.get("passed"),
                p.get("default"),
                "MLATransformerConfig" if p["name"] == "config" else p["type"],
            )
            for p in builder["parameters"]
        ]

    assert shape(attention) == shape(mla)
    assert {p["type"] for p in mla["parameters"] if p["name"] == "config"} == {
        "MLATransformerConfig"
    }
    slot = next(s for s in layer["parent"]["slots"] if s["name"] == "self_attention")
    assert "MLAAttentionBuilder" in [a["type"] for a in slot["also_accepts"]]
    cross = next(s for s in layer["parent"]["slots"] if s["name"] == "cross_attention")
    assert "also_accepts" not in cross


WIDENED_SLOTS = '''
"""The widened MLA slots: what upstream puts there type-checks; other values do not."""
from megatron.core.extensions.transformer_engine import TELinear
from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear
from megatron.core.transformer.enums import AttnMaskType
from megatron.core.transformer.identity_op import IdentityOp

from generated.megatron_core import (
    LinearProjFromTERowParallelLinear,
    MLAAttentionFromMLASelfAttention,
    MLACoreAttentionFromTEDotProductAttention,
    mla_self_attention_submodules,
    transformer_layer_submodules,
)

good = transformer_layer_submodules(
    self_attention=MLAAttentionFromMLASelfAttention(
        submodules=mla_self_attention_submodules(
            linear_proj=LinearProjFromTERowParallelLinear(),
            q_layernorm=IdentityOp,
            kv_layernorm=IdentityOp,
            linear_q_down_proj=TELinear,
            linear_kv_down_proj=ColumnParallelLinear,
            core_attention=MLACoreAttentionFromTEDotProductAttention(),
        ),
        attn_mask_type=AttnMaskType.causal,
    )
)
wrong_down_proj = mla_self_attention_submodules(
    linear_proj=LinearProjFromTERowParallelLinear(),
    q_layernorm=IdentityOp,
    kv_layernorm=IdentityOp,
    linear_kv_down_proj=RowParallelLinear,
)
mla_as_cross_attention = transformer_layer_submodules(
    cross_attention=MLAAttentionFromMLASelfAttention(
        submodules=mla_self_attention_submodules(
            linear_proj=LinearProjFromTERowParallelLinear(),
            q_layernorm=IdentityOp,
            kv_layernorm=IdentityOp,
        ),
    )
)
'''


def test_pyright_accepts_upstreams_mla_values_and_rejects_others(tmp_path: Path) -> None:
    (tmp_path / "widened_slots.py").write_text(WIDENED_SLOTS)
    errors, _ = run_pyright(tmp_path)
    source = (tmp_path / "widened_slots.py").read_text().splitlines()
    owners: dict[str, str] = {}
    for error in errors:
        line = next(
            text for text in reversed(source[: error.line]) if " = " in text and text[0] != " "
        )
        owners.setdefault(line.split(" = ")[0], error.message)
    assert set(owners) == {"wrong_down_proj", "mla_as_cross_attention"}, errors
    assert '"linear_kv_down_proj"' in owners["wrong_down_proj"]
    assert '"cross_attention"' in owners["mla_as_cross_attention"]
