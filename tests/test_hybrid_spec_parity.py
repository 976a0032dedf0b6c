"""Spec-tree parity of the generated hybrid (Mamba) stack specs with upstream's.

``generated.megatron_core.hybrid_layer_specs`` mirrors
``megatron.core.models.hybrid.hybrid_layer_specs`` (which ``models.mamba.mamba_layer_specs``
re-exports): its module-level values and factories are normalized with
:mod:`generator.spec_tree` and compared with upstream's, once as the process is (no Transformer
Engine: TE classes are megatron's placeholders) and once inside :func:`tests.simulated_te.environment`
(TE 2.14 simulated). Upstream's values are evaluated at import, so inside the environment both
modules are reloaded (and reloaded again afterwards, to leave the process as it was).

The trees are compared in full, every slot included (the DSA layer, 'D' / ``dsa_layer``, too:
absorbed MLA with DSAttention in the TE stack, MLASelfAttention with DSAttention in the inference
stack, as upstream).

The TE-free local spec (``get_hybrid_stack_local_spec``, not in upstream) names no TE or inference
class, puts each TE class of upstream's TE spec's tree swapped for its local counterpart where
both trees have a node, and equals an upstream-style literal spec written here.
"""

from __future__ import annotations

import importlib
import warnings
from collections.abc import Callable, Iterator
from functools import partial
from types import ModuleType

import pytest

from generator.spec_tree import SpecList, SpecNode, Tree, diff, normalize, render
from tests.simulated_te import environment

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from megatron.core.fusions.fused_bias_dropout import get_bias_dropout_add
    from megatron.core.models.gpt.moe_module_specs import get_moe_module_spec
    from megatron.core.models.hybrid import hybrid_layer_specs as upstream
    from megatron.core.models.hybrid.hybrid_block import HybridStack
    from megatron.core.ssm.mamba_layer import MambaLayer, MambaLayerSubmodules
    from megatron.core.ssm.mamba_mixer import MambaMixer, MambaMixerSubmodules
    from megatron.core.ssm.mlp_layer import MLPLayer
    from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear
    from megatron.core.transformer.attention import SelfAttention, SelfAttentionSubmodules
    from megatron.core.transformer.dot_product_attention import DotProductAttention
    from megatron.core.transformer.enums import AttnMaskType
    from megatron.core.transformer.identity_op import IdentityOp
    from megatron.core.transformer.mlp import MLP, MLPSubmodules
    from megatron.core.transformer.multi_token_prediction import (
        MultiTokenPredictionBlock,
        MultiTokenPredictionBlockSubmodules,
        MultiTokenPredictionLayer,
        MultiTokenPredictionLayerSubmodules,
    )
    from megatron.core.transformer.spec_utils import ModuleSpec
    from megatron.core.transformer.torch_norm import WrappedTorchNorm
    from megatron.core.transformer.transformer_layer import (
        MoETransformerLayer,
        TransformerLayer,
        TransformerLayerSubmodules,
    )

    from generated.megatron_core import hybrid_layer_specs as ours
    from generated.megatron_core.hybrid_stack import (
        HybridStackWithLiftedSlots,
        HybridStackWithLiftedSlotsSubmodules,
    )

