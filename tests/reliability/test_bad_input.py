"""Bad input never crashes with a traceback.

Property-based tests throw generated JSONL / JSON / CSV files (wrong types, huge strings,
control characters, lone surrogates, deep nesting, empty files, BOMs, mixed encodings) at
the data loader (`prepare_data`) and the audit (`run_audit`): each either succeeds or
raises `DataError` with a message that names the file. Hostile configs and paths go
through the real CLI: each ends with exit 2 and an `error:` line, never a traceback.
"""

from __future__ import annotations

import codecs
import copy
import csv
import io
import json
import os
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from tests.helpers.cli import cli
from tuneguard.audit import run_audit
from tuneguard.config.load import read_source, validate_config
from tuneguard.data.load import DataError
from tuneguard.data.pipeline import prepare_data
from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token

SETTINGS = settings(max_examples=150, deadline=None, derandomize=True,
                    suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large,
                                           HealthCheck.function_scoped_fixture])
KEYS = ("instruction", "output", "input", "text", "messages", "role", "content", "", "\x00", "🙂")


@pytest.fixture(scope="module")
def tokenizer() -> Any:
    tok = build_tiny_tokenizer()
    setup_pad_token(tok, "auto")
    return tok


# --- generators --------------------------------------------------------------------------

texts = st.one_of(
    st.text(max_size=40),
    st.text(alphabet=st.characters(codec="utf-8", categories=["Cc", "Cf", "Zs", "Zl", "Zp"]), max_size=30),
    st.sampled_from(["\ud800", "a\udfffb", "\x00", "\ufeff", "\u202e", "{instruction}", "{", "}{0}", "%s"]),
    st.integers(min_value=1, max_value=300_000).map(lambda n: "x" * n),  # huge strings
)
scalars = st.one_of(st.none(), st.booleans(), st.integers(), st.floats(allow_nan=True, allow_infinity=True),
                    st.integers(min_value=2**64, max_value=2**200), texts)
json_values = st.recursive(scalars, lambda kids: st.one_of(
    st.lists(kids, max_size=4), st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), kids, max_size=4)),
    max_leaves=12)
messages = st.lists(st.fixed_dictionaries({"role": st.sampled_from(["user", "assistant", "system", "tool", "x", 3]),
                                           "content": texts | json_values}), max_size=4)
rows = st.one_of(
    st.fixed_dictionaries({"instruction": texts | json_values, "output": texts | json_values},
                          optional={"input": texts | json_values}),
    st.fixed_dictionaries({"text": texts | json_values}),
    st.fixed_dictionaries({"messages": messages | json_values}),
    st.dictionaries(st.sampled_from(KEYS) | st.text(max_size=8), json_values, max_size=5),
    json_values,
)
GOOD = [{"instruction": f"Add {i} and {i + 1}.", "output": f"The sum is {2 * i + 1}."} for i in range(30)]


def _deep(n: int) -> bytes:
    return b'{"instruction": ' + b"[" * n + b"]" * n + b', "output": "x"}'


raw_lines = st.one_of(
    rows.map(lambda r: json.dumps(r, ensure_ascii=False).encode("utf-8", "surrogatepass")),
    rows.map(lambda r: json.dumps(r).encode()),
    st.binary(max_size=60),
    st.sampled_from([b"\xef\xbb\xbf", b"\xff\xfe{\x00}\x00", b"\x00" * 10, b"{", b"[]", b"null", b"\"str\"",
                     b"1e999", b"{\"output\": NaN, \"instruction\": Infinity}", b"\r", b"\x1a",
                     "{\"instruction\": \"caf\u00e9\", \"output\": \"ok\"}".encode("latin-1"),
                     "{\"instruction\": \"\u0e2a\u0e27\u0e31\u0e2a\u0e14\u0e35\", \"output\": \"x\"}".encode("utf-16")]),
    st.integers(min_value=10, max_value=200_000).map(_deep),
)


# Rows of the right shape whose text is hostile: these reach tokenization and the audit.
hostile_rows = st.one_of(
    st.fixed_dictionaries({"instruction": texts, "output": texts}, optional={"input": texts}),
    st.fixed_dictionaries({"text": texts}),
    st.fixed_dictionaries({"messages": st.lists(st.fixed_dictionaries({
        "role": st.sampled_from(["user", "system"]), "content": texts}), max_size=2).map(
        lambda m: m + [{"role": "assistant", "content": "ok"}])}),
).map(lambda r: json.dumps(r).encode())


