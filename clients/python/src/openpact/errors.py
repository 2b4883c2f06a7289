"""Errors of the control plane: one class per wire code, all under :class:`OpenPactError`.

Every failed call carries a wire code (``openpact.v1.Code``). The daemon sends it in the gRPC
status details (a ``google.rpc.Status`` whose first detail is an ``openpact.v1.ErrorDetail``) and,
by name, in the trailer ``openpact-code``. :func:`from_rpc_error` turns a ``grpc.RpcError`` into
the class of its code; a code this client does not know still gives an :class:`OpenPactError`.
A call that never reached a daemon raises :class:`DaemonUnavailableError`.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, cast

import grpc
from grpc_status import rpc_status

from ._proto.openpact.v1 import common_pb2

__all__ = [
    "OpenPactError",
    "DaemonUnavailableError",
    "DeadlineExceededError",
    "BadRequestError",
    "BadCursorError",
    "NotFoundError",
    "UnauthorizedError",
    "ForbiddenHostError",
    "ForbiddenOriginError",
    "BadEntryError",
    "PayloadTooLargeError",
    "TaskNotOpenError",
    "TaskAlreadyClaimedError",
    "TaskAlreadyCompleteError",
    "NotClaimerError",
    "NotClaimedError",
    "NotAssigneeError",
    "NotAMemberError",
    "NotIndexerError",
    "NotCreatorError",
    "SkillChecksumMismatchError",
    "BadSkillNameError",
    "NotConfirmedError",
    "UnknownPactError",
    "PactNotReadyError",
    "PactAliasExistsError",
    "InviteBadShapeError",
    "InviteWrongPactError",
    "UnknownInviteError",
    "InviteRevokedError",
    "InviteSpentError",
    "InviteNotIndexerError",
    "InviteExpiredError",
    "NoAgentsError",
    "NoIndexerReachableError",
    "AgentDisconnectedError",
    "ViewTimeoutError",
    "RateLimitedError",
    "UnsupportedMediaTypeError",
    "NotConfirmedYetError",
    "LastIndexerError",
    "NotSupportedYetError",
    "InternalError",
    "ERROR_CLASSES",
    "from_code",
    "from_rpc_error",
]

#: The trailer that names the wire code of a failed call.
CODE_TRAILER = "openpact-code"


class OpenPactError(Exception):
    """A call to the daemon failed. ``code`` is the wire code's name (e.g. ``"BAD_CURSOR"``).

    Catch this to handle every failure of the client; catch a subclass for one wire code.
    """

    #: The wire code of the class (``""`` on the base class, which takes any code).
    CODE: ClassVar[str] = ""
    #: The HTTP status REST answers this code with.
    HTTP_STATUS: ClassVar[int] = 500

    def __init__(
        self,
        code: str,
        message: str,
        http_status: int,
        *,
        grpc_code: grpc.StatusCode | None = None,
    ) -> None:
        super().__init__(code, message, http_status)
        #: The wire code's name, e.g. ``"TASK_ALREADY_CLAIMED"``.
        self.code = code
        #: The daemon's message, a sentence meant for people.
        self.message = message
        #: The HTTP status the REST API answers with for the same failure.
        self.http_status = http_status
        #: The gRPC status code of the call, when the error came from one.
        self.grpc_code = grpc_code

    def __str__(self) -> str:
        return f"{self.code}: {self.message}"

    def __repr__(self) -> str:
        return (
            f"{type(self).__name__}(code={self.code!r}, message={self.message!r}, "
            f"http_status={self.http_status})"
        )

    def __reduce__(self) -> tuple[Any, ...]:
        return (_rebuild, (type(self), self.code, self.message, self.http_status))


def _rebuild(cls: type[OpenPactError], code: str, message: str, http: int) -> OpenPactError:
    err = OpenPactError.__new__(cls)
    OpenPactError.__init__(err, code, message, http)
    return err


class DaemonUnavailableError(OpenPactError):
    """No daemon answers on the socket: it is not running, or this is the wrong data dir."""

    CODE = "DAEMON_UNAVAILABLE"
    HTTP_STATUS = 503

    def __init__(self, socket_path: str | os.PathLike[str], detail: str = "") -> None:
        path = Path(socket_path)
        what = f"nothing answers on {path}" if path.exists() else f"no socket at {path}"
        start = "openpact start"
        if path.name == "openpact.sock" and path.parent != _default_data_dir():
            start = f"openpact --data-dir {path.parent} start"
        message = f"OpenPact daemon is not running ({what}). Start it with `{start}`."
        super().__init__(
            self.CODE, message, self.HTTP_STATUS, grpc_code=grpc.StatusCode.UNAVAILABLE
        )
        #: The socket the client tried.
        self.socket_path = path
        #: What gRPC said about the failed connection.
        self.detail = detail

    def __reduce__(self) -> tuple[Any, ...]:
        return (type(self), (self.socket_path, self.detail))


def _default_data_dir() -> Path:
    return Path.home() / ".openpact"


class DeadlineExceededError(OpenPactError):
    """The call took longer than the client's timeout (no answer from the daemon in time)."""

    CODE = "DEADLINE_EXCEEDED"
    HTTP_STATUS = 504


