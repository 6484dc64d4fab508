"""Turn raw rows into (prompt, response) examples: plain text, instruction (Alpaca),
completion (prompt/completion), chat (OpenAI messages or ShareGPT conversations).

The format is detected from the first rows' fields unless `data.format` names it. A row
with missing or wrongly typed fields, or of another format than the file's, becomes a
`RowProblem` (file, line, reason), never an exception.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from tuneguard.catalog import say
from tuneguard.config.schema import DataConfig
from tuneguard.data.load import Row, RowProblem
from tuneguard.data.messages import EXTRA_KEYS, SHAREGPT_FIELD, Chat, invalid_unicode, read_chat
from tuneguard.data.shapes import shape_hint
from tuneguard.fmt import is_finite

# Longer than any context window (about 250,000 tokens), and a tokenizer takes seconds per
# such row and gigabytes for a 50 MB one: a row this long is a fault of the file (a dump
# without newlines), reported with its line, never tokenized.
MAX_ROW_CHARS = 1_000_000


@dataclasses.dataclass
class Example:
    """One training example: the prompt (not supervised) and the response (supervised).

    For plain-text rows the prompt is empty and the whole text is the response. A chat row
    is its conversation up to the last assistant message (the prompt) and that message (the
    response), which is what generation, the QA probes and the audit's text checks compare;
    under data.chat_turns all, `segments` also says which pieces of the prompt are earlier
    assistant turns, which are supervised too.
    """

    prompt: str
    response: str
    file: str
    line: int | None
    # prompt + response as (text, supervised) pieces in order, the last piece the response; empty
    # for every example whose prompt is all masked (every row but multi-turn chats under chat_turns all).
    segments: tuple[tuple[str, bool], ...] = ()
    # Why a multi-turn chat row supervises only its last answer under chat_turns all ("" when not so).
    fallback: str = ""

    @property
    def where(self) -> str:
        return f"{self.file}:{self.line}" if self.line is not None else self.file


KNOWN_FORMATS = "instruction/input/output, prompt/completion, messages, conversations (ShareGPT) or text"


def format_fields(fmt: str, cfg: DataConfig) -> tuple[str, ...]:
    """The fields that mark a row as being of format `fmt`."""
    return {"chat": (cfg.messages_field, SHAREGPT_FIELD), "instruction": (cfg.instruction_field, cfg.output_field),
            "completion": (cfg.prompt_field, cfg.completion_field), "text": (cfg.text_field,)}[fmt]


def row_format(data: dict[str, Any], cfg: DataConfig) -> str | None:
    """The format whose fields this row has (chat first: a chat row may carry other fields too)."""
    for fmt in ("chat", "instruction", "completion", "text"):
        if any(k in data for k in format_fields(fmt, cfg)):
            return fmt
    return None


def detect_format(rows: list[Row], cfg: DataConfig) -> str:
    """`data.format`, or the format of the first of the first 50 rows that has a known one;
    instruction when none has (each row then says which fields it lacks and which it has)."""
    if cfg.format != "auto":
        return cfg.format
    for r in rows[:50]:
        fmt = row_format(r.data, cfg)
        if fmt:
            return fmt
    return "instruction"


MAX_KEYS_NAMED = 6


def _missing(row: Row, name: str, key: str) -> str:
    """Why a required field is missing, with the row's own field names: a file of
    {"question", "answer"} rows, or a typo such as "instrucion", is then fixed from the
    message alone (data.instruction_field=question) instead of read line by line."""
    if name in row.data:
        return f"field {name!r} is null"
    have = [k for k in row.data if isinstance(k, str)]
    if not have:
        return f"missing field {name!r} (the row has no fields)"
    listed = ", ".join(repr(k) for k in have[:MAX_KEYS_NAMED]) + (", ..." if len(have) > MAX_KEYS_NAMED else "")
    return f"missing field {name!r} (found {listed}: set {key} to the field that holds it)"


def _keys(row: Row) -> str:
    have = [k for k in row.data if isinstance(k, str)]
    return ", ".join(repr(k) for k in have[:MAX_KEYS_NAMED]) + (", ..." if len(have) > MAX_KEYS_NAMED else "")


MAP_KEYS = {"instruction": "data.instruction_field and data.output_field",
            "completion": "data.prompt_field and data.completion_field", "text": "data.text_field",
            "chat": "data.messages_field"}


def _wrong_format(row: Row, fmt: str, cfg: DataConfig) -> str | None:
    """Why a row holds none of the fields of the file's format, or None when it has some:
    a row of another known format in the same file, or fields no format knows (a file of
    {"question", "answer"} rows), said with the fields it has and the keys that map them."""
    want = format_fields(fmt, cfg)
    if any(k in row.data for k in want):
        return None
    other = row_format(row.data, cfg)
    if other:
        return (f"a {other} row in a file of {fmt} rows (its fields: {_keys(row)}): one file holds one format; "
                f"convert the row or move it to its own file")
    if not _keys(row):
        return "the row has no fields"
    return (f"no {fmt} fields ({', '.join(map(repr, want))}) in the row (found {_keys(row)}): map yours with "
            f"{MAP_KEYS[fmt]}, or set data.format; known formats: {KNOWN_FORMATS}")


def _str_field(row: Row, name: str, required: bool, key: str = "") -> tuple[str | None, str | None]:
    if name not in row.data or row.data[name] is None:
        return None, (_missing(row, name, key) if required else None)
    v = row.data[name]
    if is_finite(v):
        # A number is its text: math answers ("output": 42) and label ids are data, not faults.
        v = str(v)
    if not isinstance(v, str):
        return None, f"field {name!r} must be text, got {type(v).__name__}"
    bad = invalid_unicode(v)
    if bad:
        return None, f"field {name!r} {bad}"
    if required and not v.strip():
        return None, f"field {name!r} is empty"
    return v, None


def render_chat_plain(messages: list[dict[str, str]]) -> str:
    return "".join(f"<|{m['role']}|>\n{m['content']}\n" for m in messages)


def prompt_mode(tokenizer: Any, cfg: DataConfig, data_format: str | None) -> str:
    """How a prompt is put in the format the run trained on: "chat_template", "chat_plain"
    (`render_chat_plain`), "prompt_template" (`cfg.prompt_template`) or "raw" (plain text and
    prompt/completion rows); an unknown format: the chat template where the tokenizer has one."""
    has_template = bool(getattr(tokenizer, "chat_template", None))
    if data_format == "chat":
        return "chat_template" if has_template and cfg.use_chat_template else "chat_plain"
    if data_format in ("text", "completion"):
        return "raw"
    if data_format == "instruction":
        return "prompt_template"
    return "chat_template" if has_template else "prompt_template"


def to_examples(rows: list[Row], fmt: str, cfg: DataConfig, tokenizer: Any = None) -> tuple[list[Example], list[RowProblem]]:
    """Convert rows to examples; rows that cannot be used are returned as problems."""
    out: list[Example] = []
    problems: list[RowProblem] = []
    has_template = bool(tokenizer is not None and getattr(tokenizer, "chat_template", None)) and cfg.use_chat_template
    for row in rows:
        wrong = shape_hint(row.data, fmt, cfg) or _wrong_format(row, fmt, cfg)
        if wrong:
            problems.append(RowProblem(row.file, row.line, wrong, kind="fields"))
            continue
        try:
            ex, err = _convert(row, fmt, cfg, tokenizer if has_template else None)
        except Exception as exc:  # noqa: BLE001 - a chat template can raise anything on odd input
            ex, err = None, f"cannot render row ({type(exc).__name__}: {str(exc)[:200]})"
        if ex is not None and len(ex.prompt) + len(ex.response) > MAX_ROW_CHARS:
            ex, err = None, say("input.row_too_long", chars=len(ex.prompt) + len(ex.response), limit=MAX_ROW_CHARS)
        if err:
            problems.append(RowProblem(row.file, row.line, err))
        elif ex is not None:
            out.append(ex)
    return out, problems


def _convert(row: Row, fmt: str, cfg: DataConfig, tokenizer: Any) -> tuple[Example | None, str | None]:
    """One row as (prompt, response), or the reason it cannot be one."""
    if fmt == "completion":
        prompt, err = _str_field(row, cfg.prompt_field, True, "data.prompt_field")
        if err:
            return None, err
        completion, err = _str_field(row, cfg.completion_field, True, "data.completion_field")
        if err:
            return None, err
        return Example(prompt or "", completion or "", row.file, row.line), None
    if fmt == "text":
        text, err = _str_field(row, cfg.text_field, True, "data.text_field")
        if err:
            return None, err
        return Example("", text or "", row.file, row.line), None
    if fmt == "instruction":
        return _instruction(row, cfg)
    return _chat(row, cfg, tokenizer)


def _instruction(row: Row, cfg: DataConfig) -> tuple[Example | None, str | None]:
    instr, err = _str_field(row, cfg.instruction_field, True, "data.instruction_field")
    if err:
        return None, err
    history = row.data.get("history")
    if isinstance(history, list) and history:
        # LLaMA-Factory's alpaca rows carry earlier turns; dropping them would train answers
        # without the conversation they answer.
        return None, (f"field 'history' holds {len(history)} earlier turn(s) (LLaMA-Factory's alpaca), which an "
                      "instruction row cannot hold: write such rows as chat rows ({\"messages\": [...]}) to train "
                      "every turn, or remove 'history'")
    output, err = _str_field(row, cfg.output_field, True, "data.output_field")
    if err:
        return None, err
    # An input field that is the instruction's (input/output rows) adds nothing to it.
    inp, err = _str_field(row, cfg.input_field, False) if cfg.input_field != cfg.instruction_field else (None, None)
    if err:
        return None, err
    system, err = _str_field(row, cfg.system_field, False)
    if err:
        return None, err
    system = system if system and system.strip() else ""
    template = cfg.prompt_template_with_input if inp and inp.strip() else cfg.prompt_template
    prompt = template.format(instruction=instr, input=inp, system=system)
    if system and "{system}" not in template:
        # LLaMA-Factory's alpaca `system`: a prompt template without a place for it gets it in
        # front, where Alpaca's own preamble stands; dropped, the answers would be trained
        # without the instructions they follow. Part of the prompt, so it is never a target.
        prompt = f"{system}\n\n{prompt}"
    return Example(prompt, output or "", row.file, row.line), None


def _template_keys(tokenizer: Any) -> frozenset[str]:
    """The message keys beyond role and content (tool_calls, name ...) and `tools` that the
    tokenizer's chat template reads: given only to a template that uses them, so a template
    without tool support gets tool calls as text instead of dropping them."""
    template = getattr(tokenizer, "chat_template", None) if tokenizer is not None else None
    if not isinstance(template, str):
        return frozenset()
    return frozenset(k for k in (*EXTRA_KEYS, "tools") if k in template)


def _render(tokenizer: Any, chat: Chat, messages: list[dict[str, Any]], generation: bool = False) -> str:
    """`messages` (a prefix of chat.messages) through the chat template, with the row's tools."""
    tools = chat.tools if chat.tools and "tools" in _template_keys(tokenizer) else None
    return str(tokenizer.apply_chat_template(messages, tools=tools, tokenize=False, add_generation_prompt=generation))


