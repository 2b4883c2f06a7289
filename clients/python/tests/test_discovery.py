"""The client finds `<data dir>/openpact.sock` by itself, and says so when no daemon is there."""

from __future__ import annotations

import os
import socket
import time
from collections.abc import Callable
from pathlib import Path

import pytest
from conftest import Daemon

import openpact


def test_explicit_data_dir_finds_the_daemons_socket(daemon: Daemon) -> None:
    with openpact.Client(daemon.data_dir) as c:
        assert c.socket_path == daemon.socket
        assert c.ping().data_dir == str(daemon.data_dir)


def test_openpact_data_dir_env_finds_the_daemons_socket(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("OPENPACT_DATA_DIR", str(daemon.data_dir))
    with openpact.Client() as c:
        assert c.socket_path == daemon.socket
        assert c.ping().data_dir == str(daemon.data_dir)


def test_argument_wins_over_the_env(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("OPENPACT_DATA_DIR", str(tmp_path))
    with openpact.Client(daemon.data_dir) as c:
        assert c.ping().data_dir == str(daemon.data_dir)


def test_default_is_dot_openpact_in_home(
    daemon: Daemon, monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.delenv("OPENPACT_DATA_DIR", raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    (tmp_path / ".openpact").symlink_to(daemon.data_dir)
    with openpact.Client() as c:
        assert c.socket_path == tmp_path / ".openpact" / "openpact.sock"
        assert c.ping().data_dir == str(daemon.data_dir)


def test_empty_env_counts_as_unset(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("OPENPACT_DATA_DIR", "")
    monkeypatch.setenv("HOME", str(tmp_path))
    assert openpact.Client().socket_path == tmp_path / ".openpact" / "openpact.sock"


def test_relative_and_tilde_paths_are_made_absolute(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    monkeypatch.chdir(tmp_path)
    assert openpact.Client("~/x").socket_path == tmp_path / "x" / "openpact.sock"
    assert openpact.Client("rel").socket_path == tmp_path / "rel" / "openpact.sock"


def test_explicit_socket(daemon: Daemon) -> None:
    with openpact.Client(socket=daemon.socket) as c:
        assert c.ping().ok


def test_data_dir_and_socket_together_are_refused(daemon: Daemon) -> None:
    with pytest.raises(ValueError, match="not both"):
        openpact.Client(daemon.data_dir, socket=daemon.socket)


def test_no_daemon_raises_daemon_unavailable_naming_the_socket(tmp_path: Path) -> None:
    with openpact.Client(tmp_path) as c, pytest.raises(openpact.DaemonUnavailableError) as err:
        c.list_pacts()
    e = err.value
    assert isinstance(e, openpact.OpenPactError)
    assert e.code == "DAEMON_UNAVAILABLE"
    assert e.http_status == 503
    assert e.socket_path == tmp_path / "openpact.sock"
    assert str(tmp_path / "openpact.sock") in str(e)
    assert "no socket at" in e.message
    assert "openpact" in e.message and "start" in e.message


def test_a_stale_socket_says_nothing_answers(tmp_path: Path) -> None:
    # A socket file nobody listens on, as a crashed daemon leaves it.
    path = tmp_path / "openpact.sock"
    s = socket.socket(socket.AF_UNIX, socket.SOCK_STREAM)
    s.bind(str(path))
    s.close()
    with openpact.Client(tmp_path) as c, pytest.raises(openpact.DaemonUnavailableError) as err:
        c.ping()
    assert f"nothing answers on {path}" in err.value.message
    assert f"openpact --data-dir {tmp_path} start" in err.value.message


def test_subscribe_without_daemon_raises_daemon_unavailable(tmp_path: Path) -> None:
    with openpact.Client(tmp_path) as c, pytest.raises(openpact.DaemonUnavailableError):
        c.subscribe()


async def test_async_client_without_daemon_raises_daemon_unavailable(tmp_path: Path) -> None:
    async with openpact.AsyncClient(tmp_path) as c:
        with pytest.raises(openpact.DaemonUnavailableError) as err:
            await c.ping()
        assert str(tmp_path / "openpact.sock") in str(err.value)
        with pytest.raises(openpact.DaemonUnavailableError):
            async with c.subscribe():
                pass


def test_a_client_finds_a_daemon_started_after_a_failed_call(
    start_daemon: Callable[..., Daemon],
) -> None:
    # gRPC backs off after a failed connect; the client's backoff is short enough for a daemon
    # started a moment later.
    d = start_daemon(start=False)
    with openpact.Client(d.data_dir) as c:
        with pytest.raises(openpact.DaemonUnavailableError):
            c.ping()
        d.start()
        deadline = time.monotonic() + 5
        while True:
            try:
                assert c.ping().data_dir == str(d.data_dir)
                break
            except openpact.DaemonUnavailableError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)


def test_socket_mode_is_private(daemon: Daemon) -> None:
    assert os.stat(daemon.socket).st_mode & 0o777 == 0o600
