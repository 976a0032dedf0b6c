"""Parity: the generated experimental-attention-variant factories build the same spec trees as
upstream's (megatron.core.models.gpt.experimental_attention_variant_module_specs).

Upstream's specs need Transformer Engine only to *name* its classes; without TE its module never
imports TESpecProvider. The fixture patches upstream's module globals (HAVE_TE, TESpecProvider,
and gpt_layer_specs' TE names) so the TE specs build here; both sides then hold the same TE
placeholders from megatron.core.extensions.transformer_engine. The TE version is faked on both
sides (upstream's is_te_min_version, the generated modules' te_at_least).

Spec trees are compared after normalization by a small local normalizer (generator/spec_tree.py
does not exist yet): every slot value becomes (implementation name, bound arguments, normalized
submodules, metainfo), whether it is a class, a ModuleSpec, a functools.partial, or a generated
adapter.
"""

from __future__ import annotations

import dataclasses
import enum
import functools
import inspect
from typing import Any

import pytest
from megatron.core.extensions import transformer_engine, transformer_engine_spec_provider
from megatron.core.extensions.transformer_engine_spec_provider import TESpecProvider
from megatron.core.models.backends import LocalSpecProvider
from megatron.core.models.gpt import experimental_attention_variant_module_specs as upstream
from megatron.core.models.gpt import gpt_layer_specs
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_config import MLATransformerConfig, TransformerConfig
from packaging.version import Version

import generated.megatron_core as generated_package
from generated.megatron_core import experimental_attention_variant_module_specs as ours

# -- normalizer --------------------------------------------------------------------------------

_TE_NAMES = {
    id(value): name
    for name, value in vars(transformer_engine).items()
    if name.startswith("TE") and value is not None
}


def _pascal(name: str) -> str:
    if "_" not in name and name[:1].isupper():
        return name
    return "".join(part[:1].upper() + part[1:] for part in name.split("_") if part)


# Upstream's MoE spec defers the shared-expert class to build time: _build_shared_experts builds
# SharedExpertMLP unless config.use_grouped_gemm_for_shared_expert (FusedSharedExpertMLP). The
# generated MoE spec (moe_module_specs, not this module) names SharedExpertMLP; the matrix keeps
# that flag off, where both build SharedExpertMLP.
_SAME_AS = {"BuildSharedExperts": "SharedExpertMLP"}


def _name(obj: object) -> str:
    if id(obj) in _TE_NAMES:
        return _TE_NAMES[id(obj)]
    if inspect.ismethod(obj):  # MLP.as_mlp_submodule: a classmethod bound to its class
        return _name(obj.__self__)
    name = _pascal(getattr(obj, "__qualname__", None) or type(obj).__name__)
    return _SAME_AS.get(name, name)


def _is_generated(obj: object) -> bool:
    return type(obj).__module__.startswith("generated.")


def normalize(value: object) -> Any:
    """(implementation, arguments, submodules, metainfo) trees, comparable across both sides."""
    if id(value) in _TE_NAMES:  # TE placeholders without TE (MagicMocks that pass as str)
        return (_TE_NAMES[id(value)], {}, None, {})
    if value is None or isinstance(value, (bool, int, float, str, enum.Enum)):
        return value
    if isinstance(value, (list, tuple)):
        return [normalize(item) for item in value]
    if isinstance(value, dict):
        return {key: normalize(item) for key, item in value.items()}
    if isinstance(value, ModuleSpec):  # upstream's and the build_module-path adapters
        return (
            _name(value.module),
            normalize(dict(value.params)),
            normalize(value.submodules),
            normalize(dict(value.metainfo)),
        )
    if isinstance(value, functools.partial):
        keywords = dict(value.keywords)
        submodules = keywords.pop("submodules", None)
        return (_name(value.func), normalize(keywords), normalize(submodules), {})
    if _is_generated(value) and dataclasses.is_dataclass(value):  # call-path adapters
        class_name = type(value).__name__
        implementation = class_name[class_name.index("From") + len("From") :]
        arguments: dict[str, Any] = {}
        submodules = None
        for field in dataclasses.fields(value):
            item = getattr(value, field.name)
            if field.name == "submodules":
                submodules = item
            elif field.default is dataclasses.MISSING or item != field.default:
                arguments[field.name] = item
        return (implementation, normalize(arguments), normalize(submodules), {})
    if dataclasses.is_dataclass(value) and not isinstance(value, type):  # *Submodules
        return (
            type(value).__name__,
            {f.name: normalize(getattr(value, f.name)) for f in dataclasses.fields(value)},
        )
    if isinstance(value, type) or callable(value):  # a bare class or function
        return (_name(value), {}, None, {})
    raise TypeError(f"cannot normalize {value!r}")


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
    # TEActivationOp is None without TE: give upstream's provider a stand-in of that name.
    monkeypatch.setattr(transformer_engine_spec_provider, "TEActivationOp", _TEActivationOpStandIn)
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


def test_dsa_is_not_generated(te_version: str) -> None:
    """Upstream builds the DSA spec; ours raises NotImplementedError (DSAttention's annotations
    disagree with its parent's call), after the same assertions as upstream."""
    dsa = dict(experimental_attention_variant="dsa", num_layers=2, add_bias_linear=False)
    mla = MLATransformerConfig(
        **{**make_config_settings(), **dsa}, multi_latent_attention=True, qk_layernorm=True
    )
    upstream.get_dsa_module_spec_for_backend(mla, backend=TESpecProvider())
    for factory in (
        ours.get_dsa_module_spec_for_backend,
        ours.get_experimental_attention_variant_module_spec,
        ours.get_transformer_layer_with_experimental_attention_variant_spec,
    ):
        with pytest.raises(NotImplementedError, match="DSAttention"):
            factory(mla, backend=TESpecProvider())
    not_mla = make_config(**dsa)
    for factory in (upstream.get_dsa_module_spec_for_backend, ours.get_dsa_module_spec_for_backend):
        with pytest.raises(AssertionError, match="only MLA"):
            factory(not_mla, backend=TESpecProvider())


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
    with pytest.raises(NotImplementedError, match="backend"):
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
