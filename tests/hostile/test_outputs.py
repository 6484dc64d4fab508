"""Output targets: a command writes only its own outputs. `report --out` and `compare --out`
replace their own earlier pages (or any regular file with --force) and nothing else;
`init --out` and `export --out` refuse what exists; `demo` replaces only an earlier demo."""

from __future__ import annotations

import os
import shutil
from pathlib import Path

import pytest

from tests.helpers.hostile import World, check_failure, check_success


def _targets(world: World, tmp_path: Path) -> dict[str, tuple[Path, str]]:
    """name -> (an --out path, a phrase of the refusal)."""
    fifo = tmp_path / "fifo.html"
    os.mkfifo(fifo)
    (tmp_path / "dangling.html").symlink_to(tmp_path / "nowhere.html")
    return {
        "training_data": (world.good, "exists and is not a tuneguard"),
        "config": (world.config("plain"), "exists and is not a tuneguard"),
        "foreign_html": (_write(tmp_path / "page.html", "<!DOCTYPE html><title>mine</title>"), "is not a tuneguard"),
        "directory": (world.data, "is a directory"),
        "device": (Path("/dev/null"), "is not a regular file"),
        "fifo": (fifo, "is not a regular file"),
        "parent_is_a_file": (world.good / "report.html", "is a file, not a directory"),
        "dangling_symlink": (tmp_path / "dangling.html", "leads nowhere"),
    }


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


@pytest.mark.parametrize("target", ["training_data", "config", "foreign_html", "directory", "device", "fifo",
                                    "parent_is_a_file", "dangling_symlink"])
@pytest.mark.parametrize("command", ["report", "compare"])
def test_report_and_compare_never_replace_what_is_not_theirs(world: World, tg, unchanged, tmp_path: Path,
                                                             target: str, command: str) -> None:
    out, phrase = _targets(world, tmp_path)[target]
    before = out.read_bytes() if out.is_file() else None
    runs = [world.run("finished")] if command == "report" else [world.run("finished"), world.run("refused")]
    r = tg(command, *runs, "--out", out)
    check_failure(r, 2, phrase)
    if before is not None:
        assert out.read_bytes() == before  # and report.md in the run is untouched too (`unchanged`)


@pytest.mark.parametrize("command", ["report", "compare"])
def test_their_own_earlier_page_is_replaced_and_force_replaces_a_file(world: World, tg, unchanged, tmp_path: Path,
                                                                      command: str) -> None:
    run = world.run("finished")
    unchanged(run / "report.html", run / "report.md")
    runs = [run] if command == "report" else [run, world.run("refused")]
    out = tmp_path / "page.html"
    check_success(tg(command, *runs, "--out", out))
    first = out.stat().st_mtime_ns
    check_success(tg(command, *runs, "--out", out))  # its own page: replaced without --force
    assert out.stat().st_mtime_ns >= first and b'<meta name="generator" content="tuneguard">' in out.read_bytes()
    mine = _write(tmp_path / "mine.txt", "my notes\n")
    check_failure(tg(command, *runs, "--out", mine), 2, "pass --force to replace it")
    assert mine.read_text() == "my notes\n"
    check_success(tg(command, *runs, "--out", mine, "--force"))
    assert mine.read_text().startswith("<!DOCTYPE html>")


def test_report_writes_into_a_new_folder(world: World, tg, unchanged, tmp_path: Path) -> None:
    run = world.run("finished")
    unchanged(run / "report.md")
    out = tmp_path / "new" / "folder" / "r [1] :100:.html"
    r = tg("report", run, "--out", out)
    check_success(r)
    assert out.is_file() and f"report: {out}" in r.stdout


@pytest.mark.parametrize("target, phrase", [
    ("{dir}", "is a directory"),
    ("{data}", "exists; pass --force"),
    ("/dev/null", "is not a regular file"),
    ("{data}/x.yaml", "is a file, not a directory"),
])
def test_init_refuses_what_it_cannot_or_must_not_write(world: World, tg, unchanged, target: str,
                                                       phrase: str) -> None:
    out = target.replace("{dir}", str(world.data)).replace("{data}", str(world.good))
    check_failure(tg("init", "--preset", "tiny", "--out", out), 2, phrase)


def test_init_creates_missing_folders_and_refuses_to_overwrite(world: World, tg, unchanged, tmp_path: Path) -> None:
    out = tmp_path / "a" / "b" / "c [x].yaml"
    check_success(tg("init", "--preset", "tiny", "--out", out))
    assert out.read_text().startswith("# Config for `tuneguard train")
    check_failure(tg("init", "--preset", "tiny", "--out", out), 2, "exists; pass --force")
    check_success(tg("init", "--preset", "gptj-6b-v2", "--out", out, "--force"))
    assert "from preset gptj-6b-v2" in out.read_text()


@pytest.mark.parametrize("target, phrase", [
    ("{data}", "is a file"),
    ("{nonempty}", "is not empty"),
])
def test_export_refuses_an_occupied_target(world: World, tg, unchanged, target: str, phrase: str) -> None:
    out = target.replace("{data}", str(world.good)).replace("{nonempty}", str(world.data))
    check_failure(tg("export", world.run("finished"), "--out", out), 2, phrase)


@pytest.mark.parametrize("setup, phrase", [
    ("user_files", "holds files that are not an earlier demo run"),
    ("a_file", "is a file, not a directory"),
    ("foreign_data", "is not the demo's data"),
])
def test_demo_replaces_only_its_own_earlier_run(world: World, tg, unchanged, tmp_path: Path, setup: str,
                                                phrase: str) -> None:
    run = tmp_path / "demo"
    if setup == "user_files":
        run.mkdir()
        (run / "config.yaml").write_text("my own config\n")
    elif setup == "a_file":
        run.write_text("x")
    else:
        data = tmp_path / "demo-data"
        data.mkdir()
        shutil.copy(world.good, data / "train.jsonl")
    before = {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()}
    r = tg("demo", "--model", "tiny", "--run-dir", run)
    check_failure(r, 2, phrase)
    assert {p: p.read_bytes() for p in tmp_path.rglob("*") if p.is_file()} == before
