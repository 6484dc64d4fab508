"""The loss equivalence check (tuneguard.bench.loss_match) on the CPU with the tiny GPT-J in bf16
(bf16 weights and autocast, the chunked loss forced on: the GPU's mixed-precision path): the
notebook pipeline and tuneguard's, its plan and its plan with the levers, learn the same curve
from the same batches and the same LoRA start, and a pipeline that learns differently fails."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest

from tuneguard.bench import gpu_session, loss_match
from tuneguard.bench import throughput as tp


def _options(*extra: str):
    ap = tp._parser()
    o = ap.parse_args(["--model", "tiny", "--device", "cpu", "--dtype", "bf16", "--chunked-loss", "on",
                       "--loss-steps", "6", "--loss-batch", "2", "--loss-accum", "2", *extra])
    tp._resolve_defaults(o, ap, "cpu")
    return o


@pytest.mark.slow
def test_the_pipelines_learn_the_same_curve_and_a_different_one_fails(tmp_path: Path, monkeypatch) -> None:
    from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token

    # A pipeline that learns differently: tuneguard's plan at twice the learning rate.
    monkeypatch.setitem(loss_match.PIPELINES, "twice_the_lr", {"learning_rate": 2e-3})
    o = _options()
    tok = build_tiny_tokenizer()
    setup_pad_token(tok, "auto")
    base = tp.build_base("tiny", -(-len(tok) // 64) * 64, "cpu", 0, o.torch_dtype)
    out = tmp_path / "loss_match.json"
    r = loss_match.measure(base, tok, "cpu", o, tmp_path, str(out))
    assert json.loads(out.read_text("utf-8")) == json.loads(json.dumps(r, default=str))
    runs, comps = r["runs"], r["comparisons"]
    assert (r["steps"], r["batch"], r["accum"], r["dtype"], r["tolerance_rel"]) == (6, 2, 2, "bfloat16", 0.01)
    assert runs["notebook"]["attention"] == "eager" and runs["notebook"]["chunked_loss"] is False
    assert runs["tuneguard"]["attention"] == "sdpa" and runs["tuneguard"]["chunked_loss"] is True
    levers = runs["tuneguard_levers"]
    assert (levers["adapter_dtype"], levers["padding_free"], levers["pad_fraction"]) == ("bfloat16", True, 0.0)
    for name in ("tuneguard", "tuneguard_levers"):
        c = comps[name]
        assert c["pass"] and c["steps"] == 6 and len(c["first_steps"]) == 6, c
        # bf16 rounding: measured 0.4-0.6% of the curve's fall (0.14), 0.01% of the loss.
        assert c["max_abs_diff"] < 0.02 * c["notebook_drop"] and c["max_rel_diff"] < 0.002
        assert all(math.isfinite(x) for x in runs[name]["step_losses"])
    # The same start and the same first batch: step 1 differs by rounding alone.
    assert comps["tuneguard"]["first_steps"][0]["abs_diff"] < 0.005
    # The curve moves well past the tolerance, so a pipeline that learns otherwise leaves it.
    assert comps["tuneguard"]["notebook_drop"] > 0.1
    # Twice the learning rate stays within 1% of the loss over these few steps (0.2%); it leaves
    # the curve by 10% of how far the curve fell.
    twice = comps["twice_the_lr"]
    assert not twice["pass"] and twice["max_rel_diff"] < 0.01, twice
    assert twice["why"].startswith("a step differs by more than 5% of how far the curve fell")
    assert r["pass"] is False
    assert base.config._attn_implementation in ("eager", "sdpa")  # the base given back, no adapter left
    assert not any("lora_" in n for n, _ in base.named_parameters())


def test_compare_needs_every_step_within_the_tolerance() -> None:
    same = loss_match.compare([6.0, 5.0, 4.0], [6.0, 5.04, 4.0])
    assert same["pass"] and same["max_abs_diff"] == pytest.approx(0.04) and same["notebook_drop"] == 2.0
    assert [x["step"] for x in same["first_steps"]] == [1, 2, 3]
    assert loss_match.compare([6.0, 5.0, 4.0], [6.0, 5.06, 4.0])["why"] == "a step differs by more than 1% of the loss"
    slow = loss_match.compare([6.0, 5.9, 5.8], [6.0, 5.92, 5.8])  # within 1%, but 10% of the fall
    assert slow["why"] == "a step differs by more than 5% of how far the curve fell (0.2000)"
    flat = loss_match.compare([6.0, 5.99, 5.98], [6.0, 5.99, 5.98])  # equal, but nothing was learned
    assert flat["why"] == ("the notebook's curve fell by only 0.0200, under 1% of its first loss: too flat to "
                           "compare (raise --loss-lr or --loss-steps)")
    assert not loss_match.compare([6.0, 5.0, 4.0], [6.0, 5.0])["pass"]  # a run cut short
    assert not loss_match.compare([6.0, 5.0], [6.0, float("nan")])["pass"]
    assert not loss_match.compare([], [])["pass"]


def test_the_session_step_reads_the_check_and_summary_md_shows_it(tmp_path: Path) -> None:
    """After the bench step (which ran the check on its base), the loss_match step takes its
    JSON; summary.md sets the first steps and the verdicts out as tables."""
    from tuneguard.bench.gpu_summary import write_markdown

    out = tmp_path / "out"
    out.mkdir()
    s = gpu_session.Session(out, tmp_path, 100, selftest=False)
    s.results["bench"] = {"ok": True}
    good = loss_match.compare([10.8, 9.5], [10.8, 9.502])
    bad = loss_match.compare([10.8, 9.5], [10.8, 9.9])
    (tmp_path / "loss_match.json").write_text(json.dumps({
        "tolerance_rel": 0.01, "tolerance_of_drop": 0.05, "steps": 2, "batch": 4, "accum": 2, "learning_rate": 0.001, "dtype": "bfloat16",
        "pass": False, "comparisons": {"tuneguard": good, "tuneguard_levers": bad},
        "runs": {"notebook": {"attention": "eager", "step_losses": [10.8, 9.5]},
                 "tuneguard_levers": {"attention": "flex_attention", "adapter_dtype": "bfloat16", "padding_free": True}}}))
    res = gpu_session.step_loss_match(s)
    assert res["ok"] is False and res["comparisons"]["tuneguard"]["pass"] is True
    assert res["runs"]["tuneguard_levers"]["attention"] == "flex_attention"
    write_markdown(out, False, {"loss_match": res})
    md = (out / "summary.md").read_text("utf-8")
    assert ("| bf16 loss curve, tuneguard with the levers against the notebook: largest step difference | "
            "4.211% (max abs 0.4000), FAIL | every step within 1% of the loss and 5% of how far it fell |") in md
    assert "| 2 | 9.50000 | 9.50200 | 0.00200 | 0.021% | 9.90000 | 0.40000 | 4.211% |" in md
    assert "| tuneguard | 0.00200 | 0.021% | 1.3000 | PASS |" in md
    assert ("| tuneguard_levers | 0.40000 | 4.211% | 1.3000 | FAIL: a step differs by more than 1% of the loss | "
            "attention flex_attention, adapter_dtype bfloat16,") in md


def test_summary_md_reports_the_memory_estimates_error_at_both_batch_sizes(tmp_path: Path) -> None:
    """Deliverable 3 of the GPU issue: the estimate against the measured peaks, in %, and the verdict."""
    from tuneguard.bench.gpu_summary import write_markdown

    mem = {"ok": True, "max_abs_error_pct": 12.3, "within_10pct": False,
           "runs": {"4": {"estimated_peak_gb": 30.0, "peak_memory_gb": 28.0, "error_pct": 7.1},
                    "8": {"estimated_peak_gb": 48.0, "peak_memory_gb": 42.74, "error_pct": 12.3}}}
    write_markdown(tmp_path, False, {"memory_estimate": mem})
    md = (tmp_path / "summary.md").read_text("utf-8")
    assert "| memory estimate: largest error at the two batch sizes | 12.3% | within 10% |" in md
    assert "| 4 | 30.00 | 28.00 | +7.1% |" in md and "| 8 | 48.00 | 42.74 | +12.3% |" in md
    assert "largest error 12.3%: beyond 10%, perf.activation_bytes needs correcting" in md
