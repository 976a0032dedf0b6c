"""Test harness: build and run a small megatron-core ``GPTModel``, on the CPU or on a GPU.

megatron-core assumes CUDA in a few places. This module is the ONE place where the tests work
around that; generated code must never need (or contain) any of it. It provides:

* :func:`distributed_state` -- a single-process ``torch.distributed`` world (gloo, rank 0,
  world size 1) plus ``parallel_state.initialize_model_parallel(1, 1)``, torn down on exit.
* :func:`cpu_shims` -- the minimal, reversible patches a forward+backward pass of a
  ``GPTModel`` built from the local (non-Transformer-Engine) layer spec needs on the CPU.
* :func:`make_config`, :func:`build_gpt_model`, :func:`forward_backward` and
  :func:`build_and_run` -- a 2-layer toy model, built with a fixed seed and run on fixed tokens;
  :func:`forward_backward_with_labels` for models with a multi-token-prediction (MTP) block,
  whose loss megatron only computes when it is given labels.
* :func:`collect_model`, :func:`assert_identical_runs` and :func:`assert_identical_models` --
  the exact (``torch.equal``) comparisons every parity test makes.

On a CUDA device none of the shims is needed and none is applied: :func:`build_and_run` uses
them exactly for runs on the CPU. (On a CPU-only machine that is every run; on a GPU machine the
CPU runs still need the memory-buffer shim, because megatron would hand them a CUDA buffer.)
"""

from __future__ import annotations

import contextlib
import enum
import os
import socket
from collections.abc import Generator
from dataclasses import dataclass
from typing import Any, Literal

import pytest
import torch
from megatron.core import parallel_state
from megatron.core.models.gpt.gpt_model import GPTModel
from megatron.core.tensor_parallel import mappings
from megatron.core.tensor_parallel.random import (
    CudaRNGStatesTracker,
    model_parallel_cuda_manual_seed,
)
from megatron.core.transformer.multi_token_prediction import (
    MTPLossLoggingHelper,
    MultiTokenPredictionBlockSubmodules,
)
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_block import TransformerBlockSubmodules
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
def distributed_state(
    *,
    tensor_model_parallel_size: int = 1,
    rank: int = 0,
    world_size: int = 1,
    master_port: int | None = None,
) -> Generator[None]:
    """Set up a gloo world and megatron's model-parallel groups (PP=1), torn down on exit.

    megatron-core's layers query ``parallel_state`` (tensor-parallel rank/size, groups) even
    when nothing is parallel, so the groups must exist before any model is built. gloo is used
    because it works without CUDA; with world size 1 no collective ever moves data, so it is
    also fine for the GPU runs. The defaults give the one-process world (TP=1) of the pytest
    session; a tensor-parallel run starts ``world_size`` processes that each call this with
    their ``rank`` and the same ``master_port`` on 127.0.0.1. Everything is undone on exit,
    including the environment.
    """
    if torch.distributed.is_initialized():
        raise RuntimeError("torch.distributed is already initialised; refusing to set it up twice")
    saved_env = {key: os.environ.get(key) for key in ("MASTER_ADDR", "MASTER_PORT")}
    os.environ["MASTER_ADDR"] = "127.0.0.1"
    os.environ["MASTER_PORT"] = str(master_port if master_port is not None else find_free_port())
    try:
        torch.distributed.init_process_group("gloo", rank=rank, world_size=world_size)
        try:
            parallel_state.initialize_model_parallel(tensor_model_parallel_size, 1)
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


def _save_mtp_metrics_on_loss_device(
    loss: torch.Tensor,
    correct: torch.Tensor,
    total: torch.Tensor,
    layer_number: int | None,
    num_layers: int,
    reduce_group: torch.distributed.ProcessGroup | None = None,
    avg_group: torch.distributed.ProcessGroup | None = None,
) -> None:
    """Replacement for ``MTPLossLoggingHelper.save_metrics_to_tracker`` that allocates on the
    device of ``loss`` instead of ``torch.cuda.current_device()``.

    Otherwise a line-for-line copy of upstream (0.19.2): ``process_mtp_loss`` calls it once per
    MTP layer in training mode, with that layer's token-averaged loss, and it accumulates the
    values into the class-level ``MTPLossLoggingHelper.tracker`` dict (which is where the tests
    read the MTP losses back; see :func:`fresh_mtp_tracker`).
    """
    if layer_number is None:
        return
    tracker = MTPLossLoggingHelper.tracker
    for key in ("loss_values", "correct_values", "total_values"):
        if key not in tracker:
            tracker[key] = torch.zeros(num_layers, device=loss.device)
    tracker["loss_values"][layer_number] += loss.detach()
    tracker["correct_values"][layer_number] += correct.detach()
    tracker["total_values"][layer_number] += total.detach()
    tracker["reduce_group"] = reduce_group
    tracker["avg_group"] = avg_group


