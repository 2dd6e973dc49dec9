"""Load and abuse test of ``multinerd serve`` on loopback: bounded, stopping by itself.

It starts the server exactly as a user does (``multinerd serve --model DIR --port P``, default
host) in a subprocess, then fires ``--requests`` requests from ``--concurrency`` concurrent
clients. Good requests are real sentences of varied length from the bundled sample corpus
(English, German, Spanish; from three words to hundreds) sent as ``text``, ``texts`` or ``tokens``; a share
of bad requests is interleaved at random positions: malformed JSON, oversized bodies, texts and
batches over the limits, wrong shapes, non-UTF-8 bodies, lone surrogates, deep nesting, unknown
models. It checks that every good request got a 200 with well-formed entities, every bad one the
4xx its kind calls for, the good requests right after bad ones succeeded, and the server is
healthy at the end; and that the server listens on 127.0.0.1 only.

    .venv/bin/python bench/load_test.py                       # 2,000 requests, 50 clients, tiny model
    .venv/bin/python bench/load_test.py --model runs/quickstart/A --requests 500
    .venv/bin/python bench/load_test.py --batching --model runs/quickstart/A   # 1, 10, 50 clients, before/after

The tiny model (a randomly initialised 2-layer, 32-wide BERT with the bundled MiniLM tokenizer)
measures the serving machinery, not a real encoder; ``--model`` measures a trained one.
Results go to ``bench/results/load_test.json``; the exit status is 1 when any check failed.
"""

from __future__ import annotations

import argparse
import asyncio
import datetime
import json
import os
import random
import shlex
import statistics
import subprocess
import sys
import tempfile
import time
from collections import Counter
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import httpx
from common import BENCH, loads, machine
from server_process import check_binding, make_tiny_model, running_server, serve_command

RESULTS = BENCH / "results" / "load_test.json"
BATCHING_RESULTS = BENCH / "results" / "load_batching.json"
#: The server's own defaults (``multinerd serve``); the bad requests are sized against them.
MAX_BODY_BYTES = 1_000_000
MAX_TEXT_CHARS = 100_000
MAX_DOCUMENTS = 256
#: Per request; a request queued behind 49 others on a slow model still fits with a wide margin.
REQUEST_TIMEOUT_S = 120.0


@dataclass(frozen=True)
class Planned:
    """One request to send: ``kind`` is "good" or the name of a bad kind; ``expect`` its status."""

    index: int
    kind: str
    body: bytes
    expect: int
    document: Any = None  # for good requests: the payload, to check the answer against
    method: str = "POST"


