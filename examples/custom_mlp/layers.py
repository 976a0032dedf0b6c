"""Your own modules, written against megatron-core as usual; nothing here knows about the generator.

- ``GatedMLP``: a gated MLP whose activation the layer spec chooses per layer (megatron's MLP takes
  it from the config, one for the whole model). Its projections are slots of its own Submodules,
  typed with the bundled Builder Protocols, so any linear layer megatron-core offers fits them.
- ``SDPACoreAttention``: the core attention through PyTorch's ``scaled_dot_product_attention``.
"""

from collections.abc import Callable
from dataclasses import dataclass
from typing import Literal, cast

import torch
import torch.nn.functional as F
from megatron.core.packed_seq_params import PackedSeqParams
from megatron.core.transformer.enums import AttnMaskType
from megatron.core.transformer.module import MegatronModule
from megatron.core.transformer.transformer_config import TransformerConfig
from megatron.core.typed_torch import apply_module, not_none
from torch import Tensor
from torch.distributed import ProcessGroup

from generated.megatron_core.mlp import LinearFc1Builder, LinearFc2Builder

Activation = Literal["silu", "gelu", "relu2"]
InitMethod = Callable[[Tensor], None] | None


def _relu2(x: Tensor) -> Tensor:
    return torch.square(F.relu(x))


ACTIVATIONS: dict[Activation, Callable[[Tensor], Tensor]] = {
    "silu": F.silu,
    "gelu": F.gelu,
    "relu2": _relu2,
}


@dataclass
class GatedMLPSubmodules:
    """The two projections GatedMLP builds."""

    linear_fc1: LinearFc1Builder
    linear_fc2: LinearFc2Builder


class GatedMLP(MegatronModule):
    """``fc2(act(x W_gate) * (x W_up))``: fc1 projects to both halves at once (twice the FFN width,
    stride 2 so that each tensor-parallel rank holds matching gate and up columns)."""

    def __init__(
        self,
        config: TransformerConfig,
        submodules: GatedMLPSubmodules,
        *,
        activation: Activation = "silu",
        tp_group: ProcessGroup | None = None,
        name: str | None = None,
    ) -> None:
        super().__init__(config=config)
        if config.ffn_hidden_size is None:
            raise ValueError("GatedMLP needs config.ffn_hidden_size")
        self.activation: Activation = activation
        # TransformerConfig annotates its init methods as bare Callables (parameters unknown).
        init_method = cast(
            InitMethod, config.init_method  # pyright: ignore[reportUnknownMemberType]
        )
        output_init_method = cast(
            InitMethod, config.output_layer_init_method  # pyright: ignore[reportUnknownMemberType]
        )
        self.linear_fc1 = submodules.linear_fc1(
            config.hidden_size,
            2 * config.ffn_hidden_size,
            config=config,
            init_method=not_none(init_method),
            gather_output=False,
            bias=config.add_bias_linear,
            skip_bias_add=False,
            is_expert=False,
            tp_comm_buffer_name="fc1",
            tp_group=tp_group,
            stride=2,
            name=f"{name}.linear_fc1" if name is not None else None,
        )
        self.linear_fc2 = submodules.linear_fc2(
            config.ffn_hidden_size,
            config.hidden_size,
            config=config,
            init_method=not_none(output_init_method),
            bias=config.add_bias_linear,
            input_is_parallel=True,
            skip_bias_add=True,  # the layer adds the bias in its bias-dropout-add
            is_expert=False,
            tp_comm_buffer_name="fc2",
            tp_group=tp_group,
            name=f"{name}.linear_fc2" if name is not None else None,
        )

    def forward(
        self,
        hidden_states: Tensor,
        intermediate_tensors: tuple[Tensor, ...] | None = None,
        padding_mask: Tensor | None = None,
    ) -> tuple[Tensor, Tensor | None]:
        """Returns the output and the bias the layer still has to add (as megatron's MLP)."""
        del intermediate_tensors, padding_mask  # unused, as in megatron's dense MLP
        projected, _ = apply_module(self.linear_fc1)(hidden_states)
        gate, up = torch.chunk(projected, 2, dim=-1)
        return apply_module(self.linear_fc2)(ACTIVATIONS[self.activation](gate) * up)


class SDPACoreAttention(MegatronModule):
    """Softmax attention through ``torch.nn.functional.scaled_dot_product_attention``: queries,
    keys and values ``[s, b, heads, dim]`` (grouped-query keys and values are shared as megatron
    shares them), the output ``[s, b, heads * dim]``. No context parallelism, no attention bias,
    no packed sequences; dropout uses torch's default generator."""

    def __init__(
        self,
        config: TransformerConfig,
        attn_mask_type: AttnMaskType,
        softmax_scale: float | None = None,
    ) -> None:
        super().__init__(config=config)
        if config.context_parallel_size != 1:
            raise ValueError("SDPACoreAttention does not support context parallelism")
        self.attn_mask_type = attn_mask_type
        self.softmax_scale = softmax_scale

    def forward(
        self,
        query: Tensor,
        key: Tensor,
        value: Tensor,
        attention_mask: Tensor | None,
        attn_mask_type: AttnMaskType | None = None,
        attention_bias: Tensor | None = None,
        packed_seq_params: PackedSeqParams | None = None,
    ) -> Tensor:
        """``attention_mask``: True where a query must not attend (megatron's convention); None
        with a causal mask type attends causally."""
        if attention_bias is not None or packed_seq_params is not None:
            raise NotImplementedError(
                "SDPACoreAttention takes no attention bias or packed sequences"
            )
        mask_type = attn_mask_type if attn_mask_type is not None else self.attn_mask_type
        q, k, v = (t.permute(1, 2, 0, 3) for t in (query, key, value))  # [b, heads, s, dim]
        context = F.scaled_dot_product_attention(
            q,
            k,
            v,
            attn_mask=None if attention_mask is None else ~attention_mask,
            dropout_p=self.config.attention_dropout if self.training else 0.0,
            is_causal=attention_mask is None and mask_type == AttnMaskType.causal,
            scale=self.softmax_scale,
            enable_gqa=True,
        )
        sequence, batch = query.size(0), query.size(1)
        return context.permute(2, 0, 1, 3).reshape(sequence, batch, -1)
