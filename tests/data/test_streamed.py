"""A large training source tokenized as it is read: past data.streamed's KEEP_ROWS its texts are
dropped and its rows tokenized chunk by chunk, and the splits, their tokens, stats, examples,
problems and the audit's sample are those of reading every row's example (JSONL, CSV, Parquet and a
folder of shards alike)."""

import csv
import json
from pathlib import Path

import pytest

from tests.data.helpers import tiny_data_config as _config
from tests.data.helpers import tiny_tokenizer as _tok
from tuneguard.data import pipeline
from tuneguard.data.streamed import SourceExamples, pick_examples
from tuneguard.data.synthetic import make_instruction_rows


def _rows() -> list[dict]:
    rows = make_instruction_rows(90, seed=5)
    rows[11] = {"question": "q", "answer": "a"}  # a row of no known fields: a problem
    rows[30]["output"] = "word " * 200  # truncated at max_length 64
    return rows


def _write(kind: str, tmp_path: Path) -> Path:
    rows = _rows()
    if kind == "jsonl":
        path = tmp_path / "train.jsonl"
        path.write_text("\n".join(json.dumps(r) for r in rows) + "\n{broken\n", encoding="utf-8")
    elif kind == "csv":
        path = tmp_path / "train.csv"
        with path.open("w", newline="", encoding="utf-8") as fh:
            w = csv.DictWriter(fh, ["instruction", "input", "output", "question", "answer"])
            w.writeheader()
            w.writerows(rows)
    else:
        import pyarrow as pa
        import pyarrow.parquet as pq

        path = tmp_path / "shards"
        path.mkdir()
        cols = ["instruction", "input", "output"]
        good = [{c: r.get(c, "") for c in cols} for r in rows if "instruction" in r]
        for k in range(2):
            pq.write_table(pa.Table.from_pylist(good[k * 40:(k + 1) * 40]), path / f"train-{k:05d}-of-00002.parquet")
    return path


def _same(a, b) -> None:
    for x, y in ((a.train, b.train), (a.validation, b.validation)):
        assert list(x.examples) == list(y.examples)
        assert list(x.features) == list(y.features) and x.stats == y.stats
    assert [str(p) for p in a.problems] == [str(p) for p in b.problems]
    assert a.rows_read == b.rows_read and a.before_samples == b.before_samples and a.format == b.format


@pytest.mark.parametrize("kind", ["jsonl", "csv", "parquet"])
def test_a_streamed_source_prepares_the_splits_of_the_whole(tmp_path, monkeypatch, kind):
    cfg = _config(train_file=str(_write(kind, tmp_path)), max_length=64, test_size=0.1)
    tok = _tok()
    whole = pipeline.prepare_data(cfg.data, tok, strict=False)
    assert not isinstance(whole.train.examples, SourceExamples)
    tokenized = []
    monkeypatch.setattr(pipeline, "tokenize_examples", lambda *a, **k: tokenized.append(1))
    monkeypatch.setattr(pipeline, "KEEP_ROWS", 10)
    streamed = pipeline.prepare_data(cfg.data, tok, strict=False)
    assert isinstance(streamed.train.examples, SourceExamples) and not tokenized  # tokenized while read
    _same(streamed, whole)
    assert streamed.train.stats.rows_truncated > 0 and len(streamed.train.features) + len(streamed.validation.features) == (
        whole.rows_read - len(whole.problems))
    idx = [40, 3, 17]
    assert pick_examples(streamed.train.examples, idx) == [whole.train.examples[i] for i in idx]
    assert streamed.validation.examples[-1] == whole.validation.examples[-1]


@pytest.mark.parametrize("kind", ["csv", "parquet"])
def test_a_sample_of_a_large_source_is_read_again_for_the_sampled_rows_only(tmp_path, monkeypatch, kind):
    cfg = _config(train_file=str(_write(kind, tmp_path)), train_samples=20, eval_samples=3, test_size=0.1)
    tok = _tok()
    whole = pipeline.prepare_data(cfg.data, tok, strict=False)
    monkeypatch.setattr(pipeline, "KEEP_ROWS", 10)
    tokenized = []
    real = pipeline.tokenize_examples
    monkeypatch.setattr(pipeline, "tokenize_examples", lambda tk, ex, *a, **k: tokenized.append(len(ex)) or real(tk, ex, *a, **k))
    sampled = pipeline.prepare_data(cfg.data, tok, strict=False)
    assert tokenized == [20, 3]  # only the sample is tokenized
    _same(sampled, whole)


def test_rows_kept_in_place_are_the_rows_taken():
    from tuneguard.data.token_rows import TokenRows, keep_rows

    rows = [{"input_ids": [k, k + 1, k + 2][: 1 + k % 3], "labels": [-100, k + 1, k + 2][: 1 + k % 3], "length": 1 + k % 3}
            for k in range(10)]
    rows[4]["labels"] = [4, -100]  # labels of its own
    for keep in ([1, 1, 0, 1, 0, 0, 1, 1, 1, 0], [0] * 9 + [1], [1] * 10):
        want = [r for r, k in zip(rows, keep, strict=True) if k]
        got = keep_rows(TokenRows.build(rows), keep)
        assert got == want and got.take(list(range(len(want)))) == want
