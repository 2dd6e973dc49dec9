"""int8 by measurement: how each matrix multiply of an exported encoder is made int8, and which stay float.

**The scheme.** ONNX Runtime's ``quantize_dynamic`` quantises each activation tensor with
*one* scale for the whole batch. BERT-like encoders have a few huge activations (some
channels after LayerNorm, a few tokens after GELU), so one scale leaves every other value a
handful of int8 levels: on the quickstart's A, with every product int8 that way, only 96% of
the entities stayed the same, and a sentence's result depended on the batch it came in
(its scale was shared with padding and other sentences). This module writes the int8 graph
itself:

* **activations: one uint8 scale and zero point per token**, computed at run time
  (``ReduceMax``/``ReduceMin`` over the hidden axis, then one ``QuantizeLinear`` over the
  rows). A token's result no longer depends on its neighbours, and an outlier token costs
  only itself;
* **outlier channels in float** (LLM.int8()-style): the :data:`OUTLIER_CHANNELS` channels of
  each activation with the largest calibration maximum are zeroed before quantising and
  multiplied in float by their weight rows, in one small MatMul that also applies each
  token's zero point. With every product int8, validation/test entity agreement on the
  quickstart's A went from 0.9885/0.9842 without them to 0.9929/0.9909 with 8;
* **SmoothQuant-style channel scaling** of the other channels: a per-channel factor moves range
  from the activation into the weight's rows (``x / s`` before quantising, ``diag(s) W``
  folded into the weights), exact in real arithmetic. The strength ``alpha``
  (``s = max|x|^alpha / max|W|^(1 - alpha)``) is chosen per input by the simulated error,
  from :data:`SMOOTHING_ALPHAS`, or none;
* **weights: int8 per output channel**, multiplied in ONNX Runtime's fused
  ``MatMulIntegerToFloat``. Clipping weights to 7 bits, as ``quantize_dynamic``'s
  ``reduce_range`` does, cost agreement: on a retrained A with 4 products float, test entity
  agreement was 0.9845 with 7-bit weights and 0.9946 with 8-bit ones. Full-range int8
  weights saturate ONNX Runtime's uint8 x int8 kernel on CPUs without VNNI, so there the
  backend widens them to uint8 at load time (:func:`unsigned_weights`).

Where VNNI makes it exact, uint8 x int8 is the faster kernel: on an AVX-512 VNNI EPYC the
int8 products of a quickstart model ran in half the time of the same products as uint8 x uint8.

**The search** then measures which products may be int8:

1. **sensitivity**: on windows of the parity split, each product alone is made int8 and the
   graph's label distributions are compared with fp32 (mean KL divergence per token,
   :func:`output_sensitivity`). An error early in the encoder travels through every later
   layer, which a product's own rounding error (:func:`simulated_errors`, used to choose the
   smoothing) cannot see;
2. **selection**: the ``k`` most sensitive products stay float, for ``k`` in
   :data:`KEEP_FLOAT_STEPS`, and each candidate file is tagged against the PyTorch model; the
   first (most int8) candidate whose entity agreement and F1 drop meet the *margin* targets
   (:data:`TARGET_AGREEMENT`, :data:`TARGET_F1_DROP`, stricter than the export gate's) is kept.

The report (:class:`QuantReport`, in ``parity.json``) gives the scheme, every product's
measured sensitivity and smoothing strength, and why each float product stayed float.
"""