@st.composite
def jsonl_files(draw: st.DrawFn) -> bytes:
    lines = draw(st.lists(raw_lines, max_size=12))
    if draw(st.booleans()):  # mixed with good and hostile-but-valid rows: often a usable file
        lines += [json.dumps(r).encode() for r in GOOD[: draw(st.integers(0, 30))]]
        lines += draw(st.lists(hostile_rows, max_size=20))
        lines = draw(st.permutations(lines))
    sep = draw(st.sampled_from([b"\n", b"\r\n", b"\r", b"\n\n"]))
    prefix = draw(st.sampled_from([b"", b"\xef\xbb\xbf", codecs.BOM_UTF16_LE, b"\xef\xbb\xbf\xef\xbb\xbf"]))
    return prefix + sep.join(lines)


def _csv_text(header: list[str], body: list[list[str]]) -> str:
    buf = io.StringIO()
    w = csv.writer(buf)
    w.writerow(header)
    w.writerows(body)
    return buf.getvalue()


@st.composite
def csv_files(draw: st.DrawFn) -> bytes:
    header = draw(st.lists(st.sampled_from(["instruction", "output", "input", "text", "messages", "", "x"]),
                           min_size=0, max_size=4))
    cell = st.text(max_size=30) | st.sampled_from(["\x00", "\"", "a,b", "\n", "\r\n", "\ufeff"]) | \
        st.integers(1, 200_000).map(lambda n: "y" * n)
    body = draw(st.lists(st.lists(cell, max_size=6), max_size=10))
    good = draw(st.integers(0, 30))
    if good and header[:2] == ["instruction", "output"]:
        body = [[g["instruction"], g["output"]] for g in GOOD[:good]] + body
    text = _csv_text(header, body) if header else "\n".join(",".join(r) for r in body)
    enc = draw(st.sampled_from(["utf-8", "utf-8-sig", "latin-1", "utf-16", "mixed"]))
    if enc == "mixed":
        return text.encode("utf-8", "surrogatepass") + "\nrésumé,naïve\n".encode("latin-1")
    return text.encode(enc, "replace")


# --- the properties ------------------------------------------------------------------------

def _config(tmp: Path, train: Path, fmt: str = "auto") -> Any:
    raw, _ = read_source("tiny")
    raw["data"].update(train_file=str(train), format=fmt, max_malformed_fraction=0.5)
    return validate_config(raw)


def _load_and_audit(cfg: Any, tokenizer: Any) -> None:
    """Either both succeed or a DataError with a message that names the data."""
    try:
        data = prepare_data(cfg.data, copy.deepcopy(tokenizer))
    except DataError as exc:
        msg = str(exc)
        assert msg and "Traceback" not in msg
        assert "train" in msg or "rows" in msg or "validation" in msg, msg
        return
    result = run_audit(cfg, data, tokenizer)
    assert isinstance(result.findings, list)
    json.dumps(result.to_json(), default=str)  # the audit's --json output must serialise


@SETTINGS
@given(content=jsonl_files(), fmt=st.sampled_from(["auto", "instruction", "text", "chat"]))
def test_generated_jsonl_loads_or_raises_data_error(tmp_path: Path, tokenizer: Any, content: bytes, fmt: str) -> None:
    path = tmp_path / "train.jsonl"
    path.write_bytes(content)
    _load_and_audit(_config(tmp_path, path, fmt), tokenizer)


@SETTINGS
@given(content=jsonl_files())
def test_generated_json_document_loads_or_raises_data_error(tmp_path: Path, tokenizer: Any, content: bytes) -> None:
    path = tmp_path / "train.json"
    path.write_bytes(content)
    _load_and_audit(_config(tmp_path, path), tokenizer)


@SETTINGS
@given(content=csv_files(), fmt=st.sampled_from(["auto", "instruction", "text"]))
def test_generated_csv_loads_or_raises_data_error(tmp_path: Path, tokenizer: Any, content: bytes, fmt: str) -> None:
    path = tmp_path / "train.csv"
    path.write_bytes(content)
    _load_and_audit(_config(tmp_path, path, fmt), tokenizer)


@pytest.mark.parametrize("content", [b"", b"\n\n\n", b"\xef\xbb\xbf", b"   \t  \n", b"\xef\xbb\xbf\n"])
@pytest.mark.parametrize("suffix", [".jsonl", ".json", ".csv"])
def test_empty_files_give_a_clear_error(tmp_path: Path, tokenizer: Any, content: bytes, suffix: str) -> None:
    path = tmp_path / f"train{suffix}"
    path.write_bytes(content)
    with pytest.raises(DataError, match="no usable training rows|malformed|no validation rows"):
        prepare_data(_config(tmp_path, path).data, copy.deepcopy(tokenizer))


# --- hostile configs and paths through the CLI ---------------------------------------------

