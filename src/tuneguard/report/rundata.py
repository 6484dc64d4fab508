"""Everything the report needs from one run, read once from the run store.

The report and compare pages only read; they never talk to a trainer. Reading the whole
store up front keeps the renderers pure functions of a `RunData` (easy to test).
"""

from __future__ import annotations

import bisect
import dataclasses
import logging
from pathlib import Path
from typing import TYPE_CHECKING, Any

import yaml

from tuneguard.catalog import TABLE, T, config_language, in_language, is_spec, say
from tuneguard.findings import Finding
from tuneguard.fmt import is_finite
from tuneguard.store.run_store import open_for_reading

if TYPE_CHECKING:
    from tuneguard.diagnosis import Curves

log = logging.getLogger(__name__)


# Keys of an eval row that hold the training loss to compare the eval loss with (the
# training loss averaged since the previous evaluation, where the run recorded one).
EVAL_TRAIN_LOSS_KEYS = ("train_loss_since_eval", "train_loss_avg", "train_loss")


@dataclasses.dataclass
class RunData:
    """A snapshot of one run's store: meta, metrics by kind, findings, events, QA samples."""

    run_dir: Path
    meta: dict[str, Any]
    config: dict[str, Any]
    train: list[dict[str, Any]]
    evals: list[dict[str, Any]]
    test: list[dict[str, Any]]
    findings: list[Finding]
    events: list[dict[str, Any]]
    qa: list[dict[str, Any]]
    qa_base: list[dict[str, Any]] = dataclasses.field(default_factory=list)  # the base model's answers
    # Derived point lists, built once per `train` list (a run of 100,000 logged steps is read
    # at every evaluation: rebuilding them per lookup made the report quadratic).
    _derived: dict[str, Any] = dataclasses.field(default_factory=dict, repr=False, compare=False)

    def _points(self, name: str, build: Any) -> Any:
        key = (id(self.train), len(self.train))
        cached = self._derived.get(name)
        if cached is None or cached[0] != key:
            cached = self._derived[name] = (key, build())
        return cached[1]

    def train_loss_points(self) -> tuple[list[int], list[tuple[int, Any]]]:
        """The logged training losses as (steps, (step, loss)) sorted by step, for bisection."""
        def build() -> tuple[list[int], list[tuple[int, Any]]]:
            pts = sorted(((int(r["step"]), r["loss"]) for r in self.train if r.get("loss") is not None),
                         key=lambda p: p[0])
            return [p[0] for p in pts], pts
        return self._points("train_loss", build)  # type: ignore[no-any-return]

    def _examples_points(self) -> list[tuple[int, float]]:
        return self._points("examples", lambda: [(0, 0.0), *sorted(  # type: ignore[no-any-return]
            {int(r["step"]): float(r["examples_seen"]) for r in self.train
             if is_finite(r.get("examples_seen"))}.items())])

    @property
    def name(self) -> str:
        return self.run_dir.name or str(self.run_dir)

    @property
    def run_id(self) -> str:
        return str(self.meta.get("run_id") or self.name)

    @property
    def state(self) -> str:
        return str(self.meta.get("state") or "unknown")

    @property
    def max_steps(self) -> int | None:
        v = self.meta.get("max_steps")
        try:
            v = int(v)
        except (TypeError, ValueError):
            return None
        return v if v > 0 else None

    @property
    def last_step(self) -> int:
        """The step the run reached: its last logged row, or the step it ended at when a stop
        or a halt came between two logs (the store's meta step)."""
        return max([int(r["step"]) for r in self.train + self.evals] + [int(self.meta.get("step") or 0)])

    @property
    def best_step(self) -> int | None:
        """The checkpoint chosen as best: meta best_step, else the lowest finite eval loss."""
        v = self.meta.get("best_step")
        if v is not None:
            try:
                return int(v)
            except (TypeError, ValueError):
                pass
        finite = [r for r in self.evals if is_finite(r.get("eval_loss"))]
        if not finite:
            return None
        return min(finite, key=lambda r: r["eval_loss"])["step"]

    def curves(self) -> "Curves":
        """The loss curves the diagnosis reads (tuneguard.diagnosis)."""
        from tuneguard.diagnosis import Curves

        train = [(int(r["step"]), float(r["loss"])) for r in self.train if r.get("loss") is not None]
        evals = []
        for r in self.evals:
            if r.get("eval_loss") is None:
                continue
            compare = next((r[k] for k in EVAL_TRAIN_LOSS_KEYS if is_finite(r.get(k))), None)
            evals.append((int(r["step"]), float(r["eval_loss"]), compare))
        spe = self.meta.get("steps_per_epoch")
        judged = [s for s in self.qa_at(self.qa_best_step()) if s.get("expected") and s.get("correct") is not None]
        base = {s["prompt"]: s.get("correct") for s in self.qa_base if s.get("expected")}
        answers = None
        if judged:
            base_seen = [base[s["prompt"]] for s in judged if base.get(s["prompt"]) is not None]
            answers = (sum(bool(s["correct"]) for s in judged), len(judged),
                       sum(bool(b) for b in base_seen) if len(base_seen) == len(judged) else None)
        epochs = {s: e for s, _, _ in evals if (e := self.epoch_at(s)) is not None}
        return Curves(train=train, evals=evals, planned_steps=self.max_steps,
                      steps_per_epoch=int(spe) if isinstance(spe, (int, float)) and spe > 0 else None,
                      best_step=self.best_step, answers=answers, epochs=epochs)

    def epoch_at(self, step: int) -> float | None:
        """Passes over the training rows after `step`, counted in the examples each step took: the
        training logs' `examples_seen` (tuneguard.guard.seen, exact across resumes on another
        number of processes or batch width, where one steps_per_epoch would count the steps before
        the resume at the new width) over the training rows; linear between two logged steps,
        at the last logged rate past the last. Stores without it: step / steps_per_epoch."""
        rows = (self.meta.get("data_sizes") or {}).get("train") if isinstance(self.meta.get("data_sizes"), dict) else None
        points = self._examples_points()
        if isinstance(rows, int) and rows > 0 and len(points) > 1:
            return _interpolate(points, step) / rows
        spe = self.meta.get("steps_per_epoch")
        return step / spe if isinstance(spe, (int, float)) and spe > 0 else None

    def section(self, name: str) -> dict[str, Any]:
        v = self.config.get(name)
        return v if isinstance(v, dict) else {}

    def series(self, kind: str, column: str) -> list[tuple[float, float]]:
        """(step, value) points of one metric; non-finite values are kept (plots break there)."""
        rows = {"train": self.train, "eval": self.evals, "test": self.test}[kind]
        return [(float(r["step"]), float(r[column])) for r in rows if r.get(column) is not None]

    def qa_steps(self) -> list[int]:
        return sorted({int(s["step"]) for s in self.qa})

    def qa_at(self, step: int | None) -> list[dict[str, Any]]:
        return [s for s in self.qa if step is not None and int(s["step"]) == step]

    def qa_best_step(self) -> int | None:
        """QA step that belongs to the best checkpoint: best_step if sampled there, else
        the last sampled step at or before it, else the last sampled step."""
        steps = self.qa_steps()
        if not steps:
            return None
        best = self.best_step
        if best is None:
            return steps[-1]
        before = [s for s in steps if s <= best]
        return before[-1] if before else steps[0]


    def diagnosis_settings(self, language: str = "en") -> list[tuple[str, str]]:
        """How the findings were judged: the task shape the audit used, and the user's
        per-code severity overrides in effect (empty ones left out). In another language the
        audit's reason for the shape is said from its spec (`text`), and left out by a run that
        kept only the English."""
        rows: list[tuple[str, str]] = []
        task = self.meta.get("task")
        if isinstance(task, dict) and task.get("shape") and language != "en":
            how = say("report.task.stated" if task.get("source") == "data.task" else "report.task.inferred", language)
            if task.get("source") != "data.task" and is_spec(task.get("text")):
                how = in_language(T("report.task.inferred_why", reason=task["text"]), how, language)
            shape = f"task.{task['shape']}"
            rows.append((say("report.task", language),
                         f"{say(shape, language) if shape in TABLE else task['shape']} ({how})"))
        elif isinstance(task, dict) and task.get("shape"):
            how = "set by data.task" if task.get("source") == "data.task" else f"inferred: {task.get('reason', '')}"
            rows.append(("task", f"{task['shape']} ({how})"))
        for key in ("audit.severity", "guard.severity"):
            section, name = key.split(".")
            v = self.section(section).get(name)
            if isinstance(v, dict) and v:
                rows.append((key, ", ".join(f"{c}: {s}" for c, s in sorted(v.items()))))
        return rows


