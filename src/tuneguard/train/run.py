"""The training recipe, top to bottom: `setup` (processes, run directory, data and audit,
store, model, Trainer), `train`, `finish`, `close`. `run_training` runs it and returns an
`Outcome`, whose exit code the CLI uses: 0 finished / early-stopped / stopped on request,
1 halted by a guard or failed, 2 config or data error before the model loads.

The building blocks live beside it: `rundir` (the run directory), `build` (data, model,
Trainer), `finish` (adapter, final state, report); `failure` records a run that failed.
"""

from __future__ import annotations

import contextlib
import dataclasses
import logging
import os
import shlex
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import torch
from rich.console import Console
from rich.text import Text

from tuneguard.catalog import render, say
from tuneguard.checkpoints import CheckpointMarkerCallback, checkpoint_step, latest_checkpoint
from tuneguard.config.load import ConfigError, dump_yaml, redacted_dict, resolve_env_refs, secret_values
from tuneguard.config.schema import Config
from tuneguard.context import RunContext
from tuneguard.data.load import check_sources
from tuneguard.data.identity import record_identity
from tuneguard.data.pipeline import PreparedData
from tuneguard.data.token_rows import row_lengths
from tuneguard.deps import missing_trackers
from tuneguard.dist import Collectives, StartGate, destroy_process_group, init_process_group
from tuneguard.errors import EXIT_FAIL, EXIT_INTERRUPTED, EXIT_USAGE, UsageError
from tuneguard.events import Event, StartedPayload
from tuneguard.model import load as model_lib
from tuneguard.store.invocation import META_KEY as INVOCATION
from tuneguard.store.invocation import Invocation
from tuneguard.store.run_store import RunStore
from tuneguard.trackers import TrackerCallback
from tuneguard.train import build
from tuneguard.train.display import DisplayCallback
from tuneguard.train.failure import RunFailure, record_unstored_failure, worth_recording
from tuneguard.train.finish import finish_run
from tuneguard.train.metrics import MetricsCallback, TokenCounter
from tuneguard.train.preflight import Preflight, preflight
from tuneguard.train.rundir import RunDirLock, interruption, make_run_dir, prepare_run_dir, told_after
from tuneguard.train.steps import StepRecorder
from tuneguard.verbatim import make_console

log = logging.getLogger(__name__)


def _with_fix(refusal: str, errors: list[Any], run_dir: Path, language: str) -> str:
    """The audit's refusal, and when `tuneguard fix` repairs some of its errors (duplicates,
    leaked validation rows, malformed rows), the exact command that does."""
    from tuneguard.findings import FIXABLE_CODES
    from tuneguard.report.recommend import fix_command

    fixable = sorted({f.code for f in errors if f.code in FIXABLE_CODES})
    if not fixable:
        return refusal
    return say("traincli.audit_errors.fix", language, refusal=refusal, command=fix_command(run_dir),
               codes=", ".join(fixable))


@dataclasses.dataclass(frozen=True)
class Outcome:
    """How a run ended: `exit_code` (the contract's), `state` (finished, early_stop, stopped,
    halted; refused before training, failed) and, when it did not end well, `error`: the one
    line the CLI prints (tuneguard.cli.errors), None where this process has nothing to add."""

    exit_code: int
    state: str
    error: str | None = None


@dataclasses.dataclass
class DistInfo:
    rank: int = 0
    local_rank: int = 0
    world_size: int = 1

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @classmethod
    def from_env(cls) -> DistInfo:
        return cls(int(os.environ.get("RANK", 0)), int(os.environ.get("LOCAL_RANK", 0)),
                   int(os.environ.get("WORLD_SIZE", 1)))


class NullStore:
    """The run store of a process that does not write it (every rank but 0, and every rank
    before the store exists): what the recipe writes goes nowhere."""

    def set_state(self, *a: Any, **kw: Any) -> None:
        return None

    def set_meta(self, **kw: Any) -> None:
        return None

    def start_process(self) -> None:
        return None

    def state(self) -> str | None:
        return None

    def close(self) -> None:
        return None


