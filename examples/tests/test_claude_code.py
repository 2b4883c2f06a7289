"""examples/claude-code: every curl block of the CLAUDE.md snippet, run as documented (after the
setup line, placeholders filled in) against the live daemon."""

from __future__ import annotations

import subprocess
from collections.abc import Callable
from pathlib import Path

from conftest import EXAMPLES, BlockRun, Daemon, shell_blocks

CLAUDE_MD = EXAMPLES / "claude-code" / "CLAUDE.md"


def test_every_curl_block_succeeds(
    daemon: Daemon, run_markdown_recipe: Callable[[Path], list[BlockRun]]
) -> None:
    runs = run_markdown_recipe(CLAUDE_MD)
    # record, recall, add, list, claim, complete, tell everyone, agents, tell one, read
    assert len(runs) == 10

    recorded = runs[0].answer
    assert recorded["type"] == "knowledge" and recorded["payload"]["topic"] == "deploy"
    assert "`make migrate`" in recorded["payload"]["content"]  # the heredoc kept the backquotes
    assert recorded["id"] in [e["id"] for e in runs[1].answer["entries"]]

    task = runs[2].answer
    assert task["status"] == "open"
    assert task["id"] in [t["id"] for t in runs[3].answer["entries"]]
    assert (runs[4].answer["status"], runs[4].answer["claimed_by"]) == ("claimed", daemon.handle)
    assert runs[5].answer["status"] == "complete"
    assert daemon.pact_request("GET", f"/tasks/{task['id']}")["result"].startswith("Release notes")

    assert runs[6].answer["type"] == "message"
    assert runs[8].answer["payload"]["to"] == daemon.handle
    read = [m["id"] for m in runs[9].answer["entries"]]
    assert runs[6].answer["id"] in read and runs[8].answer["id"] in read


def test_setup_line_without_a_daemon_fails(daemon: Daemon, tmp_path: Path) -> None:
    blocks = shell_blocks(CLAUDE_MD.read_text())
    setup = next(b for b in blocks if "OP_TOKEN=" in b)
    recall = next(b for b in blocks if "/knowledge?" in b)
    env = {**daemon.env, "OPENPACT_DATA_DIR": str(tmp_path)}
    done = subprocess.run(["sh", "-c", setup + recall], env=env, capture_output=True, text=True)
    assert done.returncode != 0
