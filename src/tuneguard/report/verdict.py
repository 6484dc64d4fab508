"""The verdict: did the run meet its success criteria? Each criterion is pass, fail or
unknown, with the evidence a person needs to agree or disagree.

The rules (thresholds from the run's `report` config section):

1. Training loss decreased gradually: fails on a LOSS_COLLAPSE, LOSS_SPIKE or NON_FINITE
   guard finding of severity warning or error (the finding is the evidence; an info
   LOSS_COLLAPSE is the guard's judgement that a low loss is an easy task, not a fault), on
   a non-finite logged loss, on a loss that fell below `guard.collapse_ratio` of its first
   value when the guard did not judge it (e.g. guards off), or on a final loss not below the
   first (each the mean of the first / last tenth of the logged losses, 1-20 of them);
   unknown with fewer than two logged losses.
2. Validation loss tracked training loss: the last eval loss minus the train loss logged
   at (or just before) that step is below `report.max_final_gap`, or at or above it while the
   eval loss reached a new best at the last evaluation (tuneguard.diagnosis.falling_at_end:
   the model was still generalising better, not memorising; the evidence says the gap and why it
   passes, as the diagnosis says it healthy); unknown without both. With fewer than three
   evaluations the row says that the eval loss's trend could not be judged from them (the
   diagnosis's few_evals), and a memorising finding a new best at the last evaluation answered
   is cited as recovered.
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
   loss at the best checkpoint x (1 + margin), or + `report.test_margin_abs` nats when that
   allows more (a 10% margin on a loss of 0.025 is below the noise of small splits); unknown
   when no test split was evaluated.

Overall: fail when any criterion fails, pass when every checked criterion passes, otherwise
inconclusive.

A criterion whose setting the user did not configure (4 without `eval.qa_probes`, 5 without
`data.test_file`) is not checked: status "unknown" with `checked` false (in `to_dict` and the
`report` event's criteria, so readers of the old three statuses see what they saw before),
shown as "not checked" with the setting that would check it. It does not make the verdict
inconclusive: a run without probes or a test split is judged on the criteria it has.
A criterion that was configured but could not be measured stays unknown (checked) and does:
it says why, e.g. that the run ended (halted, stopped, failed) before its first evaluation,
with the finding that halted it; a halted run's test split is never evaluated.
"""

from __future__ import annotations

import bisect

import dataclasses
import logging
from typing import Any, Literal

from tuneguard.catalog import TABLE, J, Spec, T, in_language, render, say
from tuneguard.diagnosis import MIN_EVALS, falling_at_end, loss_ends
from tuneguard.findings import Finding
from tuneguard.fmt import num
from tuneguard.report.rundata import EVAL_TRAIN_LOSS_KEYS, RunData, is_finite

log = logging.getLogger(__name__)

Status = Literal["pass", "fail", "unknown"]
# What a row shows: its status, or "not_checked" for a criterion the user did not configure.
Shown = Literal["pass", "fail", "unknown", "not_checked"]
NOT_CHECKED = "not_checked"
Overall = Literal["pass", "fail", "inconclusive"]

# The criteria's names are their English texts (the verdict's contract); KEYS names them in the catalog.
KEYS = {"loss_gradual": "verdict.criterion.loss_gradual", "val_tracked": "verdict.criterion.val_tracked",
        "early_stop_ok": "verdict.criterion.early_stop_ok", "coherent": "verdict.criterion.coherent",
        "test_within": "verdict.criterion.test_within"}
LOSS_GRADUAL = say(KEYS["loss_gradual"])
VAL_TRACKED = say(KEYS["val_tracked"])
EARLY_STOP_OK = say(KEYS["early_stop_ok"])
COHERENT = say(KEYS["coherent"])
TEST_WITHIN = say(KEYS["test_within"])
CRITERIA_NAMES = (LOSS_GRADUAL, VAL_TRACKED, EARLY_STOP_OK, COHERENT, TEST_WITHIN)
_NAME_KEYS = {say(k): k for k in KEYS.values()}

LOSS_FAIL_CODES = ("LOSS_COLLAPSE", "LOSS_SPIKE", "NON_FINITE")


