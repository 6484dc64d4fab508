"""How the `tuneguard` process ends: whatever a command leaves in memory is frozen out of the
garbage collector first, so the interpreter's shutdown does not walk it again (a `train` took
6-8 s to return after its last line, and under torchrun the launcher killed rank 0 while it
was still exiting)."""

from __future__ import annotations

import gc
import sys

import pytest

from tuneguard.cli.main import run


@pytest.mark.parametrize("argv", [["presets"], ["status"]])  # a command that succeeds, one that is refused
def test_the_cli_freezes_what_it_leaves_before_the_process_exits(argv, monkeypatch, capsys):
    monkeypatch.setattr(sys, "argv", ["tuneguard", *argv])
    gc.unfreeze()
    try:
        try:
            run()
        except SystemExit:
            pass
        assert gc.get_freeze_count() > 0
    finally:
        gc.unfreeze()
