"""The typed config schema. Every default of tuneguard lives here and nowhere else.

Unknown keys are errors (`extra="forbid"`): a typo such as `learning_rte` must never be
silently ignored. Cross-field checks live in `Config._cross_checks`; all problems are
collected by `tuneguard.config.load.validate_config` (the one entry point) and reported
at once.
"""

from __future__ import annotations

from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

from tuneguard.events import NOTIFIABLE

GUARD_ACTIONS = ("warn", "halt")
POLICY_ACTIONS = ("warn", "halt", "checkpoint", "scale_lr", "rollback")


class Section(BaseModel):
    # No NaN or infinity in a config: `learning_rate: .inf` is a typo, never a setting.
    model_config = ConfigDict(extra="forbid", validate_assignment=False, allow_inf_nan=False)


class ModelConfig(Section):
    """Which base model to load and how."""

    name: str = Field(
        "EleutherAI/gpt-j-6b",
        description="Hub id, local path, or a built-in model: builtin:tiny-gptj, builtin:smollm2-135m.",
    )
    revision: str | None = Field(None, description="Hub revision (branch, tag or commit).")
    gguf_file: str | None = Field(None, description="GGUF file inside `name` to load (dequantised).")
    dtype: Literal["auto", "bf16", "fp16", "fp32"] = Field(
        "auto", description="auto: bf16 on GPUs with native bf16 (compute capability 8.0+: A100, H100, L4, RTX 30xx+), "
        "fp16 with loss scaling on older GPUs (T4, V100), fp32 on the CPU. fp16 needs a GPU: `train` refuses it on "
        "the CPU (no loss scaling there; the loss would overflow to NaN)."
    )
    attn_implementation: Literal["auto", "sdpa", "eager", "flex_attention", "flash_attention_2"] = Field(
        "sdpa", description="Attention kernel; auto picks the best one available."
    )
    load_in_8bit: bool = Field(False, description="8-bit base weights (bitsandbytes, CUDA only).")
    load_in_4bit: bool = Field(False, description="4-bit NF4 base weights (bitsandbytes, CUDA only).")
    gradient_checkpointing: bool | Literal["auto"] = Field(
        "auto", description="Recompute activations in backward to save memory; auto: only when the estimated peak "
        "memory does not fit the device (a GPU run that does not fit even so is refused before loading, with the "
        "--set lines that fix it)."
    )
    fused_gelu: bool = Field(
        True, description="Run tanh-approximate GELUs written as elementwise ops (GPT-J's gelu_new) as PyTorch's "
        "fused kernel: the same function, one kernel, less activation memory."
    )
    adapter_dtype: Literal["auto", "float32", "base"] = Field(
        "auto", description="dtype of the LoRA weights: float32 (PEFT's default: the activations are cast to "
        "fp32 and back around every adapter), or base: the base model's bf16, no casts (bf16 bases only); auto: "
        "float32 until a GPU measurement shows base pays (docs/PERFORMANCE.md)."
    )
    trust_remote_code: bool = Field(False, description="Allow custom modelling code from the hub.")
    hub_token: str | None = Field(None, description="Hub token (secret; prefer the HF_TOKEN env var).")
    context_length: int | None = Field(
        None, ge=1, description="Model context window; read from the model config when unset."
    )


class LoraConfig(Section):
    """LoRA adapter (PEFT)."""

    modules_to_save: list[str] | None = Field(
        None, description="Modules trained in full and saved with the adapter (e.g. lm_head).")

    r: int = Field(8, ge=1, description="LoRA rank.")
    alpha: int = Field(16, ge=1, description="LoRA alpha (scaling = alpha / r).")
    dropout: float = Field(0.05, ge=0.0, lt=1.0, description="Dropout on the LoRA input.")
    target_modules: list[str] | None = Field(
        None, description="Modules to adapt; unset: the attention projections (tuneguard's table for GPT-J, Llama, "
        "Mistral, Qwen2, Gemma, Phi, GPT-2, GPT-NeoX, OPT, Falcon, Bloom; found in the module tree for the rest)."
    )
    bias: Literal["none", "all", "lora_only"] = Field("none", description="Which biases to train.")


