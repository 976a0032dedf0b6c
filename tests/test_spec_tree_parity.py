"""Spec-tree parity: each upstream GPT spec factory against the generated one of the same name.

For every factory, every combination of its options (the matrices below) is built by upstream
and by the generated factory of the same name (looked up in ``generated.megatron_core.gpt_specs``,
then ``generated.megatron_core``), both are normalized with :mod:`generator.spec_tree`, and the
trees must be equal; a failure shows the differing paths. Where upstream rejects a combination
(raises), the generated factory must raise an exception of the same type.

A few combinations are refused on purpose by the generated factories (:func:`deliberate_refusal`,
each with its reason): upstream returns a spec that cannot be built (local MLA, local gated delta
net), or crashes with an AttributeError (DSA from the local provider). There the test checks
both sides: upstream still returns that spec (or raises that exception), and the generated
factory raises the stated exception naming the cause. A generated factory that raises
NotImplementedError anywhere else is an xfail: a gap, named in its message.

Backends: the ``*_for_backend`` and experimental-attention factories are called with each of
upstream's providers (local, TE, inference; the experimental ones also with None); the generated
ones draw their modules from ``typed_provider(backend)`` (generated/megatron_core/backends.py),
as upstream's draw them from the backend. The one backend case refused on purpose is gated delta
net from the local provider (``LOCAL_GDN_REFUSAL``); DSA from the local provider is refused
where upstream crashes (``LOCAL_DSA_REFUSAL``).

Arguments equal to upstream's defaults are not passed, so a combination that only uses the
options a generated factory already has calls it exactly as a user would.

Transformer Engine: cases that use it (TE factories, TE/inference backends, configs with
``transformer_impl`` other than local) run inside :func:`tests.simulated_te.simulated_te`, which
makes megatron's modules look like TE 2.14 is installed (specs only name classes; nothing is
built). Local cases run in the process as it is. A generated factory missing so far fails its
cases with AttributeError naming it.

Spec building only: the whole file runs in seconds.
"""

from __future__ import annotations

import itertools
import traceback
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from types import ModuleType
from typing import Any

import pytest

from generator.spec_tree import diff, normalize, render
from tests.simulated_te import environment

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from megatron.core.extensions.transformer_engine_spec_provider import TESpecProvider
    from megatron.core.models.backends import InferenceSpecProvider, LocalSpecProvider
    from megatron.core.models.gpt import (
        experimental_attention_variant_module_specs as upstream_experimental,
    )
    from megatron.core.models.gpt import gpt_layer_specs as upstream_gpt
    from megatron.core.models.gpt import moe_module_specs as upstream_moe
    from megatron.core.transformer.mlp import MLP
    from megatron.core.transformer.spec_utils import ModuleSpec
    from megatron.core.transformer.transformer_config import (
        MLATransformerConfig,
        TransformerConfig,
    )

# --------------------------------------------------------------------------------------------
# Factories: where upstream's live, where ours are looked up
# --------------------------------------------------------------------------------------------

UPSTREAM: dict[str, ModuleType] = {
    name: module
    for module, names in (
        (
            upstream_gpt,
            (
                "get_gpt_layer_local_spec",
                "get_gpt_layer_local_submodules",
                "get_gpt_layer_with_transformer_engine_spec",
                "get_gpt_layer_with_transformer_engine_submodules",
                "get_gpt_layer_with_inference_spec",
                "get_gpt_layer_with_inference_submodules",
                "get_mlp_module_spec",
                "get_mlp_module_spec_for_backend",
                "get_gpt_decoder_layer_specs",
                "get_gpt_decoder_block_spec",
                "get_gpt_mtp_block_spec",
                "get_gpt_mtp_block_spec_for_backend",
            ),
        ),
        (
            upstream_moe,
            (
                "get_moe_module_spec",
                "get_moe_module_spec_for_backend",
                "get_inference_optimized_moe_spec",
            ),
        ),
        (
            upstream_experimental,
            (
                "get_gated_delta_net_module_spec",
                "get_dsa_module_spec_for_backend",
                "get_experimental_attention_variant_module_spec",
                "get_transformer_layer_with_experimental_attention_variant_spec",
                "get_transformer_block_with_experimental_attention_variant_spec",
            ),
        ),
    )
    for name in names
}


