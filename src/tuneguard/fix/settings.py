"""The config settings that fix the audit's label faults (padding, EOS, prompt masking,
truncation: LABEL_CODES), written into the config `tuneguard fix` writes.

Those faults are in how the labels are built from sound rows, so no row is removed for them;
without the settings, the fixed config would train the same faulty labels again while fix
printed "train on it". The values are the report's own (`tuneguard.report.recommend`: the
same rule per audit code that `tuneguard next` applies after a run), so the fix, the report
and `next` propose one thing.
"""

from __future__ import annotations

import json
from typing import Any

from tuneguard.catalog import J, Spec, T
from tuneguard.config.load import redacted_dict
from tuneguard.config.schema import Config
from tuneguard.fix.plan import TRUNCATION_CODES, FixPlan
from tuneguard.findings import LABEL_CODES, Finding


def label_settings(cfg: Config, findings: list[Finding], plan: FixPlan) -> list[Any]:
    """The data.* changes (tuneguard.report.recommend.Change) for the label faults the audit
    found at warning or error; none for truncation when fix removed the rows that do not fit
    (`--truncation drop`): they are gone, and a longer max_length would cost memory for nothing."""
    from tuneguard.diagnosis import Diagnosis
    from tuneguard.report.recommend import recommend

    skip = set(TRUNCATION_CODES) if plan.truncation_dropped else set()
    faults = [f for f in findings if f.code in LABEL_CODES and f.code not in skip
              and f.severity in ("warning", "error")]
    if not faults:
        return []
    # A neutral diagnosis: only the per-code data rules speak, no hyperparameter playbook.
    recs = recommend(faults, redacted_dict(cfg), diagnosis=Diagnosis("healthy", []))
    return [c for c in recs.changes if c.key.startswith("data.")]


def shown(value: Any) -> str:
    """A setting's value as YAML writes it (false, 192, auto)."""
    return value if isinstance(value, str) else json.dumps(value)


def settings_note(changes: list[Any]) -> Spec:
    """"PROMPT_NOT_MASKED: the fixed config sets data.train_on_prompt: false" (a note of the fix)."""
    codes = list(dict.fromkeys(code for c in changes for code in c.codes))
    return T("fix.note.sets", codes=", ".join(codes),
             settings=J("join.comma", [T("fix.setting", key=c.key, value=shown(c.value)) for c in changes]))
