"""Real transformers.Trainer runs on a tiny random-init GPT-J (CPU, seconds): a NaN injected
at step k halts with a checkpoint, a repeated text collapses and halts, QA probes are
generated and stored in a real RunStore."""

from __future__ import annotations

import json
import math
from pathlib import Path

import pytest
import torch
from guard_helpers import make_ctx, random_rows
from transformers import AutoModelForCausalLM, Trainer, TrainerCallback, TrainingArguments, default_data_collator

from tuneguard.findings import Finding
from tuneguard.guard import build_guard_callbacks
from tuneguard.guard.qa import generate_probe, keyword_score
from tuneguard.model.load import tiny_model_config

pytestmark = pytest.mark.usefixtures("one_thread")
VOCAB = 640


def tiny_model(seed: int = 0):
    torch.manual_seed(seed)
    return AutoModelForCausalLM.from_config(tiny_model_config(VOCAB))


def args_for(out: Path, **kw) -> TrainingArguments:
    base = dict(output_dir=str(out), per_device_train_batch_size=4, learning_rate=1e-3, logging_steps=1,
                logging_first_step=True, logging_nan_inf_filter=False, use_cpu=True, save_strategy="steps",
                save_steps=1000, eval_strategy="no", report_to="none", disable_tqdm=True, seed=0)
    base.update(kw)
    return TrainingArguments(**base)


def checkpoints(out: Path) -> list[str]:
    return sorted(p.name for p in out.glob("checkpoint-*")) if out.exists() else []


class NanAtCall:
    """Forward hook that turns the loss of the k-th training forward into NaN."""

    def __init__(self, k: int) -> None:
        self.k, self.calls = k, 0

    def __call__(self, module, inputs, output):
        if module.training:
            self.calls += 1
            if self.calls == self.k:
                output.loss = output.loss * float("nan")
        return output


def test_nan_loss_at_step_k_halts_with_checkpoint(tmp_path, tokenizer):
    k = 4
    ctx = make_ctx(tmp_path / "run")
    assert ctx.cfg.guard.actions["NON_FINITE"] == "halt"
    model = tiny_model()
    model.register_forward_hook(NanAtCall(k))
    out = tmp_path / "ckpt"
    trainer = Trainer(model=model, args=args_for(out, max_steps=10), train_dataset=random_rows(64),
                      data_collator=default_data_collator, callbacks=build_guard_callbacks(ctx, tokenizer))
    trainer.train()
    assert trainer.state.global_step == k  # stopped right there
    assert ctx.stop_reason == "halted"
    f = ctx.halt_finding
    assert (f.code, f.severity, f.step) == ("NON_FINITE", "error", k)
    assert math.isnan(f.evidence["loss"]) and f.evidence["kind"] == "nan"
    # The halt checkpoint was written in the same log/evaluate/save pass.
    assert checkpoints(out) == [f"checkpoint-{k}"]
    assert json.loads((out / f"checkpoint-{k}" / "trainer_state.json").read_text())["global_step"] == k
    assert [(s.code, s.step) for s in ctx.store.findings()] == [("NON_FINITE", k)]
    ctx.store.close()


def test_repeated_text_collapses_in_epoch_one_and_halts(tmp_path, tokenizer):
    ctx = make_ctx(tmp_path / "run")
    seq = list(range(5, 21))
    rows = [{"input_ids": seq, "attention_mask": [1] * 16, "labels": seq} for _ in range(2000)]  # 500 steps/epoch
    # What the audit says of these rows: the cause that makes a low loss a fault.
    ctx.audit_findings = [Finding("DUPLICATE_EXACT", "error", "1999 of 2000 rows repeat one row", {"share": 0.9995})]
    out = tmp_path / "ckpt"
    trainer = Trainer(model=tiny_model(), args=args_for(out, max_steps=50, learning_rate=1e-2, warmup_steps=0,
                                                        lr_scheduler_type="constant"),
                      train_dataset=rows, data_collator=default_data_collator,
                      callbacks=build_guard_callbacks(ctx, tokenizer))
    trainer.train()
    f = ctx.halt_finding
    assert f is not None and (f.code, f.severity) == ("LOSS_COLLAPSE", "error")
    assert f.evidence["audit_causes"] == ["DUPLICATE_EXACT"]
    # What the model had seen, from the Trainer's own dataloader: 4 examples per step, 2,000
    # rows, and (without the audit's groups in this context) 2,000 distinct rows.
    assert f.evidence["passes"] < 0.1 and f.step == trainer.state.global_step
    assert (f.evidence["examples_seen"], f.evidence["rows"]) == (4 * f.evidence["at_step"], 2000)
    assert f.evidence["loss"] < 0.05 * f.evidence["initial_loss"]
    assert checkpoints(out) == [f"checkpoint-{f.step}"]
    ctx.store.close()


class ModeSpy(TrainerCallback):
    """Records the model's mode after the QA callback ran in on_evaluate."""

    def __init__(self):
        self.modes = []

    def on_evaluate(self, args, state, control, model=None, **kwargs):
        self.modes.append(model.training)


def test_qa_probes_stored_at_every_evaluation(tmp_path, tokenizer):
    from peft import LoraConfig, get_peft_model

    probes = [{"prompt": "the question is what", "keywords": ["answer", "the"]},
              {"prompt": "hello water tree", "keywords": []}]
    ctx = make_ctx(tmp_path / "run", eval={"qa_probes": probes, "qa_max_new_tokens": 6})
    model = get_peft_model(tiny_model(), LoraConfig(r=4, lora_alpha=8, target_modules=["q_proj", "v_proj"],
                                                    task_type="CAUSAL_LM"))
    spy = ModeSpy()
    trainer = Trainer(model=model, args=args_for(tmp_path / "ckpt", max_steps=6, eval_strategy="steps", eval_steps=3),
                      train_dataset=random_rows(48), eval_dataset=random_rows(8, seed=1),
                      data_collator=default_data_collator,
                      callbacks=build_guard_callbacks(ctx, tokenizer) + [spy])
    trainer.train()
    samples = ctx.store.qa_samples()
    assert [(s["step"], s["prompt"]) for s in samples] == [(3, probes[0]["prompt"]), (3, probes[1]["prompt"]),
                                                           (6, probes[0]["prompt"]), (6, probes[1]["prompt"])]
    for s in samples:
        p = next(p for p in probes if p["prompt"] == s["prompt"])
        assert s["keywords"] == p["keywords"]
        assert s["keyword_score"] == keyword_score(s["output"], p["keywords"])
        assert isinstance(s["emitted_eos"], bool)
        assert s["distinct2"] is None or 0.0 < s["distinct2"] <= 1.0
    assert [e["step"] for e in ctx.store.events("qa")] == [3, 6]
    assert spy.modes == [False, False]  # evaluation mode is what the Trainer had set; it is restored as found
    # A healthy run on random tokens records no error.
    assert [f for f in ctx.store.findings() if f.severity == "error"] == []
    ctx.store.close()


def test_generate_probe_restores_train_mode(tokenizer):
    model = tiny_model()
    model.train()
    r = generate_probe(model, tokenizer, "the data model", ["model"], max_new_tokens=5)
    assert model.training
    assert r.new_tokens <= 5 and r.keyword_score == keyword_score(r.output, ["model"])
    assert torch.is_grad_enabled()
