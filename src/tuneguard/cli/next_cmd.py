"""`tuneguard next RUN_DIR [--out FILE] [--train]`: the next run's config from the report's
diagnosis and recommendations, shown as a diff with reasons and written to a file.

Exit 0 (also when the data must be fixed first: then `next` says so and writes nothing);
2 for a run directory without a store, a bad --config / --set, or an --out file that is
not tuneguard's; with --train, the exit code of the run it starts.
"""

from __future__ import annotations

import logging
import sqlite3
from pathlib import Path
from typing import Annotated, Any, Optional

import typer

from tuneguard.cli.common import EXIT_FAIL, EXIT_USAGE, console, fail, note, setup_logging, styled

log = logging.getLogger(__name__)


def _check_out(path: Path, force: bool, language: str = "en") -> None:
    """--out may be new, a config `next` or `report` wrote (in either language), or (with
    --force) any regular file."""
    from tuneguard.catalog import say
    from tuneguard.nextrun import OWN_MARKS

    if not path.exists():
        return
    if not path.is_file():
        fail(say("next.out_not_file", language, path=str(path)), EXIT_USAGE)
    try:
        with path.open("r", encoding="utf-8", errors="replace") as fh:
            head = fh.read(max(len(m) for m in OWN_MARKS))
        own = any(head.startswith(m) for m in OWN_MARKS)
    except OSError:
        own = False
    if not own and not force:
        fail(say("next.out_foreign", language, path=str(path)), EXIT_USAGE)


def next_run(
    run_dir: Annotated[Path, typer.Argument(help="The finished run's directory (holds run.db).")],
    out: Annotated[Optional[Path], typer.Option("--out", help="Config file to write; default RUN_DIR/next.yaml.")] = None,
    train: Annotated[bool, typer.Option("--train", help="Start the next run now, in a new directory beside RUN_DIR.")] = False,
    config: Annotated[Optional[str], typer.Option(
        "--config", help="Start from this config instead of the run's (default: the config `tuneguard fix` wrote "
                         "for this run's data, if any).")] = None,
    set_: Annotated[Optional[list[str]], typer.Option("--set", help="Override a key of the next config: "
                                                      "section.key=value (YAML value).")] = None,
    next_dir: Annotated[Optional[Path], typer.Option("--run-dir", help="With --train: the new run's directory "
                                                     "(default RUN_DIR-next).")] = None,
    force: Annotated[bool, typer.Option("--force", help="Replace --out even when tuneguard did not write it.")] = False,
    debug: Annotated[bool, typer.Option("--debug", help="Show tracebacks and debug logs.")] = False,
) -> None:
    """The next run's config: this run's config with the report's recommended changes, or,
    for a data fault, the `tuneguard fix` command to run first."""
    setup_logging(debug)
    from tuneguard.catalog import config_language, say
    from tuneguard.nextrun import NEXT_CONFIG, next_command, next_run_dir

    plan, c = _plan(run_dir, config, set_), console()
    lang = config_language(plan.run.config)  # what `next` says of the run, in the run's language
    _show_diagnosis(plan, config, c, lang)
    if plan.blocked:
        _show_fix_first(plan, run_dir, c, lang)
        return
    recs = plan.recs
    for a in recs.actions:
        c.print(f"- {a.text_in(lang)}" + (f" ({', '.join(a.codes)})" if a.codes else ""), markup=False)
    if not recs.changes:
        _show_nothing(plan, recs, c, lang)
        if train:
            note(say("next.train_not_started", lang), lang)
        return
    target = _write_next(recs, run_dir, out or Path(run_dir) / NEXT_CONFIG, force, c, lang)
    if not train:
        c.print(say("next.train_it", lang, command=next_command(run_dir)))
        return
    from tuneguard.cli.common import load_or_exit
    from tuneguard.cli.errors import show_outcome
    from tuneguard.train.run import run_training

    new_dir = next_dir or next_run_dir(run_dir)
    cfg = load_or_exit(str(target), set_)
    from tuneguard.config.load import secret_values
    from tuneguard.store.invocation import Invocation, restore_secrets, stored_invocation

    started = stored_invocation(run_dir)
    restored = restore_secrets(cfg, started)
    if restored and started is not None:
        note(say("next.restored", lang, keys=", ".join(restored), config=started.config, run_dir=str(run_dir),
                 target=str(target)), lang)
    c.print(say("next.training", lang, run_dir=str(new_dir)))

    invocation = Invocation.given(str(target), set_, secrets=secret_values(cfg))  # what resumes it: the same config
    code = show_outcome(run_training(cfg, new_dir, console=c, invocation=invocation))
    c.print(say("next.compare", lang, command=f"tuneguard compare {run_dir} {new_dir}"))
    raise typer.Exit(code)


def _show_nothing(plan: Any, recs: Any, c: Any, lang: str) -> None:
    """No change to propose: a run that failed before training has its retry above already."""
    from tuneguard.catalog import say
    from tuneguard.report.recommend import failed_before_training

    if failed_before_training(plan.run):
        c.print(say("report.next.failed_start", lang), markup=False)
        return
    c.print(say("next.nothing", lang) + (say("next.act_first", lang) if recs.actions else ""))


