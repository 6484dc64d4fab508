"""The run store's per-step records (`steps`): what a resumed run replays into its guards
(tuneguard.guard.records.replay_history), kept out of the Trainer's log history."""

from __future__ import annotations

import math
import sqlite3
from pathlib import Path

from tuneguard.guard.records import STEPS_KEY, replay_history
from tuneguard.store.run_store import RunStore


def test_steps_round_trip_with_non_finite_values_and_truncate(tmp_path: Path) -> None:
    with RunStore(tmp_path, create=True) as store:
        store.log_steps(2, [[1, 2.5, 1.0, 100], [2, float("nan"), float("inf"), 90]])
        store.log_steps(3, [[3, 2.25, None, None]], at_eval=True)
        rows = store.step_records()
        assert [(log, ev, r[0], r[3]) for log, ev, r in rows] == [(2, False, 1, 100), (2, False, 2, 90),
                                                                  (3, True, 3, None)]
        assert math.isnan(rows[1][2][1]) and rows[1][2][2] == math.inf
        assert [r[0] for _, _, r in store.step_records(up_to=2)] == [1, 2]
        store.log_steps(3, [[3, 2.0, 0.5, 80]])  # the step again after a resume: replaced
        assert store.step_records()[-1] == (3, False, [3, 2.0, 0.5, 80])
        store.truncate_after(1)
        assert [r[0] for _, _, r in store.step_records()] == [1]


def test_replay_merges_the_trimmed_history_with_the_store(tmp_path: Path) -> None:
    """Training logs trimmed from the history come back from the store, each with its steps,
    before the evaluation of the same step; an old entry that carries its own steps keeps them;
    nothing after the checkpoint's step."""
    with RunStore(tmp_path, create=True) as store:
        store.log_steps(2, [[1, 3.0, 1.0, 10], [2, 2.0, 1.0, 10]])
        store.log_steps(4, [[3, 1.5, 1.0, 10], [4, 1.0, 1.0, 10]])
        store.log_steps(5, [[5, 0.9, 1.0, 10]], at_eval=True)
        store.log_steps(6, [[6, 0.8, 1.0, 10]])
        history = [{"loss": 2.5, "step": 2, STEPS_KEY: [[1, 3.0, 1.0, 10], [2, 2.0, 1.0, 10]]},
                   {"eval_loss": 1.2, "step": 4}, {"eval_loss": 1.1, "step": 5}, {"loss": 1.25, "step": 4}]
        got = replay_history(history, 5, store)
    assert [(e["step"], "eval_loss" in e, [r[0] for r in e.get(STEPS_KEY, [])]) for e in got] == \
        [(2, False, [1, 2]), (4, False, [3, 4]), (4, True, []), (5, True, [5])]
    # Another process reads the same records from RUN_DIR/run.db; without a store, the history as it is.
    assert replay_history(history, 5, run_dir=tmp_path) == got
    assert replay_history(history, 5, run_dir=tmp_path / "none") == [e for e in history if e["step"] <= 5]


def test_a_store_written_before_the_steps_table_has_none(tmp_path: Path) -> None:
    with RunStore(tmp_path, create=True):
        pass
    with sqlite3.connect(tmp_path / "run.db") as conn:
        conn.execute("DROP TABLE steps")
    with RunStore(tmp_path, readonly=True) as store:
        assert store.step_records() == []
