"""What the clients send, without I/O: request fields, channel options, deadlines.

:class:`openpact.Client` and :class:`openpact.AsyncClient` share these so the two only differ in
how they wait for an answer.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from typing import Any, Final, Literal, Protocol

from ._proto.openpact.v1 import common_pb2, events_pb2, pact_pb2

#: List direction: ``"desc"`` (newest first, the default) or ``"asc"``.
Order = Literal["desc", "asc"]
#: What a task write waits for: the local apply, or the indexers' confirmation.
WaitFor = Literal["applied", "confirmed"]
#: A task's status.
TaskStatus = Literal["open", "claimed", "complete"]
#: A skill's format.
SkillFormat = Literal["openclaw", "langchain", "generic"]
#: An entry type, as the changes feed filters it.
EntryTypeName = Literal["knowledge", "task", "skill", "message"]


class _Unset:
    """The type of :data:`UNSET`."""

    _instance: _Unset | None = None

    def __new__(cls) -> _Unset:
        if cls._instance is None:
            cls._instance = super().__new__(cls)
        return cls._instance

    def __repr__(self) -> str:
        return "UNSET"

    def __bool__(self) -> bool:
        return False


#: "Leave this field as it is" (``None`` clears it), for :meth:`openpact.Client.set_info`.
UNSET: Final = _Unset()

#: Page size of the iterators when none is given.
DEFAULT_PAGE_SIZE = 50
#: The daemon's default ``wait_ms`` for writes that wait for confirmation.
DEFAULT_CONFIRM_WAIT_MS = 10_000
#: The client's default deadline for one call, in seconds.
DEFAULT_TIMEOUT = 30.0
#: The skill checksum's domain label (spec/rest-api.md, section 13).
_SKILL_LABEL = b"openpact-skill-content:v1\n"

#: Options of every channel to the daemon.
CHANNEL_OPTIONS: Final[Sequence[tuple[str, Any]]] = (
    # grpc-core sends the socket path as :authority, which the daemon's HTTP/2 server refuses
    # (RST_STREAM PROTOCOL_ERROR): name the host as the daemon's own clients do.
    ("grpc.default_authority", "localhost"),
    # Each client is its own connection (gRPC would share one between equal channels).
    ("grpc.use_local_subchannel_pool", 1),
    # A page of up to 1000 entries of up to 64 KiB each is larger than gRPC's default 4 MiB.
    ("grpc.max_receive_message_length", -1),
    # A local socket is cheap to redial: a daemon started after a failed call is found within a
    # second, not after gRPC's default backoff of up to two minutes. (Not the minimum backoff:
    # gRPC also uses it as the time a connect may take, which stays at its 20 s default.)
    ("grpc.initial_reconnect_backoff_ms", 100),
    ("grpc.max_reconnect_backoff_ms", 1000),
)


def skill_checksum(content: str) -> str:
    """The checksum a skill's ``content`` is published with: ``sha256:<64 hex>``."""
    return "sha256:" + hashlib.sha256(_SKILL_LABEL + content.encode()).hexdigest()


def pact_of(pact: str | None, default: str | None) -> str:
    """The pact a call names: the call's, else the client's default, else "" (the current one)."""
    if pact is not None:
        return pact
    return default or ""


def page(order: Order, limit: int, cursor: str | None) -> common_pb2.PageRequest:
    """The paging fields of a list call."""
    return common_pb2.PageRequest(order=_order(order), limit=limit, cursor=cursor)


def _order(order: Order) -> common_pb2.Order.ValueType:
    if order == "desc":
        return common_pb2.DESC
    if order == "asc":
        return common_pb2.ASC
    raise ValueError(f'order must be "desc" or "asc", not {order!r}')


def wait(wait_for: WaitFor) -> pact_pb2.Wait.ValueType:
    """The ``Wait`` of a task action."""
    if wait_for == "applied":
        return pact_pb2.APPLIED
    if wait_for == "confirmed":
        return pact_pb2.CONFIRMED
    raise ValueError(f'wait must be "applied" or "confirmed", not {wait_for!r}')


def entry_type(name: EntryTypeName | None) -> common_pb2.EntryType.ValueType | None:
    """The ``EntryType`` of a type name (None: every type)."""
    if name is None:
        return None
    try:
        return common_pb2.EntryType.Value(name.upper())
    except ValueError:
        raise ValueError(
            f'entry type must be "knowledge", "task", "skill" or "message", not {name!r}'
        ) from None


def event_kinds(kinds: Iterable[int | str] | None) -> list[events_pb2.EventKind.ValueType]:
    """Event kinds from enum values or names (``"entry_applied"`` or ``"ENTRY_APPLIED"``)."""
    out: list[events_pb2.EventKind.ValueType] = []
    for kind in kinds or ():
        if isinstance(kind, str):
            try:
                out.append(events_pb2.EventKind.Value(kind.upper().replace("-", "_")))
            except ValueError:
                names = ", ".join(events_pb2.EventKind.keys()[1:])
                raise ValueError(f"unknown event kind {kind!r}; known: {names}") from None
        else:
            out.append(events_pb2.EventKind.ValueType(kind))
    return out


def subscribed_pacts(pact: str | Sequence[str] | None, default: str | None) -> list[str]:
    """The pacts a subscription names: the given ones, else the default pact, else all ("[]")."""
    if pact is None:
        return [default] if default else []
    if isinstance(pact, str):
        return [pact]
    return list(pact)


def extra_json(extra: Mapping[str, Any] | None) -> str:
    """Extra payload fields as the JSON object the daemon keeps as given."""
    return json.dumps(dict(extra), separators=(",", ":")) if extra else ""


def optional_string(value: str | None | _Unset) -> pact_pb2.OptionalString | None:
    """A nullable field of ``SetInfo``: UNSET leaves it, None (or "") clears it."""
    if isinstance(value, _Unset):
        return None
    return pact_pb2.OptionalString(value=value)


def deadline(timeout: float | None, wait_ms: int = 0) -> float | None:
    """A call's deadline: the client's timeout, plus what the daemon may wait on purpose."""
    if timeout is None:
        return None
    return timeout + wait_ms / 1000


def action_wait_ms(wait_for: WaitFor, wait_ms: int) -> int:
    """How long a task action may wait on purpose."""
    if wait_for != "confirmed":
        return 0
    return wait_ms or DEFAULT_CONFIRM_WAIT_MS


class Paged(Protocol):
    """A page of any list: its cursor and whether more rows follow."""

    @property
    def cursor(self) -> str: ...
    @property
    def has_more(self) -> bool: ...
    def HasField(self, field_name: Literal["cursor"]) -> bool: ...


def next_cursor(page_: Paged, rows: int) -> str | None:
    """The cursor of the next page, or None when this page was the last.

    The daemon's ``has_more`` can be true before a filtered page that comes back empty; an empty
    page without a cursor ends the walk too.
    """
    if not page_.has_more:
        return None
    if not page_.HasField("cursor") or (rows == 0 and not page_.cursor):
        return None
    return page_.cursor
