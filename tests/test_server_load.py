"""The server under abuse and load: bad input is always a 4xx, never a 500, and never stops it.

The in-process tests send input that once reached the model and failed there (lone surrogates,
JSON that Python refuses to build); the load test is a smaller version of ``bench/load_test.py``
(200 requests from 20 clients, a tenth of them bad) against ``multinerd serve`` in a subprocess
on a free loopback port, with a tiny random model.
"""

from __future__ import annotations

import sys
from pathlib import Path

import pytest
from fastapi.testclient import TestClient

from conftest import SENTENCE, rule_tagger, save_tiny_model
from multinerd.apps.server import create_app
from multinerd.model.features import AlignmentError
from multinerd.model.tagger import TaggerError

BENCH = Path(__file__).resolve().parent.parent / "bench"
sys.path.insert(0, str(BENCH))

import load_test
import server_process


@pytest.fixture(scope="module")
def client() -> TestClient:
    return TestClient(create_app({"A": rule_tagger("A")}), raise_server_exceptions=False)


@pytest.mark.parametrize(
    ("body", "field"),
    [
        (b'{"text": "Rome \\ud800 Paris"}', "'text' holds a lone surrogate U+D800 at character 5"),
        (b'{"texts": ["Rome", "x\\udfff"]}', "'texts'[1] holds a lone surrogate U+DFFF at character 1"),
        (b'{"tokens": [["Rome"], ["a", "\\udc00b"]]}', "'tokens'[1][1] holds a lone surrogate U+DC00"),
        (
            b'{"text": "\\ude00\\ud83d"}',
            "'text' holds a lone surrogate U+DE00 at character 0",
        ),  # reversed pair
    ],
)
def test_lone_surrogates_are_422_naming_the_field(client: TestClient, body: bytes, field: str) -> None:
    response = client.post("/predict", content=body)
    assert response.status_code == 422
    assert field in response.json()["detail"]
    assert client.post("/predict", json={"text": SENTENCE}).status_code == 200


def test_a_surrogate_pair_is_one_real_character_and_is_tagged(client: TestClient) -> None:
    response = client.post("/predict", content=b'{"text": "\\ud83d\\ude00 Rome"}')
    assert response.status_code == 200
    assert [(e["text"], e["start"], e["end"]) for e in response.json()["entities"]] == [("Rome", 2, 6)]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        (b"[" * 100_000 + b"]" * 100_000, "RecursionError"),
        (b'{"text": "Rome", "model": ' + b"9" * 5000 + b"}", "digits"),
    ],
)
def test_json_that_python_refuses_to_build_is_422(client: TestClient, body: bytes, message: str) -> None:
    response = client.post("/predict", content=body)
    assert response.status_code == 422
    assert "not usable JSON" in response.json()["detail"] and message in response.json()["detail"]


@pytest.mark.parametrize(
    "error", [AlignmentError("sentence 0, word 3: cannot align"), TaggerError("bad words")]
)
def test_value_errors_from_the_prediction_path_are_422_and_other_errors_500(error: ValueError) -> None:
    tagger = rule_tagger("A")
    raising = {"error": error}

    def predict_text(texts):
        raise raising["error"]

    tagger.predict_text = predict_text
    client = TestClient(create_app({"A": tagger}), raise_server_exceptions=False)
    response = client.post("/predict", json={"text": "Rome"})
    assert response.status_code == 422
    assert response.json()["detail"] == f"input cannot be tagged: {type(error).__name__}: {error}"
    raising["error"] = RuntimeError("out of memory")
    assert client.post("/predict", json={"text": "Rome"}).status_code == 500


def test_plan_is_seeded_and_has_the_bad_share_and_every_bad_kind() -> None:
    pool = [["Angela", "Merkel", "visits", "Rome"], ["Paris"], ["a", "b", "c"], ["x"] * 40] * 3
    plan = load_test.plan_requests(300, 0.1, 7, pool)
    assert plan == load_test.plan_requests(300, 0.1, 7, pool)
    assert [p.index for p in plan] == list(range(300))
    bad = [p for p in plan if p.kind != "good"]
    assert len(bad) == 30
    assert {p.kind for p in bad} == set(load_test._bad_requests())
    assert all(400 <= p.expect < 500 for p in bad) and all(p.expect == 200 for p in plan if p.kind == "good")
    assert len(load_test._bad_requests()["oversized_body"][0]) > load_test.MAX_BODY_BYTES


def test_answer_judge_catches_wrong_status_and_wrong_offsets() -> None:
    good = load_test.Planned(0, "good", b"", 200, document=("text", "Angela in Rome"))
    right = b'{"results": [{"entities": [{"text": "Rome", "start": 10, "end": 14}]}]}'
    shifted = b'{"results": [{"entities": [{"text": "Rome", "start": 9, "end": 13}]}]}'
    assert load_test.answer_problem(good, 200, right) is None
    assert "does not match" in load_test.answer_problem(good, 200, shifted)
    assert "expected 200, got 500" in load_test.answer_problem(good, 500, b'{"detail": "x"}')
    assert "1 documents sent, 0 results" in load_test.answer_problem(good, 200, b'{"results": []}')
    bad = load_test.Planned(1, "malformed_json", b"{", 422)
    assert load_test.answer_problem(bad, 422, b'{"detail": "not JSON"}') is None
    assert "expected 422, got 200" in load_test.answer_problem(bad, 200, right)


@pytest.mark.slow
def test_load_on_loopback_no_failed_request_and_4xx_for_every_bad_one(tmp_path: Path) -> None:
    model = save_tiny_model(tmp_path / "tiny")
    with server_process.running_server(model) as base_url:
        binding = server_process.check_binding(base_url)
        result = load_test.run_load(base_url, n_requests=200, concurrency=20, bad_share=0.1, seed=1)
    assert result["problems"] == [] and result["problem_count"] == 0
    assert result["good_succeeded"] == result["good_requests"] == 180
    assert result["bad_answered_4xx"] == result["bad_requests"] == 20
    assert result["good_right_after_bad_succeeded"] == result["good_right_after_bad"] > 0
    for kind, counts in result["bad_kinds"].items():
        assert counts["got"] == {str(counts["expected"]): sum(counts["got"].values())}, kind
    assert "500" not in result["status_counts"] and "0" not in result["status_counts"]
    assert result["healthy_after"] and result["ok"]
    assert binding["serve_default_host"] == "127.0.0.1"
    assert binding["listening"] in (None, ["127.0.0.1"])
    assert all(outcome == "refused" for outcome in binding["non_loopback_connect"].values())
    assert binding["loopback_only"]
