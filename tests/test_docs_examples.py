"""Every command, `--set` flag, YAML snippet, finding code, preset and path a user copies from
README.md and docs/*.md works with the tool as it is: commands parse in the real Typer app
(subcommand, options, option values), `--set` keys and values validate against the config
schema, YAML snippets load as configs, named finding codes, presets, scripts and configs exist.

In process and without training: each command is parsed by Click (`make_context`), never run.
A code block a doc shows on purpose although it cannot run is marked
`<!-- docs-example: not-runnable REASON -->` on the line before it (tests/helpers/docs.py).
"""

from __future__ import annotations

import functools
import importlib.util
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import typer

from tests.helpers.docs import (DOCS, ROOT, Example, code_blocks, code_examples, inline_examples, is_synopsis,
                                is_usage_line, prose, repo_paths, split_commands, tuneguard_args)

# Names in capitals with underscores that the docs use and that are no finding code: environment
# variables, placeholders, other libraries' constants. Any other such name must be a finding code.
NOT_CODES = {
    # environment variables
    "CUDA_VISIBLE_DEVICES", "HF_HOME", "HF_HUB_OFFLINE", "HF_TOKEN", "LOCAL_RANK", "MLFLOW_ALLOW_FILE_STORE",
    "MLFLOW_EXPERIMENT_NAME", "MLFLOW_RUN_ID", "MLFLOW_TRACKING_URI", "NCCL_SOCKET_IFNAME",
    "TENSORBOARD_LOGGING_DIR", "TOKENIZERS_PARALLELISM", "LINE_URL", "ENV_VAR", "TUNEGUARD_CACHE_DIR", "XDG_CACHE_HOME",
    # placeholders in commands and URLs
    "RUN_DIR", "RUN_A", "RUN_B", "CHANNEL_ACCESS_TOKEN", "USER_ID",
    # other tools' names: accelerate, torch FSDP, SQLite
    "MULTI_CPU", "FULL_STATE_DICT", "SHARDED_STATE_DICT", "SQLITE_FULL",
    # constants of tuneguard's own code that the docs name
    "ADVICE_MOVES", "BUDGET_S", "MEASURED_GAIN", "STEP_LIMITS",
}
# Placeholders in concrete commands, replaced before parsing (a value must parse as its option's type).
PLACEHOLDERS = {"RUN_DIR": "runs/example", "RUN_A": "runs/a", "RUN_B": "runs/b", "CONFIG": "config.yaml",
                "DIR": "out", "FILE": "file.jsonl", "PATH": "file.jsonl", "STEP": "100", "N": "2"}
# `--set` values that stand for any key and value ("--set k=v"): not checked.
SET_PLACEHOLDERS = {"k=v", "key=value", "section.key=value", "a.b=value"}
# A config that a doc's command names but the doc does not create: "your config", checked as the tiny preset.
DEFAULT_PRESET = "tiny"
CODE_NAME = re.compile(r"\b[A-Z][A-Z0-9]*(?:_[A-Z0-9]+)+\b")


@functools.cache
def _app() -> Any:
    """The Click command Typer builds (built once: building it inspects every command's signature)."""
    from tuneguard.cli.main import app

    return typer.main.get_command(app)


@functools.cache
def _presets() -> list[str]:
    from tuneguard.config.load import preset_names

    return preset_names()


def _resolve(words: list[str]) -> tuple[Any, Any, list[str], str]:
    """(the Click command, its parent context, the words after its name, the command path);
    raises LookupError naming a command that does not exist."""
    import typer._click as click

    group = _app()
    ctx = click.Context(group, info_name="tuneguard")
    cmd, path = group, "tuneguard"
    while hasattr(cmd, "get_command") and words and not words[0].startswith("-"):
        sub = cmd.get_command(ctx, words[0])
        if sub is None:
            raise LookupError(f"`{path} {words[0]}` is no command ({', '.join(cmd.list_commands(ctx))})")
        ctx = click.Context(sub, info_name=words[0], parent=ctx)
        cmd, path, words = sub, f"{path} {words[0]}", words[1:]
    return cmd, ctx.parent, words, path


def _option_names(cmd: Any) -> set[str]:
    return {o for p in cmd.params for o in (*p.opts, *p.secondary_opts) if o.startswith("-")} | {"--help"}


def check_synopsis(words: list[str]) -> list[str]:
    """A usage line or a command fragment: its command exists and has every option it names."""
    if "|" in words:  # `tuneguard stop | pause | continue RUN_DIR`: alternative commands
        names = [words[0]] + [words[i + 1] for i, w in enumerate(words[:-1]) if w == "|"]
        return [p for name in names for p in check_synopsis([name])]
    try:
        cmd, _, rest, path = _resolve(words)
    except LookupError as exc:
        return [str(exc)]
    known = _option_names(cmd)
    options = {w.strip("[]().,").removesuffix("...").strip("[]").split("=")[0] for w in rest}
    return [f"`{path}` has no option {o}" for o in sorted(options) if o.startswith("--") and o not in known]


