"""The ways of running a model: PyTorch in fp32 or bf16, ONNX Runtime in fp32 or int8.

Each backend is an object with one call, ``logits(input_ids, attention_mask) -> logits``
(int64 numpy arrays in, float32 numpy ``[batch, length, labels]`` out), which is all the
:class:`~multinerd.model.tagger.Tagger` needs. :func:`load_backend` is the one loader by name;
the exporter writes the files named here and the tagger runs them.

Precision is chosen, never assumed: ``auto`` computes in bf16 on a GPU that reports native
bf16, and on a CPU only where bf16 *measured* faster than fp32 for this model's shape
(:mod:`multinerd.model.autoprecision`: a CPU without AVX-512 BF16 or AMX gets fp32 without
measuring); asking for ``bf16`` on a CPU without those flags is an error rather than a slow
emulation. Weights stay fp32 on disk either way.

The ONNX path imports neither torch nor transformers' model code; the PyTorch path runs a plain
BERT token classifier without transformers' model code too (:mod:`multinerd.model.plain_bert`),
and any other architecture through transformers.
"""

from __future__ import annotations

import logging
import os
import warnings
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

from multinerd import hardware
from multinerd.hardware import BF16_CPU_FLAGS, usable_cpus
from multinerd.model.modeldir import REFUSED_SUFFIX, has_torch_weights, require_dir

Forward = Callable[[np.ndarray, np.ndarray], np.ndarray]
logger = logging.getLogger(__name__)

ONNX_FILE = "model.onnx"
INT8_FILE = "model_int8.onnx"
#: Backend names and the file each one runs (``None``: the PyTorch weights of a model directory).
BACKEND_FILES: dict[str, str | None] = {"torch": None, "onnx": ONNX_FILE, "onnx-int8": INT8_FILE}
BACKENDS = tuple(BACKEND_FILES)
#: What ``--precision`` accepts; ONNX graphs compute in the format they were written in.
PRECISIONS = ("auto", "fp32", "bf16")


class BackendError(ValueError):
    """An unknown backend or precision, or a precision the hardware cannot compute in."""


class RefusedExportWarning(Warning):
    """An exported file that failed its parity check and was kept with ``--force``.

    Its own class, so that no filter of library warnings can hide it.
    """


def resolve_precision(requested: str, device: str, encoder: Any = None) -> str:
    """``fp32`` or ``bf16`` for ``requested`` (``auto``, ``fp32``, ``bf16``) on ``device`` (``cpu``, ``cuda``...).

    ``encoder`` (a transformers config, or ``None`` for the bundled MiniLM's shape) is the
    model ``auto`` decides for on a CPU (:mod:`multinerd.model.autoprecision`); the choice and
    its reason are logged.
    """
    return choose_precision(requested, device, encoder)[0]


def choose_precision(requested: str, device: str, encoder: Any = None) -> tuple[str, str]:
    """:func:`resolve_precision` with its reason: ``("fp32", "bf16 measured 0.42x fp32 on ...")``."""
    if requested not in PRECISIONS:
        raise BackendError(f"unknown precision {requested!r}; expected one of {', '.join(PRECISIONS)}")
    if requested == "fp32":
        return "fp32", "asked for"
    if device.startswith("cuda"):
        import torch

        if torch.cuda.is_bf16_supported():
            return "bf16", "this GPU computes bf16 natively"
        if requested == "bf16":
            raise BackendError("precision bf16: this GPU has no native bf16 arithmetic; use auto or fp32")
        return "fp32", "this GPU has no native bf16"
    if requested == "bf16":
        if hardware.cpu_bf16_feature() is None:
            raise BackendError(
                f"precision bf16: this CPU ({hardware.cpu_name()}: no {' or '.join(BF16_CPU_FLAGS)} flag) has no "
                "native bf16 arithmetic; use auto or fp32"
            )
        return "bf16", "asked for"
    from multinerd.model.autoprecision import EncoderShape, cpu_verdict

    verdict = cpu_verdict(EncoderShape.of(encoder) if encoder is not None else default_shape())
    logger.info("%s", verdict.line())
    return verdict.precision, verdict.reason


def default_shape() -> Any:
    """The bundled MiniLM-L6's shape, for a caller that names no encoder."""
    from multinerd.model.autoprecision import EncoderShape

    return EncoderShape(hidden=384, intermediate=1536, heads=12, layers=6)


# ---------------------------------------------------------------------------- PyTorch


