"""Row formats as people have them: Alpaca, prompt/completion, OpenAI messages (with parts),
ShareGPT conversations, plain text; a file of unknown fields and a row of another format
get one reason naming the fields seen, the formats known and the keys that map them;
gzipped and tab-separated files read like their plain twins."""

from __future__ import annotations

import gzip
import json
from pathlib import Path

import pytest

from tuneguard.config.load import read_source, validate_config
from tuneguard.config.schema import DataConfig
from tuneguard.data.formats import detect_format, to_examples
from tuneguard.data.load import DataError, Row, read_rows


def _cfg(**kw: object) -> DataConfig:
    raw, _ = read_source("tiny")
    raw["data"].update(kw)
    return validate_config(raw).data


def _rows(*records: dict) -> list[Row]:
    return [Row(r, "train.jsonl", i) for i, r in enumerate(records, start=1)]


def _convert(*records: dict, **cfg: object) -> tuple[str, list[tuple[str, str]], list[str]]:
    cfg_ = _cfg(**cfg)
    rows = _rows(*records)
    fmt = detect_format(rows, cfg_)
    examples, problems = to_examples(rows, fmt, cfg_)
    return fmt, [(e.prompt, e.response) for e in examples], [str(p) for p in problems]


def test_sharegpt_conversations_read_as_the_same_chat_as_openai_messages() -> None:
    sharegpt = {"conversations": [{"from": "system", "value": "Be brief."}, {"from": "human", "value": "Hi?"},
                                  {"from": "gpt", "value": "Hello."}, {"from": "human", "value": "Name?"},
                                  {"from": "gpt", "value": "Tuneguard."}]}
    openai = {"messages": [{"role": "system", "content": "Be brief."}, {"role": "user", "content": "Hi?"},
                           {"role": "assistant", "content": [{"type": "text", "text": "Hel"}, {"type": "text", "text": "lo."}]},
                           {"role": "user", "content": "Name?"}, {"role": "assistant", "content": "Tuneguard."}]}
    want = ("<|system|>\nBe brief.\n<|user|>\nHi?\n<|assistant|>\nHello.\n<|user|>\nName?\n<|assistant|>\n", "Tuneguard.")
    assert _convert(sharegpt) == ("chat", [want], [])
    assert _convert(openai) == ("chat", [want], [])
    # LLaMA-Factory's ShareGPT keeps the system prompt beside the turns.
    top_system = {"system": "Be brief.", "conversations": sharegpt["conversations"][1:]}
    assert _convert(top_system) == ("chat", [want], [])


