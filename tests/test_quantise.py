"""The int8 search: sensitivity by simulated rounding, and the most-int8 candidate that meets the margin."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from conftest import save_tiny_model
from multinerd.model import quantise
from multinerd.model.export import write_onnx
from multinerd.model.quantise import TARGET_AGREEMENT, TARGET_F1_DROP, search, simulated_error, weight_matmuls


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Path:
    root = tmp_path_factory.mktemp("quantise")
    model = save_tiny_model(root / "A")
    write_onnx(model, root / "model.onnx")
    return root / "model.onnx"


def feeds() -> list[dict[str, np.ndarray]]:
    ids = np.array([[101, 2000, 2003, 3000, 102], [101, 2500, 102, 0, 0]], dtype=np.int64)
    return [{"input_ids": ids, "attention_mask": (ids != 0).astype(np.int64)}]


def test_an_outlier_in_the_input_makes_int8_rounding_worse():
    rng = np.random.default_rng(0)
    weight = rng.normal(size=(64, 32)).astype(np.float32)
    plain = rng.normal(size=(8, 64)).astype(np.float32)
    outlier = plain.copy()
    outlier[0, 3] = 200.0  # one huge activation sets the single per-tensor scale
    assert simulated_error(plain, weight) < 0.02
    assert simulated_error(outlier, weight) > 5 * simulated_error(plain, weight)
    assert simulated_error(np.zeros((2, 64), dtype=np.float32), weight) == 0.0


def test_every_weight_product_is_ranked(graph):
    import onnx

    matmuls = weight_matmuls(onnx.load(str(graph)))
    # 2 layers x (query, key, value, attention output, intermediate, output) + the classifier.
    assert len(matmuls) == 13
    errors = quantise.sensitivity(graph, feeds())
    assert set(errors) == set(matmuls) and all(0.0 <= e < 1.0 for e in errors.values())


def test_search_keeps_float_only_as_many_products_as_the_margin_needs(graph, tmp_path):
    import onnx

    tried: list[int] = []

    def evaluate(path: Path) -> tuple[float, float]:
        integer = sum(n.op_type == "MatMulInteger" for n in onnx.load(str(path)).graph.node)
        tried.append(13 - integer)
        # Stand-in verdicts: the margin is met once 3 products are float.
        return (TARGET_AGREEMENT, TARGET_F1_DROP) if 13 - integer >= 3 else (0.97, 0.01)

    report = search(graph, tmp_path / "int8.onnx", feeds(), evaluate, steps=(0, 1, 2, 3, 4))
    assert tried == [0, 1, 2, 3] and report.met_target
    ranked = list(report.sensitivity)
    assert list(report.float_nodes) == ranked[:3] and report.int8_nodes == ranked[3:]
    assert [c.meets_target for c in report.candidates] == [False, False, False, True]
    nodes = onnx.load(str(tmp_path / "int8.onnx")).graph.node
    assert {n.name for n in nodes if n.op_type == "MatMul"} >= set(report.float_nodes)


def test_without_a_candidate_that_meets_the_margin_the_best_one_is_written(graph, tmp_path):
    import onnx

    def evaluate(path: Path) -> tuple[float, float]:
        integer = sum(n.op_type == "MatMulInteger" for n in onnx.load(str(path)).graph.node)
        return (0.9 if integer != 11 else 0.97), 0.01  # best with 2 float products, never the margin

    report = search(graph, tmp_path / "int8.onnx", feeds(), evaluate, steps=(0, 2, 4))
    assert not report.met_target and len(report.float_nodes) == 2
    nodes = onnx.load(str(tmp_path / "int8.onnx")).graph.node
    assert sum(n.op_type == "MatMulInteger" for n in nodes) == 11


def test_agreement_alone_does_not_meet_the_margin_when_gold_f1_falls(graph, tmp_path):
    report = search(graph, tmp_path / "int8.onnx", feeds(), lambda path: (1.0, TARGET_F1_DROP + 0.001), steps=(0, 2))
    assert not report.met_target and [c.keep_float for c in report.candidates] == [0, 2]
    report = search(graph, tmp_path / "int8.onnx", feeds(), lambda path: (TARGET_AGREEMENT - 0.001, 0.0), steps=(0, 2))
    assert not report.met_target
