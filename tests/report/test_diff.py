"""config diff: flattened dotted keys, the Rich table, and the CLI function."""

from __future__ import annotations

from pathlib import Path

import typer
from rich.console import Console
from typer.testing import CliRunner

from tuneguard.cli.report_cmd import config_diff
from tuneguard.config.diff import MISSING, diff_configs, diff_table, flatten, format_value, load_for_diff


def test_flatten_and_diff() -> None:
    a = {"train": {"learning_rate": 2e-4, "epochs": 3}, "lora": {"target_modules": ["q", "v"]}, "x": {}}
    b = {"train": {"learning_rate": 5e-6, "epochs": 3.0}, "lora": {"target_modules": ["q", "k", "v"]}}
    assert flatten(a) == {"train.learning_rate": 2e-4, "train.epochs": 3, "lora.target_modules": ["q", "v"], "x": {}}
    assert diff_configs(a, b) == [
        ("lora.target_modules", ["q", "v"], ["q", "k", "v"]),
        ("train.learning_rate", 2e-4, 5e-6),
        ("x", {}, MISSING),
    ]
    assert diff_configs({"a": {"b": True}}, {"a": {"b": 1}}) == [("a.b", True, 1)]


def test_format_value_reads_back_as_yaml() -> None:
    import yaml

    for v in (5e-6, 1e-5, 2.5e-06, 0.0015, 3.0, 1e20):
        text = format_value(v)
        assert yaml.safe_load(text) == v, text
    assert format_value(None) == "null" and format_value(False) == "false"
    assert format_value(["a", "b"]) == '["a", "b"]'


def test_presets_v1_v2() -> None:
    rows = {k: (a, b) for k, a, b in diff_configs(load_for_diff("gptj-6b-v1"), load_for_diff("gptj-6b-v2"))}
    assert rows["train.learning_rate"] == (2e-5, 5e-6)
    assert rows["lora.r"] == (8, 16)
    assert "model.name" not in rows


def test_rich_table() -> None:
    console = Console(record=True, width=120)
    console.print(diff_table([("train.learning_rate", 2e-5, 5e-6)], "v1", "v2"))
    text = console.export_text()
    assert "train.learning_rate" in text and "2.0e-05" in text and "5.0e-06" in text


def test_cli_function(tmp_path: Path) -> None:
    app = typer.Typer()
    app.command()(config_diff)
    cfg = tmp_path / "mine.yaml"
    cfg.write_text("preset: tiny\ntrain:\n  learning_rate: 1.0e-3\n")
    r = CliRunner().invoke(app, ["tiny", str(cfg)], terminal_width=160)
    assert r.exit_code == 0, r.output
    row = next(line for line in r.output.splitlines() if "train.learning_rate" in line)
    assert "0.001" in row
    same = CliRunner().invoke(app, ["tiny", "tiny"])
    assert same.exit_code == 0 and "are the same config" in same.output
    bad = CliRunner().invoke(app, ["tiny", "no-such-preset"])
    assert bad.exit_code == 2
    assert "neither a config file nor a preset" in bad.output
