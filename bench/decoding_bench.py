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
and ``viterbi`` alternately (median of 2 runs each), and the decode step alone on the same
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
COST_COMMAND = ".venv/bin/python bench/decoding_bench.py --cost-only bench/results/decoding_cost.json"
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
    from multinerd.hardware import cpu_name

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
    from multinerd.data.samplegen import generate_sentences

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
    from multinerd.apps.pipeline import run_once
    from multinerd.config import load_config
    from multinerd.model.outputs import is_finished_model

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


def decoding_cost(model_dir: Path, n_texts: int, repeats: int = 2) -> dict[str, Any]:
    """``predict_text`` on ``n_texts`` texts under each decoding, alternating; and the decode step alone."""
    from multinerd.data.samplegen import generate_sentences
    from multinerd.evaluate import decoding
    from multinerd.model.tagger import Tagger, split_words

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
    parser.add_argument("--short-sentences", type=int, default=600, help="train sentences of the short corpus")
    parser.add_argument("--corpora", default="sample,short")
    parser.add_argument(
        "--cost-only", type=Path, metavar="JSON", help="only the decoding cost, on an existing sample A, to JSON"
    )
    args = parser.parse_args(argv)
    if args.cost_only:
        model = args.workdir / "sample" / f"seed-{args.seeds.split(',')[0]}" / "A"
        cost = decoding_cost(model, args.texts) | {"model": f"sample A, seed {args.seeds.split(',')[0]}"}
        _write(args.cost_only, {"command": COST_COMMAND, "machine": _machine(), "cost": cost})
        return
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
    names = args.corpora.split(",")
    for name in names:
        source = corpora[name][0] if name == "sample" else "generated (write_short_corpus)"
        result["corpora"][name] = {"source": source, "runs": {}}
    # Seeds outermost, so that a run cut short still has every corpus; the cost after the first round.
    for round_number, seed in enumerate(seeds):
        for name in names:
            print(f"{name}, seed {seed}", file=sys.stderr, flush=True)
            source, overrides = corpora[name]
            result["corpora"][name]["runs"][str(seed)] = run_seed(name, source, seed, args.workdir, overrides)
            _write(args.out, result)
        first_a = args.workdir / "sample" / f"seed-{seeds[0]}" / "A"
        if round_number == 0 and args.texts and first_a.is_dir():
            print(f"decoding cost on {args.texts} texts", file=sys.stderr, flush=True)
            result["cost"] = decoding_cost(first_a, args.texts) | {"model": f"sample A, seed {seeds[0]}"}
            _write(args.out, result)
    print(f"wrote {args.out}")


def _write(path: Path, result: dict[str, Any]) -> None:
    """The results so far (every finished seed), with the machine's load now."""
    path.parent.mkdir(parents=True, exist_ok=True)
    result["machine_after"] = _machine()
    path.write_text(json.dumps(result, indent=1) + "\n", encoding="utf-8")


if __name__ == "__main__":
    for name, value in (("HF_HUB_OFFLINE", "1"), ("TRANSFORMERS_OFFLINE", "1"), ("TOKENIZERS_PARALLELISM", "false")):
        os.environ.setdefault(name, value)
    main()


# ---------------------------------------------------------------------------- BENCHMARKS.md

CRF_NOTE = (
    "**CRF head: not built.** The issue asks for a CRF head (learned transitions trained jointly, "
    "`model.head: linear|crf`, saved so that `from_pretrained` and the ONNX export still work) only if it "
    "measurably beats constrained decoding on at least two corpora. Judging that takes a second head, its "
    "export path and the same three-seed runs on two corpora; on this project's 2-core CPU machines the "
    "time went to the argmax-against-Viterbi runs above. No CRF was trained, so nothing is claimed about "
    "whether one would beat Viterbi decoding; there is no `model.head` setting, and every path decodes the "
    "linear head's probabilities with constrained Viterbi."
)


def _signed(value: float) -> str:
    return f"{100 * value:+.2f}"


