"""Fixtures of the guard tests: a RunContext on a real RunStore, the tiny tokenizer."""

from __future__ import annotations

import pytest
from guard_helpers import make_ctx

from tuneguard.context import RunContext
from tests.helpers.threads import one_torch_thread


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
    with one_torch_thread():
        yield
