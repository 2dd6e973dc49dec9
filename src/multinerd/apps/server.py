"""HTTP API and demo page over one or more Taggers (FastAPI).

Endpoints:

* ``POST /predict`` -- body ``{"text": "..."}``, ``{"texts": ["...", ...]}`` or
  ``{"tokens": [["word", ...], ...]}``, plus an optional ``"model"`` name (default: the
  first model) and an optional ``"min_score"`` (0 to 1; default: the server's ``--min-score``,
  else none) below which entities are left out. Answers ``{"model", "types", "results": [{"text" or "tokens", "entities"}]}``
  with entities ``{"text", "type", "start", "end", "score"}`` exactly as :class:`Tagger`
  gives them; a ``{"text"}`` request also gets its ``"entities"`` at the top level.
* ``GET /health``, ``GET /models`` (name, entity types and labels of each model).
* ``GET /`` -- the demo page, served from the package (``multinerd/static``), so it works offline.

Every error is JSON ``{"detail": "..."}``: 413 for a body, a text or a batch over the
configured limits, 400 for a body that is not UTF-8, 422 for a body that is not JSON, not
one of the shapes above, text holding a lone surrogate, or an empty word in ``tokens``, 404
for an unknown model name, 401 for a missing or wrong API key. Bad requests never reach a
model, so the server keeps serving after any of them. Input that only the Tagger can judge,
refused with a TaggerError or AlignmentError, is a 422 as well; 500 is left for a model call
that fails.

A body over the limit is refused by its declared ``Content-Length`` before any of it is
stored; the rest is read and thrown away (up to :data:`DRAIN_BYTES`) so that a client that
sends its whole body before reading the answer, as ``urllib`` and ``requests`` do, sees the
413 instead of a reset connection.

With an API key (``create_app(api_key=...)``), ``/predict`` and ``/models`` need
``Authorization: Bearer KEY`` (compared in constant time); ``/health``, the page and its
assets stay open, and ``/health`` says whether a key is needed so the page can ask for one.

Requests to the same model are batched (:class:`Batcher`): a request waits up to
``batch_wait_ms`` for others, and up to ``max_batch_documents`` documents are tagged in one
model call; each request gets its own results, in order, and when a shared call fails each
request is tagged alone, so a bad request never fails the others. Model calls are blocking
and run in a worker thread per model, at most ``max_concurrency`` at a time across models (one
by default: a model call already uses every core), so a burst queues instead of oversubscribing
the CPU. One log line per request gives method, path, status, latency and sizes, never the text.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import errno
import hmac
import ipaddress
import json
import logging
import re
import socket
import threading
import time
from collections.abc import AsyncIterator, Mapping, Sequence
from dataclasses import dataclass
from dataclasses import field as dataclass_field
from pathlib import Path
from typing import Any

from fastapi import Depends, FastAPI, HTTPException, Request
from fastapi.responses import FileResponse, JSONResponse
from fastapi.staticfiles import StaticFiles

from multinerd.evaluate.calibration import drop_below
from multinerd.model.features import AlignmentError
from multinerd.model.modelhub import ModelNotFoundError
from multinerd.model.tagger import Tagger, TaggerError

STATIC_DIR = Path(__file__).resolve().parents[1] / "static"
#: Defaults sized for an interactive demo and small batch clients; raise them for bulk use.
MAX_BODY_BYTES = 1_000_000
MAX_TEXT_CHARS = 100_000
MAX_DOCUMENTS = 256
#: How much of an oversized body is read and discarded so the client sees the 413 (see above).
DRAIN_BYTES = 64_000_000
BATCH_WAIT_MS = 5.0
MAX_BATCH_DOCUMENTS = 64
logger = logging.getLogger(__name__)
LONE_SURROGATE = re.compile("[\ud800-\udfff]")
REQUEST_SHAPES = (
    '{"text": str}, {"texts": [str, ...]} or {"tokens": [[str, ...], ...]}, optionally with "model" '
    'and "min_score"'
)


class ServeError(ValueError):
    """Models that cannot be served as asked (duplicate or missing names)."""


def _http_error(status: int, message: str) -> HTTPException:
    return HTTPException(status_code=status, detail=message)


async def _discard_rest(request: Request, stream: AsyncIterator[bytes], already: int) -> None:
    """Read and drop what is left of a refused body, up to :data:`DRAIN_BYTES` in all.

    A client that asked ``Expect: 100-continue`` has not sent its body, and is not made to."""
    if "100-continue" in request.headers.get("expect", "").lower():
        return
    size = already
    async for chunk in stream:
        size += len(chunk)
        if size > DRAIN_BYTES:
            return  # past this the connection is closed on the client: bounded work for any body


async def _read_body(request: Request, limit: int) -> bytes:
    """The request body, refused with 413 as soon as it is known to exceed ``limit`` bytes;
    no more than ``limit`` bytes are ever kept."""
    stream = request.stream()
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > limit:
        await _discard_rest(request, stream, 0)
        raise _http_error(413, f"request body of {int(declared)} bytes exceeds the limit of {limit} bytes")
    chunks, size = [], 0
    async for chunk in stream:
        size += len(chunk)
        if size > limit:
            await _discard_rest(request, stream, size)
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
    unknown = sorted(set(payload) - {"text", "texts", "tokens", "model", "min_score"})
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
    if kind == "tokens":
        for index, words in enumerate(documents):
            empty = next((word for word, text in enumerate(words) if not text.strip()), None)
            if empty is not None:
                raise _http_error(
                    422, f"'tokens'[{index}][{empty}] is empty or blank: every word needs a character"
                )
    if len(documents) > max_documents:
        raise _http_error(413, f"{len(documents)} documents in one request; the limit is {max_documents}")
    for index, document in enumerate(documents):
        size = len(document) if isinstance(document, str) else sum(len(word) + 1 for word in document)
        if size > max_text_chars:
            raise _http_error(413, f"document {index} has {size} characters; the limit is {max_text_chars}")
    _refuse_surrogates(kind, documents)
    return kind, documents, model


@dataclass
class _Job:
    kind: str
    documents: list[Any]
    future: concurrent.futures.Future = dataclass_field(default_factory=concurrent.futures.Future)


class Batcher:
    """Gathers concurrent requests to one Tagger and tags them in shared model calls.

    A worker thread runs while requests are pending: it waits up to ``wait_s`` for more to
    arrive (less once ``max_documents`` are pending), takes whole requests in arrival order up
    to ``max_documents`` documents (always at least one request), tags raw texts and word
    lists each in one call, and hands each request its slice of the results. A call that
    fails is repeated request by request, so only the request at fault gets the error.
    """

    def __init__(self, tagger: Tagger, slots: threading.BoundedSemaphore, wait_s: float, max_documents: int):
        self.tagger = tagger
        self.slots = slots
        self.wait_s = wait_s
        self.max_documents = max(1, max_documents)
        self._pending: list[_Job] = []
        self._ready = threading.Condition()
        self._running = False

    def submit(self, kind: str, documents: list[Any]) -> concurrent.futures.Future:
        """Queue one request; the future gives its entities, one list per document, in order."""
        job = _Job(kind, documents)
        with self._ready:
            self._pending.append(job)
            if not self._running:
                self._running = True
                threading.Thread(target=self._work, name=f"batcher-{self.tagger.name}", daemon=True).start()
            elif self._pending_documents() >= self.max_documents:
                self._ready.notify()
        return job.future

    def _pending_documents(self) -> int:
        return sum(len(job.documents) for job in self._pending)

    def _take(self) -> list[_Job]:
        taken, size = [], 0
        while self._pending and (not taken or size + len(self._pending[0].documents) <= self.max_documents):
            size += len(self._pending[0].documents)
            taken.append(self._pending.pop(0))
        return taken

    def _work(self) -> None:
        while True:
            with self._ready:
                deadline = time.monotonic() + self.wait_s
                while self._pending and self._pending_documents() < self.max_documents:
                    left = deadline - time.monotonic()
                    if left <= 0:
                        break
                    self._ready.wait(left)
                batch = self._take()
                if not batch:
                    self._running = False
                    return
            for kind in ("text", "tokens"):
                jobs = [job for job in batch if (job.kind == "tokens") == (kind == "tokens")]
                if jobs:
                    self._tag(kind, jobs)

    def _call(self, kind: str, documents: list[Any]) -> list[list[dict[str, Any]]]:
        with self.slots:
            if kind == "tokens":
                return self.tagger.predict_tokens(documents)
            return self.tagger.predict_text(documents)

    def _tag(self, kind: str, jobs: list[_Job]) -> None:
        try:
            found = self._call(kind, [document for job in jobs for document in job.documents])
        except Exception as error:  # noqa: BLE001 -- handed to the request(s), never lost
            if len(jobs) == 1:
                jobs[0].future.set_exception(error)
                return
            for job in jobs:  # someone's input broke the shared call: find whose
                self._tag(kind, [job])
            return
        start = 0
        for job in jobs:
            job.future.set_result(found[start : start + len(job.documents)])
            start += len(job.documents)


def _key_check(api_key: str | None) -> Any:
    """A FastAPI dependency that refuses requests without ``Authorization: Bearer api_key`` (401)."""
    expected = None if api_key is None else api_key.encode("utf-8")

    def check(request: Request) -> None:
        if expected is None:
            return
        scheme, _, given = request.headers.get("authorization", "").partition(" ")
        # Exact bytes, in constant time: no stripping, no case folding, no prefix match.
        if scheme.lower() != "bearer" or not hmac.compare_digest(given.encode("utf-8"), expected):
            raise HTTPException(
                status_code=401,
                detail="missing or wrong API key: send the header 'Authorization: Bearer KEY'",
                headers={"WWW-Authenticate": "Bearer"},
            )

    return Depends(check)


def request_min_score(payload: dict[str, Any], default: float | None) -> float | None:
    """The request's ``min_score`` (a number from 0 to 1; 422 otherwise), else ``default``."""
    value = payload.get("min_score", default)
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, float)) or not 0 <= value <= 1:
        raise _http_error(422, f"'min_score' must be a number from 0 to 1, found {value!r}")
    return float(value)