def _interval(ci: list[float] | None) -> str:
    return "n/a" if not ci else f"[{_signed(ci[0])}, {_signed(ci[1])}]"


def _rows(result: dict[str, Any]) -> list[tuple[str, str, str, dict[str, Any]]]:
    """(corpus, system, seed, figures) for every finished run."""
    return [
        (corpus, system, seed, figures[system])
        for corpus, part in result["corpora"].items()
        for seed, figures in part["runs"].items()
        for system in ("A", "B")
        if system in figures
    ]


def _table(header: list[str], rows: list[list[Any]]) -> list[str]:
    lines = ["| " + " | ".join(header) + " |", "|" + "|".join("---" for _ in header) + "|"]
    return lines + ["| " + " | ".join(str(c) for c in row) + " |" for row in rows] + [""]


def _summary(result: dict[str, Any]) -> list[str]:
    by_system: dict[tuple[str, str], list[float]] = {}
    for corpus, system, _, f in _rows(result):
        by_system.setdefault((corpus, system), []).append(f["difference"])
    rows = [
        [f"{corpus}, {system}", len(d), _signed(statistics.mean(d)), _signed(min(d)), _signed(max(d))]
        for (corpus, system), d in by_system.items()
    ]
    every = [x for d in by_system.values() for x in d]
    never_worse = all(x >= 0 for x in every)
    average = statistics.mean(statistics.mean(d) for d in by_system.values()) if by_system else 0.0
    lines = _table(["corpus, system", "seeds", "mean Viterbi − argmax (points)", "lowest", "highest"], rows)
    lines.append(
        f"Target, Viterbi never worse than argmax on any run: {'met' if never_worse else '**not met**'}; "
        f"at least +1.5 points on average (mean over corpus-systems of their mean difference, here "
        f"{_signed(average)}): {'met' if average >= 0.015 else '**not met**'}."
    )
    missing = [corpus for corpus, part in result["corpora"].items() if not part["runs"]]
    finished = len(every)
    if missing or finished < len(result["seeds"]) * len(rows):
        lines.append(
            f"\nOnly {finished} runs finished in this session"
            + (f"; none on: {', '.join(missing)}" if missing else "")
            + ". The verdicts above cover those runs only; the issue's target needs three seeds on every corpus."
        )
    return lines + [""]


def _cost(cost: dict[str, Any] | None, machine: dict[str, Any]) -> list[str]:
    if not cost:
        return ["Decoding cost: not measured in this run (`bench/results/decoding.json` has no `cost`).", ""]
    medians, step = cost["predict_median"], cost["decode_step_median"]
    return [
        (
            f"**Decoding cost** ({machine['cpu']}, {machine['cores']} usable cores; load average "
            f"{cost['load_average_before'][0]:.1f} before, {cost['load_average_after'][0]:.1f} after): "
            f"`Tagger.predict_text` on {cost['n_texts']:,} raw texts ({cost['n_words']:,} words, {cost['model']}), "
            f"argmax and Viterbi alternately, median of {cost['repeats']} runs each: argmax {medians['argmax']:.2f} s, "
            f"Viterbi {medians['viterbi']:.2f} s, a difference of {100 * cost['predict_overhead']:+.1f}% "
            f"(target at most +5%: {'met' if cost['predict_overhead'] <= 0.05 else '**not met**'}). The decode step "
            f"alone on the same probabilities: argmax {1000 * step['argmax']:.1f} ms, Viterbi "
            f"{1000 * step['viterbi']:.1f} ms, i.e. Viterbi adds {100 * cost['decode_step_share']:.2f}% of argmax's "
            "whole predict time, a figure less exposed to the other work on a shared machine than the "
            "whole-run difference."
        ),
        "",
    ]


