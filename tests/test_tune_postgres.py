"""The README's cluster recipe for ``tune``, run for real: two workers share one study on a PostgreSQL server.

The server is Debian's ``postgresql`` (``.ci/run`` installs it), started with ``initdb`` and
``pg_ctl`` in a temporary directory on a free port, as an unprivileged user when the tests run
as root (PostgreSQL refuses to run as root). Skipped, with the reason, only where no server
or no driver is installed.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import socket
import subprocess
import tempfile
from collections.abc import Iterator
from pathlib import Path

import optuna
import pytest

from conftest import save_tiny_model
from multinerd.apps.tune import FINISHED
from test_tune import ENV, _tune_command

psycopg = pytest.importorskip("psycopg", reason="no PostgreSQL driver: pip install -e '.[dev]' installs psycopg")
#: The unprivileged account the server runs as when the tests run as root (Debian's package creates it).
SERVER_USER = "postgres"


def _server_binaries() -> Path | None:
    """The directory of ``initdb`` and ``pg_ctl``: on PATH, else Debian's versioned directory."""
    found = shutil.which("initdb") or next(iter(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1:]), None)
    return Path(found).parent if found else None


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


def _as_server_user(command: list[str]) -> list[str]:
    return ["runuser", "-u", SERVER_USER, "--", *command] if os.geteuid() == 0 else command


@pytest.fixture(scope="module")
def postgres_url() -> Iterator[str]:
    """A fresh PostgreSQL server with an empty database ``optuna``; its SQLAlchemy URL."""
    binaries = _server_binaries()
    if binaries is None:
        pytest.skip("no PostgreSQL server installed (Debian: apt-get install postgresql; .ci/run installs it)")
    root = Path(tempfile.mkdtemp(prefix="multinerd-pg-"))
    if os.geteuid() == 0:
        account = pwd.getpwnam(SERVER_USER)
        os.chown(root, account.pw_uid, account.pw_gid)
    data, port = root / "data", _free_port()
    subprocess.run(_as_server_user([str(binaries / "initdb"), "-D", str(data), "-U", "multinerd", "-A", "trust",
                                    "-E", "UTF8"]), check=True, capture_output=True)  # fmt: skip
    options = f"-p {port} -k {root} -c listen_addresses=127.0.0.1 -c fsync=off"
    subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-o", options, "-l",
                                    str(root / "server.log"), "-w", "start"]), check=True, capture_output=True)  # fmt: skip
    try:
        with psycopg.connect(f"postgresql://multinerd@127.0.0.1:{port}/postgres", autocommit=True) as db:
            db.execute("CREATE DATABASE optuna")
        yield f"postgresql+psycopg://multinerd@127.0.0.1:{port}/optuna"
    finally:
        subprocess.run(_as_server_user([str(binaries / "pg_ctl"), "-D", str(data), "-m", "immediate", "stop"]),
                       check=False, capture_output=True)  # fmt: skip
        shutil.rmtree(root, ignore_errors=True)


@pytest.mark.e2e
@pytest.mark.slow
def test_two_workers_share_one_study_on_a_real_postgresql(tmp_path, postgres_url):
    encoder = save_tiny_model(tmp_path / "encoder")
    workers = [
        subprocess.Popen(
            _tune_command(encoder, tmp_path / f"worker{i}", "--storage", postgres_url, "--study", "shared",
                          "--trials", "4"),
            env=ENV, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
        )
        for i in range(2)
    ]  # fmt: skip
    for worker in workers:
        _, err = worker.communicate(timeout=600)
        assert worker.returncode == 0, err[-2000:]
    trials = optuna.load_study(study_name="shared", storage=postgres_url).trials
    finished = [t for t in trials if t.state in FINISHED]
    assert 4 <= len(finished) <= 5  # each worker stops after its trial that reaches 4
    assert all(t.state in FINISHED for t in trials)  # nothing left running or failed
    assert len({t.number for t in trials}) == len(trials)  # no trial number handed out twice
    assert len({t.user_attrs["worker"] for t in finished}) == 2  # both workers ran trials
    assert len({tuple(sorted(t.params.items())) for t in finished}) == len(finished)  # no trial ran twice
    # The study lives in the server: its own tables hold every trial, each once.
    url = postgres_url.replace("postgresql+psycopg://", "postgresql://")
    with psycopg.connect(url) as db:
        rows = db.execute("SELECT number FROM trials ORDER BY number").fetchall()
    assert [number for (number,) in rows] == sorted(t.number for t in trials)
    seen = max(len((tmp_path / f"worker{i}" / "trials.jsonl").read_text().splitlines()) for i in range(2))
    assert seen == len(trials)
