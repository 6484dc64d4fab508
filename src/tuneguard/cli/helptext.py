"""What `--help` shows for each value: a name that says what to give (`--run-dir RUN_DIR`,
`--set KEY=VALUE`, `CONFIG`), never Typer's Python types (`<str>`, `<list[str]>`,
`<float range>`) nor its `{config}` for a required argument.

Applied to every command once the app is built (`name_values`), so that a new command's
options read well without each module repeating the table; an option that gives its own
`metavar` keeps it.
"""

from __future__ import annotations

from typing import Any

# Option -> the value it takes, as the help shows it.
OPTION_VALUES = {
    "--run-dir": "RUN_DIR", "--set": "KEY=VALUE", "--resume": "auto", "--out": "PATH", "--config": "CONFIG",
    "--data": "FILE", "--checkpoint": "best|last|STEP", "--dtype": "bf16|fp16|fp32", "--truncation": "keep|drop",
    "--language": "en|th", "--preset": "NAME", "--model": "auto|smollm2|tiny", "--steps": "N", "--to": "STEP",
    "--skip-steps": "N", "--timeout": "SECONDS", "--interval": "SECONDS", "--calibrate": "N",
    "--price-per-hour": "PRICE", "--world-size": "N", "--max-new-tokens": "N", "--temperature": "T",
    "--top-p": "P", "--batch-size": "N", "--push-to-hub": "USER/NAME",
    "--max-steps": "N",
}
# Command -> its line in `tuneguard --help`, whole (Click would cut the docstring's first sentence
# at about 45 characters, mid-phrase).
SUMMARIES = {
    "presets": "List the shipped presets.",
    "init": "Write a commented YAML config from a preset.",
    "train": "Audit the data, then fine-tune with LoRA under guards.",
    "status": "State, progress, metrics and findings of a run.",
    "audit": "Pre-flight data audit (exit 1 on errors).",
    "fix": "Write cleaned copies of the data the audit faulted.",
    "next": "The next run's config from a run's report.",
    "report": "Write a run's HTML report and report.md.",
    "compare": "Write a side-by-side page of two runs.",
    "notify-test": "Send one test notification to a URL.",
    "stop": "Checkpoint a live run and stop it.",
    "pause": "Checkpoint a live run and pause it.",
    "continue": "Resume a paused run.",
    "checkpoint": "Save a checkpoint of a live run now.",
    "watch": "Live dashboard of a run until it ends.",
    "set-lr": "Change a live run's learning rate.",
    "rollback": "Roll a live run back to a checkpoint.",
    "plan": "Steps, time, memory and cost before a run.",
    "generate": "Generate a reply with a run's adapter.",
    "chat": "Chat with a run's fine-tuned model.",
    "evaluate": "Base vs fine-tuned: loss, perplexity, QA.",
    "export": "Export the adapter or the merged model.",
    "demo": "A complete run on this machine, offline.",
    "config": "Inspect and compare configs.",
    "diff": "The parameters that differ between two configs.",
}
# A value type -> the name shown where the table above has no entry.
TYPE_VALUES = {"int": "N", "float": "NUMBER", "path": "PATH", "str": "TEXT"}


def _type_name(param: Any) -> str:
    desc = getattr(param, "type_descriptor", None)
    if desc is not None and getattr(desc, "is_path", False):
        return "path"
    return str(getattr(param.type, "name", "str")).split()[0].lower()


def _tidy_argument(param: Any) -> None:
    """An argument is named by what it is (CONFIG, RUN_DIR), its help says the rest: no type."""
    if param.metavar is None:
        param.metavar = (param.name or "value").upper()
    name = param.metavar
    param.display_type_rich = lambda ctx: None
    param._usage_display_name = lambda: (name if param.required else f"[{name}]") + ("..." if param.nargs != 1 else "")


def _tidy_option(param: Any) -> None:
    if param.is_flag or param.metavar is not None:
        return
    opt = max(param.opts, key=len) if param.opts else ""
    param.metavar = OPTION_VALUES.get(opt) or TYPE_VALUES.get(_type_name(param), "VALUE")


def name_values(command: Any) -> None:
    """Give every argument and option of `command` and its subcommands a value name, and each
    subcommand its whole line in the list of commands."""
    from typer.core import TyperArgument, TyperOption

    for param in getattr(command, "params", []):
        if isinstance(param, TyperArgument):
            _tidy_argument(param)
        elif isinstance(param, TyperOption):
            _tidy_option(param)
    for name, sub in (getattr(command, "commands", None) or {}).items():
        if sub.short_help is None and name in SUMMARIES:
            sub.short_help = SUMMARIES[name]
        name_values(sub)
