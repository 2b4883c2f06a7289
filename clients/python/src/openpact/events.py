"""Event streams: :class:`EventStream` (blocking) and :class:`AsyncEventStream` (asyncio).

Both wrap a ``Subscribe`` call. They end cleanly when closed (``close()`` cancels the call),
when the daemon stops, or after a ``RESET`` event; other failures raise the call's
:class:`openpact.OpenPactError`.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Generator, Iterator
from pathlib import Path
from types import TracebackType
from typing import Any, cast

import grpc

from ._proto.openpact.v1 import events_pb2
from .errors import OpenPactError, from_rpc_error

__all__ = ["EventStream", "AsyncEventStream"]


class EventStream(Iterator[events_pb2.Event]):
    """A live stream of :class:`Event` messages from :meth:`Client.subscribe`.

    Iterate it; :meth:`close` (from any thread) ends it, and iteration then stops cleanly. It
    also ends when the daemon stops, or after a ``RESET`` event.
    """

    def __init__(self, call: Any, socket_path: Path) -> None:
        self._call = call
        self._socket_path = socket_path
        self._closed = False
        #: The id of the last event received, to resume with ``last_event_id``.
        self.last_event_id: str | None = None

    def __iter__(self) -> EventStream:
        return self

    def __next__(self) -> events_pb2.Event:
        if self._closed:
            raise StopIteration
        try:
            event: events_pb2.Event = next(self._call)
        except StopIteration:
            self._closed = True
            raise
        except grpc.RpcError as e:
            if self._closed or e.code() == grpc.StatusCode.CANCELLED:
                self._closed = True
                raise StopIteration from None
            self._closed = True
            raise from_rpc_error(e, self._socket_path) from None
        if event.id:
            self.last_event_id = event.id
        return event

    def close(self) -> None:
        """Ends the stream (cancels the call); safe to call more than once."""
        self._closed = True
        self._call.cancel()

    @property
    def closed(self) -> bool:
        """Whether the stream has ended."""
        return self._closed

    def __enter__(self) -> EventStream:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


class AsyncEventStream(AsyncIterator[events_pb2.Event]):
    """A live stream of :class:`Event` messages from :meth:`AsyncClient.subscribe`.

    Use it as ``async with`` (or ``await`` it) to wait until the daemon registered it, then
    ``async for`` over it. :meth:`close` ends it and iteration then stops cleanly; it also ends
    when the daemon stops, or after a ``RESET`` event. Cancelling the task that iterates it
    cancels as usual; close the stream afterwards.
    """

    def __init__(self, call: Any, socket_path: Path) -> None:
        self._call = call
        self._socket_path = socket_path
        self._closed = False
        self._registered = False
        #: The id of the last event received, to resume with ``last_event_id``.
        self.last_event_id: str | None = None

    async def wait_registered(self) -> AsyncEventStream:
        """Waits until the daemon has registered the subscription (raises its error if any)."""
        if self._registered or self._closed:
            return self
        try:
            await self._call.initial_metadata()
            if self._call.done():
                code = await self._call.code()
                if code != grpc.StatusCode.OK and not self._closed:
                    self._closed = True
                    raise await _failed_call(self._call, code, self._socket_path)
        except grpc.aio.AioRpcError as e:
            self._closed = True
            raise from_rpc_error(e, self._socket_path) from None
        self._registered = True
        return self

    def __await__(self) -> Generator[Any, None, AsyncEventStream]:
        return self.wait_registered().__await__()

    def __aiter__(self) -> AsyncEventStream:
        return self

    async def __anext__(self) -> events_pb2.Event:
        if self._closed:
            raise StopAsyncIteration
        try:
            event = await self._call.read()
        except asyncio.CancelledError:
            if self._closed:
                raise StopAsyncIteration from None
            raise
        except grpc.aio.AioRpcError as e:
            if self._closed or e.code() == grpc.StatusCode.CANCELLED:
                self._closed = True
                raise StopAsyncIteration from None
            self._closed = True
            raise from_rpc_error(e, self._socket_path) from None
        if event is grpc.aio.EOF:  # type: ignore[attr-defined] # missing from grpc-stubs
            self._closed = True
            raise StopAsyncIteration
        event = cast(events_pb2.Event, event)
        if event.id:
            self.last_event_id = event.id
        return event

    def close(self) -> None:
        """Ends the stream (cancels the call); safe to call more than once."""
        self._closed = True
        self._call.cancel()

    async def aclose(self) -> None:
        """Ends the stream, as :meth:`close`."""
        self.close()

    @property
    def closed(self) -> bool:
        """Whether the stream has ended."""
        return self._closed

    async def __aenter__(self) -> AsyncEventStream:
        return await self.wait_registered()

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()


async def _failed_call(call: Any, code: grpc.StatusCode, socket_path: Path) -> OpenPactError:
    """The error of a stream that ended with ``code`` before its first message."""
    failed = grpc.aio.AioRpcError(
        code,
        await call.initial_metadata(),
        await call.trailing_metadata(),
        await call.details(),
        None,
    )
    return from_rpc_error(failed, socket_path)
