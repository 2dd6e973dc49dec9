"""The run report's decoding and confidence parts: argmax against Viterbi, calibration, precision by threshold.

:mod:`multinerd.evaluate.report` calls these; each takes the results a run passes to it, where each
system's entry may hold ``decodings`` (:func:`multinerd.evaluate.decoding.compare_decodings`) and
``confidence`` (:func:`multinerd.evaluate.calibration.split_report`). A results dict without them
(an older run, a test fixture) gets no section and no plot.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from matplotlib.figure import Figure

SYSTEMS: tuple[str, ...] = ("A", "B")
COLORS = {"A": "#1f77b4", "B": "#d62728"}
MARKERS = {"0.90": "o", "0.95": "s"}


def _num(value: float | None, digits: int = 3) -> str:
    return "–" if value is None else f"{value:.{digits}f}"


def _p(value: float | None) -> str:
    return "–" if value is None else f"{value:.3g}"


def _ci(interval: list[float] | None) -> str:
    return "" if not interval else f" [{interval[0]:+.3f}, {interval[1]:+.3f}]"


def _entries(results: dict[str, Any], key: str) -> dict[str, dict[str, Any]]:
    return {s: results[s][key] for s in SYSTEMS if isinstance(results.get(s), dict) and results[s].get(key)}


def decoding_note(entry: dict[str, Any] | None) -> str:
    """``  [viterbi decoding; argmax 0.5975, +0.0274 [+0.012, +0.043]]`` for the ``run`` summary line."""
    compared = (entry or {}).get("decodings")
    if not compared:
        return ""
    other = "argmax" if compared["used"] == "viterbi" else "viterbi"
    figure = compared["f1_a"] if other == "argmax" else compared["f1_b"]
    return (
        f"  [{compared['used']} decoding; {other} {figure:.4f}, viterbi - argmax "
        f"{compared['difference']:+.4f}{_ci(compared['ci95'])}]"
    )


def decoding_section(results: dict[str, Any]) -> str | None:
    """Same model, two decodings: strict F1 under argmax and Viterbi, the paired difference and p-value."""
    entries = _entries(results, "decodings")
    if not entries:
        return None
    rows = [
        f"| **{system}** | {c['used']} | {_num(c['f1_a'], 4)} | {_num(c['f1_b'], 4)} | "
        f"**{c['difference']:+.4f}**{_ci(c['ci95'])} | {_p(c['p_value'])} | {c['n_sentences']:,} |"
        for system, c in entries.items()
    ]
    used = next(iter(entries.values()))["used"]
    return "\n".join(
        [
            "## Decoding: Viterbi against argmax",
            "",
            (
                "The same model's probabilities on the same test sentences, read two ways: *argmax* takes each "
                "word's most likely tag; *Viterbi* takes the most probable tag sequence that is valid IOB2 "
                "(`I-X` only after `B-X` or `I-X`). Strict micro F1; the difference's 95% interval and p-value "
                f"come from the paired bootstrap over sentences. Every other figure of this report uses **{used}** "
                "(`eval.decoding`, `--decoding`)."
            ),
            "",
            (
                "| system | decoding used | strict F1, argmax | strict F1, Viterbi | Viterbi − argmax (95% CI) "
                "| p-value | sentences |"
            ),
            "|---|---|---:|---:|---:|---:|---:|",
            *rows,
        ]
    )


def confidence_section(results: dict[str, Any], plots: dict[str, str]) -> str | None:
    """Temperature, ECE before and after, and test precision and recall at the validation thresholds."""
    entries = _entries(results, "confidence")
    if not entries:
        return None
    calibration_rows = [
        f"| **{system}** | {c['temperature']:.3g} | {_num(c['validation_ece_before'])} → "
        f"{_num(c['validation_ece_after'])} | {_num(c['ece_before'])} → {_num(c['ece_after'])} | {c['n_entities']:,} |"
        for system, c in entries.items()
    ]
    threshold_rows = []
    for system, c in entries.items():
        for target, at in c["at_validation_thresholds"].items():
            if at is None:
                threshold_rows.append(f"| **{system}** | {target} | not reached on validation | – | – | – |")
            else:
                threshold_rows.append(
                    f"| **{system}** | {target} | {at['threshold']:.4f} | {_num(at['precision'])} | "
                    f"{_num(at['recall'])} | {at['kept']:,} |"
                )
    notes = [f"- **{system}:** {c['note']}." for system, c in entries.items() if c.get("note")]
    parts = [
        "## Confidence: calibrated entity scores",
        "",
        (
            "An entity's score is the mean probability of its words' tags after dividing the logits by a "
            "temperature fitted on validation (`calibration.json` in the model directory; tags do not change). "
            "ECE: expected calibration error of the entity scores (10 equal-width bins; an entity is correct when "
            "its type and both boundaries match a gold entity), before → after scaling."
        ),
        "",
        "| system | temperature | ECE on validation | ECE on test | test entities |",
        "|---|---:|---:|---:|---:|",
        *calibration_rows,
        *([""] + notes if notes else []),
        "",
        (
            "Thresholds chosen on **validation** as the lowest score that keeps precision at the target, and what "
            "they give on **test** (`predict --min-score T`, or `\"min_score\": T` in a `serve` request):"
        ),
        "",
        "| system | target precision | threshold (validation) | test precision | test recall | test entities kept |",
        "|---|---:|---:|---:|---:|---:|",
        *threshold_rows,
    ]
    if "precision_recall" in plots:
        parts += ["", f"![Precision and recall by entity-score threshold]({plots['precision_recall']})"]
    return "\n".join(parts)


def plot_precision_recall(path: Path, results: dict[str, Any]) -> bool:
    """Test precision against recall as the score threshold falls, validation thresholds marked; False if none."""
    entries = {s: c for s, c in _entries(results, "confidence").items() if c["curve"]}
    if not entries:
        return False
    figure = Figure(figsize=(7, 5))
    axes = figure.add_subplot(1, 1, 1)
    for system, c in entries.items():
        recall = [p["recall"] or 0.0 for p in c["curve"]]
        precision = [p["precision"] for p in c["curve"]]
        axes.plot(recall, precision, color=COLORS[system], label=f"system {system} (test)")
        for target, at in c["at_validation_thresholds"].items():
            if at is not None and at["precision"] is not None:
                axes.plot(at["recall"] or 0.0, at["precision"], MARKERS.get(target, "^"), color=COLORS[system],
                          markersize=8, label=f"{system}: threshold {at['threshold']:.3f} (P {target} on validation)")  # fmt: skip
    for target in MARKERS:
        axes.axhline(float(target), color="#999999", linewidth=0.8, linestyle="--")
    axes.set_xlabel("recall (entities with score ≥ threshold)", fontsize=11)
    axes.set_ylabel("precision", fontsize=11)
    axes.set_xlim(0, 1.02)
    axes.set_ylim(0, 1.02)
    axes.set_title("Precision and recall by entity-score threshold (test)", fontsize=13)
    axes.grid(alpha=0.3)
    axes.legend(fontsize=8, loc="lower left")
    figure.tight_layout()
    figure.savefig(path, dpi=100)
    return True


def report_payload(results: dict[str, Any]) -> dict[str, Any]:
    """What ``report.json`` adds: the decoding used, both decodings' comparison, and confidence per system."""
    decodings = _entries(results, "decodings")
    return {
        "decoding": next(iter(decodings.values()))["used"] if decodings else None,
        "decodings": decodings or None,
        "confidence": _entries(results, "confidence") or None,
    }
