"""Every command's --help names each value for what to give (CONFIG, RUN_DIR, KEY=VALUE,
SECONDS, best|last|STEP), never Typer's Python types (`<str>`, `<list[str]>`) nor `{config}`."""

from __future__ import annotations

import re

import typer

from tests.helpers.cli import invoke
from tuneguard.cli.main import app


def _commands(group, prefix=()):
    for name, cmd in group.commands.items():
        if getattr(cmd, "commands", None):
            yield from _commands(cmd, (*prefix, name))
        else:
            yield (*prefix, name)


def test_every_help_names_its_values():
    commands = sorted(_commands(typer.main.get_command(app)))
    assert ("train",) in commands and ("config", "diff") in commands and len(commands) > 20
    for words in commands:
        r = invoke(*words, "--help")
        assert r.returncode == 0, (words, r.stderr)
        assert not re.search(r"<(str|int|float|bool|path|file|dir|list\[\w+\]|\w+ range)>|\{[a-z_]+\}", r.stdout), (words, r.stdout)


def test_train_help_reads_as_the_readme_writes_it():
    out = invoke("train", "--help").stdout
    assert out.startswith("Usage: tuneguard train [OPTIONS] CONFIG\n")
    for line in ("  CONFIG  YAML config file or preset name.", "  --run-dir RUN_DIR  ", "  --set KEY=VALUE    ",
                 "  --resume auto      "):
        assert line in out, (line, out)
    assert "  --timeout SECONDS  With --wait: give up after this many seconds." in invoke("stop", "--help").stdout
    r = invoke("train")  # a missing argument is named as the help names it
    assert r.returncode == 2 and "'CONFIG'" in r.stderr, r.stderr


def test_the_command_list_gives_each_command_a_whole_line():
    listing = invoke("--help").stdout.split("Commands:")[1].splitlines()
    lines = [line.strip() for line in listing if line.strip()]
    assert len(lines) == len(list(typer.main.get_command(app).commands))
    assert "train        Audit the data, then fine-tune with LoRA under guards." in lines
    assert not [line for line in lines if line.endswith("...") or len(line.split(None, 1)) < 2], lines
