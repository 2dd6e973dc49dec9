"""int8 export of several training seeds, judged on validation (the export's own gate) and on test.

For each model directory: ``multinerd export --int8`` (the sensitivity search picks which
products stay float, judged on the sample's validation split), then the same parity check
of both files on the sample's *test* split, which the search never saw. Targets (issue 21):
every seed accepted, entity agreement >= 0.99 and gold F1 loss <= 0.3 points on both splits.

    for n in 1 2; do .venv/bin/multinerd train --config configs/quickstart.yaml --system A \
        --set train.seed=$n --output runs/seed$n; done
    .venv/bin/python bench/int8_seeds.py runs/quickstart/A runs/seed1/A runs/seed2/A
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import sys
import time
from collections.abc import Sequence
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
RESULTS = BENCH / "results" / "int8_seeds.json"
#: The targets the markdown judges against (the export gate itself stays at 0.98 / 0.5 points).
TARGET_AGREEMENT = 0.99
TARGET_F1_LOSS_POINTS = 0.3


def judge(model_dir: Path, workdir: Path) -> dict[str, Any]:
    """Export with int8 (validation gate), then the parity of both files on test."""
    from multinerd.model.export import export_onnx, parity_check

    output = workdir / model_dir.parent.name
    started = time.perf_counter()
    exported = export_onnx(model_dir, output, int8=True)
    seconds = time.perf_counter() - started
    row: dict[str, Any] = {"model": str(model_dir), "export_seconds": seconds, "load": os.getloadavg()[0],
                           "int8_accepted": exported.variants["int8"].passed,
                           "quantisation": exported.quantisation.to_dict() if exported.quantisation else None}
    variants = [name for name in ("fp32", "int8") if (output / exported.variants[name].file).is_file()]
    test = parity_check(model_dir, output, variants, split="test")
    for split, result in (("validation", exported), ("test", test)):
        row[split] = {
            "n_sentences": result.n_sentences,
            "torch_f1": result.torch_f1,
            **{name: {"entity_agreement": v.entity_agreement, "f1_drop_points": 100 * v.f1_drop, "passed": v.passed}
               for name, v in result.variants.items()},
        }
    return row


def markdown(result: dict[str, Any]) -> list[str]:
    """BENCHMARKS.md's int8-over-seeds section."""
    from common import table as _table
    from common import verdict as _met

    lines = ["## int8 export over training seeds", "",
             (f"Command: `{result['command']}` ({result['date']}, CPU {result['cpu']}, load at start "
              f"{result['load_before']}). Each model: `export --int8` (gate on the sample's validation split), "
              "then the same parity check on the sample's test split. Retrained seeds come from `multinerd train "
              "--config configs/quickstart.yaml --system A --set train.seed=N`. Targets: accepted every time, entity "
              f"agreement >= {TARGET_AGREEMENT} and gold F1 loss <= {TARGET_F1_LOSS_POINTS} points on both."), ""]
    rows, met = [], True
    for row in result["models"]:
        q = row["quantisation"] or {}
        for split in ("validation", "test"):
            int8 = row[split].get("int8")
            if int8 is None:
                rows.append([row["model"], split, "-", "-", "refused (removed)", "-"])
                met = False
                continue
            ok = int8["entity_agreement"] >= TARGET_AGREEMENT and int8["f1_drop_points"] <= TARGET_F1_LOSS_POINTS
            met = met and ok and row["int8_accepted"]
            rows.append([row["model"], split, f"{int8['entity_agreement']:.4f}", f"{-int8['f1_drop_points']:+.2f}",
                         "accepted" if int8["passed"] else "refused",
                         f"{len(q.get('int8_nodes', []))} int8 / {len(q.get('float_nodes', {}))} float"])
    lines += _table(["model", "split", "int8 entity agreement", "gold F1 points", "gate", "products"], rows)
    lines += [(f"- Every seed accepted with agreement >= {TARGET_AGREEMENT} and loss <= {TARGET_F1_LOSS_POINTS} "
               f"points on validation and test: {_met(met)}."), ""]
    return lines


def main(argv: Sequence[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("models", nargs="+", type=Path, help="trained model directories (one per seed)")
    parser.add_argument("--workdir", type=Path, default=Path("runs/int8-seeds"))
    parser.add_argument("--output", type=Path, default=RESULTS)
    args = parser.parse_args(argv)
    from multinerd.hardware import cpu_name

    result: dict[str, Any] = {
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "command": ".venv/bin/python bench/int8_seeds.py " + " ".join(map(str, args.models)),
        "cpu": cpu_name(),
        "load_before": [round(x, 2) for x in os.getloadavg()],
        "models": [],
    }
    for model in args.models:
        print(f"int8 export of {model}", file=sys.stderr, flush=True)
        result["models"].append(judge(model, args.workdir))
    args.output.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print("\n".join(markdown(result)))


if __name__ == "__main__":
    main()