def _gather_along_last_dim_on_input_device(
    input_: torch.Tensor, group: torch.distributed.ProcessGroup
) -> torch.Tensor:
    """Replacement for ``tensor_parallel.mappings._gather_along_last_dim`` that allocates its
    all-gather buffer on the device of ``input_`` instead of ``torch.cuda.current_device()``.

    Otherwise a copy of upstream (0.19.2). Only reached with tensor parallelism (a group of
    size 1 returns ``input_``): the MTP layer gathers its embedding shards with it
    (``MultiTokenPredictionLayer._concat_embeddings``).
    """
    world_size = group.size()
    if world_size == 1:
        return input_
    dim_size = list(input_.size())
    dim_size[0] = dim_size[0] * world_size
    output = torch.empty(dim_size, dtype=input_.dtype, device=input_.device)
    torch.distributed.all_gather_into_tensor(output, input_.contiguous(), group=group)
    tensor_list = output.chunk(world_size, dim=0)
    return torch.cat(tensor_list, dim=-1).contiguous()


@contextlib.contextmanager
def cpu_shims() -> Generator[None]:
    """Patch the CUDA-only spots hit by building and running a local-spec GPTModel on CPU.

    Reversible: the original methods are restored on exit (``pytest.MonkeyPatch`` undo).
    Patched: ``GlobalMemoryBuffer.get_tensor`` (attention scratch buffer),
    ``CudaRNGStatesTracker.fork`` (dropout RNG),
    ``MTPLossLoggingHelper.save_metrics_to_tracker`` (MTP loss logging, only reached by models
    with an MTP block) and ``mappings._gather_along_last_dim`` (only reached with tensor
    parallelism, by the MTP layer). Deliberately NOT patched, because these tests never reach them:

    * ``transformer.utils.get_default_causal_mask`` (allocates on CUDA) -- only used when no
      attention mask is passed; :func:`forward_backward` always passes one.
    * ``model_parallel_cuda_manual_seed`` -- not patched but not called on CPU-only machines;
      see :func:`build_gpt_model`.
    * The MoE router and token dispatcher (``TopKRouter.gating`` moves its weight to
      ``torch.cuda.current_device()``; the aux-loss and dispatch code allocate there): MoE
      models are only *built* on the CPU, their forward pass runs in the GPU tests.
    """
    with pytest.MonkeyPatch.context() as mp:
        mp.setattr(GlobalMemoryBuffer, "get_tensor", _get_tensor_on_cpu)
        mp.setattr(CudaRNGStatesTracker, "fork", _fork_without_cuda_rng)
        mp.setattr(
            MTPLossLoggingHelper,
            "save_metrics_to_tracker",
            staticmethod(_save_mtp_metrics_on_loss_device),
        )
        mp.setattr(mappings, "_gather_along_last_dim", _gather_along_last_dim_on_input_device)
        yield


@contextlib.contextmanager
def fresh_mtp_tracker() -> Generator[dict[str, Any]]:
    """Give ``MTPLossLoggingHelper`` an empty tracker dict for the block; restore the old one.

    The tracker is a class attribute shared by every model in the process and it accumulates
    (``+=``) across forward passes until the training loop resets it, so each measured pass
    gets its own, which is yielded: after an MTP forward pass in training mode,
    ``tracker["loss_values"][k]`` holds the loss of MTP layer ``k``.
    """
    saved = MTPLossLoggingHelper.tracker
    tracker: dict[str, Any] = {}
    MTPLossLoggingHelper.tracker = tracker
    try:
        yield tracker
    finally:
        MTPLossLoggingHelper.tracker = saved


# --------------------------------------------------------------------------------------------
# Model building and running
# --------------------------------------------------------------------------------------------

