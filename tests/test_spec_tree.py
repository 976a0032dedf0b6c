"""Unit tests of generator.spec_tree: every input kind, the equivalences, and readable diffs."""

import warnings
from dataclasses import dataclass
from functools import partial

import pytest

with warnings.catch_warnings():
    warnings.simplefilter("ignore")
    from megatron.core.extensions import transformer_engine as te_module
    from megatron.core.extensions.transformer_engine_spec_provider import (
        TESpecProvider,
        _TENormWithResidual,  # pyright: ignore[reportPrivateUsage]
    )
    from megatron.core.fusions.fused_bias_dropout import get_bias_dropout_add
    from megatron.core.models.gpt.moe_module_specs import (
        _build_shared_experts,  # pyright: ignore[reportPrivateUsage]
    )
    from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear
    from megatron.core.transformer.attention import SelfAttention, SelfAttentionSubmodules
    from megatron.core.transformer.dot_product_attention import DotProductAttention
    from megatron.core.transformer.enums import AttnMaskType
    from megatron.core.transformer.identity_op import IdentityOp
    from megatron.core.transformer.mlp import MLP, MLPSubmodules
    from megatron.core.transformer.moe.experts import SequentialMLP
    from megatron.core.transformer.moe.moe_layer import MoELayer, MoESubmodules
    from megatron.core.transformer.moe.shared_experts import SharedExpertMLP
    from megatron.core.transformer.spec_utils import ModuleSpec
    from megatron.core.transformer.torch_norm import L2Norm, WrappedTorchNorm
    from megatron.core.transformer.transformer_block import TransformerBlockSubmodules
    from megatron.core.transformer.transformer_layer import (
        TransformerLayer,
        TransformerLayerSubmodules,
    )

from generated.megatron_core.attention import (
    CoreAttentionFromDotProductAttention,
    LinearProjFromRowParallelLinear,
    LinearQkvFromColumnParallelLinear,
    self_attention_submodules,
)
from generated.megatron_core.bias_dropout_add import BiasDropoutAddFromGetBiasDropoutAdd
from generated.megatron_core.layer_norm import (
    LayerNormFromL2Norm,
    LayerNormFromTENorm,
    LayerNormFromWrappedTorchNorm,
)
from generated.megatron_core.mlp import (
    LinearFc1FromColumnParallelLinear,
    LinearFc1FromTEColumnParallelLinear,
    LinearFc2FromRowParallelLinear,
    MlpFromTEFusedMLP,
    mlp_submodules,
)
from generated.megatron_core.moe import (
    ExpertsFromSequentialMLP,
    MlpFromMoELayer,
    SharedExpertsFromSharedExpertMLP,
    mo_e_submodules,
)
from generated.megatron_core.transformer_layer import AttentionFromSelfAttention, MlpFromMLP
from generator.spec_tree import (
    NONE,
    Atom,
    Record,
    SpecList,
    SpecMap,
    SpecNode,
    SpecTreeError,
    Tree,
    diff,
    normalize,
    render,
)


def assert_same(a: object, b: object) -> None:
    ta, tb = normalize(a), normalize(b)
    assert ta == tb, (
        "\n".join(diff(ta, tb)) + "\n--- first\n" + render(ta) + "\n--- second\n" + render(tb)
    )


def node(tree: Tree) -> SpecNode:
    assert isinstance(tree, SpecNode), tree
    return tree


def upstream_mlp_submodules() -> MLPSubmodules:
    return MLPSubmodules(linear_fc1=ColumnParallelLinear, linear_fc2=RowParallelLinear)


def typed_mlp_submodules() -> MLPSubmodules:
    return mlp_submodules(
        linear_fc1=LinearFc1FromColumnParallelLinear(),
        linear_fc2=LinearFc2FromRowParallelLinear(),
    )


# ------------------------------------------------------------------------------- input kinds


def test_class_is_a_node_without_arguments_or_slots() -> None:
    tree = node(normalize(ColumnParallelLinear))
    assert tree.implementation is ColumnParallelLinear
    assert tree.name == "megatron.core.tensor_parallel.layers.ColumnParallelLinear"
    assert (tree.arguments, tree.slots, tree.submodules_type, tree.metainfo) == ((), (), None, ())


