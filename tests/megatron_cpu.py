"""Test harness: build and run a small megatron-core ``GPTModel``, on the CPU or on a GPU.

megatron-core assumes CUDA in a few places. This module is the ONE place where the tests work
around that; generated code must never need (or contain) any of it. It provides:

* :func:`distributed_state` -- a single-process ``torch.distributed`` world (gloo, rank 0,
  world size 1) plus ``parallel_state.initialize_model_parallel(1, 1)``, torn down on exit.
* :func:`cpu_shims` -- the minimal, reversible patches a forward+backward pass of a
  ``GPTModel`` built from the local (non-Transformer-Engine) layer spec needs on the CPU.
* :func:`make_config`, :func:`build_gpt_model`, :func:`forward_backward` and
  :func:`build_and_run` -- a 2-layer toy model, built with a fixed seed and run on fixed tokens.

On a CUDA device none of the shims is needed and none is applied: :func:`build_and_run` uses
them exactly for runs on the CPU. (On a CPU-only machine that is every run; on a GPU machine the
CPU runs still need the memory-buffer shim, because megatron would hand them a CUDA buffer.)
"""

from __future__ import annotations

import contextlib
import os
import socket
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import torch
from megatron.core import parallel_state
from megatron.core.models.gpt.gpt_model import GPTModel
from megatron.core.tensor_parallel.random import (
    CudaRNGStatesTracker,
    model_parallel_cuda_manual_seed,
)
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_config import TransformerConfig
from megatron.core.utils import GlobalMemoryBuffer

SEED = 1234
"""Seed for weight initialisation; both models of a parity pair are built with it."""

VOCAB_SIZE = 128
SEQ_LEN = 16
MICRO_BATCH = 2
DEVICE_CPU = torch.device("cpu")

Normalization = Literal["LayerNorm", "RMSNorm"]
"""The values ``TransformerConfig.normalization`` accepts (and the spec factories take)."""


# --------------------------------------------------------------------------------------------
# Distributed / model-parallel state
# --------------------------------------------------------------------------------------------


def find_free_port() -> int:
    """Return a TCP port on 127.0.0.1 that was free a moment ago (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@contextlib.contextmanager
def distributed_state() -> Generator[None]:
    """Set up a one-process world and megatron's model-parallel groups (TP=1, PP=1).

    megatron-core's layers query ``parallel_state`` (tensor-parallel rank/size, groups) even
    when nothing is parallel, so the groups must exist before any model is built. gloo is used
    because it works without CUDA; with world size 1 no collective ever moves data, so it is
    also fine for the GPU runs. Everything is undone on exit, including the environment.
    """
    if torch.distributed.is_initialized():
        raise RuntimeError("torch.distributed is already initialised; refusing to set it up twice")
    saved_env = {key: os.environ.get(key) for key in ("MASTER_ADDR", "MASTER_PORT")}
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(find_free_port())
    try:
        torch.distributed.init_process_group("gloo", rank=0, world_size=1)
        try:
            parallel_state.initialize_model_parallel(1, 1)
            try:
                yield
            finally:
                parallel_state.destroy_model_parallel()
        finally:
            torch.distributed.destroy_process_group()
    finally:
        for key, value in saved_env.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value


# --------------------------------------------------------------------------------------------
# CPU shims
# --------------------------------------------------------------------------------------------


def _get_tensor_on_cpu(
    self: GlobalMemoryBuffer,
    tensor_shape: tuple[int, ...],
    dtype: torch.dtype,
    name: str,
    mem_alloc_context: Any = None,
) -> torch.Tensor:
    """Replacement for ``GlobalMemoryBuffer.get_tensor`` that allocates on the CPU.

    Upstream allocates its scratch buffer on ``torch.cuda.current_device()``.
    ``DotProductAttention.forward`` uses it as the ``input`` of
    ``torch.baddbmm(buffer, q, k, beta=0.0)``, so the buffer's contents never matter, only its
    device. A fresh zeroed tensor per call (no caching, no aliasing between calls) is the
    simplest correct replacement for a test; zeros rather than ``empty`` so that nothing could
    ever depend on uninitialised memory.
    """
    del self, name, mem_alloc_context  # the cache and the allocation context are CUDA concerns
    return torch.zeros(tensor_shape, dtype=dtype, device=DEVICE_CPU)


def _fork_without_cuda_rng(
    self: CudaRNGStatesTracker, name: str = "model-parallel-rng"
) -> contextlib.AbstractContextManager[None]:
    """Replacement for ``CudaRNGStatesTracker.fork``: a null context.

    Upstream ``fork()`` saves the CUDA RNG state, swaps in the tracked one and restores it
    afterwards, which needs a CUDA device. The forward pass enters it around the embedding
    dropout and the attention dropout. Both have probability 0 in :func:`make_config`, so they
    draw no random numbers and there is no RNG state to fork.
    """
    del self, name
    return contextlib.nullcontext()


@contextlib.contextmanager
def cpu_shims() -> Generator[None]:
    """Patch the two CUDA-only spots hit by building and running a local-spec GPTModel on CPU.

    Reversible: the original methods are restored on exit (``pytest.MonkeyPatch`` undo).
    Deliberately NOT patched, because these tests never reach them:

    * ``MTPLossLoggingHelper.save_metrics_to_tracker`` (allocates on CUDA) -- only runs with a
      multi-token-prediction block, which these models do not have.
    * ``transformer.utils.get_default_causal_mask`` (allocates on CUDA) -- only used when no
      attention mask is passed; :func:`forward_backward` always passes one.
    * ``model_parallel_cuda_manual_seed`` -- not patched but not called on CPU-only machines;
      see :func:`build_gpt_model`.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GlobalMemoryBuffer, "get_tensor", _get_tensor_on_cpu)
        mp.setattr(CudaRNGStatesTracker, "fork", _fork_without_cuda_rng)
        yield


