"""The building blocks of a run, each usable alone: the step plan, TrainingArguments, the
tokenizer and data, the audit, the notifier, the model with LoRA, and the Trainer with its
collators and callbacks. The recipe (tuneguard.train.run) puts them together; `plan
--calibrate` measures the same pipeline."""

from __future__ import annotations

import logging
import math
import platform
import time
from pathlib import Path
from typing import Any

import torch

from tuneguard.catalog import Spec, T
from tuneguard.config.schema import Config
from tuneguard.data.collate import build_collator
from tuneguard.data.load import check_sources
from tuneguard.data.pipeline import PreparedData, prepare_data
from tuneguard.errors import UsageError
from tuneguard.findings import Finding
from tuneguard.model import load as model_lib
from tuneguard.context import RunContext
from tuneguard.store.run_store import RunStore
from tuneguard.train.metrics import CountingCollator, TokenCounter
from tuneguard.train.steps import StepRecorder

log = logging.getLogger(__name__)


class ListDataset(torch.utils.data.Dataset):
    """Tokenized examples in memory; `length` lets the Trainer group batches by length."""

    def __init__(self, features: list[dict[str, Any]]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.features[i]


def environment() -> dict[str, Any]:
    import peft
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__,
           "transformers": transformers.__version__, "peft": peft.__version__,
           "platform": platform.platform(), "host": platform.node()}
    env["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return env



def steps_plan(n_train: int, cfg: Config, world_size: int) -> tuple[int, int]:
    """(steps per epoch, total optimizer steps) the Trainer will run."""
    per_step = cfg.train.batch_size * cfg.train.gradient_accumulation_steps * world_size
    spe = max(1, math.ceil(n_train / per_step))
    total = cfg.train.max_steps if cfg.train.max_steps > 0 else max(1, math.ceil(cfg.train.num_epochs * spe))
    return spe, total


def world_size_note(before: int | None, now: int, cfg: Config) -> Spec | None:
    """What changes when a run resumes on a different number of processes than it trained on,
    as a catalog spec (None: the same, or not recorded). The Trainer resumes by step without a
    word, so each step now takes a different number of examples; tuneguard counts epochs, the
    guards' windows and the report in the examples each step took (tuneguard.guard.seen), and
    the resumed event carries this note to the store, the notification and the report."""
    if before is None or before == now:
        return None
    rows = cfg.train.batch_size * cfg.train.gradient_accumulation_steps
    return T("resume.world_size", before=before, now=now, rows_now=rows * now, rows_before=rows * before,
             batch=cfg.train.batch_size, accum=cfg.train.gradient_accumulation_steps)


def training_arguments(cfg: Config, run_dir: Path, use_cpu: bool, *, gradient_checkpointing: bool | None = None) -> Any:
    """TrainingArguments for the config. `gradient_checkpointing`: the resolved choice
    (tuneguard.train.perf decides "auto"); None reads the config (True only when set True).
    Training batches are random here; token_budget batching is RunTrainer's sampler."""
    from transformers import TrainingArguments

    t, e = cfg.train, cfg.eval
    if gradient_checkpointing is None:
        gradient_checkpointing = cfg.model.gradient_checkpointing is True
    dtype = model_lib.resolve_dtype(cfg.model.dtype)
    save_strategy = e.strategy if (e.load_best_model_at_end and e.strategy != "no") else "steps"
    return TrainingArguments(
        output_dir=str(run_dir / "checkpoints"),
        per_device_train_batch_size=t.batch_size,
        per_device_eval_batch_size=t.eval_batch_size or t.batch_size,
        gradient_accumulation_steps=t.gradient_accumulation_steps,
        learning_rate=t.learning_rate,
        weight_decay=t.weight_decay,
        lr_scheduler_type=t.lr_scheduler,
        warmup_steps=t.warmup_ratio,  # transformers 5: a float < 1 is a ratio
        max_grad_norm=t.max_grad_norm,
        optim=t.optim,
        num_train_epochs=t.num_epochs,
        max_steps=t.max_steps,
        seed=t.seed,
        data_seed=cfg.data.seed,
        logging_steps=t.logging_steps,
        logging_first_step=True,
        logging_nan_inf_filter=False,  # the filter hides NaN losses (logs 0.0): the guard must see them
        eval_strategy=e.strategy,
        eval_steps=e.steps if e.strategy == "steps" else None,
        save_strategy=save_strategy,
        save_steps=t.save_steps,
        save_total_limit=None,  # CheckpointMarkerCallback rotates, after the new checkpoint is marked
        load_best_model_at_end=e.load_best_model_at_end and e.strategy != "no",
        metric_for_best_model="eval_loss",
        greater_is_better=False,
        # bf16 autocast on the CPU too: the same mixed-precision path as on a GPU (and its tests).
        bf16=dtype == torch.bfloat16,
        fp16=dtype == torch.float16 and not use_cpu,
        use_cpu=use_cpu,
        report_to=list(t.report_to) or "none",
        remove_unused_columns=False,
        train_sampling_strategy="random",  # token_budget: tuneguard.train.trainer.RunTrainer
        length_column_name="length",
        disable_tqdm=True,
        dataloader_num_workers=t.dataloader_num_workers,
        gradient_checkpointing=bool(gradient_checkpointing),
        # Non-reentrant: works with frozen embeddings (LoRA) without enable_input_require_grads.
        gradient_checkpointing_kwargs={"use_reentrant": False} if gradient_checkpointing else None,
        torch_compile=t.torch_compile,
        ddp_find_unused_parameters=False,
        ddp_timeout=t.ddp_timeout,
        fsdp=t.fsdp,
        fsdp_config=t.fsdp_config,
        deepspeed=t.deepspeed,
        run_name=run_dir.name,  # the trackers' run name
        save_only_model=False,
    )


def load_tokenizer_and_data(cfg: Config, resume_from: Path | None = None, cache_dir: Path | None = None,
                            write_cache: bool = True) -> tuple[Any, PreparedData]:
    """The tokenizer (with its pad token) and the tokenized data, exactly as training builds
    them, before any weights load. UsageError when data.max_length exceeds the context.
    `resume_from`: the checkpoint a resumed run continues, whose tokenizer wins when its
    vocabulary or pad token differs (see `run_tokenizer`). `cache_dir` (with data.cache): the
    tokenized splits are reused from there when their key matches (tuneguard.data.cache)."""
    check_sources(cfg.data.train_file, cfg.data.validation_file, cfg.data.test_file)  # before any hub access
    tokenizer = model_lib.load_tokenizer(cfg.model)
    model_lib.setup_pad_token(tokenizer, cfg.data.pad_token)
    if resume_from is not None:
        tokenizer = run_tokenizer(tokenizer, resume_from)
    # Not strict: too many malformed rows are the audit's MALFORMED_ROWS error, which refuses
    # the run (unless --force) with the rows named.
    cache = None
    if cache_dir is not None and cfg.data.cache:
        from tuneguard.data.cache import DataCache, data_key

        cache = DataCache(cache_dir, data_key(cfg.data, tokenizer), write=write_cache)
    data = prepare_data(cfg.data, tokenizer, strict=False, cache=cache)
    problem = model_lib.causal_lm_problem(model_lib.model_config(cfg, tokenizer), cfg.model.name)
    if problem:
        raise model_lib.ModelError(problem)
    ctx_len = model_lib.configured_context(cfg, tokenizer, tokenizer_limit=False)
    if ctx_len and cfg.data.max_length > ctx_len:
        raise UsageError(f"data.max_length ({cfg.data.max_length}) exceeds the model's context ({ctx_len}): "
                         f"set data.max_length <= {ctx_len}")
    return tokenizer, data


def run_tokenizer(fresh: Any, checkpoint: Path) -> Any:
    """The tokenizer a resumed run trained with: the one saved in its checkpoint when it
    differs from `fresh` (the model's, with today's pad token) in size or pad token, else `fresh`.

    Runs started before tuneguard padded with the unknown or a reserved token added `<|pad|>`
    and grew the embeddings to fit it; their checkpoints hold adapters (and a trained LM head)
    of that size, which the model built for today's tokenizer cannot load. Training on with the
    run's own tokenizer grows the embeddings the same way, and the data tokenize as before."""
    from transformers import AutoTokenizer

    if not (checkpoint / "tokenizer_config.json").exists():
        return fresh
    try:
        saved = AutoTokenizer.from_pretrained(checkpoint)
    except (OSError, ValueError) as exc:
        raise UsageError(f"cannot read the tokenizer saved in {checkpoint} ({exc}); the run must resume with the "
                         f"tokenizer it trained with: restore that folder's tokenizer files, or train anew with "
                         f"--overwrite or another --run-dir") from None
    if len(saved) == len(fresh) and saved.pad_token == fresh.pad_token:
        return fresh
    log.info("resuming with the tokenizer saved in %s (%d tokens, pad %s): the run trained with it; the model's "
             "own, as tuneguard sets it up today, has %d tokens and pads with %s", checkpoint, len(saved),
             saved.pad_token, len(fresh), fresh.pad_token)
    return saved


def run_data_audit(cfg: Config, data: PreparedData, tokenizer: Any) -> tuple[list[Finding], dict[str, Any], int]:
    """The audit's findings, the task shape it judged them by (stats.task), and the training
    rows with its duplicate groups each counted once (the guards count exposures per distinct row).
    Taken from the data's cache (RUN_DIR/cache/audit.json) when it holds them for the same data
    and audit settings, so that a resume does not audit again."""
    from tuneguard.audit import run_audit
    from tuneguard.guard.seen import distinct_rows

    # What the checks read besides the data (whose key the cache already holds).
    audit_key = {"audit": cfg.audit.model_dump(mode="json"), "model": cfg.model.model_dump(mode="json"),
                 "batch_size": cfg.train.batch_size}
    cached = data.cache.audit(audit_key) if data.cache is not None else None
    if cached is not None:
        return cached
    result = run_audit(cfg, data, tokenizer)
    rows = len(data.train.features)
    task = dict(result.stats.get("task") or {})
    if task and result.task_text is not None:
        task["text"] = result.task_text  # why, as a catalog spec: the report says it in its language
    found = list(result.findings), task, distinct_rows(rows, result.stats)
    if data.cache is not None:
        data.cache.save_audit(audit_key, *found)
    return found


def optional_callbacks(ctx: RunContext, tokenizer: Any) -> list[Any]:
    """Guard and control callbacks (their own modules); early stopping."""
    cbs: list[Any] = []
    from tuneguard.control import build_control_callbacks
    from tuneguard.guard import build_guard_callbacks

    # With guard.enabled false this still holds early stopping and QA probes when configured.
    cbs.extend(build_guard_callbacks(ctx, tokenizer))
    cbs.extend(build_control_callbacks(ctx))
    return cbs


class CallerTimedNotifier:
    """Forwards to the Notifier and adds up the time the training thread spends in it.

    The promise is that a dead or slow endpoint costs training nothing measurable; this is
    the measurement (recorded as `notify_caller_seconds` in the store at the end)."""

    def __init__(self, inner: Any):
        self.inner = inner
        self.seconds = 0.0

    def notify(self, *a: Any, **kw: Any) -> None:
        t = time.perf_counter()
        try:
            self.inner.notify(*a, **kw)
        finally:
            self.seconds += time.perf_counter() - t

    def maybe_progress(self, *a: Any, **kw: Any) -> bool:
        t = time.perf_counter()
        try:
            return self.inner.maybe_progress(*a, **kw)
        finally:
            self.seconds += time.perf_counter() - t

    def maybe_evaluation(self, *a: Any, **kw: Any) -> bool:
        t = time.perf_counter()
        try:
            return self.inner.maybe_evaluation(*a, **kw)
        finally:
            self.seconds += time.perf_counter() - t

    def close(self, timeout: float | None = None) -> bool:
        return self.inner.close(timeout)

    def ending(self) -> None:
        self.inner.ending()

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def make_notifier(cfg: Config, store: RunStore | None, secrets: list[str], run_name: str) -> CallerTimedNotifier | None:
    if not cfg.notify.urls or store is None:
        return None
    from tuneguard.notify.notifier import Notifier

    return CallerTimedNotifier(Notifier(cfg.notify, store, secrets, run_name=run_name))


def load_model_for_training(cfg: Config, tokenizer: Any, *, device_map: Any = None,
                            keep_base: Path | None = None) -> tuple[Any, dict[str, int]]:
    """The base model (onto `device_map`'s device) wrapped with LoRA, set up for training;
    `keep_base`: save the base there first (a random-init built-in cannot be reloaded
    otherwise)."""
    base = model_lib.load_base_model(cfg, tokenizer, device_map=device_map)
    # Training never reads a KV cache; GPT-J would build and copy one in every layer.
    base.config.use_cache = False
    if keep_base is not None:
        base.save_pretrained(keep_base)
    return model_lib.apply_lora(base, cfg)


def build_run_trainer(cfg: Config, model: Any, tokenizer: Any, data: PreparedData, run_dir: Path, *,
                      use_cpu: bool, steps_per_epoch: int, callbacks: list[Any], counter: TokenCounter,
                      wrap_collator: Any = None, recorder: StepRecorder | None = None) -> tuple[Any, Any]:
    """(trainer, performance plan) of a run: collators, the automatic choices
    (tuneguard.train.perf), TrainingArguments and the batching Trainer, exactly as `train`
    runs them; `plan --calibrate` measures this same pipeline. `wrap_collator` wraps the
    training collator (a measurement's recorder); `recorder` gets every optimizer step's loss and
    gradient norm (tuneguard.train.steps)."""
    from transformers.trainer_callback import PrinterCallback

    from tuneguard.data.batching import supervised_tokens_per_step
    from tuneguard.data.token_rows import row_lengths
    from tuneguard.train import perf
    from tuneguard.train.trainer import RunTrainer

    bucketed = cfg.data.batching == "token_budget"
    features = data.train.features
    lengths = sorted(row_lengths(features), reverse=True)
    plan = perf.plan_performance(cfg, model, use_cpu=use_cpu, max_example_length=lengths[0] if lengths else None,
                                 tokens_per_step=supervised_tokens_per_step(features, steps_per_epoch) if bucketed else None,
                                 row_tokens=sum(lengths[:cfg.train.batch_size]) or None)
    # Padding-free rows for training only: evaluation batches stay padded, so eval losses are
    # computed as without it (and need no packed-sequence mask).
    collator = CountingCollator(build_collator(cfg.data.collator, tokenizer, cfg.data.pad_to_multiple_of,
                                               cfg.data.max_length, padding_free=plan.padding_free), counter)
    if wrap_collator is not None:
        collator = wrap_collator(collator)
    eval_collator = build_collator(cfg.data.collator, tokenizer, cfg.data.pad_to_multiple_of, cfg.data.max_length)
    args = training_arguments(cfg, run_dir, use_cpu, gradient_checkpointing=plan.gradient_checkpointing)
    trainer = RunTrainer(length_buckets=bucketed, pad_to_multiple_of=cfg.data.pad_to_multiple_of, model=model,
                         args=args, train_dataset=ListDataset(features), eval_dataset=ListDataset(data.validation.features),
                         data_collator=collator, eval_collator=eval_collator, processing_class=tokenizer,
                         callbacks=callbacks, compute_loss_func=plan.loss_func,
                         train_collate_wrapper=plan.train_collate_wrapper(), recorder=recorder)
    counter.watch(model)  # real tokens counted as batches reach the model (workers or not)
    trainer.remove_callback(PrinterCallback)  # tuneguard's DisplayCallback shows the logs
    return trainer, plan
