"""Events: a write's event arrives on a subscription, and streams close cleanly."""

from __future__ import annotations

import asyncio
import threading
import time
from collections.abc import Callable

import pytest
from conftest import Daemon

import openpact
from openpact import pb

APPLIED = pb.EventKind.Value("ENTRY_APPLIED")


def next_within(events: openpact.EventStream, seconds: float = 10) -> pb.Event:
    """The next event, or a failure after `seconds` (the stream is closed then)."""
    timer = threading.Timer(seconds, events.close)
    timer.start()
    try:
        return next(events)
    except StopIteration:
        pytest.fail(f"no event within {seconds} s")
    finally:
        timer.cancel()


def test_a_write_arrives_as_an_entry_applied_event(client: openpact.Client, pact: str) -> None:
    status = client.pact_status()
    with client.subscribe(kinds=["entry_applied"]) as events:
        entry = client.create_knowledge("ops", "Deploys freeze on Friday")
        event = next_within(events)
    assert event.kind == APPLIED
    assert (event.alias, event.pact_id) == (pact, status.pact_id)
    assert event.WhichOneof("detail") == "applied"
    assert event.applied.kind == "entry"
    assert event.applied.id == entry.id
    assert event.applied.entry.knowledge.content == "Deploys freeze on Friday"
    assert events.closed
    assert events.last_event_id == event.id


def test_the_default_pact_scopes_the_subscription(
    daemon: Daemon, client: openpact.Client, pact: str
) -> None:
    other = client.create_pact("Other", alias=f"{pact}-o").alias
    with client.subscribe(kinds=[APPLIED]) as events:
        client.create_knowledge("elsewhere", "not for us", pact=other)
        mine = client.create_knowledge("here", "for us")
        assert next_within(events).applied.id == mine.id
    # An explicit list of pacts, and the empty list for every pact.
    with client.subscribe(kinds=[APPLIED], pact=[other]) as events:
        client.create_knowledge("here", "not for that one")
        theirs = client.create_knowledge("elsewhere", "for that one", pact=other)
        assert next_within(events).applied.id == theirs.id
    with client.subscribe(kinds=[APPLIED], pact=[]) as events:
        first = client.create_knowledge("elsewhere", "anywhere", pact=other)
        second = client.create_knowledge("here", "anywhere")
        got = [next_within(events).applied.id, next_within(events).applied.id]
        assert got == [first.id, second.id]


def test_close_from_another_thread_ends_iteration_cleanly(client: openpact.Client) -> None:
    events = client.subscribe()
    threading.Timer(0.2, events.close).start()
    started = time.monotonic()
    assert list(events) == []
    assert time.monotonic() - started < 5
    assert events.closed
    events.close()  # twice is fine


def test_resume_after_last_event_id(client: openpact.Client) -> None:
    with client.subscribe(kinds=["entry_applied"]) as events:
        client.create_knowledge("resume", "one")
        client.create_knowledge("resume", "two")
        first = next_within(events)
        second = next_within(events)
    with client.subscribe(kinds=["entry_applied"], last_event_id=first.id) as replay:
        again = next_within(replay)
    assert again.id == second.id
    assert again.applied.entry.knowledge.content == "two"
    with client.subscribe(last_event_id="stale-1") as stale:
        assert next_within(stale).kind == pb.EventKind.Value("RESET")


def test_after_arrival_replays_the_pacts_entries(client: openpact.Client) -> None:
    first = client.create_knowledge("arrival", "one")
    second = client.create_knowledge("arrival", "two")
    # Only the changes feed fills in `arrival` (create, lists and GetEntry leave it 0).
    arrival = {e.id: e.arrival for e in client.changes().entries}[first.id]
    with client.subscribe(pact=client.default_pact, after_arrival=arrival) as events:
        replayed = next_within(events)
        assert replayed.applied.id == second.id
        assert replayed.applied.entry.knowledge.content == "two"


def test_unknown_pact_fails_at_subscribe(client: openpact.Client) -> None:
    with pytest.raises(openpact.UnknownPactError):
        client.subscribe(pact="no-such-pact")
    with pytest.raises(ValueError, match="unknown event kind"):
        client.subscribe(kinds=["entry-vanished"])


def test_the_stream_ends_when_the_daemon_stops(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()
    with openpact.Client(d.data_dir) as c:
        events = c.subscribe()
        threading.Timer(0.2, d.stop).start()
        watchdog = threading.Timer(15, events.close)
        watchdog.start()
        try:
            leftover = list(events)
        except openpact.DaemonUnavailableError:
            leftover = []  # the connection dropped before the stream's end arrived: also fine
        finally:
            watchdog.cancel()
        assert all(e.kind != APPLIED for e in leftover)
        assert events.closed


async def test_async_subscribe_receives_a_write(aclient: openpact.AsyncClient, pact: str) -> None:
    async with aclient.subscribe(kinds=["entry_applied"]) as events:
        posted = await aclient.post_message("Standup in 5")
        event = await asyncio.wait_for(anext(events), 10)
    assert event.alias == pact
    assert event.applied.id == posted.id
    assert event.applied.entry.message.content == "Standup in 5"
    assert events.closed
    # Awaiting the stream registers it too.
    events = await aclient.subscribe(kinds=[APPLIED])
    try:
        k = await aclient.create_knowledge("t", "x")
        assert (await asyncio.wait_for(anext(events), 10)).applied.id == k.id
    finally:
        await events.aclose()


async def test_async_close_ends_iteration_cleanly(aclient: openpact.AsyncClient) -> None:
    async with aclient.subscribe() as events:
        asyncio.get_running_loop().call_later(0.2, events.close)
        got = [e async for e in events]
    assert got == []


async def test_cancelling_the_reader_cancels(aclient: openpact.AsyncClient) -> None:
    async with aclient.subscribe() as events:
        reader = asyncio.create_task(anext(events))
        await asyncio.sleep(0.1)
        reader.cancel()
        with pytest.raises(asyncio.CancelledError):
            await reader
    assert events.closed
    # The client works on after it.
    assert (await aclient.ping()).ok


async def test_async_unknown_pact_fails_on_enter(aclient: openpact.AsyncClient) -> None:
    with pytest.raises(openpact.UnknownPactError):
        async with aclient.subscribe(pact="no-such-pact"):
            pass
    with pytest.raises(openpact.UnknownPactError):
        async for _ in aclient.subscribe(pact="no-such-pact"):
            pass
