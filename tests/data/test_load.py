import json

import pytest

from tuneguard.config.load import read_source, validate_config
from tuneguard.data.load import DataError
from tuneguard.data.pipeline import prepare_data
from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token


def _data_cfg(**kw):
    raw, _ = read_source("tiny")
    raw["data"].update(kw)
    return validate_config(raw).data


def _tok():
    t = build_tiny_tokenizer()
    setup_pad_token(t, "auto")
    return t


GOOD = [{"instruction": f"Say the number {i}.", "output": f"The number is {i}."} for i in range(200)]


def _write_jsonl(path, rows, extra_lines=()):
    lines = [json.dumps(r).encode() for r in rows]
    for pos, raw in extra_lines:
        lines.insert(pos, raw)
    path.write_bytes(b"\n".join(lines) + b"\n")


def test_malformed_rows_reported_with_line_numbers(tmp_path):
    p = tmp_path / "train.jsonl"
    _write_jsonl(p, GOOD[:6], extra_lines=[
        (1, b'{"instruction": "cut off", "output": "x'),          # line 2: truncated
        (3, b'{"instruction": "no output"}'),                     # line 4: missing output
        (5, b'{"instruction": "number", "output": [42]}'),        # line 6: wrong type
        (7, b'{"instruction": "bad \xff\xfe bytes", "output": "y"}'),  # line 8: invalid UTF-8
    ])
    with pytest.raises(DataError) as e:
        prepare_data(_data_cfg(train_file=str(p)), _tok())
    msg = str(e.value)
    assert f"{p}:2: invalid JSON" in msg
    assert f"{p}:4: missing field 'output'" in msg
    assert f"{p}:6: field 'output' must be text, got list" in msg
    assert f"{p}:8: invalid UTF-8" in msg
    assert "4 of 10 rows are malformed" in msg


def test_few_malformed_rows_are_skipped(tmp_path, caplog):
    p = tmp_path / "train.jsonl"
    _write_jsonl(p, GOOD, extra_lines=[(10, b"{not json")])
    data = prepare_data(_data_cfg(train_file=str(p), max_malformed_fraction=0.05), _tok())
    assert len(data.train.examples) + len(data.validation.examples) == 200
    assert len(data.problems) == 1 and data.problems[0].line == 11
    assert "skipping 1 malformed row" in caplog.text


def test_formats_jsonl_json_csv_parquet_hf(tmp_path):
    import datasets

    rows = GOOD[:50]
    (tmp_path / "a.json").write_text(json.dumps(rows))
    ds = datasets.Dataset.from_list(rows)
    ds.to_csv(str(tmp_path / "a.csv"), index=False)
    ds.to_parquet(str(tmp_path / "a.parquet"))
    ds.save_to_disk(str(tmp_path / "hf"))
    _write_jsonl(tmp_path / "a.jsonl", rows)
    for name in ("a.jsonl", "a.json", "a.csv", "a.parquet", "hf"):
        data = prepare_data(_data_cfg(train_file=str(tmp_path / name)), _tok())
        assert data.format == "instruction", name
        assert len(data.train.examples) == 45 and len(data.validation.examples) == 5, name
        got = sorted(e.response for e in data.train.examples + data.validation.examples)
        assert got == sorted(r["output"] for r in rows), name


def test_text_format_and_split_options(tmp_path):
    p = tmp_path / "t.jsonl"
    _write_jsonl(p, [{"text": f"line number {i} of plain text"} for i in range(100)])
    v = tmp_path / "v.jsonl"
    _write_jsonl(v, [{"text": f"held out {i}"} for i in range(30)])
    data = prepare_data(_data_cfg(train_file=str(p), validation_file=str(v), train_samples=40, eval_samples=10,
                                  test_file=str(v)), _tok())
    assert data.format == "text"
    assert data.sizes() == {"train": 40, "validation": 10, "test": 30}
    assert all(e.prompt == "" for e in data.train.examples)
    assert all(lab != -100 for lab in data.train.features[0]["labels"])


def test_missing_file_is_a_clear_error(tmp_path):
    with pytest.raises(DataError, match="does not exist"):
        prepare_data(_data_cfg(train_file=str(tmp_path / "nope.jsonl")), _tok())


@pytest.mark.parametrize("gz", [False, True])
def test_json_lines_read_line_by_line_keep_every_line_number_and_problem(tmp_path, gz):
    """The reader takes the file a line at a time (never all its bytes and lines together): a
    BOM, CRLF ends, blank lines, bad lines and a last line without its newline read as before."""
    import gzip

    from tuneguard.data.load import read_rows

    raw = (b'\xef\xbb\xbf{"text": "one"}\r\n\n{"text": "two"}\n{broken\n[1, 2]\n\xff\xfe\n  \n'
           b'{"text": "three\\nlines"}\r\n{"text": "last"}')
    path = tmp_path / ("train.jsonl.gz" if gz else "train.jsonl")
    path.write_bytes(gzip.compress(raw) if gz else raw)
    loaded = read_rows(str(path))
    assert [(r.data["text"], r.line) for r in loaded.rows] == [("one", 1), ("two", 3), ("three\nlines", 8),
                                                              ("last", 9)]
    assert [(p.line, p.reason.split(" (")[0]) for p in loaded.problems] == [
        (4, "invalid JSON"), (5, "expected a JSON object, got list"), (6, "invalid UTF-8 at byte 0")]
    assert {r.file for r in loaded.rows} == {str(path)}