class DataConfig(Section):
    """Where the data is, how rows become prompt/response pairs, and how they are tokenized."""

    train_file: str | list[str] | None = Field(
        None, description="JSONL, JSON, CSV, Parquet file, a saved HF dataset folder, a folder of data files (a hub "
        "export: its train shards), a glob pattern, or a list of these read in order ([train-a.jsonl, "
        "train-b.jsonl]; docs/DATA.md).")
    validation_file: str | list[str] | None = Field(
        None, description="Validation data (the same kinds of source as train_file); split from train when unset.")
    test_file: str | list[str] | None = Field(None, description="Held-out test data evaluated once at the end.")
    format: Literal["auto", "text", "instruction", "completion", "chat"] = Field(
        "auto", description="Row format: text (one field, all supervised), instruction (Alpaca: instruction, input, "
        "output, wrapped in data.prompt_template), completion (prompt, completion: the prompt used as it is), chat "
        "(messages of role/content, or ShareGPT conversations of from/value; a per-message weight/train 0 masks an "
        "answer); auto detects it from the fields (docs/DATA.md).")
    text_field: str = Field("text", description="Field of `text` rows.")
    instruction_field: str = Field("instruction", description="Field with the instruction.")
    input_field: str = Field("input", description="Optional field with extra input for the instruction.")
    output_field: str = Field("output", description="Field with the response.")
    prompt_field: str = Field("prompt", description="Field with the prompt of completion rows (used verbatim).")
    completion_field: str = Field("completion", description="Field with the completion of completion rows.")
    messages_field: str = Field("messages", description="Field with chat messages (role, content); rows without it "
                                "and with a ShareGPT `conversations` field (from: human/gpt/system, value) read that.")
    system_field: str = Field("system", description="Field with an instruction row's system prompt (LLaMA-Factory's "
                              "alpaca `system`): it goes where the prompt template has {system}, else before the "
                              "prompt followed by a blank line; masked like the prompt.")
    prompt_template: str = Field(
        "### Instruction:\n{instruction}\n\n### Response:\n",
        description="Template for instruction rows without input ({instruction}; {system} places the row's system "
        "prompt).",
    )
    prompt_template_with_input: str = Field(
        "### Instruction:\n{instruction}\n\n### Input:\n{input}\n\n### Response:\n",
        description="Template for instruction rows with input ({instruction}, {input}; {system} as above).",
    )
    use_chat_template: bool = Field(True, description="Render chat rows with the tokenizer's chat template.")
    chat_turns: Literal["all", "last"] = Field(
        "all", description="Which assistant turns of a chat row are supervised. all: every assistant message, with "
        "the chat template's end-of-turn marker, while system, user and tool messages stay masked; the default of "
        "TRL (assistant_only_loss), axolotl (roles_to_train: [assistant]) and torchtune, because a 5-turn "
        "conversation then teaches 5 answers instead of 1. last: only the final answer, everything before it is "
        "the prompt. A row whose chat template renders its earlier turns differently once the conversation goes "
        "on (a date, dropped reasoning) is trained as under last, and the data stats count it.")
    test_size: float = Field(0.1, gt=0.0, lt=1.0, description="Validation share split from train.")
    seed: int = Field(42, description="Seed of the split and subsampling.")
    train_samples: int | None = Field(None, ge=1, description="Use at most this many training rows.")
    eval_samples: int | None = Field(None, ge=1, description="Use at most this many validation rows.")
    max_length: int = Field(512, ge=8, description="Maximum tokens per example.")
    train_on_prompt: bool = Field(False, description="Supervise prompt tokens too (not recommended).")
    pad_token: Literal["auto", "eos"] = Field(
        "auto", description="auto: a pad token distinct from EOS (the tokenizer's unknown token when it has one, "
        "else a new <|pad|>); eos reproduces the old pipeline (audit flags it)."
    )
    collator: Literal["tuneguard", "language_modeling"] = Field(
        "tuneguard",
        description="language_modeling reproduces DataCollatorForLanguageModeling (labels = inputs, pad masked).",
    )
    max_malformed_fraction: float = Field(
        0.01, ge=0.0, le=1.0, description="Skip malformed rows below this share; above it the audit's MALFORMED_ROWS is an "
        "error and training refuses to start (--force trains on the other rows)."
    )
    batching: Literal["token_budget", "padded"] = Field(
        "token_budget", description="token_budget: length-bucketed batches; padded: plain random batches."
    )
    pad_to_multiple_of: int = Field(8, ge=1, description="Pad batch length to a multiple of this.")
    num_proc: int = Field(1, ge=1, description="Processes for tokenization.")
    cache: bool = Field(True, description="Keep the tokenized data and the audit's findings in RUN_DIR/cache/ and "
                        "reuse them when a run resumes or starts again there (--overwrite keeps the cache): keyed on "
                        "the data files (size, mtime, SHA-256), the tokenizer, this section and the tuneguard "
                        "version, and recomputed (with a line saying why) when any of them changed.")
    task: Literal["auto", "classification", "extraction", "rewriting", "open"] = Field(
        "auto", description="What the responses are, which decides how the audit judges them: classification "
        "(short labels from a small set, or an FAQ's fixed replies given to differently worded questions), extraction "
        "(spans of the input), rewriting (the input transformed), "
        "open (free answers); auto infers it from the data (audit summary, `audit --json` stats.task).")

    @field_validator("train_file", "validation_file", "test_file")
    @classmethod
    def _source_list(cls, v: str | list[str] | None) -> str | list[str] | None:
        """A list names at least one source, each a non-empty path; one path is kept as a string."""
        if isinstance(v, list):
            if not v or any(not p.strip() for p in v):
                raise ValueError("a list of data files must name at least one file, none of them empty")
            return v[0] if len(v) == 1 else v
        return v


