"""The training recipe, top to bottom: build everything, audit, train, finish.

`run_training` returns the process exit code of the contract:
0 finished / early-stopped / stopped on request, 1 halted by a guard or failed,
2 config or data error before the model loads.
"""

from __future__ import annotations

import contextlib
import dataclasses
import fcntl
import logging
import math
import os
import platform
import shutil
import time
import traceback
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.text import Text

from tuneguard.config.load import ConfigError, dump_yaml, redacted_dict, resolve_env_refs, secret_values
from tuneguard.config.schema import Config
from tuneguard.data.collate import build_collator
from tuneguard.data.load import DataError, check_sources
from tuneguard.deps import missing_trackers
from tuneguard.data.pipeline import PreparedData, prepare_data
from tuneguard.dist import (
    Collectives,
    PeerRefused,
    StartGate,
    destroy_process_group,
    init_process_group,
    save_adapter,
)
from tuneguard.findings import Finding
from tuneguard.store.run_store import RunStore
from tuneguard.trackers import TrackerCallback
from tuneguard.model import load as model_lib
from tuneguard.context import RunContext
from tuneguard.train.diskfull import DiskFull, handle_disk_full, is_disk_full
from tuneguard.train.display import DisplayCallback
from tuneguard.train.metrics import CountingCollator, MetricsCallback, TokenCounter
from tuneguard.train.preflight import Preflight, PreflightRefusal, preflight
from tuneguard.checkpoints import CheckpointMarkerCallback, latest_checkpoint
from tuneguard.train.steps import StepRecorder
from tuneguard.verbatim import make_console, print_error

log = logging.getLogger(__name__)

EXIT_OK, EXIT_FAIL, EXIT_USAGE = 0, 1, 2


# Keys a resumed run may change: they do not affect what is learned.
RESUME_MAY_CHANGE = ("notify.", "report.", "train.ddp_timeout", "train.control_every_steps",
                     "train.dataloader_num_workers", "train.report_to")


class UsageError(Exception):
    """A problem the user must fix before training starts (exit 2)."""


@dataclasses.dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> "DistInfo":
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))


class ListDataset(torch.utils.data.Dataset):
    """Tokenized examples in memory; `length` lets the Trainer group batches by length."""

    def __init__(self, features: list[dict[str, Any]]):
        self.features = features

    def __len__(self) -> int:
        return len(self.features)

    def __getitem__(self, i: int) -> dict[str, Any]:
        return self.features[i]


# --- run directory -------------------------------------------------------------------

