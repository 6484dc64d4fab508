"""The Notifier against real local HTTP endpoints through apprise's json:// plugin."""

from __future__ import annotations

import threading

import pytest

from tests.live import poll

from tuneguard.catalog import render
from tuneguard.findings import Finding
from tuneguard.notify import Notifier

STARTED = {"model": "builtin:tiny-gptj", "train_rows": 64, "eval_rows": 8, "max_steps": 20,
           "learning_rate": 1e-3, "batch_size": 4}
EVAL = {"step": 10, "max_steps": 20, "train_loss": 2.5, "eval_loss": 2.75, "best_eval_loss": 2.8}
FINISHED = {"steps": 20, "best_eval_loss": 2.6, "test_metrics": {"test_loss": 2.7}, "duration_s": 95}


def _url(port: int, path: str = "notify") -> str:
    return f"json://127.0.0.1:{port}/{path}"


def test_messages_arrive_in_order_in_english(http_server, store, make_cfg, wait_events) -> None:
    ep = http_server()
    n = Notifier(make_cfg(_url(ep.port)), store, [], run_name="tiny-run")
    n.notify("started", STARTED)
    n.notify("evaluation", EVAL, step=10)
    n.notify("finished", FINISHED, step=20)
    assert n.close(timeout=10) is True
    bodies = ep.bodies
    assert [b["title"] for b in bodies] == [
        "Training started · tiny-run", "Evaluation · tiny-run", "Training finished · tiny-run"]
    assert bodies[0]["message"].splitlines() == [
        "Run: tiny-run", "Model: builtin:tiny-gptj", "Training rows: 64", "Validation rows: 8",
        "Planned steps: 20", "Learning rate: 1.00e-03", "Batch size: 4"]
    assert "Validation loss: 2.75" in bodies[1]["message"]
    assert "New best (previous best 2.8, change -0.05)" in bodies[1]["message"]
    assert "Best validation loss: 2.6" in bodies[2]["message"]
    assert "Duration: 0:02 (h:mm)" in bodies[2]["message"]
    sent = store.events("notify_sent")
    assert [e["payload"] for e in sent] == [{"event": e, "scheme": "json"} for e in ("started", "evaluation", "finished")]
    assert [e["step"] for e in sent] == [None, 10, 20]
    assert store.events("notify_failed") == []


def test_thai_language_sends_thai_texts(http_server, store, make_cfg) -> None:
    ep = http_server()
    n = Notifier(make_cfg(_url(ep.port), language="th"), store, [], run_name="tiny-run")
    for ev, p in (("started", STARTED), ("evaluation", EVAL), ("finished", FINISHED)):
        n.notify(ev, p)
    assert n.close(timeout=10)
    titles = [b["title"] for b in ep.bodies]
    assert titles == ["เริ่มการฝึก · tiny-run", "การประเมินผล · tiny-run", "การฝึกเสร็จสิ้น · tiny-run"]
    assert "eval loss: 2.75" in ep.bodies[1]["message"]


def test_only_configured_events_and_serious_findings_are_sent(http_server, store, make_cfg) -> None:
    ep = http_server()
    n = Notifier(make_cfg(_url(ep.port), events=["finding", "finished"]), store, [], run_name="r")
    n.notify("started", STARTED)
    n.notify("finding", Finding(code="PLATEAU", severity="info", message="flat", step=5, source="guard"))
    n.notify("finding", Finding(code="LOSS_SPIKE", severity="warning", message="Loss jumped to 9.1.",
                                evidence={"loss": 9.1, "median": 2.2}, recommendation="Lower the learning rate.",
                                step=7, source="guard"))
    n.notify("finished", FINISHED)
    assert n.close(timeout=10)
    assert [b["title"] for b in ep.bodies] == ["Problem found · r", "Training finished · r"]
    assert "Code: LOSS_SPIKE" in ep.bodies[0]["message"]
    assert "Evidence: loss=9.1; median=2.2" in ep.bodies[0]["message"]


