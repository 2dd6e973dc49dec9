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
from multinerd.apps.server import ServeError, create_app, model_names, parse_request
from multinerd.model.modelhub import ModelNotFoundError
from multinerd.model.tagger import Tagger, TaggerError


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
        ({"json": {"tokens": [["", "Paris"]]}}, 422, "'tokens'[0][0] is empty or blank"),
        ({"json": {"tokens": [["Paris"], ["Rome", " "]]}}, 422, "'tokens'[1][1] is empty or blank"),
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


# ---------------------------------------------------------------------------- limits seen by real clients


@pytest.fixture(scope="module")
def live_url():
    """A real uvicorn server on a free loopback port, default limits, in a background thread."""
    import socket
    import threading
    import time

    import uvicorn

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    config = uvicorn.Config(create_app({"A": rule_tagger("A")}), host="127.0.0.1", port=port, log_level="warning")
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started and time.monotonic() < deadline:
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


BIG_BODY = b'{"text": "' + b"a" * 6_000_000 + b'"}'  # 6 MB, six times the default limit


def test_oversized_body_is_a_413_that_urllib_sees(live_url: str) -> None:
    import urllib.error
    import urllib.request

    request = urllib.request.Request(
        f"{live_url}/predict", data=BIG_BODY, headers={"Content-Type": "application/json"}
    )
    with pytest.raises(urllib.error.HTTPError) as refused:
        urllib.request.urlopen(request, timeout=60)
    assert refused.value.code == 413
    assert "exceeds the limit of 1000000 bytes" in refused.value.read().decode()


def test_oversized_body_is_a_413_that_httpx_sees_declared_or_streamed(live_url: str) -> None:
    import httpx

    with httpx.Client(base_url=live_url, timeout=60) as http:
        assert http.post("/predict", content=BIG_BODY).status_code == 413
        chunks = (BIG_BODY[i : i + 65536] for i in range(0, len(BIG_BODY), 65536))  # no Content-Length
        assert http.post("/predict", content=chunks).status_code == 413
        assert http.post("/predict", json={"text": SENTENCE}).status_code == 200  # and it keeps serving


def test_limits_are_published(client: TestClient) -> None:
    limits = client.get("/models").json()["limits"]
    assert limits == {"max_body_bytes": 2_000, "max_text_chars": 300, "max_documents": 4,
                      "batch_wait_ms": 5.0, "max_batch_documents": 64}


# ---------------------------------------------------------------------------- API key


def test_api_key_guards_predict_and_models_but_not_health_or_the_page() -> None:
    client = TestClient(create_app({"A": rule_tagger("A")}, api_key="s3cret"))
    for headers in ({}, {"Authorization": "Bearer wrong"}, {"Authorization": "s3cret"},
                    {"Authorization": "Basic s3cret"}):
        assert client.post("/predict", json={"text": SENTENCE}, headers=headers).status_code == 401
        refused = client.get("/models", headers=headers)
        assert refused.status_code == 401 and refused.headers["www-authenticate"] == "Bearer"
    good = {"Authorization": "Bearer s3cret"}
    assert client.post("/predict", json={"text": SENTENCE}, headers=good).status_code == 200
    assert client.get("/models", headers=good).status_code == 200
    assert client.get("/health").json() == {"status": "ok", "models": ["A"], "auth": True}
    assert client.get("/").status_code == 200 and client.get("/static/app.js").status_code == 200


def test_key_is_compared_in_constant_time(monkeypatch) -> None:
    import hmac

    seen = []
    real = hmac.compare_digest
    monkeypatch.setattr(hmac, "compare_digest", lambda a, b: seen.append((a, b)) or real(a, b))
    client = TestClient(create_app({"A": rule_tagger("A")}, api_key="s3cret"))
    client.get("/models", headers={"Authorization": "Bearer guess"})
    assert seen == [(b"guess", b"s3cret")]


@pytest.mark.parametrize(
    "given",
    ["s3cre", "s3cret!", "s3cretX", "xs3cret", "s3cre7", "S3CRET", "S3cret", "", " s3cret", "s3cret ",
     "\ts3cret", " s3cret ", "s3cret\t"],
)  # fmt: skip
def test_only_the_exact_key_opens(given: str) -> None:
    """A prefix, a suffix, one changed character, other case, empty, whitespace around: all refused."""
    client = TestClient(create_app({"A": rule_tagger("A")}, api_key="s3cret"))
    assert client.get("/models", headers={"Authorization": f"Bearer {given}"}).status_code == 401
    assert client.get("/models", headers={"Authorization": "Bearer s3cret"}).status_code == 200


def test_a_key_with_a_space_inside_is_compared_whole() -> None:
    client = TestClient(create_app({"A": rule_tagger("A")}, api_key="two words"))
    assert client.get("/models", headers={"Authorization": "Bearer two words"}).status_code == 200
    assert client.get("/models", headers={"Authorization": "Bearer two"}).status_code == 401


def test_exposure_check_refuses_non_loopback_without_a_key() -> None:
    from multinerd.apps.server import check_exposure, is_loopback

    assert is_loopback("127.0.0.1") and is_loopback("::1") and is_loopback("localhost")
    assert not is_loopback("0.0.0.0") and not is_loopback("192.0.2.7")
    check_exposure("127.0.0.1", None, False)
    check_exposure("0.0.0.0", "key", False)
    check_exposure("0.0.0.0", None, True)
    with pytest.raises(ServeError, match="--api-key KEY"):
        check_exposure("0.0.0.0", None, False)