LayerSpec = ModuleSpec | TransformerBlockSubmodules
"""What ``GPTModel(transformer_layer_spec=...)`` takes: one layer spec used for every layer, or a
block spec (``get_gpt_decoder_block_spec``) with a spec per layer and the final norm."""


def make_config(
    *,
    normalization: Normalization = "LayerNorm",
    qk_layernorm: bool = False,
    qk_l2_norm: bool = False,
    use_cpu_initialization: bool = True,
    **overrides: Any,
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
    ``overrides`` are further ``TransformerConfig`` fields (e.g. ``num_layers``,
    ``num_query_groups``, ``num_moe_experts``, ``mtp_num_layers``); they win over the above.
    """
    fields: dict[str, Any] = dict(
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
    fields.update(overrides)
    return TransformerConfig(**fields)


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
    layer_spec: LayerSpec,
    config: TransformerConfig,
    *,
    mtp_block_spec: MultiTokenPredictionBlockSubmodules | None = None,
    device: torch.device = DEVICE_CPU,
    seed: int = SEED,
) -> GPTModel:
    """Build a ``GPTModel`` from ``layer_spec`` with a fixed seed and move it to ``device``.

    ``position_embedding_type="learned_absolute"`` (a plain embedding table) is used because it
    works on the CPU, unlike rotary embeddings, which allocate on CUDA in ``forward``. Input
    and output embeddings are untied so both weights are compared separately.
    ``mtp_block_spec`` (from ``get_gpt_mtp_block_spec``) adds an MTP block; the config must
    then set ``mtp_num_layers``. (``GPTModel`` annotates the parameter ``ModuleSpec`` but
    passes it to ``MultiTokenPredictionBlock(spec=...)``, which takes the submodules.)
    """
    seed_everything(seed)
    model = GPTModel(
        config=config,
        transformer_layer_spec=layer_spec,
        vocab_size=VOCAB_SIZE,
        max_sequence_length=SEQ_LEN,
        position_embedding_type="learned_absolute",
        share_embeddings_and_output_weights=False,
        mtp_block_spec=mtp_block_spec,  # pyright: ignore[reportArgumentType]
    )
    # Megatron leaves some submodules (torch norms, position embeddings) on the CPU even with
    # on-device initialisation; training code moves the whole model afterwards, as here.
    return model.to(device)


@dataclass(frozen=True)
class RunResult:
    """What building (and maybe running) one model produced, all detached and on the CPU."""

    state_dict: dict[str, Any]
    """``model.state_dict()`` before the pass (tensors cloned; megatron adds ``_extra_state``)."""
    module_types: dict[str, type]
    """``type(module)`` for every entry of ``named_modules()``: the model's class tree."""
    module_attributes: dict[str, dict[str, Any]]
    """Per module (by ``named_modules()`` name): its public attributes of a plain type (bool,
    int, float, str, enum, None), e.g. ``attn_mask_type``, ``layer_number``, head counts.
    Catches spec parameters that change neither the weights nor, on the tests' inputs, the
    numbers (the attention mask type is moot when a mask is passed)."""
    logits: torch.Tensor | None = None
    """Output of ``GPTModel.forward`` without labels: ``[batch, seq, vocab]`` (with tensor
    parallelism: this rank's vocab shard, or all of it once gathered). None: not run."""
    grads: dict[str, torch.Tensor | None] | None = None
    """``param.grad`` by ``named_parameters()`` name after ``loss.backward()``. None: not run."""
    lm_loss: torch.Tensor | None = None
    """Per-token language-model loss ``[batch, seq]`` that ``GPTModel.forward`` returns when
    given labels (only :func:`forward_backward_with_labels` passes labels)."""
    mtp_losses: torch.Tensor | None = None
    """``[mtp_num_layers]``: the loss of each MTP layer in that labelled pass, as recorded in
    ``MTPLossLoggingHelper.tracker["loss_values"]`` (its backward reaches the model through
    ``MTPLossAutoScaler``, so it is in the gradients too)."""


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


def fixed_labels(input_ids: torch.Tensor) -> torch.Tensor:
    """Next-token labels for :func:`fixed_batch`: ``input_ids`` shifted left, wrapped around."""
    return torch.roll(input_ids, shifts=-1, dims=1)


def _detached_cpu(value: Any) -> Any:
    """Clone tensors to the CPU (detached); leave anything else (e.g. ``None`` extra state)."""
    return value.detach().to(DEVICE_CPU, copy=True) if isinstance(value, torch.Tensor) else value


_PLAIN_TYPES = (bool, int, float, str, enum.Enum, type(None))


def _plain_attributes(module: torch.nn.Module) -> dict[str, Any]:
    return {
        key: value
        for key, value in vars(module).items()
        if not key.startswith("_") and isinstance(value, _PLAIN_TYPES)
    }


def collect_model(model: torch.nn.Module) -> RunResult:
    """The built model only: class tree, plain attributes, detached CPU copy of the state dict."""
    return RunResult(
        state_dict={key: _detached_cpu(value) for key, value in model.state_dict().items()},
        module_types={name: type(mod) for name, mod in model.named_modules()},
        module_attributes={name: _plain_attributes(mod) for name, mod in model.named_modules()},
    )


def forward_backward(model: GPTModel) -> RunResult:
    """Run one forward and backward pass of ``model`` on :func:`fixed_batch`.

    The loss is next-token cross entropy, computed in plain torch on the logits (so the logits
    themselves are returned and compared too); every parameter gets a gradient from it.
    Only for models whose logits are not vocab-sharded (tensor-parallel size 1).
    """
    built = collect_model(model)
    device = next(model.parameters()).device
    input_ids, position_ids, attention_mask = fixed_batch(device)
    model.zero_grad(set_to_none=True)
    logits = model(input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask)
    loss = torch.nn.functional.cross_entropy(
        logits[:, :-1].reshape(-1, VOCAB_SIZE).float(), input_ids[:, 1:].reshape(-1)
    )
    loss.backward()
    grads = {name: _detached_cpu(param.grad) for name, param in model.named_parameters()}
    return RunResult(
        state_dict=built.state_dict,
        module_types=built.module_types,
        module_attributes=built.module_attributes,
        logits=_detached_cpu(logits),
        grads=grads,
    )


def forward_backward_with_labels(model: GPTModel) -> RunResult:
    """Run ``model`` the way training does (with labels) and once more for the logits.

    1. Training-mode forward with :func:`fixed_labels`: ``GPTModel.forward`` returns the
       per-token language-model loss ``[batch, seq]`` (vocab-parallel cross entropy, so this
       also works with vocab-sharded logits). With an MTP block, ``process_mtp_loss`` computes
       each MTP layer's loss, records it through ``MTPLossLoggingHelper.save_metrics_to_tracker``
       (read back from a :func:`fresh_mtp_tracker`) and attaches it to the hidden states with
       ``MTPLossAutoScaler``, so ``lm_loss.mean().backward()`` also back-propagates the MTP
       losses (scaled by ``mtp_loss_scaling_factor / mtp_num_layers``) into the MTP block.
    2. A forward pass without labels, under ``no_grad``, for the logits (this rank's vocab
       shard under tensor parallelism).
    """
    built = collect_model(model)
    device = next(model.parameters()).device
    input_ids, position_ids, attention_mask = fixed_batch(device)
    labels = fixed_labels(input_ids)
    model.zero_grad(set_to_none=True)
    with fresh_mtp_tracker() as tracker:
        lm_loss = model(
            input_ids=input_ids,
            position_ids=position_ids,
            attention_mask=attention_mask,
            labels=labels,
        )
        mtp_losses = tracker.get("loss_values")
        lm_loss.float().mean().backward()
    grads = {name: _detached_cpu(param.grad) for name, param in model.named_parameters()}
    with torch.no_grad(), fresh_mtp_tracker():
        logits = model(
            input_ids=input_ids, position_ids=position_ids, attention_mask=attention_mask
        )
    return RunResult(
        state_dict=built.state_dict,
        module_types=built.module_types,
        module_attributes=built.module_attributes,
        logits=_detached_cpu(logits),
        grads=grads,
        lm_loss=_detached_cpu(lm_loss),
        mtp_losses=_detached_cpu(mtp_losses),
    )


def build_and_run(
    layer_spec: LayerSpec,
    config: TransformerConfig,
    *,
    mtp_block_spec: MultiTokenPredictionBlockSubmodules | None = None,
    device: torch.device = DEVICE_CPU,
    seed: int = SEED,
    with_labels: bool = False,
) -> RunResult:
    """Build a model from the specs and run it on ``device``: :func:`forward_backward`, or
    :func:`forward_backward_with_labels` with ``with_labels`` (needed to get MTP losses).

    CPU runs get :func:`cpu_shims`; CUDA runs get none. Requires :func:`distributed_state`.
    """
    shims = cpu_shims() if device.type == "cpu" else contextlib.nullcontext()
    with shims:
        model = build_gpt_model(
            layer_spec, config, mtp_block_spec=mtp_block_spec, device=device, seed=seed
        )
        return forward_backward_with_labels(model) if with_labels else forward_backward(model)


def build_only(
    layer_spec: LayerSpec,
    config: TransformerConfig,
    *,
    mtp_block_spec: MultiTokenPredictionBlockSubmodules | None = None,
    seed: int = SEED,
) -> RunResult:
    """Build a model on the CPU and return :func:`collect_model` of it (no forward pass)."""
    with cpu_shims():
        return collect_model(
            build_gpt_model(layer_spec, config, mtp_block_spec=mtp_block_spec, seed=seed)
        )


# --------------------------------------------------------------------------------------------
# Exact comparisons
# --------------------------------------------------------------------------------------------


def assert_same_module(first: torch.nn.Module, second: torch.nn.Module) -> None:
    """Same class tree and exactly equal state (``_extra_state`` entries compared with ==)."""
    assert [type(m) for m in first.modules()] == [type(m) for m in second.modules()]
    first_state, second_state = first.state_dict(), second.state_dict()
    assert first_state.keys() == second_state.keys()
    for key, value in first_state.items():
        if isinstance(value, torch.Tensor):
            assert torch.equal(value, second_state[key]), key
        else:  # TE-style `_extra_state` entries are None for local modules
            assert value == second_state[key], key


def assert_same_value(name: str, generated: Any, upstream: Any) -> None:
    """Tensors: same dtype, shape and exact values; anything else (``_extra_state``): equal."""
    if isinstance(upstream, torch.Tensor):
        assert isinstance(generated, torch.Tensor), f"{name}: generated is {type(generated)}"
        assert generated.dtype == upstream.dtype, f"{name}: dtype differs"
        assert generated.shape == upstream.shape, f"{name}: shape differs"
        assert torch.equal(generated, upstream), f"{name}: values differ"
    else:
        assert generated == upstream, f"{name}: {generated!r} != {upstream!r}"


def assert_identical_models(generated: RunResult, upstream: RunResult) -> None:
    """Assert the same class tree, plain module attributes and state dict (keys, order,
    dtypes, values)."""
    # Class tree first: a wrong module type is the most informative failure.
    mismatched_types = {
        name: (generated.module_types.get(name), upstream_type)
        for name, upstream_type in upstream.module_types.items()
        if generated.module_types.get(name) is not upstream_type
    }
    assert not mismatched_types, f"module (generated, upstream) types differ: {mismatched_types}"
    assert list(generated.module_types) == list(upstream.module_types), "module names differ"
    mismatched_attributes = {
        name: (generated.module_attributes[name], attributes)
        for name, attributes in upstream.module_attributes.items()
        if generated.module_attributes[name] != attributes
    }
    assert (
        not mismatched_attributes
    ), f"module (generated, upstream) attributes differ: {mismatched_attributes}"

    # Same keys in the same order (the order is the construction order).
    assert list(generated.state_dict) == list(upstream.state_dict), "state_dict keys differ"
    for key, upstream_value in upstream.state_dict.items():
        assert_same_value(f"state_dict[{key}]", generated.state_dict[key], upstream_value)


def assert_identical_runs(generated: RunResult, upstream: RunResult) -> None:
    """Assert that two runs came from the same model and computed the same thing, exactly."""
    assert_identical_models(generated, upstream)
    assert upstream.logits is not None and upstream.grads is not None, "upstream was not run"
    assert generated.grads is not None, "generated was not run"

    assert_same_value("logits", generated.logits, upstream.logits)
    assert_same_value("lm_loss", generated.lm_loss, upstream.lm_loss)
    assert_same_value("mtp_losses", generated.mtp_losses, upstream.mtp_losses)

    assert list(generated.grads) == list(upstream.grads), "parameter names differ"
    missing = [name for name, grad in upstream.grads.items() if grad is None]
    # Otherwise the gradient comparison would silently skip those parameters.
    assert not missing, f"parameters without a gradient: {missing}"
    for name, upstream_grad in upstream.grads.items():
        assert_same_value(f"grad[{name}]", generated.grads[name], upstream_grad)