def test_plain_function_is_its_own_implementation() -> None:
    tree = node(normalize(get_bias_dropout_add))
    assert tree.implementation is get_bias_dropout_add
    assert tree.name.endswith("fused_bias_dropout.get_bias_dropout_add")


def test_none_and_plain_values_are_atoms() -> None:
    assert normalize(None) == NONE
    assert normalize(AttnMaskType.causal) == Atom(
        "megatron.core.transformer.enums.AttnMaskType", "AttnMaskType.causal"
    )
    assert normalize("sdpa") == Atom("builtins.str", "'sdpa'")
    assert normalize(3) == Atom("builtins.int", "3")
    # True == 1 in Python; the trees keep them apart.
    assert normalize(True) != normalize(1)
    assert normalize(AttnMaskType.causal) != normalize(AttnMaskType.padding)


def test_lists_and_dicts() -> None:
    assert normalize([IdentityOp, None]) == SpecList((normalize(IdentityOp), NONE))
    assert normalize((IdentityOp,)) == normalize([IdentityOp])
    mapping = normalize({"b.": "x.", "a.": "y."})
    assert isinstance(mapping, SpecMap)
    assert [key for key, _ in mapping.items] == ["a.", "b."]  # sorted: insertion order is moot
    assert normalize({"b.": "x.", "a.": "y."}) == normalize({"a.": "y.", "b.": "x."})


def test_module_spec_with_params_submodules_and_metainfo() -> None:
    spec = ModuleSpec(
        module=SelfAttention,
        params={"attn_mask_type": AttnMaskType.causal},
        submodules=SelfAttentionSubmodules(
            linear_qkv=ColumnParallelLinear,
            core_attention=DotProductAttention,
            linear_proj=RowParallelLinear,
        ),
        metainfo={"fuse_input_layernorm": False},
    )
    tree = node(normalize(spec))
    assert tree.implementation is SelfAttention
    assert tree.arguments == (("attn_mask_type", normalize(AttnMaskType.causal)),)
    assert tree.submodules_type is SelfAttentionSubmodules
    assert [name for name, _ in tree.slots] == [
        "linear_qkv",
        "core_attention",
        "linear_proj",
        "q_layernorm",
        "k_layernorm",
    ]
    assert dict(tree.slots)["q_layernorm"] == NONE
    assert tree.metainfo == (("fuse_input_layernorm", normalize(False)),)


def test_module_spec_with_an_import_path() -> None:
    assert_same(ModuleSpec(module=("megatron.core.transformer.mlp", "MLP")), MLP)


def test_submodules_dataclass_on_its_own_is_a_record() -> None:
    layer = ModuleSpec(module=TransformerLayer, submodules=TransformerLayerSubmodules())
    block = TransformerBlockSubmodules(layer_specs=[layer, layer], layer_norm=WrappedTorchNorm)
    tree = normalize(block)
    assert isinstance(tree, Record)
    assert tree.type is TransformerBlockSubmodules
    fields = dict(tree.fields)
    assert isinstance(fields["layer_specs"], SpecList)
    assert len(fields["layer_specs"].items) == 2
    assert fields["layer_norm"] == normalize(WrappedTorchNorm)


def test_partial_with_positional_arguments_names_them() -> None:
    tree = node(normalize(partial(SequentialMLP, 4, submodules=upstream_mlp_submodules())))
    assert tree.implementation is SequentialMLP
    assert tree.arguments == (("num_local_experts", normalize(4)),)
    assert tree.submodules_type is MLPSubmodules


def test_te_mock_classes_compare_by_identity_and_print_their_name() -> None:
    if te_module.HAVE_TE:
        pytest.skip("Transformer Engine is installed: its classes are real classes")
    column = TESpecProvider().column_parallel_linear()
    tree = node(normalize(column))
    assert tree.implementation is te_module.TEColumnParallelLinear
    assert "transformer_engine.TEColumnParallelLinear" in tree.name
    assert normalize(column) != normalize(TESpecProvider().row_parallel_linear())
    # The adapter resolves the same name in its own module: the same mock.
    assert_same(column, LinearFc1FromTEColumnParallelLinear())


