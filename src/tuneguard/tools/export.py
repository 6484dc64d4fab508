"""`tuneguard export`: ship a run's result, as the LoRA adapter alone or merged into the
base weights, with the tokenizer and a model card; optionally upload it to the hub.

A merged export is a plain transformers model (safetensors + config + tokenizer) that
`AutoModelForCausalLM.from_pretrained(DIR)` loads without PEFT or tuneguard. An adapter
export needs its base model; the card says which and how to load it. The card is written
from the run store: base model, data files and sizes, the config that matters, the
report's verdict and the metrics.
"""

from __future__ import annotations

import dataclasses
import logging
import shutil
from pathlib import Path

import torch

from tuneguard.tools import ToolError, ToolUsageError
from tuneguard.tools.checkpoints import load_run_model
from tuneguard.report.card import _metrics, model_card  # noqa: F401 - _metrics: the card's, read by tests
from tuneguard.model import load as model_lib

log = logging.getLogger(__name__)

DTYPES = {"bf16": torch.bfloat16, "fp16": torch.float16, "fp32": torch.float32}
DTYPE_NAMES = {v: k for k, v in DTYPES.items()}


@dataclasses.dataclass
class ExportResult:
    out: Path
    merged: bool
    dtype: str
    adapter_dir: Path
    files: list[str]


def parse_dtype(name: str | None) -> torch.dtype | None:
    if name is None:
        return None
    key = name.strip().lower()
    if key not in DTYPES:
        raise ToolUsageError(f"--dtype takes bf16, fp16 or fp32, got {name!r}")
    return DTYPES[key]


def check_out_dir(out: Path, run_dir: Path, overwrite: bool) -> None:
    """Refuse to mix an export into a folder that holds other files, and never delete
    anything but a previous export (--overwrite) outside the run's own folders."""
    if out.exists() and not out.is_dir():
        raise ToolUsageError(f"--out {out} is a file: give a folder")
    o, r = out.resolve(), run_dir.resolve()
    if o == r or r.is_relative_to(o) or any(o.is_relative_to(r / d) for d in ("adapter", "checkpoints", "base_model")):
        raise ToolUsageError(f"--out {out} overlaps the run's own folders: choose a folder outside {run_dir}'s "
                             "adapter, checkpoints and base_model")
    if out.is_dir() and any(out.iterdir()):
        if not overwrite:
            raise ToolUsageError(f"--out {out} is not empty: choose a new folder or pass --overwrite")
        names = {p.name for p in out.iterdir()}
        if "README.md" not in names or not names & {"adapter_config.json", "config.json"} \
                or any(p.is_dir() for p in out.iterdir()):
            raise ToolUsageError(f"--out {out} holds files that are not a tuneguard export: --overwrite replaces "
                                 "only a previous export; choose another folder")
        shutil.rmtree(out)


def export_run(run_dir: Path, out: Path, *, checkpoint: str = "best", merge: bool = False,
               dtype: str | None = None, overwrite: bool = False) -> ExportResult:
    """Write the adapter (or the merged model), the tokenizer and README.md to `out`."""
    target = parse_dtype(dtype)
    out = Path(out)
    check_out_dir(out, Path(run_dir), overwrite)
    # Merge in the target precision on the CPU from full-precision (never 8/4-bit) base
    # weights: merging into quantised weights would lose the adapter's update.
    run = load_run_model(run_dir, checkpoint, dtype=target, quantized=not merge, device=torch.device("cpu"))
    final_dtype = target or next(run.model.parameters()).dtype
    out.mkdir(parents=True, exist_ok=True)
    if merge:
        merged = run.model.merge_and_unload()
        merged.to(final_dtype)
        merged.config.pad_token_id = run.tokenizer.pad_token_id
        if getattr(merged, "generation_config", None) is not None:
            merged.generation_config.pad_token_id = run.tokenizer.pad_token_id
            merged.generation_config.eos_token_id = model_lib.stop_ids(merged.generation_config.eos_token_id,
                                                                       run.tokenizer.eos_token_id)
        merged.save_pretrained(out, safe_serialization=True)
    else:
        if target is not None:
            run.model.to(target)
        run.model.save_pretrained(out)
    run.tokenizer.save_pretrained(out)
    # After save_pretrained, which writes PEFT's own template card.
    (out / "README.md").write_text(model_card(run, merged=merge, dtype=DTYPE_NAMES.get(final_dtype, str(final_dtype)),
                                              checkpoint=checkpoint), "utf-8")
    files = sorted(p.name for p in out.iterdir())
    log.debug("exported %s to %s", "merged model" if merge else "adapter", out)
    return ExportResult(out, merge, DTYPE_NAMES.get(final_dtype, str(final_dtype)), run.adapter_dir, files)


# --- the hub ---------------------------------------------------------------------------

def hub_token() -> str | None:
    """HF_TOKEN, else a token saved by `hf auth login`."""
    try:
        from huggingface_hub import get_token
    except ImportError:
        return None
    return get_token() or None


def push_to_hub(folder: Path, repo: str, token: str, private: bool = False) -> str:
    """Create the repo if needed and upload the folder; ToolError with one line on failure."""
    try:
        from huggingface_hub import HfApi
    except ImportError:
        raise ToolError("--push-to-hub needs huggingface_hub: pip install huggingface_hub") from None
    api = HfApi(token=token)
    try:
        api.create_repo(repo, exist_ok=True, private=private)
        info = api.upload_folder(repo_id=repo, folder_path=str(folder),
                                 commit_message=f"tuneguard export of {folder.name}")
    except Exception as exc:  # noqa: BLE001 - every hub failure becomes one line
        raise ToolError(f"the export is in {folder}, but the upload to {repo} failed: {hub_error(exc)}") from None
    return str(getattr(info, "commit_url", None) or f"https://huggingface.co/{repo}")


def hub_error(exc: BaseException) -> str:
    """One line for a hub failure: offline mode, no network, a refused token, or the first line."""
    name = type(exc).__name__
    text = (str(exc).strip().splitlines() or [name])[0]
    status = getattr(getattr(exc, "response", None), "status_code", None)
    if name == "OfflineModeIsEnabled" or "offline mode" in text.lower():
        return "offline mode is on (HF_HUB_OFFLINE=1); unset it where there is a network"
    if status == 401:
        return "the token was refused (401): check HF_TOKEN"
    if status == 403:
        return f"the token may not write to this repo (403): use a write token or another repo ({text})"
    if any(k in name for k in ("Connect", "Timeout", "Network")) or "connect" in text.lower():
        return f"cannot reach the Hugging Face Hub ({name}): is there a network?"
    return f"{name}: {text}"