# (label, upstream's value, ours), each read from the module objects (they are reloaded).
Pick = Callable[[ModuleType], object]
CASES: list[tuple[str, Pick, Pick]] = [
    ("hybrid_stack_spec", lambda u: u.hybrid_stack_spec, lambda o: o.hybrid_stack_spec),
    (
        "hybrid_inference_stack_spec",
        lambda u: u.hybrid_inference_stack_spec,
        lambda o: o.hybrid_inference_stack_spec,
    ),
    ("mamba_stack_spec", lambda u: u.mamba_stack_spec, lambda o: o.mamba_stack_spec),
    (
        "mamba_inference_stack_spec",
        lambda u: u.mamba_inference_stack_spec,
        lambda o: o.mamba_inference_stack_spec,
    ),
    ("get_hybrid_stack_spec", lambda u: u.hybrid_stack_spec, lambda o: o.get_hybrid_stack_spec()),
    (
        "get_hybrid_inference_stack_spec",
        lambda u: u.hybrid_inference_stack_spec,
        lambda o: o.get_hybrid_inference_stack_spec(),
    ),
    (
        "get_hybrid_mtp_block_spec",
        lambda u: u._hybrid_mtp_block_spec,  # pyright: ignore[reportPrivateUsage]
        lambda o: o.get_hybrid_mtp_block_spec(),
    ),
    (
        "get_hybrid_inference_mtp_block_spec",
        lambda u: u.hybrid_inference_stack_spec.submodules.mtp_block_spec,
        lambda o: o.get_hybrid_inference_mtp_block_spec(),
    ),
]


def _trees(te: bool, pick_upstream: Pick, pick_ours: Pick) -> tuple[Tree, Tree]:
    """Both values normalized, with the modules evaluated inside the environment."""
    try:
        with environment(te):
            if te:
                importlib.reload(upstream)
                importlib.reload(ours)
            return normalize(pick_upstream(upstream)), normalize(pick_ours(ours))
    finally:
        if te:
            with environment(False):
                importlib.reload(upstream)
                importlib.reload(ours)


def _slot(tree: Tree, name: str) -> Tree:
    assert isinstance(tree, SpecNode)
    return dict(tree.slots)[name]


def _assert_equal(first: Tree, second: Tree) -> None:
    differences = diff(first, second)
    assert not differences, (
        "spec trees differ (first = upstream, second = generated):\n  "
        + "\n  ".join(differences)
        + f"\n--- upstream\n{render(first)}\n--- generated\n{render(second)}"
    )


@pytest.mark.parametrize("te", [False, True], ids=["without-te", "simulated-te"])
@pytest.mark.parametrize("case", CASES, ids=[case[0] for case in CASES])
def test_hybrid_specs_equal_upstreams(case: tuple[str, Pick, Pick], te: bool) -> None:
    label, pick_upstream, pick_ours = case
    upstream_tree, ours_tree = _trees(te, pick_upstream, pick_ours)
    if "mtp" in label:
        _assert_equal(upstream_tree, ours_tree)
        return
    assert isinstance(upstream_tree, SpecNode) and upstream_tree.implementation is HybridStack
    # The DSA layer is a real layer in both (no longer left at the default IdentityOp).
    assert isinstance(_slot(upstream_tree, "dsa_layer"), SpecNode)
    assert _slot(upstream_tree, "dsa_layer") != normalize(IdentityOp)
    assert _slot(ours_tree, "dsa_layer") != normalize(IdentityOp)
    _assert_equal(upstream_tree, ours_tree)


def test_mamba_values_alias_the_hybrid_ones() -> None:
    """Upstream's mamba_* are the hybrid_* objects; ours are equal values (one factory each)."""
    assert upstream.mamba_stack_spec is upstream.hybrid_stack_spec
    assert normalize(ours.mamba_stack_spec) == normalize(ours.hybrid_stack_spec)
    assert normalize(ours.mamba_inference_stack_spec) == normalize(ours.hybrid_inference_stack_spec)
    assert normalize(ours.get_mamba_stack_local_spec()) == normalize(
        ours.get_hybrid_stack_local_spec()
    )


# ---- the TE-free local spec ----------------------------------------------------------------


def _nodes(tree: Tree, path: str = "") -> Iterator[tuple[str, SpecNode]]:
    if isinstance(tree, SpecList):
        for index, item in enumerate(tree.items):
            yield from _nodes(item, f"{path}[{index}]")
    elif isinstance(tree, SpecNode):
        yield path, tree
        for name, value in tree.slots:
            yield from _nodes(value, f"{path}.{name}" if path else name)