def _bad_requests() -> dict[str, tuple[bytes, int, str]]:
    """Every abuse kind: ``kind -> (body, expected status, method)``."""
    over_body = b'{"text": "' + b"a" * (MAX_BODY_BYTES + 1) + b'"}'
    return {
        "malformed_json": (b'{"text": "Angela Merkel visited Rome', 422, "POST"),
        "empty_body": (b"", 422, "POST"),
        "oversized_body": (over_body, 413, "POST"),
        "oversized_text": (json.dumps({"text": "Rome " * (MAX_TEXT_CHARS // 5 + 1)}).encode(), 413, "POST"),
        "too_many_documents": (json.dumps({"texts": ["Rome"] * (MAX_DOCUMENTS + 1)}).encode(), 413, "POST"),
        "wrong_shape_list": (b'["Angela Merkel"]', 422, "POST"),
        "wrong_shape_text_type": (b'{"text": 42}', 422, "POST"),
        "wrong_shape_tokens": (b'{"tokens": ["Angela", "Merkel"]}', 422, "POST"),
        "unknown_field": (b'{"text": "Rome", "lang": "en"}', 422, "POST"),
        "non_utf8_latin1": ('{"text": "caf\u00e9 in M\u00fcnchen"}'.encode("latin-1"), 400, "POST"),
        "non_utf8_utf16": ('{"text": "Rome"}'.encode("utf-16"), 400, "POST"),
        "lone_surrogate": (b'{"text": "Rome \\ud800 Paris"}', 422, "POST"),
        "lone_surrogate_tokens": (b'{"tokens": [["Rome", "\\udfff"]]}', 422, "POST"),
        "deep_nesting": (b"[" * 100_000 + b"]" * 100_000, 422, "POST"),
        "huge_integer": (b'{"text": "Rome", "model": ' + b"9" * 5000 + b"}", 422, "POST"),
        "unknown_model": (b'{"text": "Rome", "model": "no-such-model"}', 404, "POST"),
        "wrong_method": (b"", 405, "GET"),
    }


def sentence_pool() -> list[list[str]]:
    """Word lists of the bundled sample corpus, all languages and splits: varied, realistic lengths."""
    from multinerd.data.corpus import load_corpus

    corpus = load_corpus("sample", lang=None)
    return [list(sentence.words) for split in corpus.splits.values() for sentence in split]


def _good_request(index: int, rng: random.Random, pool: Sequence[list[str]]) -> Planned:
    """A ``text`` (one to three sentences), ``texts`` (two to eight) or ``tokens`` (one to four) request."""
    shape = rng.choices(("text", "texts", "tokens"), weights=(6, 3, 1))[0]
    if shape == "text":
        payload: Any = " ".join(" ".join(words) for words in rng.sample(pool, rng.randint(1, 3)))
    elif shape == "texts":
        payload = [" ".join(words) for words in rng.sample(pool, rng.randint(2, 8))]
    else:
        payload = [list(words) for words in rng.sample(pool, rng.randint(1, 4))]
    body = json.dumps({shape: payload}, ensure_ascii=False).encode("utf-8")
    return Planned(index, "good", body, 200, document=(shape, payload))


def plan_requests(n_requests: int, bad_share: float, seed: int, pool: Sequence[list[str]]) -> list[Planned]:
    """``n_requests`` requests, ``round(bad_share * n)`` of them bad, at seeded random positions.

    The bad kinds are taken in turn, so every kind is sent once before any is sent twice.
    """
    rng = random.Random(seed)
    bad = _bad_requests()
    kinds = list(bad)
    n_bad = round(bad_share * n_requests)
    bad_positions = set(rng.sample(range(n_requests), n_bad))
    planned, taken = [], 0
    for index in range(n_requests):
        if index in bad_positions:
            kind = kinds[taken % len(kinds)]
            body, status, method = bad[kind]
            planned.append(Planned(index, kind, body, status, method=method))
            taken += 1
        else:
            planned.append(_good_request(index, rng, pool))
    return planned


def answer_problem(planned: Planned, status: int, body: bytes) -> str | None:
    """What is wrong with the answer to ``planned``, or None when it is what the kind calls for."""
    if status != planned.expect:
        return f"expected {planned.expect}, got {status}: {body[:200]!r}"
    try:
        answer = json.loads(body)
    except ValueError:
        return f"answer is not JSON: {body[:200]!r}"
    if planned.kind != "good":
        return None if isinstance(answer.get("detail"), str) else f"4xx without a 'detail' message: {answer}"
    shape, payload = planned.document
    documents = [payload] if shape == "text" else payload
    results = answer.get("results", [])
    if len(results) != len(documents):
        return f"{len(documents)} documents sent, {len(results)} results"
    for document, result in zip(documents, results):
        for entity in result["entities"]:
            if shape == "tokens":
                found = " ".join(document[entity["start"] : entity["end"]])
            else:
                found = document[entity["start"] : entity["end"]]
            if found != entity["text"]:
                return f"entity {entity} does not match the input at its offsets ({found!r})"
    return None


def _percentile(values: Sequence[float], share: float) -> float:
    """Nearest-rank percentile: the smallest value with at least ``share`` of the values at or below it."""
    ordered = sorted(values)
    rank = max(1, -(-len(ordered) * share // 1))
    return ordered[int(rank) - 1]


async def _fire(base_url: str, planned: list[Planned], concurrency: int) -> list[tuple[int, bytes, float]]:
    """Send every planned request from ``concurrency`` clients, each with its own connection.

    Clients take the next request from a shared cursor, so requests go out in plan order and
    the run ends when the plan is exhausted. Answers: ``(status, body, seconds)``; status 0 for
    a request that got no HTTP answer at all (refused, reset, timed out).
    """
    answers: list[tuple[int, bytes, float]] = [(0, b"", 0.0)] * len(planned)
    cursor = iter(planned)

    async def client() -> None:
        limits = httpx.Limits(max_connections=1, max_keepalive_connections=1)
        async with httpx.AsyncClient(base_url=base_url, timeout=REQUEST_TIMEOUT_S, limits=limits) as http:
            for request in cursor:
                started = time.perf_counter()
                try:
                    if request.method == "GET":
                        response = await http.get("/predict")
                    else:
                        response = await http.post(
                            "/predict", content=request.body, headers={"Content-Type": "application/json"}
                        )
                    answers[request.index] = (
                        response.status_code,
                        response.content,
                        time.perf_counter() - started,
                    )
                except httpx.HTTPError as err:
                    answers[request.index] = (
                        0,
                        f"{type(err).__name__}: {err}".encode(),
                        time.perf_counter() - started,
                    )

    await asyncio.gather(*(client() for _ in range(concurrency)))
    return answers


def run_load(base_url: str, n_requests: int, concurrency: int, bad_share: float, seed: int) -> dict[str, Any]:
    """Fire the planned requests at ``base_url`` and judge every answer; the result as a dict.

    ``result["ok"]`` is True when every good request got a correct 200, every bad one its 4xx,
    and ``/health`` answers afterwards. Latencies are of good requests only, in milliseconds,
    measured by the client (queueing in the server included).
    """
    planned = plan_requests(n_requests, bad_share, seed, sentence_pool())
    started = time.perf_counter()
    answers = asyncio.run(_fire(base_url, planned, concurrency))
    wall = time.perf_counter() - started
    problems = []
    for request, (status, body, _) in zip(planned, answers):
        problem = answer_problem(request, status, body)
        if problem is not None:
            problems.append({"index": request.index, "kind": request.kind, "problem": problem})
    good = [(r, a) for r, a in zip(planned, answers) if r.kind == "good"]
    bad = [(r, a) for r, a in zip(planned, answers) if r.kind != "good"]
    latencies = [seconds * 1000 for _, (status, _, seconds) in good if status == 200]
    pairs = list(zip(planned, answers))
    after_bad = [
        answer
        for (request, answer), (previous, _) in zip(pairs[1:], pairs)
        if request.kind == "good" and previous.kind != "good"
    ]
    by_kind: dict[str, Counter] = {}
    for request, (status, _, _) in bad:
        by_kind.setdefault(request.kind, Counter())[str(status)] += 1
    health = httpx.get(f"{base_url}/health", timeout=REQUEST_TIMEOUT_S)
    healthy = health.status_code == 200 and health.json().get("status") == "ok"
    return {
        "ok": not problems and healthy,
        "requests": n_requests,
        "concurrency": concurrency,
        "bad_share": bad_share,
        "seed": seed,
        "good_requests": len(good),
        "good_succeeded": sum(1 for _, (status, _, _) in good if status == 200),
        "bad_requests": len(bad),
        "bad_answered_4xx": sum(1 for _, (status, _, _) in bad if 400 <= status < 500),
        "good_right_after_bad": len(after_bad),
        "good_right_after_bad_succeeded": sum(1 for status, _, _ in after_bad if status == 200),
        "documents_tagged": sum(1 if r.document[0] == "text" else len(r.document[1]) for r, _ in good),
        "status_counts": dict(sorted(Counter(str(status) for status, _, _ in answers).items())),
        "bad_kinds": {
            kind: {"expected": _bad_requests()[kind][1], "got": dict(counts)}
            for kind, counts in sorted(by_kind.items())
        },
        "latency_ms": {
            "p50": round(_percentile(latencies, 0.50), 2) if latencies else None,
            "p90": round(_percentile(latencies, 0.90), 2) if latencies else None,
            "p99": round(_percentile(latencies, 0.99), 2) if latencies else None,
            "mean": round(statistics.fmean(latencies), 2) if latencies else None,
            "max": round(max(latencies), 2) if latencies else None,
        },
        "wall_s": round(wall, 2),
        "throughput_rps": round(n_requests / wall, 1),
        "good_throughput_rps": round(len(good) / wall, 1),
        "healthy_after": healthy,
        "problems": problems[:20],
        "problem_count": len(problems),
    }


def machine_info() -> dict[str, Any]:
    """The machine (CPU model included), the load average now and the uptime line."""
    uptime = subprocess.run(["uptime"], capture_output=True, text=True, check=False).stdout.strip()
    return machine() | {
        "cpu_count": os.cpu_count(),
        "httpx": httpx.__version__,
        "uptime": uptime,
        "load_average": loads(),
    }


#: The server before dynamic batching (one request per model call) and after it (the defaults).
BATCHING = {"before": ("--max-batch-documents", "1", "--batch-wait-ms", "0"), "after": ()}
CLIENTS = (1, 10, 50)


def run_batching(model: Path, requests_per_client: int, bad_share: float, seed: int) -> list[dict[str, Any]]:
    """Requests/s and latency at 1, 10 and 50 clients, with batching off ("before") and on ("after").

    Each setting gets its own server, a 20-request warm-up, then one run per client count of
    ``max(100, requests_per_client * clients)`` requests of the same seeded plan.
    """
    rows = []
    for setting, extra in BATCHING.items():
        with running_server(model, extra=extra) as base_url:
            run_load(base_url, 20, 5, 0.0, seed + 1)
            for clients in CLIENTS:
                result = run_load(base_url, max(100, requests_per_client * clients), clients, bad_share, seed)
                rows.append(
                    {
                        "setting": setting,
                        "server_options": " ".join(extra) or "(defaults)",
                        "clients": clients,
                        "requests": result["requests"],
                        "ok": result["ok"],
                        "good_failed": result["good_requests"] - result["good_succeeded"],
                        "bad_not_4xx": result["bad_requests"] - result["bad_answered_4xx"],
                        "throughput_rps": result["throughput_rps"],
                        "latency_ms": result["latency_ms"],
                    }
                )
                print(
                    f"{setting:>6} {clients:>3} clients: {result['throughput_rps']} requests/s, "
                    f"p50 {result['latency_ms']['p50']} ms, p99 {result['latency_ms']['p99']} ms, ok {result['ok']}"
                )
    return rows


def batching_main(args: argparse.Namespace, command: str) -> int:
    """``--batching``: the before/after table, written to ``args.output``; exit 1 if a check failed."""
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or make_tiny_model(Path(scratch) / "tiny")
        before = machine_info()
        rows = run_batching(model, args.requests_per_client, args.bad_share, args.seed)
    rate = {(row["setting"], row["clients"]): row["throughput_rps"] for row in rows}
    result = {
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": str(args.model)
        if args.model
        else "tiny random BERT (2 layers, hidden 32, MiniLM tokenizer)",
        "machine": {**before, "load_average_after": [round(x, 2) for x in os.getloadavg()]},
        "rows": rows,
        "scaling_50_over_1": {s: round(rate[(s, 50)] / rate[(s, 1)], 2) for s in BATCHING},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    print(f"50 clients over 1: {result['scaling_50_over_1']}; written to {args.output}")
    return 0 if all(row["ok"] for row in rows) else 1


def main(argv: Sequence[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--model", type=Path, help="model directory (default: a tiny random BERT, made here)")
    parser.add_argument("--requests", type=int, default=2000)
    parser.add_argument("--concurrency", type=int, default=50)
    parser.add_argument("--bad-share", type=float, default=0.1, help="share of bad requests (default 0.1)")
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument(
        "--output", type=Path, default=None, help=f"default: {RESULTS} ({BATCHING_RESULTS} with --batching)"
    )
    parser.add_argument(
        "--batching", action="store_true", help="before/after dynamic batching at 1, 10, 50 clients"
    )
    parser.add_argument("--requests-per-client", type=int, default=20, help="with --batching (default 20)")
    args = parser.parse_args(argv)
    command = shlex.join(
        [".venv/bin/python", "bench/load_test.py", *(sys.argv[1:] if argv is None else argv)]
    )
    if args.batching:
        args.output = args.output or BATCHING_RESULTS
        return batching_main(args, command)
    args.output = args.output or RESULTS
    with tempfile.TemporaryDirectory() as scratch:
        model = args.model or make_tiny_model(Path(scratch) / "tiny")
        before = machine_info()
        with running_server(model) as base_url:
            binding = check_binding(base_url)
            result = run_load(base_url, args.requests, args.concurrency, args.bad_share, args.seed)
        after = os.getloadavg()
    result = {
        "ok": result["ok"] and binding["loopback_only"],
        "command": command,
        "date": datetime.datetime.now(datetime.timezone.utc).isoformat(timespec="seconds"),
        "model": str(args.model)
        if args.model
        else "tiny random BERT (2 layers, hidden 32, MiniLM tokenizer)",
        "server": shlex.join(["multinerd", *serve_command(Path("MODEL"), 0)[3:-2]]) + " --port PORT",
        "binding": binding,
        "machine": {**before, "load_average_after": [round(x, 2) for x in after]},
        **{key: value for key, value in result.items() if key != "ok"},
    }
    args.output.parent.mkdir(parents=True, exist_ok=True)
    args.output.write_text(json.dumps(result, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")
    latency = result["latency_ms"]
    print(
        f"{result['good_succeeded']}/{result['good_requests']} good requests succeeded, "
        f"{result['bad_answered_4xx']}/{result['bad_requests']} bad ones got a 4xx; "
        f"p50 {latency['p50']} ms, p99 {latency['p99']} ms, {result['throughput_rps']} requests/s; "
        f"loopback only: {binding['loopback_only']}; written to {args.output}"
    )
    for problem in result["problems"]:
        print(f"  request {problem['index']} ({problem['kind']}): {problem['problem']}", file=sys.stderr)
    return 0 if result["ok"] else 1


if __name__ == "__main__":
    sys.exit(main())
