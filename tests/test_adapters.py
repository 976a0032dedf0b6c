"""Generated adapters at run time: both construction paths build the same module.

Parents hand build_module-path adapters (ModuleSpec subclasses) to megatron's `build_module`,
which never calls the adapter's typed `__call__`; a caller that calls the adapter directly gets
`__call__`. These tests prove the two paths agree, and that direct-call adapters build what
upstream's own shims build.
"""

from functools import partial

import torch
from megatron.core.fusions.fused_bias_dropout import get_bias_dropout_add
from megatron.core.process_groups_config import ProcessGroupCollection
from megatron.core.transformer.attention import (
    CrossAttention,
    CrossAttentionSubmodules,
    SelfAttention,
    SelfAttentionSubmodules,
)
from megatron.core.transformer.dot_product_attention import DotProductAttention
from megatron.core.transformer.enums import AttnMaskType
from megatron.core.transformer.identity_op import IdentityFuncOp
from megatron.core.transformer.mlp import MLP, MLPSubmodules
from megatron.core.transformer.spec_utils import ModuleSpec, build_module
from megatron.core.tensor_parallel.layers import ColumnParallelLinear, RowParallelLinear

from generated.megatron_core import (
    AttentionFromSelfAttention,
    BiasDropoutAddFromGetBiasDropoutAdd,
    BiasDropoutAddFromIdentityFuncOp,
    BiasDropoutAddWithConfigFromGetBiasDropoutAdd,
    BiasDropoutAddWithConfigFromIdentityFuncOp,
    CoreAttentionFromDotProductAttention,
    LinearFc1FromColumnParallelLinear,
    LinearFc2FromRowParallelLinear,
    LinearLayerFromColumnParallelLinear,
    LinearProjFromRowParallelLinear,
    LinearQkvFromColumnParallelLinear,
    MlpFromMLP,
)
from tests.megatron_cpu import assert_same_module, make_config, seed_everything


def test_bias_dropout_add_adapters_build_the_same_thing_on_both_paths() -> None:
    config = make_config()
    assert build_module(BiasDropoutAddFromGetBiasDropoutAdd()) is get_bias_dropout_add
    assert BiasDropoutAddFromGetBiasDropoutAdd()() is get_bias_dropout_add
    assert (
        build_module(BiasDropoutAddWithConfigFromGetBiasDropoutAdd(), config=config)
        is get_bias_dropout_add
    )
    assert BiasDropoutAddWithConfigFromGetBiasDropoutAdd()(config=config) is get_bias_dropout_add
    assert isinstance(build_module(BiasDropoutAddFromIdentityFuncOp()), IdentityFuncOp)
    assert isinstance(BiasDropoutAddFromIdentityFuncOp()(), IdentityFuncOp)
    identity = BiasDropoutAddWithConfigFromIdentityFuncOp()(config=config)
    assert isinstance(identity, IdentityFuncOp)
    tensor = torch.ones(2)
    assert identity(True, False)(tensor) is tensor


def test_attention_adapter_builds_the_same_self_attention_on_both_paths(
    megatron_parallel_state: None,
) -> None:
    config = make_config()
    adapter = AttentionFromSelfAttention(
        submodules=SelfAttentionSubmodules(
            linear_qkv=LinearQkvFromColumnParallelLinear(),
            core_attention=CoreAttentionFromDotProductAttention(),
            linear_proj=LinearProjFromRowParallelLinear(),
        ),
        attn_mask_type=AttnMaskType.causal,
    )
    arguments = dict(
        config=config, layer_number=1, pg_collection=ProcessGroupCollection.use_mpu_process_groups()
    )
    seed_everything(7)
    built = build_module(adapter, **arguments)
    seed_everything(7)
    called = adapter(**arguments)
    assert isinstance(built, SelfAttention) and isinstance(called, SelfAttention)
    assert built.attn_mask_type is called.attn_mask_type is AttnMaskType.causal
    assert_same_module(built, called)