def test_server_error_is_retried_then_recorded(http_server, store, make_cfg) -> None:
    ep = http_server(default=(500, {}))
    n = Notifier(make_cfg(_url(ep.port), retries=2), store, [], run_name="r", backoff_s=0.05)
    n.notify("started", STARTED)
    n.close(timeout=10)
    assert len(ep.requests) == 3  # the first try and two retries
    failed = store.events("notify_failed")
    assert len(failed) == 1
    p = failed[0]["payload"]
    assert p["event"] == "started" and p["status"] == 500 and p["attempts"] == 3
    assert p["target"] == "json://***"
    assert "HTTP 500" in p["reason"]
    assert store.summary()["notify_failures"] == 1


def test_client_error_is_not_retried(http_server, store, make_cfg) -> None:
    ep = http_server(default=(400, {}))
    n = Notifier(make_cfg(_url(ep.port), retries=3), store, [], run_name="r", backoff_s=0.05)
    n.notify("started", STARTED)
    n.close(timeout=10)
    assert len(ep.requests) == 1
    assert store.events("notify_failed")[0]["payload"]["status"] == 400


def test_rate_limit_waits_for_retry_after(http_server, store, make_cfg) -> None:
    ep = http_server(responses=[(429, {"Retry-After": "1"})], default=(200, {}))
    n = Notifier(make_cfg(_url(ep.port), retries=3), store, [], run_name="r", backoff_s=5.0)
    n.notify("evaluation", EVAL)
    assert n.close(timeout=10)
    assert len(ep.requests) == 2
    assert [e["payload"]["event"] for e in store.events("notify_sent")] == ["evaluation"]
    assert store.events("notify_failed") == []


@pytest.mark.parametrize("first, wait", [((429, {"Retry-After": "1"}), (1.0, 1.0)),
                                         ((503, {}), (4.5, 5.5))])
def test_the_wait_before_a_retry_is_retry_after_else_the_backoff(http_server, first, wait) -> None:
    """The wait the delivery asks for (recorded, not timed): what the server said, else the
    backoff with its 10% jitter."""
    from tuneguard.notify.delivery import Delivery
    from tuneguard.notify.messages import Message
    from tuneguard.notify.secrets import Scrubber

    ep = http_server(responses=[first], default=(200, {}))
    url = _url(ep.port)
    delivery = Delivery([url], timeout_s=5, scrub=Scrubber([], [url]))
    waits: list[float] = []
    res = delivery.send(delivery.targets[0], Message("t", "body"), retries=3, backoff_s=5.0,
                        sleep=lambda s: waits.append(s) or True)
    assert res.ok and res.attempts == 2 and len(ep.requests) == 2
    assert len(waits) == 1 and wait[0] <= waits[0] <= wait[1], waits


def test_a_hung_endpoint_never_blocks_the_caller_or_close(http_server, store, make_cfg) -> None:
    """An endpoint that accepts and never answers, with a 60 s request timeout: 100 calls
    and close() return while the first request is still unanswered (events, not timings)."""
    ep = http_server(hang=True)
    n = Notifier(make_cfg(_url(ep.port), timeout_s=60, retries=2), store, [], run_name="r", backoff_s=0.05)
    calls_done = threading.Event()

    def caller() -> None:
        for step in range(100):
            n.notify("evaluation", {**EVAL, "step": step}, step=step)
        calls_done.set()

    threading.Thread(target=caller, daemon=True).start()
    assert calls_done.wait(60), "notify() waited on the network"
    assert ep.got_request.wait(10)
    assert ep.answered == 0  # the worker is still waiting on the first message
    assert n.close(timeout=0.5) is False  # gave up at its limit, not when the network answered
    assert ep.answered == 0 and len(ep.requests) == 1
    dropped = {(e["payload"]["event"], e["payload"]["reason"]): e["payload"]["count"]
               for e in store.events("notify_dropped")}
    assert dropped == {("evaluation", "flush time limit"): 99}  # the one in flight is not counted twice
    assert store.events("notify_failed") == []


