"""The README's examples run as printed against a fresh daemon."""

from __future__ import annotations

import os
import re
import subprocess
import sys
from collections.abc import Callable
from pathlib import Path

from conftest import Daemon

README = Path(__file__).resolve().parents[1] / "README.md"
BLOCKS = re.findall(r"^```python\n(.*?)^```$", README.read_text(), flags=re.S | re.M)

# What each block prints, in README order.
EXPECTED = [
    [
        r"^[0-9a-f]{8}-\d+ Tuesdays convert$",
        r"^Write the launch post claimed by anon-[a-z]+-[0-9a-f]{8}$",
    ],
    [r"^LAST_INDEXER: "],
    [
        r"^bad cursor: cursor does not belong to this resource 400$",
        r"^someone else has it$",
        r"^OpenPact daemon is not running \(no socket at /tmp/no-daemon-here/openpact.sock\)\. "
        r"Start it with `openpact --data-dir /tmp/no-daemon-here start`\.$",
    ],
    [r"^[a-z0-9-]+ [0-9a-f]{8}-\d+ Deploys freeze on Friday$"],
    [r"^new task: Review the launch post$", r"^open: [0-9a-f]{8}-\d+ Review the launch post$"],
]


def run(code: str, data_dir: Path) -> str:
    env = dict(os.environ, OPENPACT_DATA_DIR=str(data_dir))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, f"exit {done.returncode}\n{done.stdout}\n{done.stderr}"
    return done.stdout


def test_the_readme_has_the_examples_this_test_expects() -> None:
    assert len(BLOCKS) == len(EXPECTED)
    # The first example stays about ten lines.
    assert len(BLOCKS[0].strip().splitlines()) <= 12


def test_every_readme_example_runs_as_printed(start_daemon: Callable[..., Daemon]) -> None:
    d = start_daemon()  # a fresh daemon: no pact until the first example makes one
    for i, (code, expected) in enumerate(zip(BLOCKS, EXPECTED, strict=True)):
        out = run(code, d.data_dir)
        for pattern in expected:
            assert re.search(pattern, out, flags=re.M), f"block {i}: {pattern!r} not in\n{out}"
    # Again, now that a pact exists: the first example still works.
    out = run(BLOCKS[0], d.data_dir)
    assert len(re.findall("Tuesdays convert", out)) == 2


def test_the_example_finds_the_default_data_dir(
    start_daemon: Callable[..., Daemon], tmp_path: Path
) -> None:
    # No OPENPACT_DATA_DIR: ~/.openpact, with HOME pointing at the daemon's parent.
    d = start_daemon()
    home = tmp_path / "home"
    home.mkdir()
    (home / ".openpact").symlink_to(d.data_dir)
    env = {k: v for k, v in os.environ.items() if k != "OPENPACT_DATA_DIR"}
    env["HOME"] = str(home)
    done = subprocess.run(
        [sys.executable, "-c", BLOCKS[0]], env=env, capture_output=True, text=True, timeout=60
    )
    assert done.returncode == 0, done.stderr
    assert "Tuesdays convert" in done.stdout