@dataclasses.dataclass(frozen=True)
class Thresholds:
    """Success thresholds. The first three (and collapse_ratio) come from the run config;
    the generation minimums are read from `report` when the schema has them."""

    max_final_gap: float = 0.5
    min_early_stop_share: float = 0.3
    test_margin: float = 0.1
    test_margin_abs: float = 0.05
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
    """One success criterion: its name, status, the evidence, and the finding codes behind it.

    `evidence` is English; `text` is the catalog spec it was rendered from, for other languages."""

    name: str
    status: Status
    evidence: str
    codes: list[str] = dataclasses.field(default_factory=list)
    text: Spec | None = None
    # False: the setting this criterion needs is not configured (status "unknown"; not counted).
    checked: bool = True

    @classmethod
    def said(cls, name: str, status: Status, text: Spec, codes: list[str] | None = None) -> "Criterion":
        return cls(name, status, render(text), list(codes or []), text)

    @classmethod
    def not_checked(cls, name: str, text: Spec) -> "Criterion":
        """A criterion the user did not configure: unknown, and left out of the overall verdict."""
        return cls(name, "unknown", render(text), [], text, checked=False)

    @property
    def shown(self) -> Shown:
        """The status a row shows: "not_checked" for a criterion that was not configured."""
        return self.status if self.checked else NOT_CHECKED

    def name_in(self, language: str) -> str:
        key = _NAME_KEYS.get(self.name)
        return say(key, language) if key else self.name

    def evidence_in(self, language: str) -> str:
        return in_language(self.text, self.evidence, language)

    def status_in(self, language: str) -> str:
        return say(f"verdict.status.{self.shown}", language)

    def to_dict(self) -> dict[str, Any]:
        d = dataclasses.asdict(self)
        if d.get("text") is None:
            d.pop("text", None)
        return d


@dataclasses.dataclass
class Verdict:
    criteria: list[Criterion]

    @property
    def overall(self) -> Overall:
        return overall_of([c.shown for c in self.criteria])

    def get(self, name: str) -> Criterion:
        for c in self.criteria:
            if c.name == name:
                return c
        raise KeyError(name)

    def rows(self) -> list[tuple[str, str]]:
        return [(c.name, c.status) for c in self.criteria]

    def headline(self, language: str = "en") -> str:
        """"Verdict: FAIL (1 pass, 3 fail, 1 unknown)"."""
        return render(headline_spec(self.overall, [c.shown for c in self.criteria]), language)

    def summary_line(self, language: str = "en") -> str:
        """One line for a notification: the headline and the failed criteria."""
        return render(summary_spec(self.overall, [(c.name, c.shown) for c in self.criteria]), language)

    def to_dict(self) -> dict[str, Any]:
        return {"overall": self.overall, "criteria": [c.to_dict() for c in self.criteria]}


# -- helpers ------------------------------------------------------------------------

def fmt(v: Any, digits: int = 4) -> str:
    """A number as people read it (tuneguard.fmt.num: 16,740, 3.612); non-numbers as str."""
    if isinstance(v, bool) or not isinstance(v, (int, float)):
        return str(v)
    return num(v, digits)


def V(key: str, /, **params: Any) -> Spec:
    """A verdict text spec (catalog key "verdict.KEY")."""
    return T(f"verdict.{key}", **params)


def overall_of(shown: list[str]) -> Overall:
    """Fail when a criterion fails, pass when every checked one passes (one at least), else
    inconclusive; `shown`: each criterion's status, or "not_checked" (not counted)."""
    statuses = {s for s in shown if s != NOT_CHECKED}
    if "fail" in statuses:
        return "fail"
    if statuses == {"pass"}:
        return "pass"
    return "inconclusive"


def headline_spec(overall: str, statuses: list[str]) -> Spec:
    """"Verdict: PASS (3 pass, 0 fail, 0 unknown)", with ", 2 not checked" when some were not."""
    counts = {s: sum(x == s for x in statuses) for s in ("pass", "fail", "unknown", NOT_CHECKED)}
    key = "headline_unchecked" if counts[NOT_CHECKED] else "headline"
    return V(key, overall=V(f"overall.{overall}"), passed=counts["pass"], failed=counts["fail"],
             unknown=counts["unknown"], unchecked=counts[NOT_CHECKED])


def summary_spec(overall: str, criteria: list[tuple[str, str]]) -> Spec:
    """The headline and the failed criteria (by their English names, as a notification payload
    carries them) as one spec."""
    head = headline_spec(overall, [s for _, s in criteria])
    failed = [T(_NAME_KEYS[n]) if n in _NAME_KEYS else n for n, s in criteria if s == "fail"]
    return V("summary_failed", headline=head, names=J("join.semi", failed)) if failed else head