def upstream_factory(name: str) -> Callable[..., object]:
    return getattr(UPSTREAM[name], name)


def resolve_ours(name: str) -> Callable[..., object]:
    """The generated factory ``name`` (AttributeError, naming it, while it does not exist)."""
    import generated.megatron_core as package
    from generated.megatron_core import gpt_specs

    for module in (gpt_specs, package):
        if hasattr(module, name):
            return getattr(module, name)
    raise AttributeError(
        f"{name} is not generated yet (looked in generated.megatron_core.gpt_specs and"
        " generated.megatron_core)"
    )


# --------------------------------------------------------------------------------------------
# Cases
# --------------------------------------------------------------------------------------------

Arguments = Callable[[], dict[str, object]]
"""Makes one call's keyword arguments (called once per side, inside the case's environment)."""


@dataclass(frozen=True)
class Case:
    factory: str
    label: str
    arguments: Arguments
    te: bool = False
    parallel_state: bool = False

    @property
    def id(self) -> str:
        return f"{self.factory}:{self.label}"


def _text(value: object) -> str:
    if isinstance(value, str):
        return value
    if isinstance(value, list):
        return "[" + ",".join(_text(item) for item in value) + "]"  # pyright: ignore
    return repr(value)


def fixed(values: Mapping[str, object]) -> Arguments:
    """Arguments that are the same plain values for every call."""
    return lambda: dict(values)


def label_of(values: Mapping[str, object]) -> str:
    parts = [name if value is True else f"{name}={_text(value)}" for name, value in values.items()]
    return "-".join(parts) or "defaults"


def combinations(dims: Mapping[str, Sequence[object]]) -> Iterator[dict[str, object]]:
    names = list(dims)
    for values in itertools.product(*(dims[name] for name in names)):
        yield dict(zip(names, values))


def non_default(factory: str, values: Mapping[str, object]) -> dict[str, object]:
    """``values`` minus those equal to the upstream factory's defaults (not passed)."""
    import inspect

    parameters = inspect.signature(upstream_factory(factory)).parameters

    def is_default(name: str, value: object) -> bool:
        if name not in parameters:
            return False
        default = parameters[name].default
        return (
            default is not inspect.Parameter.empty
            and type(default) is type(value)
            and default == value
        )

    return {name: value for name, value in values.items() if not is_default(name, value)}


def flag_cases(
    factories: Sequence[str],
    dims: Mapping[str, Sequence[object]],
    extras: Sequence[Mapping[str, object]] = (),
    te: Callable[[Mapping[str, object]], bool] = lambda values: False,
) -> list[Case]:
    """One case per combination of ``dims`` (and per extra single-option case), per factory."""
    cases: list[Case] = []
    for factory in factories:
        for values in [*combinations(dims), *extras]:
            passed = non_default(factory, values)
            cases.append(
                Case(
                    factory,
                    label_of(passed),
                    fixed(passed),
                    te=te(values),
                )
            )
    return cases


BACKENDS: dict[str, Callable[[], object]] = {
    "local": LocalSpecProvider,
    "te": TESpecProvider,
    "inference": InferenceSpecProvider,
}


def with_backend(values: Mapping[str, object]) -> Arguments:
    """Arguments with ``backend`` named in ``values`` replaced by a fresh provider."""

    def make() -> dict[str, object]:
        made = dict(values)
        name = made.get("backend")
        if isinstance(name, str):
            made["backend"] = BACKENDS[name]()
        return made

    return make


