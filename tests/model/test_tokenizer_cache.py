"""A GGUF file's tokenizer is converted once and read from a fast-tokenizer folder afterwards.

The cache logic with a stand-in conversion (the tiny built-in tokenizer, counted), and once
end to end on a tiny GPT-2 GGUF file written with the `gguf` package. The real SmolLM2 GGUF's
cached tokenizer was checked identical (ids, chat template, special tokens, vocabulary) by a
script (docs/BENCHMARKS.md), not by a test.
"""

from __future__ import annotations

import os
from pathlib import Path

from tuneguard.model.load import build_tiny_tokenizer, cache_root, cached_gguf_tokenizer

TEXTS = ["the model and the data", "  spaces\n\nnew lines", "ภาษาไทย", "<|endoftext|> after"]


def _ids(tok) -> list[list[int]]:  # noqa: ANN001
    return [tok(x)["input_ids"] for x in TEXTS]


def test_gguf_tokenizer_is_converted_once_and_again_when_the_file_changes(tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF v1")
    root = tmp_path / "cache"
    calls: list[int] = []

    def convert():  # noqa: ANN202
        calls.append(1)
        return build_tiny_tokenizer()

    first = cached_gguf_tokenizer(gguf, convert, root)
    second = cached_gguf_tokenizer(gguf, convert, root)
    assert len(calls) == 1
    assert type(second).__name__ == type(first).__name__
    assert _ids(second) == _ids(first)
    assert (second.eos_token, len(second)) == (first.eos_token, len(first))
    assert len(list((root / "tokenizers").iterdir())) == 1  # no temporary folder left

    gguf.write_bytes(b"GGUF v2, longer")  # another file at the same path
    cached_gguf_tokenizer(gguf, convert, root)
    assert len(calls) == 2
    st = gguf.stat()
    os.utime(gguf, ns=(st.st_atime_ns, st.st_mtime_ns + 10**9))  # same size, touched
    cached_gguf_tokenizer(gguf, convert, root)
    assert len(calls) == 3


def test_an_unwritable_cache_still_returns_the_converted_tokenizer(tmp_path: Path) -> None:
    gguf = tmp_path / "model.gguf"
    gguf.write_bytes(b"GGUF")
    blocker = tmp_path / "cache"
    blocker.write_text("a file where the cache folder would go")
    tok = cached_gguf_tokenizer(gguf, build_tiny_tokenizer, blocker)
    assert _ids(tok) == _ids(build_tiny_tokenizer())


def test_cache_root_follows_the_environment(monkeypatch, tmp_path: Path) -> None:  # noqa: ANN001
    monkeypatch.setenv("TUNEGUARD_CACHE_DIR", str(tmp_path / "tg"))
    assert cache_root() == tmp_path / "tg"
    monkeypatch.delenv("TUNEGUARD_CACHE_DIR")
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "xdg"))
    assert cache_root() == tmp_path / "xdg" / "tuneguard"


def test_a_real_gguf_tokenizer_is_read_from_the_cache_the_second_time(tmp_path: Path, monkeypatch) -> None:  # noqa: ANN001
    # A tiny GPT-2 GGUF (tests/integration/test_local_model.py writes it with the gguf package):
    # the first load converts it, the second reads the cached folder: the same ids and specials.
    from transformers import AutoTokenizer

    from tests.integration.test_local_model import save_gpt2_gguf
    from tuneguard.config.schema import ModelConfig
    from tuneguard.model.load import load_tokenizer

    folder = tmp_path / "gguf-model"
    _, written = save_gpt2_gguf(folder)
    monkeypatch.setenv("TUNEGUARD_CACHE_DIR", str(tmp_path / "cache"))
    calls: list[str | None] = []
    real = AutoTokenizer.from_pretrained

    def spy(name, *args, **kwargs):  # noqa: ANN001, ANN202
        calls.append(kwargs.get("gguf_file"))
        return real(name, *args, **kwargs)

    monkeypatch.setattr(AutoTokenizer, "from_pretrained", spy)
    mcfg = ModelConfig(name=str(folder), gguf_file="tiny-gpt2.gguf")
    first, second = load_tokenizer(mcfg), load_tokenizer(mcfg)
    assert calls == ["tiny-gpt2.gguf", None]
    assert _ids(first) == _ids(second) == _ids(written)
    assert (second.eos_token, second.bos_token, len(second)) == (first.eos_token, first.bos_token, len(first))
