"""Data in the exact shapes real sources export: OpenAI fine-tuning rows (per-message weight,
tool calls, function role, top-level tools), ShareGPT with axolotl's train flags and
conversations that open with an answer, instruction rows of other field names and preference
data (one line with the flags that read them), hub-export folders, shards and glob patterns.
Exact label tensors, exact messages."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from tests.data.test_multiturn import M, _pieces
from tests.helpers.zoo import tokenizer
from tuneguard.config.schema import DataConfig
from tuneguard.data.cache import FORMAT, data_key, key_hash, why_different
from tuneguard.data.formats import detect_format, to_examples
from tuneguard.data.load import DataError, Row, read_rows
from tuneguard.data.pipeline import prepare_data
from tuneguard.data.tokenize import tokenize_examples


def _examples(tok, *records: dict, **cfg: object):
    rows = [Row(r, "f.jsonl", i) for i, r in enumerate(records, start=1)]
    dcfg = DataConfig(**cfg)
    return to_examples(rows, detect_format(rows, dcfg), dcfg, tok)


def _feature(tok, record: dict, **cfg: object) -> dict:
    ex, problems = _examples(tok, record, **cfg)
    assert problems == []
    return tokenize_examples(tok, ex, 256)[0][0]


def _chatml(*turns: tuple[str, str], supervised: set[int]) -> list[tuple[str, bool]]:
    """ChatML pieces of (role, content) turns, the turns at `supervised` targets with their <|im_end|>."""
    pieces: list[tuple[str, bool]] = []
    for i, (role, content) in enumerate(turns):
        last = i == len(turns) - 1
        if i in supervised:
            pieces += [(f"<|im_start|>{role}\n", False), (content + ("" if last else "<|im_end|>"), True)]
            if not last:
                pieces.append(("\n", False))
        else:
            pieces.append((f"<|im_start|>{role}\n{content}<|im_end|>\n", False))
    return pieces


OPENAI = {"messages": [
    {"role": "system", "content": "Be terse."},
    {"role": "user", "content": [{"type": "text", "text": "2+2?"}], "name": "ann"},
    {"role": "assistant", "content": "5", "weight": 0},
    {"role": "user", "content": "Again."},
    {"role": "assistant", "content": "4", "weight": 1}]}


def test_a_weight_0_answer_is_context_and_a_weight_1_answer_a_target() -> None:
    tok = tokenizer("chat")
    feat = _feature(tok, OPENAI)
    want = _pieces(tok, _chatml(("system", "Be terse."), ("user", "2+2?"), ("assistant", "5"), ("user", "Again."),
                              ("assistant", "4"), supervised={4}))
    assert (feat["input_ids"], feat["labels"]) == want
    assert tok.decode([t for t in feat["labels"] if t != M]) == "4<|im_end|>"
    # Without weights both answers are targets: the flag is what masks the first.
    plain = {"messages": [{k: v for k, v in m.items() if k != "weight"} for m in OPENAI["messages"]]}
    assert tok.decode([t for t in _feature(tok, plain)["labels"] if t != M]) == "5<|im_end|>4<|im_end|>"
    # axolotl's flag (message_field_training: train / training) on ShareGPT rows means the same.
    sharegpt = {"system": "Be terse.", "conversations": [
        {"from": "human", "value": "2+2?"}, {"from": "gpt", "value": "5", "train": False},
        {"from": "human", "value": "Again."}, {"from": "gpt", "value": "4", "training": True}]}
    assert _feature(tok, sharegpt)["labels"] == feat["labels"]


def test_a_final_answer_of_weight_0_ends_the_row_at_its_last_trained_answer() -> None:
    """What follows the last trained answer changes no label of a causal LM: the row trains as
    the conversation up to it, and the audit's text checks see that answer as the response."""
    tok = tokenizer("chat")
    tail = {"messages": [*OPENAI["messages"][:3], {**OPENAI["messages"][2], "content": "3", "weight": 1},
                         {"role": "user", "content": "Sure?"}, {"role": "assistant", "content": "4", "weight": 0}]}
    ex, problems = _examples(tok, tail)
    assert problems == [] and ex[0].response == "3"
    feat = tokenize_examples(tok, ex, 256)[0][0]
    want = _pieces(tok, _chatml(("system", "Be terse."), ("user", "2+2?"), ("assistant", "5"), ("assistant", "3"),
                              supervised={3}))
    assert (feat["input_ids"], feat["labels"]) == want
    # The same under chat_turns last, and a row with no trained answer, or a weight that is not 0/1, is named.
    assert _feature(tok, tail, chat_turns="last")["labels"] == want[1]
    none = {"messages": [OPENAI["messages"][1], OPENAI["messages"][2]]}
    half = {"messages": [OPENAI["messages"][1], {**OPENAI["messages"][2], "weight": 0.5}]}
    assert [str(p) for p in _examples(tok, none, half)[1]] == [
        "f.jsonl:1: every assistant message has weight 0: nothing in the row is trained; give the answers to learn "
        "weight 1 (or remove the row)",
        "f.jsonl:2: message 1 has weight 0.5: a per-message weight must be 0 or 1 (false or true)"]


