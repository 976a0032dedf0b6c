"""A recording stand-in for MambaLayer's mixer slot, checked by pyright (strict) against the
generated MambaMixerBuilder and MambaMixerInterface (tests/test_mamba_layer.py runs pyright on
this file).

MambaMixer itself needs mamba-ssm and CUDA; this stand-in needs neither, so MambaLayer can be
built and run on the CPU with it. It is a torch module with exactly the Builder's parameters
(the class is the Builder: build_module instantiates it) and the Interface's methods, and it
records what it was given.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import torch
from megatron.core.inference.contexts import BaseInferenceContext
from megatron.core.packed_seq_params import PackedSeqParams
from megatron.core.process_groups_config import ProcessGroupCollection
from megatron.core.transformer.transformer_config import TransformerConfig
from torch import Tensor

from generated.megatron_core.mamba_layer import MambaMixerBuilder, MambaMixerInterface


@dataclass(frozen=True)
class Call:
    """Positional and keyword arguments of one call, as received."""

    args: tuple[Any, ...]
    kwargs: dict[str, Any]


class RecordingMixer(torch.nn.Module):
    """Satisfies MambaMixerBuilder (as a class) and MambaMixerInterface (as an instance).

    forward returns `(hidden_states @ proj, None)`: a plain linear map, so a test can compute
    MambaLayer's expected output by hand.
    """

    STATE_SHAPES = ((5, 4), (3, 2, 7))

    def __init__(
        self,
        config: TransformerConfig,
        /,
        *,
        d_model: int,
        layer_number: int,
        pg_collection: ProcessGroupCollection,
        pp_layer_offset: int,
        name: str | None,
    ) -> None:
        super().__init__()
        self.built_with = Call(
            (config,),
            dict(
                d_model=d_model,
                layer_number=layer_number,
                pg_collection=pg_collection,
                pp_layer_offset=pp_layer_offset,
                name=name,
            ),
        )
        self.forward_calls: list[Call] = []
        self.proj = torch.nn.Linear(d_model, d_model, bias=False)

    def forward(
        self,
        hidden_states: Tensor,
        /,
        *,
        inference_context: BaseInferenceContext | None,
        packed_seq_params: PackedSeqParams | None,
    ) -> tuple[Tensor, Tensor | None]:
        self.forward_calls.append(
            Call(
                (hidden_states,),
                dict(inference_context=inference_context, packed_seq_params=packed_seq_params),
            )
        )
        return self.proj(hidden_states), None

    def mamba_state_shapes_per_request(self) -> tuple[tuple[int, ...], tuple[int, ...]]:
        return self.STATE_SHAPES


# The pyright gate of this file: the class fills the Builder, an instance the Interface.
builder: MambaMixerBuilder = RecordingMixer


def as_interface(mixer: RecordingMixer) -> MambaMixerInterface:
    """The stand-in, typed as what MambaLayer uses."""
    return mixer