def payload_pairs(criteria: list[Any]) -> list[tuple[str, str]]:
    """(name, shown status) of the `report` event's criteria, as `summary_spec` takes them: one
    with "checked": false is "not_checked"; payloads from before that key keep their status."""
    return [(str(c.get("name")), NOT_CHECKED if c.get("checked") is False else str(c.get("status")))
            for c in criteria if isinstance(c, dict)]


def finding_evidence(f: Finding, limit: int = 4) -> str:
    """"CODE at step N: message (k=v, ...)" for a verdict row."""
    return render(finding_spec(f, limit))


def finding_spec(f: Finding, limit: int = 4) -> Spec:
    """`finding_evidence` as a catalog spec: the finding's own message spec where it has one."""
    where = V("at_step", step=f.step) if f.step is not None else ""
    parts = []
    for k, v in list((f.evidence or {}).items())[:limit]:
        if isinstance(v, (list, dict)):
            continue
        parts.append(f"{k}={fmt(v)}")
    extra = f" ({', '.join(parts)})" if parts else ""
    message = (f.text or {}).get("message") or f.message
    return V("finding", code=f.code, where=where, message=message, extra=extra)


def _findings_spec(findings: list[Finding]) -> Spec:
    return J("join.semi", [finding_spec(f) for f in findings])


def train_loss_at(run: RunData, step: int) -> tuple[int, float] | None:
    """The train loss logged at `step`, else the last one before it, else the first after."""
    steps, pts = run.train_loss_points()
    if not pts:
        return None
    i = bisect.bisect_right(steps, step)
    return pts[i - 1] if i else pts[0]


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

def _loss_ends(losses: list[tuple[int, float]]) -> tuple[float, float, Spec]:
    """(start loss, end loss, the text that says them), by the rule the diagnosis uses
    (tuneguard.diagnosis.loss_ends): the first and last logged losses, or the means of the first
    and last tenth (at most 20 logs) when there are 20+."""
    ends = loss_ends(losses)
    first, last = ends.first, ends.last
    if ends.points == 1:
        return first, last, V("loss.trend", first=fmt(first), s0=ends.head[0], last=fmt(last), s1=ends.tail[0])
    return first, last, V("loss.trend_mean", first=fmt(first), s0=ends.head[0], e0=ends.head[1], last=fmt(last),
                          s1=ends.tail[0], e1=ends.tail[1])


def _loss_gradual(run: RunData, th: Thresholds) -> Criterion:
    guard = [f for f in run.findings if f.source == "guard" and f.code in LOSS_FAIL_CODES]
    # An info finding is a fact, not a fault: a LOSS_COLLAPSE the guard judged an easy task (a
    # low training loss with an eval loss as low), or a code the user lowered (guard.severity).
    bad = [f for f in guard if f.severity != "info"]
    judged = [f for f in guard if f.code == "LOSS_COLLAPSE"]
    if bad:
        bad.sort(key=lambda f: (LOSS_FAIL_CODES.index(f.code), f.step if f.step is not None else 0))
        codes = sorted({f.code for f in bad}, key=LOSS_FAIL_CODES.index)
        ev: Spec = _findings_spec(bad[:3])
        if len(bad) > 3:
            ev = J("join.none", [ev, V("and_more", n=len(bad) - 3)])
        return Criterion.said(LOSS_GRADUAL, "fail", ev, codes)
    losses = [(int(r["step"]), r["loss"]) for r in run.train if r.get("loss") is not None]
    if len(losses) < 2:
        return Criterion.said(LOSS_GRADUAL, "unknown", V("loss.few", n=len(losses)))
    nonfinite = [(s, v) for s, v in losses if not is_finite(v)]
    if nonfinite:
        s, v = nonfinite[0]
        return Criterion.said(LOSS_GRADUAL, "fail", V("loss.non_finite", v=str(v), step=s), ["NON_FINITE"])
    first, last, trend = _loss_ends(losses)
    low_step, low = min(losses, key=lambda p: p[1])
    if first > 0 and low < th.collapse_ratio * first and not judged:
        return Criterion.said(LOSS_GRADUAL, "fail", V("loss.collapse", trend=trend, low=fmt(low), low_step=low_step,
                                                      ratio=fmt(th.collapse_ratio)), ["LOSS_COLLAPSE"])
    if not last < first:
        return Criterion.said(LOSS_GRADUAL, "fail", V("loss.no_decrease", trend=trend))
    drops = [(a[1] - b[1]) / a[1] for a, b in zip(losses, losses[1:], strict=False) if a[1] > 0]
    steepest = max(drops) if drops else 0.0
    easy: Spec | str = J("join.none", ["; ", _findings_spec(judged[:1])]) if judged else ""
    return Criterion.said(LOSS_GRADUAL, "pass",
                          V("loss.pass", trend=trend, drop=fmt(100 * (first - last) / first, 3),
                            steepest=fmt(100 * steepest, 3), easy=easy), [f.code for f in judged[:1]])


