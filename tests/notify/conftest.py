"""Real local HTTP endpoints and run stores for the notifier tests (no network beyond loopback)."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from typing import Any

import pytest

from tests.httpserver import Endpoint, http_server, refused_port  # noqa: F401 - fixtures
from tuneguard.config.schema import NotifyConfig
from tuneguard.store.run_store import RunStore


@pytest.fixture
def store(tmp_path) -> Iterator[RunStore]:
    st = RunStore(tmp_path / "run", create=True)
    yield st
    st.close()


def _make_cfg(*urls: str, **kw: Any) -> NotifyConfig:
    kw.setdefault("timeout_s", 2.0)
    kw.setdefault("retries", 0)
    return NotifyConfig(urls=list(urls), **kw)


def _wait_events(store: RunStore, type_: str, n: int, timeout: float = 10.0) -> list[dict[str, Any]]:
    end = time.monotonic() + timeout
    while True:
        evs = store.events(type_)
        if len(evs) >= n or time.monotonic() > end:
            return evs
        time.sleep(0.02)


@pytest.fixture
def make_cfg() -> Callable[..., NotifyConfig]:
    """NotifyConfig for the given URLs with short timeouts and no retries unless told."""
    return _make_cfg


@pytest.fixture
def wait_events() -> Callable[..., list[dict[str, Any]]]:
    """Poll the store until `n` events of a type are recorded (or a timeout)."""
    return _wait_events
