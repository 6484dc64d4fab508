"""`tuneguard presets` and `tuneguard init`: the shipped presets and a starting config."""

from __future__ import annotations

import re
from pathlib import Path
from typing import Annotated, Optional

import typer
from rich.table import Table

from tuneguard.cli.common import EXIT_FAIL, EXIT_USAGE, console, fail


def presets() -> None:
    """List the shipped presets."""
    from tuneguard.config.load import preset_names, preset_text

    t = Table("preset", "description")
    for name in preset_names():
        t.add_row(name, preset_summary(preset_text(name)))
    console().print(t)


def preset_summary(text: str) -> str:
    """The first sentence of a preset's leading comment ("# tuneguard preset NAME: ..."),
    which may wrap over several comment lines: one line would cut it mid-sentence."""
    head = []
    for line in text.splitlines():
        if not line.startswith("#"):
            break
        head.append(line.lstrip("# ").strip())
    words = " ".join(head)
    if words.startswith("tuneguard preset") and ":" in words:
        words = words.split(":", 1)[1].strip()
    return re.split(r"(?<=\.)\s", words, maxsplit=1)[0]


def init(
    preset: Annotated[str, typer.Option("--preset", help="Preset to start from (see `tuneguard presets`).")] = "gptj-6b-v2",
    out: Annotated[Optional[Path], typer.Option("--out", help="File to write (default tuneguard.yaml).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Overwrite an existing file.")] = False,
) -> None:
    """Write a commented YAML config based on a preset."""
    from tuneguard.config.load import ConfigError, preset_text

    try:
        text = preset_text(preset)
    except ConfigError as exc:
        fail(exc.problems[0], EXIT_USAGE)
    path = out or Path("tuneguard.yaml")
    if path.is_dir():
        fail(f"--out {path} is a directory: give a file name, e.g. --out {path / 'tuneguard.yaml'}", EXIT_USAGE)
    if path.exists() and not path.is_file():
        fail(f"--out {path} is not a regular file (a device, FIFO or socket): give a file name", EXIT_USAGE)
    if (path.exists() or path.is_symlink()) and not force:
        fail(f"{path} exists; pass --force to overwrite or --out another file", EXIT_USAGE)
    ancestor = next((p for p in path.parents if p.exists()), None)
    if ancestor is not None and not ancestor.is_dir():
        fail(f"--out {path}: {ancestor} is a file, not a directory", EXIT_USAGE)
    header = (f"# Config for `tuneguard train {path}`, from preset {preset}.\n"
              "# Every key and its default: docs/CONFIG.md. Override any key on the command line with\n"
              "# --set section.key=value. Data paths are relative to this file.\n")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + text, "utf-8")
    except OSError as exc:
        fail(f"cannot write {path}: {exc.strerror or exc}", EXIT_FAIL)
    console().print(f"wrote {path} (preset {preset}); next: edit data.train_file, then `tuneguard audit {path}`")
