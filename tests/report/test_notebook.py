"""notebooks/tuneguard_colab.ipynb: valid nbformat 4, covers the Colab workflow, and every
`tuneguard ...` command line in it parses with the real CLI (click's make_context with
resilient parsing) and against the DESIGN section 4 contract."""

from __future__ import annotations

import os
import re
import shlex
from pathlib import Path

import pytest

from tests.helpers.cli import missing

try:
    import nbformat
except ImportError:
    missing("nbformat is needed to read the notebook (pip install -e '.[test]')", module_level=True)

NOTEBOOK = Path(__file__).resolve().parents[2] / "notebooks" / "tuneguard_colab.ipynb"
SHELL_MAGICS = ("%%bash", "%%sh", "%%script bash", "%%shell")
PUNCT = set("();<>|&")

# DESIGN section 4: command -> (positional arguments, {option: takes a value}).
CONTRACT: dict[tuple[str, ...], tuple[int, dict[str, bool]]] = {
    ("presets",): (0, {}),
    ("init",): (0, {"--preset": True, "--out": True}),
    ("config", "diff"): (2, {}),
    ("audit",): (1, {"--set": True, "--json": False}),
    ("train",): (1, {"--run-dir": True, "--set": True, "--resume": True, "--force": False}),
    ("status",): (1, {"--json": False}),
    ("watch",): (1, {}),
    ("stop",): (1, {}), ("pause",): (1, {}), ("continue",): (1, {}), ("checkpoint",): (1, {}),
    ("report",): (1, {"--out": True}),
    ("compare",): (2, {"--out": True}),
    ("demo",): (0, {}),
    ("notify-test",): (1, {}),
    ("fix",): (1, {"--set": True, "--out": True}),
    ("next",): (1, {"--out": True, "--train": False}),
}


def load() -> "nbformat.NotebookNode":
    return nbformat.read(NOTEBOOK, as_version=4)


def shell_scripts(nb) -> list[str]:
    """The shell text of each code cell: %%bash cells whole, `!` lines of other cells."""
    out = []
    for cell in nb.cells:
        if cell.cell_type != "code":
            continue
        src = cell.source
        first, _, rest = src.partition("\n")
        if first.strip().startswith(SHELL_MAGICS):
            out.append(rest)
        else:
            bang = [line.strip()[1:] for line in src.splitlines() if line.strip().startswith("!")]
            if bang:
                out.append("\n".join(bang))
    return out


def tuneguard_commands(script: str) -> list[list[str]]:
    """argv (after `tuneguard`) of every tuneguard invocation, cut at shell operators."""
    script = script.replace("\\\n", " ")
    found = []
    for line in script.splitlines():
        lex = shlex.shlex(line, posix=True, punctuation_chars=True)
        lex.whitespace_split = True
        tokens = list(lex)
        for i, tok in enumerate(tokens):
            if tok == "tuneguard":
                argv = []
                for t in tokens[i + 1:]:
                    if t and set(t) <= PUNCT:
                        break
                    argv.append(t)
                found.append(argv)
    return found


def all_commands() -> list[list[str]]:
    return [argv for script in shell_scripts(load()) for argv in tuneguard_commands(script)]


def test_valid_nbformat_4() -> None:
    nb = load()
    nbformat.validate(nb)
    assert nb.nbformat == 4
    assert all(not c.get("outputs") for c in nb.cells if c.cell_type == "code"), "commit the notebook without outputs"


def test_extractor() -> None:
    cmds = tuneguard_commands('nohup tuneguard train "$CFG" --set \'a.b=["${X}"]\' \\\n  > log 2>&1 &\n'
                              'x=$(tuneguard status "$R" --json | python -c "print(1)")')
    assert cmds == [["train", "$CFG", "--set", 'a.b=["${X}"]'], ["status", "$R", "--json"]]


def test_covers_the_colab_workflow() -> None:
    nb = load()
    text = "\n".join(c.source for c in nb.cells)
    cmds = all_commands()
    assert "pip install" in text and "git+" in text
    assert 'drive.mount("/content/drive")' in text
    assert ["init", "--preset", "gptj-6b-v2", "--out", "$CFG"] in cmds
    train = [c for c in cmds if c[0] == "train"]
    assert len(train) == 2 and all('notify.urls=["${LINE_URL}"]' in c for c in train)
    assert train[1][train[1].index("--resume") + 1] == "auto"
    for sub in ("audit", "status", "stop", "report"):
        assert any(c[0] == sub for c in cmds), sub
    assert "from IPython.display import HTML, display" in text and "report.html" in text
    # A halted run: the fix and next commands its messages end with (tuneguard.nextrun).
    assert ["fix", "$RUN_DIR/config.yaml", "--out", "$RUN_DIR-fixed-data"] in cmds
    assert ["next", "$RUN_DIR", "--train"] in cmds
    assert ["compare", "$RUN_DIR", "$RUN_DIR-next", "--out", "$BASE/compare_next.html"] in cmds