# One class per wire code of openpact.v1.Code (spec/rest-api.md, section 5).


class BadRequestError(OpenPactError):
    """A field is missing, malformed or out of range."""

    CODE = "BAD_REQUEST"
    HTTP_STATUS = 400


class BadCursorError(OpenPactError):
    """The cursor is not one this list (or the changes feed) handed out."""

    CODE = "BAD_CURSOR"
    HTTP_STATUS = 400


class NotFoundError(OpenPactError):
    """No entry, task or skill with this id."""

    CODE = "NOT_FOUND"
    HTTP_STATUS = 404


class UnauthorizedError(OpenPactError):
    """The REST bearer token is missing or wrong."""

    CODE = "UNAUTHORIZED"
    HTTP_STATUS = 401


class ForbiddenHostError(OpenPactError):
    """The REST Host header is not loopback."""

    CODE = "FORBIDDEN_HOST"
    HTTP_STATUS = 403


class ForbiddenOriginError(OpenPactError):
    """The REST Origin header is not loopback or does not match the Host."""

    CODE = "FORBIDDEN_ORIGIN"
    HTTP_STATUS = 403


class BadEntryError(OpenPactError):
    """The entry failed validation before it was written."""

    CODE = "BAD_ENTRY"
    HTTP_STATUS = 400


class PayloadTooLargeError(OpenPactError):
    """The entry's payload is over 64 KiB (or a REST body over 128 KiB)."""

    CODE = "PAYLOAD_TOO_LARGE"
    HTTP_STATUS = 413


class TaskNotOpenError(OpenPactError):
    """The task is claimed or complete, so it cannot be claimed."""

    CODE = "TASK_NOT_OPEN"
    HTTP_STATUS = 409


class TaskAlreadyClaimedError(OpenPactError):
    """The claim was written but another claim came first in the ledger order."""

    CODE = "TASK_ALREADY_CLAIMED"
    HTTP_STATUS = 409


class TaskAlreadyCompleteError(OpenPactError):
    """The task is already complete."""

    CODE = "TASK_ALREADY_COMPLETE"
    HTTP_STATUS = 409


class NotClaimerError(OpenPactError):
    """The task is claimed by someone else."""

    CODE = "NOT_CLAIMER"
    HTTP_STATUS = 409


class NotClaimedError(OpenPactError):
    """The task is not claimed, so it cannot be released."""

    CODE = "NOT_CLAIMED"
    HTTP_STATUS = 409


class NotAssigneeError(OpenPactError):
    """The task is assigned to another agent."""

    CODE = "NOT_ASSIGNEE"
    HTTP_STATUS = 409


class NotAMemberError(OpenPactError):
    """This peer is not (yet) a writing member of the pact."""

    CODE = "NOT_A_MEMBER"
    HTTP_STATUS = 409


class NotIndexerError(OpenPactError):
    """Only the pact's creator (an indexer) may do this."""

    CODE = "NOT_INDEXER"
    HTTP_STATUS = 409


class NotCreatorError(OpenPactError):
    """Only the pact's creator may mint or revoke invites."""

    CODE = "NOT_CREATOR"
    HTTP_STATUS = 409


class SkillChecksumMismatchError(OpenPactError):
    """The skill's content does not hash to its checksum."""

    CODE = "SKILL_CHECKSUM_MISMATCH"
    HTTP_STATUS = 400


class BadSkillNameError(OpenPactError):
    """The skill's name or version is not a safe file name part."""

    CODE = "BAD_SKILL_NAME"
    HTTP_STATUS = 400


