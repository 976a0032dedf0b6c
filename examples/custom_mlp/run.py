"""Build a GPT model whose layers use GatedMLP and SDPACoreAttention through the typed spec generated
from schemas/ (into typed/), with unmodified megatron-core, and run a forward pass on the CPU.

    python -m examples.custom_mlp.run

megatron-core expects CUDA in a few places; on the CPU the project's test harness
(tests/megatron_cpu.py) patches exactly those, reversibly, around the run.
"""

import torch
from megatron.core.models.gpt import GPTModel
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_config import TransformerConfig

from examples.custom_mlp.typed import get_gpt_layer_with_gated_mlp_spec
from tests.megatron_cpu import cpu_shims, distributed_state

VOCAB_SIZE = 256
SEQUENCE_LENGTH = 32


def make_config() -> TransformerConfig:
    """A small fp32 model: 2 layers, hidden 64, 4 heads, FFN 128, no biases, no dropout."""
    return TransformerConfig(
        num_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        ffn_hidden_size=128,
        add_bias_linear=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        use_cpu_initialization=True,
    )


def build_model(layer_spec: ModuleSpec, config: TransformerConfig) -> GPTModel:
    """megatron-core's own GPTModel, every layer built from `layer_spec`."""
    return GPTModel(
        config=config,
        transformer_layer_spec=layer_spec,
        vocab_size=VOCAB_SIZE,
        max_sequence_length=SEQUENCE_LENGTH,
        position_embedding_type="learned_absolute",
    )


def forward(model: GPTModel, batch: int = 2) -> torch.Tensor:
    """Logits ``[batch, sequence, vocab]`` for fixed tokens, with a causal mask."""
    tokens = torch.arange(batch * SEQUENCE_LENGTH).reshape(batch, -1) * 37 % VOCAB_SIZE
    positions = torch.arange(SEQUENCE_LENGTH).expand(batch, -1)
    causal = torch.ones(SEQUENCE_LENGTH, SEQUENCE_LENGTH, dtype=torch.bool).triu(diagonal=1)
    logits: torch.Tensor = model(
        input_ids=tokens, position_ids=positions, attention_mask=causal.view(1, 1, *causal.shape)
    )
    return logits


def main() -> int:
    # GatedMLP with squared ReLU and SDPACoreAttention in every layer, typed end to end.
    layer_spec = get_gpt_layer_with_gated_mlp_spec(activation="relu2", sdpa=True)
    with distributed_state(), cpu_shims():
        logits = forward(build_model(layer_spec, make_config()))
    print(f"logits {tuple(logits.shape)}, finite: {bool(torch.isfinite(logits).all())}")
    return 0 if torch.isfinite(logits).all() else 1


if __name__ == "__main__":
    raise SystemExit(main())
