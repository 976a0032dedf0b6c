"""Parity: the generated experimental-attention-variant factories build the same spec trees as
upstream's (megatron.core.models.gpt.experimental_attention_variant_module_specs).

Upstream's specs need Transformer Engine only to *name* its classes; without TE its module never
imports TESpecProvider. The fixture patches upstream's module globals (HAVE_TE, TESpecProvider,
and gpt_layer_specs' TE names) so the TE specs build here; both sides then hold the same TE
placeholders from megatron.core.extensions.transformer_engine. The TE version is faked on both
sides (upstream's is_te_min_version, the generated modules' te_at_least).

Spec trees are compared after normalization by generator/spec_tree.py: every slot value becomes
(implementation, bound arguments, sub-slots), whether it is a class, a ModuleSpec, a
functools.partial, or a generated adapter.
"""

from __future__ import annotations

import inspect
from typing import Any

import pytest
from megatron.core.extensions import transformer_engine, transformer_engine_spec_provider
from megatron.core.extensions.transformer_engine_spec_provider import TESpecProvider
from megatron.core.models.backends import LocalSpecProvider
from megatron.core.models.gpt import experimental_attention_variant_module_specs as upstream
from megatron.core.models.gpt import gpt_layer_specs
from megatron.core.transformer.transformer_config import MLATransformerConfig, TransformerConfig
from packaging.version import Version

import generated.megatron_core as generated_package
from generated.megatron_core import experimental_attention_variant_module_specs as ours
from generator.spec_tree import normalize
from tests.simulated_te import simulated_te

# -- fixtures ----------------------------------------------------------------------------------


@pytest.fixture(params=["2.8", "1.8"], ids=["te2.8", "te1.8"])
def te_version(request: pytest.FixtureRequest, monkeypatch: pytest.MonkeyPatch) -> str:
    """Upstream's TE spec globals as with TE installed, at a faked TE version on both sides."""
    version: str = request.param

    def at_least(wanted: str) -> bool:
        return Version(version) >= Version(wanted)

    monkeypatch.setattr(upstream, "HAVE_TE", True)
    monkeypatch.setattr(upstream, "TESpecProvider", TESpecProvider, raising=False)
    monkeypatch.setattr(gpt_layer_specs, "HAVE_TE", True)
    monkeypatch.setattr(gpt_layer_specs, "TESpecProvider", TESpecProvider)
    monkeypatch.setattr(gpt_layer_specs, "TENorm", transformer_engine.TENorm)
    monkeypatch.setattr(gpt_layer_specs, "is_te_min_version", at_least)
    monkeypatch.setattr(transformer_engine_spec_provider, "is_te_min_version", at_least)
    # TEActivationOp is None without TE: one stand-in of that name for upstream's provider and
    # for the generated binding, which reads megatron.core.extensions.transformer_engine.
    monkeypatch.setattr(transformer_engine_spec_provider, "TEActivationOp", _TEActivationOpStandIn)
    monkeypatch.setattr(transformer_engine, "TEActivationOp", _TEActivationOpStandIn)
    for module in vars(generated_package).values():
        if inspect.ismodule(module) and hasattr(module, "te_at_least"):
            monkeypatch.setattr(module, "te_at_least", at_least)
    return version


class _TEActivationOpStandIn:
    """Stands for TEActivationOp (None without TE) in upstream's TE provider."""


_TEActivationOpStandIn.__qualname__ = "TEActivationOp"


def make_config_settings() -> dict[str, Any]:
    return dict(
        num_layers=4,
        hidden_size=64,
        num_attention_heads=4,
        use_cpu_initialization=True,
        transformer_impl="transformer_engine",
    )


def make_config(**overrides: Any) -> TransformerConfig:
    return TransformerConfig(**{**make_config_settings(), **overrides})


# -- the option matrix -------------------------------------------------------------------------

