"""Hostile data files and formats through audit, audit --json, train and plan.

A file the audit can read always gets findings (JSON when asked), exit 1 when one is an
error; exit 2 is kept for files that cannot be read at all and for bad configs. Rows are
named by file:line, identical reasons grouped, so no error line runs to kilobytes."""

from __future__ import annotations

import gzip
import json
import os
from pathlib import Path

import pytest
import yaml

from tests.helpers.hostile import World, check_failure, check_success, json_out
from tuneguard.catalog import say
from tuneguard.data.formats import MAX_ROW_CHARS
from tuneguard.data.synthetic import make_instruction_rows, write_jsonl

ROWS = make_instruction_rows(160, seed=11)


def _lines(rows: list) -> list[str]:
    return [json.dumps(r) for r in rows]


# kind -> (file name, its bytes): data files that are just content.
RAW = {
    "binary": ("train.jsonl", bytes(range(256)) * 40),
    "empty": ("train.jsonl", b""),
    "whitespace": ("train.jsonl", b"\n   \n\t\n"),
    "json_scalar": ("train.json", b"42"),
    "csv_wrong_columns": ("train.csv", ("a,b\n" + "".join(f"{i},{i + 1}\n" for i in range(50))).encode()),
    "csv_extra_fields": ("train.csv", ("instruction,output\n" + "".join(f"q{i},a{i},extra\n" for i in range(50))).encode()),
    "parquet_garbage": ("train.parquet", b"PAR1 not really parquet"),
    "unknown_suffix": ("train.txt", b"hello\n"),
    "lone_surrogates": ("train.jsonl", b"\n".join([b'{"instruction": "\\ud800", "output": "x"}'] * 40) + b"\n"),
    # Read as UTF-8 lines, every row of these was "malformed": one line says what the file is.
    "utf16": ("train.jsonl", "\n".join(_lines(ROWS)).encode("utf-16")),
    "utf16_no_bom": ("train.csv", ("instruction,output\n" + "".join(f"q{i},a{i}\n" for i in range(50))).encode("utf-16-le")),
    "gzip_unnamed": ("train.jsonl", gzip.compress("\n".join(_lines(ROWS)).encode())),
}
# kind -> (file name, rows): data files of rows.
ROW_FILES = {
    "wrong_fields": ("qa.jsonl", [{"question": r["instruction"], "answer": r["output"]} for r in ROWS]),
    "brackets_in_name": ("train[v2].jsonl", ROWS),
    "markup_in_dir": ("d [/x] :100: [bold]/train.jsonl", ROWS),
    "empty_text": ("text.jsonl", [{"text": ""} for _ in range(40)]),
    "bad_chat": ("chat.jsonl", [{"messages": [{"role": "robot", "content": "hi"}]} for _ in range(40)]),
}


def make_data(where: Path, kind: str) -> Path:
    """A data file (or folder) of the given kind under `where`."""
    where.mkdir(parents=True, exist_ok=True)
    if kind in RAW:
        name, content = RAW[kind]
        (where / name).write_bytes(content)
        return where / name
    if kind in ROW_FILES:
        name, rows = ROW_FILES[kind]
        return write_jsonl(rows, where / name)
    if kind == "malformed4":  # 4 broken lines of 160: 2.5% > data.max_malformed_fraction (1%)
        lines = _lines(ROWS)
        for i in (10, 50, 99, 140):
            lines[i] = '{"instruction": "cut off'
        (where / "train.jsonl").write_text("\n".join(lines) + "\n")
        return where / "train.jsonl"
    if kind == "not_a_dataset_dir":
        (where / "folder").mkdir()
        (where / "folder" / "notes.txt").write_text("hello")
        return where / "folder"
    if kind == "fifo":
        os.mkfifo(where / "train.jsonl")
        return where / "train.jsonl"
    if kind == "symlink_loop":
        (where / "a.jsonl").symlink_to(where / "b.jsonl")
        (where / "b.jsonl").symlink_to(where / "a.jsonl")
        return where / "a.jsonl"
    raise ValueError(kind)