class TrainConfig(Section):
    """Optimisation and the training loop."""

    num_epochs: float = Field(3.0, gt=0, description="Epochs (ignored when max_steps > 0).")
    max_steps: int = Field(-1, description="Optimizer steps; -1 trains num_epochs.")
    learning_rate: float = Field(2e-4, description="Peak learning rate.")
    weight_decay: float = Field(0.0, ge=0.0, description="AdamW weight decay.")
    batch_size: int = Field(4, description="Examples per device per micro-batch (a budget of batch_size x max_length "
                            "tokens under token_budget batching).")
    eval_batch_size: int | None = Field(None, ge=1, description="Eval batch size; batch_size when unset.")
    gradient_accumulation_steps: int = Field(1, ge=1, description="Micro-batches per optimizer step.")
    lr_scheduler: Literal["linear", "cosine", "constant", "constant_with_warmup"] = Field("cosine")
    warmup_ratio: float = Field(0.1, ge=0.0, lt=1.0, description="Share of steps for linear warmup.")
    max_grad_norm: float = Field(1.0, gt=0.0, description="Gradient clipping.")
    optim: str = Field("adamw_torch", description="Trainer optimizer name.")
    seed: int = Field(42, description="Training seed.")
    logging_steps: int = Field(10, ge=1, description="Log metrics every N optimizer steps.")
    save_steps: int = Field(500, ge=1, description="Checkpoint every N steps (with eval.strategy steps).")
    save_total_limit: int = Field(3, ge=1, description="Checkpoints kept (the best is always kept).")
    report_to: list[str] = Field(default_factory=list, description="Trackers: tensorboard, mlflow, wandb.")
    use_cpu: bool = Field(False, description="Train on CPU even when a GPU is present.")
    dataloader_num_workers: int = Field(0, ge=0)
    torch_compile: bool = Field(False, description="torch.compile the model.")
    compile: bool | Literal["auto"] = Field(
        "auto", description="torch.compile each decoder layer (static shapes, one compilation shared by all "
        "layers) for training batches, whose lengths are padded up to train.compile_buckets sizes so it compiles "
        "once per size; evaluation runs uncompiled; auto: off until a GPU measurement shows it pays "
        "(docs/PERFORMANCE.md)."
    )
    compile_buckets: int = Field(
        4, ge=1, le=64, description="With train.compile: the number of sequence-length sizes training batches are "
        "padded up to (evenly spaced up to data.max_length), so the number of compilations."
    )
    compile_backend: str = Field(
        "inductor", description="torch.compile backend of train.compile (inductor; aot_eager or eager to debug)."
    )
    fused_linear_loss: bool | Literal["auto"] = Field(
        "auto", description="With the chunked loss on CUDA: liger-kernel's fused linear cross-entropy instead of "
        "the checkpointed chunks (falls back to them when liger-kernel is not installed or the device is not "
        "CUDA); auto: off until a GPU measurement shows it pays (docs/PERFORMANCE.md)."
    )
    padding_free: bool | Literal["auto"] = Field(
        "auto", description="Training batches flattened into one row of real tokens (no padding; position ids "
        "restart at 0 per example and no token is predicted across a boundary), with an attention that keeps "
        "the examples apart (sdpa, eager, flex_attention, flash-attn; flex_attention on CUDA when "
        "model.attn_implementation is auto); evaluation stays padded; auto: off until a GPU measurement shows "
        "it pays (docs/PERFORMANCE.md)."
    )
    chunked_loss: bool | Literal["auto"] = Field(
        "auto", description="Cross-entropy from the final hidden states in chunks through the LM head, only at "
        "supervised positions, never the full fp32 logits of a batch; auto: on for vocabularies >= 32,000."
    )
    memory_budget_gb: float | None = Field(
        None, gt=0, description="Device memory the automatic choices (gradient checkpointing auto) plan for; "
        "the device's total memory when unset."
    )
    # Several processes (torchrun / accelerate launch): see docs/DISTRIBUTED.md.
    ddp_timeout: int = Field(
        1800, ge=10, description="Seconds a process waits in a collective for the others before the run fails "
        "(a dead node ends the run after at most this long; resume with --resume auto)."
    )
    control_every_steps: int = Field(
        1, ge=1, description="Under several processes, all ranks agree on stop/pause/checkpoint requests and "
        "signals every N optimizer steps (one tiny CPU collective)."
    )
    fsdp: str | None = Field(
        None, description="Passed to the Trainer: e.g. 'full_shard auto_wrap' to shard a model whose replica "
        "does not fit one GPU (launch with torchrun or accelerate)."
    )
    fsdp_config: dict | None = Field(None, description="Passed to the Trainer with train.fsdp.")
    deepspeed: str | None = Field(
        None, description="DeepSpeed JSON config path passed to the Trainer (needs `pip install deepspeed`)."
    )


class QAProbe(Section):
    """A prompt generated at every evaluation, and how to judge its answer."""

    prompt: str = Field(description="Fed verbatim: write it in the training format.")
    keywords: list[str] = Field(default_factory=list, description="Words a good answer contains (word boundaries).")
    expected: str | list[str] | None = Field(
        None, description="The right answer (or a list of right answers): the output must equal it or contain it "
        "whole, normalised (case, spaces, surrounding punctuation) and on word boundaries.")


def _yaml_no(v: object) -> object:
    """YAML 1.1 reads a bare `no` as false; `eval.strategy: no` means the string."""
    return "no" if v is False else v


class EvalConfig(Section):
    """Evaluation cadence, early stopping and the QA probes."""

    _strategy_no = field_validator("strategy", mode="before")(classmethod(lambda cls, v: _yaml_no(v)))

    strategy: Literal["steps", "epoch", "no"] = Field("steps", description="When to evaluate.")
    steps: int = Field(500, ge=1, description="Evaluate every N steps (strategy steps).")
    load_best_model_at_end: bool = Field(True, description="Reload the best checkpoint at the end.")
    early_stopping_patience: int | None = Field(None, ge=1, description="Evaluations without improvement before stopping.")
    early_stopping_threshold: float = Field(0.0, ge=0.0, description="Minimum improvement that counts.")
    qa_probes: list[QAProbe] = Field(
        default_factory=list, description="Prompts generated at every evaluation (and by the base model at the end): "
        "{prompt, keywords, expected}; `expected` is the right answer, matched whole after normalising case, spaces "
        "and surrounding punctuation.")
    qa_max_new_tokens: int = Field(48, ge=1, le=1024, description="Tokens generated per QA probe.")