def _chat(row: Row, cfg: DataConfig, tokenizer: Any) -> tuple[Example | None, str | None]:
    field = cfg.messages_field if cfg.messages_field in row.data or SHAREGPT_FIELD not in row.data else SHAREGPT_FIELD
    chat, err = read_chat(row.data, field, _template_keys(tokenizer))
    if err or chat is None:
        return None, err
    clean = chat.messages
    history, answer = clean[:-1], clean[-1]["content"]
    # Earlier answers to supervise too (data.chat_turns all); an empty one, or one of weight 0,
    # stays context: as an empty answer it would teach the model to end its turn at once.
    earlier = cfg.chat_turns == "all" and any(_supervised(m, k, chat.masked) for k, m in enumerate(history))
    if tokenizer is not None:
        prompt = _render(tokenizer, chat, history, generation=True)
        full = _render(tokenizer, chat, clean)
        if full.startswith(prompt):
            response = full[len(prompt):]
            # The template closes the turn with its own end marker; EOS is appended later.
            eos = getattr(tokenizer, "eos_token", None)
            if eos and response.rstrip().endswith(eos):
                response = response.rstrip()[: -len(eos)]
            ex = Example(prompt, response, row.file, row.line)
            if earlier:
                ex.segments, ex.fallback = _template_segments(tokenizer, chat, prompt, full, response)
            return ex, None
    prompt = render_chat_plain(history) + "<|assistant|>\n"
    ex = Example(prompt, answer, row.file, row.line)
    if earlier:
        ex.segments = _plain_segments(history, answer, chat.masked)
    return ex, None