def halting_finding(run: RunData) -> Finding | None:
    """The finding that halted the run: the one its exit reason names ("CODE: message"), else
    the last finding of the code its `halted` event names."""
    reason = run.meta.get("exit_reason")
    for f in run.findings:
        if reason == f"{f.code}: {f.message}":
            return f
    for e in reversed(run.events):
        payload = e.get("payload")
        if e.get("type") == "halted" and isinstance(payload, dict) and payload.get("code"):
            named = [f for f in run.findings if f.code == payload["code"]]
            return named[-1] if named else None
    return None


ENDED = ("halted", "stopped", "failed")  # states of a run that ended before its planned steps


def ended_spec(run: RunData) -> Spec:
    """"the run halted at step N: CODE at step S: message" (the halting finding, where known)."""
    f = halting_finding(run) if run.state == "halted" else None
    why: Spec | str = ""
    if f is not None:
        where = V("at_step", step=f.step) if f.step is not None else ""
        why = V("ended.why", finding=V("finding", code=f.code, where=where,
                                       message=(f.text or {}).get("message") or f.message, extra=""))
    return V("ended", state=_state(run.state), step=run.last_step, why=why)


def before_first_eval(run: RunData) -> Spec | None:
    """Why nothing was evaluated, when the run ended (halted, stopped, failed) before its first
    evaluation: said instead of blaming settings that are set (eval.qa_probes, data.test_file)."""
    if run.state not in ENDED or any(r.get("eval_loss") is not None for r in run.evals):
        return None
    return V("before_eval", ended=ended_spec(run))


def setting(run: RunData, section: str, key: str) -> Any:
    """A setting of the run's config (None when absent)."""
    sec = run.config.get(section)
    return sec.get(key) if isinstance(sec, dict) else None


def qa_missing(run: RunData) -> Spec:
    """Why a run has no QA samples: eval.qa_probes not set, the run ended before its first
    evaluation (where the probes are answered), or neither known."""
    if not setting(run, "eval", "qa_probes"):
        return V("qa.not_checked")
    before = before_first_eval(run)
    return V("qa.before_eval", before=before) if before is not None else V("qa.none_set")


def _val_tracked(run: RunData, th: Thresholds) -> Criterion:
    evals = [r for r in run.evals if r.get("eval_loss") is not None]
    if not evals:
        before = before_first_eval(run)
        return Criterion.said(VAL_TRACKED, "unknown", V("val.before_eval", before=before) if before else V("val.none"))
    step, ev = int(evals[-1]["step"]), evals[-1]["eval_loss"]
    # The training loss the guards and the diagnosis hold against this evaluation: the mean
    # since the previous one. One logging window's loss is noisier, and comparing with it made
    # the verdict fail a run whose diagnosis (same limit) called it healthy.
    since = next((evals[-1][k] for k in EVAL_TRAIN_LOSS_KEYS if is_finite(evals[-1].get(k))), None)
    tr = (step, float(since)) if since is not None else train_loss_at(run, step)
    if tr is None:
        return Criterion.said(VAL_TRACKED, "unknown", V("val.no_train", ev=fmt(ev), step=step))
    # The warnings first, the latest first (the eval loss rising that halted the run, not the gap
    # an info said was "not memorising yet" many steps before): the row cites what decided it.
    related = sorted((f for f in run.findings if f.code in ("OVERFITTING", "EVAL_DIVERGENCE")),
                     key=lambda f: (f.severity == "info", -(f.step if f.step is not None else -1)))
    codes = sorted({f.code for f in related})
    curve = [(int(r["step"]), float(r["eval_loss"])) for r in evals if is_finite(r["eval_loss"])]
    notes: list[Spec] = [_related_spec(related[:2], curve)] if related else []
    if 0 < len(curve) < MIN_EVALS:
        # The final gap is measured; the eval loss's trend is not (the diagnosis says few_evals).
        notes.append(V("val.few", n=len(curve), min=MIN_EVALS))
    note: Spec | str = J("join.none", ["; ", J("join.semi", notes)]) if notes else ""
    if not (is_finite(ev) and is_finite(tr[1])):
        return Criterion.said(VAL_TRACKED, "fail", V("val.non_finite", ev=str(ev), step=step, tr=str(tr[1]), note=note),
                              codes or ["NON_FINITE"])
    gap = ev - tr[1]
    which = V("val.since") if since is not None else V("val.at", step=tr[0])
    base = V("val.base", ev=fmt(ev), step=step, tr=fmt(tr[1]), which=which, gap=fmt(gap, 3))
    status: Status = "pass" if gap < th.max_final_gap else "fail"
    key = f"val.{status}"
    if status == "fail" and falling_at_end(curve):
        # A gap while the eval loss still fell to a new best: the model was not memorising yet
        # (the diagnosis says healthy); failing the run on it would cry wolf.
        status, key = "pass", "val.falling"
    return Criterion.said(VAL_TRACKED, status, V(key, base=base, limit=fmt(th.max_final_gap), note=note,
                                                 prev=fmt(curve[-2][1]) if len(curve) > 1 else ""), codes)


