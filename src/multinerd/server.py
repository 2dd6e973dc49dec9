"""HTTP API and demo page over one or more Taggers (FastAPI).

Endpoints:

* ``POST /predict`` -- body ``{"text": "..."}``, ``{"texts": ["...", ...]}`` or
  ``{"tokens": [["word", ...], ...]}``, plus an optional ``"model"`` name (default: the
  first model). Answers ``{"model", "types", "results": [{"text" or "tokens", "entities"}]}``
  with entities ``{"text", "type", "start", "end", "score"}`` exactly as :class:`Tagger`
  gives them; a ``{"text"}`` request also gets its ``"entities"`` at the top level.
* ``GET /health``, ``GET /models`` (name, entity types and labels of each model).
* ``GET /`` -- the demo page, served from the package (``multinerd/static``), so it works offline.

Every error is JSON ``{"detail": "..."}``: 413 for a body, a text or a batch over the
configured limits, 400 for a body that is not UTF-8, 422 for a body that is not JSON, not
one of the shapes above, or text holding a lone surrogate, 404 for an unknown model name. Bad
requests never reach a model, so the server keeps serving after any of them. Input that only
the Tagger can judge, refused with a TaggerError or AlignmentError, is a 422 as well; 500 is
left for a model call that fails.

Model calls are blocking: they run in worker threads, at most ``max_concurrency`` at a
time (one by default: a model call already uses every core, and a Tagger keeps per-call
state), so a burst of requests queues instead of oversubscribing the CPU.
"""

from __future__ import annotations

import json
import re
import threading
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from fastapi import FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles
from starlette.concurrency import run_in_threadpool

from multinerd.modelhub import ModelNotFoundError
from multinerd.features import AlignmentError
from multinerd.tagger import Tagger, TaggerError

STATIC_DIR = Path(__file__).parent / "static"
#: Defaults sized for an interactive demo and small batch clients; raise them for bulk use.
MAX_BODY_BYTES = 1_000_000
MAX_TEXT_CHARS = 100_000
MAX_DOCUMENTS = 256
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REQUEST_SHAPES = (
    '{"text": str}, {"texts": [str, ...]} or {"tokens": [[str, ...], ...]}, optionally with "model"'
)


class ServeError(ValueError):
    """Models that cannot be served as asked (duplicate or missing names)."""


