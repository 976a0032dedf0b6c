"""Lifted slots: submodules a parent's `__init__` hard-codes, turned into typed slots.

HybridStack builds its final norm as `TENorm(...)` itself, so no hybrid stack with a final norm
can be built without Transformer Engine. schemas/megatron_core/hybrid_stack.json lifts it:
the generator emits HybridStackWithLiftedSlotsSubmodules (upstream's dataclass plus
`final_norm: LayerNormBuilder`) and HybridStackWithLiftedSlots (upstream's class, built with
post_layer_norm=False, which then restores post_layer_norm and builds `final_norm` from the
Submodules under upstream's condition and attribute name).
"""

import ast
import inspect
import json
from pathlib import Path
from typing import Any

import pytest
import torch
from megatron.core.models.hybrid.hybrid_block import HybridStack, HybridStackSubmodules
from megatron.core.process_groups_config import ProcessGroupCollection
from megatron.core.transformer.transformer_layer import TransformerLayerSubmodules

from generated.megatron_core import (
    HybridAttentionLayerFromTransformerLayer,
    HybridLayerFromMLPLayer,
    HybridStackWithLiftedSlots,
    HybridStackWithLiftedSlotsSubmodules,
    LayerNormFromTENorm,
    LayerNormFromWrappedTorchNorm,
    get_gpt_layer_local_submodules,
    hybrid_stack_submodules,
    hybrid_stack_with_lifted_slots_submodules,
)
from generator.upstream import source as src
from generator.upstream.constructions import dotted_name, init_of
from generator.upstream.constructions import direct_constructions as upstream_constructions
from tests.megatron_cpu import cpu_shims, make_config
from tests.pyright_runner import run_pyright

DESCRIPTIONS = Path(__file__).resolve().parent.parent / "schemas" / "megatron_core"

# --- every direct construction in a described parent's __init__ is lifted or explained ------

# (parent class, constructed class) -> why it stays hard-coded.
DELIBERATELY_HARD_CODED: dict[tuple[str, str], str] = {
    ("HybridStack", "nn.ModuleList"): (
        "a container: it holds the layers HybridStack builds from its layer slots; no behaviour "
        "to choose."
    ),
    ("MultiTokenPredictionLayer", "HybridStack"): (
        "the hybrid MTP path builds its inner stack from the hybrid_submodules it is given (the "
        "decoder's HybridStackSubmodules, slots described in hybrid_stack.json), with "
        "post_layer_norm=False, so the stack's hard-coded TENorm is never reached; lifting "
        "the class itself would need a slot upstream's MultiTokenPredictionLayerSubmodules lacks."
    ),
    ("AbsorbedMLASelfAttention", "RotaryEmbedding"): (
        "position encoding chosen by config.rope_type; it has no weights (only an inv_freq "
        "buffer, not persistent), so nothing a spec would swap."
    ),
    ("AbsorbedMLASelfAttention", "YarnRotaryEmbedding"): (
        "position encoding chosen by config.rope_type == 'yarn'; no weights, as RotaryEmbedding."
    ),
    ("DSAIndexer", "RotaryEmbedding"): (
        "the indexer's own rotary embedding for its keys, chosen by config.rope_type; no weights."
    ),
    ("DSAIndexer", "YarnRotaryEmbedding"): ("as RotaryEmbedding, for config.rope_type == 'yarn'."),
    ("MambaMixer", "nn.SiLU"): (
        "the mixer's activation inside the SSD computation: weight-free and fixed by the Mamba-2"
        " architecture."
    ),
    ("MambaMixer", "ExtendedRMSNorm"): (
        "the gated RMSNorm of the SSD output (normalises y gated by z, per group of d_inner), on"
        " mamba-ssm's Triton kernels: part of the mixer's algorithm rather than a swappable layer"
        " norm, and every MambaMixer needs mamba-ssm anyway."
    ),
}


def _described_parents() -> list[tuple[str, dict[str, Any]]]:
    parents: list[tuple[str, dict[str, Any]]] = []
    for path in sorted(DESCRIPTIONS.glob("*.json")):
        data = json.loads(path.read_text())
        if "parent" in data:
            parents.append((data["imports"][data["parent"]["class"]], data["parent"]))
    return parents


def direct_constructions(dotted_class: str) -> list[tuple[int, str]]:
    """(line, callee) of every module the class's own `__init__` constructs itself
    (generator/upstream/constructions.py, also behind `python -m generator infer`)."""
    return [(c.line, c.callee) for c in upstream_constructions(dotted_class)]


