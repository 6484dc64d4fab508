"""The exact settings that read a row of a well-known shape the configured fields do not
match: Dolly (instruction, context, response), question/answer, prompt/response,
input/output, preference (DPO) data (chosen/rejected), and OpenAssistant message trees.

Said, not applied: a file read under a guessed mapping could train on the wrong field (a
`context` taken for the answer) without anyone choosing it, while a one-line error with the
`--set` flags to paste costs one more command. Preference rows get their own sentence, because
their fields map to supervised training only by choosing to drop the rejected answers.
"""

from __future__ import annotations

from typing import Any

from tuneguard.config.schema import DataConfig

# Field names of the shapes in the wild, most specific first, for each role of an instruction row.
INSTRUCTION_NAMES = ("instruction", "question", "query", "prompt", "problem")
OUTPUT_NAMES = ("output", "response", "answer", "completion", "solution")
INPUT_NAMES = ("input", "context")


def required_fields(fmt: str, cfg: DataConfig) -> tuple[str, ...]:
    """The fields a row of `fmt` must have (chat rows are checked message by message)."""
    return {"instruction": (cfg.instruction_field, cfg.output_field),
            "completion": (cfg.prompt_field, cfg.completion_field), "text": (cfg.text_field,)}.get(fmt, ())


def _sets(pairs: list[tuple[str, str]]) -> str:
    return " ".join(f"--set data.{k}={v}" for k, v in pairs)


def preference_hint(data: dict[str, Any]) -> str:
    """How preference rows train as supervised data: on their chosen answers."""
    chosen = data.get("chosen")
    if isinstance(chosen, list):
        how = _sets([("format", "chat"), ("messages_field", "chosen")]) + " (the chosen conversations)"
    elif isinstance(data.get("prompt"), str):
        how = (_sets([("format", "completion"), ("completion_field", "chosen")])
               + " (each prompt, used as it is, with its chosen answer)")
    else:
        how = (_sets([("format", "text"), ("text_field", "chosen")])
               + " (each chosen text whole, its prompt supervised too)")
    return ("preference (DPO) data ('chosen' and 'rejected' answers): tuneguard trains one answer per prompt "
            f"(supervised fine-tuning); to train on the chosen answers and leave out the rejected ones, {how}")


def instruction_hint(data: dict[str, Any], cfg: DataConfig) -> str | None:
    """The --set flags that read this row as an instruction row, when its fields are of a known shape."""
    keys = [k for k in data if isinstance(k, str)]
    output = next((k for k in OUTPUT_NAMES if k in keys), None)
    instruction = next((k for k in INSTRUCTION_NAMES if k in keys and k != output), None)
    if output is None:
        return None
    given = next((k for k in INPUT_NAMES if k in keys and k != instruction), None)
    if instruction is None:
        # input/output rows: the input is the instruction (no second part to add).
        instruction, given = given, None
        if instruction is None:
            return None
    pairs = [("format", "instruction")]
    pairs += [(key, name) for key, name, default in (("instruction_field", instruction, cfg.instruction_field),
              ("output_field", output, cfg.output_field)) if name != default]
    if given is not None and given != cfg.input_field:
        pairs.append(("input_field", given))
    fields = ", ".join(repr(k) for k in (instruction, given, output) if k)
    return f"rows of {fields} read as instructions with {_sets(pairs)}"


def tree_hint(data: dict[str, Any]) -> str | None:
    """Why a row that is one message of an OpenAssistant tree (oasst1/oasst2 exports: its `text`
    field would read it as plain text) is not a training row."""
    if "message_id" in data and "parent_id" in data and data.get("role") in ("prompter", "assistant"):
        return ("one message of an OpenAssistant message tree (message_id, parent_id, role 'prompter' or "
                "'assistant'): read as text, every prompt would be trained as an answer; build conversations from "
                "the tree first (one row of messages per path from a root) and train those as chat rows")
    return None


def shape_hint(data: dict[str, Any], fmt: str, cfg: DataConfig) -> str | None:
    """Why the row is not of `fmt` and the settings that read it, when it lacks a field of
    `fmt` and is of a shape named above (or is a message of a tree); None otherwise (the
    generic reasons apply)."""
    if fmt == "text" and tree_hint(data):
        return tree_hint(data)
    if not any(f not in data for f in required_fields(fmt, cfg)):
        return None
    if "chosen" in data and "rejected" in data:
        return preference_hint(data)
    hint = instruction_hint(data, cfg)
    if hint is None:
        return None
    return f"no {' and '.join(map(repr, (f for f in required_fields(fmt, cfg) if f not in data)))} in the row: {hint}"