TOOL_CALL = {"id": "c1", "type": "function", "function": {"name": "weather", "arguments": "{\"city\": \"Oslo\"}"}}
TOOLS = [{"type": "function", "function": {"name": "weather", "parameters": {"type": "object"}}}]
TOOL_ROW = {"tools": TOOLS, "messages": [
    {"role": "user", "content": "Oslo?"}, {"role": "assistant", "content": None, "tool_calls": [TOOL_CALL]},
    {"role": "tool", "tool_call_id": "c1", "content": "3 C"}, {"role": "assistant", "content": "3 C in Oslo."}]}


def test_tool_calls_are_targets_as_text_for_a_template_without_tool_support() -> None:
    tok = tokenizer("chat")
    call = '{"name": "weather", "arguments": {"city": "Oslo"}}'
    want = _pieces(tok, _chatml(("user", "Oslo?"), ("assistant", call), ("tool", "3 C"), ("assistant", "3 C in Oslo."),
                              supervised={1, 3}))
    feat = _feature(tok, TOOL_ROW)
    assert (feat["input_ids"], feat["labels"]) == want
    # OpenAI's older shape: function_call, a function message and top-level functions.
    legacy = {"functions": [TOOLS[0]["function"]], "messages": [
        {"role": "user", "content": "Oslo?"}, {"role": "assistant", "function_call": TOOL_CALL["function"]},
        {"role": "function", "name": "weather", "content": "3 C"}, {"role": "assistant", "content": "3 C in Oslo."}]}
    assert _feature(tok, legacy)["labels"] == want[1]


