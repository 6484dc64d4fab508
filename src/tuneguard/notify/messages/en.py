"""English message templates: the "en" side of tuneguard.catalog.events."""

from tuneguard.catalog.events import LINES as _LINES, TITLES as _TITLES

TITLES = {k: v["en"] for k, v in _TITLES.items()}
LINES = {k: v["en"] for k, v in _LINES.items()}