def _related_spec(related: list[Finding], curve: list[tuple[int, float]]) -> Spec:
    """The memorising findings a "validation loss tracked" row cites; one judged before the last
    evaluation when that one was a new best (falling_at_end) as recovered there, as the diagnosis
    notes it (tuneguard.diagnosis, `recovered`)."""
    new_best = falling_at_end(curve)
    return J("join.semi", [V("val.recovered", finding=finding_spec(f), step=curve[-1][0], best=fmt(curve[-1][1]))
                           if new_best and f.step is not None and f.step < curve[-1][0] else finding_spec(f)
                           for f in related])


def _state(state: str) -> Spec | str:
    """A run state inside a criterion's evidence: the word in the reader's language."""
    return T(f"report.state.{state}") if f"report.state.{state}" in TABLE else state


def _early_stop(run: RunData, th: Thresholds) -> Criterion:
    step = early_stop_step(run)
    state = _state(run.state)
    if step is None and not run.train and not run.evals:
        return Criterion.said(EARLY_STOP_OK, "unknown", V("early.no_steps", state=state))
    if step is None and run.state not in ("finished", "stopped", "halted"):
        # Failed, or still going: whether early stopping would have come too soon is not known yet.
        return Criterion.said(EARLY_STOP_OK, "unknown", V("early.running", state=state, step=run.last_step))
    if step is None and run.state == "stopped" and isinstance(run.max_steps, int) and run.last_step < run.max_steps:
        # Stopped by request before its plan: whether early stopping would come too soon is unknown.
        return Criterion.said(EARLY_STOP_OK, "unknown", V("early.stopped", step=run.last_step, planned=run.max_steps))
    if step is None:
        ended = V("early.ended", state=state, step=run.last_step) if run.state != "unknown" else ""
        return Criterion.said(EARLY_STOP_OK, "pass", V("early.none", ended=ended))
    planned = run.max_steps
    if planned is None:
        return Criterion.said(EARLY_STOP_OK, "unknown", V("early.unknown_plan", step=step), ["EARLY_STOP"])
    share = step / planned
    base = V("early.share", step=step, planned=planned, share=fmt(100 * share, 3),
             minimum=fmt(100 * th.min_early_stop_share, 3))
    return Criterion.said(EARLY_STOP_OK, "pass" if share >= th.min_early_stop_share else "fail", base, ["EARLY_STOP"])


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
    return say(f"verdict.qa.vs.{word}")


def _answers_parts(run: RunData, st: dict[str, Any], th: Thresholds) -> tuple[list[Spec], list[Spec]]:
    """The expected-answer parts of the coherence evidence, and the checks they failed."""
    parts: list[Spec] = []
    failed: list[Spec] = []
    acc = st["correct"] / st["answered"]
    ok = acc >= th.min_answer_accuracy
    parts.append(V("qa.expected", right=st["correct"], n=st["answered"], acc=fmt(100 * acc, 3),
                   op=">=" if ok else "<", minimum=fmt(100 * th.min_answer_accuracy, 3)))
    if not ok:
        failed.append(V("qa.check.expected"))
    vs = compare_to_base(answer_rows(run))
    if vs is not None:
        word, after, before, n = vs
        parts.append(V("qa.versus", vs=V(f"qa.vs.{word}"), after=after, n=n, before=before))
        if word == "worse":
            failed.append(V("qa.check.worse"))
    return parts, failed