class TorchBackend:
    """A PyTorch token-classification model; ``precision="bf16"`` runs it under bf16 autocast.

    In bf16 the linear layers' weights are cast to bf16 once, here: autocast would cast
    them on every call (for a small batch that costs as much as the matmuls), and since it
    computes linear layers in bf16 anyway the results are bit-identical. Layer norms,
    softmax and embeddings keep fp32 as autocast decides. The caller's model is changed.
    """

    def __init__(self, model: Any, device: str, precision: str = "fp32") -> None:
        import torch

        self.torch = torch
        self.device = torch.device(device)
        self.precision, self.precision_reason = choose_precision(precision, self.device.type, model.config)
        self.model = model.to(self.device).eval()
        if self.precision == "bf16":
            for module in self.model.modules():
                if isinstance(module, torch.nn.Linear):
                    module.to(torch.bfloat16)
        if self.device.type == "cpu" and "OMP_NUM_THREADS" not in os.environ:
            # torch counts the machine's cores; a container or a taskset may allow fewer.
            torch.set_num_threads(max(1, min(torch.get_num_threads(), usable_cpus())))

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        torch = self.torch
        bf16 = self.precision == "bf16"
        with torch.inference_mode(), torch.autocast(self.device.type, dtype=torch.bfloat16, enabled=bf16):
            output = self.model(
                input_ids=torch.from_numpy(input_ids).to(self.device),
                attention_mask=torch.from_numpy(attention_mask).to(self.device),
            )
        return output.logits.float().cpu().numpy()


# ---------------------------------------------------------------------------- ONNX Runtime


def refused_reason(path: Path) -> str | None:
    """Why an exported file failed its parity check, when it was kept with ``--force``."""
    marker = path.with_name(path.name + REFUSED_SUFFIX)
    return marker.read_text(encoding="utf-8").strip() if marker.is_file() else None


def session_source(path: Path) -> str | bytes:
    """What ONNX Runtime loads for ``path``: the file itself, or the int8 file with its weights widened
    to uint8 where this CPU has no VNNI or AMX (see :func:`multinerd.model.quantise.unsigned_weights`)."""
    if path.name != INT8_FILE or hardware.cpu_int8_dot_feature():
        return str(path)
    import onnx

    from multinerd.model.quantise import unsigned_weights

    return unsigned_weights(onnx.load(str(path))).SerializeToString()


class OnnxBackend:
    """An ONNX Runtime session.

    CPU only, with intra-op threads set to the CPUs this process may use (ONNX Runtime
    counts the machine's cores, which a container or taskset may not grant) and one
    inter-op thread: a BERT graph is a chain, so parallel branches buy nothing.
    """

    def __init__(self, path: str | Path, *, threads: int | None = None) -> None:
        import onnxruntime

        from multinerd.model.modelhub import ModelNotFoundError

        path = Path(path)
        if not path.is_file():
            raise ModelNotFoundError(f"ONNX model not found: {path}; write one with `multinerd export`")
        reason = refused_reason(path)
        if reason:
            warnings.warn(
                f"{path} failed its parity check and was kept with --force ({reason}); "
                "its entities may differ from the trained model's",
                RefusedExportWarning,
                stacklevel=2,
            )
        options = onnxruntime.SessionOptions()
        options.intra_op_num_threads = threads or usable_cpus()
        options.inter_op_num_threads = 1
        self.path = path
        self.precision = "int8" if path.name == INT8_FILE else "fp32"
        self.session = onnxruntime.InferenceSession(session_source(path), options, providers=["CPUExecutionProvider"])
        names = {node.name for node in self.session.get_inputs()}
        if names != {"input_ids", "attention_mask"}:
            raise BackendError(f"{path}: inputs are {sorted(names)}; expected attention_mask and input_ids")

    def logits(self, input_ids: np.ndarray, attention_mask: np.ndarray) -> np.ndarray:
        feeds = {"input_ids": input_ids.astype(np.int64), "attention_mask": attention_mask.astype(np.int64)}
        return self.session.run(["logits"], feeds)[0]


# ---------------------------------------------------------------------------- one loader


def detect_backend(directory: str | Path) -> str:
    """The backend a directory is for: ``torch`` when it has PyTorch weights, else ``onnx`` for an export."""
    path = require_dir(directory)
    if has_torch_weights(path):
        return "torch"
    if (path / ONNX_FILE).is_file():
        return "onnx"
    from multinerd.model.modelhub import ModelNotFoundError

    raise ModelNotFoundError(
        f"{path}: neither PyTorch weights (model.safetensors) nor {ONNX_FILE}; "
        "give a directory written by `multinerd train` or `multinerd export`"
    )


def check_backend(backend: str, directory: Path) -> None:
    if backend not in BACKEND_FILES:
        raise BackendError(f"unknown backend {backend!r} for {directory} (expected one of {', '.join(BACKENDS)})")


def load_backend(
    directory: str | Path, backend: str | None = None, *, device: str | None = None, precision: str = "fp32"
) -> TorchBackend | OnnxBackend:
    """The backend object for a directory; ``backend=None`` picks it from the files (:func:`detect_backend`)."""
    path = require_dir(directory)
    backend = backend or detect_backend(path)
    check_backend(backend, path)
    file = BACKEND_FILES[backend]
    if file is not None:
        if precision == "bf16":
            raise BackendError(f"precision bf16 is for the torch backend; {backend} computes in its file's format")
        return OnnxBackend(path / file)
    import torch

    from multinerd.model import plain_bert

    model = plain_bert.load(path)
    if model is None:
        from transformers import AutoModelForTokenClassification

        model = AutoModelForTokenClassification.from_pretrained(path)
    return TorchBackend(model, device or ("cuda" if torch.cuda.is_available() else "cpu"), precision)
