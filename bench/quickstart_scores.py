"""The quickstart's scores on this machine, trained in fp32 and in bf16, and how far they move.

    .venv/bin/python bench/quickstart_scores.py        # two quickstart runs; ~3-6 min on 2 quiet cores

Runs ``multinerd run --config configs/quickstart.yaml`` once per training precision
(``--set train.precision=fp32``, then ``bf16``) into ``runs/quickstart-scores/PRECISION`` and
writes ``bench/results/quickstart_scores.json``: the strict micro F1 of A, B and A in B's
space per precision, the CPU by name, the flags that decide ``precision=auto`` and what it
picks here, and the largest move between the two precisions. A CPU without native bf16
(no ``avx512_bf16`` or ``amx_bf16``) refuses ``train.precision=bf16`` rather than emulate it;
the record then says so and holds the fp32 figures alone. The README's quickstart figures
are generated from this file (``bench/readme_figures.py``); rerun this after any change that
moves scores, then ``bench/readme_figures.py``.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results" / "quickstart_scores.json"
COMMAND = ".venv/bin/python bench/quickstart_scores.py"
PRECISIONS = ("fp32", "bf16")
FIGURES = ("A", "B", "A_in_B_space")
for _name in ("HF_HUB_OFFLINE", "TRANSFORMERS_OFFLINE", "HF_DATASETS_OFFLINE", "TOKENIZERS_PARALLELISM"):
    os.environ.setdefault(_name, "false" if _name == "TOKENIZERS_PARALLELISM" else "1")


def _f1(report: dict[str, Any], key: str) -> float:
    metrics = report[key].get("metrics", report[key])
    return float(metrics["strict"]["micro"]["f1"])


def train_once(precision: str, output: Path, extra: list[str]) -> dict[str, Any]:
    """One quickstart run in ``precision``; its figures, or why it was refused."""
    command = [sys.executable, "-m", "multinerd.apps.cli", "run", "--config", "configs/quickstart.yaml",
               "--output", str(output), "--overwrite", "--set", f"train.precision={precision}", *extra]  # fmt: skip
    started = time.time()
    done = subprocess.run(command, cwd=REPO, capture_output=True, text=True, check=False)
    seconds = time.time() - started
    if done.returncode != 0:
        lines = [line for line in done.stderr.splitlines() if "error" in line.lower()]
        return {"status": "refused", "reason": (lines or done.stderr.splitlines() or ["?"])[-1],
                "exit_status": done.returncode, "seconds": seconds}  # fmt: skip
    report = json.loads((output / "report.json").read_text(encoding="utf-8"))
    return {
        "status": "trained",
        "strict_micro_f1": {key: _f1(report, key) for key in FIGURES if key in report},
        "training_precision": report["run"]["training_precision"],
        "seconds": seconds,
    }


def largest_move(runs: dict[str, dict[str, Any]]) -> float | None:
    """The largest absolute difference of a figure between the two precisions; None unless both trained."""
    trained = [run["strict_micro_f1"] for run in runs.values() if run["status"] == "trained"]
    if len(trained) < 2:
        return None
    return max(abs(trained[0][key] - trained[1][key]) for key in trained[0] if key in trained[1])


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--runs", type=Path, default=REPO / "runs" / "quickstart-scores")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE",
                        help="extra settings for both runs (a test uses it to make them tiny)")  # fmt: skip
    args = parser.parse_args(argv)
    from multinerd.hardware import describe_hardware
    from multinerd.model.backends import resolve_precision

    extra = [item for setting in args.set for item in ("--set", setting)]
    load_before = list(os.getloadavg())
    runs = {}
    for precision in PRECISIONS:
        print(f"quickstart in {precision} ...", file=sys.stderr)
        runs[precision] = train_once(precision, args.runs / precision, extra)
    record = {
        "command": COMMAND + "".join(f" --set {setting}" for setting in args.set),
        "date": datetime.datetime.now(datetime.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        "machine": describe_hardware(),
        "auto_picks": resolve_precision("auto", "cpu"),
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
        "runs": runs,
        "largest_move": largest_move(runs),
    }
    args.out.parent.mkdir(parents=True, exist_ok=True)
    args.out.write_text(json.dumps(record, indent=2) + "\n", encoding="utf-8")
    print(json.dumps({p: r.get("strict_micro_f1", r.get("reason")) for p, r in runs.items()}, indent=2))


if __name__ == "__main__":
    main()