def test_adapter_of_a_te_class_that_is_none_without_te() -> None:
    if te_module.HAVE_TE:
        pytest.skip("Transformer Engine is installed")
    tree = node(normalize(MlpFromTEFusedMLP(submodules=typed_mlp_submodules())))
    assert tree.implementation is None
    assert tree.name == "TEFusedMLP (None)"
    assert tree.submodules_type is MLPSubmodules


# ------------------------------------------------------------------------------ equivalences


def test_class_module_spec_partial_and_bare_adapter_are_equal() -> None:
    assert_same(ColumnParallelLinear, ModuleSpec(module=ColumnParallelLinear))
    assert_same(ColumnParallelLinear, partial(ColumnParallelLinear))
    assert_same(ColumnParallelLinear, LinearQkvFromColumnParallelLinear())
    assert_same(WrappedTorchNorm, LayerNormFromWrappedTorchNorm())
    assert_same(L2Norm, LayerNormFromL2Norm())  # the adapter drops config: still L2Norm


def test_function_equals_its_module_spec_adapter() -> None:
    assert_same(get_bias_dropout_add, BiasDropoutAddFromGetBiasDropoutAdd())
    assert_same(get_bias_dropout_add, ModuleSpec(module=get_bias_dropout_add))


def test_as_mlp_submodule_partial_equals_the_mlp_adapter_and_module_spec() -> None:
    upstream = partial(MLP.as_mlp_submodule, submodules=upstream_mlp_submodules())
    assert node(normalize(upstream)).implementation is MLP
    assert_same(upstream, MlpFromMLP(submodules=typed_mlp_submodules()))
    # TransformerLayer rewraps ModuleSpec(module=MLP) into this very partial.
    assert_same(upstream, ModuleSpec(module=MLP, submodules=upstream_mlp_submodules()))


def test_partial_equals_module_spec_with_the_same_params() -> None:
    moe_submodules = MoESubmodules(
        experts=partial(SequentialMLP, submodules=upstream_mlp_submodules()),
        shared_experts=partial(_build_shared_experts, submodules=upstream_mlp_submodules()),
    )
    assert_same(
        partial(MoELayer, submodules=moe_submodules, layer_number=3),
        ModuleSpec(module=MoELayer, params={"layer_number": 3}, submodules=moe_submodules),
    )


def test_moe_partials_equal_the_moe_adapters() -> None:
    upstream = partial(
        MoELayer,
        submodules=MoESubmodules(
            experts=partial(SequentialMLP, submodules=upstream_mlp_submodules()),
            shared_experts=partial(SharedExpertMLP, submodules=upstream_mlp_submodules()),
        ),
    )
    ours = MlpFromMoELayer(
        submodules=mo_e_submodules(
            experts=ExpertsFromSequentialMLP(submodules=typed_mlp_submodules()),
            shared_experts=SharedExpertsFromSharedExpertMLP(submodules=typed_mlp_submodules()),
        )
    )
    assert_same(upstream, ours)


def test_build_shared_experts_is_not_shared_expert_mlp() -> None:
    """Upstream's MoE spec picks the shared-expert class at build time (_build_shared_experts);
    an adapter that always builds SharedExpertMLP is a different spec."""
    upstream = partial(_build_shared_experts, submodules=upstream_mlp_submodules())
    ours = SharedExpertsFromSharedExpertMLP(submodules=typed_mlp_submodules())
    lines = diff(normalize(upstream), normalize(ours))
    assert len(lines) == 1
    assert "implementation models.gpt.moe_module_specs._build_shared_experts" in lines[0]
    assert "SharedExpertMLP" in lines[0]


