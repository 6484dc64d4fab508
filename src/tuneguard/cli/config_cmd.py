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
    language: Annotated[str, typer.Option("--language", "-l", help="Language of the run: en or th (sets notify.language).")] = "en",
) -> None:
    """Write a commented YAML config based on a preset; with --language th, the config sets
    notify.language: th (so the run's report, notifications and terminal lines are Thai) and its
    comments and this command's lines are Thai too."""
    from tuneguard.catalog import LANGUAGES, say
    from tuneguard.config.load import ConfigError, preset_text

    if language not in LANGUAGES:
        fail(f"--language must be en or th, got {language!r}", EXIT_USAGE)
    try:
        text = preset_text(preset)
    except ConfigError as exc:
        fail(exc.problems[0], EXIT_USAGE)
    path = out or Path("tuneguard.yaml")
    if path.is_dir():
        fail(say("configcli.init.is_dir", language, path=path, example=path / "tuneguard.yaml"), EXIT_USAGE)
    if path.exists() and not path.is_file():
        fail(say("configcli.init.not_file", language, path=path), EXIT_USAGE)
    if (path.exists() or path.is_symlink()) and not force:
        fail(say("configcli.init.exists", language, path=path), EXIT_USAGE)
    ancestor = next((p for p in path.parents if p.exists()), None)
    if ancestor is not None and not ancestor.is_dir():
        fail(say("configcli.init.parent_file", language, path=path, ancestor=ancestor), EXIT_USAGE)
    header = say("configcli.init.head", language, path=path, preset=preset)
    chosen = say("configcli.init.language", language, language=language) if language != "en" else ""
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(header + text.rstrip("\n") + "\n" + chosen, "utf-8")
    except OSError as exc:
        fail(say("next.cannot_write", language, path=path, reason=exc.strerror or exc), EXIT_FAIL)
    console().print(say("configcli.init.wrote", language, path=path, preset=preset), markup=False)
