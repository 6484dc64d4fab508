"""The model card's chat-template code encodes a question exactly as training and `generate` do
(data.tokenize.encode_prompt): one start token, whether the tokenizer adds it (Llama, Mistral),
the template writes it (Llama 3, Gemma), or neither (Qwen, SmolLM2)."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest

from tests.helpers.zoo import CHATML, tokenizer as zoo_tokenizer
from tuneguard.config.load import load_config
from tuneguard.data.tokenize import encode_prompt
from tuneguard.report.card import CardSource, _card_prompt

WRITES_BOS = ("{{ bos_token }}{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n"
              "{% endfor %}{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def _tokenizer(shape: str) -> Any:
    tok = zoo_tokenizer("bos" if shape != "chat" else "chat")
    if shape != "chat":
        tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>", "<|im_end|>"]})
        tok.chat_template = WRITES_BOS if shape == "bos_in_template" else CHATML
    return tok


@pytest.mark.parametrize("shape", ["chat", "bos_added", "bos_in_template"])
def test_the_cards_chat_code_encodes_the_question_as_training_did(shape: str, tmp_path: Path) -> None:
    tok = _tokenizer(shape)
    cfg = load_config("tiny", overrides=["data.format=chat"])
    lines = _card_prompt(CardSource(cfg, tok, tmp_path, tmp_path / "adapter", {"data_format": "chat"}))
    code = "\n".join(ln for ln in lines if ln.startswith(("messages =", "prompt =", "starts =", "inputs =")))
    assert "apply_chat_template" in code, lines
    scope: dict[str, Any] = {"tokenizer": tok}
    exec(compile(code.replace("YOUR QUESTION", "What does ls do?"), "README.md", "exec"), scope)  # noqa: S102
    text = tok.apply_chat_template([{"role": "user", "content": "What does ls do?"}], add_generation_prompt=True,
                                   tokenize=False)
    expected = encode_prompt(tok, text)
    assert scope["inputs"]["input_ids"][0].tolist() == expected
    bos = tok.convert_tokens_to_ids("<s>") if shape != "chat" else None
    assert expected.count(bos) == (0 if shape == "chat" else 1)
