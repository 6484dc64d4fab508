"""A chat row's messages as the chat template and the label masking need them.

Reads the shapes chat data is exported in: OpenAI's fine-tuning format (`messages` of
role/content, content as a list of text parts, `content: null` with `tool_calls` or the older
`function_call`, `tool` and `function` messages, `name` fields, top-level `tools` or
`functions`) and ShareGPT (`conversations` of from/value: human, gpt, system, observation),
each with a per-message train flag on assistant messages: `weight` (OpenAI, torchtune),
`train` or `training` (axolotl's message_field_training), 0/1 or false/true. A weight-0
answer is context, never a target; the conversation ends, for training, with its last answer
of weight 1: what follows it changes no label of a causal LM, so cutting it changes nothing
the model learns and leaves the audit's text checks the answer that is trained.
"""

from __future__ import annotations

import dataclasses
import json
import math
from typing import Any

ROLES = ("system", "user", "assistant", "tool")
SHAREGPT_FIELD = "conversations"
# ShareGPT speakers as chat roles (LLaMA-Factory's and FastChat's names); role/content rows use ROLES.
SHAREGPT_ROLES = {"human": "user", "user": "user", "gpt": "assistant", "chatgpt": "assistant",
                  "assistant": "assistant", "system": "system", "tool": "tool", "observation": "tool",
                  "function_call": "assistant"}
# OpenAI's legacy role of a function's result is a tool message today.
OPENAI_ROLES = {"function": "tool"}
TRAIN_FLAGS = ("weight", "train", "training")
# Message keys a chat template may read beside role and content (passed only to a template that names them).
EXTRA_KEYS = ("tool_calls", "tool_call_id", "name")


@dataclasses.dataclass
class Chat:
    """The messages to render (role, content and the extra keys the template reads), which of
    them are masked assistant turns (weight 0), and the tool definitions for the template."""

    messages: list[dict[str, Any]]
    masked: frozenset[int] = frozenset()
    tools: list[Any] | None = None


def invalid_unicode(text: str) -> str | None:
    """Why `text` cannot be tokenized, or None. JSON's "\\ud800" escapes decode to lone
    surrogates, which no tokenizer accepts (they are not valid Unicode)."""
    try:
        text.encode("utf-8")
    except UnicodeEncodeError as exc:
        return f"holds an invalid Unicode character (a lone surrogate {text[exc.start]!r} at position {exc.start})"
    return None


def content_text(value: Any) -> Any:
    """A message's text; OpenAI's list of parts ([{"type": "text", "text": ...}]) joined."""
    if isinstance(value, list) and value and all(isinstance(p, dict) and p.get("type") == "text"
                                                 and isinstance(p.get("text"), str) for p in value):
        return "".join(p["text"] for p in value)
    return value


def _tool_calls(m: dict[str, Any]) -> list[Any] | None:
    """The tool calls of an assistant message (OpenAI tool_calls, or the legacy function_call)."""
    calls = m.get("tool_calls")
    if isinstance(calls, list) and calls:
        return calls
    call = m.get("function_call")
    if isinstance(call, dict) and "name" in call:
        return [{"type": "function", "function": call}]
    return None


def calls_text(calls: list[Any]) -> str:
    """Tool calls as the text a template without tool support is given: the JSON of each call's
    function (name and arguments, arguments parsed when they are a JSON string)."""
    out = []
    for c in calls:
        fn = c.get("function", c) if isinstance(c, dict) else c
        if isinstance(fn, dict) and isinstance(fn.get("arguments"), str):
            try:
                fn = {**fn, "arguments": json.loads(fn["arguments"])}
            except json.JSONDecodeError:
                pass
        out.append(fn)
    return json.dumps(out if len(out) > 1 else out[0], ensure_ascii=False)


def _train_flag(m: dict[str, Any], i: int) -> tuple[bool | None, str | None]:
    """The message's train flag (None: none given), or why it is not 0/1."""
    for key in TRAIN_FLAGS:
        # None is no flag: a Parquet or Arrow export gives every message every key another one has.
        if m.get(key) is not None:
            v = m[key]
            if isinstance(v, bool) or (isinstance(v, (int, float)) and math.isfinite(v) and v in (0, 1)):
                return bool(v), None
            return None, f"message {i} has {key} {v!r}: a per-message {key} must be 0 or 1 (false or true)"
    return None, None


