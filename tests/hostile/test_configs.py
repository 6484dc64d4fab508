"""Hostile configs and `--set` overrides through every command that reads a config
(audit, audit --json, train, plan, config diff): each is one error line and exit 2, before
any model or hub is touched, and nothing is written."""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.hostile import World, check_failure, check_success, json_out
from tests.reliability.test_bad_input import BILLION_LAUGHS
from tuneguard.catalog import say


# name -> (file content, a phrase of the error line); {good} is the clean data file.
FILES = {
    "empty": ("", "is empty (or only comments)"),
    "comments_only": ("# a config\n# to be written\n", "is empty (or only comments)"),
    "blank_lines": ("\n\n   \n", "is empty (or only comments)"),
    "python_tag": ("model: !!python/object/apply:os.system ['touch pwned']\n", "!!python/object are not allowed"),
    "alias_bomb": (BILLION_LAUGHS, "aliases"),
    "top_level_list": ("- model\n- data\n", "must be a mapping of sections"),
    "top_level_string": ("just some text\n", "must be a mapping of sections"),
    "top_level_number": ("42\n", "must be a mapping of sections"),
    "tab_indent": ("preset: tiny\n\ttrain: {}\n", "is not valid YAML"),
    "nul_bytes": ("preset: tiny\x00\n", "is not valid YAML"),
    "not_utf8": (b"model:\n  name: caf\xe9\n", "cannot read"),
    "unknown_preset": ("preset: nope\n", "unknown preset 'nope'"),
    "preset_not_a_name": ("preset: [tiny]\n", "preset must be a preset name"),
    "section_null": ("preset: tiny\ntrain:\n", "train input should be a valid dictionary"),
    "section_scalar": ("preset: tiny\ntrain: 5\n", "train input should be a valid dictionary"),
    "unknown_section": ("preset: tiny\ntrian: {max_steps: 1}\n", "trian is not a known key"),
    "typo_key": ("preset: tiny\ntrain: {learning_rte: 0.1}\n", "did you mean train.learning_rate"),
    "typo_preset": ("presett: tiny\nmodel: {name: builtin:tiny-gptj}\n",
                    "invalid config: presett is not a known key; did you mean preset?"),
    "wrong_type": ("preset: tiny\ntrain: {max_steps: many}\n", "train.max_steps"),
    "lr_negative": ("preset: tiny\ntrain: {learning_rate: -0.001}\n", "train.learning_rate must be > 0"),
    "lr_infinite": ("preset: tiny\ntrain: {learning_rate: .inf}\n", "train.learning_rate"),
    "lr_nan": ("preset: tiny\ntrain: {learning_rate: .nan}\n", "train.learning_rate"),
    "max_length_tiny": ("preset: tiny\ndata: {max_length: 2}\n", "data.max_length"),
    "no_train_file": ("preset: tiny\ndata: {train_file: null}\n", "data.train_file is not set"),
    "train_file_empty": ("preset: tiny\ndata: {train_file: ''}\n", "data.train_file is not set"),
    "train_file_missing": ("preset: tiny\ndata: {train_file: nope.jsonl}\n", "does not exist"),
    "train_file_is_list": ("preset: tiny\ndata: {train_file: [a.jsonl]}\n", "data.train_file"),
    "model_only": ("model: {name: builtin:tiny-gptj}\n", "data.train_file is not set"),
    "both_8_and_4_bit": ("preset: tiny\nmodel: {load_in_8bit: true, load_in_4bit: true}\n", "exclusive"),
    "save_and_eval_both_set": ("preset: tiny\ntrain: {save_steps: 15}\neval: {steps: 20}\n",
                               "must be a multiple of eval.steps"),
    "best_without_evals": ("preset: tiny\neval: {strategy: 'no', load_best_model_at_end: true}\n",
                           "load_best_model_at_end needs evaluations"),
    "notify_not_a_list": ("preset: tiny\nnotify: {urls: line://secret-token-123456/U1}\n", "notify.urls"),
    "unknown_event": ("preset: tiny\nnotify: {events: [started, explode]}\n", "unknown event"),
    "huge": ("# " + "x" * 1_100_000 + "\n", "larger than"),
    # YAML keeps the last of two equal keys without a word: the second data section would drop
    # the first one's train_file.
    "duplicate_section": ("preset: tiny\ndata: {train_file: a.jsonl}\ndata: {max_length: 64}\n",
                          "hostile-duplicate_section.yaml is not valid YAML: line 3, column 1: "
                          + say("input.yaml_duplicate", key="data", first=2)),
    "duplicate_key": ("preset: tiny\ntrain:\n  max_steps: 3\n  max_steps: 5\n",
                      "line 4, column 3: " + say("input.yaml_duplicate", key="max_steps", first=3)),
}


def _config(where: Path, name: str) -> Path:
    content, _ = FILES[name]
    path = where / f"hostile-{name}.yaml"
    path.write_bytes(content if isinstance(content, bytes) else content.encode())
    return path


@pytest.mark.parametrize("name", list(FILES))
def test_audit_refuses_a_hostile_config(world: World, tg, unchanged, tmp_path: Path, name: str) -> None:
    r = tg("audit", _config(tmp_path, name))
    check_failure(r, 2, FILES[name][1])
    assert "secret-token" not in r.text  # a URL in a bad value is shown redacted


@pytest.mark.parametrize("name", ["empty", "python_tag", "train_file_missing", "lr_infinite", "typo_key"])
def test_audit_json_answers_json_for_a_hostile_config(world: World, tg, unchanged, tmp_path: Path,
                                                      name: str) -> None:
    r = tg("audit", _config(tmp_path, name), "--json")
    check_failure(r, 2, FILES[name][1])
    assert FILES[name][1] in json_out(r)["error"]


