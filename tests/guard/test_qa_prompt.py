"""QA probes are fed as training saw their prompts: the tokenizer's BOS once."""

from __future__ import annotations

import torch
from torch import nn

from tests.helpers.zoo import tokenizer
from tuneguard.guard.qa import generate_probe


class Echo(nn.Module):
    """Records the ids generate() is given and answers with EOS."""

    def __init__(self, eos: int):
        super().__init__()
        self.w, self.eos, self.seen = nn.Parameter(torch.zeros(1)), eos, []

    def generate(self, input_ids, attention_mask, generation_config):
        self.seen.append((input_ids[0].tolist(), attention_mask[0].tolist()))
        return torch.cat([input_ids, torch.tensor([[self.eos]])], dim=1)


def test_a_probe_gets_the_bos_once_whether_or_not_it_writes_it():
    tok = tokenizer("bos")  # <s> added before every text, as Llama's and Gemma's do
    model = Echo(tok.eos_token_id)
    plain = tok("what is two", add_special_tokens=False)["input_ids"]
    for prompt in ("what is two", "<s>what is two"):
        r = generate_probe(model, tok, prompt, ["two"], max_new_tokens=2)
        assert r.emitted_eos and r.new_tokens == 1
    assert model.seen == [([tok.bos_token_id] + plain, [1] * (len(plain) + 1))] * 2
