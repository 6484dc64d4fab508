"""The verdict: did the run meet its success criteria? Each criterion is pass, fail or
unknown, with the evidence a person needs to agree or disagree.

The rules (thresholds from the run's `report` config section):

1. Training loss decreased gradually: fails on a LOSS_COLLAPSE, LOSS_SPIKE or NON_FINITE
   guard finding of severity warning or error (the finding is the evidence; an info
   LOSS_COLLAPSE is the guard's judgement that a low loss is an easy task, not a fault), on
   a non-finite logged loss, on a loss that fell below `guard.collapse_ratio` of its first
   value when the guard did not judge it (e.g. guards off), or on a final loss not below the
   first; unknown with fewer than two logged losses.
2. Validation loss tracked training loss: the last eval loss minus the train loss logged
   at (or just before) that step is below `report.max_final_gap`; unknown without both.
3. Early stopping did not trigger prematurely: an EARLY_STOP finding or early_stop event
   before `report.min_early_stop_share` of the planned steps fails; no early stop passes.
4. The model generates coherent, relevant text: at the best checkpoint's QA samples the
   mean keyword score, the share of answers that emitted EOS and the mean distinct-2
   (low means repetition) are at least their minimums; for probes with an `expected`
   answer, at least `report.min_answer_accuracy` of them are answered right (so it cannot
   pass when most are wrong) and not fewer than the base model answered right at the end
   (better / same / worse than the base, with the answers side by side in the report);
   unknown without QA samples.
5. Held-out test loss within `report.test_margin` of validation: test loss <= validation
   loss at the best checkpoint x (1 + margin); unknown when no test split was evaluated.

Overall: fail when any criterion fails, pass when all pass, otherwise inconclusive.
"""

from __future__ import annotations

import dataclasses
import logging
from typing import Any, Literal

from tuneguard.findings import Finding
from tuneguard.fmt import num
from tuneguard.report.rundata import EVAL_TRAIN_LOSS_KEYS, RunData, is_finite

log = logging.getLogger(__name__)

Status = Literal["pass", "fail", "unknown"]
Overall = Literal["pass", "fail", "inconclusive"]

LOSS_GRADUAL = "Training loss decreased gradually"
VAL_TRACKED = "Validation loss tracked training loss"
EARLY_STOP_OK = "Early stopping did not trigger prematurely"
COHERENT = "The model generates coherent, relevant text"
TEST_WITHIN = "Held-out test loss within margin of validation"
CRITERIA_NAMES = (LOSS_GRADUAL, VAL_TRACKED, EARLY_STOP_OK, COHERENT, TEST_WITHIN)

