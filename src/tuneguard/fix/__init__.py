"""`tuneguard fix`: cleaned copies of the data files the audit faulted, and an account of it.

`run_fix(cfg, source, out)` audits the config as `tuneguard audit` does, traces the faults
to every row (`plan`), writes the kept rows in the files' own formats (`write`), a
`config.yaml` that is the same config pointing at the copies, and `fix-report.md`
(`account`), then audits the fixed config so the report says what is left. The original
files are only read. When the config is a run directory's `config.yaml`, the fix is also
recorded in that run's store (event `data_fixed`), so that `tuneguard next RUN_DIR` trains
on the cleaned data.
"""

from __future__ import annotations

import dataclasses
import logging
import shlex
from pathlib import Path
from typing import Any

from tuneguard.catalog import Spec, T, say
from tuneguard.config.load import dump_yaml, load_config, redact_url, redacted_dict
from tuneguard.config.schema import Config
from tuneguard.data.load import DataError, check_sources, source_files, source_name
from tuneguard.findings import Finding
from tuneguard.fmt import num
from tuneguard.fix import account
from tuneguard.fix.plan import FixPlan, plan_fix
from tuneguard.fix.settings import label_settings, settings_note
from tuneguard.fix.write import REPORT_NAME, OutputRefused, check_out, staged, write_file
from tuneguard.nextrun import DATA_FIXED_EVENT, next_command

log = logging.getLogger(__name__)

__all__ = ["FixResult", "OutputRefused", "run_dir_of", "run_fix"]

CONFIG_NAME = "config.yaml"


@dataclasses.dataclass
class FixResult:
    plan: FixPlan
    before: list[Finding]
    after: list[Finding]
    out: Path
    config: Path
    names: dict[str, str]  # a data file's ident (role:path) -> the name of its copy in `out` (files with rows left)
    notes: list[Spec]  # decisions about the config (a split left empty, redacted secrets), as catalog specs
    run_dir: Path | None  # the run whose config was fixed, when it was one
    next_commands: list[tuple[Spec, str]]  # (what it does, as a catalog spec; the command)
    settings: list[Any] = dataclasses.field(default_factory=list)  # data.* changes for label faults (fix.settings)

    @property
    def resolved(self) -> list[str]:
        return account.resolved(self.before, self.after)

    @property
    def remaining(self) -> list[str]:
        """Codes fix acted on that the audit of the fixed config still finds."""
        return sorted({f.code for f in self.after if f.code in self.plan.acted_on})


def run_dir_of(source: str) -> Path | None:
    """The run directory when `source` is a run's config.yaml (a run.db beside it)."""
    p = Path(source)
    return p.parent if p.name == CONFIG_NAME and (p.parent / "run.db").is_file() else None


def split_instead(cfg: Config, plan: FixPlan) -> int | None:
    """The validation rows a split from the cleaned training data would hold, when the fixed
    config should draw validation from it instead of keeping the validation files' remnant
    (None otherwise): the files lost rows that repeated training, and what is left is fewer than
    that split (data.test_size of the training rows). A validation file that was mostly copies
    of training was no held-out set; its few remaining rows would make every eval loss of the
    next run noise (40 rows, 35 leaked: 5 left against a split of 40)."""
    val = plan.of_role("validation")
    if not val or not sum(f.removed("TRAIN_VAL_LEAKAGE") for f in val):
        return None
    split = max(1, round(cfg.data.test_size * sum(f.kept for f in plan.of_role("train"))))
    return split if sum(f.kept for f in val) < split else None


def _names(plan: FixPlan, resplit: bool = False) -> dict[str, str]:
    """The copy of each file that is written (every file with a row left, a lone training file
    always, but not a validation file the fixed config replaces by a split, `resplit`): its own
    name; on a clash (or a name fix itself writes) the role goes in front,
    validation-data.jsonl, then a number too, train-2-data.jsonl (shards of one name in
    several folders)."""
    names: dict[str, str] = {}
    taken = {CONFIG_NAME, REPORT_NAME}
    for f in plan.files:
        if (f.kept == 0 and (f.role != "train" or plan.several("train"))) or (resplit and f.role == "validation"):
            continue
        name, k = f.name, 1
        while name in taken:
            k += 1
            name = f"{f.role}-{f.name}" if k == 2 else f"{f.role}-{k - 1}-{f.name}"
        names[f.ident] = name
        taken.add(name)
    return names


