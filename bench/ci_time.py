"""How long CI takes on a fresh clone of this machine: ``CI=true bash .ci/run``, timed.

    .venv/bin/python bench/ci_time.py            # ~15-25 min on 2 quiet cores

Clones the committed HEAD into a temporary directory (nothing uncommitted travels), runs
``.ci/run`` there as CI does (it installs Chromium and PostgreSQL when missing, sets up
``.venv``, runs ``make test`` and ``make test-e2e``) and writes ``bench/results/ci_time.json``:
the commit, the CPU, the load before and after, the wall time of the whole run, and each
pytest stage's counts and seconds as pytest printed them. README.md's CI sentence is generated
from it (``bench/readme_figures.py``). The log of the run is kept beside the clone.
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import re
import subprocess
import tempfile
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
RESULTS = BENCH / "results" / "ci_time.json"
COMMAND = ".venv/bin/python bench/ci_time.py"
#: pytest's closing line: ``=== 1 failed, 1061 passed, 89 warnings in 795.47s (0:13:15) ===``.
SUMMARY = re.compile(r"^=*\s*(?P<counts>(?:\d+ \w+(?:, )?)+) in (?P<seconds>[\d.]+)s\b", re.MULTILINE)


def pytest_stages(log: str) -> list[dict[str, Any]]:
    """Each pytest run's counts (``passed``, ``failed``, ``deselected``...) and seconds, in order."""
    stages = []
    for match in SUMMARY.finditer(log):
        counts = {kind: int(n) for n, kind in re.findall(r"(\d+) (\w+)", match["counts"])}
        stages.append({"counts": counts, "seconds": float(match["seconds"])})
    return stages


def run_ci(workdir: Path) -> dict[str, Any]:
    """Clone HEAD into ``workdir/clone``, run ``.ci/run`` there, and time it."""
    commit = subprocess.run(["git", "rev-parse", "HEAD"], cwd=REPO, capture_output=True, text=True, check=True)
    clone = workdir / "clone"
    subprocess.run(["git", "clone", "--quiet", str(REPO), str(clone)], check=True)
    log_path = workdir / "ci.log"
    started = time.perf_counter()
    with log_path.open("w", encoding="utf-8") as log:
        done = subprocess.run(["bash", ".ci/run"], cwd=clone, env=os.environ | {"CI": "true"},
                              stdout=log, stderr=subprocess.STDOUT, check=False)  # fmt: skip
    seconds = time.perf_counter() - started
    return {
        "commit": commit.stdout.strip(),
        "exit_status": done.returncode,
        "seconds": seconds,
        "stages": pytest_stages(log_path.read_text(encoding="utf-8", errors="replace")),
        "log": str(log_path),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", type=Path, default=RESULTS)
    parser.add_argument("--workdir", type=Path, default=None, help="where the clone goes (default: a new temp dir)")
    args = parser.parse_args(argv)
    from multinerd.hardware import cpu_name

    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="multinerd-ci-"))
    load_before = list(os.getloadavg())
    result = {
        "command": COMMAND,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "cpu": cpu_name(),
        "cores": len(os.sched_getaffinity(0)),
        "load_average_before": load_before,
        **run_ci(workdir),
        "load_average_after": list(os.getloadavg()),
    }
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(json.dumps({k: result[k] for k in ("exit_status", "seconds", "stages")}, indent=1))


if __name__ == "__main__":
    main()