def test_sharegpt_faults_name_sharegpt_fields() -> None:
    _, _, problems = _convert({"conversations": [{"from": "human", "value": "Hi"}, {"from": "bot", "value": "Yo"}]},
                              {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": None}]},
                              {"conversations": [{"from": "gpt", "value": "Hi"}, {"from": "human", "value": "Yo"}]},
                              {"conversations": [{"from": "human", "value": "Hi"}, {"from": "gpt", "value": " "}]},
                              {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": ""}]})
    assert problems == [
        "train.jsonl:1: message 1 has unknown speaker 'bot' (use human, user, gpt, chatgpt, assistant, system, tool, "
        "observation, function_call)",
        "train.jsonl:2: message 1 must have text 'from' and 'value'",
        "train.jsonl:3: the last message must be the assistant's answer (role 'assistant', ShareGPT 'gpt')",
        "train.jsonl:4: the assistant's answer (message 1) is empty",
        "train.jsonl:5: the assistant's answer (message 1) is empty"]


def test_prompt_completion_rows_keep_the_prompt_as_it_is() -> None:
    fmt, examples, problems = _convert({"prompt": "Q: 2+2?\nA:", "completion": " 4"},
                                       {"prompt": "Q: 3+3?\nA:", "completion": ""})
    assert fmt == "completion"
    assert examples == [("Q: 2+2?\nA:", " 4")]
    assert problems == ["train.jsonl:2: field 'completion' is empty"]


def test_unknown_fields_name_what_the_rows_have_and_how_to_map_them() -> None:
    fmt, examples, problems = _convert({"question": "Why?", "answer": "Because."})
    assert (fmt, examples) == ("instruction", [])
    assert problems == [
        "train.jsonl:1: no 'instruction' and 'output' in the row: rows of 'question', 'answer' read as instructions "
        "with --set data.format=instruction --set data.instruction_field=question --set data.output_field=answer"]
    # Fields of no known shape: the fields seen, the formats known and the keys that map them.
    _, _, problems = _convert({"q": "Why?", "a": "Because."})
    assert problems == [
        "train.jsonl:1: no instruction fields ('instruction', 'output') in the row (found 'q', 'a'): map "
        "yours with data.instruction_field and data.output_field, or set data.format; known formats: "
        "instruction/input/output, prompt/completion, messages, conversations (ShareGPT) or text"]
    # Mapped as the message says, the same rows train.
    mapped = _convert({"question": "Why?", "answer": "Because."}, instruction_field="question", output_field="answer")
    assert mapped == ("instruction", [("### Instruction:\nWhy?\n\n### Response:\n", "Because.")], [])


def test_a_row_of_another_format_in_the_file_is_named_as_such() -> None:
    fmt, examples, problems = _convert(
        {"instruction": "Add 1 and 1.", "input": "", "output": "2"},
        {"messages": [{"role": "user", "content": "Hi"}, {"role": "assistant", "content": "Hello"}]},
        {"text": "Plain text."})
    assert fmt == "instruction" and len(examples) == 1
    assert problems == [
        "train.jsonl:2: a chat row in a file of instruction rows (its fields: 'messages'): one file holds one format; "
        "convert the row or move it to its own file",
        "train.jsonl:3: a text row in a file of instruction rows (its fields: 'text'): one file holds one format; "
        "convert the row or move it to its own file"]


def test_numbers_are_their_text_and_other_non_text_values_are_named() -> None:
    fmt, examples, problems = _convert({"instruction": "Compute 6 * 7.", "input": 0, "output": 42},
                                       {"instruction": "Half of 5?", "output": 2.5},
                                       {"instruction": "Is 3 odd?", "output": True},
                                       {"instruction": "List them.", "output": ["a", "b"]},
                                       {"instruction": "Nothing.", "output": None})
    assert examples == [("### Instruction:\nCompute 6 * 7.\n\n### Input:\n0\n\n### Response:\n", "42"),
                        ("### Instruction:\nHalf of 5?\n\n### Response:\n", "2.5")]
    assert problems == ["train.jsonl:3: field 'output' must be text, got bool",
                        "train.jsonl:4: field 'output' must be text, got list",
                        "train.jsonl:5: field 'output' is null"]


ROWS = [{"instruction": f"Say {i}.", "input": "", "output": f"It is {i}, tab\there."} for i in range(5)]


@pytest.mark.parametrize("name", ["train.jsonl.gz", "train.json.gz", "train.tsv", "train.csv.gz"])
def test_gzipped_and_tab_separated_files_read_like_plain_ones(tmp_path: Path, name: str) -> None:
    import csv
    import io

    if name.startswith("train.json."):
        body = json.dumps(ROWS).encode()
    elif ".jsonl" in name:
        body = "".join(json.dumps(r) + "\n" for r in ROWS).encode()
    else:
        buf = io.StringIO(newline="")
        w = csv.DictWriter(buf, fieldnames=["instruction", "input", "output"],
                           delimiter="\t" if ".tsv" in name else ",")
        w.writeheader()
        w.writerows(ROWS)
        body = buf.getvalue().encode()
    path = tmp_path / name
    path.write_bytes(gzip.compress(body) if name.endswith(".gz") else body)
    loaded = read_rows(str(path))
    assert [r.data for r in loaded.rows] == ROWS and loaded.problems == []


def test_a_broken_gzip_file_is_one_clear_error(tmp_path: Path) -> None:
    path = tmp_path / "train.jsonl.gz"
    path.write_bytes(b'{"instruction": "not compressed", "output": "x"}\n')
    with pytest.raises(DataError, match=r"train.jsonl.gz: not a readable gzip file \(.*\); decompress it or drop "
                                        r"the .gz suffix"):
        read_rows(str(path))


def test_a_saved_dataset_dict_says_which_split_it_reads_and_how_to_use_another(tmp_path: Path, caplog) -> None:
    import datasets

    folder = tmp_path / "ds"
    datasets.DatasetDict({"train": datasets.Dataset.from_list(ROWS[:3]),
                          "validation": datasets.Dataset.from_list(ROWS[3:])}).save_to_disk(str(folder))
    caplog.set_level("INFO", logger="tuneguard.data.load")
    assert [r.data for r in read_rows(str(folder)).rows] == ROWS[:3]
    assert caplog.messages == [f"{folder} is a DatasetDict with splits train, validation; reading 'train'; to use "
                               f"another split, point data.validation_file at {folder / 'validation'}"]
    assert [r.data for r in read_rows(str(folder / "validation")).rows] == ROWS[3:]