def backend_cases(
    factory: str, backends_: Sequence[str | None], dims: Mapping[str, Sequence[object]]
) -> list[Case]:
    cases: list[Case] = []
    for backend in backends_:
        for values in combinations(dims):
            passed = non_default(factory, values)
            passed = {"backend": backend, **passed} if backend is not None else passed
            cases.append(
                Case(factory, label_of(passed), with_backend(passed), te=backend != "local")
            )
    return cases


# ---- configs for the block, MTP and experimental factories ----------------------------------

_BASE: dict[str, object] = dict(
    num_layers=2, hidden_size=64, num_attention_heads=4, use_cpu_initialization=True
)


@dataclass(frozen=True)
class ConfigCase:
    label: str
    options: Mapping[str, object]
    mla: bool = False

    def make(self) -> TransformerConfig:
        cls = MLATransformerConfig if self.mla else TransformerConfig
        return cls(**{**_BASE, **self.options})  # pyright: ignore[reportArgumentType]

    @property
    def te(self) -> bool:
        return self.options.get("transformer_impl", "local") != "local"


BLOCK_CONFIGS = (
    ConfigCase("dense-L2", {}),
    ConfigCase("dense-L4-qkln-RMS", dict(num_layers=4, qk_layernorm=True, normalization="RMSNorm")),
    ConfigCase("moe-L4-freq1", dict(num_layers=4, num_moe_experts=4, moe_layer_freq=1)),
    ConfigCase(
        "moe-L4-freq2-gg",
        dict(num_layers=4, num_moe_experts=4, moe_layer_freq=2, moe_grouped_gemm=True),
    ),
    ConfigCase("moe-L3-list", dict(num_layers=3, num_moe_experts=4, moe_layer_freq=[1, 0, 1])),
    ConfigCase(
        "moe-L4-freq2-te-act",
        dict(num_layers=4, num_moe_experts=4, moe_layer_freq=2, use_te_activation_func=True),
    ),
    ConfigCase("mla-L2-qkln", dict(qk_layernorm=True), mla=True),
    ConfigCase(
        "inference-L2",
        dict(
            transformer_impl="inference_optimized", normalization="RMSNorm", add_bias_linear=False
        ),
    ),
    ConfigCase(
        "gdn-L2",
        dict(
            transformer_impl="transformer_engine",
            experimental_attention_variant="gated_delta_net",
            linear_attention_freq=2,
        ),
    ),
)


def block_cases() -> list[Case]:
    cases: list[Case] = []
    for factory in ("get_gpt_decoder_layer_specs", "get_gpt_decoder_block_spec"):
        for config in BLOCK_CONFIGS:
            for values in combinations(
                dict(
                    use_transformer_engine=[False, True],
                    normalization=[None, "RMSNorm"],
                    qk_l2_norm=[False, True],
                )
            ):
                passed = non_default(factory, values)
                passed["use_transformer_engine"] = values["use_transformer_engine"]

                def make(
                    config: ConfigCase = config, passed: dict[str, object] = passed
                ) -> dict[str, object]:
                    return {"config": config.make(), **passed}

                cases.append(
                    Case(
                        factory,
                        f"{config.label}-{label_of(passed)}",
                        make,
                        te=config.te or bool(values["use_transformer_engine"]),
                        parallel_state=True,
                    )
                )
    return cases


MTP_CONFIGS = tuple(
    ConfigCase(
        f"mtp={layers}" + ("-repeated" if repeated else ""),
        dict(num_layers=2, mtp_num_layers=layers, mtp_use_repeated_layer=repeated),
    )
    for layers in (None, 1, 2)
    for repeated in (False, True)
)


