"""The `tuneguard` command: wires the command modules together (one module per group)."""

from __future__ import annotations

import os

import typer

from tuneguard.cli import (audit_cmd, config_cmd, control_cmd, demo_cmd, notify_cmd, policy_cmd, report_cmd,
                           status_cmd, tools_cmd, train_cmd)

app = typer.Typer(name="tuneguard", no_args_is_help=True, add_completion=False, pretty_exceptions_enable=False,
                  help="Fine-tune causal LMs with LoRA and catch bad runs early.")
config_app = typer.Typer(no_args_is_help=True, help="Inspect and compare configs.")
app.add_typer(config_app, name="config")

app.command("presets")(config_cmd.presets)
app.command("init")(config_cmd.init)
app.command("train")(train_cmd.train)
app.command("status")(status_cmd.status)
app.command("audit")(audit_cmd.audit)
app.command("report")(report_cmd.report)
app.command("compare")(report_cmd.compare)
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


def run() -> None:
    # Tokenization (audit, data preparation) runs before any DataLoader worker forks, so
    # the Rust tokenizer may use every core; it disables itself in forked workers.
    os.environ.setdefault("TOKENIZERS_PARALLELISM", "true")
    app()
