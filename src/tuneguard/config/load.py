"""Load a config: YAML file or preset name, `--set` overrides, validation, redaction.

`load_config` is the single entry point; it raises `ConfigError` whose message lists every
problem at once (one per line) so the user fixes them in one go.
"""

from __future__ import annotations

import copy
import os
import re
from importlib import resources
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from tuneguard.config.schema import Config, cross_field_problems

MAX_CONFIG_BYTES = 1_000_000
SECRET_MARK = "***"
_ENV_REF = re.compile(r"^\$\{([A-Za-z_][A-Za-z0-9_]*)\}$")


class ConfigError(Exception):
    """A config the user must fix. `problems` holds one sentence per problem."""

    def __init__(self, problems: list[str]):
        self.problems = problems
        super().__init__("invalid config:\n  - " + "\n  - ".join(problems))


# --- presets -----------------------------------------------------------------------

def preset_names() -> list[str]:
    folder = resources.files("tuneguard.config") / "presets"
    return sorted(p.name[:-5] for p in folder.iterdir() if p.name.endswith(".yaml"))


def preset_text(name: str) -> str:
    if name not in preset_names():
        raise ConfigError([f"unknown preset {name!r}; available: {', '.join(preset_names())}"])
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


def parse_yaml(text: str, source: str) -> dict[str, Any]:
    if len(text.encode("utf-8", "replace")) > MAX_CONFIG_BYTES:
        raise ConfigError([f"{source} is larger than {MAX_CONFIG_BYTES} bytes; is it really a config?"])
    try:
        data = yaml.load(text, Loader=_SafeNoAliasLoader)  # noqa: S506 - safe loader subclass
    except yaml.YAMLError as exc:
        msg = str(exc).replace("\n", " ")
        if "could not determine a constructor" in msg:
            msg = "YAML tags such as !!python/object are not allowed (safe loading only): " + msg
        raise ConfigError([f"{source} is not valid YAML: {msg}"]) from None
    if data is None:
        return {}
    if not isinstance(data, dict):
        raise ConfigError([f"{source} must be a mapping of sections (model, data, train, ...), "
                           f"got {type(data).__name__}"])
    return data


def read_source(name_or_path: str) -> tuple[dict[str, Any], str]:
    """A preset name or a YAML file path -> (raw dict, description)."""
    path = Path(name_or_path)
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
        base = raw.pop("preset", None)
        if base is not None:
            if not isinstance(base, str):
                raise ConfigError([f"preset must be a preset name, got {base!r}"])
            merged = parse_yaml(preset_text(base), f"preset {base}")
            deep_merge(merged, raw)
            raw = merged
        _resolve_relative_paths(raw, path.parent)
        return raw, str(path)
    if name_or_path in preset_names():
        raw = parse_yaml(preset_text(name_or_path), f"preset {name_or_path}")
        raw.pop("preset", None)
        return raw, f"preset {name_or_path}"
    raise ConfigError([f"{name_or_path!r} is neither a config file nor a preset; "
                       f"presets: {', '.join(preset_names())}"])


def _resolve_relative_paths(raw: dict[str, Any], base: Path) -> None:
    """Data paths in a config file are relative to the file, not to the shell's cwd."""
    data = raw.get("data")
    if not isinstance(data, dict):
        return
    for key in ("train_file", "validation_file", "test_file"):
        v = data.get(key)
        if isinstance(v, str) and v and not os.path.isabs(v) and not _ENV_REF.match(v):
            cand = base / v
            if cand.exists() or not Path(v).exists():
                data[key] = str(cand)


def deep_merge(dst: dict[str, Any], src: dict[str, Any]) -> dict[str, Any]:
    for k, v in src.items():
        if isinstance(v, dict) and isinstance(dst.get(k), dict):
            deep_merge(dst[k], v)
        else:
            dst[k] = v
    return dst


def apply_overrides(raw: dict[str, Any], overrides: list[str]) -> None:
    """Apply `a.b=value` overrides; the value is parsed as YAML (so 1e-4, true, [a, b])."""
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
            msg = " ".join(str(exc).split())
            if "could not determine a constructor" in msg:
                msg = "YAML tags such as !!python/object are not allowed (safe loading only): " + msg
            raise ConfigError([f"--set {item!r}: value is not valid YAML: {msg}"]) from None
        node = raw
        for p in parts[:-1]:
            if not isinstance(node.get(p), dict):
                node[p] = {}
            node = node[p]
        node[parts[-1]] = parsed


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


def _describe(err: dict[str, Any], raw: dict[str, Any]) -> str:
    loc = err["loc"]
    field = _fmt_loc(loc)
    if err["type"] == "extra_forbidden":
        section_model = _section_fields(loc[:-1])
        hint = ""
        if section_model:
            import difflib

            close = difflib.get_close_matches(str(loc[-1]), section_model, n=1)
            hint = f"; did you mean {'.'.join(map(str, loc[:-1] + (close[0],)))}?" if close else \
                f"; known keys: {', '.join(section_model)}"
        return f"{field} is not a known key{hint}"
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


def validate_config(raw: dict[str, Any]) -> Config:
    """Validate a raw dict; raise ConfigError with every problem (field, cross-field)."""
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
        problems.extend(cross_field_problems(cfg))
    if problems:
        raise ConfigError(problems)
    assert cfg is not None
    return cfg


def resolve_env_refs(cfg: Config) -> Config:
    """Expand ${VAR} references in secret-bearing fields at run time (never saved)."""
    out = cfg.model_copy(deep=True)
    urls = []
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


def load_config(source: str, overrides: list[str] | None = None) -> Config:
    raw, _ = read_source(source)
    apply_overrides(raw, overrides or [])
    return validate_config(raw)


# --- secrets -----------------------------------------------------------------------

SECRET_FIELDS = {"notify.urls", "model.hub_token"}


def _redact_value(field: str, value: Any) -> Any:
    if field.split(".")[:2] and ".".join(field.split(".")[:2]) in SECRET_FIELDS and value is not None:
        return redact_url(value) if isinstance(value, str) else SECRET_MARK
    return value


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
