"""The human report (``report.md``) and its machine twin (``report.json``).

Every number ``report.md`` shows is also in ``report.json``: the Markdown rounds, the
JSON does not, and the ``headline`` rows in the JSON are the ones the Markdown table
prints. The plots it links are drawn by :mod:`multinerd.evaluate.plots`; the table and number
helpers are in :mod:`multinerd.evaluate.markdown`.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from pathlib import Path
from typing import Any

from multinerd.evaluate import decodingreport
from multinerd.evaluate.markdown import ci_text, duration, flatten_settings, markdown_table, num, p_text
from multinerd.evaluate.plots import A_IN_B, SYSTEMS, supports, write_plots
from multinerd.evaluate.scoring import MODES
from multinerd.hardware import describe_hardware
from multinerd.labels import STRICT, entity_spans

EXAMPLES_PER_TYPE = 3
#: Sentences longer than this are shown as a window of words around their first error.
EXAMPLE_WINDOW = 40

HOW_TO_READ = """\
- **Strict** F1 counts an entity as found only when its type and both boundaries match
  and the predicted tags form a valid IOB2 span (seqeval `mode="strict", scheme=IOB2`). An
  `I-X` that follows `O` or another type starts no entity.
- **Lenient** F1 reads tags the way the old `conlleval` script does (seqeval's default): such an
  `I-X` starts a new entity. The two differ only where tags are not valid IOB2; a large gap means
  the model emits broken tag sequences.
- Every word of every test sentence is scored, at the word level (first sub-token), never per
  sub-token.
- **A in B's space** takes A's predictions and the gold tags and turns every type that B does not
  have into `O`. Only then do A and B count the same entities on the same sentences. Comparing A's
  15-type F1 with B's 5-type F1 directly mixes two different tasks.
- **95% CI**: percentile bootstrap over test sentences (resampled with replacement). For the
  difference B − A, both systems are scored on the same resampled sentences (paired bootstrap);
  the p-value is two-sided.
- **Decoding**: tags are read from the model's probabilities by Viterbi unless `eval.decoding` says
  `argmax`: the most probable tag sequence that is valid IOB2, so strict and lenient figures agree.
  Under argmax a word takes its most likely tag alone, and the two readings can differ.
- **Predictions you get from `predict`, `serve` and the exports** are decoded the same way, read the
  tags the lenient way and write them back as valid IOB2, so they hold the entities the *lenient*
  figures count (under Viterbi, the same as the strict ones).
- **Gold types the model does not know** are counted as missed (and listed) unless the scores say
  they were restricted to the model's own types.
- **Support** is the number of gold entities of a type. Scores on types with a support of a few
  dozen or less are noisy; macro averages are taken over the types with support > 0.
"""


# --- the headline -------------------------------------------------------------------------------


def _scheme_types(metrics: dict[str, Any]) -> list[str]:
    return list(metrics.get("types") or metrics["strict"]["per_type"])


def headline_row(system: str, label: str, metrics: dict[str, Any]) -> dict[str, Any]:
    """The figures one row of the headline table shows, unrounded."""
    row: dict[str, Any] = {"system": system, "label": label, "types": len(_scheme_types(metrics))}
    for mode in MODES:
        row[mode] = {**metrics[mode]["micro"], "ci95": metrics.get("ci95", {}).get(f"{mode}_micro_f1")}
    row["token_accuracy"] = metrics["token_accuracy"]
    row["token_accuracy_entities"] = metrics.get("token_accuracy_entities")
    row["n_sentences"] = metrics["n_sentences"]
    row["n_words_scored"] = metrics["n_words_scored"]
    return row


def headline_rows(results: dict[str, Any]) -> list[dict[str, Any]]:
    """One row per scored system (A, B, A in B's space), in that order."""
    return [
        headline_row(key, "A in B's space" if key == A_IN_B else key, metrics)
        for key in (*SYSTEMS, A_IN_B)
        if (metrics := metrics_of(results, key)) is not None
    ]


def metrics_of(results: dict[str, Any], key: str) -> dict[str, Any] | None:
    """The metrics of ``A``, ``B`` or ``A_in_B_space`` in the results of a run (None when absent)."""
    entry = results.get(key)
    if entry is None:
        return None
    return entry["metrics"] if key in SYSTEMS else entry


def _headline_table(rows: list[dict[str, Any]]) -> str:
    header = ["system", "types", "strict P", "strict R", "strict F1 (95% CI)", "lenient P", "lenient R",
              "lenient F1 (95% CI)", "token accuracy", "words scored"]  # fmt: skip
    body = [
        [f"**{row['label']}**", row["types"]]
        + [
            cell
            for mode in MODES
            for cell in (
                num(row[mode]["precision"]),
                num(row[mode]["recall"]),
                num(row[mode]["f1"]) + ci_text(row[mode]["ci95"]),
            )
        ]
        + [num(row["token_accuracy"]), f"{row['n_words_scored']:,}"]
        for row in rows
    ]
    return markdown_table(header, body)


def reading(comparison: dict[str, Any], types: Sequence[str]) -> str:
    """One plain-English sentence on what the difference B − A means."""
    difference, p_value = comparison["difference"], comparison["p_value"]
    if difference == 0:
        return "A and B score exactly the same strict F1 on B's types: there is no difference to explain."
    better, worse = ("B", "A") if difference > 0 else ("A", "B")
    size = f"{abs(difference) * 100:.1f} points of strict F1"
    if comparison["ci95"] is None:
        return f"{better} is ahead of {worse} by {size} on this test set; {comparison['note']}: no verdict."
    low, high = comparison["ci95"]
    if low > 0 or high < 0:
        return (
            f"{better} beats {worse} by {size} on the same sentences and the same {len(types)} types; "
            f"the 95% interval excludes zero (p = {p_text(p_value)}), so this test set shows a real difference."
        )
    return (
        f"{better} is ahead of {worse} by {size}, but the 95% interval includes zero "
        f"(p = {p_text(p_value)}): this test set cannot tell the two systems apart."
    )


def _comparison_section(results: dict[str, Any]) -> str:
    comparison = results["comparison"]
    types = _scheme_types(results[A_IN_B]) if A_IN_B in results else list(comparison["per_type"])
    rows = [
        ["A in B's space", num(comparison["f1_a"]) + ci_text(comparison.get("ci95_a")), "", ""],
        ["B", num(comparison["f1_b"]) + ci_text(comparison.get("ci95_b")), "", ""],
        ["**B − A**", f"**{comparison['difference']:+.3f}**" + ci_text(comparison["ci95"]),
         p_text(comparison["p_value"]), f"{comparison['n_resamples']:,}"],
    ]  # fmt: skip
    return "\n\n".join(
        [
            "### The fair comparison: B against A in B's space",
            (
                f"Both systems on the same {comparison['n_sentences']:,} test sentences, scored on B's "
                f"{len(types)} types only ({', '.join(types)}), strict micro F1."
            ),
            markdown_table(["", "strict F1 (95% CI)", "p-value", "resamples"], rows),
            f"**Reading:** {reading(comparison, types)}",
        ]
    )


def _seeds_section(results: dict[str, Any]) -> str | None:
    seeds = results.get("seeds")
    if not seeds:
        return None
    aggregates = seeds.get("aggregate", seeds)
    values = seeds.get("values")
    figures = ["strict.micro.precision", "strict.micro.recall", "strict.micro.f1", "lenient.micro.f1",
               "token_accuracy"]  # fmt: skip
    systems = [key for key in (*SYSTEMS, A_IN_B) if key in aggregates]
    header = ["figure"] + [("A in B's space" if key == A_IN_B else key) + " mean ± sd" for key in systems]
    rows = []
    for figure in figures:
        row = [figure]
        for key in systems:
            entry = aggregates[key]["figures"].get(figure)
            missing = entry is None or entry["mean"] is None
            row.append("–" if missing else f"{entry['mean']:.3f} ± {entry['std']:.3f}")
        rows.append(row)
    n_runs = max(aggregates[key]["n_runs"] for key in systems)
    intro = f"Mean and sample standard deviation over {n_runs} training runs"
    intro += f" (seeds {', '.join(map(str, values))})." if values else "."
    intro += " The tables below are those of the first seed; report.json holds every figure per seed."
    return "\n\n".join(["## Several seeds", intro, markdown_table(header, rows)])


def unknown_types_note(metrics: dict[str, Any]) -> str | None:
    """What happened to gold entities of types the model does not know (None when there were none)."""
    unknown = metrics.get("unknown_gold_types") or {}
    if not unknown:
        return None
    listed = ", ".join(f"{t} {n:,}" for t, n in unknown.items())
    total = sum(unknown.values())
    if metrics.get("restricted_to_model_types"):
        return (
            f"scored on the model's own types only (--restrict-to-model-types): {total:,} gold entities "
            f"of types it does not know were left out ({listed})"
        )
    return (
        f"{total:,} gold entities of types the model does not know are counted as missed ({listed}); "
        "--restrict-to-model-types scores the model's own types only"
    )


def metrics_notes(metrics: dict[str, Any]) -> list[str]:
    """The statements that must travel with a set of scores wherever they are shown."""
    notes = [unknown_types_note(metrics), (metrics.get("bootstrap") or {}).get("note")]
    return [note for note in notes if note]


def summary_lines(metrics: dict[str, Any], label: str) -> list[str]:
    """The few lines ``evaluate`` and ``score`` print: the figures, then the notes that go with them."""
    strict, lenient = metrics["strict"]["micro"], metrics["lenient"]["micro"]
    figures = (
        f"{label}: strict P {strict['precision']:.4f} R {strict['recall']:.4f} F1 {strict['f1']:.4f}; "
        f"lenient F1 {lenient['f1']:.4f}; {metrics['n_words_scored']}/{metrics['n_words']} words scored"
    )
    return [figures] + [f"note: {note}" for note in metrics_notes(metrics)]


def _notes_text(label: str, metrics: dict[str, Any]) -> str | None:
    notes = metrics_notes(metrics)
    return "\n".join(f"- **{label}:** {note}." for note in notes) if notes else None


# --- per type and confusion ---------------------------------------------------------------------


def per_type_table(metrics: dict[str, Any]) -> str:
    ci = metrics.get("ci95_per_type", {}).get("strict", {})
    rows = [
        [entity_type, f"{row['support']:,}", num(row["precision"]), num(row["recall"]),
         num(row["f1"]) + ci_text(ci.get(entity_type)),
         num(metrics["lenient"]["per_type"][entity_type]["f1"])]
        for entity_type, row in metrics["strict"]["per_type"].items()
    ]  # fmt: skip
    for name in ("micro", "macro"):
        block = metrics["strict"][name]
        rows.append([f"*{name}*", "", num(block["precision"]), num(block["recall"]), num(block["f1"]),
                     num(metrics["lenient"][name]["f1"])])  # fmt: skip
    header = ["type", "support", "strict P", "strict R", "strict F1 (95% CI)", "lenient F1"]
    return markdown_table(header, rows)


def _per_type_comparison_table(results: dict[str, Any]) -> str:
    comparison = results["comparison"]
    b_metrics = results["B"]["metrics"]
    rows = [
        [entity_type, f"{row['support']:,}", num(row["f1_a"]), num(row["f1_b"]),
         f"{row['difference']:+.3f}" + ci_text(row["ci95"]), p_text(row["p_value"])]
        for entity_type, row in comparison["per_type"].items()
        if entity_type in b_metrics["strict"]["per_type"]
    ]  # fmt: skip
    return markdown_table(["type", "support", "A in B's space F1", "B F1", "B − A (95% CI)", "p-value"], rows)


def _confusion_table(confusion: dict[str, Any], supports: dict[str, int]) -> str:
    """Rows: gold types with support; columns: where they went; last row: spurious predictions."""
    columns = confusion["columns"]
    rows = [
        [entity_type, f"{supports[entity_type]:,}"] + [f"**{n}**" if c == entity_type else n
                                                       for c, n in confusion["rows"][entity_type].items()]
        for entity_type in confusion["rows"]
        if supports.get(entity_type, 0) > 0
    ]  # fmt: skip
    rows.append(["*spurious*", ""] + [confusion["spurious"].get(c, "") for c in columns])
    return markdown_table(["gold ↓ / predicted →", "support", *columns], rows)


# --- error examples -----------------------------------------------------------------------------


def _bracketed(words: Sequence[str], tags: Sequence[str], window: tuple[int, int]) -> str:
    """``[Angela Merkel]PER visited [Paris]LOC`` over the words in ``window`` (start, end exclusive)."""
    start, end = window
    opening = {s: (t, e) for t, s, e in entity_spans(tags, STRICT)}
    out: list[str] = []
    i = start
    while i < end:
        if i in opening:
            entity_type, span_end = opening[i]
            out.append(f"[{' '.join(words[i:span_end])}]{entity_type}")
            i = span_end
        else:
            out.append(words[i])
            i += 1
    text = " ".join(out).replace("`", "'")
    return ("… " if start > 0 else "") + text + (" …" if end < len(words) else "")


def _error_types(gold: Sequence[str], pred: Sequence[str]) -> set[str]:
    """Types of the gold entities not found exactly and of the predicted entities that are wrong."""
    gold_spans, pred_spans = set(entity_spans(gold, STRICT)), set(entity_spans(pred, STRICT))
    return {span[0] for span in gold_spans ^ pred_spans}


def pick_examples(
    examples: Sequence[dict[str, Any]], per_type: int = EXAMPLES_PER_TYPE
) -> dict[str, list[dict[str, Any]]]:
    """Up to ``per_type`` sentences with an error of each type, shortest-first among those in file order."""
    chosen: dict[str, list[dict[str, Any]]] = {}
    ordered = sorted(enumerate(examples), key=lambda pair: len(pair[1]["words"]) > EXAMPLE_WINDOW)
    for index, example in ordered:
        for entity_type in sorted(_error_types(example["gold"], example["pred"])):
            bucket = chosen.setdefault(entity_type, [])
            if len(bucket) < per_type:
                bucket.append({"index": index, **example})
    return chosen


def _example_window(example: dict[str, Any]) -> tuple[int, int]:
    n = len(example["words"])
    if n <= EXAMPLE_WINDOW:
        return 0, n
    first = next(i for i, (g, p) in enumerate(zip(example["gold"], example["pred"])) if g != p)
    start = max(0, first - EXAMPLE_WINDOW // 2)
    return start, min(n, start + EXAMPLE_WINDOW)


def _examples_section(system: str, picked: dict[str, list[dict[str, Any]]], types: Sequence[str]) -> str:
    lines = [f"### System {system}\n"]
    for entity_type in [t for t in types if t in picked] + sorted(set(picked) - set(types)):
        lines.append(f"**{entity_type}**\n")
        for example in picked[entity_type]:
            window = _example_window(example)
            gold = _bracketed(example["words"], example["gold"], window)
            pred = _bracketed(example["words"], example["pred"], window)
            lines.append(f"- gold: `{gold}`<br>pred: `{pred}`")
        lines.append("")
    if len(lines) == 1:
        lines.append("No errors among the example sentences passed to the report.")
    return "\n".join(lines)


# --- the report ---------------------------------------------------------------------------------


def _run_section(run_info: dict[str, Any], results: dict[str, Any]) -> str:
    rows: list[list[str]] = []
    for key, value in run_info.items():
        if key in ("settings", "hardware", "seconds", "data_problems"):
            continue
        if key == "tag_schemes_read" and isinstance(value, dict):
            value = "; ".join(
                f"{split}: {read['scheme'].upper()}, {read['converted']:,} tags converted to IOB2"
                for split, read in value.items()
            ) or "IOB2 (nothing converted)"
        elif key == "schemes" and isinstance(value, dict):
            value = "; ".join(
                f"{name}: {len(s['types'])} types ({', '.join(s['types'])})"
                if isinstance(s, dict)
                else f"{name}: {s}"
                for name, s in value.items()
            )
        elif isinstance(value, (dict, list)):
            value = json.dumps(value, ensure_ascii=False)
        rows.append([key.replace("_", " "), f"`{value}`" if key in ("data_fingerprint",) else str(value)])
    for system, seconds in (run_info.get("seconds") or {}).items():
        rows.append([f"time, system {system}", duration(seconds)])
    problems = run_info.get("data_problems")
    if problems is not None:
        rows.append(["data problems found", f"{len(problems):,} (listed in report.json)"])
    for key, value in (run_info.get("hardware") or {}).items():
        rows.append([f"hardware: {key}", str(value)])
    for key in SYSTEMS:
        if key in results:
            metrics = results[key]["metrics"]
            sizes = f"{metrics['n_sentences']:,} sentences, {metrics['n_words']:,} words"
            rows.append([f"test split, system {key}", f"{sizes}, {metrics['n_words_scored']:,} scored"])
    parts = ["## What was run", markdown_table(["", "value"], rows, align="ll")]
    settings = run_info.get("settings")
    if settings:
        flat = flatten_settings(settings)
        parts.append(
            "<details><summary>All settings</summary>\n\n"
            + markdown_table(["setting", "value"], [[k, f"`{v}`"] for k, v in flat.items()], align="ll")
            + "\n\n</details>"
        )
    return "\n\n".join(parts)


def _markdown(results: dict[str, Any], run_info: dict[str, Any], headline: list[dict], plots: dict[str, str],
              examples: dict[str, dict[str, list[dict]]]) -> str:  # fmt: skip
    title = "# Named-entity recognition report"
    source = run_info.get("data_source")
    intro = (
        "Systems trained and scored"
        + (f" on `{source}`" if source else "")
        + ": **A** tags every entity type of the data, **B** only a few (see *What was run*). "
        "All scores are on the test split, at the word level, every word scored; brackets hold 95% "
        "bootstrap intervals."
    )
    parts = [title, intro, _run_section(run_info, results), "## Headline", _headline_table(headline)]
    notes = [_notes_text(row["label"], metrics_of(results, row["system"]) or {}) for row in headline]
    parts += [note for note in notes if note]
    parts += [part for part in (decodingreport.decoding_section(results),) if part]
    if "comparison" in results:
        parts.append(_comparison_section(results))
    elif "B" not in results:
        parts.append("System B was not run (no B types for this data), so there is no A-versus-B comparison.")
    seeds = _seeds_section(results)
    if seeds:
        parts.append(seeds)
    parts.append("## Per entity type")
    for key in SYSTEMS:
        if key in results:
            parts += [f"### System {key} (strict, with support)", per_type_table(results[key]["metrics"])]
    if "comparison" in results and "B" in results:
        parts += ["### B against A in B's space, per type", _per_type_comparison_table(results)]
    if "per_type_f1" in plots:
        parts.append(f"![Strict F1 per type]({plots['per_type_f1']})")
    parts.append("## Where the gold entities went")
    parts.append(
        "Each gold entity (strict span) is counted under the type of the predicted span with exactly its "
        "boundaries (bold: correct), under *wrong boundary* when a predicted span only overlaps it, or under "
        "*missed*. *Spurious* counts predicted entities that overlap no gold entity."
    )
    for key in SYSTEMS:
        if key in results:
            metrics = results[key]["metrics"]
            parts += [f"### System {key}", _confusion_table(metrics["confusion"], supports(metrics))]
            if f"confusion_{key}" in plots:
                parts.append(f"![Confusion heat map, system {key}]({plots[f'confusion_{key}']})")
    parts += [part for part in (decodingreport.confidence_section(results, plots),) if part]
    parts.append("## Learning curves")
    if "learning_curves" in plots:
        parts.append(
            "Training loss, validation loss and validation strict F1 (the model-selection metric) against "
            f"training step.\n\n![Learning curves]({plots['learning_curves']})"
        )
    else:
        parts.append("No training log was passed to the report.")
    parts.append("## Error examples")
    parts.append(
        "Real test sentences where the prediction differs from gold, a few per entity type; entities are "
        "shown as `[words]TYPE` (strict spans)."
    )
    for key in SYSTEMS:
        if key in examples:
            types = _scheme_types(results[key]["metrics"])
            parts.append(_examples_section(key, examples[key], types))
    parts += ["## How to read this", HOW_TO_READ]
    return "\n\n".join(parts).rstrip() + "\n"


def write_report(out_dir: str | Path, *, results: dict[str, Any], run_info: dict[str, Any]) -> None:
    """Write ``report.md``, ``report.json`` and ``plots/*.png`` for one run.

    ``results``: ``{"A": {"metrics", "train_log", "examples"}, "B": {...} (optional),
    "A_in_B_space": metrics (optional), "comparison": compare() output (optional),
    "seeds": {"values": [seeds], "aggregate": {system: aggregate_seeds() output}} (optional)}``.
    ``run_info``: whatever describes the run, shown as given; these keys get special
    treatment: ``settings`` (nested dict, folded away), ``seconds`` ({system: seconds}),
    ``hardware`` (dict; described here when absent), ``data_problems`` (list, counted),
    ``schemes`` ({name: TagScheme.to_dict()}), ``data_fingerprint``.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    run = {**run_info, "hardware": run_info.get("hardware") or describe_hardware()}
    plots = write_plots(out / "plots", results)
    headline = headline_rows(results)
    examples = {key: pick_examples(results[key].get("examples") or []) for key in SYSTEMS if key in results}
    payload: dict[str, Any] = {key: metrics_of(results, key) for key in (*SYSTEMS, A_IN_B) if key in results}
    payload |= {
        "comparison": results.get("comparison"),
        "seeds": results.get("seeds"),
        "headline": headline,
        "train_log": {key: results[key].get("train_log") or [] for key in SYSTEMS if key in results},
        "examples": examples,
        "plots": plots,
        "run": run,
        **decodingreport.report_payload(results),
    }
    text = json.dumps(payload, indent=2, ensure_ascii=False)
    (out / "report.json").write_text(text + "\n", encoding="utf-8")
    (out / "report.md").write_text(_markdown(results, run, headline, plots, examples), encoding="utf-8")


def write_evaluation_report(out_dir: str | Path, metrics: dict[str, Any]) -> None:
    """A short ``report.md`` for ``multinerd evaluate`` and ``multinerd score``: one set of scores.

    The rows of the first table are those of ``source`` (data), ``input`` (a scored file),
    ``split`` and ``scheme`` that ``metrics`` has; the notes of :func:`metrics_notes`
    follow the headline.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    label = f"scheme {metrics['scheme']}" if metrics.get("scheme") else "scored"
    row = headline_row("evaluated", label, metrics)
    what = [[name, str(metrics[key])] for key, name in
            (("source", "data"), ("input", "file"), ("split", "split")) if metrics.get(key)]  # fmt: skip
    what += [
        ["types", f"{metrics.get('scheme') or 'as found'} ({', '.join(_scheme_types(metrics))})"],
        ["sentences", f"{metrics['n_sentences']:,}"],
        ["words scored", f"{metrics['n_words_scored']:,} of {metrics['n_words']:,}"],
    ]
    parts = [
        "# Evaluation report",
        markdown_table(["", "value"], what, align="ll"),
        "## Headline",
        _headline_table([row]),
        *filter(None, [_notes_text(label, metrics)]),
        "## Per entity type",
        per_type_table(metrics),
        "## Where the gold entities went",
        _confusion_table(metrics["confusion"], supports(metrics)),
        "## How to read this",
        HOW_TO_READ,
    ]
    (out / "report.md").write_text("\n\n".join(parts).rstrip() + "\n", encoding="utf-8")
