"""Schemathesis over /openapi.json of a running server: no 5xx, no answer that
breaks the schema.

Bounded: a fixed seed, a few examples per operation and a time budget. The
shutdown and events endpoints are left out (one ends the service, the other
streams for as long as it runs); their own tests cover them.
"""

from __future__ import annotations

import sys
from pathlib import Path

import anyio
from api_harness import logging_service, served

BUDGET = 12
"""Seconds schemathesis may fuzz."""

CONFIG = """
[parameters]
"path.buffer" = "buf"
"path.name" = "t"
"""


async def test_schemathesis_finds_no_server_error_and_no_schema_break(
    tmp_path: Path,
) -> None:
    config = tmp_path / "schemathesis.toml"
    config.write_text(CONFIG)
    state = tmp_path / "state"
    service = logging_service(state_dir=state, keep_last=2)
    async with service, served(service, token="fuzz", max_body_bytes=8192) as api:
        service.data_collectors.acquire("buf").collect(1)
        command = [
            str(Path(sys.executable).with_name("st")),
            "--config-file",
            str(config),
            "run",
            f"{api.url}/openapi.json",
            "--header",
            "Authorization: Bearer fuzz",
            "--checks",
            "all",
            # these two judge the API's semantics, not its safety: any JSON
            # value is a valid item, and the token is checked by its own tests
            "--exclude-checks",
            "positive_data_acceptance,ignored_auth",
            "--exclude-path",
            "/v1/shutdown",
            "--exclude-path",
            "/v1/events",
            "--max-examples",
            "15",
            "--max-time",
            str(BUDGET),
            "--seed",
            "7",
            "--workers",
            "1",
            "--no-shrink",
            "--report-dir",
            str(tmp_path / "report"),
        ]
        with anyio.fail_after(BUDGET + 60):
            done = await anyio.run_process(command, check=False, cwd=tmp_path)
        # the service survived the fuzzing: still up (the fuzzer may well have
        # ended on a POST /v1/pause, so paused is as good as running here)
        assert service.state in ("running", "paused")
    output = done.stdout.decode() + done.stderr.decode()
    assert done.returncode == 0, output
    assert "Tested: 10" in output, output
    assert "Missing test data" not in output, output  # the parameters took
