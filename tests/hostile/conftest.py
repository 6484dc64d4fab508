"""The hostile suite's world: one tree of data files, configs and run directories in every
state, built once per session, and the checks every case makes.

Every case runs a command against this tree and asserts: its exit code, exactly one
readable `error:` line when it fails (no traceback, no Rich box), and that nothing in the
tree changed except the command's own outputs. Most cases run in this process through the
real Typer app (no interpreter start per case); the ones where a real process matters
(signals, a live trainer) use subprocesses.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest

from tests.helpers.hostile import Result, World, _build, changed, snapshot
from tests.helpers.threads import one_torch_thread


# --- the world ----------------------------------------------------------------------------


@pytest.fixture(scope="session")
def world(tmp_path_factory: pytest.TempPathFactory) -> World:
    with one_torch_thread():
        return _build(tmp_path_factory.mktemp("world"))


@pytest.fixture
def tg(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> Iterator[Callable[..., Result]]:
    """`tuneguard ARGS` through the real Typer app in this process, from an empty working
    directory; the logging and warning set-up the CLI does is undone afterwards."""
    import logging
    import warnings

    import transformers
    from typer.testing import CliRunner

    from tuneguard.cli.main import app

    monkeypatch.chdir(tmp_path)
    root = logging.getLogger()
    handlers, level, verbosity = list(root.handlers), root.level, transformers.logging.get_verbosity()

    def invoke(*args: Any, env: dict[str, str] | None = None, input: str | None = None) -> Result:
        with warnings.catch_warnings():
            r = CliRunner().invoke(app, [str(a) for a in args], env=env, input=input)
        # Only a clean exit is allowed: any other exception is a crash (a traceback).
        assert r.exception is None or isinstance(r.exception, SystemExit), repr(r.exception)
        return Result(r.exit_code, r.stdout, r.stderr)

    yield invoke
    root.handlers[:] = handlers
    root.setLevel(level)
    transformers.logging.set_verbosity(verbosity)


@pytest.fixture
def unchanged(world: World) -> Iterator[Callable[..., None]]:
    """Call with the paths (relative to the world) a case may change; checked after the case."""
    before = snapshot(world.root)
    allowed: set[str] = set()

    def allow(*paths: Path | str) -> None:
        for p in paths:
            rel = Path(p).relative_to(world.root) if Path(p).is_absolute() else Path(p)
            allowed.add(str(rel))

    yield allow
    diff = changed(before, snapshot(world.root))
    unexpected = {d for d in diff if not any(d == a or d.startswith(a + "/") for a in allowed)}
    assert not unexpected, f"changed outside the command's outputs: {sorted(unexpected)}"