class NotConfirmedError(OpenPactError):
    """The confirmation is missing, false, or does not repeat the target."""

    CODE = "NOT_CONFIRMED"
    HTTP_STATUS = 400


class UnknownPactError(OpenPactError):
    """No pact on this host has this alias or id (or there is no current pact)."""

    CODE = "UNKNOWN_PACT"
    HTTP_STATUS = 404


class PactNotReadyError(OpenPactError):
    """The pact has no key yet."""

    CODE = "PACT_NOT_READY"
    HTTP_STATUS = 409


class PactAliasExistsError(OpenPactError):
    """Another pact on this host already has this alias."""

    CODE = "PACT_ALIAS_EXISTS"
    HTTP_STATUS = 409


class InviteBadShapeError(OpenPactError):
    """The invite token (or writer key) is malformed."""

    CODE = "INVITE_BAD_SHAPE"
    HTTP_STATUS = 400


class InviteWrongPactError(OpenPactError):
    """The invite token is for another pact."""

    CODE = "INVITE_WRONG_PACT"
    HTTP_STATUS = 400


class UnknownInviteError(OpenPactError):
    """No invite with this nonce."""

    CODE = "UNKNOWN_INVITE"
    HTTP_STATUS = 404


class InviteRevokedError(OpenPactError):
    """The invite was revoked."""

    CODE = "INVITE_REVOKED"
    HTTP_STATUS = 409


class InviteSpentError(OpenPactError):
    """The invite was already redeemed."""

    CODE = "INVITE_SPENT"
    HTTP_STATUS = 409


class InviteNotIndexerError(OpenPactError):
    """The peer that got the redeem is not an indexer."""

    CODE = "INVITE_NOT_INDEXER"
    HTTP_STATUS = 409


class InviteExpiredError(OpenPactError):
    """The invite expired."""

    CODE = "INVITE_EXPIRED"
    HTTP_STATUS = 410


class NoAgentsError(OpenPactError):
    """No peer is connected to forward the request to."""

    CODE = "NO_AGENTS"
    HTTP_STATUS = 503


class NoIndexerReachableError(OpenPactError):
    """No indexer answered in time."""

    CODE = "NO_INDEXER_REACHABLE"
    HTTP_STATUS = 503


class AgentDisconnectedError(OpenPactError):
    """The peer link dropped in the middle of the request."""

    CODE = "AGENT_DISCONNECTED"
    HTTP_STATUS = 503


class ViewTimeoutError(OpenPactError):
    """The write did not show in the local view in time."""

    CODE = "VIEW_TIMEOUT"
    HTTP_STATUS = 504


class RateLimitedError(OpenPactError):
    """Too many requests; retry later."""

    CODE = "RATE_LIMITED"
    HTTP_STATUS = 429


class UnsupportedMediaTypeError(OpenPactError):
    """A REST body in a content type other than JSON."""

    CODE = "UNSUPPORTED_MEDIA_TYPE"
    HTTP_STATUS = 415


class NotConfirmedYetError(OpenPactError):
    """The indexers did not confirm the write within ``wait_ms``; its outcome is not final yet."""

    CODE = "NOT_CONFIRMED_YET"
    HTTP_STATUS = 504


class LastIndexerError(OpenPactError):
    """The pact's last indexer cannot be removed or demoted."""

    CODE = "LAST_INDEXER"
    HTTP_STATUS = 409


class NotSupportedYetError(OpenPactError):
    """A later release brings this capability (the message says which)."""

    CODE = "NOT_SUPPORTED_YET"
    HTTP_STATUS = 409


class InternalError(OpenPactError):
    """A bug in the daemon; its log has the details."""

    CODE = "INTERNAL"
    HTTP_STATUS = 500


