"""compare judges the losses by what the runs were measured on: the summary shows a loss that is not
comparable as "not comparable (N)" with footnote N saying why, on the page, on the terminal and in
`--json`; the recorded data fingerprints (run.db meta data_identity) decide where both runs have them."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
import typer
from typer.testing import CliRunner

from tuneguard.cli.compare_cmd import compare
from tuneguard.data.identity import files_hash, rows_fingerprint
from tuneguard.catalog import render
from tuneguard.report import write_compare
from tuneguard.report.comparable import judge
from tuneguard.store.run_store import RunStore

from .runs import build_healthy

VAL = "/data/val.jsonl"


def ident(val_rows: str = "v1", val_files: str | None = "f1", train: str = "t1", tokenizer: str = "tok1",
          rows: int = 40) -> dict[str, Any]:
    """A data_identity as tuneguard.data.identity records it: fingerprints named for the test."""
    return {"tokenizer": tokenizer, "splits": {"train": {"rows": 360, "fingerprint": train, "files": train},
                                               "validation": {"rows": rows, "fingerprint": val_rows,
                                                              "files": val_files}}}


def run(tmp: Path, name: str, identity: dict[str, Any] | None, **config: Any) -> Path:
    path = build_healthy(tmp / name, config={"data.validation_file": VAL, **config}, test=1.2,
                         decay=0.025 if name == "a" else 0.05)
    if identity is not None:
        with RunStore(path) as s:
            s.set_meta(data_identity=identity)
    return path


def summary_rows(html: str) -> list[tuple[str, str, str]]:
    table = re.search(r'<section id="summary">.*?</table>', html, re.S)
    assert table
    return re.findall(r'<tr><td>([^<]+)</td><td class="num">([^<]+)</td><td class="num">([^<]+)</td></tr>', table[0])


def footnotes(html: str) -> list[str]:
    return re.findall(r"<li>([^<]+)</li>", re.search(r'<ol class="footnotes[^"]*">(.*?)</ol>', html, re.S)[1])


def cli(*args: str) -> Any:
    app = typer.Typer()
    app.command()(compare)
    return CliRunner().invoke(app, list(args))


def test_losses_over_other_tokens_read_not_comparable_with_one_footnote_on_the_page_and_the_terminal(
        tmp_path: Path) -> None:
    a = run(tmp_path, "a", None)
    b = run(tmp_path, "b", None, **{"data.train_on_prompt": True})
    html = write_compare(a, b, tmp_path / "c.html").read_text("utf-8")
    assert summary_rows(html) == [
        ("state", "finished", "finished"), ("steps", "60 / 60", "60 / 60"),
        ("final train loss", "not comparable (1)", "not comparable (1)"),
        ("best eval loss", "not comparable (1)", "not comparable (1)"),
        ("test loss", "not comparable (1)", "not comparable (1)"),
        ("median tokens/s", "5,340", "5,340"), ("findings", "0", "0")]
    assert footnotes(html) == ["data.train_on_prompt is false in a and true in b"]
    heights = "the losses are not comparable (the note at the top says why): read the shapes, not the heights"
    assert re.findall(r'<figcaption>([^<]+) <span class="muted small">([^<]+)</span>', html)[:3] == [
        ("Loss", f"solid: train, dashed: eval · {heights}"), ("Loss, log scale", heights),
        ("Eval \u2212 train gap", heights)]
    r = cli(str(a), str(b), "--out", str(tmp_path / "c.html"))
    assert r.exit_code == 0, r.output
    lines = [ln.strip("│ ").split("│") for ln in r.output.splitlines() if "loss" in ln and "│" in ln]
    assert [[c.strip() for c in ln] for ln in lines] == [
        ["final train loss", "not comparable (1)", "not comparable (1)"],
        ["best eval loss", "not comparable (1)", "not comparable (1)"],
        ["test loss", "not comparable (1)", "not comparable (1)"]]
    assert "(1) data.train_on_prompt is false in a and true in b\n" in r.output
    assert ("Judged from the settings alone: a and b recorded no data fingerprints and kept no tokenized-data cache "
            "(runs trained before tuneguard recorded them with data.cache off, or whose data could not be "
            "fingerprinted), so an edited data file is not seen."
            ) in " ".join(r.output.split())


def test_same_settings_but_a_validation_file_edited_in_place_makes_only_the_eval_loss_incomparable(
        tmp_path: Path) -> None:
    a = run(tmp_path, "a", ident())
    b = run(tmp_path, "b", ident(val_rows="v2", val_files="f2"))
    html = write_compare(a, b, tmp_path / "c.html").read_text("utf-8")
    rows = dict((n, (x, y)) for n, x, y in summary_rows(html))
    assert rows["final train loss"] == ("1.658", "1.224")  # the same training rows: comparable, shown
    assert rows["best eval loss"] == ("not comparable (1)", "not comparable (1)")
    assert rows["test loss"] == ("1.2", "1.2")  # no test rows recorded for either: the settings are the same
    assert footnotes(html) == [f"the validation file {VAL} held other contents in a than in b"]
    assert re.findall(r'<p class="alert">([^<]+)</p>', html) == [
        f"The eval losses are not comparable: the runs were evaluated on different rows (the validation file {VAL} "
        "held other contents in a than in b). A lower eval loss here does not mean a better run."]
    assert "Judged from the settings alone" not in html
    assert "solid: train, dashed: eval · the losses are not comparable" in html  # the eval curves are on it
    r = cli(str(a), str(b), "--out", str(tmp_path / "c.html"), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["comparable"] == {
        "judged_by": "data",
        "train_loss": {"comparable": True, "reasons": []},
        "eval_loss": {"comparable": False, "reasons": [
            {"kind": "eval", "key": "data_identity.validation",
             "reason": f"the validation file {VAL} held other contents in a than in b"}]},
        "test_loss": {"comparable": True, "reasons": []}}
    assert out["page"] == str(tmp_path / "c.html") and out["run_a"]["best_eval_loss"] == 1.7778254003710745
    assert set(out["run_a"]) == {"name", "run_dir", "state", "step", "max_steps", "final_train_loss", "best_eval_loss",
                                 "best_step", "test_loss", "median_tokens_per_s", "findings"}


def test_the_same_tokenized_rows_are_comparable_whatever_the_settings_say() -> None:
    """Another model with the same tokenizer, another split seed that moved no row out of a
    validation file of its own: the rows are the same tokens, so the losses compare."""
    a = {"model": {"name": "org/base"}, "data": {"seed": 1, "validation_file": VAL}}
    b = {"model": {"name": "org/base-v2"}, "data": {"seed": 2, "validation_file": VAL}}
    by_settings = judge(a, b, labels=("a", "b"))
    assert [r.key for r in by_settings.losses["eval_loss"]] == ["data.seed", "model.name"]
    j = judge(a, b, ident(), ident(), labels=("a", "b"))
    assert j.by_data and all(j.comparable(loss) for loss in ("train_loss", "eval_loss", "test_loss"))


def test_another_tokenizer_or_rows_nothing_explains_are_named() -> None:
    cfg = {"data": {"validation_file": VAL}}
    j = judge(cfg, cfg, ident(), ident(val_rows="v2", train="t2", tokenizer="tok2", rows=38), labels=("a", "b"))
    said = {loss: [r.to_dict()["reason"] for r in rs] for loss, rs in j.losses.items()}
    tok = "the tokenizer of a differs from that of b (vocabulary, special tokens or chat template)"
    assert said == {"train_loss": [tok], "eval_loss": [tok], "test_loss": []}
    j = judge(cfg, cfg, ident(), ident(val_rows="v2", rows=38), labels=("a", "b"))
    assert [r.to_dict() for r in j.losses["eval_loss"]] == [
        {"kind": "eval", "key": "data_identity.validation", "reason": "the validation rows differ: 40 rows in a, 38 in b"}]
    j = judge(cfg, cfg, ident(), ident(val_rows="v2"), labels=("a", "b"))
    assert [r.to_dict()["reason"] for r in j.losses["eval_loss"]] == [
        "the validation rows differ: 40 rows in each of a and b, but other rows or tokenized otherwise"]


def test_a_training_file_replaced_under_the_same_name_makes_the_training_losses_incomparable() -> None:
    cfg = {"data": {"train_file": "/data/train.jsonl"}}
    a, b = ident(val_files=None), ident(val_files=None, val_rows="v2", train="t2")
    j = judge(cfg, cfg, a, b, labels=("a", "b"))
    assert [r.to_dict()["reason"] for r in j.losses["train_loss"]] == [
        "the training file /data/train.jsonl held other contents in a than in b"]
    assert [r.to_dict()["reason"] for r in j.losses["eval_loss"]] == [
        "the training file /data/train.jsonl, which the validation rows are split from, held other contents in a than "
        "in b"]


def test_the_rows_fingerprint_ignores_order_but_not_a_label_and_the_files_hash_ignores_the_path() -> None:
    rows = [{"input_ids": [1, 2, 3], "labels": [-100, 2, 3]}, {"input_ids": [4, 5], "labels": [4, 5]}]
    masked_less = [{"input_ids": [1, 2, 3], "labels": [1, 2, 3]}, rows[1]]
    assert rows_fingerprint(rows) == rows_fingerprint(rows[::-1]) != rows_fingerprint(masked_less)
    assert rows_fingerprint(rows) != rows_fingerprint(rows[:1])
    one = {"path": "/a/t.jsonl", "files": [{"name": "t.jsonl", "size": 3, "mtime_ns": 1, "sha256": "x"}]}
    moved = {"path": "/b/t.jsonl", "files": [{"name": "t.jsonl", "size": 3, "mtime_ns": 9, "sha256": "x"}]}
    edited = {"path": "/a/t.jsonl", "files": [{"name": "t.jsonl", "size": 3, "mtime_ns": 1, "sha256": "y"}]}
    assert files_hash(one) == files_hash(moved) != files_hash(edited)


def test_json_errors_are_json_with_exit_2(tmp_path: Path) -> None:
    a = run(tmp_path, "a", None)
    r = cli(str(a), str(tmp_path / "none"), "--json")
    assert r.exit_code == 2
    assert list(json.loads(r.stdout[: r.stdout.rindex("}") + 1])) == ["error"]


@pytest.mark.parametrize("recorded", ["nothing", "None", "scheme 1"])
def test_runs_from_before_the_fingerprints_are_judged_by_their_tokenized_data_cache(tmp_path: Path,
                                                                                   recorded: str) -> None:
    """Two runs that recorded no data identity (from before it, or whose fingerprinting failed), or
    recorded it under the first fingerprint scheme (here saying, wrongly for today's scheme, the
    same rows), the validation file edited in place between them: their caches
    (RUN_DIR/cache/tokens.pt) still say what each was measured on."""
    from tuneguard.config.schema import DataConfig
    from tuneguard.data.cache import DataCache, data_key
    from tuneguard.data.pipeline import prepare_data
    from tuneguard.data.synthetic import make_instruction_rows, write_jsonl
    from tuneguard.model.load import build_tiny_tokenizer

    rows = make_instruction_rows(40)
    train, val = write_jsonl(rows[:32], tmp_path / "train.jsonl"), tmp_path / "val.jsonl"
    runs = []
    for name, kept in (("a", 8), ("b", 7)):
        write_jsonl(rows[32: 32 + kept], val)
        path = build_healthy(tmp_path / name, config={"data.train_file": str(train), "data.validation_file": str(val)})
        cfg, tok = DataConfig(train_file=str(train), validation_file=str(val)), build_tiny_tokenizer()
        prepare_data(cfg, tok, cache=DataCache(path / "cache", data_key(cfg, tok)))
        if recorded != "nothing":
            with RunStore(path) as s:
                s.set_meta(data_identity=None if recorded == "None" else ident(val_rows="old"))
        runs.append(path)
    r = cli(*map(str, runs), "--out", str(tmp_path / "c.html"), "--json")
    assert r.exit_code == 0, r.output
    out = json.loads(r.stdout)
    assert out["comparable"]["judged_by"] == "data" and out["comparable"]["train_loss"]["comparable"]
    assert out["comparable"]["eval_loss"]["reasons"] == [
        {"kind": "eval", "key": "data_identity.validation",
         "reason": f"the validation file {val} held other contents in a than in b"}]


def test_fingerprints_of_two_schemes_are_never_compared_so_the_settings_judge() -> None:
    """A run recorded under the first scheme (no `scheme`) and one under today's, no cache to take
    the old one's again: the same fingerprint value proves nothing, and another one does not say
    the rows differ; the settings judge (the same here: every loss comparable)."""
    config = {"data": {"validation_file": VAL}}
    same = judge(config, config, ident(), {**ident(), "scheme": 2})
    assert not same.by_data and same.losses == {"train_loss": [], "eval_loss": [], "test_loss": []}
    other = judge(config, config, ident(), {**ident(val_rows="v2", train="t2"), "scheme": 2})
    assert not other.by_data and other.losses == same.losses
    assert judge(config, config, {**ident(), "scheme": 2}, {**ident(val_rows="v2"), "scheme": 2}).by_data


def cut(identity: dict[str, Any]) -> dict[str, Any]:
    """`identity` with other training rows from the same training file (max_length cut them)."""
    identity["splits"]["train"]["fingerprint"] = "t-cut"
    return identity


def alerts(html: str) -> list[str]:
    return re.findall(r'<p class="alert">([^<]+)</p>', html)


def test_a_token_setting_that_changed_only_the_training_rows_names_the_training_losses_in_the_top_note(
        tmp_path: Path) -> None:
    """max_length cut training rows but no validation row: the validation rows are the same tokens,
    so only the training losses are not comparable, and the note at the top says exactly that."""
    a = run(tmp_path, "a", ident())
    b = run(tmp_path, "b", cut(ident()), **{"data.max_length": 256})
    html = write_compare(a, b, tmp_path / "c.html").read_text("utf-8")
    rows = dict((n, (x, y)) for n, x, y in summary_rows(html))
    assert rows["final train loss"] == ("not comparable (1)", "not comparable (1)")
    assert rows["best eval loss"] == ("1.778 @ 60", "1.344 @ 60")
    assert alerts(html) == [
        "The training losses are not comparable: the runs measured them on different tokens (data.max_length is 128 "
        "in a and 256 in b). A lower loss there does not mean a better run; compare the verdicts and the QA answers "
        "instead."]
    th = write_compare(run(tmp_path, "ath", ident(), **{"report.language": "th"}), b, tmp_path / "t.html")
    assert alerts(th.read_text("utf-8")) == [
        "loss การฝึก ของทั้งสองการรันเทียบกันไม่ได้ เพราะวัดบน token คนละชุด (data.max_length เป็น 128 ใน ath และ 256 ใน b) "
        "ค่าที่ต่ำกว่าจึงไม่ได้แปลว่าการรันนั้นดีกว่า ให้เทียบผลสรุปตามเกณฑ์และคำตอบ QA แทน"]


def test_a_token_setting_that_changed_every_split_still_says_the_losses(tmp_path: Path) -> None:
    a = run(tmp_path, "a", ident())
    b = run(tmp_path, "b", cut(ident(val_rows="v2")), **{"data.max_length": 256})
    j = judge(run_cfg(a), run_cfg(b), ident(), cut(ident(val_rows="v2")), labels=("a", "b"))
    assert [loss for loss in j.losses if not j.comparable(loss)] == ["train_loss", "eval_loss"]
    html = write_compare(a, b, tmp_path / "c.html").read_text("utf-8")
    assert alerts(html)[0].startswith("The losses are not comparable: the runs measured them on different tokens "
                                      "(data.max_length is 128 in a and 256 in b).")  # every loss both measured
    three = {**ident(), "splits": {**ident()["splits"], "test": {"rows": 9, "fingerprint": "x", "files": "y"}}}
    j = judge(run_cfg(a), run_cfg(b), three, cut(ident(val_rows="v2")), labels=("a", "b"))
    assert j.measured == ("train_loss", "eval_loss")  # b has no test rows
    three_b = {**three, "splits": {**cut(ident(val_rows="v2"))["splits"], "test": three["splits"]["test"]}}
    j = judge(run_cfg(a), run_cfg(b), three, three_b, labels=("a", "b"))
    from tuneguard.report.comparable import notes

    assert render(notes(j)[0]).startswith("The training and eval losses are not comparable: the runs measured them "
                                          "on different tokens (data.max_length is 128 in a and 256 in b).")


def run_cfg(path: Path) -> dict[str, Any]:
    from tuneguard.report.rundata import load_run

    return load_run(path).config


def test_the_terminal_speaks_the_page_language_and_json_stays_english(tmp_path: Path) -> None:
    a = run(tmp_path, "a", ident(), **{"report.language": "th"})
    b = run(tmp_path, "b", ident(val_rows="v2", val_files="f2"), **{"report.language": "th"})
    r = cli(str(a), str(b), "--out", str(tmp_path / "c.html"))
    assert r.exit_code == 0, r.output
    said = " ".join(r.output.split())
    assert "eval loss ของทั้งสองการรันเทียบกันไม่ได้" in said and "เทียบกันไม่ได้ (1)" in said
    assert f"(1) ไฟล์ validation {VAL} มีเนื้อหาใน a ต่างจากใน b" in said
    assert "not comparable" not in said
    r = cli(str(a), str(b), "--out", str(tmp_path / "c.html"), "--json")
    assert json.loads(r.stdout)["notes"][0].startswith("The eval losses are not comparable")


def test_a_run_resumed_on_other_data_is_comparable_with_itself_only(tmp_path: Path) -> None:
    """b trained on v1, was resumed after its validation file was edited to v2: its eval losses mix
    both, so they compare neither with a run on v1 nor with one on v2, but with b itself."""
    from tuneguard.data.identity import resumed_identity

    mixed = resumed_identity(ident(), ident(val_rows="v2", val_files="f2"))
    a = run(tmp_path, "a", ident(val_rows="v2", val_files="f2"))
    b = run(tmp_path, "b", mixed)
    out = json.loads(cli(str(a), str(b), "--out", str(tmp_path / "c.html"), "--json").stdout)
    assert out["comparable"]["train_loss"]["comparable"] and out["comparable"]["eval_loss"]["reasons"] == [
        {"kind": "eval", "key": "data_identity.validation",
         "reason": "the validation rows of b changed when it was resumed, so its eval losses mix two data sets"}]
    for x in (a, b):
        r = cli(str(x), str(x), "--out", str(tmp_path / "self.html"), "--json")
        assert r.exit_code == 0, r.output
        same = json.loads(r.stdout)
        assert same["notes"] == [] and all(same["comparable"][k]["comparable"] for k in ("train_loss", "eval_loss"))


def test_paths_are_shown_as_the_user_gave_them(tmp_path: Path, monkeypatch: Any) -> None:
    run(tmp_path, "a", ident())
    run(tmp_path, "b", ident())
    monkeypatch.chdir(tmp_path)
    out = json.loads(cli("a", "b", "--json").stdout)
    assert (out["page"], out["run_a"]["run_dir"], out["run_b"]["run_dir"]) == ("compare_a_vs_b.html", "a", "b")
    r = cli("a", "b", "--out", "c.html")
    assert r.exit_code == 0 and r.output.splitlines()[-1] == "compare: c.html"


def test_a_list_of_training_files_edited_in_place_is_named_as_the_config_lists_it() -> None:
    cfg = {"data": {"train_file": ["/data/part1.jsonl", "/data/more/*.jsonl"]}}
    j = judge(cfg, cfg, ident(val_files=None), ident(val_files=None, val_rows="v2", train="t2"), labels=("a", "b"))
    assert [r.to_dict()["reason"] for r in j.losses["train_loss"]] == [
        "the training file /data/part1.jsonl, /data/more/*.jsonl held other contents in a than in b"]
