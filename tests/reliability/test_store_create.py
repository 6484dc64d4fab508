"""A new run store appears on disk with its tables, so `status`/`watch` started at that
moment read an empty run, not "no such table" (a kill-and-resume soak once caught status
exiting 2 on a run.db that had no tables yet)."""

from __future__ import annotations

import sqlite3
from pathlib import Path
from typing import Any

import pytest

from tuneguard.store import run_store
from tuneguard.store.run_store import DB_NAME, RunStore


REAL_CONNECT = sqlite3.connect


def _tables(path: Path) -> set[str]:
    conn = REAL_CONNECT(f"file:{path}?mode=ro", uri=True)
    try:
        return {r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type='table'")}
    finally:
        conn.close()


def test_store_is_never_on_disk_without_its_tables(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """Every moment the store code opens a connection, a run.db on disk already has the tables."""
    seen: list[set[str]] = []
    def watching_connect(*args: Any, **kwargs: Any) -> sqlite3.Connection:
        conn = REAL_CONNECT(*args, **kwargs)
        db = tmp_path / "run" / DB_NAME
        if db.exists():
            seen.append(_tables(db))
        return conn

    monkeypatch.setattr(run_store.sqlite3, "connect", watching_connect)
    with RunStore(tmp_path / "run", create=True) as store:
        store.set_meta(owner="first")
    assert seen, "the store was never opened at its own path"
    assert all({"meta", "metrics", "findings", "events", "control"} <= t for t in seen), seen
    assert sorted(p.name for p in (tmp_path / "run").iterdir() if p.name.startswith(".")) == []


def test_second_creator_keeps_the_first_store(tmp_path: Path) -> None:
    """Creating a store where one exists opens it: nothing written before is lost."""
    with RunStore(tmp_path, create=True) as first:
        first.set_meta(owner="first")
    with RunStore(tmp_path, create=True) as second:
        assert second.meta()["owner"] == "first"