def _calibration_verdict(figures: list[dict[str, Any]]) -> str:
    """Whether temperature scaling lowered the test ECE, counted over the runs."""
    measured = [f for f in figures if f["ece_before"] is not None and f["ece_after"] is not None]
    lower = sum(f["ece_after"] < f["ece_before"] for f in measured)
    return (
        f"Temperature scaling lowered the test ECE in {lower} of {len(measured)} runs. A temperature fitted on "
        "validation carries over to test only as far as the two splits are alike; where it raises the test "
        "ECE, read the thresholds' test precision above rather than the scores themselves."
    )


def markdown(result: dict[str, Any] | None) -> list[str]:
    """The BENCHMARKS.md section, generated from ``bench/results/decoding.json``."""
    lines = ["## Decoding: argmax against Viterbi; calibrated entity scores", ""]
    if not result:
        return lines + [f"`bench/results/decoding.json` is missing; run `{COMMAND}`.", "", CRF_NOTE, ""]
    machine = result["machine"]
    seeds = sorted({seed for part in result["corpora"].values() for seed in part["runs"]})
    lines += [
        (
            f"Command: `{result['command']}` ({result['date']}; {machine['cpu']}, {machine['cores']} usable cores, "
            f"load average {machine['load_average'][0]:.1f} at the start, "
            f"{result.get('machine_after', machine)['load_average'][0]:.1f} at the end). One `run` per corpus and "
            f"training seed ({', '.join(seeds)} finished of the {len(result['seeds'])} asked for) with "
            f"`{result['config']}`: checkpoints selected with the Viterbi validation scorer, then the same "
            "model's test probabilities decoded both ways; strict micro F1 in points, Viterbi − argmax with "
            "its 95% paired-bootstrap interval over test sentences. Corpora: the bundled sample (A: 15 types, "
            "B: 5) and a short-text corpus the script generates (tweet-like lower-case texts of 5-16 words with "
            "mentions, hashtags and links, 15 lower-case hyphenated types such as `geo-loc`, read from BIOES "
            "CoNLL files; system A)."
        ),
        "",
    ]
    rows = [
        [f"{corpus}, {system}", seed, f"{100 * f['argmax_f1']:.2f}", f"{100 * f['viterbi_f1']:.2f}",
         f"{_signed(f['difference'])} {_interval(f['ci95'])}", "–" if f["p_value"] is None else f"{f['p_value']:.3g}"]
        for corpus, system, seed, f in _rows(result)
    ]  # fmt: skip
    lines += _table(["corpus, system", "seed", "strict F1, argmax", "strict F1, Viterbi",
                     "Viterbi − argmax [95% CI]", "p-value"], rows)  # fmt: skip
    lines += _summary(result)
    calibration_rows = []
    for corpus, system, seed, f in _rows(result):
        at = f["at_validation_thresholds"]
        cells = [
            "not reached" if at.get(t) is None else f"{at[t]['threshold']:.3f}: P {at[t]['precision'] or 0:.3f}, "
            f"R {at[t]['recall'] or 0:.3f}"
            for t in ("0.90", "0.95")
        ]
        calibration_rows.append([f"{corpus}, {system}", seed, f"{f['temperature']:.3g}",
                                 f"{f['ece_before']:.3f}" if f["ece_before"] is not None else "–",
                                 f"{f['ece_after']:.3f}" if f["ece_after"] is not None else "–", *cells])  # fmt: skip
    lines += [
        (
            "**Calibration** of entity scores (temperature fitted on validation, `calibration.json`): expected "
            "calibration error on test before and after, and the thresholds chosen on validation for precision "
            "0.90 and 0.95 with their test precision (P) and recall (R)."
        ),
        "",
    ]
    header = ["corpus, system", "seed", "temperature", "test ECE before", "test ECE after",
              "P 0.90 threshold: test P, R", "P 0.95 threshold: test P, R"]  # fmt: skip
    lines += _table(header, calibration_rows)
    lines += [_calibration_verdict([f for *_, f in _rows(result)]), ""]
    cost = result.get("cost") or (result.get("cost_run") or {}).get("cost")
    lines += _cost(cost, (result.get("cost_run") or {}).get("machine", machine))
    return lines + [CRF_NOTE, ""]
