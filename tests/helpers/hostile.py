"""The hostile world: odd paths, damaged stores and runs in every state, and the checks every
command's result must pass (one error line, the contract's exit code, nothing changed)."""

from __future__ import annotations

import dataclasses
import io
import json
import os
import shutil
import subprocess
from pathlib import Path
from typing import Any

import yaml

from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
from tuneguard.findings import Finding
from tuneguard.store.run_store import RunStore

BOX = "╭╮╰╯│┃━┏┓┗┛"
ODD = "odd [/x] :100: [bold] :smile:"  # Rich markup, a close tag and emoji codes in one name


# SQLite creates these next to a WAL database for any reader (a read-only one cannot remove
# them again): not a change to the run.
SIDECARS = ("run.db-wal", "run.db-shm")


@dataclasses.dataclass
class Result:
    code: int
    stdout: str
    stderr: str

    @property
    def text(self) -> str:
        return self.stdout + self.stderr

    @property
    def error_lines(self) -> list[str]:
        return [ln for ln in self.stderr.splitlines() if ln.startswith("error:")]


@dataclasses.dataclass
class World:
    root: Path
    data: Path
    configs: Path
    runs: Path
    out: Path
    good: Path  # 200 clean instruction rows

    def run(self, name: str) -> Path:
        return self.runs / name

    def config(self, name: str, **sections: Any) -> Path:
        """The world's config `name`; with `sections`, write it first (world building only:
        a case must not write into the world)."""
        path = self.configs / f"{name}.yaml"
        if sections or name == "plain":
            raw: dict[str, Any] = {"preset": "tiny", "data": {"train_file": str(self.good)}}
            for sec, vals in sections.items():
                raw.setdefault(sec, {}).update(vals)
            if not path.exists():
                path.write_text(yaml.safe_dump(raw), "utf-8")
        return path


def snapshot(root: Path) -> dict[str, tuple[Any, ...]]:
    """Every path under `root` with its kind, size, mode and modification time (ns)."""
    out: dict[str, tuple[Any, ...]] = {}
    for dirpath, dirnames, filenames in os.walk(root):
        for name in dirnames + filenames:
            p = Path(dirpath) / name
            if name in SIDECARS:
                continue
            st = p.lstat()
            out[str(p.relative_to(root))] = (st.st_mode, st.st_size if not p.is_dir() else 0,
                                            st.st_mtime_ns if not p.is_dir() else 0)
    return out


def changed(before: dict[str, tuple[Any, ...]], after: dict[str, tuple[Any, ...]]) -> set[str]:
    return {k for k in before.keys() | after.keys() if before.get(k) != after.get(k)}


def check_failure(r: Result, code: int, phrase: str | None = None) -> None:
    """Exit `code`, one `error:` line (the phrase in it), no traceback, no box."""
    assert r.code == code, (r.code, r.text)
    assert "Traceback" not in r.text, r.text
    assert not any(ch in r.text for ch in BOX), r.text
    assert len(r.error_lines) == 1, r.text
    line = r.error_lines[0]
    assert len(line) <= 900, f"a {len(line)}-character error line"
    if phrase is not None:
        assert phrase in line, (phrase, line)


def check_success(r: Result, code: int = 0) -> None:
    assert r.code == code, (r.code, r.text)
    assert "Traceback" not in r.text, r.text
    assert not r.error_lines, r.text


def _train(cfg_path: Path, run_dir: Path, *sets: str, force: bool = False) -> int:
    from rich.console import Console

    from tuneguard.cli.errors import show_outcome
    from tuneguard.config.load import load_config
    from tuneguard.train.run import run_training

    return show_outcome(run_training(load_config(str(cfg_path), list(sets)), run_dir, force=force,
                                     console=Console(file=io.StringIO(), width=200)))


def _dead_pid() -> int:
    p = subprocess.Popen(["true"])
    p.wait()
    return p.pid


def _build(root: Path) -> World:
    w = World(root=root, data=root / "data", configs=root / "configs", runs=root / "runs", out=root / "out",
              good=root / "data" / "good.jsonl")
    for d in (w.data, w.configs, w.runs, w.out):
        d.mkdir(parents=True)
    rows = make_instruction_rows(200, seed=3)
    write_jsonl(rows, w.good)
    w.config("plain")  # the tiny preset on the clean data
    # A finished tiny run with checkpoints at steps 3 and 6 (and an adapter).
    cfg = w.config("finished", train={"max_steps": 6, "logging_steps": 1, "save_steps": 3},
                   eval={"steps": 3}, guard={"enabled": False})
    assert _train(cfg, w.run("finished")) == 0, "the world's finished run did not finish"
    with RunStore(w.run("finished")) as s:  # a finding with a message long enough to wrap at 80 columns
        s.add_finding(Finding(code="PLATEAU", severity="warning", step=6, source="guard",
                              message="The evaluation loss has not improved by more than 0.001 for the last three "
                                      "evaluations, so further steps at this learning rate are unlikely to help.",
                              evidence={"evaluations": 3, "best_eval_loss": 3.2145, "tokens_per_s": 16740.3},
                              recommendation="Stop here, or raise the learning rate for the next run."))
    # The same run where the trainer was killed while running: no adapter, no end state.
    shutil.copytree(w.run("finished"), w.run("killed"))
    shutil.rmtree(w.run("killed") / "adapter")
    with RunStore(w.run("killed")) as s:
        s.set_meta(state="running", pid=_dead_pid(), exit_reason=None, ended=None)
    # A run the audit refused: every row duplicated.
    dup = write_jsonl([rows[0]] * 30 + rows[:100], w.data / "dup.jsonl")
    assert _train(w.config("dup", data={"train_file": str(dup)}), w.run("refused")) == 2
    shutil.copytree(w.run("finished"), w.run(ODD))
    (w.run("empty")).mkdir()
    (w.runs / "a-file").write_text("not a run\n")
    (w.run("dbdir") / "run.db").mkdir(parents=True)
    (w.run("junk")).mkdir()
    (w.run("junk") / "run.db").write_bytes(b"this is not a database " * 20)
    (w.run("zero")).mkdir()
    (w.run("zero") / "run.db").write_bytes(b"")
    os.utime(w.run("zero") / "run.db", (1_600_000_000, 1_600_000_000))  # long past any trainer start
    for p in w.root.rglob("*"):
        if p.name in SIDECARS:
            p.unlink()
    return w


def json_out(r: Result) -> Any:
    return json.loads(r.stdout)
