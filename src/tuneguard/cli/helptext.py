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
    """Give every argument and option of `command` and its subcommands a value name."""
    from typer.core import TyperArgument, TyperOption

    for param in getattr(command, "params", []):
        if isinstance(param, TyperArgument):
            _tidy_argument(param)
        elif isinstance(param, TyperOption):
            _tidy_option(param)
    for sub in (getattr(command, "commands", None) or {}).values():
        name_values(sub)