LOSS_FAIL_CODES = ("LOSS_COLLAPSE", "LOSS_SPIKE", "NON_FINITE")


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Success thresholds. The first three (and collapse_ratio) come from the run config;
    the generation minimums are read from `report` when the schema has them."""

    max_final_gap: float = 0.5
    min_early_stop_share: float = 0.3
    test_margin: float = 0.1
    collapse_ratio: float = 0.05
    min_keyword_score: float = 0.5
    min_eos_share: float = 0.5
    min_distinct2: float = 0.5
    min_answer_accuracy: float = 0.5

    @classmethod
    def from_config(cls, config: dict[str, Any]) -> "Thresholds":
        from tuneguard.config.schema import GuardConfig, ReportConfig

        def section(model: Any, name: str) -> Any:
            raw = config.get(name) if isinstance(config.get(name), dict) else {}
            try:
                return model.model_validate(raw)
            except Exception:  # noqa: BLE001 - an old or hand-edited config: use defaults
                log.warning("config section %s of this run does not validate; using default thresholds", name)
                return model()

        rep, guard = section(ReportConfig, "report"), section(GuardConfig, "guard")
        base = cls()
        kw = {f.name: getattr(rep, f.name, getattr(base, f.name)) for f in dataclasses.fields(cls)}
        kw["collapse_ratio"] = guard.collapse_ratio
        return cls(**kw)


@dataclasses.dataclass
class Criterion:
    """One success criterion: its name, status, the evidence, and the finding codes behind it."""

    name: str
    status: Status
    evidence: str
    codes: list[str] = dataclasses.field(default_factory=list)

    def to_dict(self) -> dict[str, Any]:
        return dataclasses.asdict(self)


@dataclasses.dataclass
class Verdict:
    criteria: list[Criterion]

    @property
    def overall(self) -> Overall:
        statuses = {c.status for c in self.criteria}
        if "fail" in statuses:
            return "fail"
        if statuses == {"pass"}:
            return "pass"
        return "inconclusive"

    def get(self, name: str) -> Criterion:
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(name)

    def rows(self) -> list[tuple[str, str]]:
        return [(c.name, c.status) for c in self.criteria]

    def headline(self) -> str:
        """"Verdict: FAIL (1 pass, 3 fail, 1 unknown)"."""
        counts = {s: sum(c.status == s for c in self.criteria) for s in ("pass", "fail", "unknown")}
        return (f"Verdict: {self.overall.upper()} ({counts['pass']} pass, {counts['fail']} fail, "
                f"{counts['unknown']} unknown)")

    def summary_line(self) -> str:
        """One line for a notification: the headline and the failed criteria."""
        failed = [c.name for c in self.criteria if c.status == "fail"]
        return self.headline() + (": failed " + "; ".join(failed) if failed else "")

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "criteria": [c.to_dict() for c in self.criteria]}


# -- helpers ------------------------------------------------------------------------

def fmt(v: Any, digits: int = 4) -> str:
    """A number as people read it (tuneguard.fmt.num: 16,740, 3.612); non-numbers as str."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return num(v, digits)


def finding_evidence(f: Finding, limit: int = 4) -> str:
    """"CODE at step N: message (k=v, ...)" for a verdict row."""
    where = f" at step {f.step}" if f.step is not None else ""
    parts = []
    for k, v in list((f.evidence or {}).items())[:limit]:
        if isinstance(v, (list, dict)):
            continue
        parts.append(f"{k}={fmt(v)}")
    extra = f" ({', '.join(parts)})" if parts else ""
    return f"{f.code}{where}: {f.message}{extra}"


def train_loss_at(run: RunData, step: int) -> tuple[int, float] | None:
    """The train loss logged at `step`, else the last one before it, else the first after."""
    pts = [(int(r["step"]), r["loss"]) for r in run.train if r.get("loss") is not None]
    if not pts:
        return None
    before = [p for p in pts if p[0] <= step]
    return before[-1] if before else pts[0]


def eval_loss_at(run: RunData, step: int | None) -> tuple[int, float] | None:
    pts = [(int(r["step"]), r["eval_loss"]) for r in run.evals if is_finite(r.get("eval_loss"))]
    if not pts:
        return None
    if step is not None:
        for s, v in pts:
            if s == step:
                return s, v
    return min(pts, key=lambda p: p[1])


def early_stop_step(run: RunData) -> int | None:
    steps = [f.step for f in run.findings if f.code == "EARLY_STOP" and f.step is not None]
    steps += [e["step"] for e in run.events if e["type"] == "early_stop" and e.get("step") is not None]
    return min(steps) if steps else None


# -- the criteria -------------------------------------------------------------------

