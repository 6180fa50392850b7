"""`make demo` and its transcript."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path
from urllib.parse import unquote

import pytest

from bot import blocks
from demo.servers import clean_env
from demo.transcript import BUILDER, builder_link, plain, render

ROOT = Path(__file__).resolve().parent.parent


def test_a_builder_link_carries_the_exact_blocks() -> None:
    message = blocks.failed("it timed out after 300 seconds")
    link = builder_link(message["blocks"])
    assert link.startswith(BUILDER)
    assert json.loads(unquote(link[len(BUILDER) :])) == {"blocks": message["blocks"]}


def test_render_reads_like_the_channel() -> None:
    lines = render([
        {"type": "header", "text": {"type": "plain_text", "text": "FAIL: trail-audit"}},
        blocks.section(":red_circle: *cloudtrail.trail_logging* — `app-audit`\nTrail app-audit is not logging."),
        {**blocks.section("x"), "accessory": blocks.button("Request fix", "request_fix", "id1")},
    ])  # fmt: skip
    assert lines == ["FAIL: TRAIL-AUDIT", "✗ cloudtrail.trail_logging — app-audit",
                     "Trail app-audit is not logging.", "x", "    [ Request fix ]"]  # fmt: skip
    assert plain("*bold* and `code` :x:") == "bold and code ✗"


@pytest.mark.e2e
def test_make_demo_runs_the_whole_flow_offline() -> None:
    env = {**clean_env(), "PATH": f"{Path(sys.executable).parent}:{os.environ['PATH']}"}
    proc = subprocess.run([sys.executable, "-m", "demo"], cwd=ROOT, env=env, capture_output=True, text=True,
                          timeout=240, check=False)  # fmt: skip
    assert proc.returncode == 0, proc.stderr[-2000:]
    out = proc.stdout
    assert "types: /trail-audit" in out and "auditing 0/4 regions" in out
    assert "Trail app-audit is not logging" in out and out.count(BUILDER) >= 3
    assert "Traceback" not in proc.stderr