def _lifted_constructions(parent: dict[str, Any]) -> dict[str, str]:
    """attribute -> hard-coded class, for each lifted slot (class: its default adapter's)."""
    lifted = parent.get("lifted", {"slots": []})
    return {slot["name"]: slot["default"] for slot in lifted["slots"]}


@pytest.mark.parametrize("dotted", [d for d, _ in _described_parents()])
def test_every_direct_module_construction_in_a_parents_init_is_lifted_or_explained(
    dotted: str,
) -> None:
    parent = dict(_described_parents())[dotted]
    cls = src.resolve_dotted(dotted)
    assert cls is not None
    lifted = _lifted_constructions(parent)
    unexplained: list[str] = []
    lifted_seen: set[str] = set()
    for construction in upstream_constructions(dotted):
        line, name, attribute = construction.line, construction.callee, construction.attribute
        if attribute in lifted:
            # the default adapter is the hard-coded class's: LayerNormFromTENorm <- TENorm
            assert lifted[attribute].endswith("From" + name.split(".")[-1]), (attribute, name)
            lifted_seen.add(attribute)
        elif (cls.name, name) not in DELIBERATELY_HARD_CODED:
            unexplained.append(f"{src.relative(cls.path)}:{line} {name} (self.{attribute})")
    assert (
        not unexplained
    ), "describe these as lifted slots or list them in DELIBERATELY_HARD_CODED:\n  " + "\n  ".join(
        unexplained
    )
    assert lifted_seen == set(lifted), f"lifted but not constructed upstream: {lifted}"


def test_the_hard_coded_list_names_only_constructions_that_exist() -> None:
    found = {
        (dotted.rsplit(".", 1)[1], name)
        for dotted, _ in _described_parents()
        for _, name in direct_constructions(dotted)
    }
    assert set(DELIBERATELY_HARD_CODED) <= found, set(DELIBERATELY_HARD_CODED) - found


def test_the_lifted_final_norm_is_the_last_module_hybrid_stack_registers() -> None:
    """Built after super().__init__, so the state_dict key order is upstream's only if upstream
    registers nothing after it."""
    cls = src.resolve_dotted("megatron.core.models.hybrid.hybrid_block.HybridStack")
    assert cls is not None
    init = init_of(cls)
    assert init is not None
    [(line, _)] = [c for c in direct_constructions(cls.qualname) if c[1] == "TENorm"]
    later_self_assignments = [
        node
        for node in ast.walk(init)
        if isinstance(node, ast.Assign)
        and node.lineno > line
        and any(
            isinstance(t, ast.Attribute) and dotted_name(t.value) == "self" for t in node.targets
        )
    ]
    assert not later_self_assignments


# --- the generated subclass mirrors upstream's __init__ ------------------------------------


def _explicit(annotation: Any, default: Any) -> Any:
    """Upstream's annotation with an implicit Optional (`x: T = None`) made explicit."""
    if default is None and annotation is not inspect.Parameter.empty:
        return annotation | None if not isinstance(annotation, str) else annotation
    return annotation


def test_the_lifted_class_mirrors_upstreams_init_signature() -> None:
    upstream = inspect.signature(HybridStack.__init__).parameters
    lifted = inspect.signature(HybridStackWithLiftedSlots.__init__).parameters
    assert list(lifted) == list(upstream)
    for name, theirs in upstream.items():
        ours = lifted[name]
        assert (ours.kind, ours.default) == (theirs.kind, theirs.default), name
        if name == "self":
            continue
        if name == "submodules":
            assert issubclass(ours.annotation, theirs.annotation)
        elif theirs.annotation is inspect.Parameter.empty:
            assert ours.annotation is Any, name  # unannotated upstream: Any
        else:
            assert ours.annotation == _explicit(theirs.annotation, theirs.default), name


def test_the_lifted_submodules_subclass_upstreams_and_default_to_the_hard_coded_class() -> None:
    built = hybrid_stack_with_lifted_slots_submodules()
    assert isinstance(built, HybridStackSubmodules)  # MultiTokenPredictionLayer's check
    assert isinstance(built.final_norm, LayerNormFromTENorm)
    assert HybridStackWithLiftedSlotsSubmodules().final_norm == LayerNormFromTENorm()
    assert type(hybrid_stack_submodules()) is HybridStackSubmodules


# --- on the CPU: a TE-free hybrid stack with a final norm ---------------------------------

PATTERN = list("*-*-")


