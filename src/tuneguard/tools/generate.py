"""Talk to a trained run: the prompt in the format the model was trained on, generation
streamed token by token, and a chat session with history.

The prompt format follows the training data, because a fine-tuned model answers best in
the format it saw: instruction rows -> data.prompt_template; chat rows -> the tokenizer's
chat template (or tuneguard's plain chat rendering when it has none); plain-text and
prompt/completion rows -> the prompt as is. When the run's data format is unknown: the chat template where the
tokenizer has one, else the prompt template. `raw` always sends the text verbatim.
"""

from __future__ import annotations

import dataclasses
import logging
import threading
from collections.abc import Iterator
from typing import Any

import torch

from tuneguard.config.schema import Config
from tuneguard.data.formats import prompt_mode, render_chat_plain
from tuneguard.data.tokenize import encode_prompt
from tuneguard.model.load import config_positions
from tuneguard.tools import ToolUsageError

log = logging.getLogger(__name__)

MODES = ("chat_template", "chat_plain", "prompt_template", "raw")


@dataclasses.dataclass
class Sampling:
    """Generation settings; temperature 0 means greedy decoding."""

    max_new_tokens: int = 256
    temperature: float = 0.7
    top_p: float = 0.9

    def check(self) -> None:
        if self.max_new_tokens < 1:
            raise ToolUsageError(f"--max-new-tokens must be >= 1, got {self.max_new_tokens}")
        if self.temperature < 0:
            raise ToolUsageError(f"--temperature must be >= 0 (0 is greedy), got {self.temperature}")
        if not 0 < self.top_p <= 1:
            raise ToolUsageError(f"--top-p must be in (0, 1], got {self.top_p}")


@dataclasses.dataclass
class PromptFormat:
    """Renders a conversation (role/content messages) into the text the model continues."""

    mode: str
    tokenizer: Any
    template: str = "{instruction}"

    def render(self, messages: list[dict[str, str]]) -> str:
        if self.mode == "chat_template":
            return self.tokenizer.apply_chat_template(messages, tokenize=False, add_generation_prompt=True)
        if self.mode == "chat_plain":
            return render_chat_plain(messages) + "<|assistant|>\n"
        last = next((m["content"] for m in reversed(messages) if m["role"] == "user"), "")
        if self.mode == "prompt_template":
            # Instruction models see one instruction at a time: only the last turn.
            system = next((m["content"] for m in messages if m["role"] == "system"), "")
            return self.template.replace("{instruction}", last).replace("{system}", system)
        return last

    @property
    def multi_turn(self) -> bool:
        return self.mode in ("chat_template", "chat_plain")


def prompt_format(tokenizer: Any, cfg: Config, data_format: str | None, raw: bool = False) -> PromptFormat:
    """The format the run's model was trained on (see the module docstring)."""
    return PromptFormat("raw" if raw else prompt_mode(tokenizer, cfg.data, data_format), tokenizer,
                        cfg.data.prompt_template)


def _generation_kwargs(model: Any, tokenizer: Any, opts: Sampling) -> dict[str, Any]:
    eos = getattr(getattr(model, "generation_config", None), "eos_token_id", None) or tokenizer.eos_token_id
    pad = tokenizer.pad_token_id if tokenizer.pad_token_id is not None else tokenizer.eos_token_id
    kw: dict[str, Any] = {"max_new_tokens": opts.max_new_tokens, "eos_token_id": eos, "pad_token_id": pad}
    if opts.temperature > 0:
        kw.update(do_sample=True, temperature=opts.temperature, top_p=opts.top_p)
    else:
        kw.update(do_sample=False, temperature=None, top_p=None, top_k=None)
    return kw


def stream(model: Any, tokenizer: Any, text: str, opts: Sampling, device: torch.device | None = None) -> Iterator[str]:
    """Generate a continuation of `text`, yielding decoded pieces as they come.

    Generation runs in a worker thread feeding transformers' TextIteratorStreamer; an error
    in the worker ends the stream and is raised here, so a caller never waits forever.
    """
    from transformers import TextIteratorStreamer

    device = device or next(model.parameters()).device
    # With the BOS the tokenizer adds by itself, as every training example had it.
    ids = encode_prompt(tokenizer, text) or [tokenizer.eos_token_id]  # empty: EOS as the document start
    enc = {"input_ids": torch.tensor([ids], device=device), "attention_mask": torch.ones(1, len(ids), dtype=torch.long,
                                                                                      device=device)}
    streamer = TextIteratorStreamer(tokenizer, skip_prompt=True, skip_special_tokens=True)
    failure: list[BaseException] = []

    def work() -> None:
        try:
            with torch.no_grad():
                model.generate(**enc, streamer=streamer, **_generation_kwargs(model, tokenizer, opts))
        except BaseException as exc:  # noqa: BLE001 - handed to the caller below
            failure.append(exc)
            streamer.end()

    worker = threading.Thread(target=work, name="tuneguard-generate", daemon=True)
    worker.start()
    try:
        yield from streamer
    finally:
        worker.join()
    if failure:
        raise failure[0]


class ChatSession:
    """A conversation with the model: history, streamed replies, reset.

    Multi-turn formats see the whole history, oldest turns dropped when it would not leave
    room for the reply in the model's context; the prompt template sees the last turn only.
    """

    def __init__(self, model: Any, tokenizer: Any, fmt: PromptFormat, opts: Sampling,
                 device: torch.device | None = None):
        self.model = model
        self.tokenizer = tokenizer
        self.fmt = fmt
        self.opts = opts
        self.device = device
        self.history: list[dict[str, str]] = []

    def reset(self) -> None:
        self.history = []

    def _fit(self, messages: list[dict[str, str]]) -> str:
        window = config_positions(getattr(self.model, "config", None))
        text = self.fmt.render(messages)
        if window is None:
            return text
        budget = max(window - self.opts.max_new_tokens, 1)
        # Counted as stream() feeds it: with the BOS encode_prompt puts in front.
        while len(messages) > 1 and len(encode_prompt(self.tokenizer, text)) > budget:
            messages = messages[2:] if len(messages) > 2 else messages[1:]  # drop the oldest exchange
            text = self.fmt.render(messages)
        return text

    def reply(self, user_text: str) -> Iterator[str]:
        """Stream the model's answer to `user_text`; the exchange joins the history at the end."""
        messages = (self.history if self.fmt.multi_turn else []) + [{"role": "user", "content": user_text}]
        text = self._fit(messages)
        pieces: list[str] = []
        for piece in stream(self.model, self.tokenizer, text, self.opts, self.device):
            pieces.append(piece)
            yield piece
        self.history += [{"role": "user", "content": user_text},
                         {"role": "assistant", "content": "".join(pieces).strip()}]