def _loss_gradual(run: RunData, th: Thresholds) -> Criterion:
    guard = [f for f in run.findings if f.source == "guard" and f.code in LOSS_FAIL_CODES]
    # An info finding is a fact, not a fault: a LOSS_COLLAPSE the guard judged an easy task (a
    # low training loss with an eval loss as low), or a code the user lowered (guard.severity).
    bad = [f for f in guard if f.severity != "info"]
    judged = [f for f in guard if f.code == "LOSS_COLLAPSE"]
    if bad:
        bad.sort(key=lambda f: (LOSS_FAIL_CODES.index(f.code), f.step if f.step is not None else 0))
        codes = sorted({f.code for f in bad}, key=LOSS_FAIL_CODES.index)
        ev = "; ".join(finding_evidence(f) for f in bad[:3])
        if len(bad) > 3:
            ev += f"; and {len(bad) - 3} more"
        return Criterion(LOSS_GRADUAL, "fail", ev, codes)
    losses = [(int(r["step"]), r["loss"]) for r in run.train if r.get("loss") is not None]
    if len(losses) < 2:
        return Criterion(LOSS_GRADUAL, "unknown", f"{len(losses)} training loss value(s) logged; need at least 2")
    nonfinite = [(s, v) for s, v in losses if not is_finite(v)]
    if nonfinite:
        s, v = nonfinite[0]
        return Criterion(LOSS_GRADUAL, "fail", f"non-finite training loss {v} at step {s}", ["NON_FINITE"])
    (s0, first), (s1, last) = losses[0], losses[-1]
    low_step, low = min(losses, key=lambda p: p[1])
    trend = f"loss {fmt(first)} at step {s0} -> {fmt(last)} at step {s1}"
    if first > 0 and low < th.collapse_ratio * first and not judged:
        return Criterion(LOSS_GRADUAL, "fail",
                         f"{trend}; fell to {fmt(low)} at step {low_step}, below {fmt(th.collapse_ratio)} x the first "
                         f"loss (guard.collapse_ratio): a collapse", ["LOSS_COLLAPSE"])
    if not last < first:
        return Criterion(LOSS_GRADUAL, "fail", f"{trend}: the loss did not decrease")
    drops = [(a[1] - b[1]) / a[1] for a, b in zip(losses, losses[1:], strict=False) if a[1] > 0]
    steepest = max(drops) if drops else 0.0
    easy = ("; " + "; ".join(finding_evidence(f) for f in judged[:1])) if judged else ""
    return Criterion(LOSS_GRADUAL, "pass",
                     f"{trend} ({fmt(100 * (first - last) / first, 3)}% lower); largest drop between logs "
                     f"{fmt(100 * steepest, 3)}%; no collapse, spike or non-finite finding of severity warning or "
                     f"error{easy}", [f.code for f in judged[:1]])


def _val_tracked(run: RunData, th: Thresholds) -> Criterion:
    evals = [r for r in run.evals if r.get("eval_loss") is not None]
    if not evals:
        return Criterion(VAL_TRACKED, "unknown", "no evaluation was recorded")
    step, ev = int(evals[-1]["step"]), evals[-1]["eval_loss"]
    # The training loss the guards and the diagnosis hold against this evaluation: the mean
    # since the previous one. One logging window's loss is noisier, and comparing with it made
    # the verdict fail a run whose diagnosis (same limit) called it healthy.
    since = next((evals[-1][k] for k in EVAL_TRAIN_LOSS_KEYS if is_finite(evals[-1].get(k))), None)
    tr = (step, float(since)) if since is not None else train_loss_at(run, step)
    if tr is None:
        return Criterion(VAL_TRACKED, "unknown", f"eval loss {fmt(ev)} at step {step}, but no training loss was logged")
    related = [f for f in run.findings if f.code in ("OVERFITTING", "EVAL_DIVERGENCE")]
    codes = sorted({f.code for f in related})
    note = ("; " + "; ".join(finding_evidence(f) for f in related[:2])) if related else ""
    if not (is_finite(ev) and is_finite(tr[1])):
        return Criterion(VAL_TRACKED, "fail",
                         f"final eval loss {ev} at step {step}, train loss {tr[1]}: non-finite{note}",
                         codes or ["NON_FINITE"])
    gap = ev - tr[1]
    which = "mean since the previous evaluation" if since is not None else f"at step {tr[0]}"
    base = f"final eval loss {fmt(ev)} at step {step}, train loss {fmt(tr[1])} ({which}): gap {fmt(gap, 3)}"
    if gap < th.max_final_gap:
        return Criterion(VAL_TRACKED, "pass", f"{base} < {fmt(th.max_final_gap)} (report.max_final_gap){note}", codes)
    return Criterion(VAL_TRACKED, "fail", f"{base} >= {fmt(th.max_final_gap)} (report.max_final_gap){note}", codes)