def _mtp_input(kind: str, config: TransformerConfig, te: bool) -> object:
    """The ``spec`` argument of the MTP factories (the same upstream value for both sides)."""
    if kind == "block":
        return upstream_gpt.get_gpt_decoder_block_spec(config, use_transformer_engine=te)
    if kind == "layer":
        return (
            upstream_gpt.get_gpt_layer_with_transformer_engine_spec()
            if te
            else upstream_gpt.get_gpt_layer_local_spec()
        )
    return ModuleSpec(module=MLP)  # neither: upstream raises ValueError when it builds layers


def mtp_cases() -> list[Case]:
    cases: list[Case] = []
    for config in MTP_CONFIGS:
        for kind in ("block", "layer", "other"):
            for te in (False, True):

                def make(
                    config: ConfigCase = config, kind: str = kind, te: bool = te
                ) -> dict[str, object]:
                    made = config.make()
                    return {
                        "config": made,
                        "spec": _mtp_input(kind, made, te),
                        "use_transformer_engine": te,
                    }

                cases.append(
                    Case(
                        "get_gpt_mtp_block_spec",
                        f"{config.label}-spec={kind}-use_transformer_engine={te}",
                        make,
                        te=te,
                        parallel_state=True,
                    )
                )
            for backend in BACKENDS:

                def make_for_backend(
                    config: ConfigCase = config, kind: str = kind, backend: str = backend
                ) -> dict[str, object]:
                    made = config.make()
                    return {
                        "config": made,
                        "spec": _mtp_input(kind, made, backend != "local"),
                        "backend": BACKENDS[backend](),
                    }

                cases.append(
                    Case(
                        "get_gpt_mtp_block_spec_for_backend",
                        f"{config.label}-spec={kind}-backend={backend}",
                        make_for_backend,
                        te=backend != "local",
                        parallel_state=True,
                    )
                )
    return cases


_TE_IMPL: dict[str, object] = dict(transformer_impl="transformer_engine")
_DSA: dict[str, object] = dict(
    _TE_IMPL, experimental_attention_variant="dsa", add_bias_linear=False
)
_GDN: dict[str, object] = dict(_TE_IMPL, experimental_attention_variant="gated_delta_net")

EXPERIMENTAL_CONFIGS = (
    ConfigCase("gdn-L4-freq2", dict(_GDN, num_layers=4, linear_attention_freq=2)),
    ConfigCase(
        "gdn-L4-freq4-RMS-moe-freq2",
        dict(
            _GDN,
            num_layers=4,
            linear_attention_freq=4,
            normalization="RMSNorm",
            num_moe_experts=4,
            moe_layer_freq=2,
        ),
    ),
    ConfigCase("gdn-L3-list", dict(_GDN, num_layers=3, linear_attention_freq=[1, 1, 0])),
    ConfigCase("dsa-L2", _DSA, mla=True),
    ConfigCase("dsa-L2-qkln-RMS", dict(_DSA, qk_layernorm=True, normalization="RMSNorm"), mla=True),
    ConfigCase(
        "dsa-L4-topk2-moe-gg",
        dict(
            _DSA,
            num_layers=4,
            dsa_indexer_topk_freq=2,
            num_moe_experts=4,
            moe_grouped_gemm=True,
        ),
        mla=True,
    ),
    ConfigCase("standard-L2", dict(_TE_IMPL)),
    ConfigCase(
        "local-impl-gdn",
        dict(experimental_attention_variant="gated_delta_net", linear_attention_freq=2),
    ),
)

EXPERIMENTAL_FACTORIES = (
    "get_gated_delta_net_module_spec",
    "get_dsa_module_spec_for_backend",
    "get_experimental_attention_variant_module_spec",
    "get_transformer_layer_with_experimental_attention_variant_spec",
)


