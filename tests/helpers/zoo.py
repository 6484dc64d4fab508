"""A zoo of local model folders, the way users bring their own: tiny random-init models of the
architectures people fine-tune, saved with `save_pretrained` next to a tokenizer of one of the
shapes that bite (no pad token, pad == eos, no EOS, a BOS added by default, a chat template,
left padding, an EOS that is an ordinary token).

Models are 2 layers of width 64, so a folder takes well under a second to build and a few
training steps take about a second on one CPU thread.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import torch

WIDTH, LAYERS, HEADS, FFN, POSITIONS = 64, 2, 4, 128, 256

# The common keywords of Llama-like configs; every entry below is small and fast on a CPU.
_LLAMA_LIKE = {"hidden_size": WIDTH, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
               "num_key_value_heads": 2, "intermediate_size": FFN, "max_position_embeddings": POSITIONS}

ARCHITECTURES: dict[str, dict[str, Any]] = {
    "gptj": {"n_embd": WIDTH, "n_layer": LAYERS, "n_head": HEADS, "rotary_dim": 8, "n_positions": POSITIONS},
    "gpt_neox": {"hidden_size": WIDTH, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS,
                 "intermediate_size": FFN, "max_position_embeddings": POSITIONS},
    "llama": _LLAMA_LIKE,
    "mistral": _LLAMA_LIKE,
    "qwen2": _LLAMA_LIKE,
    "qwen3": {**_LLAMA_LIKE, "head_dim": 16},
    "gemma": {**_LLAMA_LIKE, "head_dim": 16},
    "gemma2": {**_LLAMA_LIKE, "head_dim": 16},
    "gemma3_text": {**_LLAMA_LIKE, "head_dim": 16},
    "phi": {**_LLAMA_LIKE},
    "phi3": {**_LLAMA_LIKE},
    "gpt2": {"n_embd": WIDTH, "n_layer": LAYERS, "n_head": HEADS, "n_positions": POSITIONS},
    "opt": {"hidden_size": WIDTH, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS, "ffn_dim": FFN,
            "word_embed_proj_dim": WIDTH, "max_position_embeddings": POSITIONS},
    "falcon": {"hidden_size": WIDTH, "num_hidden_layers": LAYERS, "num_attention_heads": HEADS},
    "bloom": {"hidden_size": WIDTH, "n_layer": LAYERS, "n_head": HEADS},
    "stablelm": _LLAMA_LIKE,
    "olmo": _LLAMA_LIKE,
    "olmo2": _LLAMA_LIKE,
    "gpt_neo": {"hidden_size": WIDTH, "num_layers": LAYERS, "num_heads": HEADS, "attention_types": [[["global"], LAYERS]],
                "max_position_embeddings": POSITIONS},
    "codegen": {"n_embd": WIDTH, "n_layer": LAYERS, "n_head": HEADS, "rotary_dim": 8, "n_positions": POSITIONS,
                "n_ctx": POSITIONS},
    "granite": _LLAMA_LIKE,
    "starcoder2": _LLAMA_LIKE,
    "mixtral": {**_LLAMA_LIKE, "num_local_experts": 2, "num_experts_per_tok": 1},
}


def save_model(arch: str, folder: Path, tokenizer: Any, seed: int = 0) -> Any:
    """A random-init model of `arch` with `tokenizer`'s vocabulary and special ids, saved with
    the tokenizer in `folder`; returns the model's config."""
    from transformers import AutoConfig, AutoModelForCausalLM

    ids = {k: getattr(tokenizer, f"{k}_id", None) for k in ("bos_token", "eos_token", "pad_token")}
    conf = AutoConfig.for_model(arch, vocab_size=len(tokenizer), tie_word_embeddings=False,
                                **{f"{k}_id": v for k, v in ids.items()}, **ARCHITECTURES[arch])
    torch.manual_seed(seed)
    model = AutoModelForCausalLM.from_config(conf)
    folder.mkdir(parents=True, exist_ok=True)
    model.save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return conf


CHATML = ("{% for m in messages %}<|im_start|>{{ m['role'] }}\n{{ m['content'] }}<|im_end|>\n{% endfor %}"
          "{% if add_generation_prompt %}<|im_start|>assistant\n{% endif %}")