def test_arguments_equal_to_the_implementations_default_are_dropped() -> None:
    base = partial(MLP.as_mlp_submodule, submodules=upstream_mlp_submodules())
    assert_same(base, partial(base, is_expert=False, input_size=None))
    assert_same(base, MlpFromMLP(submodules=typed_mlp_submodules(), is_expert=False))
    assert_same(
        ModuleSpec(module=SelfAttention, params={"attn_mask_type": AttnMaskType.padding}),
        SelfAttention,
    )
    ours = node(normalize(MlpFromMLP(submodules=typed_mlp_submodules(), is_expert=True)))
    assert ours.arguments == (("is_expert", normalize(True)),)


def test_te_norm_shim_equals_te_norm_with_has_residual() -> None:
    assert_same(_TENormWithResidual, LayerNormFromTENorm(has_residual=True))
    assert node(normalize(_TENormWithResidual)).arguments == (("has_residual", normalize(True)),)
    assert_same(TESpecProvider().layer_norm(has_residual=False), LayerNormFromTENorm())


def test_self_attention_spec_equals_its_adapter() -> None:
    upstream = ModuleSpec(
        module=SelfAttention,
        params={"attn_mask_type": AttnMaskType.causal},
        submodules=SelfAttentionSubmodules(
            linear_qkv=ColumnParallelLinear,
            core_attention=DotProductAttention,
            linear_proj=RowParallelLinear,
            q_layernorm=L2Norm,
            k_layernorm=L2Norm,
        ),
    )
    ours = AttentionFromSelfAttention(
        submodules=self_attention_submodules(
            linear_qkv=LinearQkvFromColumnParallelLinear(),
            core_attention=CoreAttentionFromDotProductAttention(),
            linear_proj=LinearProjFromRowParallelLinear(),
            q_layernorm=LayerNormFromL2Norm(),
            k_layernorm=LayerNormFromL2Norm(),
        ),
        attn_mask_type=AttnMaskType.causal,
    )
    assert_same(upstream, ours)


# ----------------------------------------------------------------------------- adapter errors


@dataclass(frozen=True, kw_only=True)
class _TwoWays:
    wide: bool = False

    def __call__(self) -> object:
        if self.wide:
            return ColumnParallelLinear()
        return RowParallelLinear()


@dataclass(frozen=True, kw_only=True)
class _Declared:
    implementation = RowParallelLinear  # a class attribute, not a field

    def __call__(self) -> object:
        if self.implementation is RowParallelLinear:
            return RowParallelLinear()
        return ColumnParallelLinear()


@dataclass(frozen=True, kw_only=True)
class _Renaming:
    residual: bool = True

    def __call__(self, *, config: object) -> object:
        return _TENormWithResidual(config=config, has_residual=self.residual, eps=1e-6)


def test_adapter_building_two_classes_is_an_error() -> None:
    with pytest.raises(SpecTreeError, match="must return one call"):
        normalize(_TwoWays())


def test_adapter_class_attribute_names_the_implementation() -> None:
    assert node(normalize(_Declared())).implementation is RowParallelLinear


def test_adapter_arguments_use_the_keyword_it_passes() -> None:
    tree = node(normalize(_Renaming()))
    # implementation through the shim; has_residual from the field (renamed); eps a constant.
    assert tree.implementation is te_module.TENorm
    assert tree.arguments == (("eps", normalize(1e-6)), ("has_residual", normalize(True)))


# ------------------------------------------------------------------------ render and diff


def _layer(q_layernorm: object, mask: AttnMaskType, keys: dict[str, str]) -> ModuleSpec:
    return ModuleSpec(
        module=TransformerLayer,
        submodules=TransformerLayerSubmodules(
            input_layernorm=WrappedTorchNorm,
            self_attention=ModuleSpec(
                module=SelfAttention,
                params={"attn_mask_type": mask},
                submodules=SelfAttentionSubmodules(
                    linear_qkv=ColumnParallelLinear,
                    core_attention=DotProductAttention,
                    linear_proj=RowParallelLinear,
                    q_layernorm=q_layernorm,  # pyright: ignore[reportArgumentType]
                ),
            ),
            mlp=partial(MLP.as_mlp_submodule, submodules=upstream_mlp_submodules()),
            sharded_state_dict_keys_map=keys,
        ),
    )