BILLION_LAUGHS = "a: &a [x, x, x, x, x, x, x, x, x]\n" + "".join(
    f"{c}: &{c} [*{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}, *{p}]\n" for p, c in zip("abcdefgh", "bcdefghi", strict=False))


def _bad_configs(tmp: Path, train: Path) -> dict[str, tuple[str, str]]:
    """name -> (config argument, a phrase the error must contain)."""
    fifo = tmp / "fifo.jsonl"
    os.mkfifo(fifo)
    (tmp / "loop1.jsonl").symlink_to(tmp / "loop2.jsonl")
    (tmp / "loop2.jsonl").symlink_to(tmp / "loop1.jsonl")
    (tmp / "zero.jsonl").symlink_to("/dev/zero")
    (tmp / "adir").mkdir()
    files = {
        "python_object": (f"model: !!python/object/apply:os.system ['touch {tmp / 'pwned'}']\n",
                          "!!python/object are not allowed"),
        "python_name": ("train: !!python/name:os.system\n", "!!python/object are not allowed"),
        "alias_bomb": (BILLION_LAUGHS, "aliases"),
        "wrong_section_type": ("train: 5\n", "train input should be a valid dictionary"),
        "wrong_value_types": ("train: {learning_rate: abc, max_steps: [1]}\n", "train.learning_rate"),
        "unknown_key": ("preset: tiny\ntrain: {learning_rte: 0.1}\n", "did you mean train.learning_rate"),
        "top_level_list": ("- model\n- data\n", "must be a mapping of sections"),
        "not_utf8": (b"model:\n  name: caf\xe9\n", "cannot read"),
        "huge": ("# " + "x" * 1_100_000 + "\n", "larger than"),
        "data_is_dir": (f"preset: tiny\ndata: {{train_file: {tmp / 'adir'}}}\n", "not a saved Hugging Face dataset"),
        "data_fifo": (f"preset: tiny\ndata: {{train_file: {fifo}}}\n", "not a regular file"),
        "data_dev_zero": (f"preset: tiny\ndata: {{train_file: {tmp / 'zero.jsonl'}}}\n", "not a regular file"),
        "data_symlink_loop": (f"preset: tiny\ndata: {{train_file: {tmp / 'loop1.jsonl'}}}\n", "leads nowhere"),
        "data_missing": (f"preset: tiny\ndata: {{train_file: {tmp / 'nope.jsonl'}}}\n", "does not exist"),
        "validation_is_dev_null": (f"preset: tiny\ndata: {{train_file: {train}, validation_file: /dev/null}}\n",
                                   "not a regular file"),
    }
    out: dict[str, tuple[str, str]] = {}
    for name, (content, phrase) in files.items():
        p = tmp / f"{name}.yaml"
        p.write_bytes(content if isinstance(content, bytes) else content.encode())
        out[name] = (str(p), phrase)
    out["config_is_fifo"] = (str(fifo), "not a regular file")
    out["config_is_dev_zero"] = ("/dev/zero", "not a regular file")
    out["config_is_dir"] = (str(tmp / "adir"), "is a directory")
    return out


def _one_error(r: Any, phrase: str) -> None:
    text = r.stdout + r.stderr
    assert r.returncode == 2, text
    assert "Traceback" not in text, text
    assert text.lstrip().startswith("error:"), text
    assert phrase in text, (phrase, text)


def test_hostile_configs_and_paths_exit_2_with_one_error(tmp_path: Path, train_file: Path, inproc_cli: Any) -> None:
    cases = _bad_configs(tmp_path, train_file)
    for arg, phrase in cases.values():
        _one_error(inproc_cli("audit", arg), phrase)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.slow
def test_train_refuses_hostile_configs_with_exit_2(tmp_path: Path, train_file: Path) -> None:
    """The real process: `train` reads configs and data the same way, before any model loads."""
    cases = _bad_configs(tmp_path, train_file)
    for name in ("python_object", "data_fifo"):
        arg, phrase = cases[name]
        _one_error(cli("train", arg, "--run-dir", str(tmp_path / f"run-{name}"), timeout=300), phrase)
    assert not (tmp_path / "pwned").exists()


@pytest.mark.parametrize("override, phrase", [
    ("model.name=!!python/object/apply:os.system [touch /tmp/tuneguard-pwned]", "!!python/object are not allowed"),
    ("train.max_steps=*x", "not valid YAML"),
    ("train.learning_rate=[1, 2]", "train.learning_rate"),
    ("nosection=1", "must name a section"),
])
def test_hostile_set_overrides_exit_2(override: str, phrase: str, inproc_cli: Any) -> None:
    _one_error(inproc_cli("audit", "tiny", "--set", override), phrase)
    assert not Path("/tmp/tuneguard-pwned").exists()