def tokenizer(shape: str) -> Any:
    """The tiny BPE tokenizer (tuneguard.model.load.build_tiny_tokenizer) in one of the shapes
    users' tokenizers come in:

    plain: EOS, no pad; pad_eos: pad == eos (GPT-J, GPT-2, Llama recipes); no_eos: no EOS at all;
    bos: `<s>` added before every text by its post-processor (Llama, Mistral, Gemma);
    chat: a ChatML template whose end-of-turn `<|im_end|>` is the EOS (Qwen, SmolLM2);
    left: padding_side left (many chat models' tokenizers); eos_plain: an EOS that is an
    ordinary added token, not a special one (decode keeps it with skip_special_tokens);
    spm: SentencePiece-style (Llama 2, Mistral, TinyLlama), see spm_tokenizer."""
    from tokenizers import AddedToken, processors

    from tuneguard.model.load import build_tiny_tokenizer

    if shape == "spm":
        return spm_tokenizer()
    tok = build_tiny_tokenizer()
    if shape == "plain":
        return tok
    if shape == "pad_eos":
        tok.pad_token = tok.eos_token
    elif shape == "no_eos":
        tok.eos_token = None
        tok.bos_token = None
    elif shape == "bos":
        tok.add_special_tokens({"bos_token": "<s>", "eos_token": "</s>"})
        bos = tok.convert_tokens_to_ids("<s>")
        tok._tokenizer.post_processor = processors.TemplateProcessing(
            single="<s> $A", pair="<s> $A <s> $B", special_tokens=[("<s>", bos)])
    elif shape == "chat":
        tok.add_special_tokens({"additional_special_tokens": ["<|im_start|>"], "eos_token": "<|im_end|>"})
        tok.chat_template = CHATML
    elif shape == "left":
        tok.padding_side = "left"
    elif shape == "eos_plain":
        tok.add_tokens([AddedToken("<|end|>", special=False, normalized=False)])
        tok.eos_token = "<|end|>"
    else:
        raise ValueError(f"unknown tokenizer shape {shape}")
    return tok


def spm_tokenizer() -> Any:
    """A SentencePiece-style BPE like Llama 2's, Mistral's and TinyLlama's: words start with
    "▁" (Metaspace, prepended to the first word of a text), bytes fall back to <0x..> tokens,
    <s> added before every text, </s> the EOS, no pad token."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    from tuneguard.data.synthetic import make_instruction_rows
    from tuneguard.model.load import _TINY_WORDS

    tok = Tokenizer(models.BPE(unk_token="<unk>", byte_fallback=True))
    tok.pre_tokenizer = pre_tokenizers.Metaspace(replacement="\u2581", prepend_scheme="first")
    tok.decoder = decoders.Metaspace(replacement="\u2581", prepend_scheme="first")
    corpus = [" ".join(_TINY_WORDS)] + [f"{r['instruction']} {r.get('input', '')} {r['output']}"
                                        for r in make_instruction_rows(300, seed=1)]
    tok.train_from_iterator(corpus, trainer=trainers.BpeTrainer(
        vocab_size=800, special_tokens=["<unk>", "<s>", "</s>"], initial_alphabet=list("#:\n"), show_progress=False))
    tok.post_processor = processors.TemplateProcessing(single="<s> $A", pair="<s> $A <s> $B",
                                                       special_tokens=[("<s>", 1)])
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token="<s>", eos_token="</s>", unk_token="<unk>")


def byte_bpe(merges: list[tuple[str, str]], trim_offsets: bool = False) -> Any:
    """A byte-level BPE (GPT-2's pre-tokenizer and decoder) with the 256 byte tokens (ids in
    the order of `ByteLevel.alphabet()` sorted), then one token per merge in order, then
    <|endoftext|> as EOS: merges written by hand so a test gets exactly the token that
    straddles a boundary. `trim_offsets`: a ByteLevel post-processor that drops spaces from
    the offsets (GPT-NeoX's and Pythia's tokenizer.json have one)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors
    from transformers import PreTrainedTokenizerFast

    vocab = {c: i for i, c in enumerate(sorted(pre_tokenizers.ByteLevel.alphabet()))}
    for a, b in merges:
        vocab[a + b] = len(vocab)
    vocab["<|endoftext|>"] = len(vocab)
    tok = Tokenizer(models.BPE(vocab=vocab, merges=list(merges)))
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    if trim_offsets:
        tok.post_processor = processors.ByteLevel(trim_offsets=True)
    return PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>")


def slow_word_bpe(folder: Path) -> Any:
    """A slow (Python) tokenizer: CTRL's word-level BPE with a hand-written vocabulary in
    which "sat" is one token and "sa" another (the <eos> token is 9)."""
    import json

    from transformers import CTRLTokenizer

    vocab = {"<unk>": 0, "the": 1, "cat": 2, "sat": 3, "sa": 4, "t": 5, "s@@": 6, "a@@": 7, "Q:": 8, "<eos>": 9}
    (folder / "vocab.json").write_text(json.dumps(vocab), "utf-8")
    (folder / "merges.txt").write_text("#version: 0.2\ns a</w>\ns a\nsa t</w>\nc a\nca t</w>\nt h\nth e</w>\nQ :</w>\n",
                                       "utf-8")
    tok = CTRLTokenizer(str(folder / "vocab.json"), str(folder / "merges.txt"), unk_token="<unk>")
    tok.add_special_tokens({"eos_token": "<eos>"})
    return tok