# --------------------------------------------------------------------------------------------
# Model building and running
# --------------------------------------------------------------------------------------------


def make_config(
    *,
    normalization: Normalization = "LayerNorm",
    qk_layernorm: bool = False,
    qk_l2_norm: bool = False,
    use_cpu_initialization: bool = True,
) -> TransformerConfig:
    """Return a tiny fp32 config: 2 layers, hidden 64, 4 heads, FFN 128, no dropout.

    The config must agree with the layer spec it is used with: ``SelfAttention.__init__``
    raises if the spec sets a q/k norm while ``qk_layernorm``/``qk_l2_norm`` are off, and
    ``WrappedTorchNorm`` picks ``torch.nn.LayerNorm`` or ``torch.nn.RMSNorm`` from
    ``config.normalization`` (not from the spec). Pass the same three values to the spec
    factory and here.

    ``deterministic_mode=True`` is set so that gradients are reproducible bit for bit.
    ``use_cpu_initialization=True`` makes megatron's parallel layers draw their initial
    weights from the CPU generator (seeded with ``torch.manual_seed``) on the CPU; with False
    they are allocated on the current CUDA device and drawn from the CUDA RNG tracker.
    """
    return TransformerConfig(
        num_layers=2,
        hidden_size=64,
        num_attention_heads=4,
        ffn_hidden_size=128,
        normalization=normalization,
        qk_layernorm=qk_layernorm,
        qk_l2_norm=qk_l2_norm,
        use_cpu_initialization=use_cpu_initialization,
        hidden_dropout=0.0,
        attention_dropout=0.0,
        params_dtype=torch.float32,
        # The word embedding then gathers with indexing instead of F.embedding, whose CUDA
        # backward is non-deterministic; gradients must be bitwise reproducible on a GPU too.
        deterministic_mode=True,
    )


def seed_everything(seed: int) -> None:
    """Seed every generator megatron draws initial weights from.

    The CPU generator covers ``use_cpu_initialization=True`` and the plain torch modules
    (norms, position embeddings). ``model_parallel_cuda_manual_seed`` (re)creates the states
    of the CUDA RNG tracker used by on-device initialisation; it is only usable where CUDA is
    available, because ``CudaRNGStatesTracker.add`` reads ``torch.cuda.get_rng_state()``. On a
    CPU-only machine it is skipped: with ``use_cpu_initialization=True`` nothing reads it.
    """
    torch.manual_seed(seed)
    if torch.cuda.is_available():
        model_parallel_cuda_manual_seed(seed)


