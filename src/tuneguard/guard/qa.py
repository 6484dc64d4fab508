"""QA probes: fixed prompts generated greedily at every evaluation, scored, stored, and
watched for degradation (QA_DEGRADED); at the end of training the same probes are answered
by the base model (the adapter disabled), so the report can put the answers side by side.

Scores per probe: whether the output gives the probe's `expected` answer (normalised exact
match, or the whole answer contained on word boundaries: "42" is not in "142", "2, 5, 9" is
not in the longer list "9, 2, 5, 9, 2, 5"), the keyword score (share of the keywords found,
case-insensitive, on word boundaries), whether the generation emitted EOS (a model that
never stops is the classic symptom of pad == eos masking), and distinct-2 over the
generated tokens (low means repetition loops). Token-level distinct-2 works for languages
without spaces.

Generation runs on the main process only, with the model in eval mode under no_grad, and
restores train mode afterwards. Under FSDP or DeepSpeed ZeRO-3 the weights are sharded and
generating on one rank would hang the others, so the probes are skipped there.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
import unicodedata
from typing import TYPE_CHECKING, Any

from transformers import TrainerCallback

from tuneguard.catalog import J, T
from tuneguard.data.tokenize import encode_prompt
from tuneguard.findings import Finding
from tuneguard.guard.actions import act
from tuneguard.guard.episode import Episode
from tuneguard.events import Event

if TYPE_CHECKING:
    from tuneguard.context import RunContext

log = logging.getLogger(__name__)

OUTPUT_CHARS_IN_EVIDENCE = 200


def normalise(text: str) -> str:
    """Text as answers are compared: Unicode NFKC, case-folded, whitespace collapsed, without
    the punctuation and quotes around it ("  The answer: 42. " -> "the answer: 42")."""
    t = " ".join(unicodedata.normalize("NFKC", text).casefold().split())
    return t.strip(" \t.,;:!?\"'`()[]{}")


_JOINERS = "-'’_"  # characters that glue a word or number to its neighbour ("twenty-seven", "4.2", "don't")
_LIST_SEPARATORS = ",;/"


def _edge_ok(text: str, start: int, end: int, lists: bool) -> bool:
    """Whether text[start:end] stands on its own: not a piece of a longer word or number,
    and (`lists`) for a number, not one item of a longer list of numbers."""
    before, after = text[:start], text[end:]
    match = text[start:end]
    if before and (before[-1].isalnum() or before[-1] in _JOINERS):
        return False
    if after and (after[0].isalnum() or after[0] in _JOINERS):
        return False
    # A decimal point or thousands separator continues a number: "4" is not in "4.2" or "1,000".
    if before[-2:-1].isdigit() and before[-1:] in ".," and match[:1].isdigit():
        return False
    if after[:1] in ".," and after[1:2].isdigit() and match[-1:].isdigit():
        return False
    if lists:
        left, right = before.rstrip(), after.lstrip()
        if match[:1].isdigit() and left[-1:] in _LIST_SEPARATORS and left[:-1].rstrip()[-1:].isdigit():
            return False
        if match[-1:].isdigit() and right[:1] in _LIST_SEPARATORS and right[1:].lstrip()[:1].isdigit():
            return False
    return True


def contains_whole(text: str, part: str, lists: bool = True) -> bool:
    """`part` occurs in `text` as a whole (both normalised): on word boundaries, not inside a
    longer word or number, and with `lists`, a number list not inside a longer one."""
    t, p = normalise(text), normalise(part)
    if not p:
        return False
    start = t.find(p)
    while start >= 0:
        if _edge_ok(t, start, start + len(p), lists):
            return True
        start = t.find(p, start + 1)
    return False


def answer_correct(output: str, expected: list[str]) -> bool | None:
    """Whether `output` gives one of the `expected` answers: the normalised output equals it,
    or contains it whole (`contains_whole`). None without an expected answer."""
    if not expected:
        return None
    out = normalise(output)
    return any(out == normalise(e) or contains_whole(out, e) for e in expected if normalise(e))


def keyword_score(output: str, keywords: list[str]) -> float | None:
    """Share of `keywords` found in `output` (case-insensitive, on word boundaries: "cat" is
    not found in "concatenate"); None without keywords."""
    if not keywords:
        return None
    return sum(1 for k in keywords if contains_whole(output, k, lists=False)) / len(keywords)


def expected_list(expected: str | list[str] | None) -> list[str]:
    """A probe's `expected` as a list of acceptable answers."""
    if expected is None:
        return []
    return [expected] if isinstance(expected, str) else [str(e) for e in expected]


