"""HTTP API tests, in-process, over Taggers whose predictions the tests control.

``rule_tagger`` (in ``conftest.py``) is a real :class:`Tagger` (real tokenizer, windows,
offsets) whose model call gives fixed logits per first sub-token, so expected entities are
known exactly.
"""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from fastapi.testclient import TestClient

from conftest import RULE_LABELS, SENTENCE, rule_tagger
from multinerd.modelhub import ModelNotFoundError
from multinerd.server import ServeError, create_app, model_names, parse_request
from multinerd.tagger import Tagger


@pytest.fixture(scope="module")
def client() -> TestClient:
    models = {"A": rule_tagger("A"), "B": rule_tagger("B", RULE_LABELS[:5])}
    app = create_app(models, max_body_bytes=2_000, max_text_chars=300, max_documents=4)
    return TestClient(app)


def test_predict_text_gives_entities_with_offsets_and_model_name(client: TestClient) -> None:
    response = client.post("/predict", json={"text": SENTENCE})
    assert response.status_code == 200
    body = response.json()
    assert body["model"] == "A"
    found = [(e["text"], e["type"], e["start"], e["end"]) for e in body["entities"]]
    assert found == [("Angela Merkel", "PER", 0, 13), ("Rome", "LOC", 30, 34)]
    for entity in body["entities"]:
        assert SENTENCE[entity["start"] : entity["end"]] == entity["text"]
        assert 0.0 < entity["score"] <= 1.0
    assert body["results"] == [{"text": SENTENCE, "entities": body["entities"]}]


def test_predict_texts_and_model_choice(client: TestClient) -> None:
    texts = ["Google is in Paris.", "", "nothing here"]
    body = client.post("/predict", json={"texts": texts, "model": "B"}).json()
    assert body["model"] == "B"
    assert body["types"] == ["PER", "LOC"]
    assert [r["text"] for r in body["results"]] == texts
    # Model B has no ORG label, so "Google" is not an entity for it.
    found = [[(e["text"], e["type"]) for e in r["entities"]] for r in body["results"]]
    assert found == [[("Paris", "LOC")], [], []]
    assert "entities" not in body


def test_predict_tokens_uses_word_indices(client: TestClient) -> None:
    body = client.post("/predict", json={"tokens": [["Angela", "Merkel", "visits", "Rome"], []]}).json()
    assert body["results"][0]["entities"] == [
        {**body["results"][0]["entities"][0], "text": "Angela Merkel", "type": "PER", "start": 0, "end": 2},
        {**body["results"][0]["entities"][1], "text": "Rome", "type": "LOC", "start": 3, "end": 4},
    ]
    assert body["results"][1] == {"tokens": [], "entities": []}


def test_health_and_models(client: TestClient) -> None:
    assert client.get("/health").json() == {"status": "ok", "models": ["A", "B"], "auth": False}
    models = client.get("/models").json()["models"]
    assert [(m["name"], m["types"], m["default"]) for m in models] == [
        ("A", ["PER", "LOC", "ORG"], True), ("B", ["PER", "LOC"], False)]


def test_demo_page_and_assets_are_served(client: TestClient) -> None:
    page = client.get("/")
    assert page.status_code == 200 and "text/html" in page.headers["content-type"]
    assert "/static/app.js" in page.text and "<label" in page.text
    for asset in ("app.js", "style.css"):
        assert client.get(f"/static/{asset}").status_code == 200
    # No external assets: nothing is loaded from another host.
    assert "http://" not in page.text and "https://" not in page.text


@pytest.mark.parametrize(
    ("kwargs", "status", "message"),
    [
        ({"content": b"{not json"}, 422, "not JSON"),
        ({"json": ["a list"]}, 422, "expected a JSON object"),
        ({"json": {}}, 422, "found fields none"),
        ({"json": {"text": "a", "texts": ["b"]}}, 422, "expected"),
        ({"json": {"text": 3}}, 422, "'text' must be a string"),
        ({"json": {"texts": ["a", 1]}}, 422, "'texts' must be a list of strings"),
        ({"json": {"tokens": ["a", "b"]}}, 422, "list of lists"),
        ({"json": {"text": "a", "colour": "red"}}, 422, "unknown field"),
        ({"json": {"text": "a", "model": 1}}, 422, "'model' must be a string"),
        ({"json": {"text": "a", "model": "C"}}, 404, "unknown model 'C'"),
        ({"json": {"text": "x" * 301}}, 413, "301 characters; the limit is 300"),
        ({"json": {"texts": ["a"] * 5}}, 413, "5 documents"),
        ({"content": b'{"text": "' + b"a" * 3000 + b'"}'}, 413, "exceeds the limit of 2000 bytes"),
        ({"content": b'{"text": "caf\xe9"}'}, 400, "not UTF-8"),
    ],
)
def test_bad_requests_get_clear_json_errors_and_the_server_keeps_serving(
    client: TestClient, kwargs: dict, status: int, message: str
) -> None:
    response = client.post("/predict", headers={"Content-Type": "application/json"}, **kwargs)
    assert response.status_code == status
    assert message in response.json()["detail"]
    after = client.post("/predict", json={"text": SENTENCE})
    assert after.status_code == 200 and len(after.json()["entities"]) == 2


