"""The README's commands, CI and the config reference stay in sync with the code."""

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


def test_readme_starts_with_the_two_commands_and_ci_runs_the_test_one():
    lines = [ln.strip() for ln in (ROOT / "README.md").read_text("utf-8").splitlines()[:12] if ln.startswith("    ")]
    demo, tests = lines[0], lines[1]
    assert demo.endswith("tuneguard demo")
    assert "pytest" in tests
    ci = (ROOT / ".ci" / "run").read_text("utf-8")
    assert tests in ci.splitlines()


def test_install_pins_torch():
    script = (ROOT / "scripts" / "install.sh").read_text("utf-8")
    assert "torch==2.13.0" in script
    assert script.index("torch==2.13.0") < script.index('-e ".[test]"')