def test_attention_adapter_is_the_module_spec_upstream_writes() -> None:
    submodules = SelfAttentionSubmodules(
        linear_qkv=LinearQkvFromColumnParallelLinear(),
        core_attention=CoreAttentionFromDotProductAttention(),
        linear_proj=LinearProjFromRowParallelLinear(),
    )
    adapter = AttentionFromSelfAttention(submodules=submodules, attn_mask_type=AttnMaskType.causal)
    upstream = ModuleSpec(
        module=SelfAttention, params={"attn_mask_type": AttnMaskType.causal}, submodules=submodules
    )
    assert (adapter.module, adapter.params, adapter.submodules) == (
        upstream.module,
        upstream.params,
        upstream.submodules,
    )


def test_mlp_adapter_builds_what_upstream_as_mlp_submodule_builds(
    megatron_parallel_state: None,
) -> None:
    config = make_config()
    submodules = MLPSubmodules(
        linear_fc1=LinearFc1FromColumnParallelLinear(), linear_fc2=LinearFc2FromRowParallelLinear()
    )
    upstream_submodules = MLPSubmodules(
        linear_fc1=ColumnParallelLinear, linear_fc2=RowParallelLinear
    )
    arguments = dict(
        config=config,
        pg_collection=ProcessGroupCollection.use_mpu_process_groups(),
        is_mtp_layer=False,
        name="mlp",
    )
    seed_everything(7)
    generated = MlpFromMLP(submodules=submodules)(**arguments)
    seed_everything(7)
    upstream = partial(MLP.as_mlp_submodule, submodules=upstream_submodules)(**arguments)
    assert_same_module(generated, upstream)


def test_moe_adapter_builds_what_upstream_local_moe_spec_builds(
    megatron_parallel_state: None,
) -> None:
    from dataclasses import replace

    from megatron.core.models.gpt.moe_module_specs import get_moe_module_spec
    from megatron.core.transformer.moe.moe_layer import MoELayer, MoESubmodules

    from generated.megatron_core import (
        ExpertsFromSequentialMLP,
        MlpFromMoELayer,
        RouterFromTopKRouter,
        SharedExpertsFromSharedExpertMLP,
    )

    config = replace(
        make_config(),
        num_moe_experts=4,
        moe_ffn_hidden_size=32,
        moe_shared_expert_intermediate_size=32,
        add_bias_linear=False,
    )
    mlp = MLPSubmodules(
        linear_fc1=LinearFc1FromColumnParallelLinear(), linear_fc2=LinearFc2FromRowParallelLinear()
    )
    adapter = MlpFromMoELayer(
        submodules=MoESubmodules(
            experts=ExpertsFromSequentialMLP(submodules=mlp),
            shared_experts=SharedExpertsFromSharedExpertMLP(submodules=mlp),
            router=RouterFromTopKRouter(),
        )
    )
    arguments = dict(
        config=config,
        pg_collection=ProcessGroupCollection.use_mpu_process_groups(),
        is_mtp_layer=False,
        name="mlp",
    )
    seed_everything(7)
    generated = adapter(**arguments)
    seed_everything(7)
    upstream = get_moe_module_spec(use_te=False, num_experts=4)(**arguments)
    assert isinstance(generated, MoELayer) and isinstance(upstream, MoELayer)


def test_cross_attention_adapters_build_what_upstream_classes_build(
    megatron_parallel_state: None,
) -> None:
    config = make_config()
    generated_submodules = CrossAttentionSubmodules(
        linear_q=LinearLayerFromColumnParallelLinear(),
        linear_kv=LinearLayerFromColumnParallelLinear(),
        core_attention=CoreAttentionFromDotProductAttention(),
        linear_proj=LinearProjFromRowParallelLinear(),
    )
    upstream_submodules = CrossAttentionSubmodules(
        linear_q=ColumnParallelLinear,
        linear_kv=ColumnParallelLinear,
        core_attention=DotProductAttention,
        linear_proj=RowParallelLinear,
    )
    arguments = dict(
        config=config,
        layer_number=1,
        pg_collection=ProcessGroupCollection.use_mpu_process_groups(),
        name="decoder.layers.0.cross_attention",
    )
    seed_everything(7)
    generated = CrossAttention(submodules=generated_submodules, **arguments)
    seed_everything(7)
    upstream = CrossAttention(submodules=upstream_submodules, **arguments)
    assert_same_module(generated, upstream)