def experimental_cases() -> list[Case]:
    cases: list[Case] = []
    for config in EXPERIMENTAL_CONFIGS:
        for factory in EXPERIMENTAL_FACTORIES:
            for backend in (None, *BACKENDS):

                def make(
                    config: ConfigCase = config, backend: str | None = backend
                ) -> dict[str, object]:
                    made: dict[str, object] = {"config": config.make()}
                    if backend is not None:
                        made["backend"] = BACKENDS[backend]()
                    return made

                cases.append(
                    Case(factory, f"{config.label}-backend={backend or 'default'}", make, te=True)
                )

        def make_block(config: ConfigCase = config) -> dict[str, object]:
            return {"config": config.make()}

        cases.append(
            Case(
                "get_transformer_block_with_experimental_attention_variant_spec",
                config.label,
                make_block,
                te=True,
                parallel_state=True,
            )
        )
    return cases


def _te(values: Mapping[str, object]) -> bool:
    return True


CASES: list[Case] = [
    *flag_cases(
        ("get_gpt_layer_local_spec", "get_gpt_layer_local_submodules"),
        dict(
            num_experts=[None, 4],
            moe_grouped_gemm=[False, True],
            qk_layernorm=[False, True],
            multi_latent_attention=[False, True],
            normalization=[None, "LayerNorm", "RMSNorm"],
            qk_l2_norm=[False, True],
        ),
        extras=[dict(fp8="e4m3"), dict(use_kitchen=True)],
    ),
    *flag_cases(
        (
            "get_gpt_layer_with_transformer_engine_spec",
            "get_gpt_layer_with_transformer_engine_submodules",
        ),
        dict(
            num_experts=[None, 4],
            moe_grouped_gemm=[False, True],
            qk_layernorm=[False, True],
            multi_latent_attention=[False, True],
            qk_l2_norm=[False, True],
            use_te_op_fuser=[False, True],
            use_te_activation_func=[False, True],
            mla_down_proj_fusion=[False, True],
            use_grouped_gemm_for_dense_mlp=[False, True],
        ),
        extras=[dict(fp8="e4m3"), dict(use_kitchen=True)],
        te=_te,
    ),
    *flag_cases(
        ("get_gpt_layer_with_inference_spec", "get_gpt_layer_with_inference_submodules"),
        dict(
            qk_layernorm=[False, True],
            multi_latent_attention=[False, True],
            qk_l2_norm=[False, True],
            num_experts=[None, 4],
            moe_grouped_gemm=[False, True],
            moe_use_legacy_grouped_gemm=[False, True],
        ),
        te=_te,
    ),
    # Without TE upstream asserts HAVE_TE ("--transformer-impl inference_optimized requires
    # transformer engine"): ours must refuse too.
    *[
        Case(factory, "without-te", fixed({}), te=False)
        for factory in (
            "get_gpt_layer_with_inference_spec",
            "get_gpt_layer_with_inference_submodules",
        )
    ],
    *flag_cases(
        ("get_mlp_module_spec",),
        dict(
            use_te=[True, False],
            num_experts=[None, 4],
            moe_grouped_gemm=[False, True],
            use_te_op_fuser=[False, True],
        ),
        extras=[dict(fp8="e4m3")],
        te=lambda values: values.get("use_te", True) is True,
    ),
    *backend_cases(
        "get_mlp_module_spec_for_backend",
        list(BACKENDS),
        dict(
            num_experts=[None, 4],
            moe_grouped_gemm=[False, True],
            use_te_op_fuser=[False, True],
            use_te_activation_func=[False, True],
            use_grouped_gemm_for_dense_mlp=[False, True],
        ),
    ),
    *flag_cases(
        ("get_moe_module_spec",),
        dict(use_te=[True, False], num_experts=[None, 4], moe_grouped_gemm=[False, True]),
        te=lambda values: values["use_te"] is True,
    ),
    *backend_cases(
        "get_moe_module_spec_for_backend",
        list(BACKENDS),
        dict(
            num_experts=[None, 4],
            moe_grouped_gemm=[False, True],
            use_te_activation_func=[False, True],
        ),
    ),
    Case("get_inference_optimized_moe_spec", "te", fixed({}), te=True),
    Case("get_inference_optimized_moe_spec", "without-te", fixed({}), te=False),
    *block_cases(),
    *mtp_cases(),
    *experimental_cases(),
]