def _supervised(message: dict[str, Any], k: int, masked: frozenset[int]) -> bool:
    """Whether message `k` is an answer to train on: an assistant message with text or tool
    calls and not of weight 0."""
    return (message["role"] == "assistant" and k not in masked
            and bool(message["content"].strip() or message.get("tool_calls")))


def _joined(pieces: list[tuple[str, bool]]) -> tuple[tuple[str, bool], ...]:
    """Pieces with empty ones dropped and neighbours of the same kind joined."""
    out: list[tuple[str, bool]] = []
    for text, sup in pieces:
        if not text:
            continue
        if out and out[-1][1] == sup:
            out[-1] = (out[-1][0] + text, sup)
        else:
            out.append((text, sup))
    return tuple(out)


def _plain_segments(history: list[dict[str, Any]], answer: str, masked: frozenset[int]) -> tuple[tuple[str, bool], ...]:
    """The plain rendering (render_chat_plain) as pieces: each earlier answer with the newline
    that ends its turn supervised, the rest masked, the last answer the response."""
    pieces: list[tuple[str, bool]] = []
    for k, m in enumerate(history):
        if _supervised(m, k, masked):
            pieces += [("<|assistant|>\n", False), (m["content"] + "\n", True)]
        else:
            pieces.append((f"<|{m['role']}|>\n{m['content']}\n", False))
    return _joined(pieces + [("<|assistant|>\n", False), (answer, True)])


