"""Which of two runs' losses can stand side by side, and why not where they cannot.

A loss is a mean over supervised tokens of some rows. Two runs' losses compare only when they
were measured on the same thing:

- the same tokens: a run that supervises the prompt too (or only the last chat turn, or cuts
  answers at a shorter max_length, or reads rows with another template, tokenizer or pad
  token) measures something else, and its lower curve need not be the better run: supervising
  the prompt adds tokens a pretrained model predicts easily;
- the same rows: an eval loss on another validation set (another file, the same file edited,
  another split share, seed or sample) is not the same measurement, and a training loss on
  other training rows (the duplicated file against its cleaned copy) is not either.

The judgement uses two sources. The settings (the configs' data section and model) always;
and, where both runs recorded them (run.db meta `data_identity`, tuneguard.data.identity; for a
run from before that, or one whose fingerprints were taken under an older scheme, its
tokenized-data cache; runs whose fingerprints are of two schemes are judged by their settings),
what the runs were actually measured on: the tokenizer's fingerprint, each split's source file
contents and its tokenized rows. The rows decide where they are recorded: two validation sets
whose tokenized rows (ids and labels) are the same give comparable eval losses whatever the
settings say (a different model with the same tokenizer, a seed that did not move rows out of a
validation file of their own), and different ones never do, with the reason found (a setting,
a file edited in place, the tokenizer) or, where none is, the row counts.

`tuneguard compare` shows both runs whatever they are; each loss that is not comparable is
shown as such, with its reasons (`judge`), never as a number to rank.
"""

from __future__ import annotations

import dataclasses
from typing import Any, Literal

from tuneguard.catalog import J, Spec, T, render
from tuneguard.config.diff import MISSING, diff_configs, flatten, format_value

# Settings that change which tokens are supervised (training and eval losses alike).
TOKEN_SETTINGS = (
    "model.name", "data.train_on_prompt", "data.chat_turns", "data.max_length", "data.format",
    "data.prompt_template", "data.prompt_template_with_input", "data.use_chat_template", "data.collator",
    "data.pad_token", "data.text_field", "data.instruction_field", "data.input_field", "data.output_field",
    "data.prompt_field", "data.completion_field", "data.messages_field", "data.system_field",
)
# Settings that change which rows a loss is over, by the loss they change.
EVAL_SETTINGS = ("data.validation_file", "data.test_size", "data.seed", "data.eval_samples")
TEST_SETTINGS = ("data.test_file",)
TRAIN_SETTINGS = ("data.train_file", "data.train_samples")

Kind = Literal["tokens", "train", "eval", "test"]
KINDS: tuple[Kind, ...] = ("tokens", "train", "eval", "test")
# The losses the summary shows, the split each is measured on, and the kinds of reason that touch it.
LOSSES: dict[str, tuple[str, tuple[Kind, ...]]] = {
    "train_loss": ("train", ("tokens", "train")),
    "eval_loss": ("validation", ("tokens", "eval")),
    "test_loss": ("test", ("tokens", "test")),
}


@dataclasses.dataclass(frozen=True)
class Reason:
    """Why some losses of runs A and B are not comparable: `key` is the setting that differs (or
    `data_identity.tokenizer`, `data_identity.<split>` for a recorded fingerprint), `text` the
    phrase that says it."""

    kind: Kind
    key: str
    text: Spec

    def to_dict(self, language: str = "en") -> dict[str, str]:
        return {"kind": self.kind, "key": self.key, "reason": render(self.text, language)}


@dataclasses.dataclass
class Judgement:
    """The reasons each loss is not comparable (`losses`: an empty list = comparable), and
    whether the runs' data fingerprints were used (`by_data`) or the settings alone."""

    losses: dict[str, list[Reason]]
    by_data: bool
    measured: tuple[str, ...] = tuple(LOSSES)  # the losses both runs can have (by data: both hold the split)

    def comparable(self, loss: str) -> bool:
        return not self.losses.get(loss)

    def reasons(self) -> list[Reason]:
        """Every reason once, in the order first met."""
        out: list[Reason] = []
        for rs in self.losses.values():
            out += [r for r in rs if r not in out]
        return out

    def to_dict(self, language: str = "en") -> dict[str, Any]:
        """The machine-readable judgement: per loss, comparable and the reasons."""
        return {"judged_by": "data" if self.by_data else "settings",
                **{loss: {"comparable": not rs, "reasons": [r.to_dict(language) for r in rs]}
                   for loss, rs in self.losses.items()}}