SEVERITY_LEVELS = ("off", "info", "warning", "error")
SeverityOverride = Literal["off", "info", "warning", "error"]


def _yaml_off(v: Any) -> Any:
    """YAML 1.1 reads a bare `off` as false; in a severity table it means the level."""
    return {k: ("off" if x is False else x) for k, x in v.items()} if isinstance(v, dict) else v


def _known(codes: tuple[str, ...], key: str, v: dict[str, Any]) -> dict[str, Any]:
    unknown = sorted(set(v) - set(codes))
    if unknown:
        raise ValueError(f"unknown {key} code(s) {unknown}; known: {', '.join(codes)}")
    return v


class GuardConfig(Section):
    """Thresholds of the health monitors and what each finding code does."""

    enabled: bool = Field(True, description="Run the guards.")
    watch_steps: int = Field(
        200, ge=0, description="The first N optimizer steps, where collapses and NaNs happen: the loss guards "
        "(LOSS_COLLAPSE, NON_FINITE, LOSS_SPIKE, GRAD_NORM_HIGH) judge each step as it ends, so a halt comes at the "
        "step that found it, not at the next log; it reads the step's loss from the device (one synchronisation per "
        "step, as the Trainer's default NaN filter does per micro-batch). Later steps are judged at each log. "
        "0: at logs only.")
    collapse_floor: float = Field(
        0.1, gt=0, description="LOSS_COLLAPSE: a training loss below this (nats per token) while the rows are still "
        "new to the model (collapse_exposures, collapse_passes).")
    collapse_ratio: float = Field(0.05, gt=0, lt=1, description="LOSS_COLLAPSE: loss below this share of the initial loss.")
    collapse_exposures: float = Field(
        1.0, gt=0, description="LOSS_COLLAPSE: a low loss is judged while the average distinct row (the audit's "
        "exact and near duplicate groups each counted once) has been seen at most this many times: the loss is "
        "then on rows the model has not trained on.")
    collapse_passes: float = Field(
        2.0, gt=0, description="LOSS_COLLAPSE with an audit cause (duplicates, templates, leakage, label faults): "
        "judged while the run has gone over its rows at most this many times.")
    collapse_repeats: float = Field(
        2.0, ge=1, description="LOSS_COLLAPSE with duplicates found by the audit (an error) and at least this many rows "
        "per distinct row: judged at any point of the run (the copies are memorised whatever the passes).")
    collapse_eval_ratio: float = Field(
        4.0, gt=1, description="LOSS_COLLAPSE is an error (halts) without an audit cause only when the eval loss is "
        "above this times the training loss averaged since the previous evaluation (and above it by more than "
        "collapse_floor): the training rows are predictable in a way unseen rows are not.")
    collapse_eval_kept: float = Field(
        0.5, gt=0, le=1, description="LOSS_COLLAPSE: ... and only while the eval loss is still above this share of "
        "the initial loss (unseen rows did not get easier: memory, not learning).")
    overfit_evals: int = Field(3, ge=2, description="OVERFITTING: eval loss rising this many evaluations in a row.")
    overfit_gap: float = Field(0.5, gt=0, description="OVERFITTING: eval minus train loss above this.")
    divergence_ratio: float = Field(1.5, gt=1, description="EVAL_DIVERGENCE: eval loss above this times train loss.")
    divergence_min_gap: float = Field(
        0.25, ge=0, description="EVAL_DIVERGENCE: and above it by more than this (nats per token): near zero any two "
        "small losses differ by a large ratio.")
    spike_factor: float = Field(2.0, gt=1, description="LOSS_SPIKE: loss above this times the running median.")
    spike_window_examples: int = Field(
        1024, ge=1, description="LOSS_SPIKE: each step's loss is held against the steps of the last this many "
        "examples seen (no more than the later half of all seen so far; at least 5 steps).")
    spike_min_jump: float = Field(
        0.25, ge=0, description="LOSS_SPIKE: and above the spike_quantile of those steps by more than this (nats "
        "per token): near zero any two small losses differ by a large ratio.")
    spike_quantile: float = Field(
        0.95, gt=0, le=1, description="LOSS_SPIKE: the high end of the recent steps' range that a spike must clear by "
        "spike_min_jump: steps of length-bucketed batches swing with the task they hold (0.5: the median, the old "
        "rule).")
    spike_spread: float = Field(
        4.5, ge=0, description="LOSS_SPIKE: and more than this many robust standard deviations (median "
        "absolute deviation x 1.4826, of the logs) above those steps' median, or above the latest eval loss when "
        "higher: the usual swing of steps at this batch size (small batches of varied rows swing widely). 0: the "
        "ratio and quantile rules alone.")
    spike_early_factor: float = Field(
        4.0, ge=0, description="LOSS_SPIKE in the first steps, before 5 steps make a baseline: a loss above this "
        "times the highest loss of every step before it (the first, untrained one included) and above it by more "
        "than spike_min_jump. Above spike_factor: the first batches of tasks of different difficulty swing by up to "
        "3-4x. 0: not judged before 5 steps.")
    spike_recovery_steps: int = Field(
        5, ge=0, description="LOSS_SPIKE: a spike with an ordinary gradient norm (see spike_grad_ratio), not above "
        "spike_factor x the first step's loss and not repeating waits this many steps: back at the level of the steps "
        "before it by then, it is an info finding (recovered: no action, no failed verdict); else a warning. 0: every "
        "spike warns at once.")
    spike_grad_ratio: float = Field(
        3.0, gt=1, description="LOSS_SPIKE: a spike whose step's gradient norm is above this times the median norm "
        "of the last 32 steps (or above grad_norm_max) warns at once: the bad batch moved the weights.")
    spike_repeat_examples: int = Field(
        8192, ge=0, description="LOSS_SPIKE: a spike within this many examples seen after the previous one repeats "
        "and warns at once.")
    grad_norm_max: float = Field(10.0, gt=0, description="GRAD_NORM_HIGH threshold.")
    plateau_evals: int = Field(3, ge=2, description="PLATEAU: evaluations considered.")
    plateau_rel_change: float = Field(0.001, gt=0, description="PLATEAU: relative change below this.")
    plateau_min_share: float = Field(
        0.05, ge=0, lt=1, description="PLATEAU: the evaluations considered also span at least this share of the "
        "planned steps (with an evaluation every 500 steps of 100,000, three evaluations are 1.5% of the run).")
    memory_fraction: float = Field(0.9, gt=0, le=1, description="MEMORY_HIGH: share of device/machine memory.")
    throughput_ratio: float = Field(0.5, gt=0, lt=1, description="THROUGHPUT_DROP: tokens/s below this share of its median.")
    throughput_window_s: float = Field(
        600.0, gt=0, description="THROUGHPUT_DROP: the running median is over the logs of the last this many seconds "
        "of training.")
    throughput_patience_s: float = Field(
        60.0, ge=0, description="THROUGHPUT_DROP: slow without a break for at least this many seconds of training "
        "before a finding (info when it recovers before throughput_sustained_s).")
    throughput_sustained_s: float = Field(
        300.0, ge=0, description="THROUGHPUT_DROP: a slowdown this many seconds of training long is a warning; a "
        "shorter one (at least throughput_patience_s) that recovers is info, said when it recovers.")
    throughput_warmup_s: float = Field(
        60.0, ge=0, description="THROUGHPUT_DROP: the first seconds of training are ignored (warm-up).")
    throughput_min_window_s: float = Field(
        0.5, ge=0, description="THROUGHPUT_DROP: ignore logging windows shorter than this (timing noise).")
    qa_drop: float = Field(0.25, gt=0, le=1, description="QA_DEGRADED: keyword score drop against the best.")
    actions: dict[str, Literal["warn", "halt"]] = Field(
        default_factory=lambda: dict[str, Literal["warn", "halt"]](NON_FINITE="halt", LOSS_COLLAPSE="halt"),
        description="Per finding code: warn (record, notify) or halt (checkpoint, stop, exit 1). Others warn. "
        "Info findings never halt, nor does a code guard.severity sets below error.",
    )
    severity: dict[str, SeverityOverride] = Field(
        default_factory=dict, description="Per guard code: off (not recorded), info, warning or error, replacing "
        "the severity the guard gives; a code set below error never halts (docs/FINDINGS.md).")

    _severity_off = field_validator("severity", mode="before")(classmethod(lambda cls, v: _yaml_off(v)))

    @field_validator("actions", "severity")
    @classmethod
    def _known_codes(cls, v: dict[str, str]) -> dict[str, str]:
        from tuneguard.findings import GUARD_CODES

        return _known(GUARD_CODES, "guard", v)