from __future__ import annotations

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
KEEP_FLOAT_STEPS = (0, 1, 2, 3, 4, 6, 8, 12, 16, 24)
#: Windows whose activations rank the products and set the smoothing factors.
SENSITIVITY_WINDOWS = 64
#: Largest weight magnitude (8 bits, symmetric).
WEIGHT_LEVELS = 127
#: The uint8 weights' zero point on CPUs without VNNI (:func:`unsigned_weights`).
WEIGHT_ZERO_POINT = 128
#: The fused integer product (ONNX Runtime's contrib operator): the int8 file runs on ONNX Runtime.
INT8_OP = "MatMulIntegerToFloat"
ORT_DOMAIN = "com.microsoft"
#: Channels of each activation kept in float (the largest by calibration maximum), LLM.int8()-style.
OUTLIER_CHANNELS = 8
#: SmoothQuant strengths tried per activation (``None``: no scaling); the lowest simulated error wins.
SMOOTHING_ALPHAS: tuple[float | None, ...] = (None, 0.25, 0.5, 0.75)
SCHEME = (
    f"activations uint8 per token (dynamic), the {OUTLIER_CHANNELS} largest channels in float; "
    f"weights int8 +-{WEIGHT_LEVELS} per output channel (uint8 at load time on CPUs without VNNI); "
    "SmoothQuant channel scaling per input, strength by simulated error"
)

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
    #: Mean KL divergence of the labels per token when only this MatMul is int8, by node name.
    sensitivity: dict[str, float]
    int8_nodes: list[str]
    #: Node name -> why it stayed float.
    float_nodes: dict[str, str]
    candidates: list[Candidate] = field(default_factory=list)
    met_target: bool = False
    scheme: str = SCHEME
    #: Node name -> the SmoothQuant strength its input got (``None``: no scaling).
    smoothing: dict[str, float | None] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


@dataclass
class InputPlan:
    """One activation tensor and the weight products that read it: they share its quantised copy."""

    activation: str
    #: Product node name -> weight initializer name.
    products: dict[str, str]
    alpha: float | None
    #: Per-channel divisor of the activation (ones without smoothing).
    scales: np.ndarray
    #: Product node name -> simulated relative error.
    errors: dict[str, float]
    #: Channels multiplied in float (their activation is zeroed before quantising, their weight rows after).
    outliers: np.ndarray = field(default_factory=lambda: np.zeros(0, np.int64))

    def int8_weight(self, weight: np.ndarray) -> np.ndarray:
        """The float weight the int8 product stands for: smoothed, without the outlier channels' rows."""
        smoothed = weight * self.scales[:, None]
        smoothed[self.outliers] = 0.0
        return smoothed

    def int8_activation(self, x: np.ndarray) -> np.ndarray:
        """The activation the int8 product quantises: smoothed, the outlier channels zeroed."""
        smoothed = x / self.scales
        smoothed[..., self.outliers] = 0.0
        return smoothed


def weight_matmuls(model: Any) -> dict[str, tuple[str, str]]:
    """``{node name: (activation input, weight initializer)}`` for every MatMul with a 2-D constant weight."""
    weights = {init.name for init in model.graph.initializer if len(init.dims) == 2}
    return {
        node.name: (node.input[0], node.input[1])
        for node in model.graph.node
        if node.op_type == "MatMul" and node.input[1] in weights
    }


def round_rows(x: np.ndarray) -> np.ndarray:
    """``x`` (tokens x channels) after uint8 quantisation with one scale and zero point per token, as the graph does."""
    low = np.minimum(x.min(axis=1, keepdims=True), 0.0)
    high = np.maximum(x.max(axis=1, keepdims=True), 0.0)
    scale = np.maximum((high - low) / 255, 1e-12)
    zero = np.round(low / scale)
    return (np.clip(np.round(x / scale) - zero, 0, 255) + zero) * scale


