"""Thai message templates (ข้อความภาษาไทย): the "th" side of tuneguard.catalog.events."""

from tuneguard.catalog.events import LINES as _LINES, TITLES as _TITLES

TITLES = {k: v["th"] for k, v in _TITLES.items()}
LINES = {k: v["th"] for k, v in _LINES.items()}
