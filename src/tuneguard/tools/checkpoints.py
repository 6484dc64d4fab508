"""Which adapter of a run a tool uses, and loading it onto its base model.

generate, chat, evaluate and export all start from a run directory; this module is the
one place that turns `--checkpoint best|last|STEP` into a folder, and that folder into a
PEFT model on the right device. Every failure the user can cause (no run, no such step)
is a `ToolUsageError` with one sentence, raised before any model is loaded.
"""

from __future__ import annotations

import dataclasses
import logging
import os
import re
import sqlite3
from pathlib import Path
from typing import Any

import torch

from tuneguard.config.load import SECRET_MARK, ConfigError
from tuneguard.config.schema import Config
from tuneguard.store.run_store import RunStore
from tuneguard.tools import ToolUsageError
from tuneguard.model import load as model_lib
from tuneguard.train.adapter import run_config
from tuneguard.checkpoints import checkpoint_step, latest_checkpoint

log = logging.getLogger(__name__)

ADAPTER_FILE = "adapter_config.json"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


@dataclasses.dataclass
class LoadedRun:
    """A run's model (base + adapter, eval mode), its tokenizer and config, and where from."""

    model: Any
    tokenizer: Any
    cfg: Config
    run_dir: Path
    adapter_dir: Path
    device: torch.device
    meta: dict[str, Any]


def load_run_config(run_dir: Path) -> Config:
    """The run's resolved config; a missing or broken run directory is a usage error."""
    run_dir = Path(run_dir)
    if not run_dir.is_dir():
        raise ToolUsageError(f"{run_dir} does not exist: give the run directory of a tuneguard train run")
    try:
        return run_config(run_dir)
    except FileNotFoundError as exc:
        raise ToolUsageError(str(exc)) from None
    except ConfigError as exc:
        raise ToolUsageError(f"{run_dir}/config.yaml is not a valid config: {'; '.join(exc.problems)}") from None


def run_meta(run_dir: Path) -> dict[str, Any]:
    """The run store's meta (data sizes, best checkpoint, ...); empty when there is no store."""
    if not (Path(run_dir) / "run.db").exists():
        return {}
    try:
        try:
            store = RunStore(run_dir, readonly=True)
        except sqlite3.OperationalError:
            # A read-only open of a WAL database fails where the -shm file cannot be made.
            store = RunStore(run_dir)
        with store:
            return store.meta()
    except (sqlite3.Error, FileNotFoundError) as exc:
        log.warning("cannot read the run store of %s: %s", run_dir, exc)
        return {}


def _has_adapter(path: Path | None) -> bool:
    return path is not None and (path / ADAPTER_FILE).exists()


def _checkpoint_steps(run_dir: Path) -> list[int]:
    folder = run_dir / "checkpoints"
    if not folder.is_dir():
        return []
    return sorted(s for p in folder.iterdir() if _has_adapter(p) and (s := checkpoint_step(p)) is not None)


def _store_best(run_dir: Path, meta: dict[str, Any]) -> Path | None:
    best = meta.get("best_checkpoint")
    if not best:
        return None
    path = Path(best)
    if _has_adapter(path):
        return path
    # The run directory may have moved since training: look the folder up by its name.
    local = run_dir / "checkpoints" / path.name
    return local if _has_adapter(local) else None


