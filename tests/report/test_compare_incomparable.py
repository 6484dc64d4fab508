"""compare: runs whose losses were measured on different tokens or rows are still shown side by
side, under a note that says the losses are not comparable and which setting makes them so."""

from __future__ import annotations

import json
import re
from pathlib import Path

import pytest

from tuneguard.report import write_compare
from tuneguard.report.comparable import differences

from .runs import build_healthy


def alerts(html: str) -> list[str]:
    return re.findall(r'<p class="alert">([^<]+)</p>', html)


def test_runs_that_supervise_different_tokens_are_not_compared_by_their_losses(tmp_path: Path) -> None:
    a = build_healthy(tmp_path / "masked")
    b = build_healthy(tmp_path / "prompt", config={"data.train_on_prompt": True}, decay=0.05)
    html = write_compare(a, b, tmp_path / "cmp.html").read_text("utf-8")
    assert alerts(html) == [
        "The losses are not comparable: the runs measured them on different tokens (data.train_on_prompt is false "
        "in masked and true in prompt). A lower loss here does not mean a better run; compare the verdicts and the "
        "QA answers instead."]
    # Both runs are still on the page: their curves, their verdicts, the config diff.
    assert "masked train" in html and "prompt train" in html and html.count('class="badge ') == 2
    assert re.findall(r'<tr><td class="key">([^<]+)</td>', html) == ["data.train_on_prompt"]


def test_runs_evaluated_on_different_rows_say_so_and_runs_that_differ_in_a_hyperparameter_do_not(
        tmp_path: Path) -> None:
    a = build_healthy(tmp_path / "a")
    b = build_healthy(tmp_path / "b", config={"data.test_size": 0.2, "data.max_length": 256})
    c = build_healthy(tmp_path / "c", lr=1e-3)
    notes = alerts(write_compare(a, b, tmp_path / "ab.html").read_text("utf-8"))
    assert notes == [
        "The losses are not comparable: the runs measured them on different tokens (data.max_length is 128 in a "
        "and 256 in b). A lower loss here does not mean a better run; compare the verdicts and the QA answers "
        "instead.",
        "The eval losses are not comparable: the runs were evaluated on different rows (data.test_size is "
        "0.1 in a and 0.2 in b). A lower eval loss here does not mean a better run."]
    same = write_compare(a, c, tmp_path / "ac.html").read_text("utf-8")
    assert alerts(same) == [] and "not comparable" not in same


def test_another_training_file_makes_the_training_losses_incomparable_and_the_eval_losses_only_when_split_from_it(
) -> None:
    split = differences({"data": {"train_file": "a.jsonl"}}, {"data": {"train_file": "b.jsonl"}})
    own = differences({"data": {"train_file": "a.jsonl", "validation_file": "v.jsonl"}},
                      {"data": {"train_file": "b.jsonl", "validation_file": "v.jsonl"}})
    assert [(d.key, d.kind) for d in split] == [("data.train_file", "train"), ("data.train_file", "eval")]
    assert [(d.key, d.kind) for d in own] == [("data.train_file", "train")]


def test_the_note_is_in_thai_on_a_thai_page(tmp_path: Path) -> None:
    a = build_healthy(tmp_path / "a", config={"report.language": "th"})
    b = build_healthy(tmp_path / "b", config={"report.language": "th", "data.train_on_prompt": True})
    html = write_compare(a, b, tmp_path / "th.html").read_text("utf-8")
    assert '<tr><td>loss การฝึกสุดท้าย</td><td class="num">เทียบกันไม่ได้ (1)</td><td class="num">เทียบกันไม่ได้ (1)</td>' \
        in html
    [note] = alerts(html)
    assert note.startswith("ค่า loss ของทั้งสองการรันเทียบกันไม่ได้ เพราะวัดบน token คนละชุด (data.train_on_prompt "
                           "เป็น false ใน a และ true ใน b)")


