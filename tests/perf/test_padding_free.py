"""Padding-free training batches (`train.padding_free`): the exact flattened tensors, the loss of
a flattened batch equal to the padded batch's (the proof that examples do not attend across a
boundary, with the wrong masks that break it), the choice and its fallbacks, and a short
`tuneguard train` that learns step for step as with padded batches."""

from __future__ import annotations

from pathlib import Path

import pytest
import torch
from transformers import AutoModelForCausalLM, LlamaConfig

from tests.helpers.cli import invoke
from tests.perf.test_levers import cfg_with
from tests.perf.test_perf import gptj, lora
from tuneguard.data.collate import LanguageModelingCollator, PaddingCollator, build_collator, flattening_collator
from tuneguard.model.load import build_tiny_tokenizer, setup_pad_token
from tuneguard.store.run_store import RunStore
from tuneguard.train import levers, perf
from tuneguard.train.metrics import SUPERVISED_KEY, TOKENS_KEY, CountingCollator, TokenCounter

# Three examples of different lengths: prompt tokens masked (-100) as tokenize does, or none.
FEATURES = [
    {"input_ids": [11, 12, 13, 14, 15], "labels": [-100, -100, 13, 14, 15], "length": 5},
    {"input_ids": [21, 22, 23], "labels": [21, 22, 23], "length": 3},  # no prompt mask: flattening masks its first label
    {"input_ids": [31, 32, 33, 34], "labels": [-100, -100, -100, 34], "length": 4},
]


def test_a_flattened_batch_is_one_row_with_positions_restarting_and_no_label_across_a_boundary():
    batch = CountingCollator(flattening_collator(), TokenCounter())(FEATURES)
    assert set(batch) == {"input_ids", "labels", "position_ids", TOKENS_KEY, SUPERVISED_KEY}  # no attention_mask
    assert batch["input_ids"].tolist() == [[11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3]]
    # Each example's first label -100: the last token of one never predicts the first of the next;
    # every other label (the prompt masks included) as tokenized.
    assert batch["labels"].tolist() == [[-100, -100, 13, 14, 15, -100, 22, 23, -100, -100, -100, 34]]
    assert batch["input_ids"].dtype == batch["labels"].dtype == batch["position_ids"].dtype == torch.long
    # The same real and supervised tokens as the padded batch of the same examples.
    padded = CountingCollator(PaddingCollator(0, 8), TokenCounter())(FEATURES)
    assert (batch[TOKENS_KEY], batch[SUPERVISED_KEY]) == (padded[TOKENS_KEY], padded[SUPERVISED_KEY]) == (12, 6)
    # data.collator language_modeling (an old pipeline's labels) stays padded.
    tok = build_tiny_tokenizer()
    setup_pad_token(tok, "auto")
    assert build_collator("tuneguard", tok, 8, 128, padding_free=True).__class__.__name__ == "DataCollatorWithFlattening"
    assert isinstance(build_collator("language_modeling", tok, 8, 128, padding_free=True), LanguageModelingCollator)


def test_compile_buckets_pad_a_flattened_row_with_tokens_that_attend_only_to_themselves():
    inner = flattening_collator()
    batch = levers.BucketPadding(inner, [8, 16, 24], pad_token_id=9)(FEATURES)
    assert batch["input_ids"].tolist() == [[11, 12, 13, 14, 15, 21, 22, 23, 31, 32, 33, 34, 9, 9, 9, 9]]
    assert batch["position_ids"].tolist() == [[0, 1, 2, 3, 4, 0, 1, 2, 0, 1, 2, 3, 0, 0, 0, 0]]
    assert batch["labels"][0, 12:].tolist() == [-100] * 4


def _llama(vocab: int = 640) -> torch.nn.Module:
    torch.manual_seed(0)
    conf = LlamaConfig(vocab_size=vocab, hidden_size=64, intermediate_size=128, num_hidden_layers=2,
                       num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=128)
    return AutoModelForCausalLM.from_config(conf)


def _examples(n: int = 5, seed: int = 3) -> list[dict]:
    g = torch.Generator().manual_seed(seed)
    out = []
    for i in range(n):
        length = 9 + 7 * i
        ids = torch.randint(1, 600, (length,), generator=g).tolist()
        prompt = length // 3
        out.append({"input_ids": ids, "labels": [-100] * prompt + ids[prompt:]})
    return out