def quantise_weight(weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """``(int8 weight, per-column scale)``, symmetric, within +-:data:`WEIGHT_LEVELS`."""
    scale = np.abs(weight).max(axis=0) / WEIGHT_LEVELS
    scale[scale == 0] = 1.0
    return np.clip(np.round(weight / scale), -WEIGHT_LEVELS, WEIGHT_LEVELS).astype(np.int8), scale


def smoothing_scales(activation_max: np.ndarray, weights: Sequence[np.ndarray], alpha: float | None) -> np.ndarray:
    """SmoothQuant's per-channel divisor ``max|x|^alpha / max|W|^(1 - alpha)`` (ones where a maximum is 0)."""
    if alpha is None:
        return np.ones_like(activation_max)
    weight_max = np.abs(np.concatenate(weights, axis=1)).max(axis=1)
    usable = (activation_max > 0) & (weight_max > 0)
    scales = np.ones_like(activation_max)
    scales[usable] = activation_max[usable] ** alpha / weight_max[usable] ** (1 - alpha)
    return scales


def simulated_product(x: np.ndarray, weight: np.ndarray, plan: InputPlan) -> np.ndarray:
    """``x @ weight`` (tokens x channels) computed as the int8 graph computes it, in float64."""
    w_int, w_scale = quantise_weight(plan.int8_weight(weight))
    return round_rows(plan.int8_activation(x)) @ (w_int * w_scale) + x[:, plan.outliers] @ weight[plan.outliers]


def simulated_errors(activation: np.ndarray, weights: dict[str, np.ndarray], plan: InputPlan) -> dict[str, float]:
    """Mean relative error per token of each ``activation @ weight`` when both are rounded as the int8 graph rounds them.

    Per token, then averaged: one huge row must not hide that every other row lost its precision.
    """
    x = activation.astype(np.float64)
    errors = {}
    for name, weight in weights.items():
        weight = weight.astype(np.float64)
        exact = x @ weight
        norms = np.linalg.norm(exact, axis=1)
        diff = np.linalg.norm(simulated_product(x, weight, plan) - exact, axis=1)
        errors[name] = float(np.mean(diff / np.where(norms > 0, norms, 1.0)))
    return errors


def _real_tokens(source: Path, feeds: Sequence[dict[str, np.ndarray]]) -> tuple[Any, dict[str, np.ndarray]]:
    """The fp32 model and, per weight MatMul input, its values at the non-padding tokens of ``feeds``."""
    import onnx
    import onnxruntime

    model = onnx.load(str(source))
    inputs = sorted({activation for activation, _ in weight_matmuls(model).values()})
    probe = onnx.ModelProto()
    probe.CopyFrom(model)
    existing = {output.name for output in probe.graph.output}
    probe.graph.output.extend(
        onnx.helper.make_tensor_value_info(name, onnx.TensorProto.FLOAT, None) for name in inputs if name not in existing
    )
    session = onnxruntime.InferenceSession(probe.SerializeToString(), providers=["CPUExecutionProvider"])
    values: dict[str, list[np.ndarray]] = {name: [] for name in inputs}
    for feed in feeds:
        real = feed["attention_mask"].reshape(-1).astype(bool)
        for name, value in zip(inputs, session.run(inputs, feed)):
            values[name].append(value.reshape(-1, value.shape[-1])[real])
    return model, {name: np.concatenate(found) for name, found in values.items()}


def plan_inputs(source: Path, feeds: Sequence[dict[str, np.ndarray]]) -> list[InputPlan]:
    """Per activation input: the smoothing strength with the lowest mean simulated error, and each product's error."""
    from onnx import numpy_helper

    model, tokens = _real_tokens(source, feeds)
    initializers = {init.name: init for init in model.graph.initializer}
    readers: dict[str, dict[str, str]] = {}
    for name, (activation, weight) in weight_matmuls(model).items():
        readers.setdefault(activation, {})[name] = weight
    plans = []
    for activation, products in readers.items():
        weights = {name: numpy_helper.to_array(initializers[w]) for name, w in products.items()}
        x = tokens[activation]
        channel_max = np.abs(x).max(axis=0)
        outliers = np.sort(np.argsort(channel_max)[::-1][:OUTLIER_CHANNELS]).astype(np.int64)
        channel_max[outliers] = 0.0  # they stay float: no range to move into the weights
        best: InputPlan | None = None
        for alpha in SMOOTHING_ALPHAS:
            scales = smoothing_scales(channel_max, list(weights.values()), alpha).astype(np.float32)
            plan = InputPlan(activation, products, alpha, scales, {}, outliers)
            plan.errors = simulated_errors(x, weights, plan)
            if best is None or np.mean(list(plan.errors.values())) < np.mean(list(best.errors.values())):
                best = plan
        assert best is not None
        plans.append(best)
    return plans


def _label_distributions(model: Any, feeds: Sequence[dict[str, np.ndarray]]) -> list[np.ndarray]:
    """Log-probabilities of the labels at the real tokens of each batch of ``feeds``."""
    import onnxruntime

    session = onnxruntime.InferenceSession(model.SerializeToString(), providers=["CPUExecutionProvider"])
    found = []
    for feed in feeds:
        logits = session.run(None, feed)[0][feed["attention_mask"].astype(bool)].astype(np.float64)
        shifted = logits - logits.max(axis=-1, keepdims=True)
        found.append(shifted - np.log(np.exp(shifted).sum(axis=-1, keepdims=True)))
    return found


def output_sensitivity(source: Path, plans: Sequence[InputPlan], feeds: Sequence[dict[str, np.ndarray]]) -> dict[str, float]:
    """Per product: mean KL(fp32 || int8) of the label distribution per real token when it alone is int8."""
    import onnx

    model = onnx.load(str(source))
    reference = _label_distributions(model, feeds)
    names = [name for plan in plans for name in plan.products]
    sensitivity = {}
    for name in names:
        probe = _label_distributions(int8_model(model, plans, [other for other in names if other != name]), feeds)
        divergences = [(np.exp(p) * (p - q)).sum(axis=-1) for p, q in zip(reference, probe)]
        sensitivity[name] = float(np.concatenate(divergences).mean())
    return sensitivity


def _quantised_input(plan: InputPlan, prefix: str, constant: Callable[[str, np.ndarray], str]) -> list[Any]:
    """Nodes that give ``plan.activation``'s int8 form and the float input every product of it shares.

    ``{prefix}q``: uint8 per token (one ``QuantizeLinear`` pass over the 2-D view, one scale and
    zero point per row); ``{prefix}scale``: the per-token scale; ``{prefix}float_in``: the
    outlier channels and the per-token zero-point factor ``scale * zero``, which one small float
    MatMul per product turns into the outliers' contribution plus the zero-point correction.
    """
    from onnx import TensorProto, helper

    node = helper.make_node
    x = plan.activation
    nodes = []
    if plan.alpha is not None or len(plan.outliers):
        inverse = plan.int8_activation(np.ones_like(plan.scales))
        nodes.append(node("Mul", [x, constant(prefix + "inverse_smoothing", inverse)], [prefix + "smoothed"]))
        x = prefix + "smoothed"
    zero, top = constant(prefix + "0", np.float32(0)), constant(prefix + "255", np.float32(255))
    rows, flat = constant(prefix + "rows", np.array([-1, len(plan.scales)])), constant(prefix + "flat", np.array([-1]))
    float_in = [prefix + "zero_factor"]
    if len(plan.outliers):
        nodes.append(node("Gather", [plan.activation, constant(prefix + "outlier_channels", plan.outliers)],
                          [prefix + "outliers"], axis=-1))
        float_in.insert(0, prefix + "outliers")
    return nodes + [
        node("ReduceMax", [x], [prefix + "max"], axes=[-1], keepdims=1),
        node("ReduceMin", [x], [prefix + "min"], axes=[-1], keepdims=1),
        node("Max", [prefix + "max", zero], [prefix + "high"]),
        node("Min", [prefix + "min", zero], [prefix + "low"]),
        node("Sub", [prefix + "high", prefix + "low"], [prefix + "range"]),
        node("Div", [prefix + "range", top], [prefix + "raw_scale"]),
        node("Max", [prefix + "raw_scale", constant(prefix + "tiny", np.float32(1e-12))], [prefix + "scale"]),
        node("Div", [prefix + "low", prefix + "scale"], [prefix + "raw_zero"]),
        node("Round", [prefix + "raw_zero"], [prefix + "zero"]),  # <= 0: the negated zero point
        node("Neg", [prefix + "zero"], [prefix + "zero_point_float"]),
        node("Cast", [prefix + "zero_point_float"], [prefix + "zero_point"], to=TensorProto.UINT8),
        node("Reshape", [x, rows], [prefix + "x_rows"]),
        node("Reshape", [prefix + "scale", flat], [prefix + "scale_rows"]),
        node("Reshape", [prefix + "zero_point", flat], [prefix + "zero_point_rows"]),
        node("QuantizeLinear", [prefix + "x_rows", prefix + "scale_rows", prefix + "zero_point_rows"],
             [prefix + "q_rows"], axis=0),
        node("Shape", [x], [prefix + "shape"]),
        node("Reshape", [prefix + "q_rows", prefix + "shape"], [prefix + "q"]),
        node("Mul", [prefix + "scale", prefix + "zero"], [prefix + "zero_factor"]),
        node("Concat", float_in, [prefix + "float_in"], axis=-1),
    ]


def _int8_product(
    name: str, output: str, weight: np.ndarray, plan: InputPlan, prefix: str, constant: Callable[[str, np.ndarray], str]
) -> list[Any]:
    """The quantised input times the smoothed int8 weight, back to float in ``output``.

    ``s (q - z) W = s (q W) - s z colsum(W)``: ONNX Runtime's integer products take one activation
    zero point per tensor, so each token's goes into the small float product beside the
    outlier channels'. The integer product and its per-column scale run fused in ONNX Runtime's
    ``MatMulIntegerToFloat``; with ``MatMulInteger`` and the conversion as separate nodes,
    tagging 1,500 sentences took 10.2 s against 7.3 s (AMD EPYC without VNNI).
    """
    from onnx import helper

    w_int, w_scale = quantise_weight(plan.int8_weight(weight))
    w_scale = w_scale.astype(np.float32)
    p = f"{name}_int8_"
    inputs = [
        prefix + "q", constant(p + "weight", w_int), constant(p + "one", np.float32(1.0)),
        constant(p + "weight_scale", w_scale),
    ]
    column_terms = w_int.astype(np.float32).sum(axis=0) * w_scale
    float_rows = np.concatenate([weight[plan.outliers], column_terms[None, :]]).astype(np.float32)
    return [
        helper.make_node(INT8_OP, inputs, [p + "product"], name=f"{name}_int8", domain=ORT_DOMAIN),
        helper.make_node("Mul", [p + "product", prefix + "scale"], [p + "int8_part"]),
        helper.make_node("MatMul", [prefix + "float_in", constant(p + "float_rows", float_rows)], [p + "float_part"]),
        helper.make_node("Add", [p + "int8_part", p + "float_part"], [output]),
    ]


def unsigned_weights(model: Any) -> Any:
    """``model`` with every int8 weight stored as uint8 (+128, zero point 128): exact on CPUs without VNNI.

    Without VNNI, ONNX Runtime's uint8 x int8 kernel adds pairs of products in int16
    (``vpmaddubsw``), which full-range weights saturate (up to 39% error measured on such a
    CPU); its uint8 x uint8 kernel widens before it multiplies. With VNNI or AMX the int8
    weights are exact and the faster kernel (twice as fast on an AVX-512 VNNI EPYC).
    """
    from onnx import TensorProto, numpy_helper

    initializers = {init.name: init for init in model.graph.initializer}
    for node in model.graph.node:
        weight = initializers[node.input[1]] if node.op_type == INT8_OP else None
        if weight is None or weight.data_type != TensorProto.INT8:
            continue
        shifted = numpy_helper.to_array(weight).astype(np.int16) + WEIGHT_ZERO_POINT
        weight.CopyFrom(numpy_helper.from_array(shifted.astype(np.uint8), weight.name))
        zero_point = node.input[1] + "_zero_point"
        model.graph.initializer.append(numpy_helper.from_array(np.uint8(WEIGHT_ZERO_POINT), zero_point))
        del node.input[4:]
        node.input.extend(["", zero_point])
    return model


def int8_model(fp32: Any, plans: Sequence[InputPlan], keep_float: Sequence[str]) -> Any:
    """A copy of the ``fp32`` ONNX model with every planned product int8 (the scheme above) except ``keep_float``."""
    import onnx
    from onnx import numpy_helper

    model = onnx.ModelProto()
    model.CopyFrom(fp32)
    if all(opset.domain != ORT_DOMAIN for opset in model.opset_import):
        model.opset_import.append(onnx.helper.make_opsetid(ORT_DOMAIN, 1))
    initializers = {init.name: init for init in model.graph.initializer}
    added: list[Any] = []

    def constant(name: str, value: np.ndarray) -> str:
        added.append(numpy_helper.from_array(np.asarray(value), name))
        return name

    kept = set(keep_float)
    replaced: dict[str, list[Any]] = {}  # first product of an input -> the nodes that take its place
    for index, plan in enumerate(plans):
        products = [name for name in plan.products if name not in kept]
        if not products:
            continue
        prefix = f"int8_input{index}_"
        nodes = _quantised_input(plan, prefix, constant)
        outputs = {n.name: n.output[0] for n in model.graph.node if n.name in products}
        for name in products:
            weight = numpy_helper.to_array(initializers[plan.products[name]])
            nodes += _int8_product(name, outputs[name], weight, plan, prefix, constant)
        replaced[products[0]] = nodes
        replaced.update({name: [] for name in products[1:]})
    graph_nodes = [new for n in model.graph.node for new in replaced.get(n.name, [n])]
    del model.graph.node[:]
    model.graph.node.extend(graph_nodes)
    used = {name for n in graph_nodes for name in n.input}
    initializers = [init for init in model.graph.initializer if init.name in used] + added
    del model.graph.initializer[:]
    model.graph.initializer.extend(initializers)
    return model


def quantise(source: Path, path: Path, plans: Sequence[InputPlan], keep_float: Sequence[str]) -> None:
    """Write ``source`` to ``path`` with every planned product int8 except ``keep_float``."""
    import onnx

    onnx.save(int8_model(onnx.load(str(source)), plans, keep_float), str(path))


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
    plans = plan_inputs(source, feeds)
    errors = output_sensitivity(source, plans, feeds)
    ranked = sorted(errors, key=errors.get, reverse=True)
    candidates: list[Candidate] = []
    best: tuple[float, int] | None = None
    chosen = None
    for k in sorted({min(step, len(ranked)) for step in steps}):
        quantise(source, path, plans, ranked[:k])
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
        quantise(source, path, plans, ranked[:chosen])
    reason = (
        f"among the {chosen} products whose int8 alone moved the labels most; int8 with more of them "
        f"missed agreement >= {TARGET_AGREEMENT} or F1 drop <= {100 * TARGET_F1_DROP:.1f} points"
    )
    return QuantReport(
        target_agreement=TARGET_AGREEMENT,
        target_f1_drop=TARGET_F1_DROP,
        sensitivity={name: float(f"{errors[name]:.4g}") for name in ranked},
        int8_nodes=ranked[chosen:],
        float_nodes={name: f"{reason} (KL {errors[name]:.2g})" for name in ranked[:chosen]},
        candidates=candidates,
        met_target=any(c.meets_target for c in candidates),
        smoothing={name: plan.alpha for plan in plans for name in plan.products},
    )
