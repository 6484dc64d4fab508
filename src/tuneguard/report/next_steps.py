"""The commands that follow a run (`tuneguard fix` for data it must fix first, then `tuneguard
next`), named in the report and in the messages that end a run. Here, below `tuneguard.nextrun`
(which writes the next config), so that the report can name them without importing upwards."""

from __future__ import annotations

import shlex
from pathlib import Path
from typing import Any

from tuneguard.findings import FIXABLE_CODES, SEVERITY_ORDER
from tuneguard.report.recommend import Recommendations, fix_command, fix_out, recommend_for_run
from tuneguard.report.rundata import RunData

DATA_FIXED_EVENT = "data_fixed"
# How the report introduces each kind of next step (the messages say it in en.py / th.py).
NEXT_WORDS = {"fix": "Fix the data first", "then": "Then the next run, on the cleaned data",
              "next": "The next run, with these changes, in one command"}


def fix_codes(run: RunData) -> list[str]:
    """The run's audit faults (warning or error) that `tuneguard fix` repairs, worst first."""
    found = sorted((f for f in run.findings if f.source == "audit" and f.code in FIXABLE_CODES
                    and f.severity in ("warning", "error")), key=lambda f: -SEVERITY_ORDER[f.severity])
    return list(dict.fromkeys(f.code for f in found))


def fix_event(run: RunData, config: Path | None = None) -> dict[str, Any] | None:
    """The newest `tuneguard fix` of this run's data whose config is still on disk (or, given
    `config`, the fix that wrote that config): its event payload."""
    for e in reversed(run.events):
        p = (e.get("payload") or {}) if e.get("type") == DATA_FIXED_EVENT else {}
        path = p.get("config")
        if isinstance(path, str) and Path(path).is_file() and (
                config is None or Path(path).resolve() == config.resolve()):
            return p
    return None


def fixed_config(run: RunData) -> Path | None:
    """The config `tuneguard fix` wrote for this run's data (its newest fix still on disk)."""
    e = fix_event(run)
    return Path(e["config"]) if e else None


def _dir(run_dir: Path | str) -> Path:
    return Path(run_dir).absolute()


__all__ = ["fix_command", "fix_out"]  # defined beside the advice that names them (tuneguard.report.recommend)


def next_command(run_dir: Path | str, train: bool = True) -> str:
    return shlex.join(["tuneguard", "next", str(_dir(run_dir))] + (["--train"] if train else []))


def needs_fix(run: RunData, recs: Recommendations) -> list[str]:
    """The fix codes that block a next run while the data is not fixed: a data-fault diagnosis,
    or a guard finding whose advice was to fix the data first (tuneguard.guard.advice: evidence
    `data_first`, e.g. OVERFITTING on near duplicates), so that `next` never proposes the tuning
    the finding said would only hide the fault."""
    if fixed_config(run) is not None:
        return []
    if recs.diagnosis is not None and recs.diagnosis.kind == "data_fault":
        return fix_codes(run)
    first = {c for f in run.findings if f.source == "guard" for c in (f.evidence or {}).get("data_first") or []}
    return [c for c in fix_codes(run) if c in first]


def next_steps(run: RunData, recs: Recommendations | None = None) -> list[dict[str, str]]:
    """The commands to run after `run`: fix then next for data it must fix first, else next
    when something is to change; none when the next run would repeat this one."""
    recs = recs or recommend_for_run(run)
    if needs_fix(run, recs):
        return [{"kind": "fix", "command": fix_command(run.run_dir)},
                {"kind": "then", "command": next_command(run.run_dir)}]
    if recs.changes or fixed_config(run) is not None:
        return [{"kind": "next", "command": next_command(run.run_dir)}]
    return []