@pytest.mark.parametrize("arch", ["gptj", "llama"])
@pytest.mark.parametrize("attn", ["sdpa", "eager"])
def test_the_loss_of_a_flattened_batch_equals_the_padded_batchs(arch, attn):
    """The proof that the examples of a row do not attend to each other: the same loss as the
    padded batch, whose examples cannot. The wrong masks show the test can fail: positions
    counting through the row, or a KV cache (transformers then skips the packed-sequence mask)."""
    model = lora(gptj() if arch == "gptj" else _llama())
    model.train()  # training mode as in the Trainer (LoRA dropout 0: deterministic)
    perf.apply_attention(model, attn)
    perf.unwrap(model).config.use_cache = False
    feats = _examples()
    padded = PaddingCollator(0, 8)(feats)
    flat = flattening_collator()(feats)
    assert flat["input_ids"].shape == (1, sum(len(f["input_ids"]) for f in feats))
    ref = model(**padded).loss
    got = model(**flat).loss
    assert abs(got.item() - ref.item()) < 1e-5, (got.item(), ref.item())
    # The chunked loss (it shifts the labels itself) on the flattened row: the same number.
    loss_fn = perf.CausalLMLoss(model, chunk_tokens=16)
    try:
        inputs = {k: v for k, v in flat.items() if k != "labels"}  # the Trainer pops them for its loss function
        out = model(**perf.HiddenStatesInputs(lambda f: inputs)([]))
        assert out.logits.shape[1] == 1
        assert abs(loss_fn(out, flat["labels"]).item() - ref.item()) < 1e-5
    finally:
        loss_fn.close()

    counting = {**flat, "position_ids": torch.arange(flat["input_ids"].shape[1]).unsqueeze(0)}
    assert abs(model(**counting).loss.item() - ref.item()) > 1e-3  # one long sequence: attends across
    cached = model(**flat, use_cache=True).loss
    assert abs(cached.item() - ref.item()) > 1e-3  # a cache turns the packed-sequence mask off


@pytest.mark.slow
def test_flex_attention_keeps_flattened_examples_apart():
    """Flex attention, the setting padding-free rows get on CUDA, builds its block mask from the
    same position ids: the same loss as the padded batch. Forward only (about 10 s of compiling
    the kernel): flex attention has no backward on the CPU; the GPU run trains with it
    (bench/gpu_gptj.sh, the levers step)."""
    model = lora(gptj())
    perf.unwrap(model).config.use_cache = False
    feats = _examples()
    with torch.no_grad():
        ref = model(**PaddingCollator(0, 8)(feats)).loss
        assert perf.apply_attention(model, "flex_attention") == "flex_attention"
        flat = flattening_collator()(feats)
        assert abs(model(**flat).loss.item() - ref.item()) < 1e-5


def test_padding_free_bucket_padding_keeps_the_loss():
    model = lora(gptj())
    perf.unwrap(model).config.use_cache = False
    feats = _examples()
    ref = model(**PaddingCollator(0, 8)(feats)).loss
    width = sum(len(f["input_ids"]) for f in feats)
    batch = levers.BucketPadding(flattening_collator(), [width + 21], pad_token_id=0)(feats)
    assert batch["input_ids"].shape[1] == width + 21
    assert abs(model(**batch).loss.item() - ref.item()) < 1e-5


# --- the choice and its fallbacks -------------------------------------------------------

def test_auto_stays_off_until_a_gpu_measurement_says_it_pays(monkeypatch):
    m = lora(gptj())
    assert levers.choose_padding_free("auto", m, "sdpa", "cpu") == (False, None, "auto: off, off CUDA")
    assert levers.choose_padding_free("auto", m, "sdpa", "cuda") == (
        False, None, "auto: off, not yet measured to pay on a GPU")
    monkeypatch.setitem(levers.MEASURED_GAIN, "padding_free", 1.01)
    assert levers.choose_padding_free("auto", m, "sdpa", "cuda") == (
        False, None, "auto: off, measured 1.01x on a GPU: does not pay")
    monkeypatch.setitem(levers.MEASURED_GAIN, "padding_free", 1.23)
    assert levers.choose_padding_free("auto", m, "sdpa", "cpu") == (False, None, "auto: off, off CUDA")
    # On CUDA flex attention replaces sdpa (attention auto), flash-attn stays, a configured one is kept.
    assert levers.choose_padding_free("auto", m, "sdpa", "cuda") == (
        True, "flex_attention", "auto: on, measured 1.23x on a GPU")
    assert levers.choose_padding_free("auto", m, "flash_attention_2", "cuda") == (
        True, None, "auto: on, measured 1.23x on a GPU")
    assert levers.choose_padding_free(True, m, "eager", "cuda", attention_configured=True) == (
        True, None, "configured; eager computes every score of the whole row (flex_attention skips the blocks "
                    "between examples)")
    assert levers.choose_padding_free(True, m, "sdpa", "cpu") == (True, None, "configured")
    assert levers.choose_padding_free(False, m, "sdpa", "cuda") == (False, None, "configured")


