"""Typed backend providers (generated/megatron_core/backends.py) against upstream's providers.

Each generated provider must give, for every method, argument combination and role field,
exactly what upstream's provider of the same backend gives (normalized with
:mod:`generator.spec_tree`); pyright must accept each as a ``TypedSpecProvider`` and reject a
role field put into a slot of another Builder, naming the Builder.
"""

from __future__ import annotations

import dataclasses
import itertools
import warnings
from pathlib import Path
from collections.abc import Callable
from typing import Any, cast

import pytest

from generator.spec_tree import diff, normalize
from tests.pyright_runner import run_pyright
from tests.simulated_te import environment

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from megatron.core.extensions.transformer_engine_spec_provider import TESpecProvider
    from megatron.core.models.backends import (
        BackendSpecProvider,
        InferenceSpecProvider,
        LocalSpecProvider,
    )

    from generated.megatron_core import backends

UPSTREAM: dict[str, type[BackendSpecProvider]] = {
    "local": LocalSpecProvider,
    "te": TESpecProvider,
    "inference": InferenceSpecProvider,
}
OURS: dict[str, type[backends.TypedSpecProvider]] = {
    "local": backends.TypedLocalSpecProvider,
    "te": backends.TypedTESpecProvider,
    "inference": backends.TypedInferenceSpecProvider,
}
ROLE_METHODS: dict[str, list[dict[str, bool]]] = {
    "column_parallel_linear": [{}],
    "row_parallel_linear": [{}],
    "column_parallel_layer_norm_linear": [{}],
    "linear": [{}],
    "core_attention": [{}],
    "layer_norm": [
        dict(zip(("rms_norm", "for_qk", "has_residual"), values))
        for values in itertools.product((False, True), repeat=3)
    ],
}
BUILDER_METHODS: dict[str, list[dict[str, bool]]] = {
    "grouped_mlp_modules": [{"moe_use_grouped_gemm": False}, {"moe_use_grouped_gemm": True}],
    "activation_func": [{}],
    "fuse_layernorm_and_linear": [{}],
}


def _equal(upstream: object, ours: object) -> None:
    differences = diff(normalize(upstream), normalize(ours))
    assert not differences, "\n".join(differences)


@pytest.mark.parametrize(
    ("method", "arguments"),
    [(method, arguments) for method, cases in ROLE_METHODS.items() for arguments in cases],
    ids=lambda value: str(value),
)
@pytest.mark.parametrize("kind", list(UPSTREAM))
def test_every_role_field_is_what_upstreams_provider_gives(
    kind: str, method: str, arguments: dict[str, bool]
) -> None:
    with environment(kind != "local"):
        ours = getattr(OURS[kind](), method)(**arguments)
        if kind == "local" and method == "linear":
            # Upstream's LocalSpecProvider has no linear(); ours says "none" like
            # column_parallel_layer_norm_linear() does.
            assert not hasattr(LocalSpecProvider(), "linear")
            assert ours is None
            return
        upstream = getattr(UPSTREAM[kind](), method)(**arguments)
        if upstream is None:
            assert ours is None
            return
        assert dataclasses.is_dataclass(ours)
        for field in dataclasses.fields(ours):
            _equal(upstream, getattr(ours, field.name))


@pytest.mark.parametrize(
    ("method", "arguments"),
    [(method, arguments) for method, cases in BUILDER_METHODS.items() for arguments in cases],
    ids=lambda value: str(value),
)
@pytest.mark.parametrize("kind", list(UPSTREAM))
def test_every_builder_method_gives_what_upstreams_provider_gives(
    kind: str, method: str, arguments: dict[str, bool]
) -> None:
    with environment(kind != "local"), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        upstream = getattr(UPSTREAM[kind](), method)(**arguments)
        ours = getattr(OURS[kind](), method)(**arguments)
        if isinstance(upstream, bool):
            assert ours is upstream
        else:
            _equal(upstream, ours)


