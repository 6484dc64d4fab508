"""One torch thread for tests that train tiny models: faster on a shared, oversubscribed CPU
(OpenMP threads spin while waiting for each other) and deterministic."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

import torch


@contextmanager
def one_torch_thread() -> Iterator[None]:
    old = torch.get_num_threads()
    torch.set_num_threads(1)
    try:
        yield
    finally:
        torch.set_num_threads(old)