TOOL_TEMPLATE = ("{% if tools %}<|im_start|>system\n{{ tools[0].function.name }}<|im_end|>\n{% endif %}"
                 "{% for m in messages %}<|im_start|>{{ m['role'] }}\n{% if m.tool_calls %}<call>"
                 "{{ m.tool_calls[0].function.name }}</call>{% else %}{{ m['content'] }}{% endif %}<|im_end|>\n"
                 "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def test_a_template_with_tool_support_renders_the_calls_and_the_tools_itself() -> None:
    tok = tokenizer("chat")
    tok.chat_template = TOOL_TEMPLATE
    feat = _feature(tok, TOOL_ROW)
    want = _pieces(tok, [("<|im_start|>system\nweather<|im_end|>\n", False),
                       *_chatml(("user", "Oslo?"), ("assistant", "<call>weather</call>"), ("tool", "3 C"),
                                ("assistant", "3 C in Oslo."), supervised={1, 3})])
    assert (feat["input_ids"], feat["labels"]) == want


def test_a_conversation_that_opens_with_an_answer_trains_it_too() -> None:
    tok = tokenizer("chat")
    row = {"conversations": [{"from": "gpt", "value": "Hi, I am Bo."}, {"from": "human", "value": "hi"},
                             {"from": "gpt", "value": "How can I help?"}]}
    ex, problems = _examples(tok, row)
    assert problems == [] and ex[0].fallback == ""
    feat = tokenize_examples(tok, ex, 256)[0][0]
    want = _pieces(tok, _chatml(("assistant", "Hi, I am Bo."), ("user", "hi"), ("assistant", "How can I help?"),
                              supervised={0, 2}))
    assert (feat["input_ids"], feat["labels"]) == want
    # Without a template, the plain rendering does the same.
    plain = tokenize_examples(tokenizer("plain"), _examples(tokenizer("plain"), row)[0], 256)[0][0]
    assert tokenizer("plain").decode([t for t in plain["labels"] if t != M]) == \
        "Hi, I am Bo.\nHow can I help?<|endoftext|>"


@pytest.mark.parametrize(("record", "reason"), [
    ({"instruction": "Sum up.", "context": "A text.", "response": "Short.", "category": "summarization"},
     "no 'output' in the row: rows of 'instruction', 'context', 'response' read as instructions with --set "
     "data.format=instruction --set data.output_field=response --set data.input_field=context"),
    ({"prompt": "Tell me.", "response": "Told."},
     "no 'completion' in the row: rows of 'prompt', 'response' read as instructions with --set "
     "data.format=instruction --set data.instruction_field=prompt --set data.output_field=response"),
    ({"input": "Hola", "output": "Hello"},
     "no 'instruction' in the row: rows of 'input', 'output' read as instructions with --set "
     "data.format=instruction --set data.instruction_field=input"),
    ({"prompt": "p", "chosen": "good", "rejected": "bad"},
     "preference (DPO) data ('chosen' and 'rejected' answers): tuneguard trains one answer per prompt (supervised "
     "fine-tuning); to train on the chosen answers and leave out the rejected ones, --set data.format=completion "
     "--set data.completion_field=chosen (each prompt, used as it is, with its chosen answer)"),
    ({"chosen": [{"role": "user", "content": "p"}, {"role": "assistant", "content": "good"}], "rejected": []},
     "preference (DPO) data ('chosen' and 'rejected' answers): tuneguard trains one answer per prompt (supervised "
     "fine-tuning); to train on the chosen answers and leave out the rejected ones, --set data.format=chat --set "
     "data.messages_field=chosen (the chosen conversations)"),
    ({"chosen": "\n\nHuman: p\n\nAssistant: good", "rejected": "\n\nHuman: p\n\nAssistant: bad"},
     "preference (DPO) data ('chosen' and 'rejected' answers): tuneguard trains one answer per prompt (supervised "
     "fine-tuning); to train on the chosen answers and leave out the rejected ones, --set data.format=text --set "
     "data.text_field=chosen (each chosen text whole, its prompt supervised too)"),
], ids=["dolly", "prompt-response", "input-output", "dpo", "dpo-chat", "hh"])
def test_rows_of_a_known_shape_name_the_flags_that_read_them(record: dict, reason: str,
                                                            request: pytest.FixtureRequest) -> None:
    ex, problems = _examples(None, record)
    assert (ex, [(p.reason, p.kind) for p in problems]) == ([], [(reason, "fields")])
    # The flags read the row, and nothing of it is lost (Dolly's context, the input/output row's input once).
    sets = dict(part.split("=", 1) for part in reason.split("--set data.")[1:])
    ex, problems = _examples(None, record, **{k: v.split(" (")[0].strip() for k, v in sets.items()})
    assert problems == [] and len(ex) == 1
    assert (ex[0].prompt, ex[0].response) == READ_AS[request.node.callspec.id]


# What each row of the test above reads as under the flags its message names.
READ_AS = {"dolly": ("### Instruction:\nSum up.\n\n### Input:\nA text.\n\n### Response:\n", "Short."),
           "prompt-response": ("### Instruction:\nTell me.\n\n### Response:\n", "Told."),
           "input-output": ("### Instruction:\nHola\n\n### Response:\n", "Hello"),
           "dpo": ("p", "good"), "dpo-chat": ("<|user|>\np\n<|assistant|>\n", "good"),
           "hh": ("", "\n\nHuman: p\n\nAssistant: good")}


ALPACA = [{"instruction": f"Say {i}.", "input": "", "output": f"{i}"} for i in range(6)]


def _jsonl(path: Path, rows: list[dict], newline: str = "\n", bom: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes((b"\xef\xbb\xbf" if bom else b"") + "".join(json.dumps(r) + newline for r in rows).encode())
    return path


def test_containers_read_as_the_same_rows(tmp_path: Path) -> None:
    import datasets

    (tmp_path / "array.json").write_text(json.dumps(ALPACA))
    (tmp_path / "wrapped.json").write_text(json.dumps({"version": "1", "data": ALPACA}))
    _jsonl(tmp_path / "excel.jsonl", ALPACA, newline="\r\n", bom=True)
    for k in range(3):
        _jsonl(tmp_path / "shards" / f"part-{k:05d}.jsonl", ALPACA[2 * k: 2 * k + 2])
    hub = tmp_path / "hub" / "data"
    hub.mkdir(parents=True)
    datasets.Dataset.from_list(ALPACA[:3]).to_parquet(str(hub / "train-00000-of-00002.parquet"))
    datasets.Dataset.from_list(ALPACA[3:]).to_parquet(str(hub / "train-00001-of-00002.parquet"))
    datasets.Dataset.from_list(ALPACA[:1]).to_parquet(str(hub / "test-00000-of-00001.parquet"))
    for source in ("array.json", "wrapped.json", "excel.jsonl", "shards", "shards/*.jsonl", "hub"):
        assert [r.data for r in read_rows(str(tmp_path / source)).rows] == ALPACA, source
    # Each row of a shard says where it is.
    assert [(Path(r.file).name, r.line) for r in read_rows(str(tmp_path / "shards" / "*.jsonl")).rows][2:4] == [
        ("part-00001.jsonl", 1), ("part-00001.jsonl", 2)]
    assert [r.data for r in read_rows(str(tmp_path / "hub" / "**" / "test-*.parquet")).rows] == ALPACA[:1]
    with pytest.raises(DataError, match=r"^no data file matches .*/nowhere/\*.jsonl: check data.train_file$"):
        prepare_data(DataConfig(train_file=str(tmp_path / "nowhere" / "*.jsonl")), tokenizer("plain"))


def test_the_cache_key_changes_with_the_way_rows_are_read_and_with_any_shard(tmp_path: Path) -> None:
    tok = tokenizer("plain")
    for k in range(2):
        _jsonl(tmp_path / f"part-{k}.jsonl", ALPACA[3 * k: 3 * k + 3])
    cfg = DataConfig(train_file=str(tmp_path / "part-*.jsonl"))
    key = data_key(cfg, tok)
    old = {**key, "format": FORMAT - 1}
    assert key_hash(old) != key_hash(key)
    assert why_different(old, key) == f"the way rows are read changed (cache format {FORMAT - 1} -> {FORMAT})"
    _jsonl(tmp_path / "part-1.jsonl", ALPACA[3:5])
    assert why_different(key, data_key(cfg, tok)) == f"train file {tmp_path / 'part-*.jsonl'} changed"


def test_fix_cleans_each_file_of_a_folder_and_a_list_and_the_fixed_config_lists_the_copies(tmp_path: Path) -> None:
    import yaml

    from tests.helpers.cli import invoke, tiny_config

    rows = [{"instruction": f"Name the colour of item {i}.", "input": "", "output": f"Item {i} is colour {i * 7}."}
            for i in range(8)]
    part0 = _jsonl(tmp_path / "shards" / "part-0.jsonl", rows[:3])
    part0.write_bytes(part0.read_bytes() + b'{"instruction": "cut off\n')  # line 4: malformed
    _jsonl(tmp_path / "shards" / "part-1.jsonl", [rows[3], rows[0], rows[4]])  # line 2: a copy of part-0.jsonl:1
    _jsonl(tmp_path / "val-a.jsonl", [rows[1], rows[5]])  # line 1 repeats a training row
    _jsonl(tmp_path / "val-b.jsonl", [rows[2]])  # nothing left: no copy
    cfg = tiny_config(tmp_path, tmp_path / "shards", data={"validation_file": [str(tmp_path / "val-a.jsonl"),
                                                                               str(tmp_path / "val-b.jsonl")]})
    out = tmp_path / "fixed"
    r = invoke("fix", str(cfg), "--out", str(out))
    assert r.returncode == 0, r.stderr
    assert sorted(p.name for p in out.iterdir()) == ["config.yaml", "fix-report.md", "part-0.jsonl", "part-1.jsonl",
                                                     "val-a.jsonl"]
    assert out.joinpath("part-0.jsonl").read_bytes() == "".join(json.dumps(r) + "\n" for r in rows[:3]).encode()
    assert out.joinpath("part-1.jsonl").read_bytes() == "".join(json.dumps(r) + "\n" for r in rows[3:5]).encode()
    assert out.joinpath("val-a.jsonl").read_bytes() == (json.dumps(rows[5]) + "\n").encode()
    data = yaml.safe_load(out.joinpath("config.yaml").read_text())["data"]
    assert (data["train_file"], data["validation_file"]) == (["part-0.jsonl", "part-1.jsonl"], "val-a.jsonl")
    report = out.joinpath("fix-report.md").read_text()
    assert "| `part-0.jsonl:1` | `part-1.jsonl:2` |" in report and "| `part-0.jsonl:4` | invalid JSON" in report
    assert "| `val-a.jsonl:1` | `part-0.jsonl:2` | exact |" in report and "| `val-b.jsonl:1` | `part-0.jsonl:3` | exact |" in report
    after = json.loads(invoke("audit", str(out / "config.yaml"), "--json").stdout)["findings"]
    assert {"DUPLICATE_EXACT", "TRAIN_VAL_LEAKAGE", "MALFORMED_ROWS"}.isdisjoint(f["code"] for f in after)
    # The fixed config is a list source like any other: fix runs on it again (nothing left to remove),
    # and a glob pattern source is fixed the same way.
    r = invoke("fix", str(out / "config.yaml"), "--out", str(tmp_path / "again"))
    assert r.returncode == 0, r.stderr
    assert yaml.safe_load((tmp_path / "again" / "config.yaml").read_text())["data"]["train_file"] == [
        "part-0.jsonl", "part-1.jsonl"]
    assert (tmp_path / "again" / "part-1.jsonl").read_bytes() == out.joinpath("part-1.jsonl").read_bytes()
    cfg = tiny_config(tmp_path, tmp_path / "shards" / "part-*.jsonl")
    r = invoke("fix", str(cfg), "--out", str(tmp_path / "globbed"))
    assert r.returncode == 0, r.stderr
    assert (tmp_path / "globbed" / "part-1.jsonl").read_bytes() == out.joinpath("part-1.jsonl").read_bytes()


def test_a_parquet_chat_export_reads_its_flags_and_tool_calls_as_the_jsonl_does(tmp_path: Path) -> None:
    """Arrow gives every message every key another has (weight: None on a user message,
    tool_calls: None on a plain answer): None is no flag and no call."""
    import datasets

    tok = tokenizer("chat")
    said = {**TOOL_ROW["messages"][1], "content": "Let me look."}
    # (A column holds one type: the user's content as text here, not as parts.)
    weighted = {"messages": [{**m, "content": "2+2?"} if m["role"] == "user" and m.get("name") else m
                             for m in OPENAI["messages"]]}
    rows = [weighted, {"messages": [TOOL_ROW["messages"][0], said, *TOOL_ROW["messages"][2:]]}]
    datasets.Dataset.from_list(rows).to_parquet(str(tmp_path / "train-00000-of-00001.parquet"))
    loaded = read_rows(str(tmp_path / "train-00000-of-00001.parquet")).rows
    assert loaded[0].data["messages"][0]["weight"] is None
    got = [_feature(tok, r.data)["labels"] for r in loaded]
    assert got[0] == _feature(tok, OPENAI)["labels"]
    # Text and a call in one turn: both are the target, the call after the text.
    call = '{"name": "weather", "arguments": {"city": "Oslo"}}'
    assert tok.decode([t for t in got[1] if t != M]) == f"Let me look.\n{call}<|im_end|>3 C in Oslo.<|im_end|>"
    image = {"messages": [{"role": "user", "content": [{"type": "text", "text": "What is it?"},
                                                       {"type": "image_url", "image_url": {"url": "x.png"}}]},
                          {"role": "assistant", "content": "A cat."}]}
    assert [str(p) for p in _examples(tok, image)[1]] == [
        "f.jsonl:1: message 0 content holds parts other than text (image_url): tuneguard trains on text; drop those "
        "parts or the row"]


def test_an_openassistant_message_tree_is_not_read_as_plain_text() -> None:
    tree = [{"message_id": "m1", "parent_id": None, "role": "prompter", "text": "Hi?", "lang": "en"},
            {"message_id": "m2", "parent_id": "m1", "role": "assistant", "text": "Hello.", "lang": "en"}]
    ex, problems = _examples(None, *tree)
    assert ex == [] and {p.reason for p in problems} == {
        "one message of an OpenAssistant message tree (message_id, parent_id, role 'prompter' or 'assistant'): read "
        "as text, every prompt would be trained as an answer; build conversations from the tree first (one row of "
        "messages per path from a root) and train those as chat rows"}
    # A text row that merely has a role field stays text.
    assert _examples(None, {"text": "Plain.", "role": "assistant"})[0][0].response == "Plain."


def test_llama_factory_alpaca_history_is_named_not_dropped() -> None:
    rows = [{"instruction": "And 3?", "input": "", "output": "9", "system": "Square it.",
             "history": [["2?", "4"]]},
            {"instruction": "2?", "input": "", "output": "4", "history": []}]
    ex, problems = _examples(None, *rows)
    assert [e.response for e in ex] == ["4"]
    assert [str(p) for p in problems] == [
        "f.jsonl:1: field 'history' holds 1 earlier turn(s) (LLaMA-Factory's alpaca), which an instruction row "
        "cannot hold: write such rows as chat rows ({\"messages\": [...]}) to train every turn, or remove 'history'"]


def test_a_list_of_files_is_one_source_whose_rows_keep_their_own_file_and_line(tmp_path: Path,
                                                                               monkeypatch: pytest.MonkeyPatch) -> None:
    from tests.helpers.cli import invoke

    _jsonl(tmp_path / "train-a.jsonl", ALPACA[:3])
    _jsonl(tmp_path / "train-b.jsonl", [ALPACA[3], ALPACA[0], ALPACA[4]])
    _jsonl(tmp_path / "val.jsonl", ALPACA[5:])
    monkeypatch.chdir(tmp_path)
    r = invoke("audit", "tiny", "--set", "data.train_file=[train-a.jsonl, train-b.jsonl]",
               "--set", "data.validation_file=val.jsonl", "--json")
    assert r.returncode == 1, r.stderr
    dup = next(f for f in json.loads(r.stdout)["findings"] if f["code"] == "DUPLICATE_EXACT")
    assert dup["evidence"]["largest_groups"][0]["rows"] == ["train-a.jsonl:1", "train-b.jsonl:2"]
    assert dup["evidence"]["rows"] == 6
    # In a config file the list's paths are relative to the file, like one path.
    sub = tmp_path / "cfg"
    sub.mkdir()
    (sub / "c.yaml").write_text("preset: tiny\ndata:\n  train_file: [../train-a.jsonl, ../train-b.jsonl]\n")
    from tuneguard.config.load import load_config

    cfg = load_config(str(sub / "c.yaml")).data
    assert cfg.train_file == [str(sub / "../train-a.jsonl"), str(sub / "../train-b.jsonl")]
    assert [(Path(x.file).name, x.line) for x in read_rows(cfg.train_file).rows] == [
        ("train-a.jsonl", 1), ("train-a.jsonl", 2), ("train-a.jsonl", 3),
        ("train-b.jsonl", 1), ("train-b.jsonl", 2), ("train-b.jsonl", 3)]
    # The cache key covers every file of the list.
    tok = tokenizer("plain")
    key = data_key(cfg, tok)
    _jsonl(tmp_path / "train-b.jsonl", ALPACA[3:5])
    assert why_different(key, data_key(cfg, tok)) == f"train file {tmp_path / 'train-b.jsonl'} changed"
    # A one-element list is that path; an empty list or an empty element is named.
    assert DataConfig(train_file=["x.jsonl"]).train_file == "x.jsonl"
    r = invoke("audit", "tiny", "--set", "data.train_file=[train-a.jsonl, '']")
    assert (r.returncode, r.stderr.strip().splitlines()[-1]) == (2, (
        "error: invalid config: data.train_file value error, a list of data files must name at least one file, none "
        "of them empty, got ['train-a.jsonl', '']"))
    r = invoke("audit", "tiny", "--set", "data.train_file=[train-a.jsonl, missing.jsonl]")
    assert r.returncode == 2 and r.stderr.strip().splitlines()[-1].startswith(
        "error: data file missing.jsonl does not exist (looked for ")


def test_a_folder_with_brackets_in_its_name_is_part_of_a_pattern_as_it_is(tmp_path: Path) -> None:
    _jsonl(tmp_path / "[2024]" / "train-0.jsonl", ALPACA[:2])
    _jsonl(tmp_path / "[2024]" / "train-1.jsonl", ALPACA[2:4])
    _jsonl(tmp_path / "2" / "train-0.jsonl", ALPACA[4:])  # what glob's [2024] (one of 2, 0, 4) would match
    pattern = str(tmp_path / "[2024]" / "train-*.jsonl")
    assert [(Path(r.file).name, r.data) for r in read_rows(pattern).rows] == [
        ("train-0.jsonl", ALPACA[0]), ("train-0.jsonl", ALPACA[1]), ("train-1.jsonl", ALPACA[2]),
        ("train-1.jsonl", ALPACA[3])]
    assert [len(s.examples) for s in (prepare_data(DataConfig(train_file=pattern, test_size=0.25), tokenizer("plain"),
                                                   tokenize=False).train,)] == [3]


def test_llama_factory_alpaca_system_is_a_masked_prompt_before_the_instruction_or_in_its_place() -> None:
    tok = tokenizer("plain")
    row = {"instruction": "Square 3.", "input": "", "output": "9", "system": "Answer with a number."}
    feat = _feature(tok, row)
    assert (feat["input_ids"], feat["labels"]) == _pieces(
        tok, [("Answer with a number.\n\n### Instruction:\nSquare 3.\n\n### Response:\n", False), ("9", True)])
    # A template with {system} places it there; rows without one leave it empty.
    templ = {"prompt_template": "<<SYS>>{system}<</SYS>>\n{instruction}\n", "system_field": "sys"}
    feat = _feature(tok, {"instruction": "Square 3.", "output": "9", "sys": "Be brief."}, **templ)
    assert (feat["input_ids"], feat["labels"]) == _pieces(tok, [("<<SYS>>Be brief.<</SYS>>\nSquare 3.\n", False),
                                                               ("9", True)])
    assert _examples(tok, {"instruction": "Square 3.", "output": "9"}, **templ)[0][0].prompt == (
        "<<SYS>><</SYS>>\nSquare 3.\n")
    # An empty system adds nothing; one that is not text is a malformed row.
    assert _examples(tok, {**row, "system": " "})[0][0].prompt == "### Instruction:\nSquare 3.\n\n### Response:\n"
    assert [str(p) for p in _examples(tok, {**row, "system": ["a"]})[1]] == [
        "f.jsonl:1: field 'system' must be text, got list"]