def _model_info(name: str, tagger: Tagger, default: str) -> dict[str, Any]:
    return {"name": name, "types": tagger.types, "labels": list(tagger.labels), "default": name == default,
            "decoding": tagger.decoding, "temperature": tagger.temperature}


async def _log_request(request: Request, call_next: Any) -> Any:
    """Log method, path, status, latency and sizes only: the submitted text never reaches a log."""
    started = time.perf_counter()
    response = await call_next(request)
    logger.info(
        "%s %s %d %.1f ms, %s bytes in, %s bytes out",
        request.method,
        request.url.path,
        response.status_code,
        1000 * (time.perf_counter() - started),
        request.headers.get("content-length", "?"),
        response.headers.get("content-length", "?"),
    )
    return response


async def _internal_error(request: Request, error: Exception) -> JSONResponse:
    """A 500 for this request only: after a failing model call the next request is served as usual."""
    message = f"prediction failed: {type(error).__name__}: {error}"
    return JSONResponse(status_code=500, content={"detail": message})


def _check_serving(models: Mapping[str, Tagger], api_key: str | None) -> None:
    """Refuse to start (ServeError) with nothing to serve or an empty key, which would lock everyone out."""
    if not models:
        raise ServeError("no models to serve; give at least one")
    if api_key is not None and not api_key.strip():
        raise ServeError("the API key is empty; give a non-empty --api-key or leave it out")