def distinct2(tokens: list[int]) -> float | None:
    """Unique bigrams / bigrams of a token sequence; None when it has fewer than 2 tokens."""
    pairs = list(zip(tokens, tokens[1:], strict=False))
    return len(set(pairs)) / len(pairs) if pairs else None


@dataclasses.dataclass
class ProbeResult:
    prompt: str
    output: str
    keywords: list[str]
    keyword_score: float | None
    emitted_eos: bool
    distinct2: float | None
    new_tokens: int
    expected: list[str] = dataclasses.field(default_factory=list)
    correct: bool | None = None


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for v in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(v, int):
            ids.add(v)
        elif isinstance(v, (list, tuple)):
            ids.update(int(x) for x in v)
    return ids


def generate_probe(model: Any, tokenizer: Any, prompt: str, keywords: list[str], max_new_tokens: int,
                   expected: list[str] | None = None) -> ProbeResult:
    """Greedy generation of one prompt (fed verbatim: write probes in the training format)."""
    import torch
    from transformers import GenerationConfig

    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    # As training saw the prompt: one BOS even when the probe, written in a chat template's
    # format, starts with it, and no EOS that a tokenizer's post-processor appends to texts.
    input_ids = torch.tensor([encode_prompt(tokenizer, prompt) or [tokenizer.eos_token_id]], device=device)
    attention_mask = torch.ones_like(input_ids)
    gen = GenerationConfig(max_new_tokens=max_new_tokens, do_sample=False, num_beams=1, use_cache=True,
                           eos_token_id=sorted(eos) or None, pad_token_id=pad)
    was_training = model.training
    model.eval()
    try:
        with torch.no_grad():
            out = model.generate(input_ids=input_ids, attention_mask=attention_mask, generation_config=gen)
    finally:
        if was_training:
            model.train()
    new = out[0, input_ids.shape[1]:].tolist()
    stop = next((i for i, t in enumerate(new) if t in eos), None)
    emitted = stop is not None
    text_tokens = new[:stop] if emitted else new
    output = tokenizer.decode(text_tokens, skip_special_tokens=True)
    return ProbeResult(prompt=prompt, output=output, keywords=list(keywords),
                       keyword_score=keyword_score(output, keywords), emitted_eos=emitted,
                       distinct2=distinct2(text_tokens), new_tokens=len(new), expected=list(expected or []),
                       correct=answer_correct(output, list(expected or [])))


def summarise(results: list[ProbeResult]) -> dict[str, Any]:
    """Mean keyword score (probes with keywords only), EOS share, mean distinct-2, and the
    probes with an expected answer: how many, how many right."""
    scores = [r.keyword_score for r in results if r.keyword_score is not None]
    d2 = [r.distinct2 for r in results if r.distinct2 is not None]
    judged = [r.correct for r in results if r.correct is not None]
    return {
        "probes": len(results),
        "answered": len(judged),
        "correct": sum(judged),
        "keyword_score": statistics.fmean(scores) if scores else None,
        "eos_share": statistics.fmean(1.0 if r.emitted_eos else 0.0 for r in results) if results else None,
        "distinct2": statistics.fmean(d2) if d2 else None,
    }


