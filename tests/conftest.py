"""Shared pytest fixtures."""

from collections.abc import Generator

import pytest

from tests.megatron_cpu import distributed_state


@pytest.fixture(scope="session")
def megatron_parallel_state() -> Generator[None]:
    """A one-process gloo world with megatron's model-parallel groups (TP=1, PP=1).

    Set up once per session (process-group setup is slow-ish and global) and torn down at the
    end. Any test that builds a megatron model must request it.
    """
    with distributed_state():
        yield
