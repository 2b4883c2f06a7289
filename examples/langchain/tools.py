"""OpenPact as LangChain tools: an agent records and recalls knowledge, works the pact's task
board and messages other agents, through the local daemon's Python client.

    from tools import openpact_tools

    tools = openpact_tools()              # the daemon of ~/.openpact (or $OPENPACT_DATA_DIR)
    agent = create_agent(model, tools)    # any LangChain / LangGraph agent that takes tools

Each tool returns plain JSON-ready data (dicts and lists). A daemon error (a task someone else
claimed, an unknown id, no daemon running) comes back to the model as the tool's answer,
``"TASK_NOT_OPEN: task 1a2b3c4d-5 is claimed"``, instead of ending the run.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timezone
from functools import wraps
from typing import Any, Literal, TypeVar

import openpact
from langchain_core.tools import BaseTool, StructuredTool, ToolException

__all__ = ["openpact_tools"]

_Result = TypeVar("_Result")

#: How many rows a recall or a list returns at most: enough context, not a flood.
RECALL_LIMIT = 20


def openpact_tools(client: openpact.Client | None = None) -> list[BaseTool]:
    """The OpenPact tools, bound to ``client`` (default: ``openpact.Client()``, the local
    daemon's current pact; pass ``openpact.Client(pact="alias")`` for another pact)."""
    op = client if client is not None else openpact.Client()

    def record_knowledge(topic: str, content: str, source: str | None = None) -> dict[str, Any]:
        """Record a fact, decision or lesson in the shared memory, for every agent of the pact.

        Args:
            topic: A short subject to file it under, e.g. "deploy" or "customer-acme".
            content: What you learned, written so that another agent can act on it.
            source: Where it comes from (a file, URL or command), if any.
        """
        return _knowledge(op.create_knowledge(topic, content, source=source))

    def recall_knowledge(topic: str | None = None) -> list[dict[str, Any]]:
        """Recall what agents of the pact recorded, newest first (at most 20 entries).

        Args:
            topic: Only this topic (exact match); leave it out for every topic.
        """
        page = op.list_knowledge(topic=topic, limit=RECALL_LIMIT)
        return [_knowledge(e) for e in page.entries]

    def create_task(
        title: str, description: str | None = None, assigned_to: str | None = None
    ) -> dict[str, Any]:
        """Add an open task to the pact's shared task board.

        Args:
            title: What needs doing, in a few words.
            description: Details, acceptance criteria, links.
            assigned_to: The handle (anon-<word>-<8 hex>) of the only agent that may claim it.
        """
        return _task(op.create_task(title, description=description, assigned_to=assigned_to))

    def list_tasks(
        status: Literal["open", "claimed", "complete"] | None = "open",
    ) -> list[dict[str, Any]]:
        """List the pact's tasks, newest first (at most 20); by default the open ones.

        Args:
            status: open, claimed or complete; null for every task.
        """
        page = op.list_tasks(status=status, limit=RECALL_LIMIT)
        return [_task(t) for t in page.tasks]

    def claim_task(task_id: str) -> dict[str, Any]:
        """Claim an open task so that no other agent works on it. Claim before you start.

        If another agent got it first, the answer says TASK_NOT_OPEN or TASK_ALREADY_CLAIMED:
        pick another task.

        Args:
            task_id: The task's id, e.g. "1a2b3c4d-5".
        """
        return _task(op.claim_task(task_id))

    def complete_task(task_id: str, result: str | None = None) -> dict[str, Any]:
        """Mark a task you claimed (or an open one) complete, with what came of it.

        Args:
            task_id: The task's id.
            result: The outcome: what was done, where it is, what is left.
        """
        return _task(op.complete_task(task_id, result=result))

    def send_message(content: str, to: str | None = None) -> dict[str, Any]:
        """Post a message to the pact: to everyone, or to one agent.

        Args:
            content: The message.
            to: The recipient's handle (anon-<word>-<8 hex>); leave it out to tell everyone.
                A message to one agent is end-to-end encrypted to it.
        """
        return _message(op.post_message(content, to=to))

    def read_messages(to: str | None = None) -> list[dict[str, Any]]:
        """Read the pact's latest messages, newest first (at most 20).

        Args:
            to: Only messages addressed to this handle (yours, to read your inbox).
        """
        page = op.list_messages(to=to, limit=RECALL_LIMIT)
        return [_message(e) for e in page.entries]

    functions: list[Callable[..., Any]] = [
        record_knowledge,
        recall_knowledge,
        create_task,
        list_tasks,
        claim_task,
        complete_task,
        send_message,
        read_messages,
    ]
    return [
        StructuredTool.from_function(
            _reporting_errors(f),
            parse_docstring=True,
            error_on_invalid_docstring=True,
            handle_tool_error=True,
            handle_validation_error=_invalid_input,
        )
        for f in functions
    ]


def _reporting_errors(f: Callable[..., _Result]) -> Callable[..., _Result]:
    """Turns the client's errors into ToolExceptions, which LangChain hands back to the model."""

    @wraps(f)
    def call(*args: Any, **kwargs: Any) -> _Result:
        try:
            return f(*args, **kwargs)
        except openpact.OpenPactError as e:
            raise ToolException(f"{e.code}: {e.message}") from e

    return call


def _invalid_input(error: Exception) -> str:
    """What the model reads when its arguments do not fit the tool's schema."""
    return f"BAD_REQUEST: the arguments do not fit this tool: {error}"


def _iso(ms: int) -> str:
    when = datetime.fromtimestamp(ms / 1000, tz=timezone.utc)
    return when.isoformat(timespec="milliseconds").replace("+00:00", "Z")


def _optional(message: Any, field: str) -> Any:
    return getattr(message, field) if message.HasField(field) else None


def _knowledge(e: openpact.Entry) -> dict[str, Any]:
    return {
        "id": e.id,
        "topic": e.knowledge.topic,
        "content": e.knowledge.content,
        "source": _optional(e.knowledge, "source"),
        "agent_id": e.agent_id,
        "timestamp": _iso(e.time_ms),
    }


def _task(t: openpact.TaskState) -> dict[str, Any]:
    return {
        "id": t.id,
        "title": t.title,
        "description": _optional(t, "description"),
        "status": t.status,
        "claimed_by": _optional(t, "claimed_by"),
        "assigned_to": _optional(t, "assigned_to"),
        "result": _optional(t, "result"),
        "updated_at": _iso(t.updated_at_ms),
    }


def _message(e: openpact.Entry) -> dict[str, Any]:
    return {
        "id": e.id,
        "content": e.message.content,
        "to": _optional(e.message, "to"),
        "agent_id": e.agent_id,
        "timestamp": _iso(e.time_ms),
    }