def _http_error(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        raise _http_error(413, f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > limit:
            raise _http_error(413, f"request body exceeds the limit of {limit} bytes")
        chunks.append(chunk)
    return b"".join(chunks)


def _parse_json(body: bytes) -> Any:
    try:
        text = body.decode("utf-8")
    except UnicodeDecodeError as err:
        raise _http_error(400, f"request body is not UTF-8 (invalid byte at offset {err.start})") from None
    try:
        return json.loads(text)
    except json.JSONDecodeError as err:
        where = f"line {err.lineno} column {err.colno}"
        raise _http_error(422, f"request body is not JSON: {err.msg} at {where}") from None
    except (ValueError, RecursionError) as err:
        # Valid JSON syntax that Python refuses to build: an integer of thousands of digits, or
        # arrays nested deeper than the interpreter's recursion limit.
        raise _http_error(422, f"request body is not usable JSON: {type(err).__name__}: {err}") from None


def _is_str_list(value: Any) -> bool:
    return isinstance(value, list) and all(isinstance(item, str) for item in value)


def _refuse_surrogates(kind: str, documents: list[Any]) -> None:
    """Raise 422 naming the field, document, word and offset of the first lone surrogate.

    JSON's ``\\ud800`` escapes decode to such characters (a proper pair decodes to one real
    character), so what is left in the surrogate range is not Unicode text: no tokenizer can
    encode it and no JSON answer can carry it back, so it is refused before it reaches a model.
    """
    for index, document in enumerate(documents):
        if kind == "tokens":
            strings = [(f"'tokens'[{index}][{word}]", text) for word, text in enumerate(document)]
        else:
            strings = [("'text'" if kind == "text" else f"'texts'[{index}]", document)]
        for field, text in strings:
            found = LONE_SURROGATE.search(text)
            if found is not None:
                raise _http_error(
                    422,
                    f"{field} holds a lone surrogate U+{ord(found.group()):04X} at character {found.start()}: "
                    "expected valid Unicode text (a character outside the BMP is escaped as a surrogate pair)",
                )


def parse_request(
    payload: Any, *, max_text_chars: int, max_documents: int
) -> tuple[str, list[Any], str | None]:
    """``(kind, documents, model)`` from a decoded body; raises 422 for a wrong shape, 413 over a limit."""
    if not isinstance(payload, dict):
        raise _http_error(422, f"expected a JSON object: {REQUEST_SHAPES}; found {type(payload).__name__}")
    unknown = sorted(set(payload) - {"text", "texts", "tokens", "model"})
    kinds = [key for key in ("text", "texts", "tokens") if key in payload]
    if unknown or len(kinds) != 1:
        found = f"unknown field(s) {unknown}" if unknown else f"fields {sorted(payload) or 'none'}"
        raise _http_error(422, f"expected {REQUEST_SHAPES}; found {found}")
    kind, value, model = kinds[0], payload[kinds[0]], payload.get("model")
    if model is not None and not isinstance(model, str):
        raise _http_error(422, f"'model' must be a string, found {type(model).__name__}")
    if kind == "text" and not isinstance(value, str):
        raise _http_error(422, f"'text' must be a string, found {type(value).__name__}")
    if kind == "texts" and not _is_str_list(value):
        raise _http_error(422, "'texts' must be a list of strings")
    if kind == "tokens" and not (isinstance(value, list) and all(_is_str_list(words) for words in value)):
        raise _http_error(422, "'tokens' must be a list of lists of strings (one list of words per sentence)")
    documents = [value] if kind == "text" else list(value)
    if len(documents) > max_documents:
        raise _http_error(413, f"{len(documents)} documents in one request; the limit is {max_documents}")
    for index, document in enumerate(documents):
        size = len(document) if isinstance(document, str) else sum(len(word) + 1 for word in document)
        if size > max_text_chars:
            raise _http_error(413, f"document {index} has {size} characters; the limit is {max_text_chars}")
    _refuse_surrogates(kind, documents)
    return kind, documents, model


def _model_info(name: str, tagger: Tagger, default: str) -> dict[str, Any]:
    return {"name": name, "types": tagger.types, "labels": list(tagger.labels), "default": name == default}


def create_app(
    models: Mapping[str, Tagger],
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_text_chars: int = MAX_TEXT_CHARS,
    max_documents: int = MAX_DOCUMENTS,
    max_concurrency: int = 1,
) -> FastAPI:
    """The FastAPI app serving ``models`` (name -> Tagger; the first is the default).

    >>> app = create_app({"A": Tagger.from_pretrained("runs/quickstart/A")})  # doctest: +SKIP
    """
    if not models:
        raise ServeError("no models to serve; give at least one")
    taggers = dict(models)
    default = next(iter(taggers))
    # A thread semaphore, not an event-loop one: it holds whichever loop (or test client) calls.
    slots = threading.BoundedSemaphore(max_concurrency)
    app = FastAPI(title="multinerd", summary="Named-entity recognition: entities with character offsets")

    def tag(tagger: Tagger, kind: str, documents: list[Any]) -> list[list[dict[str, Any]]]:
        with slots:
            return tagger.predict_tokens(documents) if kind == "tokens" else tagger.predict_text(documents)

    @app.post("/predict")
    async def predict(request: Request) -> dict[str, Any]:
        kind, documents, name = parse_request(
            _parse_json(await _read_body(request, max_body_bytes)),
            max_text_chars=max_text_chars,
            max_documents=max_documents,
        )
        name = name or default
        if name not in taggers:
            raise _http_error(404, f"unknown model {name!r}; serving {', '.join(taggers)}")
        tagger = taggers[name]
        try:
            entities = await run_in_threadpool(tag, tagger, kind, documents)
        except (TaggerError, AlignmentError) as err:
            # Input the Tagger cannot tag; any other failure (a model bug) stays a 500.
            raise _http_error(422, f"input cannot be tagged: {type(err).__name__}: {err}") from None
        field = "tokens" if kind == "tokens" else "text"
        results = [{field: document, "entities": found} for document, found in zip(documents, entities)]
        response: dict[str, Any] = {"model": name, "types": tagger.types, "results": results}
        if kind == "text":
            response["entities"] = entities[0]
        return response

    @app.exception_handler(Exception)
    async def internal_error(request: Request, error: Exception) -> JSONResponse:
        # A failing model call answers this request only; the next request is served as usual.
        message = f"prediction failed: {type(error).__name__}: {error}"
        return JSONResponse(status_code=500, content={"detail": message})

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(taggers)}

    @app.get("/models")
    def list_models() -> dict[str, Any]:
        return {"models": [_model_info(name, tagger, default) for name, tagger in taggers.items()],
                "limits": {"max_body_bytes": max_body_bytes, "max_text_chars": max_text_chars,
                           "max_documents": max_documents}}

    @app.get("/", include_in_schema=False)
    def index() -> FileResponse:
        return FileResponse(STATIC_DIR / "index.html", media_type="text/html")

    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    return app


def model_names(specs: Sequence[str]) -> dict[str, Path]:
    """``--model`` values to names: ``DIR`` is named by its directory name, ``NAME=DIR`` explicitly."""
    named: dict[str, Path] = {}
    for spec in specs:
        name, sep, path = spec.partition("=")
        directory = Path(path if sep else spec)
        name = name if sep else directory.resolve().name
        if not directory.is_dir():
            raise ModelNotFoundError(f"model directory not found: {directory}")
        if name in named:
            raise ServeError(
                f"two models named {name!r} ({named[name]} and {directory}); name them as NAME=DIR"
            )
        named[name] = directory
    return named


def serve(
    specs: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    backend: str | None = None,
    precision: str = "fp32",
    batch_size: int = 32,
    **limits: int,
) -> None:
    """Load the models named by ``specs`` (see :func:`model_names`) and serve them until interrupted."""
    import uvicorn

    taggers = {}
    for name, path in model_names(specs).items():
        taggers[name] = Tagger.from_pretrained(path, backend=backend, precision=precision, batch_size=batch_size)
        taggers[name].name = name
    uvicorn.run(create_app(taggers, **limits), host=host, port=port)
