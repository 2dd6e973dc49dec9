"""README.md's measured figures, generated from the results files under bench/results/.

    .venv/bin/python bench/readme_figures.py            # rewrite README.md's generated sections
    .venv/bin/python bench/readme_figures.py --check    # exit 1 when README.md differs from the results

How a measured figure gets into the README (the only way; ``tests/test_figures.py`` fails on any other):

1. A committed command (a script under ``bench/``) measures it and writes
   ``bench/results/NAME.json``, recording its own full command line under ``"command"``.
2. A renderer here turns that file into Markdown: every figure read from the file, never typed
   in, and the command printed beside it. Register it in :data:`SECTIONS` under a section name.
3. README.md holds the section between two marker comments, each on its own line::

       <!-- figures:NAME -->
       <!-- /figures:NAME -->

   and this script fills it in. Edit the renderer, never the text between the markers.

BENCHMARKS.md is generated the same way by ``bench/run_all.py`` (``--markdown-only``).
Outside generated sections a decimal figure may stand only in code (inline or fenced:
commands, settings, example output), as a version (``2.13.0``, or stated with its name by the
package's own source, ``BY-NC-SA 4.0``), or as a threshold or setting that the code or a shipped
config itself defines as a literal (``0.999`` in ``multinerd.model.export``).
"""

from __future__ import annotations

import argparse
import json
import re
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results"
README = REPO / "README.md"
COMMAND = ".venv/bin/python bench/readme_figures.py"
#: A generated section: the opening marker, the generated text, the closing marker.
SECTION = re.compile(r"(<!-- figures:(?P<name>[\w-]+) -->\n)(?P<body>.*?)(<!-- /figures:(?P=name) -->)", re.DOTALL)


def _load(results: Path, name: str) -> dict[str, Any]:
    path = results / name
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        raise SystemExit(f"{path}: not found; run the command that writes it (see {COMMAND})") from None


def _load_text(values: list[float]) -> str:
    return f"load average {values[0]:.1f}"


def quickstart_scores(results: Path) -> str:
    """The quickstart's scores with the CPU they came from, per training precision (bench/quickstart_scores.py)."""
    if not (results / "quickstart_scores.json").exists():
        return (
            "Not measured yet on this branch (two quickstart runs did not fit the 2 shared cores in time): "
            "run `.venv/bin/python bench/quickstart_scores.py`, then `" + COMMAND + "`.\n"
        )
    record = _load(results, "quickstart_scores.json")
    machine = record["machine"]
    names = {"A": "A", "B": "B", "A_in_B_space": "A in B's space"}
    parts = []
    for precision, run in record["runs"].items():
        if run["status"] == "trained":
            figures = ", ".join(f"{names[k]} {v:.3f}" for k, v in run["strict_micro_f1"].items())
            parts.append(f"trained in {precision}: strict micro F1 {figures}")
        else:
            parts.append(f"{precision}: refused on this CPU (`{run['reason']}`)")
    move = record["largest_move"]
    spread = (
        f" The largest move of a figure between fp32 and bf16 on this CPU is {move:.3f}."
        if move is not None
        else " How far the figures move between fp32 and bf16 needs a CPU with native bf16; rerun the command there."
    )
    return (
        f"Measured on {machine['cpu']} ({machine['bf16_flags']}: `precision=auto` picks "
        f"{record['auto_picks']} here), {record['date']}, {_load_text(record['load_average_before'])}: "
        + "; ".join(parts)
        + f".{spread} Command: `{record['command']}` (`bench/results/quickstart_scores.json`).\n"
    )


def dry_run_estimate(results: Path) -> str:
    """The dry run's estimate against the real training time (bench/dry_run.py)."""
    record = _load(results, "dry_run.json")
    return (
        f"On {record['hardware']} ({_load_text(record['load_average_before'])}) the estimate for the "
        f"quickstart's system A was {record['estimate_over_real']:.2f} times the real training time "
        f"({record['estimated_total_seconds']:.0f} s against {record['real_total_seconds']:.0f} s). "
        f"Command: `{record['command']}`.\n"
    )


