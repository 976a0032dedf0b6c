"""HybridModels built from the generated TE-free hybrid spec build, train and keep TE's layout.

megatron-core 0.19.2's ``HybridStack`` builds its final norm as ``TENorm(...)`` itself, so
without Transformer Engine no hybrid model with ``post_layer_norm=True`` can be built from
upstream's classes. ``get_hybrid_stack_local_spec()`` lifts that norm into a slot (filled with
``WrappedTorchNorm``) and uses only megatron-core's own modules elsewhere.

* CPU: attention + MLP patterns, with and without a multi-token-prediction depth, train with
  falling loss, and the final norm is the lifted slot's.
* GPU (``make test-gpu``): the MoE pattern ``*E*-`` (the MoE router moves its weights to CUDA
  in 0.19.2) and Mamba patterns (``MambaMixer`` needs mamba-ssm, which needs CUDA to install).
* With Transformer Engine installed: the local spec's checkpoint keys and shapes equal those of
  upstream's TE spec (``hybrid_stack_spec``). Skipped here, with the reason.
"""

from __future__ import annotations

import importlib.util
from collections.abc import Generator

import pytest
import torch
from megatron.core.dist_checkpointing.mapping import ShardedTensor
from megatron.core.extensions.transformer_engine import HAVE_TE
from megatron.core.models.hybrid import hybrid_layer_specs as upstream_specs
from megatron.core.models.hybrid.hybrid_model import HybridModel
from megatron.core.transformer.module import MegatronModule
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_config import TransformerConfig

from generated.megatron_core.hybrid_layer_specs import get_hybrid_stack_local_spec
from tests.megatron_cpu import cpu_shims, seed_everything

SEQUENCE = 16
BATCH = 4
VOCAB = 32
STEPS = 30


def make_config(pattern: str, **overrides: object) -> TransformerConfig:
    """A tiny fp32 config whose layer count is the pattern's (main decoder, before any '/')."""
    mtp_depths = pattern.count("/")
    fields: dict[str, object] = dict(
        num_layers=len(pattern.split("/")[0]),
        hidden_size=32,
        num_attention_heads=4,
        ffn_hidden_size=64,
        normalization="RMSNorm",
        add_bias_linear=False,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        use_cpu_initialization=True,
        mtp_num_layers=mtp_depths or None,
    )
    fields.update(overrides)
    return TransformerConfig(**fields)  # pyright: ignore[reportArgumentType]


def build_model(spec: ModuleSpec, pattern: str, **overrides: object) -> HybridModel:
    seed_everything(1234)
    return HybridModel(
        config=make_config(pattern, **overrides),
        hybrid_stack_spec=spec,
        vocab_size=VOCAB,
        max_sequence_length=SEQUENCE,
        hybrid_layer_pattern=pattern,
        position_embedding_type="learned_absolute",
    )


def train(model: HybridModel, device: torch.device, steps: int = STEPS) -> list[float]:
    """Steps of AdamW on a fixed, learnable sequence (a cycle of 7 tokens); the losses."""
    model.to(device)
    tokens = (torch.arange(SEQUENCE + 1, device=device) % 7).repeat(BATCH, 1)
    inputs, labels = tokens[:, :-1], tokens[:, 1:]
    positions = torch.arange(SEQUENCE, device=device).repeat(BATCH, 1)
    mask = torch.triu(torch.ones(1, 1, SEQUENCE, SEQUENCE, dtype=torch.bool, device=device), 1)
    optimizer = torch.optim.AdamW(model.parameters(), lr=1e-2)
    losses: list[float] = []
    for _ in range(steps):
        loss = model(inputs, positions, mask, labels=labels).float().mean()
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    return losses


def assert_loss_falls(losses: list[float]) -> None:
    start, end = sum(losses[:3]) / 3, sum(losses[-3:]) / 3
    assert end < 0.5 * start, f"loss did not fall enough: {start:.3f} -> {end:.3f}"


@pytest.fixture
def on_cpu(megatron_parallel_state: None) -> Generator[torch.device]:
    with cpu_shims():
        yield torch.device("cpu")


@pytest.mark.parametrize("pattern", ["*-*-", "*-*-/*-"], ids=["attention-mlp", "with-mtp"])
def test_local_hybrid_model_trains_on_the_cpu_with_falling_loss(
    pattern: str, on_cpu: torch.device
) -> None:
    model = build_model(get_hybrid_stack_local_spec(), pattern)
    assert model.decoder.post_layer_norm and model.decoder.post_process
    assert_loss_falls(train(model, on_cpu))


def test_the_final_norm_comes_from_the_lifted_slot(on_cpu: torch.device) -> None:
    model = build_model(get_hybrid_stack_local_spec(), "*-")
    final_norm = model.decoder.final_norm
    assert isinstance(final_norm, torch.nn.RMSNorm)  # WrappedTorchNorm's choice for RMSNorm
    keys = list(model.state_dict())
    assert "decoder.final_norm.weight" in keys
    assert keys.index("decoder.final_norm.weight") > keys.index(
        "decoder.layers.1.mlp.linear_fc2.weight"
    )


@pytest.mark.gpu
def test_local_moe_hybrid_model_trains_on_gpu(
    megatron_parallel_state: None, cuda_device: torch.device
) -> None:
    """``*E*-``: the MoE router (``TopKRouter.gating``) moves its weights to CUDA in 0.19.2."""
    model = build_model(get_hybrid_stack_local_spec(), "*E*-", num_moe_experts=4, moe_router_topk=2)
    assert_loss_falls(train(model, cuda_device))


@pytest.mark.gpu
def test_local_mamba_hybrid_model_trains_on_gpu(
    megatron_parallel_state: None, cuda_device: torch.device
) -> None:
    """``M*M-``: MambaMixer imports mamba-ssm in ``__init__``; its kernels need CUDA."""
    if importlib.util.find_spec("mamba_ssm") is None:
        pytest.skip("needs mamba-ssm, which is not installed (it builds CUDA kernels at install)")
    model = build_model(
        get_hybrid_stack_local_spec(),
        "M*M-",
        mamba_num_heads=4,
        mamba_head_dim=8,
        mamba_state_dim=16,
        mamba_num_groups=1,
    )
    assert_loss_falls(train(model, cuda_device))


def _checkpoint_layout(model: MegatronModule) -> dict[str, tuple[int, ...]]:
    """Checkpoint keys and global shapes, after each spec's ``sharded_state_dict_keys_map``:
    what a distributed checkpoint stores (fused TE norms and separate local norms map to the
    same key)."""
    return {
        tensor.key: tuple(tensor.global_shape)
        for tensor in model.sharded_state_dict().values()
        if isinstance(tensor, ShardedTensor)
    }


def test_local_spec_checkpoints_like_upstreams_te_spec(on_cpu: torch.device) -> None:
    if not HAVE_TE:
        pytest.skip(
            "needs Transformer Engine to build upstream's hybrid_stack_spec (TENorm, "
            "TELayerNormColumnParallelLinear); it is not installed here"
        )
    pattern = "*-*-"
    local = build_model(get_hybrid_stack_local_spec(), pattern)
    upstream = build_model(upstream_specs.hybrid_stack_spec, pattern)
    assert _checkpoint_layout(local) == _checkpoint_layout(upstream)