ATTENTION = {
    "standard": {},
    "gdn-freq2": dict(experimental_attention_variant="gated_delta_net", linear_attention_freq=2),
    "gdn-freq4": dict(experimental_attention_variant="gated_delta_net", linear_attention_freq=4),
    "gdn-list": dict(
        experimental_attention_variant="gated_delta_net", linear_attention_freq=[1, 0, 0, 1]
    ),
    "gdn-all": dict(
        experimental_attention_variant="gated_delta_net", linear_attention_freq=[1, 1, 1, 1]
    ),
}
MLP = {
    "dense": {},
    "moe-freq1": dict(num_moe_experts=4, moe_layer_freq=1),
    "moe-freq2": dict(num_moe_experts=4, moe_layer_freq=2, moe_grouped_gemm=True),
    "moe-list-teact": dict(
        num_moe_experts=4, moe_layer_freq=[0, 1, 1, 0], use_te_activation_func=True
    ),
}
NORMS = {
    "ln": dict(normalization="LayerNorm"),
    "rms-qkln": dict(normalization="RMSNorm", qk_layernorm=True),
    "qkl2": dict(qk_l2_norm=True),
}
MATRIX = [
    pytest.param({**a, **m, **n}, id=f"{an}-{mn}-{nn}")
    for an, a in ATTENTION.items()
    for mn, m in MLP.items()
    for nn, n in NORMS.items()
]


def _outcome(factory: Any, *args: Any, **kwargs: Any) -> Any:
    try:
        return ("ok", normalize(factory(*args, **kwargs)))
    except Exception as error:  # compared by type: both sides must fail alike
        return ("raises", type(error).__name__)


@pytest.mark.parametrize("settings", MATRIX)
def test_layer_specs_match(settings: dict[str, Any], te_version: str) -> None:
    config = make_config(**settings)
    for backend in (None, TESpecProvider()):
        theirs = normalize(
            upstream.get_transformer_layer_with_experimental_attention_variant_spec(
                config=config, backend=backend
            )
        )
        mine = normalize(
            ours.get_transformer_layer_with_experimental_attention_variant_spec(
                config=config, backend=backend
            )
        )
        assert mine == theirs


@pytest.mark.parametrize("settings", MATRIX)
def test_block_specs_match(settings: dict[str, Any], te_version: str) -> None:
    config = make_config(**settings)
    # pp_rank given: upstream then reads the pipeline size from the config, not parallel_state.
    for pp_size, pp_rank in ((1, 0), (2, 0), (2, 1)):
        config.pipeline_model_parallel_size = pp_size
        theirs = _outcome(
            upstream.get_transformer_block_with_experimental_attention_variant_spec,
            config,
            pp_rank=pp_rank,
        )
        mine = _outcome(
            ours.get_transformer_block_with_experimental_attention_variant_spec,
            config,
            pp_rank=pp_rank,
        )
        assert theirs[0] == "ok", theirs
        assert mine == theirs


@pytest.mark.parametrize(
    "settings",
    [
        pytest.param(ATTENTION["gdn-freq2"], id="gdn"),
        pytest.param({**ATTENTION["gdn-freq2"], **NORMS["rms-qkln"]}, id="gdn-rms"),
    ],
)
def test_gated_delta_net_and_variant_specs_match(settings: dict[str, Any], te_version: str) -> None:
    config = make_config(**settings)
    for backend in (None, TESpecProvider()):
        for name in (
            "get_gated_delta_net_module_spec",
            "get_experimental_attention_variant_module_spec",
        ):
            theirs = normalize(getattr(upstream, name)(config=config, backend=backend))
            mine = normalize(getattr(ours, name)(config=config, backend=backend))
            assert mine == theirs, name


DSA = {
    "dsa": dict(experimental_attention_variant="dsa", num_layers=2, add_bias_linear=False),
    "dsa-rms-qkln": dict(
        experimental_attention_variant="dsa",
        num_layers=2,
        add_bias_linear=False,
        normalization="RMSNorm",
        qk_layernorm=True,
    ),
    "dsa-topk2-moe": dict(
        experimental_attention_variant="dsa",
        add_bias_linear=False,
        dsa_indexer_topk_freq=2,
        num_moe_experts=4,
        moe_layer_freq=[1, 0, 1, 1],
        moe_grouped_gemm=True,
    ),
}


def make_mla_config(**overrides: Any) -> MLATransformerConfig:
    return MLATransformerConfig(
        **{**make_config_settings(), **overrides}, multi_latent_attention=True
    )


