"""Report texts, English and Thai side by side: headings, labels, verdict criteria and their
evidence, plot titles and axes (KEY -> {"en": ..., "th": ...})."""

# ruff: noqa: E501 - one sentence per line reads better than a sentence cut in pieces

REPORT: dict[str, dict[str, str]] = {}
VERDICT: dict[str, dict[str, str]] = {}