class PolicyRule(Section):
    """What the policy does when a guard reports one finding code (tuneguard.policy)."""

    action: Literal["warn", "halt", "checkpoint", "scale_lr", "rollback"] = Field(
        "warn", description="warn: record and notify; halt: checkpoint, stop, exit 1; checkpoint: save now; "
        "scale_lr: multiply the learning rate from now on; rollback: reload the newest checkpoint before the "
        "problem began and skip the offending batches.")
    scale_lr: float | None = Field(
        None, gt=0, description="scale_lr: the factor (required); rollback: also multiply the learning rate by it.")
    skip_steps: int | None = Field(
        None, ge=0, description="rollback: skip the batches of this many optimizer steps up to the finding's step; "
        "unset: the steps of the logging window in which the finding was logged.")
    times: int | None = Field(None, ge=1, description="Act at most this many times per run; afterwards `then`.")
    then: Literal["warn", "halt"] = Field("halt", description="What a finding gets once `times` is used up.")
    triggers: list[str] | None = Field(
        None, description="Act only when the finding's evidence names one of these triggers "
        "(OVERFITTING: rising, gap); otherwise warn.")
    keep_best: bool = Field(False, description="halt: end with the best checkpoint (by eval loss) and name it.")

    @model_validator(mode="before")
    @classmethod
    def _shorthand(cls, v: Any) -> Any:
        """`PLATEAU: warn` and `GRAD_NORM_HIGH: {scale_lr: 0.5}` are rules too."""
        if isinstance(v, str):
            return {"action": v}
        if isinstance(v, dict) and "action" not in v and v.get("scale_lr") is not None:
            return {**v, "action": "scale_lr"}
        return v

    @model_validator(mode="after")
    def _factor_needed(self) -> "PolicyRule":
        if self.action == "scale_lr" and self.scale_lr is None:
            raise ValueError("action scale_lr needs a factor, e.g. {action: scale_lr, scale_lr: 0.5}")
        return self


