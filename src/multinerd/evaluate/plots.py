"""The report's PNG plots: learning curves, per-type F1 with intervals, confusion heat maps.

Drawn on bare matplotlib ``Figure`` objects (Agg canvas), never through pyplot, so writing
a report changes no global backend and leaks no figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path
from typing import Any

import numpy as np
from matplotlib.figure import Figure

from multinerd.evaluate import decodingreport

#: The systems a run's results may hold, in the order every table and plot shows them.
SYSTEMS: tuple[str, ...] = ("A", "B")
#: The results key of A's predictions scored on B's types only.
A_IN_B = "A_in_B_space"
COLORS = {"A": "#1f77b4", "B": "#d62728", A_IN_B: "#7f7f7f"}


def _save(figure: Figure, path: Path) -> None:
    figure.tight_layout()
    figure.savefig(path, dpi=100)


def _series(log: Sequence[dict[str, Any]], key: str) -> tuple[list[float], list[float]]:
    points = [
        (entry["step"], entry[key])
        for entry in log
        if entry.get("step") is not None and entry.get(key) is not None
    ]
    return [p[0] for p in points], [p[1] for p in points]


def plot_learning_curves(path: Path, logs: dict[str, Sequence[dict[str, Any]]]) -> bool:
    """Train loss, validation loss and validation F1 against step for each system; False if no log."""
    panels = [
        ("train_loss", "training loss"),
        ("eval_loss", "validation loss"),
        ("eval_f1", "validation strict F1"),
    ]
    if not any(_series(log, key)[0] for log in logs.values() for key, _ in panels):
        return False
    figure = Figure(figsize=(12, 4))
    for position, (key, title) in enumerate(panels, start=1):
        axes = figure.add_subplot(1, 3, position)
        for system, log in logs.items():
            steps, values = _series(log, key)
            if steps:
                axes.plot(steps, values, marker="o", markersize=4, color=COLORS[system],
                          label=f"system {system}")  # fmt: skip
        axes.set_title(title, fontsize=13)
        axes.set_xlabel("training step", fontsize=11)
        axes.set_ylabel(title, fontsize=11)
        axes.grid(alpha=0.3)
        if axes.lines:
            axes.legend(fontsize=10)
    figure.suptitle("Learning curves", fontsize=14)
    _save(figure, path)
    return True


def plot_per_type(path: Path, systems: dict[str, dict[str, Any]]) -> bool:
    """Bars of per-type strict F1 with 95% bootstrap intervals, systems side by side; False if no gold entity.

    Types without gold entities in any system are left out: their F1 says nothing.
    """
    types = list(
        dict.fromkeys(
            t
            for metrics in systems.values()
            for t, row in metrics["strict"]["per_type"].items()
            if row["support"]
        )
    )
    if not types:
        return False
    height = 0.8 / len(systems)
    figure = Figure(figsize=(9, 1.6 + 0.42 * len(types) * max(1, len(systems) / 1.5)))
    axes = figure.add_subplot(1, 1, 1)
    positions = np.arange(len(types))
    for k, (system, metrics) in enumerate(systems.items()):
        per_type, ci = metrics["strict"]["per_type"], metrics.get("ci95_per_type", {}).get("strict", {})
        present = [i for i, t in enumerate(types) if t in per_type]
        f1 = np.array([per_type[types[i]]["f1"] for i in present])
        bounds = [ci.get(types[i]) or (f, f) for i, f in zip(present, f1)]
        errors = np.array([[f - low, high - f] for f, (low, high) in zip(f1, bounds)]).T
        axes.barh(positions[present] + (k - (len(systems) - 1) / 2) * height, f1, height=height, xerr=errors,
                  capsize=3, color=COLORS[system], label=f"system {system}")  # fmt: skip
    first = next(iter(systems.values()))["strict"]["per_type"]
    labels = [f"{t} (n={first[t]['support']:,})" if t in first else t for t in types]
    axes.set_yticks(positions, labels, fontsize=11)
    axes.invert_yaxis()
    axes.set_xlim(0, 1.05)
    axes.set_xlabel("strict F1 on the test split (bars: 95% bootstrap interval)", fontsize=11)
    axes.set_title("Strict F1 per entity type", fontsize=13, pad=30)
    axes.grid(axis="x", alpha=0.3)
    # Above the bars, so it never hides one.
    axes.legend(fontsize=10, loc="lower center", bbox_to_anchor=(0.5, 1.0), ncol=len(systems), frameon=False)
    _save(figure, path)
    return True


def plot_confusion(path: Path, confusion: dict[str, Any], supports: dict[str, int], title: str) -> bool:
    """Heat map of where each gold type's entities went, as shares of the row; False if no gold entity."""
    rows = [t for t in confusion["rows"] if supports.get(t, 0) > 0]
    if not rows:
        return False
    columns = confusion["columns"]
    counts = np.array([[confusion["rows"][t][c] for c in columns] for t in rows], dtype=float)
    shares = counts / counts.sum(axis=1, keepdims=True)
    figure = Figure(figsize=(2.5 + 0.62 * len(columns), 2 + 0.5 * len(rows)))
    axes = figure.add_subplot(1, 1, 1)
    image = axes.imshow(shares, cmap="Blues", vmin=0, vmax=1, aspect="auto")
    for i in range(len(rows)):
        for j in range(len(columns)):
            if counts[i, j]:
                axes.text(j, i, f"{int(counts[i, j])}", ha="center", va="center", fontsize=9,
                          color="white" if shares[i, j] > 0.6 else "black")  # fmt: skip
    axes.set_xticks(range(len(columns)), columns, rotation=45, ha="right", fontsize=10)
    axes.set_yticks(range(len(rows)), [f"{t} ({supports[t]:,})" for t in rows], fontsize=10)
    axes.set_xlabel("predicted (span with the same boundaries), or the kind of error", fontsize=11)
    axes.set_ylabel("gold type (support)", fontsize=11)
    axes.set_title(title, fontsize=13)
    figure.colorbar(image, ax=axes, label="share of the gold type's entities")
    _save(figure, path)
    return True


def supports(metrics: dict[str, Any]) -> dict[str, int]:
    """Gold entities per type: the heat map and the confusion table show only types that have some."""
    return {t: row["support"] for t, row in metrics["strict"]["per_type"].items()}


def write_plots(plots: Path, results: dict[str, Any]) -> dict[str, str]:
    """Every plot the report links, as {name: path relative to the report}."""
    plots.mkdir(parents=True, exist_ok=True)
    written: dict[str, str] = {}
    systems = {key: results[key] for key in SYSTEMS if key in results}
    logs = {key: entry.get("train_log") or [] for key, entry in systems.items()}
    if plot_learning_curves(plots / "learning_curves.png", logs):
        written["learning_curves"] = "plots/learning_curves.png"
    if plot_per_type(plots / "per_type_f1.png", {key: entry["metrics"] for key, entry in systems.items()}):
        written["per_type_f1"] = "plots/per_type_f1.png"
    for key, entry in systems.items():
        metrics = entry["metrics"]
        title = f"System {key}: where the gold entities went"
        if plot_confusion(plots / f"confusion_{key}.png", metrics["confusion"], supports(metrics), title):
            written[f"confusion_{key}"] = f"plots/confusion_{key}.png"
    if decodingreport.plot_precision_recall(plots / "precision_recall.png", results):
        written["precision_recall"] = "plots/precision_recall.png"
    return written
