"""Load a config: YAML file or preset name, `--set` overrides, validation, redaction.

`load_config` is the single entry point; it raises `ConfigError` whose message lists every
problem at once (one per line) so the user fixes them in one go.
"""

from __future__ import annotations

import copy
import os
import re
import shlex
from importlib import resources
from pathlib import Path
from collections.abc import Mapping
from typing import Any

import yaml
from pydantic import ValidationError

from tuneguard.catalog import say
from tuneguard.config.hints import unknown_key_hint
from tuneguard.config.schema import Config, cross_field_problems
from tuneguard.errors import UsageError

MAX_CONFIG_BYTES = 1_000_000
SECRET_MARK = "***"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class ConfigError(UsageError):
    """A config the user must fix. `problems` holds one sentence per problem, each naming the
    field, the value and the fix."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid config:\n  - " + "\n  - ".join(problems))

    def line(self) -> str:
        return "; ".join(self.problems)


# --- presets -----------------------------------------------------------------------

def preset_names() -> list[str]:
    folder = resources.files("tuneguard.config") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def _close_preset(name: str) -> str:
    """"did you mean NAME? " for a misspelt preset, else ""."""
    import difflib

    close = difflib.get_close_matches(name, preset_names(), n=1)
    return f"did you mean {close[0]}? " if close else ""


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise ConfigError([f"unknown preset {name!r}; {_close_preset(name)}available: {', '.join(preset_names())}"])
    return (resources.files("tuneguard.config") / "presets" / f"{name}.yaml").read_text("utf-8")


# --- YAML --------------------------------------------------------------------------

class _SafeNoAliasLoader(yaml.SafeLoader):
    """SafeLoader (no python tags) that also refuses aliases, which defeats
    "billion laughs" alias bombs; config files have no need for anchors."""

    def compose_node(self, parent, index):  # type: ignore[override]
        if self.check_event(yaml.AliasEvent):
            event = self.peek_event()
            raise yaml.YAMLError(f"YAML aliases (*{event.anchor}) are not allowed in configs "
                                 f"(line {event.start_mark.line + 1}); write the value out")
        return super().compose_node(parent, index)

    def construct_mapping(self, node, deep=False):  # type: ignore[no-untyped-def,override]
        """A key written twice in one mapping is refused: YAML would keep the last silently, and
        a second `data:` section drops the first one's data.train_file."""
        if isinstance(node, yaml.MappingNode):
            first: dict[Any, int] = {}
            for key_node, _ in node.value:
                key = self.construct_object(key_node, deep=True)
                if isinstance(key, (str, int, float, bool)) or key is None:
                    if key in first:
                        raise yaml.constructor.ConstructorError(
                            None, None, say("input.yaml_duplicate", key=str(key), first=first[key]),
                            key_node.start_mark)
                    first[key] = key_node.start_mark.line + 1
        return super().construct_mapping(node, deep=deep)