def _default_policy_rules() -> dict[str, dict[str, Any]]:
    return {
        # One rollback with half the learning rate (OPT-175B, PaLM practice); a later spike warns: with
        # small batches of varied rows a hard batch looks like a spike, and halting on the second one
        # stopped a healthy SmolLM2 run (bench/diagnosis.py, extraction, batch 4).
        "LOSS_SPIKE": {"action": "rollback", "scale_lr": 0.5, "times": 1, "then": "warn"},
        # Eval loss rising for guard.overfit_evals evaluations: early stopping on the best checkpoint.
        "OVERFITTING": {"action": "halt", "triggers": ["rising"], "keep_best": True},
        "PLATEAU": {"action": "warn"},
    }


class PolicyConfig(Section):
    """What the run does about guard findings: rules per code, bounds, and a limit."""

    enabled: bool = Field(True, description="Act on findings by policy.rules and accept set-lr/rollback requests.")
    rules: dict[str, PolicyRule] = Field(
        default_factory=_default_policy_rules, validate_default=True,
        description="Per finding code: a rule {action, scale_lr, skip_steps, times, then, triggers, keep_best} or "
        "just its action name (docs/POLICIES.md). A code named in both guard.actions and here follows the one the "
        "config sets; codes in neither warn.",
    )
    max_actions: int = Field(
        5, ge=0, description="Automatic interventions (checkpoint, scale_lr, rollback) per run; the next one halts "
        "the run instead, with a POLICY_LIMIT finding.")
    min_lr: float | None = Field(
        None, gt=0, description="Lowest peak learning rate scale_lr/rollback/set-lr may reach; "
        "unset: train.learning_rate / 100.")
    max_lr: float | None = Field(
        None, gt=0, description="Highest peak learning rate scale_lr/set-lr may reach; unset: train.learning_rate.")

    @field_validator("rules")
    @classmethod
    def _known_codes(cls, v: dict[str, PolicyRule]) -> dict[str, PolicyRule]:
        from tuneguard.findings import GUARD_CODES

        unknown = sorted(set(v) - set(GUARD_CODES))
        if unknown:
            raise ValueError(f"unknown guard code(s) {unknown}; known: {', '.join(GUARD_CODES)}")
        return v


NOTIFY_EVENTS = tuple(e.value for e in NOTIFIABLE)


class NotifyConfig(Section):
    """Where notifications go (apprise URLs) and what is sent."""

    urls: list[str] = Field(
        default_factory=list,
        description="apprise URLs (secret), or ${ENV_VAR} references that hold them.",
    )
    language: Literal["en", "th"] = Field("en", description="Message language.")
    progress_interval_s: float = Field(
        300.0, gt=0, description="Seconds before the first progress message. Progress and evaluation messages are "
        "periodic: each waits twice as long after the one before, up to notify.periodic_max_s, so a run of days "
        "sends a few dozen, not a thousand (LINE's free plans allow 200-300 messages a month). Findings, halts, "
        "stops and the end of the run are always sent.")
    periodic_max_s: float = Field(
        3600.0, ge=0, description="The longest wait between periodic (progress, evaluation) messages; at or below "
        "notify.progress_interval_s the wait never grows.")
    every_evaluation: bool = Field(
        False, description="Send every evaluation's message; by default an evaluation is sent when it is the first "
        "or the periodic wait has passed (the run store and the report keep every evaluation), and its QA samples "
        "with it.")
    events: list[str] = Field(default_factory=lambda: list(NOTIFY_EVENTS), description="Which events to send.")
    timeout_s: float = Field(10.0, gt=0, description="Per-request timeout.")
    retries: int = Field(3, ge=0, description="Retries on 429/5xx.")
    queue_size: int = Field(256, ge=1, description="Bounded queue of pending messages.")
    flush_timeout_s: float = Field(15.0, ge=0, description="Time allowed to flush at the end of the run.")

    @field_validator("events")
    @classmethod
    def _known_events(cls, v: list[str]) -> list[str]:
        unknown = sorted(set(v) - set(NOTIFY_EVENTS))
        if unknown:
            raise ValueError(f"unknown event(s) {unknown}; known: {', '.join(NOTIFY_EVENTS)}")
        return v


class ReportConfig(Section):
    """Success criteria used by the report's verdict."""

    language: Literal["en", "th"] | None = Field(
        None, description="Language of report.html, report.md, the compare page and fix-report.md (en, th); unset: notify.language.")
    max_final_gap: float = Field(0.5, gt=0, description="Final eval-train gap that still passes.")
    min_early_stop_share: float = Field(0.3, ge=0, le=1, description="Early stopping before this share of planned steps is premature.")
    test_margin: float = Field(0.1, ge=0, description="Test loss may exceed validation loss by this share.")
    test_margin_abs: float = Field(
        0.05, ge=0, description="Test loss may also exceed validation loss by this many nats, whichever allows "
        "more: at a validation loss of 0.025 a 10% margin is 0.0025 nats, less than two small splits of the same data "
        "differ by.")
    min_answer_accuracy: float = Field(
        0.5, gt=0, le=1, description="Share of QA probes with an `expected` answer that must be answered right for "
        "the answers criterion to pass (it also fails when the answers are worse than the base model's).")