@pytest.mark.parametrize("settings", [pytest.param(s, id=n) for n, s in DSA.items()])
def test_dsa_specs_match(settings: dict[str, Any], te_version: str) -> None:
    """DeepSeek Sparse Attention: absorbed MLA with DSAttention (and its indexer) as core
    attention, alone, as the variant's spec, in every layer and in the block. The spec puts
    TELinear bare into the down-projections (a MagicMock without TE, which the typed constructor
    rejects), hence simulated_te (its TE version is overridden by the fixture's)."""
    config = make_mla_config(**settings)
    with simulated_te():
        _check_dsa_specs(config)


def _check_dsa_specs(config: MLATransformerConfig) -> None:
    # Upstream's get_dsa_module_spec_for_backend needs the backend (it calls backend.linear()
    # on None); ours takes None as Transformer Engine, like its siblings.
    theirs = normalize(upstream.get_dsa_module_spec_for_backend(config, backend=TESpecProvider()))
    for backend in (None, TESpecProvider()):
        mine = normalize(ours.get_dsa_module_spec_for_backend(config, backend=backend))
        assert mine == theirs
    for backend in (None, TESpecProvider()):
        for name in (
            "get_experimental_attention_variant_module_spec",
            "get_transformer_layer_with_experimental_attention_variant_spec",
        ):
            theirs = normalize(getattr(upstream, name)(config=config, backend=backend))
            mine = normalize(getattr(ours, name)(config=config, backend=backend))
            assert mine == theirs, name
    for pp_size, pp_rank in ((1, 0), (2, 0), (2, 1)):
        config.pipeline_model_parallel_size = pp_size
        theirs_block = _outcome(
            upstream.get_transformer_block_with_experimental_attention_variant_spec,
            config,
            pp_rank=pp_rank,
        )
        mine_block = _outcome(
            ours.get_transformer_block_with_experimental_attention_variant_spec,
            config,
            pp_rank=pp_rank,
        )
        assert mine_block == theirs_block


def test_dsa_refusals_match(te_version: str) -> None:
    """Where upstream's DSA spec asserts (no MLA, qk_l2_norm), ours raises the same."""
    dsa = DSA["dsa"]
    not_mla = make_config(**dsa)
    qk_l2 = make_mla_config(**dsa, qk_l2_norm=True)
    for config, message in ((not_mla, "only MLA"), (qk_l2, "qk_l2_norm")):
        for factory in (
            upstream.get_dsa_module_spec_for_backend,
            ours.get_dsa_module_spec_for_backend,
            upstream.get_experimental_attention_variant_module_spec,
            ours.get_experimental_attention_variant_module_spec,
        ):
            with pytest.raises(AssertionError, match=message):
                factory(config, backend=TESpecProvider())


def test_same_failures(te_version: str) -> None:
    """Where upstream refuses, ours refuses with the same exception type."""
    local = make_config(
        transformer_impl="local",
        experimental_attention_variant="gated_delta_net",
        linear_attention_freq=2,
    )
    for module in (upstream, ours):
        with pytest.raises(AssertionError):
            module.get_transformer_block_with_experimental_attention_variant_spec(local)
    # Upstream builds GatedDeltaNet with in_proj=None from the local provider (it has no fused
    # norm + linear), which build_module cannot build: ours refuses it, naming the slot.
    with pytest.raises(NotImplementedError, match="in_proj"):
        ours.get_gated_delta_net_module_spec(local, backend=LocalSpecProvider())


def test_pattern_helpers_are_upstreams() -> None:
    from generated.megatron_core import spec_values

    for settings in (
        dict(num_moe_experts=4, moe_layer_freq=2),
        dict(num_moe_experts=4, moe_layer_freq=[1, 0, 0, 1]),
        dict(experimental_attention_variant="gated_delta_net", linear_attention_freq=3),
    ):
        config = make_config(**settings)
        if config.num_moe_experts is not None:
            assert spec_values.get_moe_layer_pattern(config) == upstream.get_moe_layer_pattern(
                config
            )
        assert spec_values.get_linear_attention_pattern(
            config
        ) == upstream.get_linear_attention_pattern(config)
    for variant in (None, "gated_delta_net", "dsa"):
        assert spec_values.is_linear_attention_variant(
            variant
        ) == upstream.is_linear_attention_variant(variant)
