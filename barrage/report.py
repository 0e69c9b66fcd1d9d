"""``barrage report``: a run's learning curves as a PNG and one self-contained HTML page.

Everything comes from the artifact directory's plain files, so a report can be made of
a run still in progress, of one that was killed (a partial report: the epochs done so
far) and of a resumed one (``training_report.csv`` holds each epoch once):

- ``learning_curves.png``: one panel per loss and metric, training against validation,
  the best epoch (by the best checkpoint's monitor) marked, and the learning rate in a
  panel of its own;
- ``confusion_<output>.png`` per classification output of the latest ``barrage
  evaluate`` (``evaluation.json``), when there is one;
- ``report.html``: the pictures embedded (base64), the run summary, the evaluation
  results and the resolved config; no script, no external file.

Drawn with matplotlib's object-oriented API on the Agg canvas: no window, no global
backend switch, no TensorFlow.
"""

from __future__ import annotations

import base64
import html
import io
import json
import math
import os
import re
import warnings
from typing import Any, Dict, List, Optional, Sequence, Tuple

import attrs
import numpy as np

from barrage import artifacts
from barrage.artifacts import ArtifactLayout
from barrage.manifest import Manifest, best_checkpoint_digest
from barrage.outputs import check_output, publish_folder, refuse_run_files
from barrage.services import best_epoch

CURVES = "learning_curves.png"
PAGE = "report.html"
LEARNING_RATE = "learning_rate"


@attrs.frozen
class Run:
    """What a report shows of one artifact directory."""

    root: str
    config: Dict[str, Any]
    rows: List[Dict[str, str]]
    finished: bool
    network_params: Dict[str, Any] = attrs.field(factory=dict)
    environment: Dict[str, Any] = attrs.field(factory=dict)
    evaluation: Optional[Dict[str, Any]] = None
    best_checkpoint_sha256: Optional[str] = None

    @property
    def evaluation_is_stale(self) -> bool:
        """Whether the evaluation is of an earlier best checkpoint (the run was resumed,
        or went on training, after ``barrage evaluate``)."""
        from barrage.evaluation import CHECKPOINT_KEY

        evaluated = (self.evaluation or {}).get(CHECKPOINT_KEY)
        return evaluated is not None and evaluated != self.best_checkpoint_sha256

    @property
    def best(self) -> Optional[Tuple[str, int, float]]:
        """``(monitor, epoch from 0, value)`` of the best epoch so far, if known."""
        block = (self.config.get("services") or {}).get("best_checkpoint")
        if not block or not self.rows:
            return None
        found = best_epoch(self.rows, block["monitor"], block["mode"])
        return None if found is None else (block["monitor"], found[0], found[1])


def read_run(artifact_dir: str) -> Run:
    """The run in ``artifact_dir`` as far as it got (an ``ArtifactError`` if it is not
    an artifact directory)."""
    layout = ArtifactLayout(artifact_dir)
    layout.require(artifacts.CONFIG)

    def optional(path: str) -> Any:
        return artifacts.read_json(path) if os.path.isfile(path) else None

    evaluation = layout.path(artifacts.EVALUATION)

    return Run(
        root=artifact_dir,
        config=artifacts.read_json(layout.config),
        rows=artifacts.read_report(layout.report),
        finished=Manifest(artifact_dir).finished(),
        network_params=optional(layout.network_params) or {},
        environment=optional(layout.environment) or {},
        evaluation=_usable_evaluation(optional(evaluation), evaluation),
        best_checkpoint_sha256=best_checkpoint_digest(artifact_dir),
    )


def _usable_evaluation(evaluation: Any, path: str) -> Optional[Dict[str, Any]]:
    """``evaluation`` if it is what ``barrage evaluate`` writes; else a warning, and the
    report goes on without it (it is optional, and the run's own files are what matter)."""
    from barrage.evaluation import rows

    if evaluation is None:
        return None
    try:
        list(rows(evaluation))
        for values in evaluation["outputs"].values():
            matrix = np.asarray(values.get("confusion_matrix", [[0]]), dtype=np.float64)
            if matrix.ndim != 2:
                raise ValueError("a confusion matrix is not a table")
    except (AttributeError, KeyError, TypeError, ValueError) as exc:
        reason = f"no {exc}" if isinstance(exc, KeyError) else " ".join(str(exc).split())
        warnings.warn(f"{path}: damaged ({reason}); the report leaves the evaluation out", stacklevel=3)
        return None
    return evaluation


# -- pictures -------------------------------------------------------------------------


def _number(text: Any) -> float:
    try:
        return float(text)
    except (TypeError, ValueError):
        return math.nan


def quantities(rows: List[Dict[str, str]]) -> List[str]:
    """The logged quantities with a panel each (``loss`` first), without ``val_``."""
    names = {key[4:] if key.startswith("val_") else key for row in rows for key in row} - {"epoch", LEARNING_RATE}
    return sorted(names, key=lambda name: (name != "loss", not name.endswith("loss"), name))


