"""Where `report` and `compare` may write: their own earlier output, never anything else.

`--out FILE` used to replace whatever FILE was: a training data file or a config became
HTML, and (run as root) a device node became a regular file. A command writes only its own
outputs: a page tuneguard wrote (it carries tuneguard's generator mark), a new file, or,
with --force, any regular file. A directory or a special file is refused either way.
"""

from __future__ import annotations

from pathlib import Path

from tuneguard.errors import RefusedError
from tuneguard.report.components import GENERATOR_META

# Pages written before the generator mark existed still count as ours.
_OWN_MARKS = (GENERATOR_META.encode(), b"<title>tuneguard report:", b"<title>tuneguard compare:")


class OutputRefused(RefusedError):
    """The output path is not one this command may write (a message saying what to do)."""


def is_own_page(path: Path) -> bool:
    """True when `path` is an HTML page tuneguard wrote (a report or a compare page)."""
    try:
        with path.open("rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return head.startswith(b"<!DOCTYPE html>") and any(m in head for m in _OWN_MARKS)


def check_output(path: Path, force: bool, what: str = "report") -> None:
    """Raise OutputRefused unless `path` is new, tuneguard's own page, or (with `force`) a regular file."""
    if path.is_symlink() and not path.exists():
        raise OutputRefused(f"--out {path} is a symbolic link that leads nowhere: give a file name for the {what}")
    if not path.exists():
        ancestor = next((p for p in path.parents if p.exists()), None)
        if ancestor is not None and not ancestor.is_dir():
            raise OutputRefused(f"--out {path}: {ancestor} is a file, not a directory")
        return
    if path.is_dir():
        raise OutputRefused(f"--out {path} is a directory: give a file name, e.g. --out {path / (what + '.html')}")
    if not path.is_file():
        raise OutputRefused(f"--out {path} is not a regular file (a device, FIFO or socket): "
                            f"give a file name for the {what}")
    if not force and not is_own_page(path):
        raise OutputRefused(f"--out {path} exists and is not a tuneguard {what}: choose another file, "
                            "or pass --force to replace it")
