"""`tuneguard next RUN_DIR`: exactly the report's recommended changes, as a diff and a file that
`config diff` reads back to those keys; a data fault points at `fix` instead; the commands a
halted run's messages end with. Runs are hand-built stores (tests/report/runs.py)."""

from __future__ import annotations

import shlex
from pathlib import Path

import yaml

from tests.helpers.cli import invoke
from tests.report.runs import build_collapse, build_healthy
from tuneguard.findings import Finding
from tuneguard.nextrun import fix_command, next_command, next_steps
from tuneguard.report.html import write_report
from tuneguard.report.recommend import recommend_for_run
from tuneguard.report.rundata import load_run
from tuneguard.store.run_store import RunStore


def with_config_file(run: Path) -> Path:
    """A real run directory holds its resolved config as config.yaml."""
    (run / "config.yaml").write_text(yaml.safe_dump(load_run(run).config, sort_keys=False), "utf-8")
    return run


def diff_keys(a: Path, b: Path) -> dict[str, str]:
    r = invoke("config", "diff", str(a), str(b), env={"COLUMNS": "400"})
    assert r.returncode == 0, r.stdout + r.stderr
    rows = [[c.strip() for c in ln.split("│")[1:-1]] for ln in r.stdout.splitlines() if ln.startswith("│")]
    return {row[0]: row[2] for row in rows if row[0]}


