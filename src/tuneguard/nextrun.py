"""The run after this one: its config, and the command that gets there.

`plan_next(RUN_DIR)` takes the finished run's config and applies exactly the changes the
report recommends (`tuneguard.report.recommend`: each with its reason and finding codes).
When the diagnosis is a data fault that `tuneguard fix` repairs (duplicates, leaked
validation rows, malformed rows) and the data has not been fixed yet, there is no next
config: a new learning rate would only slow a collapse down, so the plan says to fix the
data first, with the exact command. Once `tuneguard fix RUN_DIR/config.yaml` has run (it
records a `data_fixed` event in the run's store), the next config starts from the fixed
config, so it trains on the cleaned files.

`next_steps(run, recs)` are the same commands for a notification or a report: what a person
who reads about a halted run on a phone types next.
"""

from __future__ import annotations

import copy
import dataclasses
import logging
import shlex
from pathlib import Path
from typing import Any

from tuneguard.config.diff import MISSING, change_reasons, diff_configs, flatten
from tuneguard.findings import FIXABLE_CODES, SEVERITY_ORDER
from tuneguard.report.recommend import Change, Recommendations, recommend_for_run
from tuneguard.report.rundata import RunData, load_run

log = logging.getLogger(__name__)

NEXT_CONFIG = "next.yaml"
DATA_FIXED_EVENT = "data_fixed"
OWN_MARK = "# The config tuneguard recommends after the run of"
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


def fix_out(run_dir: Path | str) -> Path:
    """Where the commands put a run's cleaned data: beside the run, RUN_DIR-fixed-data."""
    d = _dir(run_dir)
    return d.parent / f"{d.name}-fixed-data"


def fix_command(run_dir: Path | str) -> str:
    d = _dir(run_dir)
    return shlex.join(["tuneguard", "fix", str(d / "config.yaml"), "--out", str(fix_out(d))])


def next_command(run_dir: Path | str, train: bool = True) -> str:
    return shlex.join(["tuneguard", "next", str(_dir(run_dir))] + (["--train"] if train else []))


def needs_fix(run: RunData, recs: Recommendations) -> list[str]:
    """The fix codes that block a next run: a data-fault diagnosis whose data is not fixed."""
    if recs.diagnosis is None or recs.diagnosis.kind != "data_fault" or fixed_config(run) is not None:
        return []
    return fix_codes(run)


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


@dataclasses.dataclass
class NextPlan:
    """The next run of `run`: `recs` holds every change (the report's, the fixed data's, the
    user's --set) and the proposed config; `blocked` the data faults to fix first (then
    nothing is proposed)."""

    run: RunData
    recs: Recommendations
    base: Path | None  # the config the next run starts from, when not the run's own
    blocked: list[str]


def _set(d: dict[str, Any], key: str, value: Any) -> None:
    node = d
    *parts, last = key.split(".")
    for p in parts:
        node = node.setdefault(p, {})
    node[last] = value


def plan_next(run_dir: Path | str, config: str | None = None, overrides: list[str] | None = None) -> NextPlan:
    """The next config of the run in `run_dir`. `config`: start from this config instead of
    the run's (default: the config of the newest `tuneguard fix` of the run's data, else the
    run's own); `overrides`: `--set` lines applied last.

    Raises FileNotFoundError (no run store) and ConfigError (a bad `config` or override)."""
    from tuneguard.config.diff import load_for_diff
    from tuneguard.config.load import apply_overrides, redacted_dict, validate_config

    run = load_run(run_dir)
    recs = recommend_for_run(run)
    base_path = Path(config) if config else fixed_config(run)
    blocked = [] if base_path is not None else needs_fix(run, recs)
    current = run.config
    base = load_for_diff(str(base_path)) if base_path is not None else copy.deepcopy(current)
    changes: dict[str, Change] = {}
    if base_path is not None:
        reasons = change_reasons(str(base_path))
        for key, _, new in diff_configs(current, base):
            if new is not MISSING:
                changes[key] = Change(key, new, reasons.get(key, f"as in {base_path}"), [])
    proposed = copy.deepcopy(base)
    if not blocked:
        for c in recs.changes:
            changes[c.key] = c
            _set(proposed, c.key, c.value)
    set_keys = apply_overrides(proposed, overrides or [])
    if set_keys:
        proposed = redacted_dict(validate_config(proposed))
        flat = flatten(proposed)
        for key in set_keys:
            changes[key] = Change(key, flat.get(key), "set with --set", [])
    else:
        proposed = redacted_dict(validate_config(proposed))
    # Only what differs from this run counts: a --set to the value it had is no change.
    differ = {k for k, _, _ in diff_configs(current, proposed)}
    kept = [c for k, c in changes.items() if k in differ]
    # What the fix resolved needs no doing any more (deduplicate, remove leaked rows, and
    # "fix the data before changing hyperparameters").
    event = fix_event(run, base_path) if base_path is not None else None
    done = set(event.get("resolved") or []) | {"LOSS_COLLAPSE"} if event else set()
    actions = [a for a in recs.actions if not a.codes or not set(a.codes) <= done]
    out = Recommendations(kept, actions, current, proposed, recs.diagnosis)
    return NextPlan(run, out, base_path, blocked)


def next_run_dir(run_dir: Path | str) -> Path:
    """A new directory beside the run: RUN_DIR-next (as the report proposes), else -next-2, -next-3..."""
    d = Path(run_dir)
    cand = d.parent / f"{d.name}-next"
    n = 2
    while cand.exists():
        cand = d.parent / f"{d.name}-next-{n}"
        n += 1
    return cand
