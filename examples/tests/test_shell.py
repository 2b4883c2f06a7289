"""examples/shell: the curl scripts against the live daemon, run by /bin/sh as an agent would."""

from __future__ import annotations

import json
import shutil
import socket
import subprocess
from pathlib import Path
from typing import Any

import pytest
from conftest import EXAMPLES, Daemon, shell_blocks

SHELL = EXAMPLES / "shell"


def run(
    daemon: Daemon, *args: str, env: dict[str, str] | None = None
) -> subprocess.CompletedProcess[str]:
    script, *rest = args
    return subprocess.run(
        [str(SHELL / script), *rest], env=daemon.env if env is None else env,
        capture_output=True, text=True, timeout=30,
    )  # fmt: skip


def ok(daemon: Daemon, *args: str) -> Any:
    done = run(daemon, *args)
    assert done.returncode == 0, f"{args}: exit {done.returncode}: {done.stderr}"
    assert done.stderr == ""
    return json.loads(done.stdout)


def fails(daemon: Daemon, *args: str, env: dict[str, str] | None = None) -> str:
    done = run(daemon, *args, env=env)
    assert done.returncode == 1, f"{args}: exit {done.returncode}, stdout {done.stdout}"
    assert done.stdout == ""
    assert done.stderr.count("\n") == 1, f"not one line: {done.stderr!r}"
    return done.stderr


#: Wrong arguments: each must print a usage line and exit 2, without calling the daemon.
MISUSES = [
    ("record.sh", "only-topic"),
    ("recall.sh", "a", "b"),
    ("tasks.sh",),
    ("tasks.sh", "claim"),
    ("tasks.sh", "fly", "x"),
    ("send.sh",),
    ("send.sh", "a", "b"),
    ("send.sh", "hi", "--to"),
    ("messages.sh", "x"),
]


def free_port() -> int:
    """A port the OS just handed out and took back: nothing listens on it."""
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        port: int = s.getsockname()[1]
        return port


def test_scripts_are_posix_sh() -> None:
    for script in SHELL.glob("*.sh"):
        if script.name != "common.sh":
            assert script.read_text().startswith("#!/bin/sh\n"), script.name
            assert script.stat().st_mode & 0o111, f"{script.name} is not executable"
        subprocess.run(["sh", "-n", str(script)], check=True)


def test_record_keeps_the_text_exactly(daemon: Daemon) -> None:
    text = 'He said "ship it" \\o/ at 5 pm\n\tthen left. Ünïcödé, $HOME, `ls`, 100%'
    entry = ok(daemon, "record.sh", "shell-escaping", text)
    assert entry["type"] == "knowledge"
    assert entry["payload"] == {"topic": "shell-escaping", "content": text}
    assert entry["agent_id"] == daemon.handle
    stored = daemon.pact_request("GET", f"/entries/{entry['id']}")
    assert stored["payload"]["content"] == text


def test_recall_is_newest_first_and_filters_by_topic(daemon: Daemon) -> None:
    first = ok(daemon, "record.sh", "shell recall", "older")
    second = ok(daemon, "record.sh", "shell recall", "newer")
    ok(daemon, "record.sh", "shell-other", "elsewhere")

    page = ok(daemon, "recall.sh", "shell recall")
    assert [e["id"] for e in page["entries"]] == [second["id"], first["id"]]

    everything = [e["id"] for e in ok(daemon, "recall.sh")["entries"]]
    assert everything.index(second["id"]) < everything.index(first["id"])
    assert ok(daemon, "recall.sh", "no such topic")["entries"] == []


def test_tasks_add_list_claim_complete_release(daemon: Daemon) -> None:
    task = ok(daemon, "tasks.sh", "add", "Shell task", "with a description")
    assert (task["status"], task["title"], task["description"]) == (
        "open",
        "Shell task",
        "with a description",
    )
    tid = task["id"]
    assert tid in [t["id"] for t in ok(daemon, "tasks.sh", "list", "open")["entries"]]
    assert tid in [t["id"] for t in ok(daemon, "tasks.sh", "list")["entries"]]

    claimed = ok(daemon, "tasks.sh", "claim", tid)
    assert (claimed["status"], claimed["claimed_by"]) == ("claimed", daemon.handle)
    assert "TASK_NOT_OPEN" in fails(daemon, "tasks.sh", "claim", tid)
    assert tid in [t["id"] for t in ok(daemon, "tasks.sh", "list", "claimed")["entries"]]

    assert ok(daemon, "tasks.sh", "release", tid)["status"] == "open"
    ok(daemon, "tasks.sh", "claim", tid)
    done = ok(daemon, "tasks.sh", "complete", tid, 'Done: "shipped"')
    assert (done["status"], done["result"]) == ("complete", 'Done: "shipped"')
    assert "TASK_ALREADY_COMPLETE" in fails(daemon, "tasks.sh", "complete", tid, "again")

    other = ok(daemon, "tasks.sh", "add", "Completed without a result")
    assert ok(daemon, "tasks.sh", "complete", other["id"])["status"] == "complete"
    assert "NOT_FOUND" in fails(daemon, "tasks.sh", "claim", "00000000-1")


