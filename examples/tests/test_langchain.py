"""examples/langchain: every tool invoked through LangChain's tool interface against the live
daemon (no model: the tools are what an agent would call)."""

from __future__ import annotations

import importlib.util
import json
from collections.abc import Iterator
from types import ModuleType
from typing import Any

import openpact
import pytest
from conftest import EXAMPLES, Daemon
from langchain_core.messages import ToolMessage
from langchain_core.tools import BaseTool
from langchain_core.utils.function_calling import convert_to_openai_tool

EXPECTED = {
    "record_knowledge", "recall_knowledge", "create_task", "list_tasks", "claim_task",
    "complete_task", "send_message", "read_messages",
}  # fmt: skip


def _load_tools_module() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "openpact_langchain_tools", EXAMPLES / "langchain" / "tools.py"
    )
    assert spec is not None and spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


recipe = _load_tools_module()


@pytest.fixture(scope="module")
def tools(daemon: Daemon) -> Iterator[dict[str, BaseTool]]:
    with openpact.Client(daemon.data_dir) as client:
        yield {t.name: t for t in recipe.openpact_tools(client)}


def test_the_tool_set_and_its_schemas(tools: dict[str, BaseTool]) -> None:
    assert set(tools) == EXPECTED
    for tool in tools.values():
        assert isinstance(tool, BaseTool)
        assert tool.description and "Args:" not in tool.description
        # What a chat model is given: every argument documented.
        spec = convert_to_openai_tool(tool)["function"]
        for name, prop in spec["parameters"]["properties"].items():
            assert prop.get("description"), f"{tool.name}.{name} has no description"
    assert tools["record_knowledge"].args["topic"]["type"] == "string"
    assert set(tools["claim_task"].args) == {"task_id"}


def test_record_then_recall(tools: dict[str, BaseTool], daemon: Daemon) -> None:
    first = tools["record_knowledge"].invoke(
        {"topic": "lc-deploy", "content": "Run migrations first"}
    )
    second = tools["record_knowledge"].invoke(
        {"topic": "lc-deploy", "content": "Staging is on port 8443", "source": "ops/README.md"}
    )
    assert first["topic"] == "lc-deploy" and first["source"] is None
    assert second["source"] == "ops/README.md"
    assert second["agent_id"] == daemon.handle
    assert second["timestamp"].endswith("Z")
    stored = daemon.pact_request("GET", f"/entries/{second['id']}")
    assert stored["payload"] == {
        "topic": "lc-deploy", "content": "Staging is on port 8443", "source": "ops/README.md",
    }  # fmt: skip

    recalled = tools["recall_knowledge"].invoke({"topic": "lc-deploy"})
    assert [k["id"] for k in recalled] == [second["id"], first["id"]]  # newest first
    assert recalled[0]["content"] == "Staging is on port 8443"
    assert second["id"] in [k["id"] for k in tools["recall_knowledge"].invoke({})]


def test_task_board(tools: dict[str, BaseTool], daemon: Daemon) -> None:
    task = tools["create_task"].invoke({"title": "LC task", "description": "From LangChain"})
    assert task["status"] == "open" and task["claimed_by"] is None
    assert task["description"] == "From LangChain"
    assert task["id"] in [t["id"] for t in tools["list_tasks"].invoke({})]  # open ones by default

    claimed = tools["claim_task"].invoke({"task_id": task["id"]})
    assert (claimed["status"], claimed["claimed_by"]) == ("claimed", daemon.handle)
    assert task["id"] not in [t["id"] for t in tools["list_tasks"].invoke({})]
    assert task["id"] in [t["id"] for t in tools["list_tasks"].invoke({"status": "claimed"})]

    # Someone else has it: the model is told so, and the run goes on.
    again = tools["claim_task"].invoke({"task_id": task["id"]})
    assert isinstance(again, str) and again.startswith("TASK_NOT_OPEN: ")

    done = tools["complete_task"].invoke({"task_id": task["id"], "result": "Merged in #12"})
    assert (done["status"], done["result"]) == ("complete", "Merged in #12")
    assert daemon.pact_request("GET", f"/tasks/{task['id']}")["status"] == "complete"
    everything = tools["list_tasks"].invoke({"status": None})
    assert task["id"] in [t["id"] for t in everything]

    mine = tools["create_task"].invoke({"title": "Only for me", "assigned_to": daemon.handle})
    assert mine["assigned_to"] == daemon.handle
    assert tools["claim_task"].invoke({"task_id": "00000000-1"}).startswith("NOT_FOUND: ")


def test_messages(tools: dict[str, BaseTool], daemon: Daemon) -> None:
    everyone = tools["send_message"].invoke({"content": "LC: hello pact"})
    direct = tools["send_message"].invoke({"content": "LC: just you", "to": daemon.handle})
    assert everyone["to"] is None and direct["to"] == daemon.handle
    stored = daemon.pact_request("GET", f"/entries/{direct['id']}")
    assert stored["payload"]["content"] == "LC: just you"

    latest = [m["id"] for m in tools["read_messages"].invoke({})]
    assert latest.index(direct["id"]) < latest.index(everyone["id"])
    inbox = [m["id"] for m in tools["read_messages"].invoke({"to": daemon.handle})]
    assert direct["id"] in inbox and everyone["id"] not in inbox


def test_what_an_agent_gets_back(tools: dict[str, BaseTool]) -> None:
    """Called as a model's tool call, a tool answers a ToolMessage with JSON content."""
    call = {"type": "tool_call", "id": "call-1", "name": "record_knowledge",
            "args": {"topic": "lc-agent", "content": "From a tool call"}}  # fmt: skip
    message = tools["record_knowledge"].invoke(call)
    assert isinstance(message, ToolMessage) and message.tool_call_id == "call-1"
    assert json.loads(str(message.content))["content"] == "From a tool call"

    failed: Any = tools["claim_task"].invoke(
        {**call, "name": "claim_task", "args": {"task_id": "00000000-1"}}
    )
    assert failed.status == "error" and "NOT_FOUND" in failed.content

    invalid: Any = tools["record_knowledge"].invoke({**call, "args": {"topic": "no content"}})
    assert invalid.status == "error" and "content" in invalid.content


def test_default_client_finds_the_daemon(daemon: Daemon, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENPACT_DATA_DIR", str(daemon.data_dir))
    by_name = {t.name: t for t in recipe.openpact_tools()}
    entry = by_name["record_knowledge"].invoke(
        {"topic": "lc-default", "content": "No client given"}
    )
    assert entry["agent_id"] == daemon.handle


def test_no_daemon_is_reported_to_the_model(tmp_path: Any, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("OPENPACT_DATA_DIR", str(tmp_path))
    by_name = {t.name: t for t in recipe.openpact_tools()}
    answer = by_name["recall_knowledge"].invoke({})
    assert answer.startswith("DAEMON_UNAVAILABLE: ") and "openpact" in answer and "start" in answer
