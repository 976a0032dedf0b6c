"""Typed Submodules constructors: upstream's own dataclasses, with every slot typed by its Builder.

A wrong implementation is a pyright error naming the slot's Builder on every construction path:
a slot the parent calls directly, one it hands to build_module, and an element of a list slot.
"""

from dataclasses import dataclass
from pathlib import Path

import pytest
from megatron.core.transformer.identity_op import IdentityFuncOp, IdentityOp
from megatron.core.transformer.transformer_config import TransformerConfig
from megatron.core.transformer.transformer_layer import TransformerLayerSubmodules

from generated.megatron_core import (
    AttentionFromSelfAttention,
    AttentionInterface,
    LayerNormFromWrappedTorchNorm,
    LinearProjFromRowParallelLinear,
    LinearQkvFromColumnParallelLinear,
    CoreAttentionFromDotProductAttention,
    self_attention_submodules,
    transformer_layer_submodules,
)
from generated.megatron_core.spec_values import module_spec, module_spec_or_type
from tests.pyright_runner import run_pyright


def test_constructor_returns_upstreams_dataclass_with_upstreams_defaults() -> None:
    built = transformer_layer_submodules()
    assert type(built) is TransformerLayerSubmodules
    assert built == TransformerLayerSubmodules()
    assert built.mlp is IdentityOp and built.self_attn_bda is IdentityFuncOp
    assert built.sharded_state_dict_keys_map == {}


def test_constructor_passes_every_slot_and_field_through() -> None:
    norm = LayerNormFromWrappedTorchNorm()
    attention = AttentionFromSelfAttention(
        submodules=self_attention_submodules(
            linear_qkv=LinearQkvFromColumnParallelLinear(),
            core_attention=CoreAttentionFromDotProductAttention(),
            linear_proj=LinearProjFromRowParallelLinear(),
        )
    )
    built = transformer_layer_submodules(
        input_layernorm=norm, self_attention=attention, sharded_state_dict_keys_map={"a.": "b."}
    )
    assert built.input_layernorm is norm
    assert built.self_attention is attention
    assert built.sharded_state_dict_keys_map == {"a.": "b."}


@dataclass(frozen=True)
class _CallableAttention:
    """Satisfies AttentionBuilder statically, but build_module cannot build an arbitrary callable."""

    def __call__(
        self,
        *,
        config: TransformerConfig,
        layer_number: int,
        pg_collection: object,
        cp_comm_type: str | None = None,
        pp_layer_offset: int | None = None,
        name: str | None = None,
    ) -> AttentionInterface:
        raise NotImplementedError


def test_a_value_build_module_cannot_build_is_refused_where_the_spec_is_composed() -> None:
    with pytest.raises(TypeError, match="self_attention: build_module needs a ModuleSpec"):
        module_spec_or_type(_CallableAttention(), "self_attention")
    with pytest.raises(TypeError, match="layer_specs: each item must be a ModuleSpec"):
        module_spec(IdentityOp, "layer_specs")


WRONG_SLOTS = '''
"""Wrong implementations in typed Submodules slots: pyright must name the slot's Builder."""
import torch

from generated.megatron_core import (
    MlpFromMLP,
    mlp_submodules,
    self_attention_submodules,
    transformer_layer_submodules,
    LinearFc1FromColumnParallelLinear,
    LinearFc2FromRowParallelLinear,
    LinearProjFromRowParallelLinear,
    LinearQkvFromColumnParallelLinear,
    CoreAttentionFromDotProductAttention,
    get_gpt_layer_local_spec,
    transformer_block_submodules,
)


class NotANorm(torch.nn.Module):
    def __init__(self, *, hidden_size: int) -> None:
        super().__init__()


direct_call = self_attention_submodules(
    linear_qkv=LinearQkvFromColumnParallelLinear(),
    core_attention=CoreAttentionFromDotProductAttention(),
    linear_proj=LinearProjFromRowParallelLinear(),
    q_layernorm=NotANorm,
)
build_module_path = transformer_layer_submodules(
    self_attention=MlpFromMLP(
        submodules=mlp_submodules(
            linear_fc1=LinearFc1FromColumnParallelLinear(),
            linear_fc2=LinearFc2FromRowParallelLinear(),
        )
    ),
)
anything_at_all = transformer_layer_submodules(mlp_bda=42)
list_element = transformer_block_submodules(
    layer_specs=[get_gpt_layer_local_spec(), LinearFc2FromRowParallelLinear()],
)
'''


def test_pyright_names_the_builder_of_a_slot_given_a_wrong_implementation(tmp_path: Path) -> None:
    (tmp_path / "wrong_slots.py").write_text(WRONG_SLOTS)
    errors, _ = run_pyright(tmp_path)
    # pyright reports the argument's own line; map each error to the assignment it belongs to.
    source = (tmp_path / "wrong_slots.py").read_text().splitlines()
    owners: dict[str, str] = {}
    for error in errors:
        line = next(
            text for text in reversed(source[: error.line]) if " = " in text and text[0] != " "
        )
        owners.setdefault(line.split(" = ")[0], error.message)
    assert set(owners) == {
        "direct_call",
        "build_module_path",
        "anything_at_all",
        "list_element",
    }, errors
    assert '"q_layernorm" of type "LayerNormBuilder | None"' in owners["direct_call"]
    assert '"self_attention" of type "AttentionBuilder' in owners["build_module_path"]
    assert '"mlp_bda" of type "BiasDropoutAddBuilder"' in owners["anything_at_all"]
    assert '"TransformerBlockLayerBuilder"' in owners["list_element"]