async def _tag(batcher: Batcher, kind: str, documents: list[Any]) -> list[list[dict[str, Any]]]:
    """The entities of each document, through the model's batcher; 422 for input the Tagger cannot tag."""
    try:
        return await asyncio.wrap_future(batcher.submit(kind, documents))
    except (TaggerError, AlignmentError) as err:
        # Input the Tagger cannot tag; any other failure (a model bug) stays a 500.
        raise _http_error(422, f"input cannot be tagged: {type(err).__name__}: {err}") from None


def create_app(
    models: Mapping[str, Tagger],
    *,
    max_body_bytes: int = MAX_BODY_BYTES,
    max_text_chars: int = MAX_TEXT_CHARS,
    max_documents: int = MAX_DOCUMENTS,
    max_concurrency: int = 1,
    api_key: str | None = None,
    batch_wait_ms: float = BATCH_WAIT_MS,
    max_batch_documents: int = MAX_BATCH_DOCUMENTS,
    min_score: float | None = None,
) -> FastAPI:
    """The FastAPI app serving ``models`` (name -> Tagger; the first is the default).

    ``min_score`` is the default of the request field of that name.

    >>> app = create_app({"A": Tagger.from_pretrained("runs/quickstart/A")})  # doctest: +SKIP
    """
    _check_serving(models, api_key)
    taggers = dict(models)
    default = next(iter(taggers))
    # A thread semaphore, not an event-loop one: it holds whichever loop (or test client) calls.
    slots = threading.BoundedSemaphore(max_concurrency)
    batchers = {
        name: Batcher(tagger, slots, batch_wait_ms / 1000, max_batch_documents)
        for name, tagger in taggers.items()
    }
    limits = {
        "max_body_bytes": max_body_bytes,
        "max_text_chars": max_text_chars,
        "max_documents": max_documents,
        "batch_wait_ms": batch_wait_ms,
        "max_batch_documents": max_batch_documents,
    }
    app = FastAPI(title="multinerd", summary="Named-entity recognition: entities with character offsets")
    keyed = _key_check(api_key)

    app.middleware("http")(_log_request)

    @app.post("/predict", dependencies=[keyed])
    async def predict(request: Request) -> dict[str, Any]:
        payload = _parse_json(await _read_body(request, max_body_bytes))
        kind, documents, name = parse_request(payload, max_text_chars=max_text_chars, max_documents=max_documents)
        threshold = request_min_score(payload, min_score)
        name = name or default
        if name not in taggers:
            raise _http_error(404, f"unknown model {name!r}; serving {', '.join(taggers)}")
        tagger = taggers[name]
        entities = [drop_below(found, threshold) for found in await _tag(batchers[name], kind, documents)]
        field = "tokens" if kind == "tokens" else "text"
        results = [{field: document, "entities": found} for document, found in zip(documents, entities)]
        response: dict[str, Any] = {"model": name, "types": tagger.types, "results": results}
        if kind == "text":
            response["entities"] = entities[0]
        return response

    app.add_exception_handler(Exception, _internal_error)

    @app.get("/health")
    def health() -> dict[str, Any]:
        return {"status": "ok", "models": list(taggers), "auth": api_key is not None}

    @app.get("/models", dependencies=[keyed])
    def list_models() -> dict[str, Any]:
        return {
            "models": [_model_info(name, tagger, default) for name, tagger in taggers.items()],
            "limits": limits,
        }

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


