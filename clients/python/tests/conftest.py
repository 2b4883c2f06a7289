"""Fixtures: real daemons (the binary from $OPENPACT_BIN) on temporary data dirs, and clients."""

from __future__ import annotations

import itertools
import os
import signal
import subprocess
import tempfile
import time
from collections.abc import AsyncIterator, Callable, Iterator
from pathlib import Path

import pytest

import openpact

REPO = Path(__file__).resolve().parents[3]
OPENPACT_BIN = Path(os.environ.get("OPENPACT_BIN") or REPO / "target" / "release" / "openpact")


def pytest_collection_modifyitems(config: pytest.Config, items: list[pytest.Item]) -> None:
    if not OPENPACT_BIN.exists():
        skip = pytest.mark.skip(reason=f"no daemon binary at {OPENPACT_BIN} (set OPENPACT_BIN)")
        for item in items:
            if {"daemon", "start_daemon"} & set(getattr(item, "fixturenames", ())):
                item.add_marker(skip)


class Daemon:
    """One `openpact start --foreground` on its own data dir."""

    def __init__(self, data_dir: Path) -> None:
        self.data_dir = data_dir
        self.socket = data_dir / "openpact.sock"
        self.log = data_dir.parent / f"{data_dir.name}.log"
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> Daemon:
        self.data_dir.mkdir(parents=True, exist_ok=True)
        with open(self.log, "ab") as log:
            self.process = subprocess.Popen(
                [
                    str(OPENPACT_BIN),
                    "--data-dir",
                    str(self.data_dir),
                    "start",
                    "--foreground",
                    "--port",
                    "0",
                    "--no-dashboard",
                    "--log-level",
                    "warn",
                ],
                stdout=log,
                stderr=subprocess.STDOUT,
                stdin=subprocess.DEVNULL,
            )
        deadline = time.monotonic() + 20
        with openpact.Client(self.data_dir, timeout=2) as client:
            while True:
                try:
                    client.ping()
                    return self
                except openpact.DaemonUnavailableError:
                    if self.process.poll() is not None or time.monotonic() > deadline:
                        self.stop()
                        raise RuntimeError(
                            f"daemon did not answer on {self.socket}; log:\n"
                            + self.log.read_text(errors="replace")[-4000:]
                        ) from None
                    time.sleep(0.02)

    def stop(self) -> None:
        if self.process is None or self.process.poll() is not None:
            return
        self.process.send_signal(signal.SIGTERM)
        try:
            self.process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            self.process.kill()
            self.process.wait()


@pytest.fixture(scope="session")
def daemon_root() -> Iterator[Path]:
    # Short: a unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="opy-") as root:
        yield Path(root)


@pytest.fixture(scope="session")
def daemon(daemon_root: Path) -> Iterator[Daemon]:
    """The daemon every test shares (tests make their own pacts in it)."""
    d = Daemon(daemon_root / "shared").start()
    yield d
    d.stop()


@pytest.fixture
def start_daemon(daemon_root: Path) -> Iterator[Callable[..., Daemon]]:
    """Starts fresh daemons (no pact yet) for the test (``start=False``: only makes its dir);
    all stop after the test."""
    made: list[Daemon] = []

    def make(start: bool = True) -> Daemon:
        d = Daemon(Path(tempfile.mkdtemp(prefix="d", dir=daemon_root)))
        made.append(d)
        return d.start() if start else d

    yield make
    for d in made:
        d.stop()


_aliases = itertools.count(1)


@pytest.fixture
def pact(daemon: Daemon, request: pytest.FixtureRequest) -> str:
    """A new pact of its own for the test, by alias."""
    alias = f"t{next(_aliases)}-{request.node.name[:30]}".lower()
    alias = "".join(c if c.isalnum() else "-" for c in alias).strip("-")[:48]
    with openpact.Client(daemon.data_dir) as c:
        c.create_pact(alias, alias=alias)
    return alias


@pytest.fixture
def client(daemon: Daemon, pact: str) -> Iterator[openpact.Client]:
    """A blocking client on the shared daemon, on the test's pact."""
    with openpact.Client(daemon.data_dir, pact=pact) as c:
        yield c


@pytest.fixture
async def aclient(daemon: Daemon, pact: str) -> AsyncIterator[openpact.AsyncClient]:
    """An asyncio client on the shared daemon, on the test's pact."""
    async with openpact.AsyncClient(daemon.data_dir, pact=pact) as c:
        yield c