def config_for(where: Path, train: Path | str, **data: object) -> Path:
    path = where / "config.yaml"
    path.write_text(yaml.safe_dump({"preset": "tiny", "data": {"train_file": str(train), **data}}))
    return path


def test_audit_json_names_every_malformed_line_and_exits_1(world: World, tg, unchanged, tmp_path: Path) -> None:
    """The acceptance case: 4 malformed lines of 160."""
    data = make_data(tmp_path, "malformed4")
    r = tg("audit", config_for(tmp_path, data), "--json")
    check_success(r, 1)
    out = json_out(r)
    [f] = [f for f in out["findings"] if f["code"] == "MALFORMED_ROWS"]
    assert f["severity"] == "error" and f["step"] is None
    assert f["evidence"]["rows"] == [f"{data}:{n}" for n in (11, 51, 100, 141)]
    assert f["evidence"]["count"] == 4 and f["evidence"]["rows_read"] == 160
    assert f"{data} lines 11, 51, 100, 141" in f["message"]


def test_audit_for_a_person_shows_the_rows_as_a_block(world: World, tg, unchanged, tmp_path: Path) -> None:
    data = make_data(tmp_path, "malformed4")
    r = tg("audit", config_for(tmp_path, data), env={"COLUMNS": "80"})
    check_success(r, 1)
    lines = r.stdout.splitlines()
    i = lines.index("ERROR MALFORMED_ROWS (audit)")
    assert lines[i + 1].startswith("  4 of 160 rows (2.5%) are malformed")
    assert "  rows: train.jsonl:11, train.jsonl:51, train.jsonl:100, train.jsonl:141" in lines
    assert any(ln.startswith("  -> Fix or remove the listed rows") for ln in lines)


def test_train_refuses_malformed_rows_with_one_line_naming_them(world: World, tg, unchanged, tmp_path: Path) -> None:
    data = make_data(tmp_path, "malformed4")
    r = tg("train", config_for(tmp_path, data), "--run-dir", tmp_path / "run")
    check_failure(r, 2, "MALFORMED_ROWS")
    assert "lines 11, 51, 100, 141" in r.error_lines[0] and "--force" in r.error_lines[0]


def test_a_higher_malformed_limit_makes_it_a_warning(world: World, tg, unchanged, tmp_path: Path) -> None:
    data = make_data(tmp_path, "malformed4")
    r = tg("audit", config_for(tmp_path, data, max_malformed_fraction=0.05), "--json")
    check_success(r, 0)
    [f] = [f for f in json_out(r)["findings"] if f["code"] == "MALFORMED_ROWS"]
    assert f["severity"] == "warning"


def test_one_reason_for_every_row_is_said_once(world: World, tg, unchanged, tmp_path: Path) -> None:
    data = make_data(tmp_path, "wrong_fields")
    r = tg("audit", config_for(tmp_path, data), "--json")
    check_success(r, 1)
    [f] = json_out(r)["findings"]
    assert f["code"] == "MALFORMED_ROWS" and f["severity"] == "error"
    # The message names the fields the rows do have and the flags that map them.
    why = ("no 'instruction' and 'output' in the row: rows of 'question', 'answer' read as instructions with --set "
           "data.format=instruction --set data.instruction_field=question --set data.output_field=answer")
    assert f["message"] == (f"160 of 160 rows (100.0%) are malformed, more than data.max_malformed_fraction (0.01) "
                            f"allows: {why} ({data} lines 1-160).")
    # A mapping to set, not rows to remove: --force would leave nothing to train on.
    assert f["recommendation"] == (
        "No row has the fields of the format the file was read as: map the file's fields with the keys named above "
        "(data.instruction_field, data.output_field and the like, or data.format), then run tuneguard audit again; "
        "--force cannot help, no row would be left to train on.")
    r = tg("train", config_for(tmp_path, data), "--run-dir", tmp_path / "run")
    check_failure(r, 2, f"160 of 160 rows: {why} ({data} lines 1-160)")
    assert r.error_lines[0].count("read as instructions") == 1