def test_a_refused_endpoint_is_recorded_and_then_skipped(refused_port, store, make_cfg) -> None:
    n = Notifier(make_cfg(_url(refused_port), timeout_s=0.5, retries=2), store, [], run_name="r", backoff_s=0.05)
    for step in range(100):
        n.notify("evaluation", {**EVAL, "step": step}, step=step)
    # While the run goes on, a target that keeps refusing is skipped for a while (backoff);
    # only once the run ends are the remaining messages skipped outright (tested below).
    poll(lambda: any(f["payload"]["reason"].startswith("skipped: ") for f in store.events("notify_failed")),
         30, "a skip while the target is down")
    assert n.close(timeout=30)
    failed = store.events("notify_failed")
    assert failed and all(f["payload"]["target"] == "json://***" for f in failed)
    assert "connection refused" in failed[0]["payload"]["reason"]
    assert store.summary()["notify_failures"] == len(failed)
    # Every message is accounted for: tried and failed, or skipped while the target is down.
    assert len(failed) + sum(e["payload"]["count"] for e in store.events("notify_dropped")) == 100
    assert any(f["payload"]["reason"].startswith("skipped: ") for f in failed)
    # The record says it in Thai for a Thai report, from the same fields.
    first = failed[0]["payload"]
    assert render(first["text"], "th") == (f"ส่งการแจ้งเตือน evaluation ถึง json://*** ไม่สำเร็จหลังลอง {first['attempts']} "
                                           f"ครั้ง: {first['reason']}")
    skipped = next(f["payload"] for f in failed if f["payload"]["reason"].startswith("skipped: "))
    th = render(skipped["text"], "th")
    assert th.startswith("ข้ามการแจ้งเตือน evaluation ถึง json://*** หลังส่งไม่สำเร็จ 3 ครั้งติดกัน (ครั้งล่าสุด: ") and \
        th.endswith(" วินาที ข้อความนี้จะไม่ถูกส่งซ้ำ เพราะข้อความถัดไปแทนที่แล้ว"), th


def test_what_a_target_missed_while_down_is_sent_when_it_answers_again(refused_port, http_server, store,
                                                                       make_cfg, monkeypatch) -> None:
    """A phone must not lose a finding to a webhook that was down for a while: once the
    target answers again it gets what it missed, except the snapshots a later one replaced."""
    from tuneguard.notify import notifier

    monkeypatch.setattr(notifier, "BREAKER_FAILURES", 4)  # a short outage: the next message tries again
    n = Notifier(make_cfg(_url(refused_port)), store, [], run_name="r")
    n.notify("started", STARTED)
    n.notify("evaluation", EVAL, step=10)
    n.notify("finding", Finding(code="LOSS_SPIKE", severity="warning", message="Loss jumped to 9.1.", step=12,
                                source="guard"))
    poll(lambda: len(store.events("notify_failed")) == 3, 30, "three failed sends")
    ep = http_server(port=refused_port)  # the service is back
    n.notify("evaluation", {**EVAL, "step": 20}, step=20)
    poll(lambda: len(store.events("notify_sent")) == 3, 30, "the new message and the two missed ones")
    assert n.close(timeout=10)
    assert [b["title"] for b in ep.bodies] == [
        "Evaluation · r", "Training started · r", "Problem found · r"]
    assert "Code: LOSS_SPIKE" in ep.bodies[2]["message"]
    # What was missed says it is late (its step is old news by now); the new message does not.
    late = "Sent late: this message was missed while the service was unreachable.\n"
    assert [b["message"].startswith(late) for b in ep.bodies] == [False, True, True]
    assert [e["payload"]["event"] for e in store.events("notify_sent")] == ["evaluation", "started", "finding"]
    assert [e["payload"]["event"] for e in store.events("notify_failed")] == ["started", "evaluation", "finding"]


def test_full_queue_drops_oldest_progress_then_new_messages(http_server, store, make_cfg) -> None:
    ep = http_server(hang=True)
    n = Notifier(make_cfg(_url(ep.port), timeout_s=5, queue_size=3), store, [], run_name="r")
    n.notify("started", STARTED)
    assert ep.got_request.wait(5)  # the worker is now stuck on "started"
    n.notify("progress", {"step": 1})
    n.notify("evaluation", {**EVAL, "step": 2})
    n.notify("evaluation", {**EVAL, "step": 3})
    n.notify("evaluation", {**EVAL, "step": 4})  # full: the pending progress goes
    n.notify("finished", FINISHED)  # full, no progress left: this one goes
    assert n.close(timeout=0.3) is False
    dropped = {(e["payload"]["event"], e["payload"]["reason"]): e["payload"]["count"]
               for e in store.events("notify_dropped")}
    assert dropped == {("progress", "queue full"): 1, ("finished", "queue full"): 1,
                       ("evaluation", "flush time limit"): 3}
    assert {render(e["payload"]["text"], "th") for e in store.events("notify_dropped")} == {
        "ทิ้งการแจ้งเตือน progress 1 ข้อความ เพราะคิวเต็ม (notify.queue_size)",
        "ทิ้งการแจ้งเตือน finished 1 ข้อความ เพราะคิวเต็ม (notify.queue_size)",
        "การแจ้งเตือน evaluation 3 ข้อความส่งไม่ทันเวลาที่กำหนดตอนจบการรัน (notify.flush_timeout_s)"}