def _substitute(word: str) -> str:
    return re.sub(r"\b(" + "|".join(PLACEHOLDERS) + r")\b", lambda m: PLACEHOLDERS[m.group(1)], word)


def _config_source(value: str | None, created: dict[str, str]) -> tuple[str, list[str]]:
    """The preset or file a command's config argument stands for, and the problems with it."""
    if value is None:
        return DEFAULT_PRESET, []
    if value in _presets():
        return value, []
    if value in created:
        return created[value], []
    if (ROOT / value).is_file():
        return str(ROOT / value), []
    if not value.endswith((".yaml", ".yml")):
        return DEFAULT_PRESET, [f"{value!r} is neither a preset ({', '.join(_presets())}) nor a YAML file"]
    return DEFAULT_PRESET, []


def check_sets(source: str, sets: list[str]) -> list[str]:
    """`--set` values applied to a config: each names a real key with a valid value."""
    from tuneguard.config.load import ConfigError, load_config

    sets = [s for s in sets if s not in SET_PLACEHOLDERS and "..." not in s]
    if not sets:
        return []
    try:
        load_config(source, sets, notes=[])
    except ConfigError as exc:
        return [f"--set {' '.join(sets)} on {Path(source).name}: {p}" for p in exc.problems]
    return []


def _value_problems(path: str, params: dict[str, Any]) -> list[str]:
    """Values the command checks itself, after parsing: `--resume` takes only auto, set-lr a rate or xFACTOR."""
    from tuneguard.policy.lr import parse_lr_request

    problems = []
    if params.get("resume") not in (None, "auto"):
        problems.append(f"`{path}`: --resume takes 'auto', got {params['resume']!r}")
    if path.endswith("set-lr"):
        try:
            parse_lr_request(params["value"])
        except ValueError as exc:
            problems.append(f"`{path}`: {exc}")
    return problems


def check_command(args: list[str], created: dict[str, str]) -> list[str]:
    """A concrete `tuneguard ...` command: it parses, its --set flags and config are valid."""
    import typer._click as click

    try:
        cmd, parent, rest, path = _resolve([_substitute(w) for w in args])
    except LookupError as exc:
        return [str(exc)]
    if hasattr(cmd, "get_command"):
        return [f"`{path}` needs a subcommand"]
    try:
        ctx = cmd.make_context(path.split()[-1], rest, parent=parent)
    except click.exceptions.ClickException as exc:
        return [f"`{path}`: {exc.format_message()}"]
    params = ctx.params
    problems: list[str] = []
    preset = params.get("preset")
    if preset is not None and preset not in _presets():
        problems.append(f"--preset {preset}: no such preset ({', '.join(_presets())})")
    if preset in _presets() and params.get("out"):
        created[str(params["out"])] = preset
    for name in ("a", "b"):  # config diff A B: presets or files
        if path.endswith("config diff") and not str(params[name]).endswith((".yaml", ".yml")) \
                and params[name] not in _presets():
            problems.append(f"`{path}`: {params[name]!r} is neither a preset nor a YAML file")
    problems += _value_problems(path, params)
    source, config_problems = _config_source(params.get("config"), created)
    problems += config_problems
    set_param = next((p.name for p in cmd.params if "--set" in p.opts), None)
    if set_param is not None:
        problems += check_sets(source, list(params.get(set_param) or []))
    return problems


def _bench_option_problems(words: list[str]) -> list[str]:
    """`python bench/X.py --option`: the script (or the tuneguard.bench module it runs) reads the option."""
    script = ROOT / words[1]
    if not script.is_file():
        return []
    source = script.read_text("utf-8")
    for module in re.findall(r"tuneguard\.bench\.(\w+)", source):
        path = ROOT / "src" / "tuneguard" / "bench" / f"{module}.py"
        source += path.read_text("utf-8") if path.is_file() else ""
    options = {w.strip("[]").split("=")[0] for w in words[2:] if w.strip("[").startswith("--")}
    return [f"{words[1]} reads no option {o}" for o in sorted(options) if f'"{o}"' not in source]


def _path_problems(words: list[str]) -> list[str]:
    problems = [f"{p} does not exist" for p in repo_paths(words) if not (ROOT / p).exists()]
    if len(words) > 1 and words[0] in ("python", "python3") and words[1].startswith("bench/"):
        problems += _bench_option_problems(words)
    if len(words) > 2 and words[0] in ("python", "python3") and words[1] == "-m" \
            and importlib.util.find_spec(words[2]) is None:
        problems.append(f"no module {words[2]}")
    return problems


