"""QA probes: fixed prompts generated greedily at every evaluation, scored, stored, and
watched for degradation (QA_DEGRADED).

Scores per probe: keyword score (share of the expected keywords found in the output,
case-insensitive), whether the generation emitted EOS (a model that never stops is the
classic symptom of pad == eos masking), and distinct-2 over the generated tokens (low
means repetition loops). Token-level distinct-2 works for languages without spaces.

Generation runs on the main process only, with the model in eval mode under no_grad, and
restores train mode afterwards. Under FSDP or DeepSpeed ZeRO-3 the weights are sharded and
generating on one rank would hang the others, so the probes are skipped there.
"""

from __future__ import annotations

import dataclasses
import logging
import statistics
from typing import Any

from transformers import TrainerCallback

from tuneguard.findings import Finding
from tuneguard.guard.actions import act
from tuneguard.guard.episode import Episode

log = logging.getLogger(__name__)

OUTPUT_CHARS_IN_EVIDENCE = 200


def keyword_score(output: str, keywords: list[str]) -> float | None:
    """Share of `keywords` found in `output` (case-insensitive); None without keywords."""
    if not keywords:
        return None
    low = output.lower()
    return sum(1 for k in keywords if k.lower() in low) / len(keywords)


def distinct2(tokens: list[int]) -> float | None:
    """Unique bigrams / bigrams of a token sequence; None when it has fewer than 2 tokens."""
    pairs = list(zip(tokens, tokens[1:]))
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


def _eos_ids(model: Any, tokenizer: Any) -> set[int]:
    ids: set[int] = set()
    for v in (getattr(getattr(model, "generation_config", None), "eos_token_id", None), tokenizer.eos_token_id):
        if isinstance(v, int):
            ids.add(v)
        elif isinstance(v, (list, tuple)):
            ids.update(int(x) for x in v)
    return ids


def generate_probe(model: Any, tokenizer: Any, prompt: str, keywords: list[str], max_new_tokens: int) -> ProbeResult:
    """Greedy generation of one prompt (fed verbatim: write probes in the training format)."""
    import torch
    from transformers import GenerationConfig

    eos = _eos_ids(model, tokenizer)
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    device = next(model.parameters()).device
    enc = tokenizer(prompt, return_tensors="pt")
    input_ids = enc["input_ids"].to(device)
    attention_mask = enc["attention_mask"].to(device)
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
                       distinct2=distinct2(text_tokens), new_tokens=len(new))


def summarise(results: list[ProbeResult]) -> dict[str, Any]:
    """Mean keyword score (probes with keywords only), EOS share and mean distinct-2."""
    scores = [r.keyword_score for r in results if r.keyword_score is not None]
    d2 = [r.distinct2 for r in results if r.distinct2 is not None]
    return {
        "probes": len(results),
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
            parts.append(f"the keyword score fell to {keyword_score:.0%} from its best {best_score[1]:.0%} "
                         f"at step {best_score[0]}")
        if eos_fall and best_eos is not None:
            triggers.append("eos")
            parts.append(f"only {eos_share:.0%} of the generations emitted EOS against {best_eos[1]:.0%} at step "
                         f"{best_eos[0]} (the model is losing the ability to stop)")
        keep = (best_score or best_eos or (step, 0.0))[0]
        message = f"QA probes degraded at step {step}: {' and '.join(parts)}."
        recommendation = (f"Keep the checkpoint of step {keep} (eval.load_best_model_at_end: true) and stop "
                          "earlier (eval.early_stopping_patience). A falling keyword score means forgetting or "
                          "overfitting: lower train.learning_rate or train fewer steps. Generations that stop "
                          "emitting EOS point at EOS masked out of the labels (pad == eos: data.pad_token: auto) "
                          "or missing from the data (see the audit).")
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
        return Finding(code=self.code, severity="warning", message=message, evidence=evidence,
                       recommendation=recommendation, step=step, source="guard")


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

    def __init__(self, ctx: Any, tokenizer: Any, detector: QADegradedDetector | None) -> None:
        self.ctx = ctx
        self.tokenizer = tokenizer
        self.detector = detector
        self.probes = list(ctx.cfg.eval.qa_probes)
        self.max_new_tokens = ctx.cfg.eval.qa_max_new_tokens
        self._warned = False

    def on_train_begin(self, args, state, control, **kwargs):  # noqa: ANN001 - Trainer signature
        # On resume, the best scores so far come from the stored samples.
        if self.detector is None or state.global_step <= 0 or self.ctx.store is None:
            return
        by_step: dict[int, list[ProbeResult]] = {}
        for s in self.ctx.store.qa_samples():
            if s["step"] <= state.global_step:
                by_step.setdefault(s["step"], []).append(ProbeResult(
                    s["prompt"], s["output"], s["keywords"], s["keyword_score"], s["emitted_eos"], s["distinct2"], 0))
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
                results.append(generate_probe(model, tokenizer, p.prompt, p.keywords, self.max_new_tokens))
        except Exception as exc:  # noqa: BLE001 - a probe must never end a paid training run
            log.warning("QA probe generation failed at step %d: %s", step, exc, exc_info=True)
            self.ctx.event("qa_failed", {"error": str(exc)}, step=step, notify=False)
            return
        if self.ctx.store is not None:
            for r in results:
                self.ctx.store.add_qa_sample(step, r.prompt, r.output, r.keywords, r.keyword_score,
                                             r.emitted_eos, r.distinct2)
        summ = summarise(results)
        self.ctx.event("qa", {**summ, "samples": [{"prompt": r.prompt, "output": r.output[:OUTPUT_CHARS_IN_EVIDENCE],
                                                   "keyword_score": r.keyword_score, "emitted_eos": r.emitted_eos}
                                                  for r in results]}, step=step)
        if self.detector is not None:
            f = self.detector.update(step, summ["keyword_score"], summ["eos_share"], results)
            if f is not None:
                act(self.ctx, control, f)