def _local_submodules(final_norm: Any) -> HybridStackWithLiftedSlotsSubmodules:
    local = get_gpt_layer_local_submodules()
    mlp_only = TransformerLayerSubmodules(
        pre_mlp_layernorm=local.pre_mlp_layernorm, mlp=local.mlp, mlp_bda=local.mlp_bda
    )
    return hybrid_stack_with_lifted_slots_submodules(
        attention_layer=HybridAttentionLayerFromTransformerLayer(submodules=local),
        mlp_layer=HybridLayerFromMLPLayer(submodules=mlp_only),
        final_norm=final_norm,
    )


def _build(cls: type[HybridStack], submodules: HybridStackSubmodules, **kwargs: Any) -> Any:
    config = make_config(num_layers=len(PATTERN))
    return cls(
        config,
        submodules,
        layer_type_list=PATTERN,
        pg_collection=ProcessGroupCollection.use_mpu_process_groups(),
        **kwargs,
    )


@pytest.mark.usefixtures("megatron_parallel_state")
def test_a_te_free_hybrid_stack_with_a_lifted_final_norm_builds_and_runs_on_the_cpu() -> None:
    submodules = _local_submodules(LayerNormFromWrappedTorchNorm())
    with cpu_shims():
        torch.manual_seed(0)
        stack = _build(HybridStackWithLiftedSlots, submodules, post_layer_norm=True)
        assert stack.post_layer_norm is True
        assert isinstance(stack.final_norm, torch.nn.LayerNorm)
        hidden = torch.randn(8, 2, stack.config.hidden_size)
        mask = torch.triu(torch.ones(8, 8, dtype=torch.bool), diagonal=1)[None, None]
        out = stack(hidden, mask)
    assert out.shape == hidden.shape
    assert torch.isfinite(out).all()
    # the final norm ran last: a LayerNorm without affine change leaves mean 0 per position
    assert torch.allclose(out.mean(-1), torch.zeros(8, 2), atol=1e-5)


@pytest.mark.usefixtures("megatron_parallel_state")
def test_upstreams_hybrid_stack_with_the_same_spec_fails_without_transformer_engine() -> None:
    """Measured: TENorm.__new__ raises ImportError when Transformer Engine is missing."""
    submodules = _local_submodules(LayerNormFromWrappedTorchNorm())
    with cpu_shims(), pytest.raises(ImportError, match="Transformer Engine is not installed"):
        _build(HybridStack, submodules, post_layer_norm=True)


@pytest.mark.usefixtures("megatron_parallel_state")
def test_the_lifted_stack_has_upstreams_state_dict_keys_in_upstreams_order() -> None:
    """Upstream's stack with its TE final norm cannot be built here (no Transformer Engine, and
    tests/simulated_te.py simulates TE for building specs only, not modules). So the keys are
    compared with upstream built with post_layer_norm=False plus the keys TE's LayerNorm
    registers last under `final_norm` (`weight`, `bias`; torch's LayerNorm has the same two)."""
    submodules = _local_submodules(LayerNormFromWrappedTorchNorm())
    with cpu_shims():
        lifted = _build(HybridStackWithLiftedSlots, submodules, post_layer_norm=True)
        upstream = _build(HybridStack, submodules, post_layer_norm=False)
    expected = [*upstream.state_dict(), "final_norm.weight", "final_norm.bias"]
    assert list(lifted.state_dict()) == expected
    # inside an MTP layer (post_layer_norm=False) both build no final norm at all
    with cpu_shims():
        no_norm = _build(HybridStackWithLiftedSlots, submodules, post_layer_norm=False)
    assert not hasattr(no_norm, "final_norm") and no_norm.post_layer_norm is False
    assert list(no_norm.state_dict()) == list(upstream.state_dict())


# --- pyright: a wrong builder in the lifted slot ------------------------------------------

WRONG_LIFTED = """
from generated.megatron_core import (
    LinearProjFromRowParallelLinear,
    hybrid_stack_with_lifted_slots_submodules,
)

wrong = hybrid_stack_with_lifted_slots_submodules(final_norm=LinearProjFromRowParallelLinear())
"""


def test_pyright_names_layer_norm_builder_for_a_wrong_builder_in_the_lifted_slot(
    tmp_path: Path,
) -> None:
    (tmp_path / "wrong_lifted.py").write_text(WRONG_LIFTED)
    errors, _ = run_pyright(tmp_path)
    assert len(errors) == 1, errors
    assert '"final_norm" of type "LayerNormBuilder"' in errors[0].message, errors