@pytest.mark.parametrize("kind", ["binary", "csv_wrong_columns", "csv_extra_fields", "empty_text", "bad_chat",
                                  "lone_surrogates"])
def test_unusable_rows_are_findings_not_crashes(world: World, tg, unchanged, tmp_path: Path, kind: str) -> None:
    data = make_data(tmp_path, kind)
    r = tg("audit", config_for(tmp_path, data), "--json")
    check_success(r, 1)
    codes = [(f["code"], f["severity"]) for f in json_out(r)["findings"]]
    assert ("MALFORMED_ROWS", "error") in codes
    human = tg("audit", config_for(tmp_path, data))
    check_success(human, 1)
    assert "ERROR MALFORMED_ROWS (audit)" in human.stdout


@pytest.mark.parametrize("kind, phrase", [
    ("empty", "holds no rows"),
    ("whitespace", "holds no rows"),
    ("json_scalar", "expected a list of objects"),
    ("parquet_garbage", "cannot read Parquet"),
    ("not_a_dataset_dir", "not a saved Hugging Face dataset"),
    ("unknown_suffix", "unknown data format '.txt'"),
    ("fifo", "not a regular file"),
    ("symlink_loop", "leads nowhere"),
    ("utf16", "is UTF-16 text, and data files are read as UTF-8: save it as UTF-8"),
    ("utf16_no_bom", "is UTF-16 text"),
    ("gzip_unnamed", "is gzip-compressed but its name does not end in .gz: rename it to train.jsonl.gz"),
])
@pytest.mark.parametrize("command", ["audit", "audit-json", "train", "plan"])
def test_unreadable_data_exits_2(world: World, tg, unchanged, tmp_path: Path, kind: str, phrase: str,
                                 command: str) -> None:
    data = make_data(tmp_path / "d", kind)
    cfg = config_for(tmp_path, data)
    args = {"audit": ["audit", cfg], "audit-json": ["audit", cfg, "--json"],
            "train": ["train", cfg, "--run-dir", tmp_path / "run"], "plan": ["plan", cfg]}[command]
    r = tg(*args)
    check_failure(r, 2, phrase)
    if command == "audit-json":
        assert phrase in json_out(r)["error"]
    # train: refused before the run directory (a file that is no regular file: nothing written),
    # or recorded as failed before training (status says why), which the next try replaces.
    if command == "train" and kind not in ("fifo", "symlink_loop"):
        from tuneguard.store.run_store import RunStore
        from tuneguard.train.rundir import never_trained

        with RunStore(tmp_path / "run") as store:
            assert (store.state(), store.get_meta("exit_code")) == ("failed", 2)
            assert phrase in store.get_meta("exit_reason")
        assert never_trained(tmp_path / "run")
    elif command == "train":
        assert not (tmp_path / "run").exists()


@pytest.mark.parametrize("key, value, phrase", [
    ("validation_file", "nope.jsonl", "check data.validation_file"),
    ("test_file", "/dev/null", "not a regular file"),
    ("validation_file", "{fifo}", "not a regular file"),
])
def test_a_bad_second_file_is_named(world: World, tg, unchanged, tmp_path: Path, key: str, value: str,
                                    phrase: str) -> None:
    if value == "{fifo}":
        value = str(make_data(tmp_path / "f", "fifo"))
    r = tg("audit", config_for(tmp_path, world.good, **{key: value}))
    check_failure(r, 2, phrase)