def _plan(run_dir: Path, config: str | None, set_: list[str] | None) -> Any:
    """The next run's plan, or exit 2 with what is wrong with the run or the config."""
    from tuneguard.config.load import ConfigError
    from tuneguard.nextrun import plan_next
    from tuneguard.store.run_store import describe_store_error

    try:
        return plan_next(run_dir, config, set_)
    except FileNotFoundError as exc:
        fail(str(exc), EXIT_USAGE)
    except sqlite3.Error as exc:
        fail(describe_store_error(run_dir, exc), EXIT_USAGE)
    except ConfigError as exc:
        fail("invalid config: " + "; ".join(exc.problems), EXIT_USAGE)


def _show_diagnosis(plan: Any, config: str | None, c: Any, lang: str) -> None:
    from tuneguard.catalog import say

    d = plan.recs.diagnosis
    if d is not None:
        c.print(d.line(lang), markup=False)
        if d.evidence:
            c.print(d.because(lang), markup=False)
    if plan.base is not None:
        c.print(say("next.starting_from" if config else "next.starting_from_fix", lang, path=str(plan.base)))


def _data_codes(plan: Any) -> list[str]:
    """Every data finding the diagnosis cites as a cause (a data fault's audit codes, the faults a
    guard said to fix first), the ones `tuneguard fix` repairs (`plan.blocked`) first."""
    from tuneguard.findings import AUDIT_CODES

    d = plan.recs.diagnosis
    cited = [c for c in (d.codes if d is not None and d.kind == "data_fault" else []) if c in AUDIT_CODES]
    first = [c for f in plan.run.findings if f.source == "guard" for c in (f.evidence or {}).get("data_first") or []]
    return list(dict.fromkeys(list(plan.blocked) + cited + [c for c in first if c in AUDIT_CODES]))


def _show_fix_first(plan: Any, run_dir: Path, c: Any, lang: str) -> None:
    from tuneguard.catalog import T, say
    from tuneguard.nextrun import fix_command, next_command

    codes = _data_codes(plan)
    # Leaked validation rows alone leave training as it was: what they spoil is the eval loss
    # that would judge a new setting, not the training the model memorises.
    why = T("next.why.leak" if codes == ["TRAIN_VAL_LEAKAGE"] else "next.why.memorise")
    c.print(styled((say("next.fix_first", lang), "bold yellow"),
                   say("next.fix_first_why", lang, codes=", ".join(codes), why=why)))
    c.print(f"  {fix_command(run_dir)}")
    # What `tuneguard fix` does not repair (LOW_DIVERSITY, ANSWER_IN_PROMPT...): its advice, said here.
    # When it removes copies, what they caused (a low diversity of 300 copies of one template)
    # may go with them: its audit of the fixed data says, so the advice is conditional.
    rest = [x for x in codes if x not in plan.blocked]
    dedupes = bool({"DUPLICATE_EXACT", "DUPLICATE_NEAR"} & set(plan.blocked))
    for a in plan.recs.actions:
        if set(a.codes) & set(rest) and not set(a.codes) & set(plan.blocked):
            head = say("next.also_if_fixed" if dedupes else "next.also_by_hand", lang, codes=", ".join(a.codes))
            c.print(f"{head}: {a.text_in(lang)}", markup=False)
    c.print(say("next.then", lang))
    c.print(f"  {next_command(run_dir)}")


def _write_next(recs: Any, run_dir: Path, target: Path, force: bool, c: Any, lang: str) -> Path:
    """The changes as a table, then the next config written to `target` (refused when it is
    not tuneguard's own, unless --force); both in the run's language `lang`."""
    from tuneguard.catalog import say
    from tuneguard.config.diff import diff_table
    from tuneguard.report.recommend import recommended_yaml

    reasons = {ch.key: ch.reason_in(lang) + (f" ({', '.join(ch.codes)})" if ch.codes else "") for ch in recs.changes}
    c.print(diff_table(recs.diff(), say("next.this_run", lang), say("next.next_run", lang),
                       title=say("next.changes", lang, n=len(recs.changes)), reasons=reasons,
                       heads=(say("next.col.key", lang), say("next.col.why", lang))))
    _check_out(target, force, lang)
    try:
        target.parent.mkdir(parents=True, exist_ok=True)
        target.write_text(recommended_yaml(recs, str(run_dir), lang), "utf-8")
    except OSError as exc:
        fail(say("next.cannot_write", lang, path=str(target), reason=str(exc.strerror or exc)), EXIT_FAIL)
    command = f"tuneguard config diff {Path(run_dir) / 'config.yaml'} {target}"
    c.print(say("next.written", lang, path=str(target), command=command))
    if "***" in str(recs.proposed.get("notify", {})) or "***" in str(recs.proposed.get("model", {}).get("hub_token")):
        note(say("next.redacted", lang), lang)
    return target