def _config_text(cfg: Config, source: str, plan: FixPlan, names: dict[str, str],
                 settings: list[Any], resplit: int | None = None) -> tuple[str, list[Spec]]:
    """The fixed config (resolved, secrets redacted) with a `# change KEY: REASON` line per
    data file and per data setting that fixes a label fault (`settings`), which `tuneguard
    config diff` shows as the reason (and `tuneguard next` of the run); and notes on decisions.
    `resplit`: the rows of the split that replaces the validation files (split_instead), when
    it does. The comments are in the config's report language, like fix-report.md."""
    lang = cfg.report.language or cfg.notify.language
    d = redacted_dict(cfg)
    notes: list[Spec] = []
    head = [say("fix.cfg.head", lang, source=source)]

    def change(key: str, reason: str) -> None:
        head.append(say("next.yaml.change", lang, key=key, reason=reason))

    for c in settings:
        d["data"][c.key.split(".", 1)[1]] = c.value
        change(c.key, f"{c.reason_in(lang)} ({', '.join(c.codes)})")
    if settings:
        notes.append(settings_note(settings))
    for role, src in plan.sources.items():
        files = plan.of_role(role)
        key, was = files[0].key, source_name(src) if plan.several(role) else files[0].path
        field = key.split(".", 1)[1]
        copies = [names[f.ident] for f in files if f.ident in names]
        if not copies:
            d["data"][field] = None
            kept = sum(f.kept for f in files)
            split = resplit if role == "validation" and kept else None
            why = (T("fix.resplit.validation", leaked=sum(f.removed("TRAIN_VAL_LEAKAGE") for f in files),
                     records=sum(f.records for f in files), kept=kept, split=split, size=cfg.data.test_size)
                   if split is not None else T("fix.empty.validation" if role == "validation" else "fix.empty.test"))
            notes.append(T("fix.note.empty", key=key, why=why))
            change(key, say("fix.cfg.was", lang, what=why, was=was))
            continue
        # A source of several files becomes the list of their copies, in its order.
        d["data"][field] = copies if len(copies) > 1 else copies[0]
        removed = sum(len(f.drops) for f in files)
        what = T("fix.cfg.removed", rows=account.rows(removed, lang), codes=account.by_code(*files)) if removed \
            else T("fix.cfg.identical")
        change(key, say("fix.cfg.was", lang, what=what, was=was))
    if any(redact_url(u) != u for u in cfg.notify.urls) or (cfg.model.hub_token and "${" not in cfg.model.hub_token):
        notes.append(T("fix.note.secrets"))
    return "\n".join(head) + "\n" + dump_yaml(d), notes


def next_commands(config: Path, run_dir: Path | None, removed: bool = True) -> list[tuple[Spec, str]]:
    """What to run after the fix: `next` for a run's data (on the cleaned data, or, when no row
    was removed, on the run's own), else audit and train the fixed config."""
    if run_dir is not None:
        return [(T("fix.next.run" if removed else "fix.next.run_same"), next_command(run_dir))]
    return [(T("fix.next.audit"), shlex.join(["tuneguard", "audit", str(config)])),
            (T("fix.next.train"), shlex.join(["tuneguard", "train", str(config)]))]


def _record(run_dir: Path, result_config: Path, out: Path, plan: FixPlan, source: str, resolved: list[str]) -> None:
    from tuneguard.store.run_store import RunStore

    try:
        with RunStore(run_dir) as store:
            store.add_event(DATA_FIXED_EVENT, {"config": str(result_config), "out": str(out), "source": source,
                                               "resolved": resolved, **account.as_dict(plan)})
    except Exception as exc:  # noqa: BLE001 - the fix is written; `next --config` still finds it
        log.warning("could not record the fix in %s: %s", run_dir / "run.db", exc)


def run_fix(cfg: Config, source: str, out: Path, truncation: str = "keep", tokenizer: Any = None) -> FixResult:
    """Audit, plan, write. Raises DataError / ModelError (data or model the user must fix),
    OutputRefused (an --out folder fix may not write), OSError (a write that failed)."""
    from tuneguard.audit import audit_config
    from tuneguard.model.load import load_tokenizer, setup_pad_token

    check_sources(cfg.data.train_file, cfg.data.validation_file, cfg.data.test_file)
    check_out(out, [str(f) for src in (cfg.data.train_file, cfg.data.validation_file, cfg.data.test_file) if src
                    for f in source_files(src)])
    if tokenizer is None:
        tokenizer = load_tokenizer(cfg.model)
        setup_pad_token(tokenizer, cfg.data.pad_token)
    before = audit_config(cfg, tokenizer).findings
    plan = plan_fix(cfg, before, tokenizer, truncation)
    if sum(f.kept for f in plan.of_role("train")) == 0:
        raise DataError(f"every row of {source_name(plan.sources['train'])} would be removed "
                        f"({account.summary(plan)}): there is nothing left to train on; see `tuneguard audit` for the rows")
    resplit = split_instead(cfg, plan)
    names = _names(plan, resplit is not None)
    settings = label_settings(cfg, before, plan)
    text, notes = _config_text(cfg, source, plan, names, settings, resplit)
    run_dir = run_dir_of(source)
    final_config = out / CONFIG_NAME
    commands = next_commands(final_config.absolute(), run_dir.absolute() if run_dir else None, bool(plan.removed()))
    with staged(out) as tmp:
        for f in plan.files:
            if f.ident in names:
                write_file(f.kind, Path(f.path), tmp / names[f.ident], f.drops.keys())
        (tmp / CONFIG_NAME).write_text(text, "utf-8")
        try:
            after = audit_config(load_config(str(tmp / CONFIG_NAME)), tokenizer).findings
        except DataError as exc:
            # 3,000 copies of one row leave one row, too few to split off validation rows: said
            # bare, "no validation rows" blames the file the user gave, not what the fix left of it.
            kept = sum(f.kept for f in plan.of_role("train"))
            raise DataError(f"the fix would leave {num(kept)} row(s) of {source_name(plan.sources['train'])}, too few "
                            "to train on "
                            f"({exc}). {account.summary(plan)}") from None
        language = cfg.report.language or cfg.notify.language
        report = account.render(plan, source, before, after, names, notes, language, settings)
        report += f"\n{say('fix.h.next', language)}\n\n" + account.next_block(commands, language) + "\n"
        (tmp / REPORT_NAME).write_text(report, "utf-8")
    # Debug: the CLI prints the same sentence first; at info the user read it twice.
    log.debug("fix: %s", account.summary(plan))
    result = FixResult(plan, before, after, out, final_config, names, notes, run_dir, commands, settings)
    # Identical copies are no fix: recorded, they would make `next` start from them and show
    # the data files as changed while the config changes the run needs are all that differ.
    if run_dir is not None and plan.removed():
        _record(run_dir, final_config.absolute(), out.absolute(), plan, source, result.resolved)
    return result
