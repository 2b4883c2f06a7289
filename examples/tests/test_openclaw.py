"""examples/openclaw: tools.json is well formed, each of its tools works when called as it
describes, and the curl examples of SKILL.md run."""

from __future__ import annotations

import json
import re
import urllib.parse
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, BlockRun, Daemon

OPENCLAW = EXAMPLES / "openclaw"
METHODS = {"GET", "POST", "PUT", "DELETE"}


def load_tools() -> dict[str, Any]:
    parsed: dict[str, Any] = json.loads((OPENCLAW / "tools.json").read_text())
    return parsed


def check_value(schema: dict[str, Any], value: Any, where: str) -> None:
    """Checks a value against the JSON Schema subset tools.json uses."""
    kinds: dict[str, type[Any]] = {"string": str, "integer": int, "boolean": bool, "object": dict}
    assert isinstance(value, kinds[schema["type"]]), f"{where}: not a {schema['type']}"
    if "enum" in schema:
        assert value in schema["enum"], where
    if "pattern" in schema:
        assert re.search(schema["pattern"], value), where
    if "minLength" in schema:
        assert len(value) >= schema["minLength"], where
    if "maxLength" in schema:
        assert len(value) <= schema["maxLength"], where
    if "minimum" in schema:
        assert value >= schema["minimum"], where
    if "maximum" in schema:
        assert value <= schema["maximum"], where


def check_input(tool: dict[str, Any], given: dict[str, Any]) -> None:
    schema = tool["input_schema"]
    for name in schema["required"]:
        assert name in given, f"{tool['name']}: sample lacks {name}"
    for name, value in given.items():
        assert name in schema["properties"], f"{tool['name']}: unknown input {name}"
        check_value(schema["properties"][name], value, f"{tool['name']}.{name}")


def test_tools_json_shape() -> None:
    doc = load_tools()
    assert doc["name"] == "openpact" and doc["description"]
    assert doc["base_url"] == "http://127.0.0.1:7666"
    assert doc["auth"]["type"] == "bearer" and "apiToken" in doc["auth"]["token"]
    names = [t["name"] for t in doc["tools"]]
    assert len(names) == len(set(names))
    for tool in doc["tools"]:
        assert set(tool) == {"name", "description", "method", "path", "input_schema"}, tool["name"]
        assert re.fullmatch(r"[a-z][a-z_]*", tool["name"])
        assert tool["description"].strip()
        assert tool["method"] in METHODS
        assert tool["path"].startswith("/v1/")
        schema = tool["input_schema"]
        assert schema["type"] == "object" and isinstance(schema["properties"], dict)
        assert set(schema["required"]) <= set(schema["properties"]), tool["name"]
        for prop_name, prop in schema["properties"].items():
            assert prop["type"] in {"string", "integer", "boolean"}, f"{tool['name']}.{prop_name}"
            assert prop.get("description"), f"{tool['name']}.{prop_name}"
        for param in re.findall(r"\{([a-z_]+)\}", tool["path"]):
            assert param in schema["required"], f"{tool['name']}: path param {param} not required"


def call(daemon: Daemon, tool: dict[str, Any], given: dict[str, Any]) -> Any:
    """Performs a tool's HTTP call as tools.json's conventions describe it."""
    check_input(tool, given)
    rest = dict(given)
    path = re.sub(
        r"\{([a-z_]+)\}",
        lambda m: urllib.parse.quote(str(rest.pop(m.group(1))), safe=""),
        tool["path"],
    )
    if tool["method"] == "GET":
        return daemon.request("GET", path, **rest)
    return daemon.request(tool["method"], path, rest)


def test_each_tool_as_described(daemon: Daemon) -> None:
    tools = {t["name"]: t for t in load_tools()["tools"]}
    did: set[str] = set()

    def use(name: str, given: dict[str, Any]) -> Any:
        did.add(name)
        return call(daemon, tools[name], given)

    pact = use("current_pact", {})["current"]
    assert pact == "default"

    agents = use("list_agents", {"pact": pact})
    me = next(a["id"] for a in agents if a["is_self"])
    assert me == daemon.handle

    entry = use("record_knowledge", {"pact": pact, "topic": "claw", "content": "From tools.json",
                                     "source": "test"})  # fmt: skip
    assert entry["payload"] == {"topic": "claw", "content": "From tools.json", "source": "test"}
    recalled = use("recall_knowledge", {"pact": pact, "topic": "claw", "limit": 5})["entries"]
    assert recalled[0]["id"] == entry["id"]

    task = use(
        "create_task", {"pact": pact, "title": "Claw task", "description": "d", "assigned_to": me}
    )
    assert (task["status"], task["assigned_to"]) == ("open", me)
    listed = use("list_tasks", {"pact": pact, "status": "open", "limit": 50})["entries"]
    assert task["id"] in [t["id"] for t in listed]
    claimed = use("claim_task", {"pact": pact, "task_id": task["id"]})
    assert (claimed["status"], claimed["claimed_by"]) == ("claimed", me)
    done = use("complete_task", {"pact": pact, "task_id": task["id"], "result": "ok"})
    assert (done["status"], done["result"]) == ("complete", "ok")

    sent = use("send_message", {"pact": pact, "content": "From claw", "to": me, "priority": "high"})
    assert sent["payload"]["to"] == me and sent["payload"]["priority"] == "high"
    inbox = use("read_messages", {"pact": pact, "to": me, "limit": 10})["entries"]
    assert inbox[0]["id"] == sent["id"]

    assert did == set(tools), f"tools without a smoke test: {set(tools) - did}"


def test_a_bad_input_is_refused_by_the_schema(daemon: Daemon) -> None:
    tools = {t["name"]: t for t in load_tools()["tools"]}
    with pytest.raises(AssertionError):
        check_input(tools["send_message"], {"pact": "default", "content": "x", "to": "bob"})


def test_skill_front_matter() -> None:
    text = (OPENCLAW / "SKILL.md").read_text()
    match = re.match(r"---\n(.*?)\n---\n", text, re.DOTALL)
    assert match, "SKILL.md must start with --- front matter ---"
    front = match.group(1)
    assert re.search(r"^name: openpact$", front, re.MULTILINE)
    description = re.search(r"^description: (.+)$", front, re.MULTILINE)
    assert description and len(description.group(1)) > 40
    assert "{baseDir}/tools.json" in text


def test_skill_curl_examples_run(
    daemon: Daemon, run_markdown_recipe: Callable[[Path], list[BlockRun]]
) -> None:
    runs = run_markdown_recipe(OPENCLAW / "SKILL.md")
    assert len(runs) == 8  # record, recall, add, list, claim, complete, message, read
    task = runs[2].answer
    assert runs[4].answer["claimed_by"] == daemon.handle
    assert daemon.pact_request("GET", f"/tasks/{task['id']}")["status"] == "complete"
    assert runs[0].answer["id"] == runs[1].answer["entries"][0]["id"]