def test_te_qk_layer_norm_before_te_1_9_is_apex_fused_layer_norm_as_upstream(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    from megatron.core.extensions import transformer_engine_spec_provider as te_provider

    from generated.megatron_core import spec_values

    with environment(True):
        monkeypatch.setattr(te_provider, "is_te_min_version", lambda version: False)
        monkeypatch.setattr(spec_values.utils, "is_te_min_version", lambda version: False)
        upstream = TESpecProvider().layer_norm(for_qk=True)
        ours = backends.TypedTESpecProvider().layer_norm(for_qk=True)
        for field in dataclasses.fields(ours):
            _equal(upstream, getattr(ours, field.name))
            assert "FusedLayerNorm" in repr(normalize(getattr(ours, field.name)))


@pytest.mark.parametrize("kind", list(UPSTREAM))
def test_typed_provider_maps_each_upstream_provider_to_its_typed_counterpart(kind: str) -> None:
    with environment(kind != "local"):
        assert type(backends.typed_provider(UPSTREAM[kind]())) is OURS[kind]


def test_typed_provider_refuses_a_subclass_of_an_upstream_provider() -> None:
    class Custom(LocalSpecProvider):
        pass

    with pytest.raises(NotImplementedError, match="Custom"):
        backends.typed_provider(Custom())


def test_typed_provider_returns_a_users_own_typed_provider_as_is() -> None:
    mine = backends.TypedLocalSpecProvider()
    assert backends.typed_provider(mine) is mine


GOOD = """
from generated.megatron_core.backends import (
    TypedInferenceSpecProvider,
    TypedLocalSpecProvider,
    TypedSpecProvider,
    TypedTESpecProvider,
)
from generated.megatron_core.mlp import LinearFc1Builder

local: TypedSpecProvider = TypedLocalSpecProvider()
te: TypedSpecProvider = TypedTESpecProvider()
inference: TypedSpecProvider = TypedInferenceSpecProvider()
fc1: LinearFc1Builder = te.column_parallel_linear().linear_fc1
"""

WRONG = """
from generated.megatron_core.backends import TypedTESpecProvider
from generated.megatron_core.mlp import LinearFc1Builder, mlp_submodules

backend = TypedTESpecProvider()
annotated: LinearFc1Builder = backend.row_parallel_linear().linear_proj
in_slot = mlp_submodules(
    linear_fc1=backend.row_parallel_linear().linear_proj,
    linear_fc2=backend.row_parallel_linear().linear_fc2,
)
"""


def test_pyright_accepts_each_provider_as_the_protocol_and_rejects_a_role_field_of_another_builder(
    tmp_path: Path,
) -> None:
    (tmp_path / "good.py").write_text(GOOD)
    (tmp_path / "wrong.py").write_text(WRONG)
    errors, _ = run_pyright(tmp_path)
    assert not [e for e in errors if e.file.endswith("good.py")], errors
    wrong = [e for e in errors if e.file.endswith("wrong.py")]
    lines = {e.line for e in wrong}
    assert lines == {6, 8}, wrong
    assert all('"LinearFc1Builder"' in e.message for e in wrong), wrong
    assert all("LinearProjBuilder" in e.message for e in wrong), wrong


def test_factories_take_a_typed_provider_of_ones_own_as_they_take_upstreams() -> None:
    """A TypedSpecProvider passed where a factory takes `backend` gives the spec upstream builds
    from the corresponding upstream provider."""
    from megatron.core.models.gpt import (
        experimental_attention_variant_module_specs as upstream_experimental,
    )
    from megatron.core.models.gpt import gpt_layer_specs as upstream_gpt
    from megatron.core.transformer.transformer_config import TransformerConfig

    from generated.megatron_core import experimental_attention_variant_module_specs as ours
    from generated.megatron_core import gpt_specs

    class Mine:  # structurally a TypedSpecProvider, unrelated to upstream's classes
        def __getattr__(self, name: str) -> object:
            return getattr(backends.TypedInferenceSpecProvider(), name)

    config = TransformerConfig(
        num_layers=4,
        hidden_size=64,
        num_attention_heads=4,
        transformer_impl="transformer_engine",
        experimental_attention_variant="gated_delta_net",
        linear_attention_freq=2,
        num_moe_experts=4,
        moe_layer_freq=2,
    )
    with environment(True), warnings.catch_warnings():
        warnings.simplefilter("ignore")
        mine = cast(backends.TypedSpecProvider, Mine())  # __getattr__: structural at run time
        _equal(
            upstream_gpt.get_mlp_module_spec_for_backend(InferenceSpecProvider(), num_experts=4),
            gpt_specs.get_mlp_module_spec_for_backend(mine, num_experts=4),
        )
        _equal(
            upstream_experimental.get_transformer_layer_with_experimental_attention_variant_spec(
                config, backend=InferenceSpecProvider()
            ),
            ours.get_transformer_layer_with_experimental_attention_variant_spec(
                config, backend=mine
            ),
        )


# ---- validation of roles and providers (the description format) ----------------------------


def _validation_errors(tmp_path: Path, change: Callable[[dict[str, Any]], None]) -> list[str]:
    import json
    import shutil

    from generator.errors import DescriptionErrors
    from generator.pipeline import generate_files

    root = Path(__file__).resolve().parent.parent
    schemas = tmp_path / "schemas"
    shutil.copytree(root / "schemas", schemas)
    path = schemas / "megatron_core" / "backends.json"
    data = json.loads(path.read_text())
    change(data)
    path.write_text(json.dumps(data, indent=2))
    with pytest.raises(DescriptionErrors) as raised:
        generate_files(schemas, tmp_path)
    return [f"{e.pointer}: {e.message}" for e in raised.value.errors]


def _role(data: dict[str, Any], name: str) -> dict[str, Any]:
    return next(r for r in data["roles"] if r["name"] == name)


def _methods(data: dict[str, Any], provider: str) -> dict[str, Any]:
    return next(c for c in data["provider"]["classes"] if c["name"] == provider)["methods"]


def test_a_role_field_must_name_slots_its_builder_fills(tmp_path: Path) -> None:
    def wrong_slots(data: dict[str, Any]) -> None:
        fields = _role(data, "RowParallelLinears")["fields"]
        fields[0]["slots"] = ["MLPSubmodules.linear_fc1", "MLPSubmodules.no_such_slot"]

    errors = _validation_errors(tmp_path, wrong_slots)
    assert any(
        "slot 'MLPSubmodules.linear_fc1' is not built with LinearFc2Builder" in e for e in errors
    )
    assert any(
        "'MLPSubmodules.no_such_slot' is not a slot of a described parent" in e for e in errors
    )


def test_a_provider_method_body_must_fill_each_role_field_with_an_adapter_of_its_builder(
    tmp_path: Path,
) -> None:
    def wrong_body(data: dict[str, Any]) -> None:
        fields = _methods(data, "TypedTESpecProvider")["row_parallel_linear"]["body"]["fields"]
        fields["linear_fc2"] = {"adapter": "LinearFc1FromTEColumnParallelLinear"}
        del fields["out_proj"]

    errors = _validation_errors(tmp_path, wrong_body)
    assert any(
        "'LinearFc1FromTEColumnParallelLinear' is not an adapter of LinearFc2Builder" in e
        for e in errors
    ), errors
    assert any("RowParallelLinears needs field 'out_proj'" in e for e in errors), errors


def test_each_provider_implements_exactly_the_protocols_methods(tmp_path: Path) -> None:
    def missing_method(data: dict[str, Any]) -> None:
        methods = _methods(data, "TypedLocalSpecProvider")
        methods["extra"] = methods.pop("core_attention")

    errors = _validation_errors(tmp_path, missing_method)
    assert any("TypedLocalSpecProvider lacks 'core_attention'" in e for e in errors), errors
    assert any("'extra' is not a method of TypedSpecProvider" in e for e in errors), errors


def test_a_provided_value_must_name_a_field_of_the_slots_builder(tmp_path: Path) -> None:
    def wrong_field(data: dict[str, Any]) -> None:
        body = _methods(data, "TypedTESpecProvider")["grouped_mlp_modules"]["body"]
        sequential = body["else"]["then"]["submodules"]["slots"]
        sequential["linear_fc1"] = {
            "provided": "row_parallel_linear",
            "by": "self",
            "field": "linear_fc2",
        }
        sequential["linear_fc2"] = {"provided": "row_parallel_linear", "by": "self", "field": "x"}

    errors = _validation_errors(tmp_path, wrong_field)
    assert any(
        "row_parallel_linear().linear_fc2 is not a LinearFc1Builder (slot 'linear_fc1')" in e
        for e in errors
    ), errors
    assert any("row_parallel_linear() gives no field 'x'" in e for e in errors), errors
