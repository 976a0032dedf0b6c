"""Parity: the generated local GPT layer spec builds exactly the model upstream's spec builds.

For every cell of the matrix, two 2-layer ``GPTModel``s are built with the same config and seed,
one from ``generated.megatron_core.gpt_specs.get_gpt_layer_local_spec`` and one from upstream's
``megatron.core.models.gpt.gpt_layer_specs.get_gpt_layer_local_spec``, and run forward and
backward on the same tokens. They must agree exactly (``torch.equal``, no tolerance): module
class tree, state-dict keys, shapes and values, logits and gradients. The class tree is what
catches a wrong module whose parameters happen to look alike; values catch a different
construction order (initialisation draws from the RNG in module order).
"""

from __future__ import annotations

from collections.abc import Generator
from dataclasses import dataclass

import pytest
import torch
from megatron.core.models import backends
from megatron.core.models.gpt import gpt_layer_specs as upstream_specs
from megatron.core.transformer.spec_utils import ModuleSpec
from megatron.core.transformer.transformer_config import TransformerConfig

from generated.megatron_core import gpt_specs as generated_specs
from tests.megatron_cpu import Normalization, assert_identical_runs, build_and_run, make_config


@dataclass(frozen=True)
class SpecCase:
    """One cell of the matrix: the spec factory's keyword arguments (also set on the config)."""

    normalization: Normalization
    qk_layernorm: bool = False
    qk_l2_norm: bool = False

    @property
    def id(self) -> str:
        """Readable pytest id, e.g. ``RMSNorm-qk_layernorm``."""
        flags = [name for name in ("qk_layernorm", "qk_l2_norm") if getattr(self, name)]
        return "-".join([self.normalization, *flags])


CASES: list[SpecCase] = [
    SpecCase("LayerNorm"),
    SpecCase("LayerNorm", qk_layernorm=True),
    SpecCase("RMSNorm"),
    SpecCase("RMSNorm", qk_layernorm=True),
    SpecCase("LayerNorm", qk_l2_norm=True),
]
CASE_PARAMS = [pytest.param(case, id=case.id) for case in CASES]


def upstream_local_spec(case: SpecCase, monkeypatch: pytest.MonkeyPatch) -> ModuleSpec:
    """Upstream's local layer spec for ``case``, as a fresh process would build it.

    ``LocalSpecProvider.layer_norm(rms_norm=True)`` rebinds the module global
    ``megatron.core.models.backends.LNImpl`` to ``WrappedTorchNorm`` and never restores it, so
    after any RMSNorm spec every later LayerNorm spec in the process gets ``WrappedTorchNorm``
    too. That only shows where apex is installed (``LNImpl`` starts as ``FusedLayerNorm``); the
    monkeypatch undoes it at teardown so each cell is independent of test order.
    """
    monkeypatch.setattr(backends, "LNImpl", backends.LNImpl)
    return upstream_specs.get_gpt_layer_local_spec(
        qk_layernorm=case.qk_layernorm,
        normalization=case.normalization,
        qk_l2_norm=case.qk_l2_norm,
    )


def generated_local_spec(case: SpecCase) -> ModuleSpec:
    """The generated module's local layer spec for ``case`` (keyword-only API)."""
    return generated_specs.get_gpt_layer_local_spec(
        qk_layernorm=case.qk_layernorm,
        normalization=case.normalization,
        qk_l2_norm=case.qk_l2_norm,
    )


def compare_generated_with_upstream(
    case: SpecCase, device: torch.device, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Build both models for ``case`` on ``device`` (fresh config each) and compare the runs."""

    def new_config() -> TransformerConfig:
        # A fresh config per model, so nothing one build might store on it leaks into the other.
        return make_config(
            normalization=case.normalization,
            qk_layernorm=case.qk_layernorm,
            qk_l2_norm=case.qk_l2_norm,
            # On a GPU, initialise on the device (the CUDA RNG tracker path) as training does.
            use_cpu_initialization=device.type == "cpu",
        )

    upstream = build_and_run(upstream_local_spec(case, monkeypatch), new_config(), device=device)
    generated = build_and_run(generated_local_spec(case), new_config(), device=device)
    assert_identical_runs(generated, upstream)


@pytest.mark.usefixtures("megatron_parallel_state")
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_generated_local_spec_builds_identical_model_on_cpu(
    case: SpecCase, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Generated and upstream local specs give identical models, logits and gradients (CPU)."""
    compare_generated_with_upstream(case, torch.device("cpu"), monkeypatch)


@pytest.fixture
def deterministic_cuda(monkeypatch: pytest.MonkeyPatch) -> Generator[None]:
    """Ask torch for deterministic CUDA kernels for one test, and restore the previous mode.

    Two identical models must give bitwise-identical gradients, which atomics-based CUDA
    kernels do not guarantee. ``warn_only`` because some op might lack a deterministic
    variant; cuBLAS reads ``CUBLAS_WORKSPACE_CONFIG`` when its handle is first created, so the
    variable only helps if no earlier test in the process ran a CUDA matmul.
    """
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_enabled = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield
    finally:
        torch.use_deterministic_algorithms(was_enabled, warn_only=was_warn_only)


@pytest.mark.gpu
@pytest.mark.usefixtures("megatron_parallel_state")
@pytest.mark.parametrize("case", CASE_PARAMS)
def test_generated_local_spec_builds_identical_model_on_gpu(
    case: SpecCase, monkeypatch: pytest.MonkeyPatch, request: pytest.FixtureRequest
) -> None:
    """Same comparison on a CUDA device, without any CPU shim; skipped where there is none."""
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device: torch.cuda.is_available() is False on this machine")
    request.getfixturevalue("deterministic_cuda")
    compare_generated_with_upstream(case, torch.device("cuda"), monkeypatch)