LOCAL_COUNTERPARTS = {
    "TELayerNormColumnParallelLinear": ColumnParallelLinear,
    "TEColumnParallelLinear": ColumnParallelLinear,
    "TERowParallelLinear": RowParallelLinear,
    "TEDotProductAttention": DotProductAttention,
    "TENorm": WrappedTorchNorm,
}
"""Each TE class of upstream's hybrid_stack_spec that the local spec replaces one for one."""

NOT_SWAPPED = ("moe_layer.mlp.experts", "dsa_layer", "mla_layer", "gdn_layer")
"""Subtrees without a one-for-one swap: the local MoE experts are a SequentialMLP (upstream's
local choice for moe_grouped_gemm) where TE has TEGroupedMLP; 'D', '+', 'G' are not supported."""


def test_local_spec_names_no_te_or_inference_class() -> None:
    with environment(True):
        tree = normalize(ours.get_hybrid_stack_local_spec())
    names = [node.name for _, node in _nodes(tree)]
    offending = [n for n in names if "transformer_engine" in n or "Inference" in n or ".TE" in n]
    assert not offending, offending
    assert tree == normalize(ours.get_hybrid_stack_local_spec())  # TE or not, the same tree


def test_local_spec_swaps_each_te_class_of_upstreams_te_spec_for_its_local_counterpart() -> None:
    """Where upstream's TE tree and ours both have a node, a TE class became its counterpart
    (the MoE experts excepted: TEGroupedMLP becomes SequentialMLP, checked below)."""
    with environment(True):
        importlib.reload(upstream)
        try:
            te_nodes = dict(_nodes(normalize(upstream.hybrid_stack_spec)))
        finally:
            with environment(False):
                importlib.reload(upstream)
    local_nodes = dict(_nodes(normalize(ours.get_hybrid_stack_local_spec())))
    swapped = 0
    for path, te_node in te_nodes.items():
        short = te_node.name.removesuffix(" (mock)").rsplit(".", 1)[-1]
        if short not in LOCAL_COUNTERPARTS or path.startswith(NOT_SWAPPED):
            continue
        assert path in local_nodes, path
        assert local_nodes[path].implementation is LOCAL_COUNTERPARTS[short], path
        swapped += 1
    # mamba in/out proj, attention qkv/core/proj, MLP fc1/fc2, MoE pre-norm and shared-expert
    # fc1/fc2, MTP enorm/hnorm/layer_norm/eh_proj
    assert swapped == 14, swapped


def _expected_local_spec() -> ModuleSpec:
    """The local spec as upstream would spell it (ModelOpt's _get_hybrid_stack_local_spec with
    local core attention and TE key remapping, WrappedTorchNorm, the lifted final norm)."""
    keys = {
        "input_layernorm.": "self_attention.linear_qkv.layer_norm_",
        "pre_mlp_layernorm.": "mlp.linear_fc1.layer_norm_",
    }
    return ModuleSpec(
        module=HybridStackWithLiftedSlots,
        submodules=HybridStackWithLiftedSlotsSubmodules(
            mamba_layer=ModuleSpec(
                module=MambaLayer,
                submodules=MambaLayerSubmodules(
                    norm=WrappedTorchNorm,
                    mixer=ModuleSpec(
                        module=MambaMixer,
                        submodules=MambaMixerSubmodules(
                            in_proj=ColumnParallelLinear, out_proj=RowParallelLinear
                        ),
                    ),
                    mamba_bda=get_bias_dropout_add,
                    sharded_state_dict_keys_map={"norm.": "mixer.in_proj.layer_norm_"},
                ),
            ),
            attention_layer=ModuleSpec(
                module=TransformerLayer,
                submodules=TransformerLayerSubmodules(
                    input_layernorm=WrappedTorchNorm,
                    self_attention=ModuleSpec(
                        module=SelfAttention,
                        params={"attn_mask_type": AttnMaskType.causal},
                        submodules=SelfAttentionSubmodules(
                            linear_qkv=ColumnParallelLinear,
                            core_attention=DotProductAttention,
                            linear_proj=RowParallelLinear,
                        ),
                    ),
                    self_attn_bda=get_bias_dropout_add,
                    sharded_state_dict_keys_map=keys,
                ),
            ),
            mlp_layer=ModuleSpec(
                module=MLPLayer,
                submodules=TransformerLayerSubmodules(
                    pre_mlp_layernorm=WrappedTorchNorm,
                    mlp=partial(
                        MLP.as_mlp_submodule,
                        submodules=MLPSubmodules(
                            linear_fc1=ColumnParallelLinear, linear_fc2=RowParallelLinear
                        ),
                    ),
                    mlp_bda=get_bias_dropout_add,
                    sharded_state_dict_keys_map=keys,
                ),
            ),
            moe_layer=ModuleSpec(
                module=MoETransformerLayer,
                submodules=TransformerLayerSubmodules(
                    pre_mlp_layernorm=WrappedTorchNorm,
                    mlp=get_moe_module_spec(use_te=False, num_experts=8, moe_grouped_gemm=True),
                    mlp_bda=get_bias_dropout_add,
                ),
            ),
            mtp_block_spec=ModuleSpec(
                module=MultiTokenPredictionBlock,
                submodules=MultiTokenPredictionBlockSubmodules(
                    layer_specs=[
                        ModuleSpec(
                            module=MultiTokenPredictionLayer,
                            submodules=MultiTokenPredictionLayerSubmodules(
                                enorm=WrappedTorchNorm,
                                hnorm=WrappedTorchNorm,
                                eh_proj=ColumnParallelLinear,
                                mtp_model_layer=None,
                                layer_norm=WrappedTorchNorm,
                            ),
                        )
                    ]
                ),
            ),
            final_norm=WrappedTorchNorm,
        ),
    )


