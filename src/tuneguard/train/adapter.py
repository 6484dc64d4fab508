"""Reload a finished run's model: the base model plus the run's LoRA adapter.

Used by everything that works with a trained run after the fact (generate, evaluate,
export, tests): one place that knows where a run keeps its base and adapter.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from tuneguard.config.load import parse_yaml, validate_config
from tuneguard.config.schema import Config
from tuneguard.model import load as model_lib


def run_config(run_dir: Path) -> Config:
    path = Path(run_dir) / "config.yaml"
    if not path.exists():
        raise FileNotFoundError(f"{run_dir} has no config.yaml: is it a tuneguard run directory?")
    return validate_config(parse_yaml(path.read_text("utf-8"), str(path)))


def load_trained(run_dir: Path, adapter: str | Path | None = None) -> tuple[Any, Any, Config]:
    """(model with adapter, tokenizer, config) of a run; `adapter` may name a checkpoint folder."""
    from peft import PeftModel
    from transformers import AutoModelForCausalLM, AutoTokenizer

    run_dir = Path(run_dir)
    cfg = run_config(run_dir)
    # The saved config holds secrets redacted; a private base model needs the live token.
    import os

    cfg.model.hub_token = os.environ.get("HF_TOKEN") or os.environ.get("HUGGING_FACE_HUB_TOKEN")
    adapter_dir = Path(adapter) if adapter else run_dir / "adapter"
    if not (adapter_dir / "adapter_config.json").exists():
        raise FileNotFoundError(f"no LoRA adapter in {adapter_dir}: did the run finish?")
    tok_dir = adapter_dir if (adapter_dir / "tokenizer_config.json").exists() else run_dir / "adapter"
    tokenizer = AutoTokenizer.from_pretrained(tok_dir)
    base_dir = run_dir / "base_model"
    if base_dir.exists():
        base = AutoModelForCausalLM.from_pretrained(base_dir, dtype=model_lib.resolve_dtype(cfg.model.dtype))
    else:
        base = model_lib.load_base_model(cfg, tokenizer)
    model = PeftModel.from_pretrained(base, adapter_dir)
    model.eval()
    return model, tokenizer, cfg
