"""The `tuneguard` command group: wires the command modules together (one module per group).
Imported by `tuneguard.cli.main.run` once it is guarding against Ctrl-C (the imports here take a
second or two: Typer, Rich, pydantic, the config schema)."""

from __future__ import annotations

import os
import sys
from typing import Any

import typer
from typer.core import TyperGroup

try:  # recent Typer ships its own copy of Click and raises that copy's exceptions
    from typer._click import exceptions as click_exceptions
except ImportError:  # pragma: no cover - Typer that uses the click package
    from click import exceptions as click_exceptions

from tuneguard.cli import (audit_cmd, compare_cmd, config_cmd, control_cmd, demo_cmd, fix_cmd, next_cmd, notify_cmd,
                           policy_cmd, report_cmd, status_cmd, tools_cmd, train_cmd)
from tuneguard.cli.helptext import name_values
from tuneguard.errors import TuneguardError
from tuneguard.verbatim import print_error


class OneLineErrors(TyperGroup):
    """The `tuneguard` command group: a usage error (unknown option, bad value) is one
    `error:` line on stderr with the exit code, like every other error, not Click's usage
    block or Typer's boxed panel. Every value in `--help` is named for what to give (cli.helptext)."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        name_values(self)

    def main(self, args: Any = None, prog_name: str | None = None, complete_var: str | None = None,
             standalone_mode: bool = True, **extra: Any) -> Any:
        if not standalone_mode:
            return super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
        try:
            rv = super().main(args, prog_name, complete_var, standalone_mode=False, **extra)
            sys.stdout.flush()
        except click_exceptions.NoArgsIsHelpError as exc:
            exc.show()
            sys.exit(exc.exit_code)
        except TuneguardError as exc:  # one a command did not catch: the same line and code as everywhere
            print_error(exc.line())
            sys.exit(exc.exit_code)
        except click_exceptions.ClickException as exc:
            hint = f" (see `{exc.ctx.command_path} --help`)" if getattr(exc, "ctx", None) is not None else ""
            print_error(exc.format_message() + hint)
            sys.exit(exc.exit_code)
        except typer.Abort:  # Typer's own class: its bundled Click has none
            print_error("aborted")
            sys.exit(1)
        except BrokenPipeError:
            # The reader went away (`tuneguard status RUN | head -3`): nothing is wrong with the
            # run, so no error line; stdout goes to /dev/null so that the interpreter's final
            # flush does not raise again. Exit 1 as Click does in this case.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())
            sys.exit(1)
        sys.exit(rv if isinstance(rv, int) else 0)

    def invoke(self, ctx: Any) -> Any:
        """Ctrl-C that a command does not handle itself (`watch`, `stop --wait` and `train` do):
        one line, then Typer's exit 130, as at start-up (`tuneguard.cli.main.run`)."""
        try:
            return super().invoke(ctx)
        except KeyboardInterrupt:
            from tuneguard.catalog import say

            print_error(say("input.interrupted"))
            raise


app = typer.Typer(name="tuneguard", cls=OneLineErrors, no_args_is_help=True, add_completion=False,
                  pretty_exceptions_enable=False, rich_markup_mode=None,
                  help="Fine-tune causal LMs with LoRA and catch bad runs early.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect and compare configs.")
app.add_typer(config_app, name="config")

app.command("presets")(config_cmd.presets)
app.command("init")(config_cmd.init)
app.command("train")(train_cmd.train)
app.command("status")(status_cmd.status)
app.command("audit")(audit_cmd.audit)
app.command("fix")(fix_cmd.fix)
app.command("next")(next_cmd.next_run)
app.command("report")(report_cmd.report)
app.command("compare")(compare_cmd.compare)
config_app.command("diff")(report_cmd.config_diff)
app.command("notify-test")(notify_cmd.notify_test)
control_cmd.register(app)  # stop, pause, continue, checkpoint, watch
policy_cmd.register(app)  # set-lr, rollback
app.command("plan")(tools_cmd.plan)
app.command("generate")(tools_cmd.generate)
app.command("chat")(tools_cmd.chat)
app.command("evaluate")(tools_cmd.evaluate)
app.command("export")(tools_cmd.export)
app.command("demo")(demo_cmd.demo)