def load_run(run_dir: str | Path) -> RunData:
    """Read a run directory's store. Raises FileNotFoundError when there is no run.db."""
    run_dir = Path(run_dir)
    with open_for_reading(run_dir) as store:
        meta = store.meta()
        cfg = meta.get("config")
        if not isinstance(cfg, dict):
            cfg = _config_file(run_dir)
        # The state every view shows: a run whose process died while "running" is failed (the
        # reason said in the run's language, as the report around it).
        meta["state"], meta["exit_reason"] = store.view_state(meta, language=config_language(cfg))
        data = RunData(
            run_dir=run_dir, meta=meta, config=cfg,
            train=store.metrics("train"), evals=store.metrics("eval"), test=store.metrics("test"),
            findings=store.findings(), events=store.events(), qa=store.qa_samples(),
            qa_base=store.qa_samples(base=True),
        )
    return data


def _config_file(run_dir: Path) -> dict[str, Any]:
    path = run_dir / "config.yaml"
    if not path.exists():
        return {}
    try:
        loaded = yaml.safe_load(path.read_text("utf-8"))
    except (OSError, yaml.YAMLError):
        log.warning("cannot read %s; the report shows no config", path, exc_info=True)
        return {}
    return loaded if isinstance(loaded, dict) else {}


def _interpolate(points: list[tuple[int, float]], x: int) -> float:
    """y at `x` on the polyline through `points` (sorted by x, the first at 0), extended past the
    last point along its last segment."""
    # The first segment that ends at or after x (bisection: the report asks at every evaluation).
    i = bisect.bisect_left(points, x, key=lambda p: p[0])
    while 0 < i < len(points) and points[i][0] <= points[i - 1][0]:
        i += 1  # a zero-width segment (a step logged twice) is skipped, as the linear scan did
    if 0 < i < len(points):
        (x0, y0), (x1, y1) = points[i - 1], points[i]
        return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    if i == 0 and len(points) > 1:
        i = 1
        while i < len(points) and points[i][0] <= points[0][0]:
            i += 1
        if i < len(points):
            (x0, y0), (x1, y1) = points[i - 1], points[i]
            return y0 + (y1 - y0) * (x - x0) / (x1 - x0)
    (x0, y0), (x1, y1) = points[-2], points[-1]
    return y1 + (y1 - y0) * (x - x1) / (x1 - x0) if x1 > x0 else y1