def curves_png(run: Run) -> bytes:
    """The learning curves (see the module docstring) as PNG bytes."""
    from matplotlib.figure import Figure

    panels = quantities(run.rows) + ([LEARNING_RATE] if any(row.get(LEARNING_RATE) for row in run.rows) else [])
    columns = min(3, max(1, len(panels)))
    lines = max(1, math.ceil(len(panels) / columns))
    figure = Figure(figsize=(4.2 * columns, 3.2 * lines), layout="constrained")
    if not panels:
        axes = figure.add_subplot()
        axes.axis("off")
        axes.text(0.5, 0.5, "no epoch has finished yet", ha="center", va="center")
        return _png(figure)
    epochs = [int(row["epoch"]) + 1 for row in run.rows]
    best = run.best
    for index, name in enumerate(panels):
        axes = figure.add_subplot(lines, columns, index + 1)
        if name == LEARNING_RATE:
            _plot(axes, epochs, run.rows, [(LEARNING_RATE, "learning rate")], "tab:green")
            rates = [_number(row.get(LEARNING_RATE)) for row in run.rows]
            if all(rate > 0 for rate in rates) and max(rates) > 10 * min(rates):  # a schedule over decades
                axes.set_yscale("log")
        else:
            _plot(axes, epochs, run.rows, [(name, "training"), (f"val_{name}", "validation")])
        if best is not None:
            axes.axvline(best[1] + 1, color="grey", linestyle="--", linewidth=1, label=f"best epoch ({best[1] + 1})")
        axes.set_title(name)
        axes.set_xlabel("epoch")
        axes.legend(fontsize="small")
    figure.suptitle("learning curves" + ("" if run.finished else f" (partial: {len(epochs)} epoch(s) so far)"))
    return _png(figure)


def _plot(axes: Any, epochs: List[int], rows: List[Dict[str, str]], series: Sequence[Tuple[str, str]],
          color: Optional[str] = None) -> None:
    for key, label in series:
        values = [_number(row.get(key)) for row in rows]
        if not all(math.isnan(v) for v in values):
            axes.plot(epochs, values, marker="o", markersize=3, label=label, color=color)
    axes.xaxis.get_major_locator().set_params(integer=True)


def confusion_png(name: str, matrix: List[List[float]]) -> bytes:
    """One output's confusion matrix (rows true, columns predicted) as PNG bytes."""
    from matplotlib.figure import Figure

    size = len(matrix)
    figure = Figure(figsize=(1.2 + 0.6 * max(size, 3), 1.0 + 0.6 * max(size, 3)), layout="constrained")
    axes = figure.add_subplot()
    image = axes.imshow(matrix, cmap="Blues")
    figure.colorbar(image, ax=axes, shrink=0.8)
    peak = max((v for row in matrix for v in row), default=0) or 1
    for true, row in enumerate(matrix):
        for predicted, value in enumerate(row):
            text = f"{value:g}" if isinstance(value, float) else str(value)
            axes.text(predicted, true, text, ha="center", va="center",
                      color="white" if value > peak / 2 else "black", fontsize="small")
    axes.set_xticks(range(size))
    axes.set_yticks(range(size))
    axes.set_xlabel("predicted class")
    axes.set_ylabel("true class")
    axes.set_title(f"confusion matrix of '{name}'")
    return _png(figure)


def _png(figure: Any) -> bytes:
    from matplotlib.backends.backend_agg import FigureCanvasAgg

    FigureCanvasAgg(figure)
    buffer = io.BytesIO()
    figure.savefig(buffer, format="png", dpi=100)
    return buffer.getvalue()


# -- the page ---------------------------------------------------------------------------


def html_page(run: Run, curves: bytes, confusions: Dict[str, bytes]) -> str:
    """The self-contained HTML page of a run."""
    title = f"Barrage run {os.path.basename(os.path.abspath(run.root))}"
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en">',
        f'<head><meta charset="utf-8"><title>{_text(title)}</title><style>{STYLE}</style></head>',
        "<body>",
        f"<h1>{_text(title)}</h1>",
        "<h2>Summary</h2>",
        _table(summary_rows(run)),
        "<h2>Learning curves</h2>",
        _image(curves, "learning curves"),
        *_evaluation_section(run, confusions),
        "<h2>Resolved config</h2>",
        f"<pre>{_text(json.dumps(run.config, indent=2))}</pre>",
        "</body>",
        "</html>",
    ]
    return "\n".join(parts) + "\n"


