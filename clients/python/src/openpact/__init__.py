"""Python client of the OpenPact daemon's control plane (gRPC over its unix socket).

    import openpact

    with openpact.Client() as op:          # finds ~/.openpact/openpact.sock (or $OPENPACT_DATA_DIR)
        op.create_knowledge("sales", "Tuesdays convert")
        for entry in op.iter_knowledge(topic="sales"):
            print(entry.knowledge.content)

:class:`Client` blocks; :class:`AsyncClient` is the same on asyncio. Both return the generated
message types (see :mod:`openpact.pb`) and raise :class:`OpenPactError` subclasses, one per wire
code (see :mod:`openpact.errors`).
"""

from . import discovery, errors, events, pb
from ._calls import UNSET, skill_checksum
from .aio import AsyncClient
from .client import Client
from .errors import *  # noqa: F403 - one class per wire code, listed in errors.__all__
from .events import AsyncEventStream, EventStream
from .pb import Code, Entry, EntryType, Event, EventKind, TaskState

__version__ = "0.1.0"

__all__ = [
    "Client",
    "AsyncClient",
    "EventStream",
    "AsyncEventStream",
    "UNSET",
    "skill_checksum",
    "discovery",
    "errors",
    "events",
    "pb",
    "Code",
    "Entry",
    "EntryType",
    "Event",
    "EventKind",
    "TaskState",
    *errors.__all__,
]