@dataclasses.dataclass(frozen=True)
class Difference:
    """A setting that differs between runs A and B and the kind of loss it makes incomparable."""

    key: str
    a: Any
    b: Any
    kind: Kind


def differences(a: dict[str, Any], b: dict[str, Any]) -> list[Difference]:
    """The settings of configs `a` and `b` that make some of their losses incomparable (module
    docstring). data.train_file counts for the eval rows too when neither run has a validation
    file (the validation rows are split from it)."""
    fa, fb = flatten(a), flatten(b)
    split = all(f.get("data.validation_file", MISSING) in (None, MISSING) for f in (fa, fb))
    out = []
    for key, va, vb in diff_configs(a, b):
        kinds: list[Kind] = []
        if key in TOKEN_SETTINGS:
            kinds.append("tokens")
        if key in TRAIN_SETTINGS:
            kinds.append("train")
        if key in EVAL_SETTINGS or (split and key == "data.train_file"):
            kinds.append("eval")
        if key in TEST_SETTINGS:
            kinds.append("test")
        out += [Difference(key, va, vb, k) for k in kinds]
    return out


def _setting(d: Difference, la: str, lb: str) -> Reason:
    return Reason(d.kind, d.key, T("report.cmp.setting", key=d.key, a=format_value(d.a), la=la,
                                   b=format_value(d.b), lb=lb))


def judge(a: dict[str, Any], b: dict[str, Any], ident_a: Any = None, ident_b: Any = None, *,
          labels: tuple[str, str] = ("A", "B")) -> Judgement:
    """Which losses of runs A and B (configs `a`, `b`; recorded data identities, None where a
    run has none) are comparable, with the reasons of each that is not (module docstring)."""
    la, lb = labels
    by_data = _valid(ident_a) and _valid(ident_b) and _scheme(ident_a) == _scheme(ident_b)
    diffs = differences(a, b)
    if not by_data:
        losses = {loss: [_setting(d, la, lb) for d in diffs if d.kind in kinds]
                  for loss, (_, kinds) in LOSSES.items()}
        return Judgement(losses, by_data=False)
    measured = tuple(loss for loss, (split, _) in LOSSES.items()
                     if all(isinstance(i["splits"].get(split), dict) for i in (ident_a, ident_b)))
    return Judgement({loss: _by_data(loss, diffs, a, b, ident_a, ident_b, la, lb) for loss in LOSSES}, by_data=True,
                     measured=measured)


def _scheme(ident: dict[str, Any]) -> Any:
    """How a record's rows fingerprints were computed (tuneguard.data.identity.SCHEME; 1 before
    schemes): fingerprints of two schemes say nothing about whether the rows are the same."""
    return ident.get("scheme", 1)


def _valid(ident: Any) -> bool:
    return isinstance(ident, dict) and isinstance(ident.get("splits"), dict) and bool(ident.get("tokenizer"))


def _by_data(loss: str, diffs: list[Difference], a: dict[str, Any], b: dict[str, Any], ia: dict[str, Any],
             ib: dict[str, Any], la: str, lb: str) -> list[Reason]:
    """One loss's reasons when both runs recorded their data: none when the split's tokenized rows
    are the same (or a run has no such split: nothing to compare); else the settings and file
    contents that explain the difference, or the row counts where nothing does."""
    split, kinds = LOSSES[loss]
    sa, sb = ia["splits"].get(split), ib["splits"].get(split)
    if not isinstance(sa, dict) or not isinstance(sb, dict) or (
            sa.get("fingerprint") == sb.get("fingerprint") and sa.get("before") == sb.get("before")):
        return []
    same_tokenizer = ia["tokenizer"] == ib["tokenizer"]
    same_files = sa.get("files") is not None and sa.get("files") == sb.get("files")
    out = []
    for d in diffs:
        if d.kind not in kinds or (d.key == "model.name" and same_tokenizer):
            continue  # another model with the same tokenizer reads the rows into the same tokens
        if d.key in ("data.train_file", "data.validation_file", "data.test_file") and same_files:
            continue  # the same contents under another path
        out.append(_setting(d, la, lb))
    if not same_tokenizer:
        out.append(Reason("tokens", "data_identity.tokenizer", T("report.cmp.reason.tokenizer", la=la, lb=lb)))
    out += _content_reasons(split, kinds, a, b, ia, ib, la, lb)
    out += [Reason(kinds[-1], f"data_identity.{split}", T(f"report.cmp.reason.resumed.{split}", label=label))
            for label, s in ((la, sa), (lb, sb)) if s.get("before")]
    if not out and split != "train":
        out.append(_rows_reason(split, kinds[-1], sa.get("rows"), sb.get("rows"), la, lb))
    return out