def _yaml_problem(exc: yaml.YAMLError) -> str:
    """PyYAML's error as one line a person reads: where, then what (its own text names the
    parsed stream "<unicode string>", which says nothing to the user); a tag the safe loader
    refuses (!!python/object) is said to be one."""
    mark = getattr(exc, "problem_mark", None)
    problem = getattr(exc, "problem", None)
    if mark is None or not problem:
        msg = str(exc).replace("\n", " ")
    else:
        context = getattr(exc, "context", None)
        msg = f"line {mark.line + 1}, column {mark.column + 1}: {problem}" + (f" ({context})" if context else "")
    if "could not determine a constructor" in msg:
        msg = "YAML tags such as !!python/object are not allowed (safe loading only): " + msg
    return msg


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{source} is larger than {MAX_CONFIG_BYTES} bytes; is it really a config?"])
    try:
        data = yaml.load(text, Loader=_SafeNoAliasLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as exc:
        raise ConfigError([f"{source} is not valid YAML: {_yaml_problem(exc)}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source} must be a mapping of sections (model, data, train, ...), "
                           f"got {type(data).__name__}"])
    return data


# Suffixes of data files (tuneguard.data.load reads them; config must not import data): given
# where a config goes (`tuneguard audit train.jsonl`, a new user's first guess), a one-line
# JSONL file even parses as YAML and failed with "instruction is not a known key".
DATA_SUFFIXES = frozenset({".jsonl", ".ndjson", ".csv", ".tsv", ".parquet", ".pq", ".gz", ".arrow"})


def looks_like_data(path: Path) -> bool:
    """A data file or a JSON array file given where a config goes."""
    if path.suffix.lower() in DATA_SUFFIXES:
        return True
    if path.suffix.lower() != ".json" or not path.is_file():
        return False
    try:
        with path.open("rb") as fh:
            head = fh.read(4096).lstrip(b"\xef\xbb\xbf \t\r\n")
    except OSError:
        return False
    return head.startswith(b"[")


def data_not_config(name: str) -> str:
    """The one line for a data file given as the config: the command that audits or trains it."""
    quoted = shlex.quote(name)
    return (f"{name} is a data file, not a config: give it as data.train_file, e.g. "
            f"`tuneguard audit smollm2-135m --set data.train_file={quoted}` (the preset names the model whose "
            f"tokenizer the label checks use: see `tuneguard presets`), or write a config with "
            f"`tuneguard init --preset gptj-6b-v2 --out config.yaml` and set data.train_file in it")


def read_source(name_or_path: str) -> tuple[dict[str, Any], str]:
    """A preset name or a YAML file path -> (raw dict, description)."""
    raw, desc, _ = read_source_explicit(name_or_path)
    return raw, desc


def read_source_explicit(name_or_path: str) -> tuple[dict[str, Any], str, set[str] | None]:
    """Like `read_source`, also returning the dotted keys the file itself sets (its preset's
    keys are not among them); None for a preset name."""
    if not name_or_path.strip():
        raise ConfigError([f"the config argument is empty: give a YAML config file or a preset "
                           f"({', '.join(preset_names())})"])
    path = Path(name_or_path)
    if looks_like_data(path) and (path.is_file() or not path.exists()):  # a FIFO is said to be one below
        raise ConfigError([data_not_config(name_or_path)])
    if path.suffix in (".yaml", ".yml", ".json") or path.exists():
        if not path.exists():
            raise ConfigError([f"config file {name_or_path} does not exist"])
        if path.is_dir():
            raise ConfigError([f"{name_or_path} is a directory, expected a YAML config file"])
        if not path.is_file():
            # A FIFO blocks forever and /dev/zero never ends: read only regular files.
            raise ConfigError([f"{name_or_path} is not a regular file (a device, FIFO or socket), "
                               "expected a YAML config file"])
        try:
            with path.open("rb") as fh:
                data = fh.read(MAX_CONFIG_BYTES + 1)
            if len(data) > MAX_CONFIG_BYTES:
                raise ConfigError([f"{name_or_path} is larger than {MAX_CONFIG_BYTES} bytes; is it really a config?"])
            text = data.decode("utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            raise ConfigError([f"cannot read {name_or_path}: {exc}"]) from None
        raw = parse_yaml(text, str(path))
        if not raw:
            # Nothing to train on and, by default, a 6B model from the hub: say so now, not
            # after a minute of retrying the hub without a network.
            raise ConfigError([f"{name_or_path} is empty (or only comments): start from a preset with "
                               f"`tuneguard init --preset tiny --out {name_or_path} --force`, then set data.train_file"])
        base = raw.pop("preset", None)
        explicit = set(flat_keys(raw))
        if base is not None:
            if not isinstance(base, str):
                raise ConfigError([f"preset must be a preset name, got {base!r}"])
            merged = parse_yaml(preset_text(base), f"preset {base}")
            deep_merge(merged, raw)
            raw = merged
        _resolve_relative_paths(raw, path.parent.absolute())
        return raw, str(path), explicit
    if name_or_path in preset_names():
        raw = parse_yaml(preset_text(name_or_path), f"preset {name_or_path}")
        raw.pop("preset", None)
        return raw, f"preset {name_or_path}", None
    raise ConfigError([f"{name_or_path!r} is neither a config file nor a preset; "
                       f"{_close_preset(name_or_path)}presets: {', '.join(preset_names())}"])


def flat_keys(d: Any, prefix: str = "") -> list[str]:
    """Dotted keys of the leaves of a nested mapping: {"a": {"b": 1}} -> ["a.b"]."""
    if not isinstance(d, dict) or (prefix and not d):
        return [prefix.rstrip(".")] if prefix else []
    out: list[str] = []
    for k, v in d.items():
        out.extend(flat_keys(v, f"{prefix}{k}.") if isinstance(v, dict) else [f"{prefix}{k}"])
    return out


def _resolve_relative_paths(raw: dict[str, Any], base: Path) -> None:
    """Data paths in a config file are relative to the file, not to the shell's cwd."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    def resolved(v: Any) -> Any:
        if isinstance(v, str) and v and not os.path.isabs(v) and not _ENV_REF.match(v):
            cand = base / v
            if cand.exists() or not Path(v).exists():
                return str(cand)
        return v

    for key in ("train_file", "validation_file", "test_file"):
        v = data.get(key)
        data[key] = [resolved(p) for p in v] if isinstance(v, list) else resolved(v)


def deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = v
    return dst


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> list[str]:
    """Apply `a.b=value` overrides; the value is parsed as YAML (so 1e-4, true, [a, b]).
    Returns the dotted keys they set."""
    keys: list[str] = []
    for item in overrides or []:
        if "=" not in item:
            raise ConfigError([f"--set {item!r} must look like section.key=value"])
        key, value = item.split("=", 1)
        parts = [p for p in key.strip().split(".") if p]
        if len(parts) < 2:
            raise ConfigError([f"--set {item!r}: the key must name a section and a field, e.g. train.learning_rate=1e-4"])
        try:
            parsed = yaml.load(value, Loader=_SafeNoAliasLoader) if value.strip() else None  # noqa: S506
        except yaml.YAMLError as exc:
            raise ConfigError([f"--set {item!r}: value is not valid YAML: {_yaml_problem(exc)}"]) from None
        node = raw
        for i, p in enumerate(parts[:-1]):
            if node.get(p) is not None and not isinstance(node[p], dict) and i > 0:
                # data.train_file.x=1 would replace the file's value with a mapping: name it instead.
                raise ConfigError([say("input.set_inside_value", item=item, key=".".join(parts[: i + 1]),
                                       rest=".".join(parts[i + 1:]))])
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = parsed
        keys.extend(flat_keys(parsed, ".".join(parts) + ".") if isinstance(parsed, dict) and parsed
                    else [".".join(parts)])
    return keys


# --- validation --------------------------------------------------------------------

def _fmt_loc(loc: tuple[Any, ...]) -> str:
    return ".".join(str(x) for x in loc)


def _lookup(raw: Any, loc: tuple[Any, ...]) -> Any:
    node = raw
    for k in loc:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            return None
    return node


def _delete(raw: dict[str, Any], loc: tuple[Any, ...]) -> bool:
    node: Any = raw
    for k in loc[:-1]:
        try:
            node = node[k]
        except (KeyError, IndexError, TypeError):
            return False
    try:
        del node[loc[-1]]
        return True
    except (KeyError, IndexError, TypeError):
        return False


def _describe(err: Mapping[str, Any], raw: dict[str, Any]) -> str:
    loc = err["loc"]
    field = _fmt_loc(loc)
    if err["type"] == "extra_forbidden":
        sections = {sec: _section_fields((sec,)) for sec in Config.model_fields}
        sections[_fmt_loc(loc[:-1])] = _section_fields(loc[:-1])
        sections[""] = [*Config.model_fields, "preset"]  # a file's `preset:` is read before validation
        return f"{field} is not a known key{unknown_key_hint(loc, _lookup(raw, loc), sections)}"
    value = _lookup(raw, loc)
    shown = _redact_value(field, value)
    msg = err["msg"]  # "Value error, unknown guard code(s) ['X']": keep the codes' case
    return f"{field} {msg[:1].lower() + msg[1:]}, got {shown!r}"


def _section_fields(loc: tuple[Any, ...]) -> list[str]:
    model: Any = Config
    for k in loc:
        f = getattr(model, "model_fields", {}).get(k)
        if f is None or not isinstance(f.annotation, type):
            return [] if loc else list(Config.model_fields)
        model = f.annotation
    return list(getattr(model, "model_fields", {}))


def validate_config(raw: dict[str, Any], explicit: set[str] | None = None,
                    notes: list[str] | None = None) -> Config:
    """Validate a raw dict; raise ConfigError with every problem (field, cross-field).

    `explicit`: the dotted keys the user set (file or --set). When given, a cross-field
    conflict between a key the user set and one that only a preset or a default set is
    resolved in the user's favour (`reconcile`), each adjustment described in `notes`.
    """
    problems: list[str] = []
    work = copy.deepcopy(raw)
    cfg: Config | None = None
    # Validate, drop the offending keys and validate again so that cross-field checks
    # still run on the rest: the user sees every problem in one message.
    for _ in range(10):
        try:
            cfg = Config.model_validate(work)
            break
        except ValidationError as exc:
            removed = False
            for err in exc.errors():
                msg = _describe(err, raw)
                if msg not in problems:
                    problems.append(msg)
                removed |= _delete(work, tuple(err["loc"]))
            if not removed:
                break
    if cfg is not None:
        if explicit is not None:
            adjusted = reconcile(cfg, explicit)
            if notes is not None:
                notes.extend(adjusted)
        problems.extend(cross_field_problems(cfg))
    if problems:
        raise ConfigError(problems)
    assert cfg is not None
    return cfg


def resolve_env_refs(cfg: Config) -> Config:
    """Expand ${VAR} references in secret-bearing fields at run time (never saved)."""
    out = cfg.model_copy(deep=True)
    urls: list[str] = []
    missing = []
    for u in out.notify.urls:
        m = _ENV_REF.match(u.strip())
        if m:
            val = os.environ.get(m.group(1))
            if not val:
                missing.append(m.group(1))
                continue
            urls.extend(x for x in re.split(r"[\s,]+", val) if x)
        else:
            urls.append(u)
    if missing:
        raise ConfigError([f"notify.urls references ${{{v}}} but the environment variable {v} is not set"
                           for v in missing])
    out.notify.urls = urls
    tok = out.model.hub_token
    if tok and _ENV_REF.match(tok):
        out.model.hub_token = os.environ.get(_ENV_REF.match(tok).group(1))  # type: ignore[union-attr]
    return out


def _set_by_user(key: str, explicit: set[str]) -> bool:
    return any(k == key or k.startswith(key + ".") or key.startswith(k + ".") for k in explicit)


def reconcile(cfg: Config, explicit: set[str]) -> list[str]:
    """Resolve cross-field conflicts where the user set one side and a preset or default the
    other: the side the user did not choose follows the one they did. Returns one sentence
    per adjustment. Conflicts between two keys the user set stay errors (cross_field_problems).
    """
    notes: list[str] = []
    t, e = cfg.train, cfg.eval
    user = lambda key: _set_by_user(key, explicit)  # noqa: E731 - a local shorthand
    if e.load_best_model_at_end and e.strategy == "steps" and t.save_steps % e.steps:
        if user("eval.steps") and not user("train.save_steps"):
            notes.append(f"train.save_steps {t.save_steps} (from the preset) is not a multiple of your eval.steps "
                         f"{e.steps}: checkpoints are saved every {e.steps} steps instead, at the evaluation cadence")
            t.save_steps = e.steps
        elif user("train.save_steps") and not user("eval.steps"):
            notes.append(f"eval.steps {e.steps} (from the preset) does not divide your train.save_steps "
                         f"{t.save_steps}: evaluating every {t.save_steps} steps instead, at the checkpoint cadence")
            e.steps = t.save_steps
    if e.strategy == "no" and user("eval.strategy"):
        if e.load_best_model_at_end and not user("eval.load_best_model_at_end"):
            notes.append("eval.strategy is no, so there is no best checkpoint to reload: "
                         "eval.load_best_model_at_end (from the preset) is off")
            e.load_best_model_at_end = False
        if e.early_stopping_patience is not None and not user("eval.early_stopping_patience"):
            notes.append("eval.strategy is no, so early stopping has nothing to watch: "
                         f"eval.early_stopping_patience {e.early_stopping_patience} (from the preset) is off")
            e.early_stopping_patience = None
    ctx = cfg.model.context_length
    if ctx is not None and cfg.data.max_length > ctx and user("model.context_length") \
            and not user("data.max_length"):
        notes.append(f"data.max_length {cfg.data.max_length} (from the preset) exceeds your model.context_length "
                     f"{ctx}: examples are cut at {ctx} tokens instead")
        cfg.data.max_length = ctx
    return notes


def load_config(source: str, overrides: list[str] | None = None, notes: list[str] | None = None) -> Config:
    """The config from a file or preset plus `--set` overrides, validated.

    Conflicts between what the user set and what a preset set are resolved in the user's
    favour, one sentence each appended to `notes`.
    """
    raw, _, explicit = read_source_explicit(source)
    set_keys = apply_overrides(raw, overrides or [])
    return validate_config(raw, explicit=(explicit or set()) | set(set_keys), notes=notes)


# --- secrets -----------------------------------------------------------------------

SECRET_FIELDS = {"notify.urls", "model.hub_token"}


def _redact_value(field: str, value: Any) -> Any:
    if field.split(".")[:2] and ".".join(field.split(".")[:2]) in SECRET_FIELDS and value is not None:
        return redact_url(value) if isinstance(value, str) else SECRET_MARK
    return value


def is_env_ref(value: str) -> bool:
    """True for a `${VAR}` reference: the name of a secret, not the secret."""
    return bool(_ENV_REF.match(value.strip()))


def redact_url(url: str) -> str:
    """Keep the scheme (and an ${ENV} reference as is); hide everything after it."""
    if _ENV_REF.match(url.strip()):
        return url
    if "://" in url:
        return url.split("://", 1)[0] + "://" + SECRET_MARK
    return SECRET_MARK


def redacted_dict(cfg: Config) -> dict[str, Any]:
    d = cfg.model_dump(mode="json")
    d["notify"]["urls"] = [redact_url(u) for u in d["notify"]["urls"]]
    if d["model"].get("hub_token"):
        tok = d["model"]["hub_token"]
        d["model"]["hub_token"] = tok if _ENV_REF.match(tok) else SECRET_MARK
    return d


def secret_values(cfg: Config) -> list[str]:
    """Every secret string of a resolved config, for scrubbing logs and messages."""
    vals: list[str] = []
    for u in cfg.notify.urls:
        if "://" in u:
            rest = u.split("://", 1)[1]
            vals.extend(p for p in re.split(r"[/@:?&=]", rest) if len(p) >= 8)
            vals.append(u)
    if cfg.model.hub_token:
        vals.append(cfg.model.hub_token)
    return sorted(set(vals), key=len, reverse=True)


def dump_yaml(d: dict[str, Any]) -> str:
    return yaml.safe_dump(d, sort_keys=False, allow_unicode=True)