def build_gpt_model(
    layer_spec: ModuleSpec,
    config: TransformerConfig,
    *,
    device: torch.device = DEVICE_CPU,
    seed: int = SEED,
) -> GPTModel:
    """Build a ``GPTModel`` from ``layer_spec`` with a fixed seed and move it to ``device``.

    ``position_embedding_type="learned_absolute"`` (a plain embedding table) is used because it
    works on the CPU, unlike rotary embeddings, which allocate on CUDA in ``forward``. Input
    and output embeddings are untied so both weights are compared separately.
    """
    seed_everything(seed)
    model = GPTModel(
        config=config,
        transformer_layer_spec=layer_spec,
        vocab_size=VOCAB_SIZE,
        max_sequence_length=SEQ_LEN,
        position_embedding_type="learned_absolute",
        share_embeddings_and_output_weights=False,
    )
    # Megatron leaves some submodules (torch norms, position embeddings) on the CPU even with
    # on-device initialisation; training code moves the whole model afterwards, as here.
    return model.to(device)


@dataclass(frozen=True)
class RunResult:
    """What one forward+backward pass produced, all detached and on the CPU."""

    state_dict: dict[str, Any]
    """``model.state_dict()`` before the pass (tensors cloned; megatron adds ``_extra_state``)."""
    logits: torch.Tensor
    """Output of ``GPTModel.forward`` without labels: ``[batch, seq, vocab]``."""
    grads: dict[str, torch.Tensor | None]
    """``param.grad`` by ``named_parameters()`` name after ``loss.backward()``."""
    module_types: dict[str, type]
    """``type(module)`` for every entry of ``named_modules()``: the model's class tree."""


def fixed_batch(device: torch.device) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Return ``(input_ids, position_ids, attention_mask)`` for a fixed pseudo-random batch.

    Tokens come from a dedicated generator so they do not depend on (or disturb) the global
    RNG. The causal mask is passed explicitly (``True`` = masked out): without one, megatron's
    softmax builds it with ``get_default_causal_mask``, which allocates on CUDA.
    """
    generator = torch.Generator().manual_seed(0)
    input_ids = torch.randint(0, VOCAB_SIZE, (MICRO_BATCH, SEQ_LEN), generator=generator)
    position_ids = torch.arange(SEQ_LEN).unsqueeze(0).expand(MICRO_BATCH, -1)
    causal = torch.triu(torch.ones(SEQ_LEN, SEQ_LEN, dtype=torch.bool), diagonal=1)
    attention_mask = causal.view(1, 1, SEQ_LEN, SEQ_LEN)  # broadcast over batch and heads
    return input_ids.to(device), position_ids.to(device), attention_mask.to(device)


def _detached_cpu(value: Any) -> Any:
    """Clone tensors to the CPU (detached); leave anything else (e.g. ``None`` extra state)."""
    return value.detach().to(DEVICE_CPU, copy=True) if isinstance(value, torch.Tensor) else value


def forward_backward(model: GPTModel) -> RunResult:
    """Run one forward and backward pass of ``model`` on :func:`fixed_batch`.

    The loss is next-token cross entropy, computed in plain torch on the logits (so the logits
    themselves are returned and compared too); every parameter gets a gradient from it.
    """
    device = next(model.parameters()).device
    state_dict = {key: _detached_cpu(value) for key, value in model.state_dict().items()}
    module_types: dict[str, type] = {name: type(mod) for name, mod in model.named_modules()}

    input_ids, position_ids, attention_mask = fixed_batch(device)
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask)
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, VOCAB_SIZE).float(), input_ids[:, 1:].reshape(-1)
    )
    loss.backward()
    grads = {name: _detached_cpu(param.grad) for name, param in model.named_parameters()}
    return RunResult(
        state_dict=state_dict,
        logits=_detached_cpu(logits),
        grads=grads,
        module_types=module_types,
    )


def build_and_run(
    layer_spec: ModuleSpec,
    config: TransformerConfig,
    *,
    device: torch.device = DEVICE_CPU,
    seed: int = SEED,
) -> RunResult:
    """Build a model from ``layer_spec`` and run :func:`forward_backward` on ``device``.

    CPU runs get :func:`cpu_shims`; CUDA runs get none. Requires :func:`distributed_state`.
    """
    shims = cpu_shims() if device.type == "cpu" else contextlib.nullcontext()
    with shims:
        model = build_gpt_model(layer_spec, config, device=device, seed=seed)
        return forward_backward(model)