def test_padding_free_falls_back_to_padded_batches_with_the_reason(monkeypatch, caplog):
    m = lora(gptj())
    assert levers.choose_padding_free(True, m, "sdpa", "cpu", collator="language_modeling") == (
        False, None, "configured, but data.collator language_modeling builds its own padded labels; "
                     "padded batches instead")
    assert levers.choose_padding_free(True, m, "my_kernel", "cpu") == (
        False, None, "configured, but attention my_kernel does not keep flattened examples apart (sdpa, eager, "
                     "flex_attention, flash-attn do); padded batches instead")
    assert "train.padding_free is on but attention my_kernel" in caplog.text
    assert levers.choose_padding_free("auto", m, "my_kernel", "cuda")[2] == \
        "auto: off, attention my_kernel does not keep flattened examples apart (sdpa, eager, flex_attention, " \
        "flash-attn do)"

    class NoPositions(torch.nn.Module):
        def forward(self, input_ids=None, attention_mask=None, labels=None):  # noqa: ANN001
            return None

    assert levers.packing_support(NoPositions(), "sdpa") == "the model's forward takes no position_ids"
    # A model whose code builds its own mask (not transformers' create_causal_mask).
    assert levers.packing_support(_OwnMask(), "sdpa") == \
        "the model does not build its attention mask with transformers' create_causal_mask"


class _OwnMask(torch.nn.Module):
    def forward(self, input_ids=None, position_ids=None, labels=None):  # noqa: ANN001
        return None


def test_the_plan_turns_it_on_and_estimates_the_row_without_padding():
    m = lora(gptj(attn="sdpa"))
    on = perf.plan_performance(cfg_with(padding_free=True, batch_size=4), m, use_cpu=True, max_example_length=100,
                               row_tokens=250)
    assert (on.padding_free, on.padding_free_reason, on.attention) == (True, "configured", "sdpa")
    off = perf.plan_performance(cfg_with(padding_free=False, batch_size=4), m, use_cpu=True, max_example_length=100)
    assert (off.padding_free, off.padding_free_reason) == (False, "configured")
    # The estimate: one row of the 4 longest examples' 250 real tokens against 4 x 104 padded.
    shape = perf.model_shape(perf.unwrap(m).config)
    kw = dict(attention="sdpa", checkpointing=False, chunked_loss=False, fused_gelu=True)
    fixed = perf.static_bytes(m)
    assert on.estimated_peak_gb == round((fixed + perf.activation_bytes(shape, 1, 250, packed=True, **kw)) / perf.GB, 2)
    assert perf.activation_bytes(shape, 1, 250, packed=True, **kw) < perf.activation_bytes(shape, 4, 104, **kw)
    # Compiled layers bucket the row's length, up to batch_size x max_length.
    cm = lora(gptj(attn="sdpa"))
    cfg = cfg_with(padding_free=True, compile=True, compile_backend="eager", batch_size=4)
    plan = perf.plan_performance(cfg, cm, use_cpu=True, max_example_length=100)
    try:
        assert plan.compile_buckets == levers.bucket_sizes(4 * 128, 4, 8) == [128, 256, 384, 512]
    finally:
        levers.uncompile_layers(levers.decoder_layers(cm))