#: The class of every wire code, by the code's name.
ERROR_CLASSES: dict[str, type[OpenPactError]] = {
    cls.CODE: cls
    for cls in (
        BadRequestError,
        BadCursorError,
        NotFoundError,
        UnauthorizedError,
        ForbiddenHostError,
        ForbiddenOriginError,
        BadEntryError,
        PayloadTooLargeError,
        TaskNotOpenError,
        TaskAlreadyClaimedError,
        TaskAlreadyCompleteError,
        NotClaimerError,
        NotClaimedError,
        NotAssigneeError,
        NotAMemberError,
        NotIndexerError,
        NotCreatorError,
        SkillChecksumMismatchError,
        BadSkillNameError,
        NotConfirmedError,
        UnknownPactError,
        PactNotReadyError,
        PactAliasExistsError,
        InviteBadShapeError,
        InviteWrongPactError,
        UnknownInviteError,
        InviteRevokedError,
        InviteSpentError,
        InviteNotIndexerError,
        InviteExpiredError,
        NoAgentsError,
        NoIndexerReachableError,
        AgentDisconnectedError,
        ViewTimeoutError,
        RateLimitedError,
        UnsupportedMediaTypeError,
        NotConfirmedYetError,
        LastIndexerError,
        NotSupportedYetError,
        InternalError,
    )
}


def from_code(
    code: str | int,
    message: str,
    http_status: int | None = None,
    *,
    grpc_code: grpc.StatusCode | None = None,
) -> OpenPactError:
    """The error for a wire code, by name or number; unknown codes give the base class."""
    if isinstance(code, int):
        try:
            code = common_pb2.Code.Name(common_pb2.Code.ValueType(code))
        except ValueError:
            code = f"CODE_{code}"
    cls = ERROR_CLASSES.get(code, OpenPactError)
    status = http_status if http_status else cls.HTTP_STATUS
    return cls(code, message, status, grpc_code=grpc_code)


def from_rpc_error(err: grpc.RpcError, socket_path: str | os.PathLike[str]) -> OpenPactError:
    """The :class:`OpenPactError` for a failed call (``grpc.RpcError`` or ``grpc.aio.AioRpcError``).

    The code comes from the status details, else from the ``openpact-code`` trailer. A failure
    without either never reached the daemon's handlers: ``UNAVAILABLE`` means no daemon
    (:class:`DaemonUnavailableError`), ``DEADLINE_EXCEEDED`` the client's timeout.
    """
    grpc_code = _call_code(err)
    message = _call_details(err)
    detail = _error_detail(err)
    if detail is not None:
        number, http, text = detail
        named = _trailer_code(err)
        if number not in common_pb2.Code.values() and named:
            # A code newer than this client: keep the daemon's name for it.
            return from_code(named, text or message, http, grpc_code=grpc_code)
        return from_code(number, text or message, http, grpc_code=grpc_code)
    named = _trailer_code(err)
    if named:
        return from_code(named, message, None, grpc_code=grpc_code)
    if grpc_code == grpc.StatusCode.UNAVAILABLE:
        return DaemonUnavailableError(socket_path, message)
    if grpc_code == grpc.StatusCode.DEADLINE_EXCEEDED:
        return DeadlineExceededError(
            DeadlineExceededError.CODE,
            message or "The daemon did not answer in time.",
            DeadlineExceededError.HTTP_STATUS,
            grpc_code=grpc_code,
        )
    name = grpc_code.name if grpc_code is not None else "UNKNOWN"
    return OpenPactError(name, message, OpenPactError.HTTP_STATUS, grpc_code=grpc_code)


def _call_code(err: grpc.RpcError) -> grpc.StatusCode | None:
    code = getattr(err, "code", None)
    return code() if callable(code) else None


def _call_details(err: grpc.RpcError) -> str:
    details = getattr(err, "details", None)
    text = details() if callable(details) else None
    return text if isinstance(text, str) else str(err)


def _trailing(err: grpc.RpcError) -> list[tuple[str, str | bytes]]:
    trailing = getattr(err, "trailing_metadata", None)
    items = trailing() if callable(trailing) else None
    return [(k, v) for k, v in items] if items else []


def _trailer_code(err: grpc.RpcError) -> str:
    for key, value in _trailing(err):
        if key == CODE_TRAILER:
            return value.decode() if isinstance(value, bytes) else value
    return ""


def _error_detail(err: grpc.RpcError) -> tuple[int, int, str] | None:
    """The ErrorDetail in the status details: (code number, http status, message)."""
    try:
        status = rpc_status.from_call(cast(grpc.Call, err))
    except (ValueError, AttributeError, TypeError):
        return None
    if status is None:
        return None
    for any_detail in status.details:
        if any_detail.Is(common_pb2.ErrorDetail.DESCRIPTOR):
            detail = common_pb2.ErrorDetail()
            any_detail.Unpack(detail)
            return int(detail.code), int(detail.http_status), detail.message
    return None