def _opening_turn(end: str, m: dict[str, Any]) -> str:
    """What a template renders before the content of a conversation's first message, an
    answer: rendering no messages at all is refused by transformers, and a template that
    writes a default system prompt writes it here too."""
    at = end.rfind(m["content"]) if m["content"] else -1
    if at < 0:
        raise ValueError("the answer's content is not in its rendering")
    return end[:at]


def _template_segments(tokenizer: Any, chat: Chat, prompt: str, full: str,
                       response: str) -> tuple[tuple[tuple[str, bool], ...], str]:
    """The chat template's rendering as pieces, or () and why not.

    Each earlier answer is the difference between the conversation rendered up to it and
    rendered before it with the generation prompt (what the model sees when it must answer),
    as the last answer is; that is the content and the template's end-of-turn marker
    ("<|im_end|>", "<|eot_id|>"), without the layout after a marker ("\n" before the next
    turn's header: never generated). This holds only where rendering more of the conversation
    leaves what is already rendered as it was; a template that rewrites earlier turns (drops
    their reasoning, writes a date) does not, and such a row supervises its last answer only.
    A conversation that opens with an answer (a greeting) has nothing to render before it;
    its turn starts where its content does in its own rendering (_opening_turn)."""
    clean = chat.messages
    pieces: list[tuple[str, bool]] = []
    at = 0
    for i, m in enumerate(clean[:-1]):
        if not _supervised(m, i, chat.masked):
            continue
        try:
            end = _render(tokenizer, chat, clean[: i + 1])
            start = _render(tokenizer, chat, clean[:i], generation=True) if i else _opening_turn(end, m)
        except Exception as exc:  # noqa: BLE001 - a template may refuse a partial conversation
            return (), f"the chat template cannot render the conversation up to message {i} ({type(exc).__name__})"
        if not (len(start) >= at and end.startswith(start) and full.startswith(end)):
            return (), f"the chat template renders message {i} differently once the conversation goes on"
        turn = end[len(start):]
        kept = turn.rstrip()
        # A marker that is only whitespace ("\n") is the turn's end; whitespace after a real one is layout.
        text = m["content"].rstrip()  # empty for a tool call, whose rendering is the template's own
        turn = turn if text and kept.endswith(text) else kept
        pieces += [(full[at: len(start)], False), (turn, True)]
        at = len(start) + len(turn)
    if at > len(prompt):
        return (), "the chat template renders the last answer's header inside an earlier answer"
    return _joined(pieces + [(full[at: len(prompt)], False), (response, True)]), ""
