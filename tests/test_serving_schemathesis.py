"""Property-based run of schemathesis over /openapi.json against a live server: no input gives a 5xx.

The server has no media models (so generated uploads are cheap), lexicon text
checks, no job workers (generated jobs stay queued), no rate limit, and the
network guard on: generated URLs never leave this machine, they are refused.
Examples are bounded so the run takes well under a minute.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest
from serving_support import ThreadServer, add_key

from liveinspect.serving.app import create_app
from liveinspect.serving.config import ServiceConfig


@pytest.mark.slow
def test_no_generated_request_gets_a_server_error(tmp_path):
    data = tmp_path / "service"
    key = add_key(data)
    config = ServiceConfig(
        data_dir=data,
        analyzers=(),
        settings={"text": {"lexicon_only": True}},
        job_workers=0,
        rate_limit_per_s=0,
    )
    schemathesis = Path(sys.executable).with_name("schemathesis")
    with ThreadServer(create_app(config)) as server:
        result = subprocess.run(
            [
                str(schemathesis),
                "run",
                f"{server.url}/openapi.json",
                "--checks",
                "not_a_server_error",
                "--header",
                f"Authorization: Bearer {key.key}",
                "--max-examples",
                "15",
                "--generation-deterministic",
                "--request-timeout",
                "20",
                "--phases",
                "examples,coverage,fuzzing",
                "--suppress-health-check",
                "all",
                "--no-color",
            ],
            capture_output=True,
            text=True,
            timeout=240,
            cwd=tmp_path,
            env={**os.environ, "SCHEMATHESIS_HOOKS": ""},
        )
    output = result.stdout + result.stderr
    assert result.returncode == 0, output[-6000:]
    counts = re.search(r"(\d+) generated, (\d+) passed", output)
    assert counts and counts[1] == counts[2] and int(counts[1]) >= 100, output[-3000:]
    assert "Tested: 15" in output  # every operation of the schema was exercised