# --------------------------------------------------------------------------------------------
# Deliberate refusals: upstream returns a spec, the generated factory raises (with the reason)
# --------------------------------------------------------------------------------------------

LOCAL_MLA_REFUSAL = (
    "upstream's local MLA spec puts DotProductAttention in core_attention, which"
    " MultiLatentAttention builds with k_channels=/v_channels= (TypeError at build;"
    " tests/test_mla_specs.py builds it)"
)


LOCAL_GDN_REFUSAL = (
    "LocalSpecProvider has no fused norm + linear: upstream puts its"
    " column_parallel_layer_norm_linear(), None, into GatedDeltaNet's in_proj, which"
    " build_module cannot build; the typed slot needs an InProjBuilder"
)
LOCAL_DSA_REFUSAL = (
    "upstream's LocalSpecProvider has no linear(), which upstream's DSA spec calls for the"
    " indexer's linears and the down projections (AttributeError); ours refuses up front"
)
DSA_FACTORIES = (
    "get_dsa_module_spec_for_backend",
    "get_experimental_attention_variant_module_spec",
    "get_transformer_layer_with_experimental_attention_variant_spec",
)

LOCAL_GDN_FACTORIES = (
    "get_gated_delta_net_module_spec",
    "get_experimental_attention_variant_module_spec",
    "get_transformer_layer_with_experimental_attention_variant_spec",
)


@dataclass(frozen=True)
class Refusal:
    """Ours raises `raises` (its message naming `phrase`) where upstream returns a spec that
    cannot be built (`upstream_raises` None) or itself raises `upstream_raises`."""

    raises: type[Exception]
    phrase: str
    why: str
    upstream_raises: type[Exception] | None = None


def deliberate_refusal(case: Case) -> Refusal | None:
    """The deliberate refusal that applies to `case`, if any."""
    tokens = case.label.split("-")
    if case.factory in ("get_gpt_layer_local_spec", "get_gpt_layer_local_submodules"):
        if "multi_latent_attention" in tokens and "qk_l2_norm" not in tokens:
            return Refusal(NotImplementedError, "DotProductAttention", LOCAL_MLA_REFUSAL)
    if case.factory in ("get_gpt_decoder_layer_specs", "get_gpt_decoder_block_spec"):
        if case.label.startswith("mla-") and "qk_l2_norm" not in tokens:
            if "use_transformer_engine" not in tokens:
                return Refusal(NotImplementedError, "DotProductAttention", LOCAL_MLA_REFUSAL)
    if "backend=local" in tokens and case.factory in LOCAL_GDN_FACTORIES:
        # Upstream's GatedDeltaNet spec from LocalSpecProvider: built by the GDN factory for any
        # config, by the others where the config's variant is gated_delta_net.
        if case.factory == "get_gated_delta_net_module_spec" or case.label.startswith(
            ("gdn-", "local-impl-gdn-")
        ):
            return Refusal(NotImplementedError, "in_proj", LOCAL_GDN_REFUSAL)
    if (
        "backend=local" in tokens
        and case.factory in DSA_FACTORIES
        and case.label.startswith("dsa-")
    ):
        return Refusal(NotImplementedError, "linear()", LOCAL_DSA_REFUSAL, AttributeError)
    return None


MATRIX_SIZES: dict[str, int] = {}
for _case in CASES:
    MATRIX_SIZES[_case.factory] = MATRIX_SIZES.get(_case.factory, 0) + 1