@pytest.mark.slow
def test_two_trained_runs_with_and_without_the_prompt_supervised(tmp_path: Path) -> None:
    """Two real `tuneguard train` runs of the tiny model on the same rows, one with the prompt
    tokens supervised: `tuneguard compare` writes the page and says on the terminal which losses
    are not comparable and why."""
    from tests.helpers.cli import invoke
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

    data = write_jsonl(make_instruction_rows(48), tmp_path / "train.jsonl")
    common = ["--force", "--set", f"data.train_file={data}", "--set", "train.max_steps=3", "--set", "eval.steps=3",
              "--set", "train.save_steps=3"]
    for name, prompt in (("masked", "false"), ("prompt", "true")):
        r = invoke("train", "tiny", "--run-dir", str(tmp_path / name), *common, "--set", f"data.train_on_prompt={prompt}")
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    r = invoke("compare", str(tmp_path / "masked"), str(tmp_path / "prompt"), "--out", str(tmp_path / "cmp.html"))
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    said = ("The losses are not comparable: the runs measured them on different tokens (data.train_on_prompt is "
            "false in masked and true in prompt).")
    assert said in r.stdout + r.stderr
    assert alerts((tmp_path / "cmp.html").read_text("utf-8"))[0].startswith(said)
    # Each run recorded what its losses were measured on; compare judged by it.
    from tuneguard.store.run_store import RunStore

    ids = []
    for name in ("masked", "prompt"):
        with RunStore(tmp_path / name, readonly=True) as s:
            ids.append(s.get_meta("data_identity"))
    assert ids[0]["tokenizer"] == ids[1]["tokenizer"]
    assert ids[0]["splits"]["train"]["files"] == ids[1]["splits"]["train"]["files"]
    assert ids[0]["splits"]["train"]["fingerprint"] != ids[1]["splits"]["train"]["fingerprint"]
    assert "Judged from the settings alone" not in r.stdout


@pytest.mark.slow
def test_a_run_resumed_after_its_validation_file_was_edited_records_both_and_compares_with_itself_only(
        tmp_path: Path) -> None:
    """`tuneguard train --resume auto` after the validation file was edited in place (here a run stopped
    at its last checkpoint: the data is read and recorded again all the same): the
    run keeps the fingerprint its validation rows had before, so its eval losses compare with no
    run's on the edited file, though its training losses do."""
    from tests.helpers.cli import invoke
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
    from tuneguard.store.run_store import RunStore

    rows = make_instruction_rows(60)
    train, val = write_jsonl(rows[:48], tmp_path / "train.jsonl"), write_jsonl(rows[48:], tmp_path / "val.jsonl")
    common = ["--force", "--set", f"data.train_file={train}", "--set", f"data.validation_file={val}",
              "--set", "eval.steps=3", "--set", "train.save_steps=3", "--set", "train.max_steps=3"]
    r = invoke("train", "tiny", "--run-dir", str(tmp_path / "a"), *common)
    assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    with RunStore(tmp_path / "a") as s:
        first = s.get_meta("data_identity")["splits"]["validation"]
        s.set_state("stopped", exit_reason="stopped")  # as `tuneguard stop` leaves it at its last checkpoint
    write_jsonl(rows[49:], val)  # one validation row fewer
    for name, resume in (("a", ["--resume", "auto"]), ("b", [])):
        r = invoke("train", "tiny", "--run-dir", str(tmp_path / name), *common, *resume)
        assert r.returncode == 0, (r.stdout + r.stderr)[-3000:]
    with RunStore(tmp_path / "a", readonly=True) as s:
        resumed = s.get_meta("data_identity")["splits"]["validation"]
    assert resumed["rows"] == 11 and resumed["before"] == [first["fingerprint"]] and first["rows"] == 12
    r = invoke("compare", str(tmp_path / "a"), str(tmp_path / "b"), "--out", str(tmp_path / "c.html"), "--json")
    out = json.loads(r.stdout)
    assert out["comparable"]["train_loss"]["comparable"] and out["comparable"]["eval_loss"]["reasons"] == [
        {"kind": "eval", "key": "data_identity.validation",
         "reason": "the validation rows of a changed when it was resumed, so its eval losses mix two data sets"}]