def _rows_reason(split: str, kind: Kind, na: Any, nb: Any, la: str, lb: str) -> Reason:
    """The rows of a split differ and no setting or file says why: their counts, or that they are
    as many but other rows (or tokenized otherwise, by another tuneguard version say)."""
    text = T(f"report.cmp.reason.rows_same_count.{split}", n=na, la=la, lb=lb) if na == nb else \
        T(f"report.cmp.reason.rows.{split}", na=na, la=la, nb=nb, lb=lb)
    return Reason(kind, f"data_identity.{split}", text)


def _content_reasons(split: str, kinds: tuple[Kind, ...], a: dict[str, Any], b: dict[str, Any], ia: dict[str, Any],
                     ib: dict[str, Any], la: str, lb: str) -> list[Reason]:
    """A source file read under the same path by both runs whose contents differ (edited in place,
    replaced by a cleaned copy): the split's own file, or for validation rows split from the
    training file, that file."""
    key = {"train": "train_file", "validation": "validation_file", "test": "test_file"}[split]
    source, from_train = split, False
    fa, fb = flatten(a), flatten(b)
    if split == "validation" and all(f.get("data.validation_file") in (None, MISSING) for f in (fa, fb)):
        source, key, from_train = "train", "train_file", True
    sa, sb = ia["splits"].get(source) or {}, ib["splits"].get(source) or {}
    path_a, path_b = fa.get(f"data.{key}", MISSING), fb.get(f"data.{key}", MISSING)
    if path_a != path_b or path_a in (None, MISSING) or None in (sa.get("files"), sb.get("files")) \
            or sa.get("files") == sb.get("files"):
        return []
    which = "split_from" if from_train else source
    return [Reason(kinds[-1], f"data_identity.{source}",
                   T(f"report.cmp.reason.content.{which}", path=_paths(path_a), la=la, lb=lb))]


def _paths(source: Any) -> str:
    """A data source as the config names it: a list of files, folders or patterns as `a, b`."""
    return ", ".join(map(str, source)) if isinstance(source, list) else format_value(source)


def notes(j: Judgement) -> list[Spec]:
    """One sentence per kind of reason, naming the settings and recorded differences behind it;
    the sentence for other tokens names the losses they touch unless they touch all the runs have (a
    max_length that cuts training rows but no validation row makes the training losses alone
    incomparable)."""
    out = []
    reasons = j.reasons()
    for kind in KINDS:
        mine = [r for r in reasons if r.kind == kind]
        if kind == "tokens":
            out += _token_notes(j, mine)
        elif mine:
            out.append(T(f"report.cmp.incomparable.{kind}", settings=J("join.semi", [r.text for r in mine])))
    return out


def _token_notes(j: Judgement, reasons: list[Reason]) -> list[Spec]:
    """The other-tokens sentences: the reasons grouped by the losses they make incomparable."""
    groups: dict[tuple[str, ...], list[Reason]] = {}
    for r in reasons:
        groups.setdefault(tuple(loss for loss, rs in j.losses.items() if r in rs), []).append(r)
    out = []
    for losses, mine in groups.items():
        settings = J("join.semi", [r.text for r in mine])
        if set(losses) >= set(j.measured):  # every loss the runs both measured
            out.append(T("report.cmp.incomparable.tokens", settings=settings))
        else:
            names = J("join.and", [T(f"report.cmp.loss_name.{loss}") for loss in losses])
            out.append(T("report.cmp.incomparable.tokens_some", losses=names, settings=settings))
    return out
