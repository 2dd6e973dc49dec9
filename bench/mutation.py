"""Mutation testing of the scorer: mutmut over the tag decoder, scheme conversion and scoring.

    make mutation                                   # mutmut run, then this summary (10-25 min on 2 cores)
    .venv/bin/python bench/mutation.py --run        # the same, without make
    .venv/bin/python bench/mutation.py              # summarise the last run only

mutmut's settings live in ``pyproject.toml`` (``[tool.mutmut]``): the modules whose arithmetic
is the product (``labels.py``: ``entity_spans`` and the tag helpers; ``schemes.py``; ``scoring.py``
with the bootstrap) against their own test files only. This script writes
``bench/results/mutation.json``: mutants killed, survived and not reached by a test, the
score, and every survivor with the reason it is harmless from :data:`HARMLESS` (a survivor
without a reason is listed as ``unexplained``: kill it with a test, or say why it cannot matter).
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import sys
from pathlib import Path

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results" / "mutation.json"
COMMAND = "make mutation"
TARGET = 0.90
#: mutmut's words for each outcome, as ``mutmut results --all true`` prints them.
KILLED = "killed"
SURVIVED = "survived"
NO_TESTS = "no tests"

#: Surviving mutants that cannot change a figure, by mutmut's name, with the reason.
_FLOAT64 = "numpy's default float type is float64: the same array"
HARMLESS: dict[str, str] = {
    "multinerd.evaluate.scoring.x__resampled_totals__mutmut_6": "astype(None) for astype(np.float64): " + _FLOAT64,
    "multinerd.evaluate.scoring.x__resampled_totals__mutmut_9": "np.empty(dtype=None) for float64: " + _FLOAT64,
    "multinerd.evaluate.scoring.x__resampled_totals__mutmut_39": "astype(None) for astype(np.float64): " + _FLOAT64,
    "multinerd.evaluate.scoring.x__resampled_totals__mutmut_30": "rng.integers(n) is rng.integers(0, n): the same draws",
    "multinerd.evaluate.scoring.x__resampled_totals__mutmut_18": (
        "range step _CHUNK dropped: rows are redrawn from the same seeded generator, a valid bootstrap with "
        "other draws, only slower; figures are pinned by properties (interval holds the estimate, seeded "
        "runs equal), not by exact draws"
    ),
}


def run_mutmut(children: int) -> None:
    """``mutmut run`` in the repository (its settings from pyproject.toml); progress on stderr."""
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "TOKENIZERS_PARALLELISM": "false"}
    mutmut = Path(sys.executable).with_name("mutmut")
    subprocess.run([str(mutmut), "run", "--max-children", str(children)], cwd=REPO, env=env, check=True,
                   stdout=sys.stderr)  # fmt: skip


def outcomes() -> dict[str, str]:
    """Mutant name -> outcome of the last run, from ``mutmut results --all true``."""
    mutmut = Path(sys.executable).with_name("mutmut")
    done = subprocess.run([str(mutmut), "results", "--all", "true"], cwd=REPO, capture_output=True, text=True,
                          check=True)  # fmt: skip
    found = {}
    for line in done.stdout.splitlines():
        match = re.match(r"\s*(\S+): (.+?)\s*$", line)
        if match:
            found[match.group(1)] = match.group(2)
    if not found:
        raise SystemExit("mutmut results lists no mutants: run `make mutation` first")
    return found


def summary(found: dict[str, str]) -> dict[str, object]:
    counts: dict[str, int] = {}
    for outcome in found.values():
        counts[outcome] = counts.get(outcome, 0) + 1
    killed = counts.get(KILLED, 0)
    survivors = sorted(name for name, outcome in found.items() if outcome != KILLED)
    return {
        "command": COMMAND,
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "modules": ["src/multinerd/labels.py", "src/multinerd/data/schemes.py", "src/multinerd/evaluate/scoring.py"],
        "tests": ["tests/test_labels.py", "tests/test_schemes.py", "tests/test_scoring.py"],
        "mutants": len(found),
        "outcomes": counts,
        "score": killed / len(found),
        "target": TARGET,
        "target_met": killed / len(found) >= TARGET,
        "survivors": {
            name: {"outcome": found[name], "why_harmless": HARMLESS.get(name, "unexplained")} for name in survivors
        },
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--run", action="store_true", help="run mutmut first (else summarise its last run)")
    parser.add_argument("--children", type=int, default=2, help="parallel mutmut workers (default: 2)")
    parser.add_argument("--out", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    if args.run:
        run_mutmut(args.children)
    record = summary(outcomes())
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    unexplained = [name for name, row in record["survivors"].items() if row["why_harmless"] == "unexplained"]
    print(f"{record['score']:.1%} of {record['mutants']} mutants killed (target {TARGET:.0%}); "
          f"{len(record['survivors'])} left, {len(unexplained)} unexplained; {args.out}")  # fmt: skip
    return 0 if record["target_met"] else 1


if __name__ == "__main__":
    sys.exit(main())