def resolve_checkpoint(run_dir: Path, which: str = "best", cfg: Config | None = None,
                       meta: dict[str, Any] | None = None) -> Path:
    """The adapter folder for `which`: best, last, or a step number.

    best: RUN_DIR/adapter when the run reloads its best model at the end (the adapter is
    then the best one), else the store's best checkpoint, else RUN_DIR/adapter (the final
    model). last: the newest complete checkpoint. STEP: checkpoints/checkpoint-STEP.
    """
    run_dir = Path(run_dir)
    cfg = cfg or load_run_config(run_dir)
    meta = run_meta(run_dir) if meta is None else meta
    which = str(which).strip().lower()
    steps = _checkpoint_steps(run_dir)
    available = f"available steps: {', '.join(map(str, steps))}" if steps else "the run has no checkpoints"
    final = run_dir / "adapter"
    if which == "best":
        reloads_best = cfg.eval.load_best_model_at_end and cfg.eval.strategy != "no"
        if reloads_best and _has_adapter(final):
            return final
        best = _store_best(run_dir, meta)
        if best is not None:
            return best
        if _has_adapter(final):
            return final
        last = latest_checkpoint(run_dir / "checkpoints")
        if _has_adapter(last):
            log.warning("no final adapter in %s: using the newest checkpoint %s", run_dir, last)
            return last  # type: ignore[return-value]
        raise ToolUsageError(f"{run_dir} has no adapter and no checkpoint yet: did the run save anything?")
    if which == "last":
        last = latest_checkpoint(run_dir / "checkpoints")
        if not _has_adapter(last):
            raise ToolUsageError(f"--checkpoint last: {run_dir} has no complete checkpoint; use --checkpoint best")
        return last  # type: ignore[return-value]
    if which.isdigit():
        path = run_dir / "checkpoints" / f"checkpoint-{int(which)}"
        if not _has_adapter(path):
            raise ToolUsageError(f"--checkpoint {which}: there is no checkpoint at step {int(which)} in {run_dir}; "
                                 f"{available}")
        return path
    raise ToolUsageError(f"--checkpoint takes best, last or a step number, got {which!r}")


def usable_hub_token(cfg: Config) -> Config:
    """A copy of `cfg` whose model.hub_token can be used: the saved config redacts it
    (``***``), so it comes from HF_TOKEN instead; ``${VAR}`` references are expanded."""
    out = cfg.model_copy(deep=True)
    tok = out.model.hub_token
    if tok == SECRET_MARK:
        out.model.hub_token = os.environ.get("HF_TOKEN") or None
    elif tok and (m := _ENV_REF.match(tok)):
        out.model.hub_token = os.environ.get(m.group(1)) or None
    return out


def pick_device() -> torch.device:
    """The GPU where there is one (inference is cheap there), else the CPU."""
    return torch.device("cuda" if torch.cuda.is_available() else "cpu")


def load_run_model(run_dir: Path, checkpoint: str = "best", *, dtype: torch.dtype | None = None,
                   quantized: bool = True, device: torch.device | None = None) -> LoadedRun:
    """Base model + the chosen adapter, in eval mode, on `device` (default: GPU if any).

    `dtype` overrides the run's dtype; `quantized=False` loads an 8/4-bit run's base in
    full precision (needed to merge). The tiny built-in model's random base comes from
    RUN_DIR/base_model, where training saved it.
    """
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = Path(run_dir)
    cfg = usable_hub_token(load_run_config(run_dir))
    meta = run_meta(run_dir)
    adapter_dir = resolve_checkpoint(run_dir, checkpoint, cfg, meta)
    tok_dir = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else run_dir / "adapter"
    if not (tok_dir / "tokenizer_config.json").exists():
        raise ToolUsageError(f"no tokenizer saved in {adapter_dir} or {run_dir / 'adapter'}")
    log.debug("loading %s with the adapter in %s", cfg.model.name, adapter_dir)
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    target = dtype or model_lib.resolve_dtype(cfg.model.dtype)
    base_dir = run_dir / "base_model"
    if base_dir.exists():
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=target)
    else:
        load_cfg = cfg.model_copy(deep=True)
        if dtype is not None:
            load_cfg.model.dtype = {torch.bfloat16: "bf16", torch.float16: "fp16"}.get(dtype, "fp32")  # type: ignore[assignment]
        if not quantized:
            load_cfg.model.load_in_8bit = load_cfg.model.load_in_4bit = False
        base = model_lib.load_base_model(load_cfg, tokenizer)
    model = PeftModel.from_pretrained(base, adapter_dir)
    device = device or pick_device()
    if getattr(base, "hf_quantizer", None) is None:
        model.to(device)
    else:
        device = next(model.parameters()).device  # bitsandbytes placed it already
    model.eval()
    return LoadedRun(model, tokenizer, cfg, run_dir, adapter_dir, device, meta)