def _early_stop(run: RunData, th: Thresholds) -> Criterion:
    step = early_stop_step(run)
    if step is None and not run.train and not run.evals:
        return Criterion(EARLY_STOP_OK, "unknown", f"the run logged no training step (run {run.state})")
    if step is None and run.state not in ("finished", "stopped", "halted"):
        # Failed, or still going: whether early stopping would have come too soon is not known yet.
        return Criterion(EARLY_STOP_OK, "unknown", f"the run has not finished (run {run.state} at step {run.last_step})")
    if step is None:
        ended = f" (run {run.state} at step {run.last_step})" if run.state != "unknown" else ""
        return Criterion(EARLY_STOP_OK, "pass", f"early stopping did not trigger{ended}")
    planned = run.max_steps
    if planned is None:
        return Criterion(EARLY_STOP_OK, "unknown",
                         f"early stopping triggered at step {step}, but the planned number of steps is unknown",
                         ["EARLY_STOP"])
    share = step / planned
    base = (f"early stopping triggered at step {step} of {planned} planned ({fmt(100 * share, 3)}%); "
            f"minimum {fmt(100 * th.min_early_stop_share, 3)}% (report.min_early_stop_share)")
    return Criterion(EARLY_STOP_OK, "pass" if share >= th.min_early_stop_share else "fail", base, ["EARLY_STOP"])


def generation_stats(samples: list[dict[str, Any]]) -> dict[str, Any]:
    """Mean keyword score (probes with keywords only), EOS share, mean distinct-2, and how
    many of the probes with an expected answer were answered right."""
    kws = [s["keyword_score"] for s in samples if is_finite(s.get("keyword_score")) and s.get("keywords")]
    d2 = [s["distinct2"] for s in samples if is_finite(s.get("distinct2"))]
    judged = [bool(s["correct"]) for s in samples if s.get("expected") and s.get("correct") is not None]
    return {
        "n": len(samples),
        "keyword_score": sum(kws) / len(kws) if kws else None,
        "eos_share": sum(bool(s.get("emitted_eos")) for s in samples) / len(samples) if samples else None,
        "distinct2": sum(d2) / len(d2) if d2 else None,
        "answered": len(judged),
        "correct": sum(judged),
    }


@dataclasses.dataclass
class AnswerRow:
    """One QA probe's answers side by side: the base model's (at the end of training, the
    adapter disabled) and the fine-tuned model's at the best checkpoint."""

    prompt: str
    expected: list[str]
    tuned: str
    tuned_correct: bool | None
    base: str | None
    base_correct: bool | None


def answer_rows(run: RunData) -> list[AnswerRow]:
    """The probes at the best checkpoint's QA step, each with the base model's answer if recorded."""
    base = {s["prompt"]: s for s in run.qa_base}
    rows = []
    for s in run.qa_at(run.qa_best_step()):
        b = base.get(s["prompt"])
        rows.append(AnswerRow(s["prompt"], list(s.get("expected") or []), s["output"], s.get("correct"),
                              b["output"] if b else None, b.get("correct") if b else None))
    return rows


def compare_to_base(rows: list[AnswerRow]) -> tuple[str, int, int, int] | None:
    """("better" | "same" | "worse", right after, right before, probes compared) over the
    probes with an expected answer that both models answered; None when there are none."""
    both = [r for r in rows if r.expected and r.tuned_correct is not None and r.base_correct is not None]
    if not both:
        return None
    after = sum(bool(r.tuned_correct) for r in both)
    before = sum(bool(r.base_correct) for r in both)
    word = "better" if after > before else "worse" if after < before else "same"
    return word, after, before, len(both)


