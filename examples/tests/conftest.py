"""One real daemon for the recipes' smoke tests: `openpact start --foreground` on a temporary
data dir, with a pact sealed by `openpact init` (alias `default`, the current pact)."""

from __future__ import annotations

import json
import os
import re
import signal
import subprocess
import tempfile
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

EXAMPLES = Path(__file__).resolve().parents[1]
REPO = EXAMPLES.parent
OPENPACT_BIN = Path(os.environ.get("OPENPACT_BIN") or REPO / "target" / "release" / "openpact")

#: Variables of the caller's environment that would point a recipe at another daemon.
_OPENPACT_VARS = ("OPENPACT_URL", "OPENPACT_TOKEN", "OPENPACT_PACT", "OPENPACT_DATA_DIR")


@dataclass
class Daemon:
    """A running daemon: where it keeps its files and how to reach its REST API."""

    data_dir: Path
    process: subprocess.Popen[bytes]
    log: Path
    port: int = 0
    token: str = ""
    pact: str = "default"
    handle: str = ""
    env: dict[str, str] = field(default_factory=dict)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        """One REST call with the token; returns the JSON answer, raises HTTPError on >= 400."""
        url = self.url + path
        params = {k: v for k, v in query.items() if v is not None}
        if params:
            url += "?" + urllib.parse.urlencode(params)
        data = None if body is None else json.dumps(body).encode()
        req = urllib.request.Request(url, data=data, method=method)
        req.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            req.add_header("Content-Type", "application/json")
        with urllib.request.urlopen(req, timeout=15) as answer:
            return json.loads(answer.read())

    def pact_request(self, method: str, path: str, body: Any = None, **query: Any) -> Any:
        return self.request(method, f"/v1/pacts/{self.pact}{path}", body, **query)

    def log_tail(self) -> str:
        return self.log.read_text(errors="replace")[-4000:]


def _read_daemon_json(data_dir: Path) -> dict[str, Any]:
    try:
        parsed: dict[str, Any] = json.loads((data_dir / "daemon.json").read_text())
        return parsed
    except (OSError, ValueError):
        return {}


def _pings(port: int) -> bool:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{port}/v1/ping", timeout=1) as answer:
            return bool(answer.status == 200)
    except (OSError, urllib.error.URLError):
        return False


def _start(data_dir: Path) -> Daemon:
    log = data_dir.parent / f"{data_dir.name}.log"
    with open(log, "ab") as out:
        process = subprocess.Popen(
            [str(OPENPACT_BIN), "--data-dir", str(data_dir), "start", "--foreground",
             "--port", "0", "--no-dashboard", "--log-level", "warn"],
            stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    daemon = Daemon(data_dir=data_dir, process=process, log=log)
    deadline = time.monotonic() + 20
    while True:
        settings = _read_daemon_json(data_dir)
        if settings.get("port") and _pings(settings["port"]):
            daemon.port, daemon.token = settings["port"], settings["apiToken"]
            return daemon
        if process.poll() is not None or time.monotonic() > deadline:
            _stop(daemon)
            raise RuntimeError(f"the daemon did not answer /v1/ping; log:\n{daemon.log_tail()}")
        time.sleep(0.02)


def _stop(daemon: Daemon) -> None:
    if daemon.process.poll() is not None:
        return
    daemon.process.send_signal(signal.SIGTERM)
    try:
        daemon.process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        daemon.process.kill()
        daemon.process.wait()
        raise RuntimeError("the daemon ignored SIGTERM for 15 s") from None


@pytest.fixture(scope="session")
def daemon() -> Iterator[Daemon]:
    """The daemon every test shares, with the pact `default` (current)."""
    if not OPENPACT_BIN.exists():
        pytest.skip(f"no daemon binary at {OPENPACT_BIN} (set OPENPACT_BIN)")
    # Short: the daemon's unix socket path must fit in 108 bytes.
    with tempfile.TemporaryDirectory(prefix="opx-") as root:
        d = _start(Path(root) / "data")
        try:
            subprocess.run(
                [str(OPENPACT_BIN), "--data-dir", str(d.data_dir), "init", "--no-interactive",
                 "--no-start", "--name", "Demo", "--alias", "default"],
                check=True, capture_output=True, stdin=subprocess.DEVNULL, timeout=30,
            )  # fmt: skip
            d.handle = d.pact_request("GET", "/status")["peer_handle"]
            d.env = {k: v for k, v in os.environ.items() if k not in _OPENPACT_VARS}
            d.env["OPENPACT_DATA_DIR"] = str(d.data_dir)
            yield d
        finally:
            _stop(d)


# Recipes written as Markdown (CLAUDE.md, SKILL.md): their ```sh blocks, run as documented.

_SHELL_BLOCK = re.compile(r"^```sh\n(.*?)^```$", re.MULTILINE | re.DOTALL)
_PLACEHOLDER = re.compile(r"<[a-z][a-z-]*>")


def shell_blocks(markdown: str) -> list[str]:
    """The ```sh code blocks of a Markdown text, in order."""
    return _SHELL_BLOCK.findall(markdown)


@dataclass
class BlockRun:
    block: str
    command: str
    answer: Any


def _learn(answer: Any, known: dict[str, str]) -> None:
    """Fills the placeholders the way the recipes document them: `<task-id>` is the `id` of
    the task just added, `<handle>` an agent's handle (the agents list's self row)."""
    if isinstance(answer, dict) and "history" in answer and "title" in answer:
        known["<task-id>"] = answer["id"]
    if isinstance(answer, list) and answer and all("is_self" in row for row in answer):
        known["<handle>"] = next(row["id"] for row in answer if row["is_self"])


@pytest.fixture
def run_markdown_recipe(daemon: Daemon) -> Callable[[Path], list[BlockRun]]:
    """Runs every curl block of a Markdown recipe against the daemon, each after the recipe's
    setup line, with `sh` (POSIX) and the documented placeholders filled in. Each must exit 0
    and print JSON."""

    def run(path: Path) -> list[BlockRun]:
        blocks = shell_blocks(path.read_text())
        setups = [b for b in blocks if "OP_TOKEN=" in b]
        assert len(setups) == 1, f"{path.name}: expected one setup block, got {len(setups)}"
        calls = [b for b in blocks if "curl" in b and b not in setups]
        assert calls, f"{path.name}: no curl blocks"
        known: dict[str, str] = {}
        runs = []
        for block in calls:
            command = block
            for placeholder in sorted(set(_PLACEHOLDER.findall(block))):
                assert placeholder in known, (
                    f"{path.name}: nothing documents {placeholder}:\n{block}"
                )
                command = command.replace(placeholder, known[placeholder])
            done = subprocess.run(
                ["sh", "-c", setups[0] + command], env=daemon.env,
                capture_output=True, text=True, timeout=30,
            )  # fmt: skip
            assert done.returncode == 0, (
                f"{path.name}: block failed (exit {done.returncode}):\n{command}\n"
                f"stdout: {done.stdout}\nstderr: {done.stderr}"
            )
            answer = json.loads(done.stdout)
            _learn(answer, known)
            runs.append(BlockRun(block, command, answer))
        return runs

    return run
