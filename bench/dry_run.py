"""The dry run's time estimate against the real training of the same config, side by side in one process.

Per system, first ``dryrun.dry_run`` (what ``multinerd run --dry-run`` prints), then at once
the real training of that system through ``training.train_system`` into a temporary
directory, so that both see nearly the same load on a shared machine. The real
time per system is ``TrainResult.seconds`` (encoding, model loading, training, evaluations,
checkpoints, publishing: what ``report.json`` records as the run's seconds); the training
loop alone (first to last ``train_log.jsonl`` line, with ``train.eval_on_start``) is
reported beside it. The load average is recorded, because on a shared machine it moves
both figures.

    .venv/bin/python bench/dry_run.py --config configs/quickstart.yaml --out bench/results/dry_run.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import asdict
from pathlib import Path

from multinerd.apps.dryrun import dry_run, format_dry_run
from multinerd.config import load_config
from multinerd.data.corpus import load_configured
from multinerd.model.training import train_system
from multinerd.systems import system_schemes


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE")
    parser.add_argument(
        "--systems", default="A,B", help="systems to estimate and train (default: %(default)s)"
    )
    parser.add_argument("--out", default="bench/results/dry_run.json")
    args = parser.parse_args()
    config = load_config(args.config, args.set)
    load_before = os.getloadavg()
    corpus = load_configured(config.data)
    estimates, real, dry_seconds = [], {}, 0.0
    with tempfile.TemporaryDirectory(prefix="bench-dry-run-") as tmp:
        for system in (s for s in args.systems.split(",") if s in system_schemes(corpus, config)):
            started = time.perf_counter()
            estimate = dry_run(config, [system])
            dry_seconds += time.perf_counter() - started
            print(format_dry_run(estimate), flush=True)
            estimates += estimate.systems
            result = train_system(config, system, corpus, Path(tmp))
            real[system] = {"seconds": result.seconds, "load_average": os.getloadavg()}
    estimated = {s.system: s.seconds_total for s in estimates}
    total_estimate, total_real = sum(estimated.values()), sum(r["seconds"] for r in real.values())
    record = {
        "command": f".venv/bin/python bench/dry_run.py --config {args.config} --systems {args.systems} "
        f"--out {args.out}",
        "hardware": estimate.hardware,
        "load_average_before": load_before,
        "load_average_after": os.getloadavg(),
        "dry_run_seconds": dry_seconds,
        "estimate": [asdict(s) for s in estimates],
        "real_seconds": real,
        "estimated_total_seconds": total_estimate,
        "real_total_seconds": total_real,
        "estimate_over_real": total_estimate / total_real,
    }
    Path(args.out).write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(
        f"estimate {total_estimate:.0f} s, real {total_real:.0f} s: ratio {total_estimate / total_real:.2f}; "
        f"dry run took {dry_seconds:.0f} s; written to {args.out}"
    )


if __name__ == "__main__":
    main()