def is_loopback(host: str) -> bool:
    """True when every address ``host`` names is a loopback one (only this machine can connect)."""
    try:
        return ipaddress.ip_address(host.strip("[]")).is_loopback
    except ValueError:
        pass
    try:
        found = {info[4][0] for info in socket.getaddrinfo(host, None)}
    except OSError:
        return False
    return bool(found) and all(ipaddress.ip_address(address.split("%")[0]).is_loopback for address in found)


def check_exposure(host: str, api_key: str | None, no_auth: bool) -> None:
    """Refuse to serve beyond loopback without a key, unless ``no_auth`` says so explicitly."""
    if api_key is None and not no_auth and not is_loopback(host):
        raise ServeError(
            f"--host {host} lets other machines connect, and no API key is set: give --api-key KEY "
            "(or set MULTINERD_API_KEY), or --no-auth to serve without one"
        )


def check_port(host: str, port: int) -> None:
    """Fail now, before minutes of model loading, if ``host:port`` cannot be bound."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    with socket.socket(family, socket.SOCK_STREAM) as probe:
        probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as uvicorn binds
        try:
            probe.bind((host, port))
        except OSError as err:
            reason = (
                "is in use by another program"
                if err.errno == errno.EADDRINUSE
                else f"cannot be bound: {err.strerror}"
            )
            raise ServeError(f"port {port} on {host} {reason}; choose another with --port") from None


def serve(
    specs: Sequence[str],
    *,
    host: str = "127.0.0.1",
    port: int = 8000,
    backend: str | None = None,
    precision: str = "fp32",
    batch_size: int = 32,
    decoding: str | None = None,
    api_key: str | None = None,
    no_auth: bool = False,
    **settings: Any,
) -> None:
    """Load the models named by ``specs`` (see :func:`model_names`) and serve them until interrupted.

    ``settings`` go to :func:`create_app` (limits and batching). The address is checked first
    (exposure without a key, port in use), so a mistake costs no model loading.
    """
    import uvicorn

    from multinerd import progress

    check_exposure(host, api_key, no_auth)
    check_port(host, port)
    taggers = {}
    for name, path in model_names(specs).items():
        taggers[name] = Tagger.from_pretrained(
            path, backend=backend, precision=precision, batch_size=batch_size, decoding=decoding
        )
        taggers[name].name = name
    app = create_app(taggers, api_key=api_key, **settings)
    if not progress.is_quiet():
        logger.setLevel(logging.INFO)  # one line per request (no text), unless --quiet
    key_note = "API key required" if api_key else "no API key"
    progress.say(f"serving {', '.join(taggers)} on http://{host}:{port} ({key_note}); Ctrl+C stops")
    uvicorn.run(app, host=host, port=port, access_log=False, log_level="warning")
