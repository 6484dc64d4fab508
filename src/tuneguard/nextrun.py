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
from pathlib import Path
from typing import Any

from tuneguard.catalog import LANGUAGES, TABLE, T
from tuneguard.config.diff import MISSING, change_reasons, diff_configs, flatten
from tuneguard.report.recommend import Change, Recommendations, recommend_for_run
from tuneguard.report.next_steps import (  # noqa: F401 - this module's API: the commands the messages end with
    DATA_FIXED_EVENT,
    NEXT_WORDS,
    fix_codes,
    fix_command,
    fix_event,
    fix_out,
    fixed_config,
    needs_fix,
    next_command,
    next_steps,
)
from tuneguard.report.rundata import RunData, load_run

log = logging.getLogger(__name__)

NEXT_CONFIG = "next.yaml"
# How a config `next` or `report` wrote begins, in each language (catalog next.yaml.head).
OWN_MARKS = tuple(TABLE["next.yaml.head"][lang].split("{source}")[0] for lang in LANGUAGES)


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
                changes[key] = Change(key, new, reasons.get(key) or T("next.as_in", path=str(base_path)), [])
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
            changes[key] = Change(key, flat.get(key), T("next.set_with_set"), [])
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