def summary_rows(run: Run) -> List[Tuple[str, Any]]:
    """The run summary: state, epochs, best epoch, last values, versions, overrides."""
    epochs = len(run.rows)
    planned = (run.config.get("solver") or {}).get("epochs")
    state = "finished" if run.finished else "in progress, or stopped before it finished (a partial report)"
    rows: List[Tuple[str, Any]] = [("artifact directory", os.path.abspath(run.root)), ("state", state),
                                   ("epochs run", f"{epochs} of at most {planned}")]
    best = run.best
    if best is not None:
        rows.append(("best epoch", f"{best[1] + 1} ({best[0]} = {best[2]:.6g})"))
    if run.rows:
        last = run.rows[-1]
        rows.extend((f"last epoch: {key}", f"{_number(value):.6g}") for key, value in last.items()
                    if key != "epoch" and value not in ("", None))
    if run.network_params:
        rows.append(("network params", json.dumps(run.network_params)))
    overrides = run.config.get("overrides")
    if overrides:
        applied = ", ".join(f"{path}={json.dumps(value)}" for path, value in overrides.items())
        rows.append(("overrides (--set)", applied))
    for name in ("barrage", "tensorflow", "keras", "python"):
        if name in run.environment:
            rows.append((name, run.environment[name]))
    return rows


def _evaluation_section(run: Run, confusions: Dict[str, bytes]) -> List[str]:
    evaluation = run.evaluation
    if not evaluation:
        return []
    from barrage.evaluation import rows

    shown = [(f"{output or '(all)'} · {source} · {quantity}", value)
             for output, source, quantity, value in rows(evaluation) if not quantity.startswith("confusion[")]
    parts = ["<h2>Evaluation</h2>",
             f"<p>{_text(evaluation.get('records'))} record(s) of {_text(evaluation.get('data'))}</p>"]
    if run.evaluation_is_stale:
        parts.append(f"<p><strong>{_text(STALE_EVALUATION)}</strong></p>")
    parts.append(_table(shown))
    parts.extend(_image(png, f"confusion matrix of {name}") for name, png in confusions.items())
    return parts


def _table(rows: Sequence[Tuple[str, Any]]) -> str:
    body = "".join(f"<tr><th>{_text(key)}</th><td>{_text(_shown(value))}</td></tr>" for key, value in rows)
    return f"<table>{body}</table>"


def _shown(value: Any) -> str:
    if value is None:
        return "-"
    if isinstance(value, float):
        return f"{value:.6g}"
    return str(value)


def _image(png: bytes, description: str) -> str:
    data = base64.b64encode(png).decode("ascii")
    return f'<p><img src="data:image/png;base64,{data}" alt="{_text(description)}"></p>'


def _text(value: Any) -> str:
    return html.escape(str(value), quote=True)


STALE_EVALUATION = ("this evaluation is of an earlier best checkpoint (the run trained on after it); "
                    "run barrage evaluate again for the current one")
STYLE = (
    "body{font-family:sans-serif;margin:2em;max-width:75em;color:#222}"
    "table{border-collapse:collapse}th,td{border:1px solid #ccc;padding:.25em .6em;text-align:left}"
    "th{background:#f4f4f4;font-weight:normal}pre{background:#f8f8f8;padding:1em;overflow:auto}"
    "img{max-width:100%}"
)


# -- writing ----------------------------------------------------------------------------


def default_folder(artifact_dir: str) -> str:
    """Where a report goes unless told: ``report/`` inside the artifact directory."""
    return ArtifactLayout(artifact_dir).path(artifacts.REPORT_FOLDER)


def write_report(artifact_dir: str, folder: Optional[str] = None, overwrite: bool = False) -> List[str]:
    """Write the report of the run in ``artifact_dir`` into ``folder`` (made whole, in a
    temporary sibling renamed into place); returns the files written. An evaluation of
    an earlier best checkpoint is flagged on the page and with a warning."""
    folder = folder or default_folder(artifact_dir)
    run = read_run(artifact_dir)
    refuse_run_files(folder, artifact_dir)  # the more telling refusal first
    check_output(folder, overwrite, folder=True, what="report", marker=PAGE)
    curves = curves_png(run)
    confusions = {
        name: confusion_png(name, values["confusion_matrix"])
        for name, values in ((run.evaluation or {}).get("outputs") or {}).items()
        if values.get("confusion_matrix")
    }
    files = {CURVES: curves, **{f"confusion_{re.sub(r'[^A-Za-z0-9_.-]', '_', name)}.png": png
                                for name, png in confusions.items()},
             PAGE: html_page(run, curves, confusions).encode("utf-8")}

    def fill(stage: str) -> None:
        for name, content in files.items():
            with open(os.path.join(stage, name), "wb") as handle:
                handle.write(content)

    publish_folder(folder, fill, overwrite)
    if run.evaluation_is_stale:  # said on the page too
        warnings.warn(STALE_EVALUATION, stacklevel=2)
    return [os.path.join(folder, name) for name in files]
