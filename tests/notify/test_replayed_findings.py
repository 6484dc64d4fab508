"""A resume trains again the steps after its checkpoint and, on the same rows with the same
state, raises the same guard findings again: they are stored again (the run's record is
whole) but the phone, told once already, is not told twice. A finding the earlier process
did not raise, or raised at another step, is sent."""

from __future__ import annotations

from tuneguard.config.schema import Config
from tuneguard.context import RunContext
from tuneguard.findings import Finding
from tuneguard.notify import Notifier
from tuneguard.train.rundir import told_after


def _f(code: str, step: int, severity: str = "warning") -> Finding:
    return Finding(code=code, severity=severity, step=step, message=f"{code} at {step}", source="guard")


def test_findings_of_replayed_steps_are_stored_but_not_sent_again(http_server, store, make_cfg, tmp_path) -> None:
    # What the killed process recorded: findings before and after the checkpoint at step 15.
    for f in (_f("GRAD_NORM_SPIKE", 12), _f("LOSS_SPIKE", 16), _f("LOSS_COLLAPSE", 17, "error"),
              _f("EVAL_DIVERGENCE", 17, "info")):
        store.add_finding(f)
    store.add_finding(Finding(code="DUPLICATE_EXACT", severity="error", step=None, message="m", source="audit"))
    told = told_after(store, 15)
    assert told == {("LOSS_SPIKE", 16), ("LOSS_COLLAPSE", 17)}  # notifying levels, after the checkpoint only

    store.truncate_after(15, findings=True)
    ep = http_server()
    notifier = Notifier(make_cfg(f"json://127.0.0.1:{ep.port}/n"), store, [], run_name="r")
    ctx = RunContext(cfg=Config(), run_dir=tmp_path, store=store, notifier=notifier, told_before=told)
    for f in (_f("LOSS_SPIKE", 16), _f("LOSS_COLLAPSE", 17, "error"), _f("LOSS_SPIKE", 18)):
        ctx.record_finding(f)
    assert notifier.close(timeout=10) is True
    sent = [b["message"] for b in ep.bodies]
    assert len(sent) == 1 and "LOSS_SPIKE at 18" in sent[0]
    stored = [(f.code, f.step) for f in store.findings("guard")]
    assert stored == [("GRAD_NORM_SPIKE", 12), ("LOSS_SPIKE", 16), ("LOSS_COLLAPSE", 17), ("LOSS_SPIKE", 18)]
    assert ctx.halt_finding is not None and ctx.halt_finding.code == "LOSS_COLLAPSE"  # still acted on