def test_progress_is_coalesced_and_rate_limited(http_server, store, make_cfg) -> None:
    ep = http_server(gate_first=True)
    now = [1000.0]
    n = Notifier(make_cfg(_url(ep.port), progress_interval_s=300, periodic_max_s=0), store, [], run_name="r",
                 clock=lambda: now[0])  # periodic_max_s 0: the wait stays 300 s
    n.notify("started", STARTED)
    assert ep.got_request.wait(5)  # the worker waits on the gated first request
    assert n.maybe_progress({"step": 1}) is False  # too soon after the start
    now[0] += 301
    assert n.maybe_progress({"step": 2, "max_steps": 10}) is True
    assert n.maybe_progress({"step": 3, "max_steps": 10}) is False
    n.notify("progress", {"step": 4, "max_steps": 10})  # coalesced with step 2, still pending
    now[0] += 301
    assert n.maybe_progress({"step": 5, "max_steps": 10}) is True
    ep.gate.set()
    assert n.close(timeout=10)
    titles = [b["title"] for b in ep.bodies]
    assert titles == ["Training started · r", "Progress · r"]
    assert "Step 5 of 10 (50%)" in ep.bodies[1]["message"]


def test_periodic_waits_double_up_to_the_cap_and_evaluations_share_them(http_server, store, make_cfg) -> None:
    """A run of days: progress and evaluation messages share one wait that doubles from
    progress_interval_s to periodic_max_s; the first evaluation is always sent, a skipped
    evaluation takes its QA samples with it, and findings are never held back."""
    ep = http_server()
    now = [0.0]
    n = Notifier(make_cfg(_url(ep.port), progress_interval_s=300, periodic_max_s=1000), store, [],
                 run_name="r", clock=lambda: now[0])
    sent = []
    for t in range(0, 5000, 50):  # a log every 50 s; an evaluation every 100 s until t=2000
        now[0] = float(t)
        step = t // 50
        if n.maybe_progress({"step": step, "max_steps": 100}, step=step):
            sent.append(("progress", t))
        if t % 100 == 0 and t < 2000:
            if n.maybe_evaluation({**EVAL, "step": step}, step=step):
                sent.append(("evaluation", t))
            n.notify("qa", {"step": step, "samples": []}, step=step)
    n.notify("finding", Finding("LOSS_SPIKE", "warning", "m", "r", {}, step=99), step=99)
    assert n.close(timeout=10)
    # Waits 300 -> 600 -> 1000 (capped); the first evaluation is sent at once, later ones may take
    # the slot after three quarters of the wait (450 of 600 -> t=500; 750 of 1000 -> t=1300),
    # progress after all of it once the evaluations stop (t=2300, 3300, 4300).
    assert sent == [("evaluation", 0), ("evaluation", 500), ("evaluation", 1300), ("progress", 2300),
                    ("progress", 3300), ("progress", 4300)]
    titles = [b["title"].split(" · ")[0] for b in ep.bodies]
    assert titles[:6] == ["Evaluation", "QA samples", "Evaluation", "QA samples", "Evaluation", "QA samples"]
    # Progress messages still pending when a newer one is queued are coalesced (the newest goes).
    assert titles[6:-1] and set(titles[6:-1]) == {"Progress"}
    assert titles[-1] == "Problem found" and "LOSS_SPIKE" in ep.bodies[-1]["message"]  # never held back


def test_every_evaluation_sends_each_one(http_server, store, make_cfg) -> None:
    ep = http_server()
    now = [0.0]
    n = Notifier(make_cfg(_url(ep.port), every_evaluation=True), store, [], run_name="r", clock=lambda: now[0])
    for step in range(1, 6):
        now[0] = step * 10.0
        assert n.maybe_evaluation({**EVAL, "step": step}, step=step) is True
    assert n.close(timeout=10)
    assert [b["title"] for b in ep.bodies] == ["Evaluation · r"] * 5