class AuditConfig(Section):
    """The pre-flight data audit: how many rows it reads, its thresholds and per-code severities.

    Threshold defaults follow docs/FINDINGS.md (evidence: the loss-collapse research note); each finding's
    evidence names the thresholds it was judged by."""

    max_rows: int = Field(200_000, ge=1, description="Rows audited per split; a seeded sample (data.seed) when larger.")
    near_dup_threshold: float = Field(0.8, gt=0.0, le=1.0, description="Jaccard of word n-grams at which two rows are near duplicates.")
    num_perm: int = Field(128, ge=16, le=1024, description="MinHash permutations (more: slower, more precise).")
    ngram: int = Field(5, ge=1, le=16, description="Words per shingle for near-duplicate detection.")
    label_check_rows: int = Field(2000, ge=1, description="Training rows collated to check labels, padding and EOS.")
    severity: dict[str, SeverityOverride] = Field(
        default_factory=dict, description="Per audit code: off (not reported), info, warning or error, replacing the "
        "audit's own severity; an error makes `train` refuse to start (docs/FINDINGS.md).")
    exact_dup_warning: float = Field(0.01, ge=0, le=1, description="DUPLICATE_EXACT: warning above this share of extra copies.")
    exact_dup_error: float = Field(0.05, ge=0, le=1, description="DUPLICATE_EXACT: error above this share of extra copies.")
    near_dup_warning: float = Field(0.01, ge=0, le=1, description="DUPLICATE_NEAR: warning above this share of extra near copies.")
    near_dup_error: float = Field(0.10, ge=0, le=1, description="DUPLICATE_NEAR: error above this share of extra near copies.")
    near_cluster_error: float = Field(
        0.005, ge=0, le=1, description="DUPLICATE_NEAR: error when one cluster holds more than this share of rows "
        "(and at least near_cluster_min texts).")
    near_cluster_min: int = Field(10, ge=2, description="DUPLICATE_NEAR: distinct texts a cluster needs to be an error.")
    leakage_error: float = Field(
        0.05, ge=0, le=1, description="TRAIN_VAL_LEAKAGE: error above this share of a validation/test split found in "
        "training; any leaked row is a warning with the list.")
    unique_response_min: float = Field(0.5, ge=0, le=1, description="LOW_DIVERSITY signal: unique responses below this share of rows.")
    top_responses_max: float = Field(
        0.2, ge=0, le=1, description="LOW_DIVERSITY signal: the 20 most common responses cover more than this share.")
    distinct2_min: float = Field(0.2, ge=0, le=1, description="LOW_DIVERSITY signal: distinct word bigrams / bigrams below this.")
    template_coverage_max: float = Field(
        0.5, ge=0, le=1, description="LOW_DIVERSITY signal: more than this share of response words in 8-word phrases "
        "shared by over 10% of rows.")
    diversity_error_signals: int = Field(2, ge=1, le=4, description="LOW_DIVERSITY: signals that make an error (fewer: warning).")
    label_majority_warning: float = Field(
        0.9, gt=0, le=1, description="LOW_DIVERSITY for classification: warning when one label is more than this share "
        "of rows (a single label is an error).")
    answer_in_prompt_ratio: float = Field(
        0.9, gt=0, le=1, description="ANSWER_IN_PROMPT: a row counts when this share of its answer is copied in its prompt "
        "(a pasted answer is all of it; real translations and code completions copy names and patterns, up to 80%).")
    answer_in_prompt_warning: float = Field(
        0.02, ge=0, le=1, description="ANSWER_IN_PROMPT: warning above this share of rows (below: info; real "
        "translations copy identifiers such as option names in about 1% of rows).")
    answer_in_prompt_error: float = Field(0.05, ge=0, le=1, description="ANSWER_IN_PROMPT: error above this share of rows.")
    pad_in_labels_error: float = Field(
        0.05, ge=0, le=1, description="PAD_IN_LABELS: error above this share of positions (any: warning).")
    eos_missing_warning: float = Field(
        0.02, ge=0, le=1, description="EOS_MISSING: warning above this share of rows (no EOS anywhere: error).")
    prompt_share_warning: float = Field(
        0.5, ge=0, le=1,
        description="PROMPT_NOT_MASKED: warning when prompt tokens exceed this share of supervised tokens.")
    truncated_warning: float = Field(0.02, ge=0, le=1, description="ANSWER_TRUNCATED: warning above this share of rows.")
    tokenizer_mismatch_warning: float = Field(0.01, ge=0, le=1, description="TOKENIZER_MISMATCH: warning above this share of rows.")
    task_share: float = Field(
        0.8, gt=0.5, le=1, description="data.task auto: the share of rows that must show a shape (answer a span of "
        "the input, or a rewrite of it) for the data to be that task.")
    task_max_labels: int = Field(
        50, ge=2, description="data.task auto: at most this many distinct short answers, each seen 3 times on average, "
        "make the data a classification task (so do at most this many longer fixed replies, given to differently "
        "worded questions).")

    _severity_off = field_validator("severity", mode="before")(classmethod(lambda cls, v: _yaml_off(v)))

    @field_validator("severity")
    @classmethod
    def _known_codes(cls, v: dict[str, str]) -> dict[str, str]:
        from tuneguard.findings import AUDIT_CODES

        return _known(AUDIT_CODES, "audit", v)