class QADegradedDetector:
    """QA_DEGRADED (warning): the mean keyword score dropped by >= `drop` below the best so
    far, or the share of generations that emit EOS fell below half of the best share."""

    code = "QA_DEGRADED"

    def __init__(self, drop: float) -> None:
        self.drop = drop
        self.best_score: tuple[int, float] | None = None  # (step, score)
        self.best_eos: tuple[int, float] | None = None
        self.episode = Episode()

    def update(self, step: int, keyword_score: float | None, eos_share: float | None,
               results: list[ProbeResult] | None = None) -> Finding | None:
        score_drop = (keyword_score is not None and self.best_score is not None
                      and self.best_score[1] - keyword_score >= self.drop - 1e-9)
        eos_fall = (eos_share is not None and self.best_eos is not None and self.best_eos[1] > 0
                    and eos_share < 0.5 * self.best_eos[1])
        best_score, best_eos = self.best_score, self.best_eos
        if keyword_score is not None and (self.best_score is None or keyword_score > self.best_score[1]):
            self.best_score = (step, keyword_score)
        if eos_share is not None and (self.best_eos is None or eos_share > self.best_eos[1]):
            self.best_eos = (step, eos_share)
        if not self.episode.update(score_drop or eos_fall):
            return None
        parts, triggers = [], []
        if score_drop and best_score is not None:
            triggers.append("keyword_score")
            parts.append(T("QA_DEGRADED.keyword", score=keyword_score, best=best_score[1], best_step=best_score[0]))
        if eos_fall and best_eos is not None:
            triggers.append("eos")
            parts.append(T("QA_DEGRADED.eos", share=eos_share, best=best_eos[1], best_step=best_eos[0]))
        keep = (best_score or best_eos or (step, 0.0))[0]
        message = T("QA_DEGRADED.found", step=step, parts=J("join.and", parts))
        recommendation = T("QA_DEGRADED.found.rec", keep=keep)
        evidence: dict[str, Any] = {
            "step": step, "triggers": triggers, "keyword_score": keyword_score,
            "best_keyword_score": best_score[1] if best_score else None,
            "best_keyword_step": best_score[0] if best_score else None,
            "eos_share": eos_share, "best_eos_share": best_eos[1] if best_eos else None,
            "best_eos_step": best_eos[0] if best_eos else None, "qa_drop": self.drop,
        }
        if results:
            evidence["samples"] = [{"prompt": r.prompt, "output": r.output[:OUTPUT_CHARS_IN_EVIDENCE],
                                    "keyword_score": r.keyword_score, "emitted_eos": r.emitted_eos}
                                   for r in results[:5]]
        return Finding.said(self.code, "warning", message, recommendation, evidence, step=step, source="guard")


def _sharded(args: Any) -> bool:
    if getattr(args, "fsdp", None):
        return True
    try:
        from transformers.integrations import is_deepspeed_zero3_enabled
    except ImportError:
        return False
    return bool(is_deepspeed_zero3_enabled())