def test_diff_reports_each_differing_path() -> None:
    a = _layer(WrappedTorchNorm, AttnMaskType.causal, {"x.": "y."})
    b = _layer(L2Norm, AttnMaskType.padding, {"x.": "z."})
    assert diff(normalize(a), normalize(a)) == []
    lines = diff(normalize(a), normalize(b))
    assert lines == [
        "self_attention(attn_mask_type=): only in first: AttnMaskType.causal",
        "self_attention.q_layernorm: implementation transformer.torch_norm.WrappedTorchNorm"
        " != transformer.torch_norm.L2Norm",
        "sharded_state_dict_keys_map['x.']: 'y.' != 'z.'",
    ]


def test_diff_reports_none_against_a_class_and_list_positions() -> None:
    a = TransformerBlockSubmodules(
        layer_specs=[_layer(None, AttnMaskType.causal, {})] * 2, layer_norm=WrappedTorchNorm
    )
    b = TransformerBlockSubmodules(
        layer_specs=[
            _layer(None, AttnMaskType.causal, {}),
            _layer(IdentityOp, AttnMaskType.causal, {}),
        ],
        layer_norm=WrappedTorchNorm,
    )
    assert diff(normalize(a), normalize(b)) == [
        "layer_specs[1].self_attention.q_layernorm: Atom None != SpecNode transformer.identity_op.IdentityOp"
    ]
    c = TransformerBlockSubmodules(layer_specs=[_layer(None, AttnMaskType.causal, {})])
    assert diff(normalize(a), normalize(c)) == [
        "layer_specs: 2 items != 1 items",
        "layer_norm: SpecNode transformer.torch_norm.WrappedTorchNorm != Atom None",
    ]


def test_diff_reports_metainfo_and_limit() -> None:
    a = ModuleSpec(module=IdentityOp, metainfo={"fuse_input_layernorm": True})
    b = ModuleSpec(module=IdentityOp, metainfo={"fuse_input_layernorm": False})
    assert diff(normalize(a), normalize(b)) == [
        "<root>{metainfo fuse_input_layernorm}: True != False"
    ]
    many = diff(normalize(list(range(30))), normalize([str(i) for i in range(30)]), limit=5)
    assert len(many) == 6 and many[-1] == "... and 25 more"


def test_render_is_an_indented_tree() -> None:
    text = render(normalize(_layer(L2Norm, AttnMaskType.causal, {"x.": "y."})))
    lines = text.splitlines()
    assert lines[0] == (
        "transformer.transformer_layer.TransformerLayer"
        "  [transformer.transformer_layer.TransformerLayerSubmodules]"
    )
    assert (
        "  self_attention: transformer.attention.SelfAttention(attn_mask_type=AttnMaskType.causal)"
        in text
    )
    assert "    q_layernorm: transformer.torch_norm.L2Norm" in lines
    assert "  mlp: transformer.mlp.MLP  [transformer.mlp.MLPSubmodules]" in lines
    assert "    activation_func: None" in lines
    assert "  sharded_state_dict_keys_map: {'x.': 'y.'}" in lines


# -------------------------------------------------------------------- simulated Transformer Engine


def test_adapters_resolve_their_class_when_used_so_simulated_te_is_seen() -> None:
    from tests.simulated_te import STAND_INS, simulated_te

    if te_module.HAVE_TE:
        pytest.skip("Transformer Engine is installed")
    ours = MlpFromTEFusedMLP(submodules=typed_mlp_submodules())
    assert node(normalize(ours)).implementation is None
    with simulated_te():
        fused = STAND_INS["TEFusedMLP"]
        assert te_module.TEFusedMLP is fused
        upstream = partial(fused.as_mlp_submodule, submodules=upstream_mlp_submodules())
        assert_same(upstream, ours)
        assert (
            node(normalize(ours)).name == "megatron.core.extensions.transformer_engine.TEFusedMLP"
        )
    # Everything is restored on exit.
    assert te_module.TEFusedMLP is None
    assert node(normalize(ours)).implementation is None
