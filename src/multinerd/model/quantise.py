"""int8 by measurement: which matrix multiplies of an exported encoder may be int8, and which must stay float.

ONNX Runtime's dynamic quantisation (``quantize_dynamic``) stores each weight matrix in
int8 with one scale per output channel and quantises each activation tensor at run time
with *one* scale for the whole tensor. A matrix multiply whose input has a few very large
values (the feed-forward inputs of BERT-like encoders, typically) then keeps only a few
int8 levels for everything else, and its error reaches the labels. Which products suffer
differs from one training run to the next, so a fixed list fails on some retrains.

The search here measures instead of assuming:

1. **sensitivity**: the fp32 graph runs on windows of the parity split with every
   MatMul's input exposed; each product's relative error when its input and weight are
   rounded as the int8 kernel rounds them (:func:`simulated_error`) ranks the products;
2. **selection**: the ``k`` most sensitive products stay float, for ``k`` in
   :data:`KEEP_FLOAT_STEPS`, and each candidate file is quantised and tagged against the
   PyTorch model; the first (most int8) candidate whose entity agreement and F1 drop meet
   the *margin* targets (:data:`TARGET_AGREEMENT`, :data:`TARGET_F1_DROP`, stricter than
   the export gate's) is kept.

The report (:class:`QuantReport`, in ``parity.json``) lists every product, int8 or float,
with its measured error and why it stayed float.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

#: Entity agreement the chosen int8 file must reach on the parity split (the gate asks 0.98).
TARGET_AGREEMENT = 0.995
#: Largest gold-F1 drop (absolute) the chosen file may cost on the parity split (the gate allows 0.005).
TARGET_F1_DROP = 0.002
#: How many of the most sensitive products stay float in successive candidates.
KEEP_FLOAT_STEPS = (2, 4, 6, 8, 12, 16, 24)
#: Windows whose activations rank the products (their input scales come from these).
SENSITIVITY_WINDOWS = 64

#: ``evaluate(candidate_path) -> (entity_agreement, f1_drop)`` against the PyTorch model.
Evaluate = Callable[[Path], tuple[float, float]]


@dataclass
class Candidate:
    """One quantised file tried: how many products stayed float and how it compared."""

    keep_float: int
    entity_agreement: float
    f1_drop: float
    meets_target: bool


@dataclass
class QuantReport:
    """Which products are int8, which stayed float and why, and the candidates that decided it."""

    target_agreement: float
    target_f1_drop: float
    #: Relative output error of each MatMul when it alone is int8 (simulated), by node name.
    sensitivity: dict[str, float]
    int8_nodes: list[str]
    #: Node name -> why it stayed float.
    float_nodes: dict[str, str]
    candidates: list[Candidate] = field(default_factory=list)
    met_target: bool = False

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


def weight_matmuls(model: Any) -> dict[str, tuple[str, str]]:
    """``{node name: (activation input, weight initializer)}`` for every MatMul with a 2-D constant weight."""
    weights = {init.name for init in model.graph.initializer if len(init.dims) == 2}
    return {
        node.name: (node.input[0], node.input[1])
        for node in model.graph.node
        if node.op_type == "MatMul" and node.input[1] in weights
    }


def simulated_error(activation: np.ndarray, weight: np.ndarray) -> float:
    """Mean relative error per token of ``activation @ weight`` with both rounded as dynamic int8 rounds them.

    The activation is quantised asymmetrically to uint8 with one scale for the whole tensor
    (range widened to include 0, as ONNX Runtime does); the weight symmetrically to int8 with
    one scale per output column.
    """
    x = activation.reshape(-1, activation.shape[-1]).astype(np.float64)
    low, high = min(float(x.min()), 0.0), max(float(x.max()), 0.0)
    scale = (high - low) / 255 or 1.0
    zero = np.round(-low / scale)
    x_q = (np.clip(np.round(x / scale) + zero, 0, 255) - zero) * scale
    w = weight.astype(np.float64)
    w_scale = np.abs(w).max(axis=0) / 127
    w_scale[w_scale == 0] = 1.0
    w_q = np.round(w / w_scale) * w_scale
    exact = x @ w
    # Per token, then averaged: one huge row must not hide that every other row lost its precision.
    norms = np.linalg.norm(exact, axis=1)
    errors = np.linalg.norm(x_q @ w_q - exact, axis=1)
    return float(np.mean(errors / np.where(norms > 0, norms, 1.0)))


def sensitivity(source: Path, feeds: Sequence[dict[str, np.ndarray]]) -> dict[str, float]:
    """Each weight MatMul's :func:`simulated_error` on ``feeds`` (batches of the fp32 graph's inputs)."""
    import onnx
    import onnxruntime
    from onnx import numpy_helper

    model = onnx.load(str(source))
    matmuls = weight_matmuls(model)
    inputs = sorted({activation for activation, _ in matmuls.values()})
    existing = {output.name for output in model.graph.output}
    model.graph.output.extend(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None)
        for name in inputs
        if name not in existing
    )
    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    weights = {init.name: numpy_helper.to_array(init) for init in model.graph.initializer}
    errors: dict[str, list[float]] = {name: [] for name in matmuls}
    for feed in feeds:
        values = dict(zip(inputs, session.run(inputs, feed)))
        for name, (activation, weight) in matmuls.items():
            errors[name].append(simulated_error(values[activation], weights[weight]))
    return {name: float(np.mean(found)) for name, found in errors.items()}


def quantise(source: Path, path: Path, keep_float: Sequence[str]) -> None:
    """Dynamic int8 (per-channel weights) of every weight MatMul of ``source`` except ``keep_float``."""
    from onnxruntime.quantization import QuantType, quantize_dynamic

    # The quantiser logs a hint about optional pre-processing at WARNING on the root logger.
    root = logging.getLogger()
    level = root.level
    root.setLevel(logging.ERROR)
    try:
        quantize_dynamic(
            str(source),
            str(path),
            weight_type=QuantType.QInt8,
            per_channel=True,
            op_types_to_quantize=["MatMul"],
            nodes_to_exclude=list(keep_float),
        )
    finally:
        root.setLevel(level)


def search(
    source: Path,
    path: Path,
    feeds: Sequence[dict[str, np.ndarray]],
    evaluate: Evaluate,
    *,
    steps: Sequence[int] = KEEP_FLOAT_STEPS,
    say: Callable[[str], None] = lambda line: None,
) -> QuantReport:
    """Write to ``path`` the most-int8 candidate that meets the margin targets (see the module docstring).

    When no candidate meets them, the one with the highest entity agreement is written and
    ``met_target`` is false; the export's own gate then judges it like any other file.
    """
    errors = sensitivity(source, feeds)
    ranked = sorted(errors, key=errors.get, reverse=True)
    candidates: list[Candidate] = []
    best: tuple[float, int] | None = None
    chosen = None
    for k in sorted({min(step, len(ranked)) for step in steps}):
        quantise(source, path, ranked[:k])
        agreement, drop = evaluate(path)
        meets = agreement >= TARGET_AGREEMENT and drop <= TARGET_F1_DROP
        candidates.append(Candidate(k, agreement, drop, meets))
        say(
            f"int8 with the {k} most sensitive products in float: entity agreement {agreement:.4f}, "
            f"F1 drop {100 * drop:+.2f} points" + (" (meets the margin)" if meets else "")
        )
        if best is None or agreement > best[0]:
            best = (agreement, k)
        if meets:
            chosen = k
            break
    if chosen is None:
        chosen = best[1] if best else 0
        quantise(source, path, ranked[:chosen])
    reason = (
        f"among the {chosen} products with the largest simulated int8 error; int8 with more of them "
        f"missed agreement >= {TARGET_AGREEMENT} or F1 drop <= {100 * TARGET_F1_DROP:.1f} points"
    )
    return QuantReport(
        target_agreement=TARGET_AGREEMENT,
        target_f1_drop=TARGET_F1_DROP,
        sensitivity={name: round(errors[name], 6) for name in ranked},
        int8_nodes=ranked[chosen:],
        float_nodes={name: f"{reason} (error {errors[name]:.4f})" for name in ranked[:chosen]},
        candidates=candidates,
        met_target=any(c.meets_target for c in candidates),
    )
