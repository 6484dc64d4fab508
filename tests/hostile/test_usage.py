"""Command lines a person mistypes: unknown commands and options, missing or extra
arguments, values of the wrong type. Each is one `error:` line naming the command's --help,
exit 2, never Click's usage block or a boxed panel; and the commands not covered elsewhere
(presets, chat, generate with markup in the prompt) with odd input."""

from __future__ import annotations

import pytest

from tests.hostile.conftest import ODD, World, check_failure, check_success


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