def _coherent(run: RunData, th: Thresholds) -> Criterion:
    step = run.qa_best_step()
    samples = run.qa_at(step)
    if not samples:
        if not setting(run, "eval", "qa_probes"):
            return Criterion.not_checked(COHERENT, V("qa.not_checked"))
        return Criterion.said(COHERENT, "unknown", qa_missing(run))
    st = generation_stats(samples)
    checks = [("keyword", st["keyword_score"], th.min_keyword_score),
              ("eos", st["eos_share"], th.min_eos_share),
              ("distinct2", st["distinct2"], th.min_distinct2)]
    parts, failed = _answers_parts(run, st, th) if st["answered"] else ([], [])
    for label, value, minimum in checks:
        name = V(f"qa.check.{label}")
        if value is None:
            if label != "keyword" or not st["answered"]:
                parts.append(V("qa.na", label=name))
            continue
        ok = value >= minimum
        parts.append(V("qa.value", label=name, value=fmt(value, 3), op=">=" if ok else "<", minimum=fmt(minimum, 3)))
        if not ok:
            failed.append(name)
    degraded = [f for f in run.findings if f.code == "QA_DEGRADED"]
    note: Spec | str = J("join.none", ["; ", finding_spec(degraded[-1])]) if degraded else ""
    codes = ["QA_DEGRADED"] if degraded else []
    head = V("qa.head", n=st["n"], step=step, parts=J("join.comma", parts))
    if failed:
        return Criterion.said(COHERENT, "fail", V("qa.failed", head=head, failed=J("join.comma", failed), note=note),
                              codes)
    status: Status = "unknown" if not st["answered"] and all(v is None for _, v, _ in checks) else "pass"
    return Criterion.said(COHERENT, status, V("qa.plain", head=head, note=note), codes)


def _test_missing(run: RunData) -> Spec:
    """Why a run has no test loss: data.test_file not set, or the run ended without the test
    evaluation (a halted or failed run is not scored on it: its weights are what was stopped)."""
    if not setting(run, "data", "test_file"):
        return V("test.not_checked")
    if run.state in ("halted", "failed"):
        before = before_first_eval(run)
        return V("test.ended", ended=before if before is not None else ended_spec(run))
    return V("test.none_set")


def _test_within(run: RunData, th: Thresholds) -> Criterion:
    rows = [r for r in run.test if r.get("eval_loss") is not None]
    if not rows:
        if not setting(run, "data", "test_file"):
            return Criterion.not_checked(TEST_WITHIN, V("test.not_checked"))
        return Criterion.said(TEST_WITHIN, "unknown", _test_missing(run))
    row = rows[-1]
    test = row["eval_loss"]
    val = eval_loss_at(run, run.best_step)
    ppl = row.get("perplexity")
    ppl_s: Spec | str = V("test.ppl", ppl=fmt(ppl, 4)) if is_finite(ppl) else ""
    if val is None:
        return Criterion.said(TEST_WITHIN, "unknown", V("test.no_val", test=fmt(test), ppl=ppl_s))
    if not is_finite(test):
        return Criterion.said(TEST_WITHIN, "fail", V("test.non_finite", test=str(test)), ["NON_FINITE"])
    limit = max(val[1] * (1 + th.test_margin), val[1] + th.test_margin_abs)
    base = V("test.compare", test=fmt(test), ppl=ppl_s, val=fmt(val[1]), step=val[0], limit=fmt(limit),
             margin=fmt(100 * th.test_margin, 3), abs=fmt(th.test_margin_abs))
    return Criterion.said(TEST_WITHIN, "pass" if test <= limit else "fail", base)


def compute_verdict(run: RunData, thresholds: Thresholds | None = None) -> Verdict:
    """Judge a run against the five success criteria (rules in the module docstring)."""
    th = thresholds or Thresholds.from_config(run.config)
    return Verdict([_loss_gradual(run, th), _val_tracked(run, th), _early_stop(run, th),
                    _coherent(run, th), _test_within(run, th)])
