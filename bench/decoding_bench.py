"""Argmax against Viterbi decoding, entity-score calibration, and Viterbi's cost in ``predict``.

Per corpus and training seed, one ``multinerd run`` (``pipeline.run_once``, the quickstart
settings) trains the systems, selects checkpoints with the default (Viterbi) validation
scorer, fits the entity-score temperature on validation, and scores the test split under
both decodings with the paired bootstrap (Viterbi minus argmax, same sentences). The
corpora: the bundled sample (systems A and B, ``configs/quickstart.yaml``) and a short-text
corpus generated here (system A): tweet-like lower-case texts of 5 to 16 words with
mentions, hashtags and links, 15 lower-case hyphenated types (``geo-loc``,
``person``, ``creative-work`` ...), written as BIOES CoNLL files, a shape the sample lacks.
Then the decoding cost: ``Tagger.predict_text`` on 2,000 raw texts with ``decoding=argmax``
and ``viterbi`` alternately (median of 3 runs each), and the decode step alone on the same
probabilities.

    .venv/bin/python bench/decoding_bench.py --out bench/results/decoding.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import random
import statistics
import sys
import time
from pathlib import Path
from typing import Any

BENCH = Path(__file__).resolve().parent
REPO = BENCH.parent
COMMAND = ".venv/bin/python bench/decoding_bench.py --out bench/results/decoding.json"
CONFIG = REPO / "configs" / "quickstart.yaml"
#: Lower-case hyphenated names the short-text corpus gives MultiNERD's types.
SHORT_TYPES = {
    "PER": "person", "ORG": "company", "LOC": "geo-loc", "ANIM": "animal-species", "BIO": "bio-entity",
    "CEL": "celestial-body", "DIS": "medical-condition", "EVE": "event", "FOOD": "food-item",
    "INST": "instrument-tool", "MEDIA": "creative-work", "MYTH": "myth-figure", "PLANT": "plant-species",
    "TIME": "time-period", "VEHI": "vehicle-model",
}  # fmt: skip
_NOISE_BEFORE = ("rt @user :", "@user", "omg", "lol", "so", "wow")
_NOISE_AFTER = ("#news", "#fail", "http://t.co/x1", ":)", "!!!", "#love", "smh")


def _machine() -> dict[str, Any]:
    from multinerd.backends import cpu_name

    return {"cpu": cpu_name(), "cores": len(os.sched_getaffinity(0)), "load_average": list(os.getloadavg())}


def _bioes(tags: list[str]) -> list[str]:
    """IOB2 tags as BIOES: the last tag of an entity E-, a one-word entity S-."""
    out = []
    for i, tag in enumerate(tags):
        continues = i + 1 < len(tags) and tags[i + 1].startswith("I-")
        if tag.startswith("B-"):
            out.append(tag if continues else "S-" + tag[2:])
        elif tag.startswith("I-"):
            out.append(tag if continues else "E-" + tag[2:])
        else:
            out.append(tag)
    return out


def short_text(words: list[str], tags: list[str], rng: random.Random) -> tuple[list[str], list[str]]:
    """A tweet-like piece of a generated sentence: 5-16 words, never cutting an entity, lower-cased, noisy."""
    start = rng.randrange(0, max(1, len(words) - 5))
    while start > 0 and tags[start].startswith("I-"):
        start -= 1
    end = min(len(words), start + rng.randint(5, 16))
    while end < len(words) and tags[end].startswith("I-"):
        end += 1
    piece = [w.lower() for w in words[start:end]]
    piece_tags = [t if t == "O" else f"{t[:2]}{SHORT_TYPES[t[2:]]}" for t in tags[start:end]]
    before = rng.choice(_NOISE_BEFORE).split() if rng.random() < 0.4 else []
    after = rng.choice(_NOISE_AFTER).split() if rng.random() < 0.5 else []
    return before + piece + after, ["O"] * len(before) + piece_tags + ["O"] * len(after)


def write_short_corpus(directory: Path, sizes: dict[str, int], seed: int = 11) -> str:
    """The short-text corpus as BIOES CoNLL files (``train.conll``, ``dev.conll``, ``test.conll``)."""
    from multinerd.samplegen import generate_sentences

    directory.mkdir(parents=True, exist_ok=True)
    names = {"train": "train", "validation": "dev", "test": "test"}
    for split, n in sizes.items():
        rng = random.Random(f"{seed}-{split}")
        lines = []
        for words, tags in generate_sentences("en", split, n, seed=seed):
            piece, piece_tags = short_text(list(words), list(tags), rng)
            lines += [f"{w}\t{t}" for w, t in zip(piece, _bioes(piece_tags))] + [""]
        (directory / f"{names[split]}.conll").write_text("\n".join(lines) + "\n", encoding="utf-8")
    return f"conll:{directory}"


def run_seed(corpus_name: str, source: str, seed: int, workdir: Path, overrides: list[str]) -> dict[str, Any]:
    """One ``run`` (train, select with Viterbi, calibrate, score both decodings); its figures per system."""
    from multinerd.config import load_config
    from multinerd.outputs import is_finished_model
    from multinerd.pipeline import run_once

    config = load_config(CONFIG, [f"data.source={source}", f"train.seed={seed}", *overrides])
    output = workdir / corpus_name / f"seed-{seed}"
    resume = is_finished_model(output / "A")
    started = time.perf_counter()
    results = run_once(config, output, resume=resume)
    figures: dict[str, Any] = {"seconds": time.perf_counter() - started, "output": str(output)}
    for system in ("A", "B"):
        if system not in results:
            continue
        compared, confidence = results[system]["decodings"], results[system]["confidence"]
        figures[system] = {
            "argmax_f1": compared["f1_a"],
            "viterbi_f1": compared["f1_b"],
            "difference": compared["difference"],
            "ci95": compared["ci95"],
            "p_value": compared["p_value"],
            "n_sentences": compared["n_sentences"],
            "temperature": confidence["temperature"],
            "ece_before": confidence["ece_before"],
            "ece_after": confidence["ece_after"],
            "at_validation_thresholds": confidence["at_validation_thresholds"],
        }
    return figures


def decoding_cost(model_dir: Path, n_texts: int, repeats: int = 3) -> dict[str, Any]:
    """``predict_text`` on ``n_texts`` texts under each decoding, alternating; and the decode step alone."""
    from multinerd import decoding
    from multinerd.samplegen import generate_sentences
    from multinerd.tagger import Tagger, split_words

    texts = [" ".join(words) for words, _ in generate_sentences("en", "test", n_texts, seed=5)][:n_texts]
    tagger = Tagger.from_pretrained(model_dir, backend="torch", precision="fp32", progress=False)
    load_before = list(os.getloadavg())
    tagger.predict_text(texts[:64])  # warm-up
    seconds: dict[str, list[float]] = {decoding.ARGMAX: [], decoding.VITERBI: []}
    for _ in range(repeats):
        for name, times in seconds.items():
            tagger.decoding = name
            started = time.perf_counter()
            tagger.predict_text(texts)
            times.append(time.perf_counter() - started)
    probs = tagger.predict_proba([[w for w, _, _ in split_words(text)] for text in texts])
    step: dict[str, list[float]] = {decoding.ARGMAX: [], decoding.VITERBI: []}
    for _ in range(repeats):
        for name, times in step.items():
            started = time.perf_counter()
            decoding.decode(probs, tagger.labels, name)
            times.append(time.perf_counter() - started)
    median = {name: statistics.median(values) for name, values in seconds.items()}
    step_median = {name: statistics.median(values) for name, values in step.items()}
    return {
        "n_texts": len(texts),
        "n_words": sum(len(p) for p in probs),
        "repeats": repeats,
        "predict_seconds": seconds,
        "predict_median": median,
        "predict_overhead": median[decoding.VITERBI] / median[decoding.ARGMAX] - 1,
        "decode_step_seconds": step,
        "decode_step_median": step_median,
        "decode_step_share": (step_median[decoding.VITERBI] - step_median[decoding.ARGMAX])
        / median[decoding.ARGMAX],
        "load_average_before": load_before,
        "load_average_after": list(os.getloadavg()),
    }


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--seeds", default="1,2,3")
    parser.add_argument("--workdir", type=Path, default=REPO / "runs" / "decoding-bench")
    parser.add_argument("--out", type=Path, default=BENCH / "results" / "decoding.json")
    parser.add_argument("--texts", type=int, default=2000, help="texts for the decoding cost")
    parser.add_argument("--short-sentences", type=int, default=1000, help="train sentences of the short corpus")
    parser.add_argument("--corpora", default="sample,short")
    args = parser.parse_args(argv)
    seeds = [int(s) for s in args.seeds.split(",")]
    n = args.short_sentences
    corpora = {
        "sample": ("sample", []),
        "short": (
            write_short_corpus(args.workdir / "short-data", {"train": n, "validation": n * 3 // 10, "test": n * 4 // 10}),
            [f"data.max_sentences={n}"],
        ),
    }
    result: dict[str, Any] = {
        "command": COMMAND,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": _machine(),
        "config": str(CONFIG.relative_to(REPO)),
        "seeds": seeds,
        "corpora": {},
    }
    for name in args.corpora.split(","):
        source, overrides = corpora[name]
        result["corpora"][name] = {"source": source if name == "sample" else "generated (write_short_corpus)",
                                   "runs": {}}  # fmt: skip
        for seed in seeds:
            print(f"{name}, seed {seed}", file=sys.stderr, flush=True)
            result["corpora"][name]["runs"][str(seed)] = run_seed(name, source, seed, args.workdir, overrides)
            args.out.parent.mkdir(parents=True, exist_ok=True)
            args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    first_a = args.workdir / "sample" / f"seed-{seeds[0]}" / "A"
    if args.texts and first_a.is_dir():
        print(f"decoding cost on {args.texts} texts", file=sys.stderr, flush=True)
        result["cost"] = decoding_cost(first_a, args.texts) | {"model": "sample A, seed " + str(seeds[0])}
    result["machine_after"] = _machine()
    args.out.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")
    print(f"wrote {args.out}")


if __name__ == "__main__":
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)
    main()
