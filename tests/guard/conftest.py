"""Fixtures of the guard tests: a RunContext on a real RunStore, the tiny tokenizer."""

from __future__ import annotations

import pytest
import torch
from guard_helpers import make_ctx

from tuneguard.context import RunContext


@pytest.fixture
def ctx(tmp_path) -> RunContext:
    c = make_ctx(tmp_path)
    yield c
    c.store.close()


@pytest.fixture(scope="session")
def tokenizer():
    from tuneguard.model.load import build_tiny_tokenizer

    return build_tiny_tokenizer()


@pytest.fixture
def one_thread():
    """Tiny models run much faster on one thread than on a shared, oversubscribed CPU."""
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(old)
