"""Writes and lists: knowledge, messages, tasks and skills, page by page and through iterators."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

import openpact
from openpact import pb


def test_knowledge_round_trip(client: openpact.Client) -> None:
    entry = client.create_knowledge(
        "sales", "Tuesdays convert", source="crm", extra={"score": 3, "tags": ["a"]}
    )
    assert entry.type == pb.EntryType.Value("KNOWLEDGE")
    assert entry.WhichOneof("payload") == "knowledge"
    assert entry.knowledge.topic == "sales"
    assert entry.knowledge.content == "Tuesdays convert"
    assert entry.knowledge.source == "crm"
    assert json.loads(entry.knowledge.extra_json) == {"score": 3, "tags": ["a"]}
    assert entry.agent_id == client.pact_status().peer_handle
    assert entry.outcome == "applied"
    assert client.get_entry(entry.id) == client.list_knowledge().entries[0]


def test_seven_entries_in_pages_of_three(client: openpact.Client) -> None:
    ids = [client.create_knowledge("paged", f"c{i}").id for i in range(7)]
    client.create_knowledge("other", "not in the topic")

    # The pages themselves: 3, 3, 1, newest first, each cursor feeding the next page.
    pages = []
    cursor = None
    while True:
        page = client.list_knowledge(topic="paged", limit=3, cursor=cursor)
        pages.append([e.knowledge.content for e in page.entries])
        if not page.has_more:
            break
        cursor = page.cursor
    assert pages[:3] == [["c6", "c5", "c4"], ["c3", "c2", "c1"], ["c0"]]
    # has_more ignores the topic filter (spec section 9): one more, empty page may follow.
    assert pages[3:] in ([], [[]])

    # The iterator walks the same pages: all seven, once each, newest first.
    walked = list(client.iter_knowledge(topic="paged", page_size=3))
    assert [e.id for e in walked] == ids[::-1]
    assert [e.id for e in client.iter_knowledge(topic="paged", page_size=3, order="asc")] == ids
    assert len(list(client.iter_knowledge(page_size=2))) == 8


def test_iterator_fetches_pages_lazily(client: openpact.Client) -> None:
    for i in range(5):
        client.create_knowledge("lazy", f"c{i}")
    it = client.iter_knowledge(topic="lazy", page_size=2)
    assert next(it).knowledge.content == "c4"
    client.create_knowledge("lazy", "late")  # newer than the walk's cursor: not seen
    assert [e.knowledge.content for e in it] == ["c3", "c2", "c1", "c0"]


def test_empty_list(client: openpact.Client) -> None:
    page = client.list_knowledge(topic="nothing")
    assert (list(page.entries), page.HasField("cursor"), page.has_more) == ([], False, False)
    assert list(client.iter_knowledge(topic="nothing")) == []


def test_messages(client: openpact.Client) -> None:
    first = client.post_message("heads up", priority="high")
    reply = client.post_message("reply", reply_to=first.id)
    client.post_message("psst", to="anon-falcon-deadbeef")
    assert reply.refs == [first.id]
    assert [e.message.content for e in client.referenced_by(first.id)] == ["reply"]
    contents = [e.message.content for e in client.iter_messages(page_size=2)]
    assert contents == ["psst", "reply", "heads up"]
    [addressed] = client.iter_messages(to="anon-falcon-deadbeef")
    assert (addressed.message.content, addressed.message.to) == ("psst", "anon-falcon-deadbeef")
    me = client.pact_status().peer_handle
    assert len(list(client.iter_messages(agent_id=me, page_size=1))) == 3
    assert list(client.iter_messages(agent_id="anon-ghost-00000000")) == []
    later = list(client.iter_messages(since_ms=first.time_ms))
    assert first.id not in [e.id for e in later]


def test_tasks_life_cycle(client: openpact.Client) -> None:
    task = client.create_task("Build landing page", description="hero first")
    assert (task.status, task.HasField("claimed_by"), len(task.history)) == ("open", False, 1)
    me = client.pact_status().peer_handle

    claimed = client.claim_task(task.id)
    assert (claimed.status, claimed.claimed_by) == ("claimed", me)
    released = client.release_task(task.id)
    assert (released.status, released.HasField("claimed_by")) == ("open", False)
    client.claim_task(task.id)
    done = client.complete_task(task.id, result="shipped")
    assert (done.status, done.result) == ("complete", "shipped")
    assert client.get_task(task.id).status == "complete"
    assert len(client.referenced_by(task.id)) == 4


def test_claim_waits_for_confirmation(client: openpact.Client) -> None:
    task = client.create_task("confirm me")
    claimed = client.claim_task(task.id, wait="confirmed", wait_ms=5000)
    assert claimed.status == "claimed"
    assert claimed.confirmed
    done = client.complete_task(task.id, wait="confirmed")
    assert done.confirmed and done.outcome == "applied"
    with pytest.raises(ValueError, match="wait"):
        client.claim_task(task.id, wait="eventually")  # type: ignore[arg-type]


def test_tasks_pages_and_status_filter(client: openpact.Client) -> None:
    tasks = [client.create_task(f"t{i}") for i in range(5)]
    client.claim_task(tasks[1].id)
    assert [t.title for t in client.iter_tasks(page_size=2)] == ["t4", "t3", "t2", "t1", "t0"]
    assert [t.title for t in client.iter_tasks(status="claimed", page_size=2)] == ["t1"]
    assert len(list(client.iter_tasks(status="open", page_size=2))) == 4
    page = client.list_tasks(limit=2)
    assert len(page.tasks) == 2 and page.has_more


def test_skills(client: openpact.Client, tmp_path: Path) -> None:
    assert openpact.skill_checksum("hello world") == (
        "sha256:d5ae0e2bf8419e3fdfbb6b26073fdb005a0e39ec45019e426dd68ffad6815083"
    )
    published = [
        client.publish_skill("scraper", "1.0.0", "# scrape\n", format="openclaw"),
        client.publish_skill("chain", "0.1.0", "print(1)\n", format="langchain"),
        client.publish_skill("notes", "2.0.0", "plain", requires_approval=True),
    ]
    assert published[2].skill.requires_approval
    assert [e.skill.name for e in client.iter_skills(page_size=2)] == ["notes", "chain", "scraper"]
    assert [e.skill.name for e in client.iter_skills(format="openclaw")] == ["scraper"]

    content = client.skill_content(published[0].id)
    assert (content.content, content.checksum) == ("# scrape\n", published[0].skill.checksum)

    assert client.installed_skills() == []
    installed = client.install_skill(published[0].id)
    assert installed.path.endswith("/skills/scraper@1.0.0.md")
    assert Path(installed.path).read_text() == "# scrape\n"
    assert [s.name for s in client.installed_skills()] == ["scraper"]


def test_changes_feed(client: openpact.Client) -> None:
    head = client.changes(from_head=True)
    k = client.create_knowledge("feed", "one")
    t = client.create_task("two")
    page = client.changes(since=head.cursor if head.HasField("cursor") else None)
    assert [e.id for e in page.entries][-2:] == [k.id, t.id]
    only_tasks = client.changes(since=head.cursor or None, entry_type="task")
    assert [e.id for e in only_tasks.entries] == [t.id]
    # Long-poll: nothing new, so the answer comes after about wait_ms.
    quiet = client.changes(since=page.cursor, wait_ms=300)
    assert list(quiet.entries) == []


def test_pacts_and_agents(client: openpact.Client, pact: str) -> None:
    listed = client.list_pacts()
    assert pact in [p.alias for p in listed.pacts]
    status = client.pact_status()
    assert (status.alias, status.role, status.is_member) == (pact, "creator", True)
    agents = client.list_agents()
    assert len(agents) == 1 and agents[0].is_self and agents[0].online
    assert client.list_agents(online=False) == []
    assert client.set_me("Ada").display_name == "Ada"
    info = client.set_info(name="Renamed", purpose="why")
    assert (info.pact_name, info.pact_purpose) == ("Renamed", "why")
    info = client.set_info(purpose=None)
    assert (info.pact_name, info.HasField("pact_purpose")) == ("Renamed", False)
    host = client.status()
    assert host.pact_count >= 1 and host.data_dir == str(client.socket_path.parent)
    assert client.health().ok and client.ready().ok


def test_pact_switch_rename_delete(client: openpact.Client, pact: str) -> None:
    created = client.create_pact("Side", alias=f"{pact}-side")
    assert created.role == "creator" and len(created.pact_id) == 64
    renamed = client.rename_pact(created.alias, f"{pact}-s2")
    assert renamed.pact_id == created.pact_id
    # The per-call pact wins over the client's.
    client.create_knowledge("where", "side", pact=renamed.alias)
    assert [e.knowledge.content for e in client.iter_knowledge(pact=renamed.pact_id)] == ["side"]
    assert list(client.iter_knowledge(topic="where")) == []
    before = client.list_pacts().current
    assert client.switch_pact(renamed.alias).current == renamed.alias
    client.switch_pact(before)
    deleted = client.delete_pact(renamed.alias, confirm=renamed.pact_id)
    assert deleted.pact_id == created.pact_id
    assert renamed.alias not in [p.alias for p in client.list_pacts().pacts]


def test_invites(client: openpact.Client) -> None:
    invite = client.mint_invite(ttl_ms=60_000)
    assert len(invite.nonce) == 48 and "invite=" in invite.share_url
    [summary] = client.list_invites()
    assert (summary.nonce, summary.revoked, summary.dead) == (invite.nonce, False, False)
    assert client.revoke_invite(invite.nonce).nonce == invite.nonce
    [summary] = client.list_invites()
    assert summary.revoked and summary.dead


async def test_async_pagination(aclient: openpact.AsyncClient) -> None:
    ids = [(await aclient.create_knowledge("paged", f"c{i}")).id for i in range(7)]
    walked = [e.id async for e in aclient.iter_knowledge(topic="paged", page_size=3)]
    assert walked == ids[::-1]
    for i in range(3):
        await aclient.post_message(f"m{i}")
        await aclient.create_task(f"t{i}")
    assert [e.message.content async for e in aclient.iter_messages(page_size=2)] == [
        "m2",
        "m1",
        "m0",
    ]
    assert [t.title async for t in aclient.iter_tasks(page_size=2)] == ["t2", "t1", "t0"]
    await aclient.publish_skill("s", "1.0.0", "x")
    assert [e.skill.name async for e in aclient.iter_skills(page_size=1)] == ["s"]


async def test_async_tasks_and_host(aclient: openpact.AsyncClient, pact: str) -> None:
    assert (await aclient.ping()).ok
    assert pact in [p.alias for p in (await aclient.list_pacts()).pacts]
    task = await aclient.create_task("async")
    claimed = await aclient.claim_task(task.id, wait="confirmed")
    assert claimed.status == "claimed" and claimed.confirmed
    assert (await aclient.complete_task(task.id, result="ok")).result == "ok"
    assert (await aclient.get_task(task.id)).status == "complete"
    assert len(await aclient.referenced_by(task.id)) == 2
    assert (await aclient.pact_status()).alias == pact
    assert len(await aclient.list_agents()) == 1
