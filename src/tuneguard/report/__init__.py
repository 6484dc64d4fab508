"""Reports: the verdict on a run, its plots, findings and recommendations (HTML and
Markdown), and the side-by-side comparison of two runs. Read-only on the run store."""

from tuneguard.report.compare import write_compare
from tuneguard.report.html import write_report
from tuneguard.report.verdict import Verdict, compute_verdict

__all__ = ["write_report", "write_compare", "compute_verdict", "Verdict"]
