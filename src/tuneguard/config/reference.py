"""The config reference (docs/CONFIG.md), generated from the schema so it never drifts.

`python -m tuneguard.config.reference > docs/CONFIG.md` regenerates it; a test checks the
committed file equals the output.
"""

from __future__ import annotations

import json
import typing
from typing import Any

from pydantic import BaseModel
from pydantic_core import PydanticUndefined

from tuneguard.config.schema import Config


def _type_name(annotation: Any) -> str:
    origin = typing.get_origin(annotation)
    if origin is typing.Literal:
        return " \\| ".join(repr(a).replace("'", "") for a in typing.get_args(annotation))
    if origin in (typing.Union, getattr(__import__("types"), "UnionType", None)):
        return " \\| ".join(_type_name(a) for a in typing.get_args(annotation))
    if origin in (list, dict):
        args = ", ".join(_type_name(a) for a in typing.get_args(annotation))
        return f"{origin.__name__}[{args}]"
    if annotation is type(None):
        return "null"
    return getattr(annotation, "__name__", str(annotation))


def _default(field: Any) -> str:
    if field.default is not PydanticUndefined:
        v = field.default
    elif field.default_factory is not None:
        v = field.default_factory()
    else:
        return "(required)"
    if isinstance(v, BaseModel):
        return "(section)"
    return "`" + json.dumps(v, default=str).replace("|", "\\|") + "`"


def render_markdown() -> str:
    lines = ["# Config reference", "",
             "Generated from `tuneguard/config/schema.py` by `python -m tuneguard.config.reference`.",
             "Every key is optional; unknown keys are errors. Override any key with",
             "`--set section.key=value` (the value is parsed as YAML). A config file may start from",
             "a preset with `preset: NAME`. Secrets (`notify.urls`, `model.hub_token`) may be",
             "written as `${ENV_VAR}` and are redacted in the saved `config.yaml`.", ""]
    for name, field in Config.model_fields.items():
        section = field.annotation
        assert isinstance(section, type) and issubclass(section, BaseModel)  # every top-level key is a section
        lines += [f"## `{name}`", "", (section.__doc__ or "").strip().splitlines()[0], "",
                  "| key | type | default | description |", "|---|---|---|---|"]
        for key, f in section.model_fields.items():
            desc = (f.description or "").replace("|", "\\|")
            lines.append(f"| `{name}.{key}` | {_type_name(f.annotation)} | {_default(f)} | {desc} |")
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    print(render_markdown(), end="")