EXPECTED_MATRIX_SIZES = {
    "get_gpt_layer_local_spec": 98,
    "get_gpt_layer_local_submodules": 98,
    "get_gpt_layer_with_transformer_engine_spec": 514,
    "get_gpt_layer_with_transformer_engine_submodules": 514,
    "get_gpt_layer_with_inference_spec": 65,
    "get_gpt_layer_with_inference_submodules": 65,
    "get_mlp_module_spec": 17,
    "get_mlp_module_spec_for_backend": 96,
    "get_moe_module_spec": 8,
    "get_moe_module_spec_for_backend": 24,
    "get_inference_optimized_moe_spec": 2,
    "get_gpt_decoder_layer_specs": 72,
    "get_gpt_decoder_block_spec": 72,
    "get_gpt_mtp_block_spec": 36,
    "get_gpt_mtp_block_spec_for_backend": 54,
    "get_gated_delta_net_module_spec": 32,
    "get_dsa_module_spec_for_backend": 32,
    "get_experimental_attention_variant_module_spec": 32,
    "get_transformer_layer_with_experimental_attention_variant_spec": 32,
    "get_transformer_block_with_experimental_attention_variant_spec": 8,
}


def test_upstreams_local_gated_delta_net_spec_cannot_be_built() -> None:
    """The ground of LOCAL_GDN_REFUSAL: upstream's spec has in_proj None, which build_module
    cannot build (it reads None.module)."""
    from megatron.core.models.backends import LocalSpecProvider
    from megatron.core.transformer.spec_utils import build_module

    config = ConfigCase("gdn", dict(_GDN, num_layers=4, linear_attention_freq=2)).make()
    with environment(True):
        spec = upstream_factory("get_gated_delta_net_module_spec")(
            config=config, backend=LocalSpecProvider()
        )
    assert spec.submodules.in_proj is None
    with pytest.raises(AttributeError, match="'NoneType' object has no attribute 'module'"):
        build_module(spec.submodules.in_proj, 64, 128, config=config)


def test_matrix_sizes() -> None:
    """Every listed upstream factory has a matrix; its size is recorded here (and printed)."""
    print("\nspec-tree parity matrix sizes:")
    for factory, size in MATRIX_SIZES.items():
        print(f"  {factory}: {size}")
    print(f"  total: {sum(MATRIX_SIZES.values())}")
    assert set(MATRIX_SIZES) == set(UPSTREAM)
    assert MATRIX_SIZES == EXPECTED_MATRIX_SIZES
    ids = [case.id for case in CASES]
    assert len(ids) == len(set(ids)), "case ids must be unique"


# --------------------------------------------------------------------------------------------
# The parity check
# --------------------------------------------------------------------------------------------


@dataclass
class Outcome:
    value: object = None
    error: BaseException | None = None


def run(factory: Callable[..., object], case: Case) -> tuple[Outcome, Any]:
    """Call ``factory`` with the case's arguments; its normalized tree (inside the env)."""
    with environment(case.te):
        arguments = case.arguments()
        try:
            value = factory(**arguments)
        except Exception as error:  # noqa: BLE001 - any rejection is compared by type
            return Outcome(error=error), None
        return Outcome(value=value), normalize(value)


def _excerpt(text: str, lines: int = 80) -> str:
    parts = text.splitlines()
    return "\n".join(
        parts[:lines] + ([f"... ({len(parts) - lines} more lines)"] if len(parts) > lines else [])
    )


# Upstream factories not generated yet, and why (none today). The test insists they are
# missing, so a factory that lands must leave this list to be compared.
NOT_GENERATED: dict[str, str] = {}

# Upstream crashes that the generated factories deliberately do not reproduce: (factory, the
# exception upstream raises, what in its message identifies the defect, why).
UPSTREAM_DEFECTS = [
    (
        factory,
        AttributeError,
        "moe_use_legacy_grouped_gemm",
        "upstream reads config.moe_use_legacy_grouped_gemm, which TransformerConfig 0.19.2 lacks,"
        " whenever transformer_impl is 'inference_optimized'",
    )
    for factory in ("get_gpt_decoder_layer_specs", "get_gpt_decoder_block_spec")
] + [
    (
        "get_dsa_module_spec_for_backend",
        AttributeError,
        "'NoneType' object has no attribute 'linear'",
        "upstream's get_dsa_module_spec_for_backend defaults backend to None but calls"
        " backend.linear() without resolving it (its siblings pick the provider from the config);"
        " ours takes None as Transformer Engine, as the siblings do",
    )
]