def _block_problems(ex: Example, created: dict[str, str]) -> list[str]:
    if is_usage_line(ex.text):  # `tuneguard plan CONFIG [--calibrate N]`: `|` there is "or", not a pipe
        words = ex.text.split()
        args = tuneguard_args(words)
        return _path_problems(words) + (check_synopsis(args) if args is not None else [])
    try:
        commands = split_commands(ex.text)
    except ValueError as exc:  # unbalanced quotes
        return [f"not a shell line ({exc})"]
    problems: list[str] = []
    for words in commands:
        problems += _path_problems(words)
        args = tuneguard_args(words)
        if args is None:
            continue
        problems += check_synopsis(args) if is_synopsis(args) else check_command(args, created)
    return problems


def test_every_command_in_a_code_block_parses_and_its_set_flags_and_paths_are_valid():
    created: dict[str, str] = {}  # config files a doc's `init --preset P --out F` wrote: F -> P
    problems, commands = [], 0
    for ex in code_examples():
        if ex.kind != "block":
            continue
        commands += 1
        problems += [f"{ex.where()}: {p}\n    {ex.text.strip()}" for p in _block_problems(ex, created)]
    assert commands >= 40, f"only {commands} command lines found in the docs' code blocks"
    assert not problems, "doc commands that do not work as printed:\n" + "\n".join(problems)


def _inline_problems(ex: Example) -> list[str]:
    try:
        words = shlex.split(ex.text)
    except ValueError:
        words = ex.text.split()
    if not words:
        return []
    problems = _path_problems(words)
    first = words[0]
    top = set(_app().list_commands(None))  # type: ignore[arg-type]
    if first == "tuneguard":
        problems += check_synopsis(words[1:])
    elif first in top and len(words) > 1 and any(w.startswith(("-", "[")) or w.isupper() for w in words[1:]):
        problems += check_synopsis(words)  # a command table's `audit CONFIG [--json]`, `status --json`
    sets = [words[i + 1] for i, w in enumerate(words[:-1]) if w == "--set"]
    problems += check_sets(DEFAULT_PRESET, sets)
    return problems


def test_every_command_fragment_and_set_flag_in_the_text_is_valid():
    problems = [f"{ex.where()}: {p}  (`{ex.text}`)" for ex in inline_examples() for p in _inline_problems(ex)]
    assert not problems, "doc commands and flags that do not work as printed:\n" + "\n".join(problems)


def test_every_yaml_snippet_loads_as_a_config(tmp_path: Path):
    from tuneguard.config.load import ConfigError, load_config

    snippets = [ex for ex in code_examples() if ex.kind == "yaml"]
    assert len(snippets) >= 2
    problems = []
    for i, ex in enumerate(snippets):
        path = tmp_path / f"snippet{i}.yaml"
        path.write_text(ex.text, "utf-8")
        try:
            load_config(str(path), [], notes=[])
        except ConfigError as exc:
            problems += [f"{ex.where()}: {p}" for p in exc.problems]
    assert not problems, "doc YAML snippets that are not valid configs:\n" + "\n".join(problems)


def test_every_finding_code_named_in_the_docs_exists():
    from tuneguard.catalog import findings

    codes = {k.split(".")[0] for table in (findings.AUDIT, findings.GUARD, findings.POLICY) for k in table}
    named: dict[str, set[str]] = {}
    for path in DOCS:
        for m in CODE_NAME.finditer(path.read_text("utf-8")):
            named.setdefault(m.group(), set()).add(path.name)
    unknown = {name: sorted(docs) for name, docs in named.items() if name not in codes | NOT_CODES}
    assert not unknown, (f"names in the docs that are no finding code (tuneguard.catalog.findings): {unknown}; "
                         "fix the name, or add it to NOT_CODES when it is not meant as a finding code")
    assert not NOT_CODES - set(named), f"NOT_CODES names no doc uses any more: {NOT_CODES - set(named)}"


def test_every_preset_named_in_the_docs_exists():
    presets = set(_presets())
    named: list[tuple[str, str]] = []
    for path in DOCS:
        text = path.read_text("utf-8")
        named += [(path.name, m.group(1)) for m in re.finditer(r"--preset[ =](\S+)", text)]
        named += [(path.name, m.group(1)) for m in re.finditer(r"^\s*preset:\s*(\S+)", text, re.M)]
        # prose: "the tiny preset", "presets (`gptj-6b-v1`, ...)", "preset `tiny`"
        named += [(path.name, m.group(1)) for m in re.finditer(r"`([a-z][a-z0-9-]*)`,? (?:or `[^`]+` )?preset",
                                                                prose(path))]
        for para in re.split(r"\n\s*\n", prose(path)):
            if re.search(r"\bpresets \(", para):
                inside = re.search(r"\bpresets \(([^)]*)\)", para)
                named += [(path.name, n) for n in re.findall(r"`([^`]+)`", inside.group(1) if inside else "")]
    unknown = sorted({(doc, n) for doc, n in named if n not in presets and n.upper() != n})
    assert not unknown, f"presets named in the docs that do not exist ({', '.join(sorted(presets))}): {unknown}"
    assert presets <= {n for _, n in named}, f"presets the docs never name: {presets - {n for _, n in named}}"


