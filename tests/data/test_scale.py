"""Large files in bounded memory: a sample of one JSON Lines file drawn from row positions (only
the sampled lines read twice) gives the very examples, order and problems of reading every row;
tokenized rows packed as TokenRows read back as the lists build_example made, through the
cache and the fingerprint too."""

import json
from pathlib import Path

import pytest

from tests.data.helpers import tiny_data_config as _config
from tests.data.helpers import tiny_tokenizer as _tok
from tuneguard.data import pipeline, sampled
from tuneguard.data.cache import DataCache
from tuneguard.data.fingerprint import features_row_hashes
from tuneguard.data.synthetic import make_instruction_rows
from tuneguard.data.token_rows import TokenRows


def _file(tmp_path: Path) -> Path:
    """120 rows with bad ones among them: broken JSON, a row of no known fields, a blank line."""
    lines = [json.dumps(r) for r in make_instruction_rows(120, seed=3)]
    lines[7] = "{not json"
    lines[40] = json.dumps({"question": "q", "answer": "a"})
    lines[77] = ""
    path = tmp_path / "train.jsonl"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize("validation_file", [False, True])
def test_a_sample_drawn_from_positions_is_the_sample_of_the_whole_file(tmp_path, monkeypatch, validation_file):
    extra = {}
    if validation_file:
        (tmp_path / "v").mkdir()
        extra["validation_file"] = str(_file(tmp_path / "v"))
    cfg = _config(train_file=str(_file(tmp_path)), train_samples=50, eval_samples=4, **extra)
    tok = _tok()
    reads = []
    real_fetch = sampled.fetch

    def fetch(path, lines, wanted, *rest):
        reads.append(len(wanted))
        return real_fetch(path, lines, wanted, *rest)

    monkeypatch.setattr(pipeline, "fetch", fetch)
    lazy = pipeline.prepare_data(cfg.data, tok, strict=False)
    assert reads == [50 if validation_file else 54]  # the second read: the sampled lines only
    monkeypatch.setattr(pipeline, "one_jsonl", lambda source: None)  # every row's example held, as before
    whole = pipeline.prepare_data(cfg.data, tok, strict=False)
    for a, b in ((lazy.train, whole.train), (lazy.validation, whole.validation)):
        assert a.examples == b.examples and a.features == b.features
    assert [str(p) for p in lazy.problems] == [str(p) for p in whole.problems]
    assert lazy.rows_read == whole.rows_read and lazy.before_samples == whole.before_samples


def test_packed_rows_read_back_as_lists_through_the_cache_and_the_fingerprint(tmp_path):
    rows = [{"input_ids": [5, 6, 7, 8], "labels": [-100, -100, 7, 8], "length": 4},
            {"input_ids": [9, 300000], "labels": [9, 300000], "length": 2},
            {"input_ids": [1, 2, 3], "labels": [-100, 2, -100], "length": 3}]  # not a masked start: kept whole
    packed = TokenRows.build(rows)
    assert packed == rows and list(packed) == rows and packed[-1] == rows[2] and packed[1:] == rows[1:]
    assert packed.ids.dtype.name == "int32" and list(packed.labels) == [2]
    assert packed.take([2, 0]) == [rows[2], rows[0]] and packed.take([1]) == [rows[1]]
    assert features_row_hashes(packed).tolist() == features_row_hashes(rows).tolist()
    plain = TokenRows.build(rows[:2])
    assert features_row_hashes(plain).tolist() == features_row_hashes(rows[:2]).tolist()
    cache = DataCache(tmp_path, {"k": 1})
    cache.save_features({"train": (plain, {"examples": 2}), "validation": (packed, {"examples": 3})})
    again = DataCache(tmp_path, {"k": 1})
    assert again.features("train", 2) == (rows[:2], {"examples": 2})
    assert again.features("validation", 3) == (rows, {"examples": 3})
    edited = again.features("train", 2)[0]
    edited[0]["labels"] = [-100] * 4  # a row set after packing stays set
    assert edited[0]["labels"] == [-100] * 4 and edited[1] == rows[1]