def _upstream_defect(case: Case, error: BaseException | None) -> str | None:
    """Why upstream's `error` for `case` is a known upstream defect, or None."""
    for factory, kind, marker, why in UPSTREAM_DEFECTS:
        if case.factory == factory and isinstance(error, kind) and marker in str(error):
            return why
    return None


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_spec_tree_parity(case: Case, request: pytest.FixtureRequest) -> None:
    if case.parallel_state:
        request.getfixturevalue("megatron_parallel_state")
    if case.factory in NOT_GENERATED:
        with pytest.raises(AttributeError):
            resolve_ours(case.factory)
        pytest.xfail(f"{case.factory} is not generated: {NOT_GENERATED[case.factory]}")
    ours = resolve_ours(case.factory)
    upstream_outcome, upstream_tree = run(upstream_factory(case.factory), case)
    ours_outcome, ours_tree = run(ours, case)
    refusal = deliberate_refusal(case)
    if refusal is not None:
        if refusal.upstream_raises is None:
            assert upstream_outcome.error is None, (
                f"upstream now rejects this combination ({upstream_outcome.error!r}):"
                f" the deliberate refusal ({refusal.why}) must be revisited"
            )
        else:
            assert isinstance(upstream_outcome.error, refusal.upstream_raises), (
                f"upstream no longer raises {refusal.upstream_raises.__name__} here"
                f" ({upstream_outcome.error!r}): the deliberate refusal ({refusal.why}) must be"
                " revisited"
            )
        if not isinstance(ours_outcome.error, refusal.raises) or refusal.phrase not in str(
            ours_outcome.error
        ):
            pytest.fail(
                f"the generated factory must refuse this combination ({refusal.why}) with"
                f" {refusal.raises.__name__} mentioning {refusal.phrase!r}; it gave"
                f" {ours_outcome.error!r}",
                pytrace=False,
            )
        return  # refused on purpose, for the stated reason, as checked above
    if isinstance(ours_outcome.error, NotImplementedError):
        # The generated factory names what it does not cover yet (e.g. local MLA).
        pytest.xfail(f"not generated yet: {ours_outcome.error}")
    defect = _upstream_defect(case, upstream_outcome.error)
    if defect is not None:
        # Ours deliberately does not reproduce an upstream crash; it must build a spec instead.
        assert ours_outcome.error is None, f"{defect}; yet ours raised {ours_outcome.error!r}"
        return
    if upstream_outcome.error is not None:
        expected = type(upstream_outcome.error)
        if ours_outcome.error is None:
            pytest.fail(
                f"upstream rejects this combination ({expected.__name__}:"
                f" {upstream_outcome.error}); the generated factory accepted it",
                pytrace=False,
            )
        if not isinstance(ours_outcome.error, expected):
            pytest.fail(
                f"upstream raises {expected.__name__} ({upstream_outcome.error}); the generated"
                f" factory raised {type(ours_outcome.error).__name__}: {ours_outcome.error}\n"
                + "".join(traceback.format_exception(ours_outcome.error)[-4:]),
                pytrace=False,
            )
        return
    if ours_outcome.error is not None:
        raise ours_outcome.error
    differences = diff(upstream_tree, ours_tree)
    if differences:
        pytest.fail(
            "spec trees differ (first = upstream, second = generated):\n  "
            + "\n  ".join(differences)
            + "\n--- upstream\n"
            + _excerpt(render(upstream_tree))
            + "\n--- generated\n"
            + _excerpt(render(ours_tree)),
            pytrace=False,
        )