class QAProbeCallback(TrainerCallback):
    """At every evaluation (main process only): generate each probe, store the samples with
    the step, send a "qa" event, and feed QA_DEGRADED (when `detector` is given)."""

    def __init__(self, ctx: RunContext, tokenizer: Any, detector: QADegradedDetector | None) -> None:
        self.ctx = ctx
        self.tokenizer = tokenizer
        self.detector = detector
        self.probes = list(ctx.cfg.eval.qa_probes)
        self.max_new_tokens = ctx.cfg.eval.qa_max_new_tokens
        self._warned = False

    def reset_for_rollback(self) -> None:
        """After a rollback QA_DEGRADED starts again; on train begin it is rebuilt from the
        (truncated) stored samples."""
        if self.detector is not None:
            self.detector = type(self.detector)(self.detector.drop)

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - Trainer signature
        # On resume, the best scores so far come from the stored samples.
        if self.detector is None or state.global_step <= 0 or self.ctx.store is None:
            return
        by_step: dict[int, list[ProbeResult]] = {}
        for s in self.ctx.store.qa_samples():
            if s["step"] <= state.global_step:
                by_step.setdefault(s["step"], []).append(ProbeResult(
                    s["prompt"], s["output"], s["keywords"], s["keyword_score"], s["emitted_eos"], s["distinct2"], 0,
                    expected_list(s.get("expected")), s.get("correct")))
        for step in sorted(by_step):
            summ = summarise(by_step[step])
            self.detector.update(step, summ["keyword_score"], summ["eos_share"])

    def on_evaluate(self, args, state, control, metrics=None, **kwargs):  # noqa: ANN001
        if not self.probes or not self.ctx.is_main:
            return
        if metrics is not None and "eval_loss" not in metrics:
            return  # the final held-out test evaluation (test_loss): probes ran at the last evaluation
        if _sharded(args):
            if not self._warned:
                log.warning("QA probes skipped: the model is sharded (FSDP / ZeRO-3) and cannot generate on one rank")
                self._warned = True
            return
        model = kwargs.get("model")
        tokenizer = self.tokenizer or kwargs.get("processing_class")
        if model is None or tokenizer is None:
            return
        step = state.global_step
        results: list[ProbeResult] = []
        try:
            for p in self.probes:
                results.append(generate_probe(model, tokenizer, p.prompt, p.keywords, self.max_new_tokens,
                                              expected_list(p.expected)))
        except Exception as exc:  # noqa: BLE001 - a probe must never end a paid training run
            log.warning("QA probe generation failed at step %d: %s", step, exc, exc_info=True)
            self.ctx.event(Event.QA_FAILED, {"error": str(exc)}, step=step, notify=False)
            return
        if self.ctx.store is not None:
            store_results(self.ctx.store, step, results)
        summ = summarise(results)
        self.ctx.event(Event.QA, {**summ, "samples": [_sample_payload(r) for r in results]}, step=step)
        if self.detector is not None:
            f = self.detector.update(step, summ["keyword_score"], summ["eos_share"], results)
            if f is not None:
                act(self.ctx, control, f)


def _sample_payload(r: ProbeResult) -> dict[str, Any]:
    d: dict[str, Any] = {"prompt": r.prompt, "output": r.output[:OUTPUT_CHARS_IN_EVIDENCE],
                         "keyword_score": r.keyword_score, "emitted_eos": r.emitted_eos}
    if r.expected:
        d.update(expected=r.expected, correct=r.correct)
    return d


def store_results(store: Any, step: int, results: list[ProbeResult], base: bool = False) -> None:
    for r in results:
        store.add_qa_sample(step, r.prompt, r.output, r.keywords, r.keyword_score, r.emitted_eos, r.distinct2,
                            expected=r.expected or None, correct=r.correct, base=base)


def record_base_answers(ctx: RunContext, model: Any, tokenizer: Any, step: int, args: Any = None) -> list[ProbeResult]:
    """Answer the QA probes with the base model and store them (marked base), so the report
    can set the fine-tuned answers beside the ones the model gave before training.

    The base model is the same PEFT model with its adapter disabled (no second copy in
    memory). Main process only; skipped without probes, for a model without adapters or
    sharded (`args`: FSDP / ZeRO-3), or when it failed (a finished run must not fail over its
    report's comparison)."""
    probes = list(ctx.cfg.eval.qa_probes)
    disable = getattr(model, "disable_adapter", None)
    if not probes or not ctx.is_main or ctx.store is None or disable is None or (args is not None and _sharded(args)):
        return []
    results: list[ProbeResult] = []
    try:
        with disable():
            for p in probes:
                results.append(generate_probe(model, tokenizer, p.prompt, p.keywords, ctx.cfg.eval.qa_max_new_tokens,
                                              expected_list(p.expected)))
    except Exception as exc:  # noqa: BLE001 - see the docstring
        log.warning("the base model's answers to the QA probes failed: %s", exc, exc_info=True)
        return []
    store_results(ctx.store, step, results, base=True)
    return results
