"""Command lines a person mistypes: unknown commands and options, missing or extra
arguments, values of the wrong type. Each is one `error:` line naming the command's --help,
exit 2, never Click's usage block or a boxed panel; and the commands not covered elsewhere
(presets, chat, generate with markup in the prompt) with odd input."""

from __future__ import annotations

import pytest

from tests.helpers.hostile import ODD, World, check_failure, check_success


@pytest.mark.parametrize("args, phrase", [
    (["nope"], "No such command 'nope'"),
    (["audit"], "Missing argument"),
    (["audit", "tiny", "--bogus"], "No such option: --bogus"),
    (["train", "tiny", "--resume"], "--resume"),
    (["demo", "--steps", "many"], "Invalid value for '--steps'"),
    (["demo", "--steps", "0"], "--steps"),
    (["presets", "extra"], "Got unexpected extra argument"),
    (["status"], "Missing argument"),
    (["report", "a", "b"], "Got unexpected extra argument"),
    (["set-lr"], "Missing argument"),
    (["rollback", "run", "--to", "x"], "Invalid value for '--to'"),
    (["watch", "run", "--interval", "-1"], "--interval"),
    (["config", "nope"], "No such command 'nope'"),
    (["notify-test"], "Missing argument"),
    (["export", "run"], "Missing option '--out'"),
    (["plan", "tiny", "--calibrate", "1"], "--calibrate needs at least 2 steps"),
    (["generate", "run", "hi", "--temperature", "hot"], "Invalid value for '--temperature'"),
])
def test_a_mistyped_command_line_is_one_error_line(tg, world: World, unchanged, args: list[str], phrase: str) -> None:
    r = tg(*args)
    check_failure(r, 2, phrase)


def test_presets_lists_every_preset(tg, unchanged) -> None:
    r = tg("presets")
    check_success(r)
    for name in ("gptj-6b-v1", "gptj-6b-v2", "tiny", "smollm2-135m"):
        assert name in r.stdout


@pytest.mark.parametrize("path", ["missing\nrun", "   ", "-"])
def test_odd_run_dir_arguments(tg, world: World, unchanged, path: str) -> None:
    r = tg("status", path)
    check_failure(r, 2)


def test_chat_on_a_missing_run_and_at_end_of_input(tg, world: World, unchanged) -> None:
    check_failure(tg("chat", world.run("missing")), 2, "does not exist")
    r = tg("chat", world.run("finished"), "--max-new-tokens", "2", input="")  # Ctrl-D at once
    check_success(r)


def test_generate_sends_a_prompt_with_markup_verbatim(tg, world: World, unchanged) -> None:
    r = tg("generate", world.run(ODD), "Say [bold]:100:[/] :smile:", "--max-new-tokens", "3", "--temperature", "0")
    check_success(r)
    assert "prompt format" in r.stderr


def test_a_reader_that_goes_away_is_not_an_internal_error() -> None:
    """`tuneguard status RUN | head -3`: the pipe closes before the output is written. The
    command stops quietly (exit 1, as Click does), with no `error: internal error` line."""
    import os
    import subprocess
    import sys

    read, write = os.pipe()
    os.close(read)  # the reader is gone before the first write: deterministic EPIPE
    try:
        p = subprocess.run([sys.executable, "-m", "tuneguard", "presets"], stdout=write, stderr=subprocess.PIPE,
                           text=True, timeout=120, check=False)
    finally:
        os.close(write)
    assert p.returncode == 1
    assert p.stderr == ""


def test_abort_and_interrupt_inside_a_command_are_one_line() -> None:
    """Typer's bundled Click has no `Abort`: naming it there turned every exception that
    reached the handler into `AttributeError`. Abort is one `error: aborted` line, exit 1;
    Ctrl-C is one `error: interrupted (Ctrl-C)` line, exit 130; any other exception reaches the caller as itself."""
    import typer
    from typer.testing import CliRunner

    from tuneguard.cli.main import OneLineErrors

    app = typer.Typer(cls=OneLineErrors)

    @app.callback()
    def main() -> None:
        """A group, as tuneguard's app is (one command alone would not be)."""

    @app.command()
    def go(what: str) -> None:
        if what == "abort":
            raise typer.Abort()
        if what == "interrupt":
            raise KeyboardInterrupt
        raise LookupError("mine")

    r = CliRunner().invoke(app, ["go", "abort"])
    assert (r.exit_code, r.stderr) == (1, "error: aborted\n")
    r = CliRunner().invoke(app, ["go", "interrupt"])
    assert (r.exit_code, r.stderr) == (130, "error: interrupted (Ctrl-C)\n")  # as during the imports at start
    r = CliRunner().invoke(app, ["go", "other"])
    assert isinstance(r.exception, LookupError) and str(r.exception) == "mine"