@pytest.mark.parametrize("kind", ["brackets_in_name", "markup_in_dir"])
def test_odd_file_names_print_verbatim(world: World, tg, unchanged, tmp_path: Path, kind: str) -> None:
    data = make_data(tmp_path, kind)
    lines = data.read_text().splitlines()
    lines[5] = "{broken"
    data.write_text("\n".join(lines) + "\n")
    r = tg("audit", config_for(tmp_path, data, max_malformed_fraction=0.05), env={"COLUMNS": "80"})
    check_success(r, 0)
    assert f"{data} line 6" in r.stdout  # the whole path, brackets and emoji codes as typed
    assert "💯" not in r.stdout
    missing = tmp_path / "no [/such] :100: file.jsonl"
    r = tg("audit", config_for(tmp_path, missing))
    check_failure(r, 2, f"data file {missing} does not exist")


def _everyday(kind: str) -> tuple[str, bytes]:
    """Files as people have them: an editor's BOM, Windows line endings, chat exports with a
    system turn, extra columns, a JSON array, one line cut off in the middle."""
    rows = [dict(r, source="web", score=i / 160) for i, r in enumerate(ROWS)]
    ask = [f"{r['instruction']}\n{r.get('input', '')}".strip() for r in ROWS]  # the input is part of the question
    chat = [{"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": q},
                               {"from": "gpt", "value": r["output"]}]} for q, r in zip(ask, ROWS, strict=True)]
    oai = [{"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": q},
                         {"role": "assistant", "content": r["output"]}]} for q, r in zip(ask, ROWS, strict=True)]
    cut = _lines(rows)
    cut[80] = '{"instruction": "cut off'
    return {
        "bom": ("train.jsonl", b"\xef\xbb\xbf" + "\n".join(_lines(rows)).encode() + b"\n"),
        "crlf": ("train.jsonl", "\r\n".join(_lines(rows)).encode() + b"\r\n"),
        "sharegpt_system": ("train.jsonl", "\n".join(_lines(chat)).encode()),
        "openai_system": ("train.jsonl", "\n".join(_lines(oai)).encode()),
        "json_array": ("train.json", json.dumps(rows).encode()),
        "one_cut_line": ("train.jsonl", "\n".join(cut).encode() + b"\n"),
    }[kind]


@pytest.mark.parametrize("kind", ["bom", "crlf", "sharegpt_system", "openai_system", "json_array", "one_cut_line"])
def test_everyday_files_audit_clean(world: World, tg, unchanged, tmp_path: Path, kind: str) -> None:
    """Read as they are: exit 0, every row but a cut-off one read, no error finding."""
    name, content = _everyday(kind)
    (tmp_path / name).write_bytes(content)
    r = tg("audit", config_for(tmp_path, tmp_path / name), "--json")
    check_success(r, 0)
    findings = json_out(r)["findings"]
    assert not [f for f in findings if f["severity"] == "error"], findings
    malformed = [f for f in findings if f["code"] == "MALFORMED_ROWS"]
    if kind == "one_cut_line":
        [f] = malformed
        assert f["severity"] == "warning" and f["evidence"]["rows"] == [f"{tmp_path / name}:81"]
    else:
        assert not malformed, malformed


def test_a_row_too_long_to_tokenize_is_a_malformed_row(world: World, tg, unchanged, tmp_path: Path) -> None:
    """One line of a dump without newlines: reported by its line number and skipped, never
    tokenized (a 50 MB row held a tokenizer for minutes and gigabytes)."""
    chars = MAX_ROW_CHARS + 10
    long_row = json.dumps({"instruction": "x" * (chars - 5), "output": "yyyyy"})
    data = tmp_path / "train.jsonl"
    data.write_text("\n".join(_lines(ROWS[:150]) + [long_row]) + "\n")
    r = tg("audit", config_for(tmp_path, data), "--json")
    check_success(r, 0)
    [f] = [f for f in json_out(r)["findings"] if f["code"] == "MALFORMED_ROWS"]
    assert f["severity"] == "warning" and f["evidence"]["rows"] == [f"{data}:151"]
    # The count is of the row as formatted for the model (its template's words included).
    reason = say("input.row_too_long", limit=MAX_ROW_CHARS, chars=chars).rsplit(" (", 1)[0]
    assert f"will be skipped: {reason} (1,000,0" in f["message"] and f["message"].endswith(f"({data} line 151).")
