"""Where the daemon listens: ``<data dir>/openpact.sock``, as the ``openpact`` CLI finds it.

The data dir is the one given, else ``$OPENPACT_DATA_DIR``, else ``~/.openpact``.
"""

from __future__ import annotations

import os
from pathlib import Path

__all__ = ["DATA_DIR_ENV", "SOCKET_NAME", "data_dir", "socket_path", "target"]

#: The environment variable naming the data dir.
DATA_DIR_ENV = "OPENPACT_DATA_DIR"
#: The control plane's socket file in the data dir.
SOCKET_NAME = "openpact.sock"


def data_dir(given: str | os.PathLike[str] | None = None) -> Path:
    """The data dir: ``given``, else ``$OPENPACT_DATA_DIR``, else ``~/.openpact`` (absolute)."""
    if given is not None and os.fspath(given) != "":
        root = Path(given).expanduser()
    elif os.environ.get(DATA_DIR_ENV):
        root = Path(os.environ[DATA_DIR_ENV]).expanduser()
    else:
        root = Path.home() / ".openpact"
    return root.absolute()


def socket_path(
    data_dir_: str | os.PathLike[str] | None = None,
    socket: str | os.PathLike[str] | None = None,
) -> Path:
    """The control plane's socket: ``socket`` when given, else ``<data dir>/openpact.sock``."""
    if socket is not None and data_dir_ is not None:
        raise ValueError("Give the data dir or the socket, not both.")
    if socket is not None:
        return Path(socket).expanduser().absolute()
    return data_dir(data_dir_) / SOCKET_NAME


def target(path: str | os.PathLike[str]) -> str:
    """The gRPC target of a unix socket path."""
    return f"unix:{os.fspath(path)}"
