"""Shared pytest fixtures."""

from collections.abc import Generator

import pytest
import torch

from tests.megatron_cpu import distributed_state


@pytest.fixture(scope="session")
def megatron_parallel_state() -> Generator[None]:
    """A one-process gloo world with megatron's model-parallel groups (TP=1, PP=1).

    Set up once per session (process-group setup is slow-ish and global) and torn down at the
    end. Any test that builds a megatron model must request it.
    """
    with distributed_state():
        yield


@pytest.fixture
def cuda_device(monkeypatch: pytest.MonkeyPatch) -> Generator[torch.device]:
    """The CUDA device, with deterministic kernels for the test; skip where there is none.

    Bitwise-equal gradients need deterministic kernels (no atomics-based reductions).
    ``warn_only`` because some op might lack a deterministic variant; cuBLAS reads
    ``CUBLAS_WORKSPACE_CONFIG`` when its handle is first created.
    """
    if not torch.cuda.is_available():
        pytest.skip("needs a CUDA device: torch.cuda.is_available() is False on this machine")
    monkeypatch.setenv("CUBLAS_WORKSPACE_CONFIG", ":4096:8")
    was_enabled = torch.are_deterministic_algorithms_enabled()
    was_warn_only = torch.is_deterministic_algorithms_warn_only_enabled()
    torch.use_deterministic_algorithms(True, warn_only=True)
    try:
        yield torch.device("cuda")
    finally:
        torch.use_deterministic_algorithms(was_enabled, warn_only=was_warn_only)
