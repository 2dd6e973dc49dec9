"""A search of 8 trials within the time of 8 default runs against the quickstart defaults, on two corpora.

Per corpus, in one process: (1) train system B with the quickstart settings (the default
run; its seconds T set the budget); (2) ``tune.tune`` with ``tune.trials=8`` and
``tune.timeout=8*T`` (the search reads train and validation only); (3) train the best
config the same way; (4) tag the test split with both models and compare them with the
project's paired bootstrap (``scoring.compare``: tuned minus default, strict micro F1,
95% interval). The corpora: the bundled sample (quickstart slice) and a short-text
corpus built here from ``samplegen`` sentences cut to their first 20 words and
lower-cased, as social-media posts often are.

    .venv/bin/python bench/tune_search.py --out bench/results/tune_search.json
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile
import time
from dataclasses import replace
from pathlib import Path
from typing import Any

from multinerd.apps.pipeline import predict
from multinerd.apps.tune import tune
from multinerd.config import Config, load_config
from multinerd.data.corpus import load_configured
from multinerd.data.samplegen import HUB_PREFIX, generate_sentences
from multinerd.evaluate import scoring
from multinerd.labels import MULTINERD_TAGS
from multinerd.model.training import system_scheme, train_system

SHORT_WORDS = 20


def write_short_texts(directory: Path, sizes: dict[str, int], seed: int = 7) -> str:
    """English sentences cut to ``SHORT_WORDS`` words and lower-cased, in the hub's jsonl layout."""
    for split, n in sizes.items():
        prefix = HUB_PREFIX[split]
        path = directory / prefix / f"{prefix}_en.jsonl"
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("w", encoding="utf-8") as out:
            for words, tags in generate_sentences("en", split, n, seed=seed):
                record = {
                    "tokens": [w.lower() for w in words[:SHORT_WORDS]],
                    "ner_tags": [MULTINERD_TAGS.index(t) for t in tags[:SHORT_WORDS]],
                    "lang": "en",
                }
                out.write(json.dumps(record) + "\n")
    return f"jsonl:{directory}"


def compare_on_test(
    config: Config, default_dir: Path, tuned_dir: Path, corpus: Any, scheme: Any
) -> dict[str, Any]:
    test = corpus.splits["test"]
    gold = scoring.to_scheme([s.tags for s in test], scheme)
    default = scoring.to_scheme(predict(default_dir, test, config.train.eval_batch_size), scheme)
    tuned = scoring.to_scheme(predict(tuned_dir, test, config.train.eval_batch_size), scheme)
    result = scoring.compare(gold, default, tuned, scheme=scheme, bootstrap=1000, seed=0)
    return {
        "test_f1_default": result["f1_a"],
        "test_f1_tuned": result["f1_b"],
        "gain": result["difference"],
        "gain_ci95": result["ci95"],
        "p_value": result["p_value"],
        "n_test_sentences": len(test),
    }


def bench_corpus(name: str, config: Config, work: Path, trials: int) -> dict[str, Any]:
    corpus = load_configured(config.data)
    scheme = system_scheme(corpus, config, "B")
    started = time.perf_counter()
    default = train_system(config, "B", corpus, work / "default")
    budget = time.perf_counter() - started
    search_config = replace(config, tune=replace(config.tune, trials=trials, timeout=trials * budget))
    started = time.perf_counter()
    searched = tune(search_config, "B", work / "tune")
    search_seconds = time.perf_counter() - started
    records = [json.loads(line) for line in (work / "tune" / "trials.jsonl").read_text().splitlines()]
    best = load_config(searched.best_config)
    tuned = train_system(best, "B", corpus, work / "tuned")
    print(f"{name}: default {budget:.0f} s, search {search_seconds:.0f} s", flush=True)
    return {
        "corpus": name,
        "source": config.data.source,
        "sentences": {split: len(s) for split, s in corpus.splits.items()},
        "default_seconds": budget,
        "search_budget_seconds": trials * budget,
        "search_seconds": search_seconds,
        "trials": {
            state: sum(r["state"] == state for r in records) for state in ("complete", "pruned", "running")
        },
        "best_params": searched.best_params,
        "validation_f1_default": default.best_validation_f1,
        "validation_f1_best_trial": searched.best_value,
        "validation_f1_tuned_retrained": tuned.best_validation_f1,
        **compare_on_test(config, default.model_dir, tuned.model_dir, corpus, scheme),
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--config", default="configs/quickstart.yaml")
    parser.add_argument("--trials", type=int, default=8)
    parser.add_argument(
        "--short-sentences", type=int, default=600, help="train sentences of the short-text corpus"
    )
    parser.add_argument("--corpora", default="sample,short")
    parser.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="for both corpora")
    parser.add_argument("--out", default="bench/results/tune_search.json")
    args = parser.parse_args()
    results = []
    load_before = os.getloadavg()
    command = (
        f".venv/bin/python bench/tune_search.py --trials {args.trials} --corpora {args.corpora} "
        f"--short-sentences {args.short_sentences} --out {args.out}"
        + "".join(f" --set {s}" for s in args.set)
    )
    with tempfile.TemporaryDirectory(prefix="bench-tune-") as tmp:
        root = Path(tmp)
        for name in args.corpora.split(","):
            overrides = ["eval.bootstrap=0", *args.set]
            if name == "short":
                n = args.short_sentences
                source = write_short_texts(
                    root / "short-data", {"train": n, "validation": n // 2, "test": n // 2}
                )
                overrides += [f"data.source={source}"]
            config = load_config(args.config, overrides)
            results.append(bench_corpus(name, config, root / name, args.trials))
            # Written after each corpus, so a stopped benchmark keeps what it measured.
            record = {
                "command": command,
                "load_average_before": load_before,
                "load_average_after": os.getloadavg(),
                "results": results,
            }
            Path(args.out).write_text(json.dumps(record, indent=2), encoding="utf-8")
    print(json.dumps(record, indent=2))


if __name__ == "__main__":
    main()