class RunDirLock:
    """An exclusive lock on the run directory so two trainers never write one run."""

    def __init__(self, run_dir: Path):
        self.path = run_dir / ".lock"
        self.fd: int | None = None

    def acquire(self) -> None:
        self.fd = os.open(self.path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(self.fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            other = os.pread(self.fd, 200, 0).decode("utf-8", "replace").strip() or "another process"
            os.close(self.fd)
            self.fd = None
            raise UsageError(f"{self.path.parent} is in use by {other}; wait for it or use another --run-dir") from None
        os.ftruncate(self.fd, 0)
        os.pwrite(self.fd, f"pid {os.getpid()} on {platform.node()}".encode(), 0)

    def release(self) -> None:
        if self.fd is not None:
            fcntl.flock(self.fd, fcntl.LOCK_UN)
            os.close(self.fd)
            self.fd = None


# What a run writes into its directory (and --overwrite deletes).
RUN_FILES = ("run.db", "run.db-wal", "run.db-shm", "checkpoints", "adapter", "base_model",
             "config.yaml", "report.html", "report.md", "recommended.yaml")


def make_run_dir(run_dir: Path) -> None:
    """Create the run directory. Refuse a file, the filesystem root and the home directory:
    a run writes config.yaml, run.db, checkpoints/ there, and --overwrite deletes them."""
    if run_dir.exists() and not run_dir.is_dir():
        raise UsageError(f"--run-dir {run_dir} is a file, not a directory: give a directory for the run")
    if run_dir == Path(run_dir.anchor) or run_dir == Path.home().resolve():
        raise UsageError(f"refusing --run-dir {run_dir}: a run writes config.yaml, run.db, checkpoints/ and "
                         "adapter/ into its directory; give it a directory of its own, e.g. runs/NAME")
    try:
        run_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the run directory {run_dir}: {exc.strerror or exc}") from None


def prepare_run_dir(run_dir: Path, cfg_dict: dict[str, Any], resume: bool, overwrite: bool) -> Path | None:
    """Check the run directory; return the checkpoint to resume from (or None)."""
    from tuneguard.config.load import parse_yaml

    db = run_dir / "run.db"
    if db.exists() and not resume and not overwrite:
        if not never_trained(run_dir):
            raise UsageError(f"{run_dir} already holds a run: continue it with --resume auto, "
                             "start over with --overwrite, or choose another --run-dir")
        # An attempt refused before training (the audit, a model that would not load) holds
        # nothing worth keeping, and its advice ("fix the data, or pass --force") must work here.
        log.info("replacing the earlier attempt in %s, which never started training", run_dir)
        overwrite = True
    # An empty checkpoints/ (or a link to another disk) is a place prepared for a run, not one.
    ours = [n for n in RUN_FILES if (run_dir / n).exists() and not ((run_dir / n).is_dir() and
                                                                    not any((run_dir / n).iterdir()))]
    if not db.exists() and ours and not resume and not overwrite:
        raise UsageError(f"{run_dir} holds {', '.join(ours)} but no run store (run.db), and a run would "
                         "overwrite them: choose a new --run-dir, or pass --overwrite to replace them")
    if overwrite and not resume:
        remove_run_files(run_dir)
    if resume and (run_dir / "config.yaml").exists():
        old = parse_yaml((run_dir / "config.yaml").read_text("utf-8"), "config.yaml")
        changed = [k for k in _flat(cfg_dict) if _flat(old).get(k) != _flat(cfg_dict)[k]
                   and not k.startswith(RESUME_MAY_CHANGE)]
        if changed:
            raise UsageError(f"--resume auto needs the same config as the run in {run_dir}; changed: "
                             f"{', '.join(changed[:8])}. Use another --run-dir for a new run")
    return latest_checkpoint(run_dir / "checkpoints") if resume else None


def remove_run_files(run_dir: Path) -> None:
    """Delete what a run wrote into `run_dir` (RUN_FILES), nothing else."""
    for name in RUN_FILES:
        p = run_dir / name
        if p.is_symlink() and p.is_dir():  # a link to another disk: keep the link, empty it
            for child in p.iterdir():
                shutil.rmtree(child) if child.is_dir() and not child.is_symlink() else child.unlink()
        elif p.is_dir():
            shutil.rmtree(p)
        elif p.exists() or p.is_symlink():
            p.unlink()


def never_trained(run_dir: Path) -> bool:
    """True when the run in `run_dir` ended before its first training step: no start event,
    no metrics, no checkpoint, no adapter, and no live process (a refused attempt)."""
    from tuneguard.store.run_store import FINAL_STATES

    if any((run_dir / n).exists() and any((run_dir / n).iterdir()) for n in ("checkpoints", "adapter")
           if (run_dir / n).is_dir()):
        return False
    try:
        with RunStore(run_dir, readonly=True) as store:
            state, _ = store.view_state()
            return (state in FINAL_STATES and not store.metrics()
                    and not any(e["type"] in ("started", "resumed") for e in store.events()))
    except Exception:  # noqa: BLE001 - a store we cannot read is not ours to replace
        return False


def _flat(d: dict[str, Any], prefix: str = "") -> dict[str, Any]:
    out: dict[str, Any] = {}
    for k, v in d.items():
        key = f"{prefix}{k}"
        if isinstance(v, dict):
            out.update(_flat(v, key + "."))
        else:
            out[key] = v
    return out


def environment() -> dict[str, Any]:
    import peft
    import transformers

    env = {"python": platform.python_version(), "torch": torch.__version__,
           "transformers": transformers.__version__, "peft": peft.__version__,
           "platform": platform.platform(), "host": platform.node()}
    env["device"] = torch.cuda.get_device_name(0) if torch.cuda.is_available() else "cpu"
    return env


# --- building blocks -----------------------------------------------------------------

def steps_plan(n_train: int, cfg: Config, world_size: int) -> tuple[int, int]:
    """(steps per epoch, total optimizer steps) the Trainer will run."""
    per_step = cfg.train.batch_size * cfg.train.gradient_accumulation_steps * world_size
    spe = max(1, math.ceil(n_train / per_step))
    total = cfg.train.max_steps if cfg.train.max_steps > 0 else max(1, math.ceil(cfg.train.num_epochs * spe))
    return spe, total


def training_arguments(cfg: Config, run_dir: Path, use_cpu: bool, *, gradient_checkpointing: bool | None = None) -> Any:
    """TrainingArguments for the config. `gradient_checkpointing`: the resolved choice
    (tuneguard.train.perf decides "auto"); None reads the config (True only when set True).
    Training batches are random here; token_budget batching is BatchingTrainer's sampler."""
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
        train_sampling_strategy="random",  # token_budget: tuneguard.data.batching.BatchingTrainer
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


def model_context_length(cfg: Config, tokenizer: Any) -> int | None:
    """The model's context window, read from its config without loading weights."""
    if cfg.model.context_length:
        return cfg.model.context_length
    conf = model_lib.model_config(cfg, tokenizer)
    if conf is None:
        return None
    for k in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        v = getattr(conf, k, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def load_tokenizer_and_data(cfg: Config) -> tuple[Any, PreparedData]:
    """The tokenizer (with its pad token) and the tokenized data, exactly as training builds
    them, before any weights load. UsageError when data.max_length exceeds the context."""
    check_sources(cfg.data.train_file, cfg.data.validation_file, cfg.data.test_file)  # before any hub access
    tokenizer = model_lib.load_tokenizer(cfg.model)
    model_lib.setup_pad_token(tokenizer, cfg.data.pad_token)
    # Not strict: too many malformed rows are the audit's MALFORMED_ROWS error, which refuses
    # the run (unless --force) with the rows named.
    data = prepare_data(cfg.data, tokenizer, strict=False)
    ctx_len = model_context_length(cfg, tokenizer)
    if ctx_len and cfg.data.max_length > ctx_len:
        raise UsageError(f"data.max_length ({cfg.data.max_length}) exceeds the model's context ({ctx_len}): "
                         f"set data.max_length <= {ctx_len}")
    return tokenizer, data


def run_data_audit(cfg: Config, data: PreparedData, tokenizer: Any) -> tuple[list[Finding], dict[str, Any], int]:
    """The audit's findings, the task shape it judged them by (stats.task), and the training
    rows with its duplicate groups each counted once (the guards count exposures per distinct row)."""
    from tuneguard.audit import run_audit
    from tuneguard.guard.seen import distinct_rows

    result = run_audit(cfg, data, tokenizer)
    rows = len(data.train.features)
    return list(result.findings), dict(result.stats.get("task") or {}), distinct_rows(rows, result.stats)


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

    def close(self, timeout: float | None = None) -> bool:
        return self.inner.close(timeout)

    def __getattr__(self, name: str) -> Any:
        return getattr(self.inner, name)


def make_notifier(cfg: Config, store: RunStore | None, secrets: list[str], run_name: str) -> Any:
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

    from tuneguard.data.batching import build_trainer, supervised_tokens_per_step
    from tuneguard.train import perf

    collator = CountingCollator(build_collator(cfg.data.collator, tokenizer, cfg.data.pad_to_multiple_of,
                                               cfg.data.max_length), counter)
    if wrap_collator is not None:
        collator = wrap_collator(collator)
    eval_collator = build_collator(cfg.data.collator, tokenizer, cfg.data.pad_to_multiple_of, cfg.data.max_length)
    bucketed = cfg.data.batching == "token_budget"
    features = data.train.features
    plan = perf.plan_performance(cfg, model, use_cpu=use_cpu,
                                 max_example_length=max((len(f["input_ids"]) for f in features), default=None),
                                 tokens_per_step=supervised_tokens_per_step(features, steps_per_epoch) if bucketed else None)
    args = training_arguments(cfg, run_dir, use_cpu, gradient_checkpointing=plan.gradient_checkpointing)
    trainer = build_trainer(cfg.data.batching, pad_to_multiple_of=cfg.data.pad_to_multiple_of, model=model, args=args,
                            train_dataset=ListDataset(features), eval_dataset=ListDataset(data.validation.features),
                            data_collator=collator, processing_class=tokenizer, callbacks=callbacks,
                            compute_loss_func=plan.loss_func, train_collate_wrapper=plan.train_collate_wrapper())
    counter.watch(model)  # real tokens counted as batches reach the model (workers or not)
    if recorder is not None:
        recorder.install(trainer)
    trainer.remove_callback(PrinterCallback)  # tuneguard's DisplayCallback shows the logs
    # Evaluation batches need no token counting.
    trainer.get_eval_dataloader = _with_collator(trainer.get_eval_dataloader, trainer, eval_collator)
    return trainer, plan


def failure_leave_timeout(cfg: Config) -> float:
    """How long a failed rank waits for the others before it exits: long enough for rank 0
    to record the failure and flush its notifications when every rank failed at the same
    point (the usual case: same code, same shapes), short when only this rank failed."""
    return float(min(cfg.train.ddp_timeout, cfg.notify.flush_timeout_s + 30))


# --- the recipe ----------------------------------------------------------------------

def run_training(cfg: Config, run_dir: Path, *, resume: bool = False, force: bool = False,
                 overwrite: bool = False, console: Console | None = None) -> int:
    console = console or make_console()
    dist = DistInfo.from_env()
    run_dir = Path(run_dir).resolve()
    lock = RunDirLock(run_dir) if dist.is_main else None
    store: RunStore | None = None
    ctx: RunContext | None = None
    callbacks: list[Any] = []
    gate, owns_group, coll = StartGate(None), False, None
    leave_timeout: float | None = None  # set: wait this long for every rank before leaving
    exit_code = EXIT_FAIL
    hw: Preflight | None = None
    trainer: Any = None
    plan: Any = None
    try:
        # 0. Several processes: a process group now, so that all ranks can agree on the start,
        # and a gloo group of tuneguard's own for that and every later decision.
        if dist.world_size > 1:
            if not dist.is_main:  # rank 0 alone reports progress
                logging.getLogger("tuneguard").setLevel(logging.WARNING)
            owns_group = init_process_group(use_cpu=cfg.train.use_cpu or not torch.cuda.is_available(),
                                            timeout_s=cfg.train.ddp_timeout)
            coll = Collectives.create(cfg.train.ddp_timeout)
            gate = StartGate(coll)
        # 1. Config: secrets resolved for use, redacted for the record.
        try:
            resolved = resolve_env_refs(cfg)
        except ConfigError as exc:
            raise UsageError("; ".join(exc.problems)) from None
        secrets = secret_values(resolved)
        cfg_record = redacted_dict(cfg)
        if (cfg.model.load_in_8bit or cfg.model.load_in_4bit) and not torch.cuda.is_available():
            raise UsageError("model.load_in_8bit / model.load_in_4bit need a CUDA GPU (bitsandbytes) and none is "
                             "available: set both to false here, or run on a GPU machine")
        missing = missing_trackers(list(cfg.train.report_to))
        if missing:  # transformers would fail only after the model loaded
            raise UsageError("; ".join(missing))
        # Data files that are not there: said now, before a run directory or a hub request.
        check_sources(cfg.data.train_file, cfg.data.validation_file, cfg.data.test_file)
        make_run_dir(run_dir)
        if lock:
            lock.acquire()
        ckpt = prepare_run_dir(run_dir, cfg_record, resume, overwrite) if dist.is_main else \
            (latest_checkpoint(run_dir / "checkpoints") if resume else None)

        # 2. Tokenizer and data, the hardware checks, then the audit: all before a model is loaded.
        tokenizer, data = load_tokenizer_and_data(cfg)
        hw = preflight(cfg, lambda: model_lib.model_config(cfg, tokenizer), world_size=dist.world_size,
                       local_rank=dist.local_rank,
                       max_example_length=max((len(f["input_ids"]) for f in data.train.features), default=None))
        audit_findings, task, distinct = (run_data_audit(cfg, data, tokenizer) if dist.is_main
                                          else ([], {}, len(data.train.features)))
        spe, max_steps = steps_plan(len(data.train.features), cfg, dist.world_size)

        if dist.is_main:
            (run_dir / "config.yaml").write_text(dump_yaml(cfg_record), "utf-8")
            store = RunStore(run_dir, create=True)
            store.init_run(config=cfg_record, max_steps=max_steps)
            store.set_meta(environment=environment(), data_sizes=data.sizes(), data_format=data.format,
                           tokenize_stats={s.name: s.stats.to_dict() for s in (data.train, data.validation)},
                           steps_per_epoch=spe, exit_reason=None, hardware=hw.as_dict(), task=task)
            store.replace_audit_findings(audit_findings)
            if hw.precision.note:
                log.warning("precision: %s", hw.precision.note)
                console.print(f"note: {hw.precision.note}", markup=False)
            store.truncate_after(_step_of(ckpt), findings=True)
            store.set_meta(context_length=model_context_length(cfg, tokenizer))  # bounds recommended max_length
        ctx = RunContext(cfg=cfg, run_dir=run_dir, store=store, is_main=dist.is_main,
                         world_size=dist.world_size, secrets=secrets, audit_findings=audit_findings,
                         max_steps=max_steps, steps_per_epoch=spe, distinct_rows=distinct, collectives=coll)
        errors = [f for f in audit_findings if f.severity == "error"]
        if errors and not force:
            if store:
                store.set_state("failed", exit_reason="audit errors")
            codes = ", ".join(sorted({f.code for f in errors}))
            raise UsageError(f"the data audit found {len(errors)} error(s) ({codes}); {errors[0].code}: "
                             f"{errors[0].message} Run `tuneguard audit CONFIG` for the details, fix the data, "
                             "or pass --force to train anyway")
        if store:
            store.set_state("starting")
        ctx.notifier = make_notifier(resolved, store, secrets, run_dir.name) if dist.is_main else None
        # Every rank ready, with the same data and checkpoint, or none loads a model.
        gate.go(data.train.features, _step_of(ckpt))

        # 3. Model: base + LoRA.
        from transformers import set_seed

        set_seed(cfg.train.seed)
        use_cpu = cfg.train.use_cpu or not torch.cuda.is_available()
        if use_cpu and (cfg.train.fsdp or cfg.train.deepspeed):
            log.warning("train.fsdp / train.deepspeed need CUDA GPUs: on CPU accelerate runs plain DDP "
                        "(every process holds the whole model)")
        model, counts = load_model_for_training(
            cfg, tokenizer, device_map=hw.device_map,
            keep_base=run_dir / "base_model" if dist.is_main and cfg.model.name == model_lib.TINY else None)
        if dist.is_main:
            console.print(Text(f"model {cfg.model.name}: {counts['trainable']:,} trainable of {counts['total']:,} "
                               f"parameters ({100 * counts['trainable'] / max(counts['total'], 1):.3f}%)"))
            store.set_meta(parameters=counts)  # type: ignore[union-attr]

        # 4. Trainer with the callbacks that watch and steer it.
        counter = TokenCounter()
        recorder = StepRecorder(counter)
        callbacks = [MetricsCallback(ctx, counter, recorder),
                     CheckpointMarkerCallback(run_dir / "checkpoints", dist.is_main, keep=cfg.train.save_total_limit)]
        callbacks += optional_callbacks(ctx, tokenizer)
        from tuneguard.policy import build_policy_callbacks, train_with_policy

        callbacks += build_policy_callbacks(ctx)  # after the control callback: set-lr/rollback requests
        tracker = TrackerCallback(ctx) if cfg.train.report_to and dist.is_main else None
        if tracker is not None:
            callbacks.append(tracker)  # after the guards: a finding goes out in the log that found it
        if dist.is_main:
            callbacks.append(DisplayCallback(console))
        trainer, plan = build_run_trainer(cfg, model, tokenizer, data, run_dir, use_cpu=use_cpu, steps_per_epoch=spe,
                                          callbacks=callbacks, counter=counter, recorder=recorder)
        if store is not None:
            args = trainer.args
            mixed = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
            store.set_meta(performance={**plan.as_dict(), "mixed_precision": mixed})
        if tracker is not None:
            tracker.attach(trainer)

        if store:
            store.set_state("running", started=time.time())
        sizes = data.sizes()
        start_payload = {"model": cfg.model.name, "task": task.get("shape"),
                         "task_source": "data.task" if cfg.data.task != "auto" else "inferred", "train_rows": sizes["train"], "eval_rows": sizes["validation"],
                         "test_rows": sizes.get("test"), "max_steps": max_steps, "num_epochs": cfg.train.num_epochs,
                         "learning_rate": cfg.train.learning_rate, "batch_size": cfg.train.batch_size,
                         "gradient_accumulation_steps": cfg.train.gradient_accumulation_steps,
                         "lora_r": cfg.lora.r, "lora_alpha": cfg.lora.alpha, "max_length": cfg.data.max_length,
                         "hyperparameters": {"weight_decay": cfg.train.weight_decay,
                                             "lora_dropout": cfg.lora.dropout,
                                             "lr_scheduler": cfg.train.lr_scheduler},
                         "run_dir": str(run_dir)}
        if ckpt is not None:
            ctx.event("resumed", {**start_payload, "from_step": _step_of(ckpt), "checkpoint": str(ckpt)},
                      step=_step_of(ckpt))
            if dist.is_main:
                console.print(Text(f"resuming from {ckpt.name}"))
        else:
            ctx.event("started", start_payload, step=0)
        t0 = time.time()
        train_with_policy(trainer, ctx, ckpt)  # trainer.train(), again after each rollback

        # 5. Finish: adapter, test metrics, state, notifications.
        exit_code = _finish(ctx, trainer, data, tokenizer, console, time.time() - t0)
        leave_timeout = cfg.train.ddp_timeout
        return exit_code
    except PeerRefused as exc:  # another rank could not start, or the ranks disagree
        leave_timeout, exit_code = cfg.train.ddp_timeout, exc.code
        if store:
            store.set_state("failed", exit_reason=(exc.message or "another process could not start")[:500])
        if exc.message and dist.is_main:
            _console_error(console, exc.message)
        return exc.code
    except (UsageError, PreflightRefusal) as exc:
        leave_timeout, exit_code = _leave_after_failure(gate, EXIT_USAGE, cfg), EXIT_USAGE
        _console_error(console, str(exc))
        return EXIT_USAGE
    except (DataError, model_lib.ModelError) as exc:
        leave_timeout = _leave_after_failure(gate, EXIT_USAGE, cfg)
        if store:
            store.set_state("failed", exit_reason=str(exc)[:500])
        _console_error(console, ctx.scrub(str(exc)) if ctx else str(exc))
        exit_code = EXIT_USAGE if ctx is None or store is None or store.state() != "running" else EXIT_FAIL
        return exit_code
    except Exception as exc:  # noqa: BLE001 - record any crash as a failed run
        leave_timeout = _leave_after_failure(gate, EXIT_FAIL, cfg)
        tb = traceback.format_exc()
        full = handle_disk_full(exc, run_dir) if dist.is_main else None
        if isinstance(exc, torch.OutOfMemoryError):
            from tuneguard.train.memfit import oom_message

            step = trainer.state.global_step if trainer is not None else None
            full = oom_message(hw.fit if hw else None, cfg, step)
        text = full or f"{type(exc).__name__}: {exc}"
        text = ctx.scrub(text) if ctx else text
        log.debug("training failed:\n%s", tb)
        # Best effort: on a full disk these writes fail too, and must not hide the message.
        with contextlib.suppress(Exception):
            if store:
                store.set_state("failed", exit_reason=text[:500], ended=time.time())
        if ctx:
            payload = {"error": text, "traceback": ctx.scrub("".join(tb.splitlines(True)[-12:]))}
            try:
                ctx.event("failed", payload)
            except Exception:  # noqa: BLE001 - the store cannot be written: the phone still hears of it
                if ctx.notifier is not None:
                    ctx.notifier.notify("failed", payload)
        _console_error(console, f"training failed: {text}")
        return EXIT_FAIL
    finally:
        for cb in callbacks:  # e.g. restore signal handlers even when training crashed
            if hasattr(cb, "close"):
                cb.close()
        if plan is not None and plan.loss_func is not None:
            plan.loss_func.close()  # the chunked loss's hook on the model
        if ctx is not None and ctx.notifier is not None:
            if store is not None:
                store.set_meta(notify_caller_seconds=round(getattr(ctx.notifier, "seconds", 0.0), 6))
            ctx.notifier.close(timeout=cfg.notify.flush_timeout_s)
        if store is not None:
            store.close()
        if lock:
            lock.release()
        if leave_timeout is not None:
            gate.leave(leave_timeout, exit_code)
        if owns_group:
            destroy_process_group()


def _leave_after_failure(gate: StartGate, code: int, cfg: Config) -> float | None:
    """How long this failed rank waits for the others at the end (None: not at all).

    Before the start gate the failure travels through the gate itself (every rank exits with
    this code, together). After it, the other ranks may have failed at the same point (a
    crash in the same step) or be training on: wait a bounded time, so that in the first
    case rank 0 records the failure and sends its notifications before the launcher ends
    the others, and in the second the launcher still learns of the failure soon."""
    if gate.refuse(code):
        return cfg.train.ddp_timeout
    return failure_leave_timeout(cfg) if gate.coll is not None else None


def _with_collator(fn: Any, trainer: Any, collator: Any) -> Any:
    def wrapped(*a: Any, **kw: Any) -> Any:
        saved = trainer.data_collator
        trainer.data_collator = collator
        try:
            return fn(*a, **kw)
        finally:
            trainer.data_collator = saved
    return wrapped


def _step_of(ckpt: Path | None) -> int:
    from tuneguard.checkpoints import checkpoint_step

    return (checkpoint_step(ckpt) or 0) if ckpt else 0


def _console_error(console: Console, msg: str) -> None:
    # Verbatim: messages quote paths, data and library errors such as "[.../pair.cc:553]".
    print_error(msg)


def _finish(ctx: RunContext, trainer: Any, data: PreparedData, tokenizer: Any, console: Console,
            seconds: float) -> int:
    store = ctx.store
    state = trainer.state
    step = state.global_step
    reason = ctx.stop_reason
    if hasattr(ctx.notifier, "ending"):
        ctx.notifier.ending()  # the last messages must not wait for a target that found no network
    adapter_dir = ctx.run_dir / "adapter"
    save_adapter(trainer, adapter_dir, ctx.is_main)  # every rank: gathering FSDP shards is a collective
    if ctx.is_main:
        tokenizer.save_pretrained(adapter_dir)
    test_metrics: dict[str, Any] = {}
    if data.test is not None and reason != "halted":
        m = trainer.evaluate(ListDataset(data.test.features), metric_key_prefix="test")
        loss = m.get("test_loss")
        test_metrics = {"eval_loss": loss, "perplexity": math.exp(loss) if loss is not None and loss < 50 else None}
        if store:
            store.log_metrics(step, "test", test_metrics)
    if not ctx.is_main or store is None:
        return EXIT_FAIL if reason == "halted" else EXIT_OK
    from tuneguard.guard.qa import record_base_answers

    record_base_answers(ctx, trainer.model, tokenizer, step, trainer.args)  # the report's before/after
    best = state.best_metric
    store.set_meta(best_checkpoint=state.best_model_checkpoint, best_step=state.best_global_step,
                   best_eval_loss=best, ended=time.time(), train_seconds=seconds)
    summary = {"step": step, "max_steps": state.max_steps, "best_eval_loss": best,
               "best_step": state.best_global_step, "test_metrics": {k: v for k, v in test_metrics.items() if v is not None},
               "duration_s": seconds, "adapter": str(ctx.run_dir / "adapter"),
               "checkpoint": state.best_model_checkpoint}
    if reason == "halted":
        f = ctx.halt_finding
        store.set_state("halted", exit_reason=f"{f.code}: {f.message}" if f else "halted by a guard")
        ctx.event("halted", {**summary, "code": f.code if f else None, "message": f.message if f else None,
                             "finding": f.to_dict() if f else None, "next_steps": _next_steps(ctx.run_dir)},
                  step=step)
        code = EXIT_FAIL
    elif reason == "stopped":
        stops = [r for r in store.control_requests() if r["action"] == "stop" and r["status"] == "done"]
        ctx.stop_detail = ctx.stop_detail or (f"stop requested by {stops[-1]['requested_by']}" if stops else None)
        summary["requested_by"] = stops[-1]["requested_by"] if stops else None
        summary["checkpoint"] = str(ctx.run_dir / "checkpoints" / f"checkpoint-{step}")
        store.set_state("stopped", exit_reason=ctx.stop_detail or "stopped on request")
        ctx.event("stopped", {**summary, "reason": ctx.stop_detail}, step=step)
        code = EXIT_OK
    else:
        early = reason == "early_stop" or (step < state.max_steps and state.max_steps > 0)
        store.set_state("finished", exit_reason="early stop" if early else "completed")
        if early:
            ctx.event("early_stop", {**summary, "reason": "patience exhausted"}, step=step)
        ctx.event("finished", summary, step=step)
        code = EXIT_OK
    _write_report(ctx, console)
    if ctx.notifier is not None:
        # Flush now, so that what it reports (a failed delivery) comes before the last line.
        store.set_meta(notify_caller_seconds=round(getattr(ctx.notifier, "seconds", 0.0), 6))
        ctx.notifier.close(timeout=ctx.cfg.notify.flush_timeout_s)
    final = store.state()
    console.print(Text(f"run {final} at step {step}/{state.max_steps}; best eval loss "
                       f"{best if best is None else round(best, 4)}; adapter: {ctx.run_dir / 'adapter'}"))
    return code


def _next_steps(run_dir: Path, run: Any = None) -> list[dict[str, str]]:
    """The commands to run after this run (`tuneguard fix` / `tuneguard next`), for the
    messages that end it; none when they cannot be worked out (they help, they never fail a run)."""
    try:
        from tuneguard.nextrun import next_steps
        from tuneguard.report.rundata import load_run

        return next_steps(run if run is not None else load_run(run_dir))
    except Exception:  # noqa: BLE001
        log.debug("no next steps for %s", run_dir, exc_info=True)
        return []


def _write_report(ctx: RunContext, console: Console) -> None:
    try:
        from tuneguard.report.html import write_report
    except ImportError:
        return
    try:
        path = write_report(ctx.run_dir)
        from tuneguard.report.recommend import diagnose_run
        from tuneguard.report.rundata import load_run
        from tuneguard.report.verdict import compute_verdict

        run = load_run(ctx.run_dir)
        verdict, diagnosis = compute_verdict(run), diagnose_run(run)
    except Exception as exc:  # noqa: BLE001 - a report failure must not fail a finished run
        if is_disk_full(exc, ctx.run_dir):  # ... unless the disk is full: the user must act
            raise DiskFull("the report (report.html, report.md)", exc) from exc
        log.warning("could not write the report: %s", ctx.scrub(str(exc)))
        return
    console.print(Text(f"{diagnosis.line()}\nreport: {path} (verdict: {verdict.overall})"))
    ctx.event("report", {"path": str(path), "verdict": verdict.overall, "summary": verdict.summary_line(),
                         "diagnosis": diagnosis.to_dict(), "next_steps": _next_steps(ctx.run_dir, run)})