def test_next_on_an_overfitting_run_writes_the_regularising_diff_the_report_recommends(tmp_path: Path) -> None:
    over = Finding("OVERFITTING", "warning", "Eval loss rose.", {"triggers": ["rising"]}, "", 40, "guard")
    run = with_config_file(build_healthy(tmp_path / "over", findings=[over], stalled=True))
    with RunStore(run) as s:
        s.set_meta(best_step=20)
    recs = recommend_for_run(load_run(run))
    assert recs.diagnosis.kind == "overfitting"
    want = {c.key: c.value for c in recs.changes}
    assert want == {"train.max_steps": 30, "eval.early_stopping_patience": 3, "lora.dropout": 0.1}

    r = invoke("next", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.startswith("Diagnosis: overfitting")
    out = run / "next.yaml"
    assert f"next config: {out}" in r.stdout and f"train it: {next_command(run)}" in r.stdout
    assert not (tmp_path / "over-next").exists()  # no --train, no run
    got = diff_keys(run / "config.yaml", out)
    assert got == {k: str(v) for k, v in want.items()}
    # The file says why, per key, as the report does.
    text = out.read_text("utf-8")
    for c in recs.changes:
        assert f"# change {c.key}: {c.reason} (OVERFITTING)" in text

    # --set goes on top and is named as such; an --out that tuneguard did not write is refused.
    mine = tmp_path / "mine.yaml"
    mine.write_text("my notes\n", "utf-8")
    r = invoke("next", str(run), "--out", str(mine), "--set", "lora.r=4")
    assert r.returncode == 2 and "is not a config tuneguard recommended" in r.stderr
    assert mine.read_text("utf-8") == "my notes\n"
    r = invoke("next", str(run), "--set", "lora.r=4")
    assert r.returncode == 0, r.stderr
    assert diff_keys(run / "config.yaml", out) == {k: str(v) for k, v in want.items()} | {"lora.r": "4"}
    assert "# change lora.r: set with --set" in out.read_text("utf-8")


def test_a_data_fault_points_at_fix_and_writes_nothing(tmp_path: Path) -> None:
    run = with_config_file(build_collapse(tmp_path / "collapse"))
    for args in ([], ["--train"]):
        r = invoke("next", str(run), *args)
        assert r.returncode == 0, r.stdout + r.stderr
        lines = r.stdout.splitlines()
        assert lines[0].startswith("Diagnosis: data fault")
        assert lines[-3:] == [f"  {fix_command(run)}", "then:", f"  {next_command(run)}"]
        assert not (run / "next.yaml").exists() and not (tmp_path / "collapse-next").exists()
    assert shlex.split(fix_command(run)) == ["tuneguard", "fix", str(run.absolute() / "config.yaml"), "--out",
                                             str(tmp_path.absolute() / "collapse-fixed-data")]
    assert next_steps(load_run(run)) == [{"kind": "fix", "command": fix_command(run)},
                                         {"kind": "then", "command": next_command(run)}]
    # The report ends its recommendations with the same commands.
    write_report(run)
    md = (run / "report.md").read_text("utf-8")
    assert f"Fix the data first:\n\n```\n{fix_command(run)}\n```" in md
    assert f"Then the next run, on the cleaned data:\n\n```\n{next_command(run)}\n```" in md
    assert f'<pre class="cmd">{fix_command(run)}</pre>' in (run / "report.html").read_text("utf-8")


def test_next_steps_by_diagnosis_and_bad_run_dirs(tmp_path: Path) -> None:
    healthy = build_healthy(tmp_path / "healthy", decay=0.15)  # converged: the eval loss flat at the end
    assert next_steps(load_run(healthy)) == []  # nothing to change: nothing to run
    r = invoke("next", str(healthy), "--train")
    assert r.returncode == 0 and "the next run would repeat this one" in r.stdout
    assert not (tmp_path / "healthy-next").exists()
    over = build_healthy(tmp_path / "over", findings=[Finding("OVERFITTING", "warning", "x", {"triggers": ["rising"]},
                                                              "", 40, "guard")])
    assert next_steps(load_run(over)) == [{"kind": "next", "command": f"tuneguard next {over.absolute()} --train"}]
    for bad in (tmp_path / "nowhere", tmp_path / "healthy" / "run.db"):
        r = invoke("next", str(bad))
        assert r.returncode == 2 and r.stderr.startswith("error:") and "Traceback" not in r.stderr, r.stderr


def test_a_label_fault_is_a_config_change_in_every_message(tmp_path: Path) -> None:
    """pad == eos with DataCollatorForLanguageModeling: the rows are sound, the labels are built
    wrong. The diagnosis, the report, `next` and `fix` all say to change the data settings, and
    none sends the user to edit the data files or to a hyperparameter."""
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    train = write_jsonl(make_instruction_rows(60, seed=3), tmp_path / "train.jsonl")
    audit = [Finding(code, "error", f"{code} message", {}, f"{code} advice", None, "audit")
             for code in ("PAD_IS_EOS", "EOS_MISSING", "PROMPT_NOT_MASKED")]
    run = with_config_file(build_healthy(tmp_path / "padeos", findings=audit, config={
        "data.pad_token": "eos", "data.collator": "language_modeling", "data.train_file": str(train)}))
    means = ("Diagnosis: data fault: the rows are sound but the labels are built wrong (padding, EOS or prompt "
             "masking, truncation): change the data settings the recommendations name first (tuneguard next "
             "applies them); no hyperparameter change can make up for it")
    action = ("Fix how the labels are built before changing any hyperparameter: the training ran past audit errors "
              "(PAD_IS_EOS, EOS_MISSING, PROMPT_NOT_MASKED) that the data settings below fix (the rows themselves "
              "need no edit), so its losses say little about the settings.")
    assert next_steps(load_run(run)) == [{"kind": "next", "command": next_command(run)}]
    write_report(run)
    md = (run / "report.md").read_text("utf-8")
    assert f"**{means}**" in md and f"- {action} (PAD_IS_EOS, EOS_MISSING, PROMPT_NOT_MASKED)" in md
    assert "Fix the data" not in md and "tuneguard fix" not in md

    # `fix`: nothing to remove; its config sets the data settings `next` proposes (the report's
    # values); no fix recorded for `next` to start from.
    out = tmp_path / "fixed"
    r = invoke("fix", str(run / "config.yaml"), "--out", str(out))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0] == "No row needed removing: the copies are identical to the originals."
    sets = [ln for ln in " ".join(r.stderr.split()).split("note: ") if "the fixed config sets" in ln]
    assert sets == ["PAD_IS_EOS, EOS_MISSING, PROMPT_NOT_MASKED: the data files need no change for this; the fixed "
                    "config sets `data.pad_token: auto`, `data.collator: tuneguard`."], r.stderr
    fixed = yaml.safe_load((out / "config.yaml").read_text("utf-8"))["data"]
    assert (fixed["pad_token"], fixed["collator"]) == ("auto", "tuneguard")
    assert r.stdout.splitlines()[-1] == ("the next run, with the report's recommendations (the data files need no "
                                         f"change): {next_command(run)}")
    assert ("- **PROMPT_NOT_MASKED** (error): not changed: a config change (`data.train_on_prompt: false`, "
            "`data.collator: tuneguard`)") in (out / "fix-report.md").read_text("utf-8")
    assert not [e for e in load_run(run).events if e.get("type") == "data_fixed"]

    # `next`: the same diagnosis and action, and exactly the two data settings.
    r = invoke("next", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    lines = r.stdout.splitlines()
    assert lines[0] == means and f"- {action} (PAD_IS_EOS, EOS_MISSING, PROMPT_NOT_MASKED)" in lines
    assert not [ln for ln in lines if ln.startswith("Starting from") or "Fix the data" in ln]
    assert diff_keys(run / "config.yaml", run / "next.yaml") == {"data.collator": "tuneguard", "data.pad_token": "auto"}


def test_an_info_audit_finding_gets_no_advice_on_a_healthy_run(tmp_path: Path) -> None:
    """Real prose has a few near copies (DUPLICATE_NEAR at info: the audit said 0 errors, 0
    warnings): a healthy run is told nothing to do about them; at warning it is told to deduplicate."""
    near = {"count": 2, "share": 0.006, "rows": 360, "largest_cluster": 2}
    info = build_healthy(tmp_path / "info", decay=0.15, findings=[Finding("DUPLICATE_NEAR", "info", "2 near copies",
                                                                          near, "Deduplicate near copies.", None,
                                                                          "audit")])
    recs = recommend_for_run(load_run(info))
    assert (recs.diagnosis.kind, recs.actions, recs.changes) == ("healthy", [], [])
    assert next_steps(load_run(info)) == []
    warned = build_healthy(tmp_path / "warned", findings=[Finding("DUPLICATE_NEAR", "warning", "2 near copies", near,
                                                                  "Deduplicate near copies.", None, "audit")])
    assert [a.codes for a in recommend_for_run(load_run(warned)).actions] == [["DUPLICATE_NEAR"]]
    # The command that removes them, not "remove them by hand and audit again" (a healthy SmolLM2
    # chat run with 4 near copies was told that, and `tuneguard fix` does exactly it).
    warned = with_config_file(warned)
    r = invoke("next", str(warned))
    assert r.returncode == 0, r.stdout + r.stderr
    source = load_run(warned).config["data"]["train_file"]
    assert (f"- Deduplicate the training data: `{fix_command(warned)}` writes a copy of {source} without the "
            "near-duplicate rows (2 in the audit), keeping one of each group, and a config that trains on it. "
            "(DUPLICATE_NEAR)") in r.stdout.splitlines()


def test_leaked_validation_alone_points_at_fix_for_the_split_not_at_memorised_rows(tmp_path: Path) -> None:
    """A run forced past TRAIN_VAL_LEAKAGE that trained as a healthy run does: `next` says the
    settings cannot be judged on leaked validation rows (not that the model memorises them)."""
    leak = Finding("TRAIN_VAL_LEAKAGE", "error", "22 of 24 validation rows leaked.",
                   {"count": 22, "validation_from_train": False}, "Remove them.", None, "audit")
    run = with_config_file(build_healthy(tmp_path / "leak", findings=[leak]))
    r = invoke("next", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0].startswith("Diagnosis: data fault: the validation rows repeat training rows, so "
                                               "the eval loss, the best checkpoint and early stopping measured memory")
    assert r.stdout.splitlines()[-4:] == [
        "Fix the data first (TRAIN_VAL_LEAKAGE): changing hyperparameters cannot be judged while the validation "
        "rows repeat training rows (the eval loss measures memory). Run:",
        f"  {fix_command(run)}", "then:", f"  {next_command(run)}"]
    assert not (run / "next.yaml").exists()


def test_next_trains_longer_a_healthy_run_that_ended_with_its_eval_loss_still_falling(tmp_path: Path) -> None:
    """A SmolLM2-135M run on CPU whose eval loss still fell at max_steps (3.41 -> 3.07 -> 3.00) was
    called healthy with "the next run would repeat this one": the diagnosis says it ended while
    still improving, and `next` doubles train.max_steps, with the evidence."""
    run = with_config_file(build_healthy(tmp_path / "still"))  # eval loss 2.736, 2.139, 1.778 at steps 20, 40, 60
    recs = recommend_for_run(load_run(run))
    assert recs.diagnosis.still_improving()
    assert [(c.key, c.value, c.reason) for c in recs.changes] == [
        ("train.max_steps", 120, "the eval loss was still falling when the run ended (2.14 -> 1.778 at step 60): a "
                                 "run 2x as long lets it go on falling")]
    assert next_steps(load_run(run)) == [{"kind": "next", "command": next_command(run)}]
    r = invoke("next", str(run))
    assert r.returncode == 0, r.stdout + r.stderr
    assert r.stdout.splitlines()[0].startswith("Diagnosis: healthy: the losses fell, the validation loss tracked the "
                                               "training loss, and the eval loss was still falling when the run ended")
    assert "the eval loss was still falling at the last evaluation: 2.736 at step 20, 2.14 at step 40, 1.778 at " \
           "step 60 (16.9% lower, at 60.7% of its earlier pace per step)" in " ".join(r.stdout.split())
    assert diff_keys(run / "config.yaml", run / "next.yaml") == {"train.max_steps": "120"}
    # Stopped on request before its planned steps: its length did not end it, nothing to lengthen.
    with RunStore(run) as s:
        s.set_meta(max_steps=200)
    assert recommend_for_run(load_run(run)).changes == []


def test_next_of_a_run_that_failed_before_training_says_what_failed_and_how_to_retry(tmp_path: Path) -> None:
    """A model that would not load: the failed-start record (failed, exit 2, its exit reason, the
    command, no step). `next` offered "too little was logged (see its exit reason)" and "the next run
    would repeat this one"; now it says what failed and the command that starts it again."""
    from tuneguard.store.invocation import Invocation
    from tuneguard.train.failure import record_unstored_failure

    run = tmp_path / "run"
    run.mkdir()
    reason = f"model.name {tmp_path}/no-model does not exist: give a folder saved with save_pretrained"
    record_unstored_failure(run, {"model": {"name": f"{tmp_path}/no-model"}}, Invocation.given("cfg.yaml", None),
                            reason, 2)
    r = invoke("next", str(run))
    assert r.returncode == 0, r.stderr
    out = " ".join(r.stdout.split())
    command = shlex.join(["tuneguard", "train", "cfg.yaml", "--run-dir", str(run)])
    assert (f"- It failed before training started: {reason}. Once that is fixed, start it again with `{command}` "
            "(the same run directory is reused); nothing in its config is to blame for its losses, since it had "
            "none.") in out, out
    assert out.endswith("No next config: the run failed before training, so there is no result to change; start it "
                        "again as above once its cause is fixed.")
    assert "Too little was logged" not in out and "would repeat this one" not in out
    assert not (run / "next.yaml").exists()


def test_fix_first_names_every_data_fault_the_diagnosis_cites(tmp_path: Path) -> None:
    """The diagnosis names DUPLICATE_EXACT and LOW_DIVERSITY; `next`'s "Fix the data first (...)" named
    only DUPLICATE_EXACT (the code `tuneguard fix` repairs). It names both, and says what to do for
    the one `fix` does not repair: if it outlives the copies, or by hand when there are no copies."""
    audit = [Finding("DUPLICATE_EXACT", "error", "copies", {"count": 40}, "dedupe", None, "audit"),
             Finding("LOW_DIVERSITY", "error", "templated", {"count": 50}, "vary", None, "audit")]
    run = with_config_file(build_healthy(tmp_path / "run", findings=audit))
    assert recommend_for_run(load_run(run)).diagnosis.codes == ["DUPLICATE_EXACT", "LOW_DIVERSITY"]
    r = invoke("next", str(run), env={"COLUMNS": "400"})
    assert r.returncode == 0, r.stderr
    lines = r.stdout.splitlines()
    assert ("Fix the data first (DUPLICATE_EXACT, LOW_DIVERSITY): changing hyperparameters would not help while "
            "the model memorises repeated or leaked rows. Run:") in lines
    # `fix` removes the copies, which may be what made the rows templated: the advice is conditional.
    (rest,) = [ln for ln in lines if ln.startswith("also, ")]
    assert rest.startswith("also, if the fixed data still has LOW_DIVERSITY (the fix's audit says): Deduplicate the "
                           "training data: remove the templated, low-diversity rows (50 in the audit)")
    assert lines[-2:] == ["then:", f"  {next_command(run)}"]

    # Without copies to remove (leaked rows only), `fix` leaves the templated rows: said as work by hand.
    audit = [Finding("TRAIN_VAL_LEAKAGE", "error", "leaked", {"count": 12}, "split", None, "audit"),
             Finding("LOW_DIVERSITY", "error", "templated", {"count": 50}, "vary", None, "audit")]
    run = with_config_file(build_healthy(tmp_path / "run2", findings=audit))
    lines = invoke("next", str(run), env={"COLUMNS": "400"}).stdout.splitlines()
    (rest,) = [ln for ln in lines if ln.startswith("also, ")]
    assert rest.startswith("also, by hand (tuneguard fix does not repair LOW_DIVERSITY): "), rest