def test_port_in_use_is_found_before_any_model_loads(tmp_path: Path) -> None:
    import socket

    from multinerd.apps.server import serve

    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        # The model directory does not exist: reaching the loader would raise ModelNotFoundError.
        with pytest.raises(ServeError, match=f"port {port} on 127.0.0.1 is in use"):
            serve([str(tmp_path / "missing")], port=port)


def test_request_log_has_method_path_status_and_sizes_but_never_the_text(caplog) -> None:
    import logging

    client = TestClient(create_app({"A": rule_tagger("A")}))
    with caplog.at_level(logging.INFO, logger="multinerd.apps.server"):
        client.post("/predict", json={"text": "Angela Merkel told Zebediah Quux a secret in Rome."})
        client.post("/predict", json={"text": "Zebediah " * 500})
    lines = [record.getMessage() for record in caplog.records if record.name == "multinerd.apps.server"]
    assert len(lines) == 2
    assert lines[0].startswith("POST /predict 200 ") and " ms, " in lines[0] and "bytes in" in lines[0]
    assert "Zebediah" not in caplog.text and "secret" not in caplog.text


# ---------------------------------------------------------------------------- batching


def _recording(tagger: Tagger) -> list[list[str]]:
    """Wraps ``tagger.predict_text`` to record the documents of each call; refuses any 'BAD' text."""
    calls: list[list[str]] = []
    inner = tagger.predict_text

    def predict_text(texts):
        calls.append(list(texts))
        if any("BAD" in text for text in texts):
            raise TaggerError("a document says BAD")
        return inner(texts)

    tagger.predict_text = predict_text
    return calls


def _concurrently(client: TestClient, payloads: list[dict]) -> list:
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(max_workers=len(payloads)) as pool:
        return list(pool.map(lambda payload: client.post("/predict", json=payload), payloads))


def test_concurrent_requests_share_model_calls_and_each_gets_its_own_results() -> None:
    tagger, reference = rule_tagger("A"), rule_tagger("A")
    calls = _recording(tagger)
    client = TestClient(create_app({"A": tagger}, batch_wait_ms=300, max_batch_documents=64))
    payloads = [{"text": f"Angela Merkel flew to Rome {i} times."} if i % 2 else
                {"texts": [f"Paris {i}", "nothing", f"Google in Rome {i}"]} for i in range(8)]
    responses = _concurrently(client, payloads)
    assert all(response.status_code == 200 for response in responses)
    for payload, response in zip(payloads, responses):
        texts = [payload["text"]] if "text" in payload else payload["texts"]
        assert [r["text"] for r in response.json()["results"]] == texts  # its own documents, in order
        for text, result in zip(texts, response.json()["results"]):
            assert result["entities"] == reference.predict_text([text])[0]
    assert len(calls) < len(payloads)  # requests were gathered into shared calls
    assert max(len(documents) for documents in calls) > 3


def test_batched_results_equal_unbatched_ones() -> None:
    tagger = rule_tagger("A")
    alone = TestClient(create_app({"A": tagger}, batch_wait_ms=0))
    together = TestClient(create_app({"A": tagger}, batch_wait_ms=300))
    payloads = [{"text": f"Angela Merkel met Google people in Rome, {i} times."} for i in range(6)]
    expected = [alone.post("/predict", json=payload).json() for payload in payloads]
    assert [response.json() for response in _concurrently(together, payloads)] == expected


def test_a_bad_request_in_a_batch_fails_alone() -> None:
    tagger = rule_tagger("A")
    calls = _recording(tagger)
    client = TestClient(create_app({"A": tagger}, batch_wait_ms=300))
    payloads = [{"text": f"Rome {i}"} for i in range(5)] + [{"text": "BAD Paris"}]
    responses = _concurrently(client, payloads)
    assert [response.status_code for response in responses] == [200] * 5 + [422]
    assert "a document says BAD" in responses[-1].json()["detail"]
    assert [[(e["text"], e["type"]) for e in r.json()["entities"]] for r in responses[:5]] == [
        [("Rome", "LOC")]] * 5
    assert any(len(documents) > 1 and any("BAD" in d for d in documents) for documents in calls)


def test_batches_respect_the_maximum_size() -> None:
    tagger = rule_tagger("A")
    calls = _recording(tagger)
    client = TestClient(create_app({"A": tagger}, batch_wait_ms=300, max_batch_documents=3))
    responses = _concurrently(client, [{"text": f"Rome {i}"} for i in range(9)])
    assert all(response.status_code == 200 for response in responses)
    assert max(len(documents) for documents in calls) <= 3 and sum(map(len, calls)) == 9


def test_min_score_drops_entities_below_it_per_request_and_by_default(client: TestClient) -> None:
    found = client.post("/predict", json={"text": SENTENCE}).json()["entities"]
    scores = sorted(e["score"] for e in found)
    assert len(scores) == 2
    just_over = client.post("/predict", json={"text": SENTENCE, "min_score": scores[0]}).json()
    assert just_over["entities"] == found
    above = client.post("/predict", json={"texts": [SENTENCE], "min_score": scores[-1] + 1e-6}).json()
    assert above["results"][0]["entities"] == []
    for bad in ("high", 1.5, -0.1, True):
        response = client.post("/predict", json={"text": SENTENCE, "min_score": bad})
        assert response.status_code == 422
        assert "'min_score' must be a number from 0 to 1" in response.json()["detail"]
    strict = TestClient(create_app({"A": rule_tagger("A")}, min_score=0.999))
    assert strict.post("/predict", json={"text": SENTENCE}).json()["entities"] == []
    assert strict.post("/predict", json={"text": SENTENCE, "min_score": 0}).json()["entities"] == found
    info = client.get("/models").json()["models"][0]
    assert (info["decoding"], info["temperature"]) == ("viterbi", 1.0)