def _message(m: Any, i: int, template_keys: frozenset[str]) -> tuple[dict[str, Any] | None, bool | None, str | None]:
    """One message as (rendered message, train flag, None) or (None, None, why not)."""
    if not isinstance(m, dict):
        return None, None, f"message {i} must be an object with 'role' and 'content' (or ShareGPT 'from' and 'value')"
    sharegpt = "role" not in m and "from" in m
    role, content = (m.get("from"), m.get("value")) if sharegpt else (m.get("role"), content_text(m.get("content")))
    names = "'from' and 'value'" if sharegpt else "'role' and 'content'"
    if isinstance(role, str):
        role = SHAREGPT_ROLES.get(role, role) if sharegpt else OPENAI_ROLES.get(role, role)
    calls = _tool_calls(m) if role == "assistant" and not sharegpt else None
    out: dict[str, Any] = {}
    if calls is not None and (content is None or isinstance(content, str)):
        # OpenAI's tool-calling turn: the call is (part of) the answer; a template without tool
        # support gets it as text after any text of the turn, so that it is never dropped.
        if "tool_calls" in template_keys:
            out["tool_calls"] = calls
            content = content or ""
        else:
            content = "\n".join(t for t in (content, calls_text(calls)) if t)
    if isinstance(content, list):
        kinds = sorted({str(p.get("type")) for p in content if isinstance(p, dict)} - {"text"})
        return None, None, (f"message {i} content holds parts other than text ({', '.join(kinds) or 'not objects'}): "
                            "tuneguard trains on text; drop those parts or the row")
    if not isinstance(role, str) or not isinstance(content, str):
        return None, None, f"message {i} must have text {names}"
    if role not in ROLES:
        known = ", ".join(SHAREGPT_ROLES) if sharegpt else ", ".join((*ROLES, *OPENAI_ROLES))
        return None, None, f"message {i} has unknown {'speaker' if sharegpt else 'role'} {role!r} (use {known})"
    bad = invalid_unicode(content)
    if bad:
        return None, None, f"message {i} content {bad}"
    flag, err = _train_flag(m, i) if role == "assistant" else (None, None)
    if err:
        return None, None, err
    out = {"role": role, "content": content, **out}
    out.update({k: m[k] for k in EXTRA_KEYS if k in template_keys and k in m and k not in out})
    return out, flag, None


def _tools(data: dict[str, Any]) -> list[Any] | None:
    """Top-level tool definitions: OpenAI's `tools`, or the legacy `functions` as tools."""
    tools = data.get("tools")
    if isinstance(tools, list) and tools:
        return tools
    funcs = data.get("functions")
    if isinstance(funcs, list) and funcs:
        return [{"type": "function", "function": f} for f in funcs]
    return None


def read_chat(data: dict[str, Any], field: str, template_keys: frozenset[str] = frozenset()) -> tuple[Chat | None, str | None]:
    """The row's conversation, ending with its last trained answer, or why it is not usable.
    `template_keys`: the message keys the chat template reads (tool_calls, name ...)."""
    msgs = data.get(field)
    if not isinstance(msgs, list) or not msgs:
        return None, f"field {field!r} must be a non-empty list of messages"
    clean: list[dict[str, Any]] = []
    flags: list[bool | None] = []
    for i, m in enumerate(msgs):
        msg, flag, err = _message(m, i, template_keys)
        if err or msg is None:
            return None, err
        clean.append(msg)
        flags.append(flag)
    system = data.get("system")
    offset = 0  # messages put before the row's own (its top-level system prompt)
    if field == SHAREGPT_FIELD and isinstance(system, str) and system.strip() and clean[0]["role"] != "system":
        clean.insert(0, {"role": "system", "content": system})
        flags.insert(0, None)
        offset = 1
    if clean[-1]["role"] != "assistant":
        return None, "the last message must be the assistant's answer (role 'assistant', ShareGPT 'gpt')"
    trained = [k for k, m in enumerate(clean) if m["role"] == "assistant" and flags[k] is not False]
    if not trained:
        return None, ("every assistant message has weight 0: nothing in the row is trained; give the answers to "
                      "learn weight 1 (or remove the row)")
    last = trained[-1]
    clean = clean[: last + 1]
    if not (clean[-1]["content"].strip() or clean[-1].get("tool_calls")):
        # As an empty instruction output: the model would learn to stop at once.
        return None, f"the assistant's answer (message {last - offset}) is empty"
    masked = frozenset(k for k in range(last) if clean[k]["role"] == "assistant" and flags[k] is False)
    return Chat(clean, masked, _tools(data)), None