def test_body_over_limit_without_content_length_is_refused(client: TestClient) -> None:
    chunks = (b"x" * 1000 for _ in range(5))  # streamed: no Content-Length header
    response = client.post("/predict", content=chunks)
    assert response.status_code == 413


def test_model_error_is_a_json_500_and_the_server_survives() -> None:
    tagger = rule_tagger("A")

    def broken(input_ids, attention_mask):
        raise RuntimeError("out of memory")

    good = rule_tagger("good")
    bad = Tagger(tagger.tokenizer, RULE_LABELS, broken, name="bad")
    client = TestClient(create_app({"good": good, "bad": bad}), raise_server_exceptions=False)
    failed = client.post("/predict", json={"text": "Rome", "model": "bad"})
    assert failed.status_code == 500
    assert failed.json()["detail"] == "prediction failed: RuntimeError: out of memory"
    after = client.post("/predict", json={"text": "Rome", "model": "good"})
    assert after.json()["entities"][0]["type"] == "LOC"


def test_concurrent_requests_are_all_answered(client: TestClient) -> None:
    from concurrent.futures import ThreadPoolExecutor

    texts = [f"Angela Merkel flew to Rome {i} times." for i in range(12)]
    with ThreadPoolExecutor(max_workers=6) as pool:
        responses = list(pool.map(lambda t: client.post("/predict", json={"text": t}), texts))
    assert all(r.status_code == 200 for r in responses)
    assert all([e["type"] for e in r.json()["entities"]] == ["PER", "LOC"] for r in responses)


def test_model_calls_are_serialised_by_default() -> None:
    import threading
    import time
    from concurrent.futures import ThreadPoolExecutor

    tagger = rule_tagger("A")
    state = {"active": 0, "most": 0}
    lock = threading.Lock()
    inner = tagger.forward

    def tracked(input_ids, attention_mask):
        with lock:
            state["active"] += 1
            state["most"] = max(state["most"], state["active"])
        time.sleep(0.05)  # widens the window in which overlapping calls would be seen
        with lock:
            state["active"] -= 1
        return inner(input_ids, attention_mask)

    tagger.forward = tracked
    with TestClient(create_app({"A": tagger})) as client, ThreadPoolExecutor(max_workers=4) as pool:
        responses = list(pool.map(lambda i: client.post("/predict", json={"text": f"Rome {i}"}), range(8)))
    assert all(r.status_code == 200 for r in responses)
    assert state["most"] == 1


def test_parse_request_accepts_the_three_shapes() -> None:
    limits = {"max_text_chars": 10, "max_documents": 2}
    assert parse_request({"text": "a"}, **limits) == ("text", ["a"], None)
    assert parse_request({"texts": ["a", "b"], "model": "B"}, **limits) == ("texts", ["a", "b"], "B")
    assert parse_request({"tokens": [["a"]]}, **limits) == ("tokens", [["a"]], None)


def test_model_names_from_directories(tmp_path: Path) -> None:
    for name in ("A", "B"):
        (tmp_path / "run" / name).mkdir(parents=True)
    (tmp_path / "other" / "A").mkdir(parents=True)
    assert model_names([str(tmp_path / "run" / "A"), str(tmp_path / "run" / "B")]) == {
        "A": tmp_path / "run" / "A", "B": tmp_path / "run" / "B"}
    assert list(model_names([f"old={tmp_path / 'other' / 'A'}", str(tmp_path / "run" / "A")])) == ["old", "A"]
    with pytest.raises(ServeError, match="two models named 'A'"):
        model_names([str(tmp_path / "run" / "A"), str(tmp_path / "other" / "A")])
    with pytest.raises(ModelNotFoundError, match="not found"):
        model_names([str(tmp_path / "missing")])


def test_no_models_is_an_error() -> None:
    with pytest.raises(ServeError, match="no models"):
        create_app({})