def test_without_urls_the_notifier_is_inert(store, make_cfg) -> None:
    n = Notifier(make_cfg(), store, [])
    assert not n.enabled
    n.notify("started", STARTED)
    assert n.maybe_progress({"step": 1}) is False
    assert n.close(timeout=1) is True
    assert store.events() == []


def test_unrecognised_url_is_recorded_and_others_still_work(http_server, store, make_cfg) -> None:
    ep = http_server()
    n = Notifier(make_cfg("nosuchscheme://secret-token-value", _url(ep.port)), store, [], run_name="r")
    n.notify("started", STARTED)
    assert n.close(timeout=10)
    assert len(ep.requests) == 1
    failed = store.events("notify_failed")
    assert [f["payload"]["target"] for f in failed] == ["nosuchscheme://***"]
    assert "does not recognise" in failed[0]["payload"]["reason"]


def test_a_line_url_without_a_user_is_skipped_at_start_naming_the_form(http_server, store, make_cfg, caplog) -> None:
    ep = http_server()
    token = "lInEtOkEnOnLy0123456789"
    n = Notifier(make_cfg(f"line://{token}", _url(ep.port)), store, [token], run_name="r")
    n.notify("started", STARTED)
    assert n.close(timeout=10)
    assert len(ep.requests) == 1  # the other target still gets the message
    assert [f["payload"]["reason"] for f in store.events("notify_failed")] == [
        "line://*** names no one to send to: write it line://TOKEN/USER_ID; it is skipped"]
    assert ("notification URL line://*** is skipped: line://*** names no one to send to: write it "
            "line://TOKEN/USER_ID") in caplog.messages
    assert token not in caplog.text and token not in str(store.events())


def test_bad_payload_is_recorded_not_raised(http_server, store, make_cfg) -> None:
    ep = http_server()
    n = Notifier(make_cfg(_url(ep.port)), store, [], run_name="r")
    n.notify("evaluation", {"eval_loss": "not a number", "best_eval_loss": 1.0})
    n.notify("finished", FINISHED)
    assert n.close(timeout=10)
    assert [b["title"] for b in ep.bodies] == ["Training finished · r"]
    assert "could not render" in store.events("notify_failed")[0]["payload"]["reason"]


def test_a_redacted_url_from_a_saved_config_says_how_to_give_it_again() -> None:
    """`next --train` and `fix` configs hold notify.urls redacted (json://***): the skip says
    that, not that apprise does not know the URL."""
    from tuneguard.notify.delivery import Delivery, skip_reason
    from tuneguard.notify.secrets import Scrubber

    delivery = Delivery(["json://***", "nosuchscheme://x"], timeout_s=5, scrub=Scrubber([], []))
    assert [(b.label, skip_reason(b)) for b in delivery.invalid] == [
        ("json://***", "it was redacted (***) when the config was saved: give it again with --set "
                       "'notify.urls=[\"...\"]', or keep it in an environment variable (${VAR}) in the config"),
        ("nosuchscheme://***", "apprise does not recognise this URL")]


def test_a_failed_notification_warns_with_the_events_plain_name(refused_port, store, make_cfg, caplog) -> None:
    """The first failure of a target is a warning a person reads: the event's name as the config
    writes it (`started`), never Python's `<Event.STARTED: 'started'>`."""
    from tuneguard.events import Event

    n = Notifier(make_cfg(_url(refused_port), timeout_s=0.5), store, [], run_name="r")
    with caplog.at_level("WARNING", logger="tuneguard.notify.notifier"):
        n.notify(Event.STARTED, STARTED)
        assert n.close(timeout=30)
    (failed,) = store.events("notify_failed")
    assert failed["payload"]["event"] == "started"
    assert [r.getMessage() for r in caplog.records if r.name == "tuneguard.notify.notifier"] == [
        f"notification started to json://*** failed after 1 attempt(s): connection refused by 127.0.0.1:{refused_port}"]
    assert render(failed["payload"]["text"]) == ("started to json://*** failed after 1 attempt(s): connection refused "
                                                 f"by 127.0.0.1:{refused_port}")