def versus(word: str) -> str:
    """"better than", "worse than", "the same as"."""
    return "the same as" if word == "same" else f"{word} than"


def _coherent(run: RunData, th: Thresholds) -> Criterion:
    step = run.qa_best_step()
    samples = run.qa_at(step)
    if not samples:
        return Criterion(COHERENT, "unknown", "no QA samples were recorded (set eval.qa_probes)")
    st = generation_stats(samples)
    checks = [("keyword score", st["keyword_score"], th.min_keyword_score),
              ("EOS emitted", st["eos_share"], th.min_eos_share),
              ("distinct-2", st["distinct2"], th.min_distinct2)]
    parts, failed = [], []
    if st["answered"]:
        acc = st["correct"] / st["answered"]
        ok = acc >= th.min_answer_accuracy
        parts.append(f"{st['correct']} of {st['answered']} expected answers right ({fmt(100 * acc, 3)}% "
                     f"{'>=' if ok else '<'} {fmt(100 * th.min_answer_accuracy, 3)}%, report.min_answer_accuracy)")
        if not ok:
            failed.append("expected answers")
        vs = compare_to_base(answer_rows(run))
        if vs is not None:
            word, after, before, n = vs
            parts.append(f"{versus(word)} the base model "
                         f"({after} of {n} right after fine-tuning, {before} of {n} before)")
            if word == "worse":
                failed.append("worse than the base model")
    for label, value, minimum in checks:
        if value is None:
            if label != "keyword score" or not st["answered"]:
                parts.append(f"{label} n/a")
            continue
        ok = value >= minimum
        parts.append(f"{label} {fmt(value, 3)} {'>=' if ok else '<'} {fmt(minimum, 3)}")
        if not ok:
            failed.append(label)
    degraded = [f for f in run.findings if f.code == "QA_DEGRADED"]
    note = ("; " + finding_evidence(degraded[-1])) if degraded else ""
    codes = ["QA_DEGRADED"] if degraded else []
    head = f"{st['n']} QA sample(s) at step {step}: " + ", ".join(parts)
    if failed:
        return Criterion(COHERENT, "fail", f"{head}; failed: {', '.join(failed)}{note}", codes)
    if not st["answered"] and all(v is None for _, v, _ in checks):
        return Criterion(COHERENT, "unknown", head + note, codes)
    return Criterion(COHERENT, "pass", head + note, codes)


def _test_within(run: RunData, th: Thresholds) -> Criterion:
    rows = [r for r in run.test if r.get("eval_loss") is not None]
    if not rows:
        return Criterion(TEST_WITHIN, "unknown", "no test split was evaluated (data.test_file not set)")
    row = rows[-1]
    test = row["eval_loss"]
    val = eval_loss_at(run, run.best_step)
    ppl = row.get("perplexity")
    ppl_s = f" (perplexity {fmt(ppl, 4)})" if is_finite(ppl) else ""
    if val is None:
        return Criterion(TEST_WITHIN, "unknown",
                         f"test loss {fmt(test)}{ppl_s}, but no finite validation loss to compare")
    if not is_finite(test):
        return Criterion(TEST_WITHIN, "fail", f"test loss {test} is not finite", ["NON_FINITE"])
    limit = val[1] * (1 + th.test_margin)
    base = (f"test loss {fmt(test)}{ppl_s} vs validation {fmt(val[1])} at step {val[0]}; "
            f"limit {fmt(limit)} (+{fmt(100 * th.test_margin, 3)}%, report.test_margin)")
    return Criterion(TEST_WITHIN, "pass" if test <= limit else "fail", base)


def compute_verdict(run: RunData, thresholds: Thresholds | None = None) -> Verdict:
    """Judge a run against the five success criteria (rules in the module docstring)."""
    th = thresholds or Thresholds.from_config(run.config)
    return Verdict([_loss_gradual(run, th), _val_tracked(run, th), _early_stop(run, th),
                    _coherent(run, th), _test_within(run, th)])