def test_send_to_everyone_and_to_one_agent(daemon: Daemon) -> None:
    everyone = ok(daemon, "send.sh", 'Heads up: it\'s "frozen"')
    assert everyone["type"] == "message"
    assert everyone["payload"]["content"] == 'Heads up: it\'s "frozen"'
    assert "to" not in everyone["payload"]

    direct = ok(daemon, "send.sh", "--to", daemon.handle, "Just for me")
    assert direct["payload"]["content"] == "Just for me"
    assert direct["payload"]["to"] == daemon.handle
    assert (
        ok(daemon, "send.sh", "Flag after", f"--to={daemon.handle}")["payload"]["to"]
        == daemon.handle
    )

    latest = [e["id"] for e in ok(daemon, "messages.sh")["entries"]]
    assert latest.index(direct["id"]) < latest.index(everyone["id"])
    inbox = [e["id"] for e in ok(daemon, "messages.sh", "--to", daemon.handle)["entries"]]
    assert direct["id"] in inbox and everyone["id"] not in inbox


def test_daemon_errors_come_back_as_one_line(daemon: Daemon) -> None:
    assert '"error":"BAD_REQUEST"' in fails(daemon, "record.sh", "", "empty topic")
    assert '"error":"BAD_REQUEST"' in fails(daemon, "send.sh", "hi", "--to", "not-a-handle")


def test_usage_errors_exit_2(daemon: Daemon) -> None:
    for args in MISUSES:
        done = run(daemon, *args)
        assert done.returncode == 2, args
        assert done.stderr.startswith("Usage: "), args


def test_no_daemon_says_to_start_one(daemon: Daemon, tmp_path: Path) -> None:
    env = {**daemon.env, "OPENPACT_DATA_DIR": str(tmp_path / "nothing-here")}
    assert "`openpact start`" in fails(daemon, "recall.sh", env=env)

    # A daemon that ran once and stopped leaves its daemon.json, with a port nobody serves.
    stale = tmp_path / "stopped"
    stale.mkdir()
    settings = json.loads((daemon.data_dir / "daemon.json").read_text())
    settings["port"] = free_port()
    (stale / "daemon.json").write_text(json.dumps(settings, indent=2))
    message = fails(
        daemon, "record.sh", "t", "c", env={**daemon.env, "OPENPACT_DATA_DIR": str(stale)}
    )
    assert "not running" in message and "`openpact start`" in message


def test_no_pact_says_to_seal_one(daemon: Daemon, tmp_path: Path) -> None:
    settings = json.loads((daemon.data_dir / "daemon.json").read_text())
    settings["currentAlias"] = None
    (tmp_path / "daemon.json").write_text(json.dumps(settings, indent=2))
    message = fails(
        daemon, "tasks.sh", "list", env={**daemon.env, "OPENPACT_DATA_DIR": str(tmp_path)}
    )
    assert "`openpact init`" in message


def test_environment_overrides(daemon: Daemon, tmp_path: Path) -> None:
    env = {
        **daemon.env,
        "OPENPACT_DATA_DIR": str(tmp_path),  # no daemon.json: everything comes from the variables
        "OPENPACT_URL": daemon.url + "/",
        "OPENPACT_TOKEN": daemon.token,
        "OPENPACT_PACT": daemon.pact_request("GET", "/status")["pact_id"],
    }
    done = run(daemon, "record.sh", "shell-env", "through the variables", env=env)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["payload"]["topic"] == "shell-env"

    wrong = {**env, "OPENPACT_TOKEN": "0" * 64}
    assert '"error":"UNAUTHORIZED"' in fails(daemon, "recall.sh", env=wrong)


def test_readme_example_runs(daemon: Daemon) -> None:
    if shutil.which("jq") is None:
        pytest.skip("the README example picks the task id with jq, which is not installed")
    (example,) = shell_blocks((SHELL / "README.md").read_text())
    done = subprocess.run(
        ["sh", "-ec", example], cwd=SHELL, env=daemon.env, capture_output=True, text=True
    )
    assert done.returncode == 0, done.stderr
    *_, completed, sent = (json.loads(line) for line in done.stdout.splitlines())
    assert completed["status"] == "complete" and completed["result"] == "In docs/releases/0.2.md"
    assert sent["payload"]["content"] == "Release notes are done."
