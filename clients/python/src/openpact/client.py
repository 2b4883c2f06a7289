"""The blocking client: :class:`Client` and its event stream :class:`EventStream`."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from pathlib import Path
from types import TracebackType
from typing import Any, TypeVar

import grpc

from . import _calls, discovery
from ._calls import (
    DEFAULT_PAGE_SIZE,
    DEFAULT_TIMEOUT,
    UNSET,
    EntryTypeName,
    Order,
    SkillFormat,
    TaskStatus,
    WaitFor,
    _Unset,
)
from ._proto.openpact.v1 import (
    common_pb2,
    events_pb2,
    events_pb2_grpc,
    host_pb2,
    host_pb2_grpc,
    pact_pb2,
    pact_pb2_grpc,
)
from .errors import from_rpc_error
from .events import EventStream

__all__ = ["Client"]

_Resp = TypeVar("_Resp")
_Page = TypeVar("_Page", bound=_calls.Paged)
_Row = TypeVar("_Row")


class Client:
    """A connection to the local OpenPact daemon over its unix socket (blocking calls).

    The socket is ``socket`` when given, else ``<data_dir>/openpact.sock`` with the data dir
    from the argument, ``$OPENPACT_DATA_DIR`` or ``~/.openpact``. Per-pact calls name ``pact``
    (alias or id) when given, else the client's ``pact``, else the daemon's current pact.
    ``timeout`` (seconds, None for none) bounds each call; calls that wait on purpose
    (``wait_ms``) get that time on top. Failures raise :class:`openpact.OpenPactError` subclasses.

    The generated stubs stay reachable as :attr:`host`, :attr:`pact` and :attr:`events` for
    anything the methods do not cover; they raise plain ``grpc.RpcError`` exceptions, which
    :func:`openpact.errors.from_rpc_error` converts.
    """

    def __init__(
        self,
        data_dir: str | os.PathLike[str] | None = None,
        *,
        socket: str | os.PathLike[str] | None = None,
        pact: str | None = None,
        timeout: float | None = DEFAULT_TIMEOUT,
    ) -> None:
        #: The unix socket this client talks to.
        self.socket_path: Path = discovery.socket_path(data_dir, socket)
        #: The pact (alias or id) of per-pact calls that name none; None: the current pact.
        self.default_pact: str | None = pact
        #: Deadline of one call, in seconds (None: no deadline).
        self.timeout: float | None = timeout
        #: The gRPC channel.
        self.channel: grpc.Channel = grpc.insecure_channel(
            discovery.target(self.socket_path), options=_calls.CHANNEL_OPTIONS
        )
        #: The generated stub of the ``openpact.v1.Host`` service.
        self.host = host_pb2_grpc.HostStub(self.channel)
        #: The generated stub of the ``openpact.v1.Pact`` service.
        self.pact = pact_pb2_grpc.PactStub(self.channel)
        #: The generated stub of the ``openpact.v1.Events`` service.
        self.events = events_pb2_grpc.EventsStub(self.channel)

    def __repr__(self) -> str:
        return f"Client(socket={str(self.socket_path)!r}, pact={self.default_pact!r})"

    def __enter__(self) -> Client:
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.close()

    def close(self) -> None:
        """Closes the channel (open event streams end)."""
        self.channel.close()

    def _call(self, method: Callable[..., _Resp], request: Any, wait_ms: int = 0) -> _Resp:
        try:
            return method(request, timeout=_calls.deadline(self.timeout, wait_ms))
        except grpc.RpcError as e:
            raise from_rpc_error(e, self.socket_path) from None

    def _pact(self, pact: str | None) -> str:
        return _calls.pact_of(pact, self.default_pact)

    # The daemon and its pacts.

    def ping(self) -> host_pb2.PingResponse:
        """Answers when the daemon serves requests: its data dir, pid and version."""
        return self._call(self.host.Ping, host_pb2.PingRequest())

    def health(self) -> host_pb2.HealthResponse:
        """Liveness; never touches daemon state."""
        return self._call(self.host.Health, host_pb2.HealthRequest())

    def ready(self) -> host_pb2.ReadyResponse:
        """Ready once at least one pact exists."""
        return self._call(self.host.Ready, host_pb2.ReadyRequest())

    def status(self) -> host_pb2.HostStatusResponse:
        """The daemon: current pact, pact count, agents, version, process facts."""
        return self._call(self.host.Status, host_pb2.HostStatusRequest())

    def list_pacts(self) -> host_pb2.ListPactsResponse:
        """The pacts on this host and the current one."""
        return self._call(self.host.ListPacts, host_pb2.ListPactsRequest())

    def create_pact(
        self,
        name: str,
        *,
        alias: str | None = None,
        purpose: str | None = None,
        display_name: str | None = None,
        claim_ttl_ms: int = 0,
        force: bool = False,
        confirm: bool = True,
    ) -> host_pb2.CreatePactResponse:
        """Seals a new pact with this host as its creator (current if none was).

        ``alias`` is slugged from ``name`` when absent; ``force`` replaces a pact with the same
        alias. Raises :class:`PactAliasExistsError` when the alias is taken.
        """
        request = host_pb2.CreatePactRequest(
            name=name,
            alias=alias,
            purpose=purpose,
            display_name=display_name,
            claim_ttl_ms=claim_ttl_ms,
            force=force,
            confirm=confirm,
        )
        return self._call(self.host.CreatePact, request)

    def switch_pact(self, alias: str, *, confirm: str | None = None) -> host_pb2.SwitchPactResponse:
        """Makes the pact with ``alias`` the current one."""
        request = host_pb2.SwitchPactRequest(
            alias=alias, confirm=alias if confirm is None else confirm
        )
        return self._call(self.host.SwitchPact, request)

    def rename_pact(self, pact: str, alias: str) -> host_pb2.RenamePactResponse:
        """Gives the pact (alias or id) a new local alias."""
        return self._call(self.host.RenamePact, host_pb2.RenamePactRequest(pact=pact, alias=alias))

    def delete_pact(self, pact: str, *, confirm: str) -> host_pb2.DeletePactResponse:
        """Removes the pact from this host and wipes its directory.

        ``confirm`` must repeat the pact's alias or id: the deletion cannot be undone.
        """
        request = host_pb2.DeletePactRequest(pact=pact, confirm=confirm)
        return self._call(self.host.DeletePact, request)

    def join_pact(
        self,
        key: str,
        *,
        alias: str | None = None,
        display_name: str | None = None,
        pact_name: str | None = None,
        pact_purpose: str | None = None,
        token: str | None = None,
        timeout_ms: int = 0,
        confirm: bool = True,
    ) -> host_pb2.JoinPactResponse:
        """Joins another daemon's pact.

        With ``key`` alone the pact is added with no role (redeem an invite to write). With an
        invite ``token`` (``key`` may be empty) the daemon redeems it at one of the pact's
        indexers over QUIC and answers once it is a member (waiting up to ``timeout_ms``, 0 for
        30 s).
        """
        request = host_pb2.JoinPactRequest(
            key=key,
            alias=alias,
            display_name=display_name,
            pact_name=pact_name,
            pact_purpose=pact_purpose,
            token=token,
            timeout_ms=timeout_ms,
            confirm=confirm,
        )
        return self._call(self.host.JoinPact, request)

    # One pact.

    def pact_status(self, *, pact: str | None = None) -> pact_pb2.PactStatus:
        """The pact: ids, this peer's handle and role, ledger counters."""
        return self._call(self.pact.Status, pact_pb2.PactStatusRequest(pact=self._pact(pact)))

    def list_agents(
        self, *, online: bool | None = None, pact: str | None = None
    ) -> list[pact_pb2.Agent]:
        """The pact's agents: this peer first, then every member (``online`` filters)."""
        request = pact_pb2.ListAgentsRequest(pact=self._pact(pact), online=online)
        return list(self._call(self.pact.ListAgents, request).agents)

    def create_knowledge(
        self,
        topic: str,
        content: str,
        *,
        source: str | None = None,
        extra: Mapping[str, Any] | None = None,
        pact: str | None = None,
    ) -> common_pb2.Entry:
        """Records a piece of knowledge under ``topic``; ``extra`` fields are kept as given."""
        request = pact_pb2.CreateKnowledgeRequest(
            pact=self._pact(pact),
            topic=topic,
            content=content,
            source=source,
            extra_json=_calls.extra_json(extra),
        )
        return self._call(self.pact.CreateKnowledge, request)

    def list_knowledge(
        self,
        *,
        topic: str | None = None,
        order: Order = "desc",
        limit: int = 0,
        cursor: str | None = None,
        pact: str | None = None,
    ) -> common_pb2.EntryPage:
        """One page of knowledge (``limit`` 0: 50), newest first unless ``order="asc"``."""
        request = pact_pb2.ListKnowledgeRequest(
            pact=self._pact(pact), page=_calls.page(order, limit, cursor), topic=topic
        )
        return self._call(self.pact.ListKnowledge, request)

    def iter_knowledge(
        self,
        *,
        topic: str | None = None,
        order: Order = "desc",
        page_size: int = DEFAULT_PAGE_SIZE,
        pact: str | None = None,
    ) -> Iterator[common_pb2.Entry]:
        """Every knowledge entry, page after page."""
        return _walk(
            lambda cursor: self.list_knowledge(
                topic=topic, order=order, limit=page_size, cursor=cursor, pact=pact
            ),
            lambda page: page.entries,
        )

    def post_message(
        self,
        content: str,
        *,
        to: str | None = None,
        priority: str | None = None,
        reply_to: str | None = None,
        pact: str | None = None,
    ) -> common_pb2.Entry:
        """Posts a message to everyone, or ``to`` one handle (end-to-end encrypted then)."""
        request = pact_pb2.PostMessageRequest(
            pact=self._pact(pact), content=content, to=to, priority=priority, reply_to=reply_to
        )
        return self._call(self.pact.PostMessage, request)

    def list_messages(
        self,
        *,
        since_ms: int | None = None,
        agent_id: str | None = None,
        to: str | None = None,
        order: Order = "desc",
        limit: int = 0,
        cursor: str | None = None,
        pact: str | None = None,
    ) -> common_pb2.EntryPage:
        """One page of messages, optionally only after ``since_ms``, by ``agent_id`` or ``to``."""
        request = pact_pb2.ListMessagesRequest(
            pact=self._pact(pact),
            page=_calls.page(order, limit, cursor),
            since_ms=since_ms,
            agent_id=agent_id,
            to=to,
        )
        return self._call(self.pact.ListMessages, request)

    def iter_messages(
        self,
        *,
        since_ms: int | None = None,
        agent_id: str | None = None,
        to: str | None = None,
        order: Order = "desc",
        page_size: int = DEFAULT_PAGE_SIZE,
        pact: str | None = None,
    ) -> Iterator[common_pb2.Entry]:
        """Every message, page after page."""
        return _walk(
            lambda cursor: self.list_messages(
                since_ms=since_ms,
                agent_id=agent_id,
                to=to,
                order=order,
                limit=page_size,
                cursor=cursor,
                pact=pact,
            ),
            lambda page: page.entries,
        )

    def create_task(
        self,
        title: str,
        *,
        description: str | None = None,
        assigned_to: str | None = None,
        extra: Mapping[str, Any] | None = None,
        pact: str | None = None,
    ) -> pact_pb2.TaskState:
        """Adds an open task; ``assigned_to`` reserves it for one handle."""
        request = pact_pb2.CreateTaskRequest(
            pact=self._pact(pact),
            title=title,
            description=description,
            assigned_to=assigned_to,
            extra_json=_calls.extra_json(extra),
        )
        return self._call(self.pact.CreateTask, request)

    def list_tasks(
        self,
        *,
        status: TaskStatus | None = None,
        order: Order = "desc",
        limit: int = 0,
        cursor: str | None = None,
        pact: str | None = None,
    ) -> pact_pb2.TaskPage:
        """One page of tasks, optionally only those with ``status``."""
        request = pact_pb2.ListTasksRequest(
            pact=self._pact(pact), page=_calls.page(order, limit, cursor), status=status
        )
        return self._call(self.pact.ListTasks, request)

    def iter_tasks(
        self,
        *,
        status: TaskStatus | None = None,
        order: Order = "desc",
        page_size: int = DEFAULT_PAGE_SIZE,
        pact: str | None = None,
    ) -> Iterator[pact_pb2.TaskState]:
        """Every task, page after page."""
        return _walk(
            lambda cursor: self.list_tasks(
                status=status, order=order, limit=page_size, cursor=cursor, pact=pact
            ),
            lambda page: page.tasks,
        )

    def get_task(self, id: str, *, pact: str | None = None) -> pact_pb2.TaskState:
        """The task as its history leaves it."""
        request = pact_pb2.GetTaskRequest(pact=self._pact(pact), id=id)
        return self._call(self.pact.GetTask, request)

    def claim_task(
        self,
        id: str,
        *,
        wait: WaitFor = "applied",
        wait_ms: int = 0,
        pact: str | None = None,
    ) -> pact_pb2.TaskState:
        """Claims an open task for this agent.

        With ``wait="confirmed"`` the call returns once the indexers confirmed the claim (or
        raises :class:`NotConfirmedYetError` after ``wait_ms``, default 10 s). A lost race raises
        :class:`TaskAlreadyClaimedError`, or :class:`TaskNotOpenError` when the winner was
        already there: both mean someone else has the task.
        """
        return self._task_action(self.pact.ClaimTask, id, None, wait, wait_ms, pact)

    def complete_task(
        self,
        id: str,
        *,
        result: str | None = None,
        wait: WaitFor = "applied",
        wait_ms: int = 0,
        pact: str | None = None,
    ) -> pact_pb2.TaskState:
        """Completes a task (claimed by this agent, or open) with an optional ``result``."""
        return self._task_action(self.pact.CompleteTask, id, result, wait, wait_ms, pact)

    def release_task(
        self,
        id: str,
        *,
        wait: WaitFor = "applied",
        wait_ms: int = 0,
        pact: str | None = None,
    ) -> pact_pb2.TaskState:
        """Gives a task this agent claimed back (open again)."""
        return self._task_action(self.pact.ReleaseTask, id, None, wait, wait_ms, pact)

    def _task_action(
        self,
        method: Callable[..., pact_pb2.TaskState],
        id: str,
        result: str | None,
        wait: WaitFor,
        wait_ms: int,
        pact: str | None,
    ) -> pact_pb2.TaskState:
        request = pact_pb2.TaskActionRequest(
            pact=self._pact(pact), id=id, result=result, wait=_calls.wait(wait), wait_ms=wait_ms
        )
        return self._call(method, request, _calls.action_wait_ms(wait, wait_ms))

    def publish_skill(
        self,
        name: str,
        version: str,
        content: str,
        *,
        format: SkillFormat = "generic",
        checksum: str | None = None,
        description: str | None = None,
        requires_approval: bool | None = None,
        extra: Mapping[str, Any] | None = None,
        pact: str | None = None,
    ) -> common_pb2.Entry:
        """Publishes a skill; ``checksum`` is computed from ``content`` unless given."""
        request = pact_pb2.PublishSkillRequest(
            pact=self._pact(pact),
            name=name,
            version=version,
            format=format,
            content=content,
            checksum=_calls.skill_checksum(content) if checksum is None else checksum,
            description=description,
            requires_approval=requires_approval,
            extra_json=_calls.extra_json(extra),
        )
        return self._call(self.pact.PublishSkill, request)

    def list_skills(
        self,
        *,
        format: SkillFormat | None = None,
        order: Order = "desc",
        limit: int = 0,
        cursor: str | None = None,
        pact: str | None = None,
    ) -> common_pb2.EntryPage:
        """One page of skills, optionally of one ``format``."""
        request = pact_pb2.ListSkillsRequest(
            pact=self._pact(pact), page=_calls.page(order, limit, cursor), format=format
        )
        return self._call(self.pact.ListSkills, request)

    def iter_skills(
        self,
        *,
        format: SkillFormat | None = None,
        order: Order = "desc",
        page_size: int = DEFAULT_PAGE_SIZE,
        pact: str | None = None,
    ) -> Iterator[common_pb2.Entry]:
        """Every skill, page after page."""
        return _walk(
            lambda cursor: self.list_skills(
                format=format, order=order, limit=page_size, cursor=cursor, pact=pact
            ),
            lambda page: page.entries,
        )

    def skill_content(self, id: str, *, pact: str | None = None) -> pact_pb2.SkillContent:
        """The skill's content, verified against its checksum."""
        request = pact_pb2.GetSkillContentRequest(pact=self._pact(pact), id=id)
        return self._call(self.pact.GetSkillContent, request)

    def install_skill(
        self, id: str, *, confirm: bool = True, pact: str | None = None
    ) -> pact_pb2.InstalledSkill:
        """Writes the verified skill to ``pacts/<alias>/skills/<name>@<version>.<ext>``."""
        request = pact_pb2.InstallSkillRequest(pact=self._pact(pact), id=id, confirm=confirm)
        return self._call(self.pact.InstallSkill, request)

    def installed_skills(self, *, pact: str | None = None) -> list[pact_pb2.InstalledSkill]:
        """The skills installed from this pact."""
        request = pact_pb2.ListInstalledSkillsRequest(pact=self._pact(pact))
        return list(self._call(self.pact.ListInstalledSkills, request).skills)

    def get_entry(self, id: str, *, pact: str | None = None) -> common_pb2.Entry:
        """Any entry by id."""
        request = pact_pb2.GetEntryRequest(pact=self._pact(pact), id=id)
        return self._call(self.pact.GetEntry, request)

    def referenced_by(self, id: str, *, pact: str | None = None) -> list[common_pb2.Entry]:
        """The entries whose refs name ``id`` (replies, a task's claims and completes)."""
        request = pact_pb2.ReferencedByRequest(pact=self._pact(pact), id=id)
        return list(self._call(self.pact.ReferencedBy, request).entries)

    def changes(
        self,
        *,
        since: str | None = None,
        wait_ms: int = 0,
        limit: int = 0,
        entry_type: EntryTypeName | None = None,
        from_head: bool = False,
        pact: str | None = None,
    ) -> pact_pb2.ChangesResponse:
        """Applied entries in arrival order after the cursor ``since``.

        ``wait_ms`` (at most 30000) long-polls when nothing is there yet; ``from_head`` answers
        at once with the current head as the cursor.
        """
        request = pact_pb2.ChangesRequest(
            pact=self._pact(pact),
            since=since,
            wait_ms=wait_ms,
            limit=limit,
            type=_calls.entry_type(entry_type),
            from_head=from_head,
        )
        return self._call(self.pact.Changes, request, wait_ms)

    def set_info(
        self,
        *,
        name: str | None | _Unset = UNSET,
        purpose: str | None | _Unset = UNSET,
        claim_ttl_ms: int | None = None,
        pact: str | None = None,
    ) -> pact_pb2.SetInfoResponse:
        """Changes the pact's name, purpose or claim TTL (creator only).

        A field left out stays as it is; ``None`` clears it.
        """
        request = pact_pb2.SetInfoRequest(
            pact=self._pact(pact),
            name=_calls.optional_string(name),
            purpose=_calls.optional_string(purpose),
            claim_ttl_ms=claim_ttl_ms,
        )
        return self._call(self.pact.SetInfo, request)

    def set_me(
        self, display_name: str | None, *, pact: str | None = None
    ) -> pact_pb2.SetMeResponse:
        """Sets this agent's display name in the pact (``None`` or "" clears it)."""
        request = pact_pb2.SetMeRequest(pact=self._pact(pact), display_name=display_name)
        return self._call(self.pact.SetMe, request)

    def mint_invite(
        self, *, ttl_ms: int = 0, confirm: bool = True, pact: str | None = None
    ) -> pact_pb2.MintInviteResponse:
        """Mints an invite token (creator only); ``ttl_ms`` 0 means 7 days."""
        request = pact_pb2.MintInviteRequest(pact=self._pact(pact), ttl_ms=ttl_ms, confirm=confirm)
        return self._call(self.pact.MintInvite, request)

    def list_invites(self, *, pact: str | None = None) -> list[pact_pb2.InviteSummary]:
        """The pact's invites, in minting order."""
        request = pact_pb2.ListInvitesRequest(pact=self._pact(pact))
        return list(self._call(self.pact.ListInvites, request).invites)

    def revoke_invite(
        self, nonce: str, *, confirm: str | None = None, pact: str | None = None
    ) -> pact_pb2.RevokeInviteResponse:
        """Revokes the invite with ``nonce`` on every indexer (creator only)."""
        request = pact_pb2.RevokeInviteRequest(
            pact=self._pact(pact), nonce=nonce, confirm=nonce if confirm is None else confirm
        )
        return self._call(self.pact.RevokeInvite, request)

    def redeem_invite(
        self, token: str, writer_key: str, *, confirm: bool = True, pact: str | None = None
    ) -> pact_pb2.RedeemInviteResponse:
        """Redeems an invite token for a joiner's member key (64 hex), on an indexer."""
        request = pact_pb2.RedeemInviteRequest(
            pact=self._pact(pact), token=token, writer_key=writer_key, confirm=confirm
        )
        return self._call(self.pact.RedeemInvite, request)

    # Events.

    def subscribe(
        self,
        *,
        kinds: Iterable[int | str] | None = None,
        pact: str | Sequence[str] | None = None,
        last_event_id: str | None = None,
        after_arrival: int | None = None,
    ) -> EventStream:
        """Opens a stream of events; iterate it, and close it (or use ``with``) when done.

        ``kinds`` filters by :class:`EventKind` (values or names such as ``"entry_applied"``).
        ``pact`` names one pact or several; by default the client's pact, else every pact (an
        empty list also means every pact). ``last_event_id`` resumes after an event of this
        daemon run (a ``RESET`` event says it is too old: resync with :meth:`changes`).

        The daemon has registered the subscription when this returns, so every event of a
        later write arrives.
        """
        request = events_pb2.SubscribeRequest(
            pacts=_calls.subscribed_pacts(pact, self.default_pact),
            kinds=_calls.event_kinds(kinds),
            last_event_id=last_event_id,
            after_arrival=after_arrival,
        )
        call: Any = self.events.Subscribe(request)  # a grpc.Call and an iterator
        # The daemon answers with headers once the subscription is in place (or with an error).
        call.initial_metadata()
        if call.done() and call.code() != grpc.StatusCode.OK:
            raise from_rpc_error(call, self.socket_path)
        return EventStream(call, self.socket_path)


def _walk(
    fetch: Callable[[str | None], _Page], rows: Callable[[_Page], Sequence[_Row]]
) -> Iterator[_Row]:
    """Every row of every page: follows the cursor until the daemon says there is no more."""
    cursor: str | None = None
    while True:
        page = fetch(cursor)
        got = rows(page)
        yield from got
        following = _calls.next_cursor(page, len(got))
        if following is None or following == cursor:  # the end, or no progress
            return
        cursor = following