class Config(Section):
    """A whole tuneguard run."""

    model: ModelConfig = Field(default_factory=ModelConfig)
    data: DataConfig = Field(default_factory=DataConfig)
    lora: LoraConfig = Field(default_factory=LoraConfig)
    train: TrainConfig = Field(default_factory=TrainConfig)
    eval: EvalConfig = Field(default_factory=EvalConfig)
    guard: GuardConfig = Field(default_factory=GuardConfig)
    policy: PolicyConfig = Field(default_factory=PolicyConfig)
    notify: NotifyConfig = Field(default_factory=NotifyConfig)
    report: ReportConfig = Field(default_factory=ReportConfig)
    audit: AuditConfig = Field(default_factory=AuditConfig)

    @model_validator(mode="after")
    def _one_rule_per_code(self) -> "Config":
        """guard.actions (warn/halt) and policy.rules may name the same code; the one the config
        sets wins over the other's default, so the two tables end up disjoint and the saved
        config.yaml means the same. Both set and different: cross_field_problems reports it."""
        if not self.policy.enabled:
            return self
        overlap = set(self.guard.actions) & set(self.policy.rules)
        policy_set = "rules" in self.policy.model_fields_set
        guard_set = "actions" in self.guard.model_fields_set
        for code in sorted(overlap):
            same = self.policy.rules[code].action == self.guard.actions[code]
            if policy_set and guard_set and not same:
                continue  # a conflict, reported by cross_field_problems
            if guard_set and not policy_set:
                self.policy.rules = {k: v for k, v in self.policy.rules.items() if k != code}
            else:
                self.guard.actions = {k: v for k, v in self.guard.actions.items() if k != code}
        return self


def cross_field_problems(cfg: Config) -> list[str]:
    """Checks that involve several fields. Returns human sentences naming field, value, fix."""
    p: list[str] = []
    t, e = cfg.train, cfg.eval
    if not t.learning_rate > 0:
        p.append(f"train.learning_rate must be > 0, got {t.learning_rate}")
    if t.batch_size < 1:
        p.append(f"train.batch_size must be >= 1, got {t.batch_size}")
    if t.max_steps == 0 or t.max_steps < -1:
        p.append(f"train.max_steps must be a positive number of steps or -1 (use num_epochs), got {t.max_steps}")
    if e.load_best_model_at_end:
        if e.strategy == "no":
            p.append("eval.load_best_model_at_end needs evaluations: set eval.strategy to steps or epoch, "
                     "or eval.load_best_model_at_end: false")
        elif e.strategy == "steps" and t.save_steps % e.steps != 0:
            p.append(f"train.save_steps ({t.save_steps}) must be a multiple of eval.steps ({e.steps}) "
                     f"for eval.load_best_model_at_end: set train.save_steps: {e.steps}")
    if e.early_stopping_patience is not None and e.strategy == "no":
        p.append("eval.early_stopping_patience needs evaluations: set eval.strategy to steps or epoch")
    if t.fsdp and t.deepspeed:
        p.append("train.fsdp and train.deepspeed are exclusive: keep one")
    if cfg.model.load_in_8bit and cfg.model.load_in_4bit:
        p.append("model.load_in_8bit and model.load_in_4bit are exclusive: keep one")
    pol = cfg.policy
    if pol.enabled:
        for code in sorted(set(cfg.guard.actions) & set(pol.rules)):
            p.append(f"guard.actions.{code} ({cfg.guard.actions[code]}) and policy.rules.{code} "
                     f"({pol.rules[code].action}) disagree: name the code in one place (policy.rules takes every action)")
    if pol.min_lr is not None and pol.max_lr is not None and pol.min_lr > pol.max_lr:
        p.append(f"policy.min_lr ({pol.min_lr}) must not exceed policy.max_lr ({pol.max_lr})")
    if cfg.model.context_length is not None and cfg.data.max_length > cfg.model.context_length:
        p.append(f"data.max_length ({cfg.data.max_length}) exceeds the model's context "
                 f"({cfg.model.context_length}): set data.max_length <= {cfg.model.context_length}")
    return p


def schema_field(dotted: str) -> tuple[bool, Any]:
    """Where a dotted config key (`train.learning_rate`, `guard.severity.PLATEAU`) lands in
    this version's schema: (known, field). `known` is False for a key no section has (one an
    older tuneguard had and this one dropped); `field` is the key's FieldInfo where the key is
    a field itself, None where it lies inside a value (a map's entry) or names a section."""
    model: type[BaseModel] = Config
    parts = dotted.split(".")
    for i, part in enumerate(parts):
        info = model.model_fields.get(part)
        if info is None:
            return False, None
        section = _section_type(info.annotation)
        if section is None:  # a value: what lies below it is its content, not schema
            return True, info if i == len(parts) - 1 else None
        model = section
    return True, None


def _section_type(annotation: Any) -> type[BaseModel] | None:
    """The section (a model) a field holds, also as `Section | None`; None for a value."""
    import types
    import typing

    union = typing.get_origin(annotation) in (typing.Union, types.UnionType)
    for t in (annotation, *(typing.get_args(annotation) if union else ())):
        if isinstance(t, type) and issubclass(t, BaseModel):
            return t
    return None