def tune_gain(results: Path) -> str:
    """``multinerd tune`` against the quickstart's defaults on two tiny slices (bench/tune_search.py)."""
    lines = []
    for name in ("tune_search_sample.json", "tune_search_short.json"):
        record = _load(results, name)
        for row in record["results"]:
            low, high = row["gain_ci95"]
            lines.append(
                f"- {row['corpus']} ({row['n_test_sentences']} test sentences): defaults {row['test_f1_default']:.3f}, "
                f"best trial's config {row['test_f1_tuned']:.3f} (gain {row['gain']:+.3f}, 95% interval "
                f"[{low:.3f}, {high:.3f}]; {row['trials']['complete']} trials, best at {row['best_params']['epochs']} "
                f"epochs). Command: `{record['command']}`."
            )
    return "\n".join(lines) + "\n"


def predict_corpus_paper(results: Path) -> str:
    """The billion-sentence estimate on paper from the measured per-actor rate (bench/predict_corpus.py)."""
    import predict_corpus

    return "\n".join(predict_corpus.paper_table(_load(results, "predict_corpus.json")))


def ci_time(results: Path) -> str:
    """A fresh clone's ``CI=true bash .ci/run``, timed per pytest stage (bench/ci_time.py)."""
    if not (results / "ci_time.json").exists():
        return f"Not measured yet: run `.venv/bin/python bench/ci_time.py`, then `{COMMAND}`.\n"
    record = _load(results, "ci_time.json")
    names = ("`make test`", "`make test-e2e`")
    stages = [
        f"{name}: {', '.join(f'{n} {kind}' for kind, n in stage['counts'].items())} in {stage['seconds'] / 60:.1f} min"
        for name, stage in zip(names, record["stages"])
    ]
    return (
        f"On {record['cpu']} ({record['cores']} cores, {_load_text(record['load_average_before'])}), "
        f"{record['date']}, commit {record['commit'][:7]}: a fresh clone's `CI=true bash .ci/run` (it installs "
        f"Chromium and PostgreSQL when missing, sets up `.venv` with torch 2.13.0 CPU from local disk and Ray, "
        f"then runs `make test` and `make test-e2e`) took {record['seconds'] / 60:.1f} min and exited "
        f"{record['exit_status']}; {'; '.join(stages)}. Command: `{record['command']}` "
        "(`bench/results/ci_time.json`).\n"
    )


#: Section name -> renderer. Add a figure: a results file, a renderer, an entry here, markers in README.md.
SECTIONS: dict[str, Callable[[Path], str]] = {
    "quickstart-scores": quickstart_scores,
    "dry-run-estimate": dry_run_estimate,
    "tune-gain": tune_gain,
    "predict-corpus-paper": predict_corpus_paper,
    "ci-time": ci_time,
}


def render(text: str, results: Path = RESULTS) -> str:
    """``text`` with every marked section regenerated; an unknown section name is an error."""

    def fill(match: re.Match[str]) -> str:
        name = match["name"]
        if name not in SECTIONS:
            raise SystemExit(f"README.md: section {name!r} has no renderer in {COMMAND}; known: {', '.join(SECTIONS)}")
        return match.group(1) + SECTIONS[name](results) + match.group(4)

    return SECTION.sub(fill, text)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="exit 1 when README.md is not what the results give")
    parser.add_argument("--readme", type=Path, default=README)
    args = parser.parse_args(argv)
    text = args.readme.read_text(encoding="utf-8")
    generated = render(text)
    if args.check:
        if generated != text:
            print(f"{args.readme}: generated sections differ from bench/results; run {COMMAND}", file=sys.stderr)
            return 1
        return 0
    args.readme.write_text(generated, encoding="utf-8")
    return 0


if __name__ == "__main__":
    sys.exit(main())