def _contract_check(argv: list[str]) -> None:
    key = next((k for k in CONTRACT if tuple(argv[:len(k)]) == k), None)
    assert key is not None, f"unknown command: tuneguard {shlex.join(argv)}"
    n_pos, options = CONTRACT[key]
    rest, positional = argv[len(key):], []
    i = 0
    while i < len(rest):
        tok = rest[i]
        if tok.startswith("--"):
            name, eq, _ = tok.partition("=")
            assert name in options, f"tuneguard {shlex.join(argv)}: {name} is not an option of {' '.join(key)}"
            if options[name] and not eq:
                assert i + 1 < len(rest), f"tuneguard {shlex.join(argv)}: {name} needs a value"
                i += 1
        else:
            positional.append(tok)
        i += 1
    assert len(positional) == n_pos, f"tuneguard {shlex.join(argv)}: {len(positional)} arguments, expected {n_pos}"


def _cli_check(root, argv: list[str]) -> None:
    # Duck-typed: typer may ship its own copy of click, so isinstance checks against the
    # installed click package would not hold.
    cmd, name, args = root, "tuneguard", list(argv)
    while hasattr(cmd, "list_commands"):
        assert args, f"tuneguard {shlex.join(argv)}: no subcommand"
        ctx = cmd.make_context(name, [], resilient_parsing=True)
        sub = cmd.get_command(ctx, args[0])
        assert sub is not None, f"tuneguard {shlex.join(argv)}: unknown command {args[0]!r}"
        cmd, name, args = sub, args[0], args[1:]
    try:
        ctx = cmd.make_context(name, args, resilient_parsing=True)
    except Exception as exc:  # click's UsageError (NoSuchOption, BadParameter...)
        if not hasattr(exc, "format_message"):
            raise
        pytest.fail(f"tuneguard {shlex.join(argv)}: {exc.format_message()}")
    assert not ctx.args, f"tuneguard {shlex.join(argv)}: unexpected extra arguments {ctx.args}"
    for p in cmd.params:
        if p.param_type_name == "argument" and p.required:
            assert ctx.params.get(p.name) not in (None, ()), f"tuneguard {shlex.join(argv)}: missing {p.name}"


def _real_cli():
    import typer.main

    from tuneguard.cli.main import app

    return typer.main.get_command(app)


def test_every_command_parses() -> None:
    cmds = all_commands()
    assert len(cmds) >= 12
    root = _real_cli()
    registered = set(root.list_commands(root.make_context("tuneguard", [], resilient_parsing=True)))
    assert sorted({argv[0] for argv in cmds} - registered) == []  # every command the notebook runs exists
    for argv in cmds:
        _contract_check(argv)  # the fixed contract
        _cli_check(root, argv)  # and the real CLI


def test_the_checks_reject_wrong_command_lines() -> None:
    """Both checks are live: a misspelt option, a missing argument, an unknown command."""
    root = _real_cli()
    for argv in (["train", "cfg.yaml", "--resum", "auto"], ["status"], ["trian", "cfg.yaml"]):
        for check in (lambda a: _cli_check(root, a), _contract_check):
            with pytest.raises((pytest.fail.Exception, AssertionError)):
                check(argv)


def test_offline_cells_run(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """The cells that need no GPU, network or Drive: presets, init, config diff; the
    notify override the train cells use validates on the written config."""
    from typer.testing import CliRunner

    from tuneguard.cli.main import app
    from tuneguard.config.load import apply_overrides, read_source, validate_config

    env = {"CFG": str(tmp_path / "gptj-6b-v2.yaml"), "DATA_FILE": str(tmp_path / "train.jsonl")}
    monkeypatch.chdir(tmp_path)
    ran = 0
    for argv in all_commands():
        if argv[0] not in ("presets", "init", "config"):
            continue
        args = [re.sub(r"\$\{?(\w+)\}?", lambda m: env.get(m.group(1), m.group(0)), a) for a in argv]
        r = CliRunner().invoke(app, args)
        assert r.exit_code == 0, f"tuneguard {shlex.join(args)}: {r.output}"
        ran += 1
    assert ran >= 3
    raw, _ = read_source(env["CFG"])
    train = next(c for c in all_commands() if c[0] == "train")
    sets = [train[i + 1] for i, a in enumerate(train) if a == "--set"]
    apply_overrides(raw, [s.replace("$DATA_FILE", env["DATA_FILE"]) for s in sets])
    cfg = validate_config(raw)
    assert cfg.notify.urls == ["${LINE_URL}"]
    assert cfg.model.name == "EleutherAI/gpt-j-6b" and cfg.train.learning_rate == 5e-6
    assert os.path.exists(env["CFG"])


def test_readme_colab_quickstart_commands_parse() -> None:
    """The README's Colab quick start, checked like the notebook: the real CLI and the contract."""
    readme = (NOTEBOOK.parents[1] / "README.md").read_text("utf-8")
    section = readme.split("## Quickstart: GPT-J-6B on a Colab GPU", 1)[1].split("\n## ", 1)[0]
    block = "\n".join(ln[4:] for ln in section.splitlines() if ln.startswith("    "))
    cmds = tuneguard_commands(block)
    root = _real_cli()
    for argv in cmds:
        _contract_check(argv)
        _cli_check(root, argv)
    run = "/content/drive/MyDrive/runs/gptj-v2"
    assert ["fix", f"{run}/config.yaml", "--out", f"{run}-fixed-data"] in cmds
    assert ["next", run, "--train"] in cmds and ["compare", run, f"{run}-next"] in cmds