@pytest.mark.parametrize("name", ["empty", "alias_bomb", "train_file_missing", "no_train_file", "unknown_preset",
                                  "save_and_eval_both_set", "duplicate_section"])
def test_train_refuses_a_hostile_config_and_leaves_no_run_dir(world: World, tg, unchanged, tmp_path: Path,
                                                              name: str) -> None:
    run = tmp_path / "run"
    r = tg("train", _config(tmp_path, name), "--run-dir", run)
    check_failure(r, 2, FILES[name][1])
    assert not run.exists()  # refused before anything was created
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("name", ["empty", "tab_indent", "train_file_missing"])
def test_plan_and_diff_refuse_a_hostile_config(world: World, tg, unchanged, tmp_path: Path, name: str) -> None:
    check_failure(tg("plan", _config(tmp_path, name)), 2, FILES[name][1])
    if name != "train_file_missing":  # diff compares configs; it reads no data
        check_failure(tg("config", "diff", "tiny", _config(tmp_path, name)), 2, FILES[name][1])


@pytest.mark.parametrize("arg, phrase", [
    ("", "the config argument is empty"),
    ("not-a-preset", "is neither a config file nor a preset"),
    ("missing.yaml", "does not exist"),
    ("/dev/zero", "not a regular file"),
    ("/", "is a directory"),
])
def test_config_argument_that_is_not_a_config(world: World, tg, unchanged, arg: str, phrase: str) -> None:
    check_failure(tg("audit", arg), 2, phrase)


SETS = {
    "no_equals": ("train.learning_rate", "must look like section.key=value"),
    "only_equals": ("=", "the key must name a section and a field"),
    "no_section": ("learning_rate=1", "the key must name a section and a field"),
    "unknown_section": ("trian.max_steps=1", "trian is not a known key"),
    "too_deep": ("a.b.c.d=1", "a is not a known key"),
    "unknown_key": ("train.max_stpes=1", "did you mean train.max_steps"),
    "bad_yaml": ("train.max_steps=*x", "not valid YAML"),
    "python_tag": ("model.name=!!python/object/apply:os.system [touch pwned]", "!!python/object are not allowed"),
    "list_for_number": ("train.learning_rate=[1, 2]", "train.learning_rate"),
    "empty_value": ("train.learning_rate=", "train.learning_rate"),
    "nan": ("train.learning_rate=nan", "train.learning_rate"),
    "infinity": ("train.learning_rate=.inf", "train.learning_rate"),
    "float_steps": ("train.max_steps=1e100", "train.max_steps"),
    "zero_eval_steps": ("eval.steps=0", "eval.steps"),
    "unknown_strategy": ("eval.strategy=sometimes", "eval.strategy"),
    "secret_in_bad_value": ("notify.urls=line://secret-token-123456/U1", "notify.urls"),
    # Reaching inside a value replaced it with a mapping: data.train_file was lost.
    "inside_a_value": ("data.train_file.x=1", say("input.set_inside_value", item="data.train_file.x=1",
                                                  key="data.train_file", rest="x")),
    "duplicate_in_value": ("train.max_steps={a: 1, a: 2}", "value is not valid YAML: line 1, column 8: "
                           + say("input.yaml_duplicate", key="a", first=1)),
}


@pytest.mark.parametrize("name", list(SETS))
def test_hostile_set_overrides(world: World, tg, unchanged, name: str) -> None:
    override, phrase = SETS[name]
    r = tg("audit", world.config("plain"), "--set", override)
    check_failure(r, 2, phrase)
    assert "secret-token" not in r.text
    assert not Path("pwned").exists()


def test_several_problems_are_listed_under_one_error_line(world: World, tg, unchanged) -> None:
    r = tg("audit", world.config("plain"), "--set", "train.learning_rte=1", "--set", "train.learning_rate=-1",
           "--set", "eval.steps=0")
    check_failure(r, 2, "invalid config (3 problems)")
    bullets = [ln for ln in r.stderr.splitlines() if ln.startswith("  - ")]
    assert len(bullets) == 3 and any("learning_rte" in b for b in bullets)


# --- preset values the user did not choose follow the ones they did ------------------------

@pytest.mark.parametrize("sets, note, check", [
    (["eval.steps=50"], "checkpoints are saved every 50 steps instead", ("train", "save_steps", 50)),
    (["train.save_steps=30"], "evaluating every 30 steps instead", ("eval", "steps", 30)),
    (["eval.strategy=no"], "eval.load_best_model_at_end (from the preset) is off",
     ("eval", "load_best_model_at_end", False)),
    (["model.context_length=64"], "examples are cut at 64 tokens instead", ("data", "max_length", 64)),
])
def test_a_preset_value_follows_the_users_choice_with_one_note(world: World, tg, unchanged, sets: list[str],
                                                              note: str, check: tuple[str, str, object]) -> None:
    args = [a for s in sets for a in ("--set", s)]
    r = tg("plan", world.config("plain"), *args, "--json")
    check_success(r)
    notes = [ln for ln in r.stderr.splitlines() if ln.startswith("note:")]
    assert len(notes) == 1 and note in notes[0], r.stderr
    from tuneguard.config.load import load_config

    cfg = load_config(str(world.config("plain")), sets)
    section, key, value = check
    assert getattr(getattr(cfg, section), key) == value


def test_the_user_setting_both_sides_keeps_the_error(world: World, tg, unchanged) -> None:
    r = tg("audit", world.config("plain"), "--set", "eval.steps=50", "--set", "train.save_steps=20")
    check_failure(r, 2, "train.save_steps (20) must be a multiple of eval.steps (50)")