@pytest.mark.parametrize("line, expected", [
    ("tuneguard trian tiny", "is no command"),
    ("tuneguard train tiny --steps 5", "No such option"),
    ("tuneguard train tiny --set train.max_stpes=5", "not a known key"),
    ("tuneguard train tiny --set train.learning_rate=-1", "learning_rate"),
    ("tuneguard init --preset gptj-7b --out x.yaml", "no such preset"),
    ("tuneguard rollback RUN_DIR --to STEP_TEN", "valid integer"),
    ("tuneguard plan CONFIG [--calibrate N] [--gpus 2]", "has no option --gpus"),
    ("tuneguard train tinyy", "neither a preset"),
    ("tuneguard train tiny --resume last", "--resume takes 'auto'"),
    ("tuneguard set-lr RUN_DIR 0.1x", "is not a learning rate"),
    ("python bench/no_such_bench.py --rows 5", "does not exist"),
    ("torchrun --nproc_per_node 2 -m tuneguard train tiny --set train.use_gpu=true", "not a known key"),
])
def test_the_checks_catch_a_drifted_command(line: str, expected: str):
    problems = _block_problems(Example("doc.md", 1, line, "block"), {})
    assert any(expected in p for p in problems), problems


def test_the_checks_pass_a_command_that_works_and_read_the_shell_as_a_shell():
    created: dict[str, str] = {}
    ok = ("tuneguard init --preset gptj-6b-v2 --out g.yaml && tuneguard train g.yaml --run-dir r "
          "--set 'notify.urls=[\"${LINE_URL}\"]' --set notify.language=th  # comment --nope")
    assert _block_problems(Example("doc.md", 1, ok, "block"), created) == []
    assert created == {"g.yaml": "gptj-6b-v2"}
    assert split_commands("A=1 B=2 tuneguard status r | head -3") == [["tuneguard", "status", "r"], ["head", "-3"]]
    assert _inline_problems(Example("d.md", 1, "--set data.format=chat --set data.messages_fild=chosen", "inline"))


def _test_files() -> dict[str, list[Path]]:
    files: dict[str, list[Path]] = {}
    for path in (ROOT / "tests").rglob("test_*.py"):
        files.setdefault(path.name, []).append(path)
    return files


def test_every_test_named_as_proof_in_the_docs_exists():
    """`test_crash.py::test_sigkill_at_any_moment_then_resume`, `::test_other` (the same file),
    `tests/x/test_y.py`, `test_prefix...` (a name cut short): the file and the function exist."""
    files, problems, found = _test_files(), [], 0
    ref = re.compile(r"(tests/[\w/]+\.py|\btest_\w+\.py)?(?:(?<=`)|(?<=\.py))::(test_\w+)(\.\.\.)?|(tests/[\w/]+\.py|"
                     r"\btest_\w+\.py)")
    for path in DOCS:
        current: list[Path] = []
        for m in ref.finditer(path.read_text("utf-8")):
            name = m.group(1) or m.group(4)
            if name:
                current = [ROOT / name] if name.startswith("tests/") else files.get(name, [])
                current = [c for c in current if c.is_file()]
                if not current:
                    problems.append(f"{path.name}: no test file {name}")
            if m.group(2) and current:
                found += 1
                pattern = rf"def {m.group(2)}" + (r"\w*" if m.group(3) else r"\b")
                if not any(re.search(pattern, c.read_text("utf-8")) for c in current):
                    problems.append(f"{path.name}: no {m.group(2)} in {', '.join(c.name for c in current)}")
    assert found >= 30, f"only {found} test references found"
    assert not problems, "tests the docs name as proof that do not exist:\n" + "\n".join(problems)


def test_a_block_marked_not_runnable_is_left_out(tmp_path: Path):
    doc = tmp_path / "d.md"
    doc.write_text("Text.\n\n<!-- docs-example: not-runnable needs a GPU -->\n```\ntuneguard trian x\n```\n\n"
                   "```\ntuneguard train tiny\n```\n\n    tuneguard status RUN_DIR\n", "utf-8")
    assert [(content.strip(), skipped) for _, _, content, skipped in code_blocks(doc)] == [
        ("tuneguard trian x", True), ("tuneguard train tiny", False), ("tuneguard status RUN_DIR", False)]