@pytest.mark.parametrize("factory", ["get_hybrid_stack_local_spec", "get_mamba_stack_local_spec"])
def test_local_spec_equals_the_upstream_style_literal(factory: str) -> None:
    _assert_equal(normalize(_expected_local_spec()), normalize(getattr(ours, factory)()))


def test_local_spec_leaves_unsupported_symbols_at_upstreams_default() -> None:
    """'G', '+' and 'D' have no faithful TE-free variant (see the factory's docstring)."""
    tree = normalize(ours.get_hybrid_stack_local_spec())
    for name in ("gdn_layer", "mla_layer", "dsa_layer"):
        assert _slot(tree, name) == normalize(IdentityOp), name


# ---- HybridStackBuilder against HybridModel's call site ------------------------------------


def test_hybrid_stack_builder_matches_hybrid_models_call_site() -> None:
    """HybridModel.__init__ builds its decoder with `build_module(hybrid_stack_spec, config,
    **keywords)`: the Builder's positional and keyword parameters are exactly that call's."""
    import ast
    import inspect
    import json
    import textwrap
    from pathlib import Path

    from megatron.core.models.hybrid.hybrid_model import HybridModel

    tree = ast.parse(textwrap.dedent(inspect.getsource(HybridModel.__init__)))
    calls = [
        node
        for node in ast.walk(tree)
        if isinstance(node, ast.Call)
        and isinstance(node.func, ast.Name)
        and node.func.id == "build_module"
        and node.args
        and isinstance(node.args[0], ast.Name)
        and node.args[0].id == "hybrid_stack_spec"
    ]
    assert len(calls) == 1
    call = calls[0]
    description = json.loads(
        (Path(__file__).parents[1] / "schemas/megatron_core/hybrid_layer_specs.json").read_text()
    )
    (builder,) = [b for b in description["builders"] if b["name"] == "HybridStackBuilder"]
    positional = [p["name"] for p in builder["parameters"] if p["kind"] == "positional"]
    keywords = [p["name"] for p in builder["parameters"] if p["kind"] == "keyword"]
    assert len(positional) == len(call.args) - 1
    assert not any(keyword.arg is None for keyword in call.keywords)
    assert keywords == [keyword.arg for keyword in call.keywords]
    assert all(p.get("passed") != "conditionally" for p in builder["parameters"])