def test_a_flattened_rows_activations_are_its_real_tokens_not_batch_times_the_longest():
    """Measured (the tensors one forward keeps for backward, bf16 autocast, LoRA with dropout):
    one more layer keeps, for a flattened row of 120 + 60 + 40 + 20 tokens, what
    `activation_bytes` puts on one 240-token row (within 10%, not below it): its real tokens,
    about half of what the padded 4 x 120 batch keeps, plus sdpa's mask over the row, which each
    layer keeps in 16 bits. The memory estimates plan padding-free runs this way (memfit, perf)."""
    hidden, inner, lengths = 128, 512, [120, 60, 40, 20]
    feats = [{"input_ids": list(range(1, n + 1)), "labels": list(range(1, n + 1))} for n in lengths]

    def per_layer(batch: dict) -> int:
        def measured(layers: int) -> int:
            m = gptj(layers=layers, hidden=hidden, dtype=torch.bfloat16, inner=inner, vocab=128)
            perf.fuse_gelu(m)
            m = lora(m, dropout=0.1)
            m.train()
            perf.unwrap(m).config.use_cache = False
            return perf.measure_saved_bytes(m, batch, torch.bfloat16)

        return measured(3) - measured(2)

    def estimate(layers: int, rows: int, seq: int, packed: bool) -> float:
        shape = perf.Shape(layers=layers, hidden=hidden, heads=4, intermediate=inner, vocab=0)
        return perf.activation_bytes(shape, rows, seq, attention="sdpa", checkpointing=False, chunked_loss=False,
                                     fused_gelu=True, packed=packed)

    flat, padded = per_layer(flattening_collator()(feats)), per_layer(PaddingCollator(0, 8)(feats))
    est = estimate(3, 1, 240, True) - estimate(2, 1, 240, True)
    assert flat <= est < flat * 1.1, (est, flat)
    assert est - estimate(1, 1, 240, False) == perf.SDPA_MASK_BYTES_PER_PAIR * 240 * 240  # the mask a layer keeps
    assert 0.5 < flat / padded < 0.56, (flat, padded)  # 240 real tokens against 480 padded


# --- the real recipe --------------------------------------------------------------------

def _steps(run: Path) -> list[list]:
    """Every step's [step, loss, grad_norm, supervised tokens], as the run store keeps them."""
    from tuneguard.store.run_store import RunStore

    with RunStore(run, readonly=True) as store:
        return [r for _, _, r in store.step_records()]


@pytest.mark.slow
def test_tuneguard_train_padding_free_learns_as_with_padded_batches(tmp_path, train_file, monkeypatch):
    """8 steps of the tiny preset (eager attention, length-bucketed batches of 8) with and without
    `train.padding_free=true`: exit 0, every training batch one flattened row (and no evaluation
    batch), the same per-step losses and gradient norms within float rounding, the same
    supervised tokens per step (the same examples in every step), the same evaluation loss
    (evaluation stays padded), and the choice recorded with its reason."""
    import tuneguard.data.collate as collate

    rows: list[tuple[int, ...]] = []
    real = collate.flattening_collator

    def recording() -> object:
        inner = real()

        def call(features: list[dict]) -> dict:
            batch = inner(features)
            assert "attention_mask" not in batch
            rows.append(tuple(batch["input_ids"].shape))
            return batch

        return call

    monkeypatch.setattr(collate, "flattening_collator", recording)
    common = ["--set", f"data.train_file={train_file}", "--set", "train.max_steps=8", "--set", "eval.steps=4",
              "--set", "train.logging_steps=4", "--set", "train.save_steps=8"]
    runs = {}
    for name, extra in (("padded", []), ("flat", ["--set", "train.padding_free=true"])):
        r = invoke("train", "tiny", "--run-dir", str(tmp_path / name), *common, *extra)
        assert r.returncode == 0, r.stdout + r.stderr
        runs[name] = tmp_path / name
    # 8 steps of one row each (accelerate's loader collates at most one batch ahead); none of the
    # 2 x 5 evaluation batches.
    assert 8 <= len(rows) <= 9 and all(r[0] == 1 for r in rows), rows
    padded, flat = _steps(runs["padded"]), _steps(runs["flat"])
    assert [s[0] for s in flat] == list(range(1, 9))
    for (step, loss, grad, tokens), (step2, loss2, grad2, tokens2) in zip(padded, flat, strict=True):
        assert (step2, tokens2) == (step, tokens)
        assert abs(loss2 - loss) < 1e-4 * abs(loss) and abs(grad2 - grad) < 1e-3 * abs(grad), (step, loss, loss2)
    evals = {}
    for name, run in runs.items():
        with RunStore(run) as store:
            evals[name] = [m["eval_loss"] for m in store.metrics("eval")]
            train_rows = store.metrics("train")
            meta = store.meta()
        assert all(row["tokens_per_s"] > 0 for row in train_rows if "tokens_per_s" in row)
        assert meta["performance"]["padding_free"] is (name == "flat")
        assert meta["performance"]["padding_free_reason"] == ("configured" if name == "flat" else "auto: off, off CUDA")
    assert len(evals["flat"]) == 2
    assert evals["flat"] == pytest.approx(evals["padded"], rel=1e-4)