def run_training(cfg: Config, run_dir: Path, *, resume: bool = False, force: bool = False,
                 overwrite: bool = False, console: Console | None = None,
                 extra_callbacks: Sequence[Any] = (), wrap_collator: Callable[[Any], Any] | None = None,
                 invocation: Invocation | None = None) -> Outcome:
    """Run the recipe for `cfg` in `run_dir`. `extra_callbacks` join the Trainer's after the
    guards and control (before the policy); `wrap_collator` wraps the training collator;
    `invocation`: the command that started it, kept in the store for "continue it with"."""
    recipe = Recipe(cfg, run_dir, resume=resume, force=force, overwrite=overwrite, console=console,
                    extra_callbacks=extra_callbacks, wrap_collator=wrap_collator, invocation=invocation)
    try:
        try:
            recipe.setup()
        except KeyboardInterrupt:  # Ctrl-C before the first step (training has its own handler)
            return recipe.interrupted_in_setup()
        recipe.train()
        return recipe.finish()
    except Exception as exc:  # noqa: BLE001 - every failure is recorded and becomes an exit code
        return recipe.fail(exc)
    finally:
        recipe.close()


class Recipe:
    """One run: what `setup` builds, `train` runs, `finish` records and `close` releases."""

    def __init__(self, cfg: Config, run_dir: Path, *, resume: bool = False, force: bool = False,
                 overwrite: bool = False, console: Console | None = None, extra_callbacks: Sequence[Any] = (),
                 wrap_collator: Callable[[Any], Any] | None = None, invocation: Invocation | None = None) -> None:
        self.cfg, self.resume, self.force, self.overwrite = cfg, resume, force, overwrite
        self.invocation = invocation
        self.run_dir = Path(run_dir).resolve()
        self.console = console or make_console()
        self.extra_callbacks, self.wrap_collator = list(extra_callbacks), wrap_collator
        self.dist = DistInfo.from_env()
        self.language = cfg.report.language or cfg.notify.language  # of what concerns the run (its directory)
        self.lock = RunDirLock(self.run_dir, self.language) if self.dist.is_main else None
        self.store: RunStore | NullStore = NullStore()
        self.gate, self.owns_group = StartGate(None), False
        self.coll: Collectives | None = None
        self.ctx: RunContext | None = None
        self.callbacks: list[Any] = []
        self.hw: Preflight | None = None
        self.trainer: Any = None
        self.plan: Any = None
        self.secrets: list[str] = []
        self.resolved = cfg
        self.ckpt: Path | None = None
        self.layout_note: dict[str, Any] | None = None  # resumed on another number of processes (build.world_size_note)
        self.interrupted: dict[str, Any] = {}  # how the run resumed from had ended (rundir.interruption)
        self.told: set[tuple[str, int]] = set()  # findings notified before the resumed steps (rundir.told_after)
        # What setup builds, in order (read by train and finish).
        self._tokenizer: Any = None
        self.data: PreparedData | None = None
        self.task: dict[str, Any] = {}
        self.use_cpu = True
        self.model: Any = None
        self.t0 = 0.0
        self.outcome: Outcome | None = None
        self.leave_timeout: float | None = None  # set: wait this long for every rank before leaving
        self.owns_dir = False  # this process holds the run directory, checked, with no earlier store in it

    # --- setup -------------------------------------------------------------------------

    def setup(self) -> None:
        """Everything before the first step; the model loads only after the audit passed."""
        self._join_processes()
        self._check_config()
        self._open_run_dir()
        tokenizer, data = self._load_data()
        self._tokenizer, self.data = tokenizer, data
        self._open_store(data, tokenizer)
        self._admit(data)
        self._load_model(tokenizer)
        self._build_trainer(tokenizer, data)

    def _join_processes(self) -> None:
        """Several processes: a process group now, so that all ranks can agree on the start,
        and a gloo group of tuneguard's own for that and every later decision."""
        if self.dist.world_size <= 1:
            return
        if not self.dist.is_main:  # rank 0 alone reports progress
            logging.getLogger("tuneguard").setLevel(logging.WARNING)
        self.owns_group = init_process_group(use_cpu=self.cfg.train.use_cpu or not torch.cuda.is_available(),
                                             timeout_s=self.cfg.train.ddp_timeout)
        self.coll = Collectives.create(self.cfg.train.ddp_timeout)
        self.gate = StartGate(self.coll)

    def _check_config(self) -> None:
        """Secrets resolved for use (redacted for the record); what would fail only after the
        model loaded (quantisation without a GPU, a tracker not installed) said now."""
        cfg = self.cfg
        try:
            self.resolved = resolve_env_refs(cfg)
        except ConfigError as exc:
            raise UsageError("; ".join(exc.problems)) from None
        self.secrets = secret_values(self.resolved)
        if (cfg.model.load_in_8bit or cfg.model.load_in_4bit) and not torch.cuda.is_available():
            raise UsageError("model.load_in_8bit / model.load_in_4bit need a CUDA GPU (bitsandbytes) and none is "
                             "available: set both to false here, or run on a GPU machine")
        cpu = cfg.train.use_cpu or not torch.cuda.is_available()
        if cfg.model.dtype == "fp16" and cpu:
            # On the CPU there is no fp16 autocast with loss scaling: the weights themselves would be
            # fp16 and the loss overflows to NaN within steps, which would read as an unstable run.
            raise UsageError("model.dtype is fp16, which needs a CUDA GPU, and this run is on the CPU "
                             f"({'train.use_cpu is true' if cfg.train.use_cpu else 'no CUDA GPU is available'}): "
                             "pure fp16 weights without loss scaling overflow to NaN within a few steps. Set "
                             "--set model.dtype=auto (fp32 on the CPU, bf16 or fp16 on a GPU), or run on a GPU")
        missing = missing_trackers(list(cfg.train.report_to))
        if missing:
            raise UsageError("; ".join(missing))
        # Data files that are not there: said now, before a run directory or a hub request.
        check_sources(cfg.data.train_file, cfg.data.validation_file, cfg.data.test_file)

    def _open_run_dir(self) -> None:
        # A refused directory is answered with the config's default one.
        example = self.invocation.default_run_dir() if self.invocation is not None else "runs/NAME"
        make_run_dir(self.run_dir, example, self.language)
        if self.lock is not None:
            self.lock.acquire()
        if self.dist.is_main:
            self.ckpt = prepare_run_dir(self.run_dir, redacted_dict(self.cfg), self.resume, self.overwrite)
            self.owns_dir = not (self.run_dir / "run.db").exists()  # a resumed run's store is not replaced
        elif self.resume:
            self.ckpt = latest_checkpoint(self.run_dir / "checkpoints")

    def _load_data(self) -> tuple[Any, PreparedData]:
        """Tokenizer and data, then the hardware checks: all before a model is loaded."""
        tokenizer, data = build.load_tokenizer_and_data(self.cfg, resume_from=self.ckpt,
                                                        cache_dir=self.run_dir / "cache", write_cache=self.dist.is_main)
        longest = sorted(row_lengths(data.train.features), reverse=True)[:self.cfg.train.batch_size]
        self.hw = preflight(self.cfg, lambda: model_lib.model_config(self.cfg, tokenizer),
                            world_size=self.dist.world_size, local_rank=self.dist.local_rank,
                            max_example_length=longest[0] if longest else None, longest=longest)
        return tokenizer, data

    def _open_store(self, data: PreparedData, tokenizer: Any) -> None:
        """The audit, the run store with what is known before training (rank 0), and the
        context the callbacks share."""
        cfg, dist = self.cfg, self.dist
        audit_findings, task, distinct = (build.run_data_audit(cfg, data, tokenizer) if dist.is_main
                                          else ([], {}, len(data.train.features)))
        spe, max_steps = build.steps_plan(len(data.train.features), cfg, dist.world_size)
        if dist.is_main:
            self.store = self._create_store(data, tokenizer, audit_findings, task, spe, max_steps)
        self.task = task
        self.ctx = RunContext(cfg=cfg, run_dir=self.run_dir, store=self._writer, is_main=dist.is_main,
                              world_size=dist.world_size, secrets=self.secrets, audit_findings=audit_findings,
                              max_steps=max_steps, steps_per_epoch=spe, distinct_rows=distinct,
                              collectives=self.coll, told_before=self.told)

    def _create_store(self, data: PreparedData, tokenizer: Any, audit_findings: list[Any], task: dict[str, Any],
                      spe: int, max_steps: int) -> RunStore:
        cfg, hw, record = self.cfg, self.hw, redacted_dict(self.cfg)
        assert hw is not None  # set by _load_data
        (self.run_dir / "config.yaml").write_text(dump_yaml(record), "utf-8")
        store = RunStore(self.run_dir, create=True)
        self.interrupted = interruption(store) if self.ckpt else {}
        self.told = told_after(store, _step_of(self.ckpt)) if self.ckpt else set()
        note = build.world_size_note(store.get_meta("world_size") if self.ckpt else None, self.dist.world_size, cfg)
        # A live state with this pid from the start: killed before the audit's verdict, the run
        # reads "failed" (a refused attempt the next try replaces), not a state of its own.
        store.set_state("starting")
        store.init_run(config=record, max_steps=max_steps)
        if self.invocation is not None:  # the command that resumes the run is the latest one
            store.set_meta(**{INVOCATION: self.invocation.to_dict()})
        store.set_meta(environment=build.environment(), data_sizes=data.sizes(), data_format=data.format,
                       tokenize_stats={s.name: s.stats.to_dict() for s in (data.train, data.validation)},
                       steps_per_epoch=spe, exit_reason=None, hardware=hw.as_dict(), task=task,
                       world_size=self.dist.world_size)
        store.set_meta(data_identity=record_identity(store.get_meta("data_identity") if self.ckpt else None,
                                                     data, cfg.data, tokenizer))  # what compare judges losses by
        if note:  # also in the resumed event (Recipe.train): the store, the notification, the report
            self.layout_note = note
            log.warning("%s", render(note))
            self.console.print(say("traincli.note", self.language, text=render(note, self.language)), markup=False)
        store.replace_audit_findings(audit_findings)
        if hw.precision.note:
            log.warning("precision: %s", hw.precision.note)
            self.console.print(say("traincli.note", self.language, text=hw.precision.note_in(self.language)), markup=False)
        store.truncate_after(_step_of(self.ckpt), findings=True)
        # bounds recommended max_length
        store.set_meta(context_length=model_lib.configured_context(cfg, tokenizer, tokenizer_limit=False))
        return store

    def _admit(self, data: PreparedData) -> None:
        """Refuse data the audit found errors in (unless --force), then the start gate: every
        rank ready, with the same data and checkpoint, or none loads a model."""
        assert self.ctx is not None
        errors = [f for f in self.ctx.audit_findings if f.severity == "error"]
        if errors and not self.force:
            self.store.set_state("failed", exit_reason="audit errors", exit_code=EXIT_USAGE)
            codes = ", ".join(sorted({f.code for f in errors}))
            refusal = say("traincli.audit_errors", self.language, n=len(errors), codes=codes, code=errors[0].code,
                          message=errors[0].message_in(self.language),
                          command=shlex.join(["tuneguard", "audit", str(self.run_dir)]))
            raise UsageError(_with_fix(refusal, errors, self.run_dir, self.language))
        self.store.set_state("starting")
        self.ctx.notifier = (build.make_notifier(self.resolved, self._writer, self.secrets, self.run_dir.name)
                             if self.dist.is_main else None)
        self.gate.go(lambda: data.row_hashes("train"), _step_of(self.ckpt))

    def _load_model(self, tokenizer: Any) -> None:
        """Base model + LoRA, seeded; a random-init built-in keeps its base (it cannot be reloaded)."""
        from transformers import set_seed

        cfg = self.cfg
        set_seed(cfg.train.seed)
        self.use_cpu = cfg.train.use_cpu or not torch.cuda.is_available()
        if self.use_cpu and (cfg.train.fsdp or cfg.train.deepspeed):
            log.warning("train.fsdp / train.deepspeed need CUDA GPUs: on CPU accelerate runs plain DDP "
                        "(every process holds the whole model)")
        keep = self.run_dir / "base_model" if self.dist.is_main and cfg.model.name == model_lib.TINY else None
        assert self.hw is not None
        if self.dist.is_main and cfg.model.name != model_lib.TINY:  # a real model's weights take a while to read
            self.console.print(Text(say("traincli.loading", self.language, name=cfg.model.name)))
        self.model, counts = build.load_model_for_training(cfg, tokenizer, device_map=self.hw.device_map,
                                                           keep_base=keep)
        if self.dist.is_main:
            share = 100 * counts["trainable"] / max(counts["total"], 1)
            self.console.print(Text(say("traincli.model", self.language, name=cfg.model.name,
                                        trainable=counts["trainable"], total=counts["total"], share=share)))
        self.store.set_meta(parameters=counts)

    def _build_trainer(self, tokenizer: Any, data: PreparedData) -> None:
        """The Trainer with the callbacks that watch and steer it."""
        ctx, cfg = self.ctx, self.cfg
        assert ctx is not None
        counter = TokenCounter()
        recorder = StepRecorder(counter)
        self.callbacks = self._callbacks(ctx, tokenizer, counter, recorder)
        self.trainer, self.plan = build.build_run_trainer(
            cfg, self.model, tokenizer, data, self.run_dir, use_cpu=self.use_cpu, steps_per_epoch=ctx.steps_per_epoch,
            callbacks=self.callbacks, counter=counter, recorder=recorder, wrap_collator=self.wrap_collator)
        args = self.trainer.args
        mixed = "bf16" if args.bf16 else "fp16" if args.fp16 else "no"
        self.store.set_meta(performance={**self.plan.as_dict(), "mixed_precision": mixed})
        for cb in self.callbacks:
            if isinstance(cb, TrackerCallback):
                cb.attach(self.trainer)

    def _callbacks(self, ctx: RunContext, tokenizer: Any, counter: TokenCounter, recorder: StepRecorder) -> list[Any]:
        """In `on_log` order: metrics first (the guards read what it adds), then the guards,
        control, the caller's, the policy (after control: set-lr/rollback requests), trackers
        (after the guards: a finding goes out in the log that found it), display, and the metrics'
        tail (the time outside training ends there)."""
        from tuneguard.control import build_control_callbacks
        from tuneguard.guard import build_guard_callbacks
        from tuneguard.policy import build_policy_callbacks

        main = self.dist.is_main
        metrics = MetricsCallback(ctx, counter, recorder)
        callbacks = [metrics,
                     CheckpointMarkerCallback(self.run_dir / "checkpoints", main, keep=self.cfg.train.save_total_limit)]
        # With guard.enabled false this still holds early stopping and QA probes when configured.
        callbacks += build_guard_callbacks(ctx, tokenizer)
        callbacks += build_control_callbacks(ctx)
        callbacks += self.extra_callbacks
        callbacks += build_policy_callbacks(ctx)
        if self.cfg.train.report_to and main:
            callbacks.append(TrackerCallback(ctx))
        if main:
            callbacks.append(DisplayCallback(self.console, self.language))
        return [*callbacks, metrics.tail()]  # last: evaluation and save work ends after every callback's

    # --- train -------------------------------------------------------------------------

    def train(self) -> None:
        """The start (or resume) event, then `trainer.train()`, again after each rollback."""
        from tuneguard.policy import train_with_policy

        assert self.ctx is not None
        self.store.start_process()
        payload = self._start_payload()
        if self.ckpt is not None:
            note = {"note": self.layout_note} if self.layout_note else {}
            self.ctx.event(Event.RESUMED, {**payload, "from_step": _step_of(self.ckpt), "checkpoint": str(self.ckpt),
                                           "world_size": self.dist.world_size, **note, **self.interrupted},
                           step=_step_of(self.ckpt))
            if self.dist.is_main:
                self.console.print(Text(say("traincli.resuming", self.language, checkpoint=self.ckpt.name)))
        else:
            self.ctx.event(Event.STARTED, payload, step=0)
        self.t0 = time.time()
        train_with_policy(self.trainer, self.ctx, self.ckpt)

    def _start_payload(self) -> StartedPayload:
        assert self.ctx is not None and self.data is not None
        cfg, sizes = self.cfg, self.data.sizes()
        return {"model": cfg.model.name, "task": self.task.get("shape"),
                "task_source": "data.task" if cfg.data.task != "auto" else "inferred",
                "train_rows": sizes["train"], "eval_rows": sizes["validation"], "test_rows": sizes.get("test"),
                "max_steps": self.ctx.max_steps, "num_epochs": cfg.train.num_epochs,
                "learning_rate": cfg.train.learning_rate, "batch_size": cfg.train.batch_size,
                "gradient_accumulation_steps": cfg.train.gradient_accumulation_steps,
                "lora_r": cfg.lora.r, "lora_alpha": cfg.lora.alpha, "max_length": cfg.data.max_length,
                "hyperparameters": {"weight_decay": cfg.train.weight_decay, "lora_dropout": cfg.lora.dropout,
                                    "lr_scheduler": cfg.train.lr_scheduler},
                "run_dir": str(self.run_dir)}

    # --- finish, fail, close -----------------------------------------------------------

    def finish(self) -> Outcome:
        """Adapter, test metrics, final state, report, notifications."""
        assert self.ctx is not None and self.data is not None
        code = finish_run(self.ctx, self.trainer, self.data, self._tokenizer, self.console, time.time() - self.t0)
        self.leave_timeout = self.cfg.train.ddp_timeout
        self.outcome = Outcome(code, self.ctx.stop_reason or "finished")
        return self.outcome

    def fail(self, exc: BaseException) -> Outcome:
        """Record a failure (state, event, notification); the outcome carries its one line."""
        failure = RunFailure(self.cfg, self.run_dir, self.dist.is_main, self.gate, self.invocation, self.secrets)
        code, self.leave_timeout, line = failure.handle(exc, self.ctx, self._writer, self.trainer, self.hw)
        self.outcome = Outcome(code, "refused" if code == 2 else "failed", line)
        if self.owns_dir and self._writer is None and line and worth_recording(exc):
            self._record_unstored(line, code)
        return self.outcome

    def interrupted_in_setup(self) -> Outcome:
        """Ctrl-C before training started: recorded as a failure before training (which the same
        command replaces), one line, exit 130 as for any command a Ctrl-C ends."""
        line = say("input.interrupted_setup")
        if self._writer is not None:
            with contextlib.suppress(Exception):
                self._writer.set_state("failed", exit_reason=line, exit_code=EXIT_INTERRUPTED, ended=time.time())
        self.outcome = Outcome(EXIT_INTERRUPTED, "interrupted", line)
        return self.outcome

    def _record_unstored(self, line: str, code: int) -> None:
        """A failure before the run store existed: recorded in a store of its own (best effort:
        the line the user sees matters more), so that `status` and `report` say what failed."""
        try:
            record_unstored_failure(self.run_dir, redacted_dict(self.cfg), self.invocation, line, code)
        except Exception:  # noqa: BLE001 - a full disk or a read-only directory: the error line still shows
            log.warning("could not record the failure in %s", self.run_dir, exc_info=True)

    def close(self) -> None:
        """Release everything, whatever happened: callbacks (signal handlers), the loss hook,
        the notifier (flushed), the store, the lock, the other ranks, the process group."""
        for cb in self.callbacks:
            if hasattr(cb, "close"):
                cb.close()
        if self.plan is not None and self.plan.loss_func is not None:
            self.plan.loss_func.close()  # the chunked loss's hook on the model
        notifier = self.ctx.notifier if self.ctx is not None else None
        if notifier is not None:
            self.store.set_meta(notify_caller_seconds=round(getattr(notifier, "seconds", 0.0), 6))
            notifier.close(timeout=self.cfg.notify.flush_timeout_s)
        self.store.close()
        if self.lock is not None:
            self.lock.release()
        if self.leave_timeout is not None:
            self.gate.leave(self.leave_timeout, self.outcome.exit_code if self.outcome else EXIT_FAIL)
        if self.owns_group:
            destroy_process_group()

    @property
    def _writer(self) -> RunStore | None:
        """The store for those that write it (rank 0, once created), else None."""
        return self.store if isinstance(self.store, RunStore) else None


def _step_of(ckpt: Path | None) -> int:
    return (checkpoint_step(ckpt) or 0) if ckpt else 0
