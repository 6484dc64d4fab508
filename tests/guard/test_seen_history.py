"""SeenHistory: examples seen per step when a run resumes with another layout (processes,
batch, accumulation), saved in each checkpoint and read back on resume or rollback."""

from __future__ import annotations

import json

from tuneguard.guard.seen import SEEN_FILE, SeenHistory, SeenPlan, history_at_start

# 100 rows; 2 processes x batch 4 (8 per step, 13 steps per epoch), then 1 process (4 per step, 25).
TWO = SeenPlan(rows=100, examples_per_step=8, steps_per_epoch=13)
ONE = SeenPlan(rows=100, examples_per_step=4, steps_per_epoch=25)


def test_steps_after_a_resume_count_the_new_layout_and_before_it_the_old():
    h = SeenHistory.of(TWO).resumed(5, ONE)
    assert [h.examples(s) for s in (0, 1, 5, 6, 7)] == [0, 8, 40, 44, 48]
    # The resumed Trainer places step 5 in its epoch by its own 25 steps per epoch: steps 6..25
    # finish that epoch (4 each), step 26 starts the next one from its first row.
    assert h.examples(25) == 40 + 20 * 4
    assert h.examples(26) == 40 + 20 * 4 + 4
    assert h.at(7).passes == 0.48 and h.at(7).rows == 100


def test_the_short_last_step_of_an_epoch_counts_only_its_rows_in_each_segment():
    h = SeenHistory.of(TWO).resumed(20, ONE)
    # 2 processes: steps 1..13 make epoch 1 (12 x 8 + 4 = 100), steps 14..20 take 7 x 8 = 56.
    assert h.examples(13) == 100 and h.examples(20) == 156
    # 1 process from step 20 (its step 20 sits in its epoch 1 at 20 x 4 = 80): 5 more steps to 100.
    assert h.examples(25) == 156 + 20 and h.examples(26) == 156 + 20 + 4


def test_a_rollback_or_resume_before_a_later_segment_drops_it():
    h = SeenHistory.of(TWO).resumed(5, ONE).resumed(9, TWO)
    assert h.examples(10) == 40 + 4 * 4 + 8
    back = h.resumed(3, ONE)  # back to step 3, before both later layouts
    assert back.segments == ((0, TWO), (3, ONE))
    assert back.examples(5) == 24 + 8


def test_the_same_layout_continues_its_segment():
    h = SeenHistory.of(TWO).resumed(5, TWO).resumed(7, ONE).resumed(9, ONE)
    assert [s for s, _ in h.segments] == [0, 7]


def test_the_history_round_trips_through_a_checkpoint_and_a_missing_one_counts_the_current_layout(tmp_path):
    ckpt = tmp_path / "checkpoint-5"
    ckpt.mkdir()
    SeenHistory.of(TWO).save(ckpt)
    assert json.loads((ckpt / SEEN_FILE).read_text())["segments"][0]["examples_per_step"] == 8
    resumed = history_at_start(tmp_path, 5, ONE)
    assert resumed.segments == ((0, TWO), (5, ONE)) and resumed.examples(6) == 44
    # A checkpoint from before the history was saved: the old arithmetic (every step at 4).
    (tmp_path / "checkpoint-9").mkdir()
    assert history_at_start(tmp_path, 9, ONE).examples(10) == 40
    assert history_at_start(tmp_path, 0, ONE).segments == ((0, ONE),)
    (ckpt / SEEN_FILE).write_text('{"segments": [{"from_step": 3}]}')
    assert SeenHistory.load(ckpt) is None


def test_the_guards_count_in_the_runs_history(tmp_path):
    from guard_helpers import make_ctx, trainer_bits

    from tuneguard.guard import GuardCallback

    ctx = make_ctx(tmp_path)
    ctx.seen = SeenHistory.of(TWO).resumed(5, ONE)  # MetricsCallback sets it at train begin
    cb = GuardCallback(ctx)
    cb.on_train_begin(*trainer_bits(0))
    assert cb.seen(7).examples == 48 and cb.seen(7).passes == 0.48
    ctx.store.close()
