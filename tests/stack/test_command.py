"""`comix stack` without a running stack says so and exits accordingly."""

from __future__ import annotations

from pathlib import Path

import pytest
from typer.testing import CliRunner

from comix_assets.cli import app

runner = CliRunner()


def test_status_env_and_down_without_a_stack(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    monkeypatch.setenv("COMIX_HOME", str(tmp_path))
    status = runner.invoke(app, ["stack", "status"])
    assert status.exit_code == 1
    env = runner.invoke(app, ["stack", "env"])
    assert env.exit_code == 1 and "not up" in env.output
    down = runner.invoke(app, ["stack", "down"])
    assert down.exit_code == 0 and "nothing to stop" in down.output


def test_up_reports_a_busy_port_and_exits_1(tmp_path: Path, monkeypatch: pytest.MonkeyPatch):
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        monkeypatch.setenv("COMIX_HOME", str(tmp_path))
        for name in ("POSTGRES", "REDIS", "S3", "MLFLOW"):
            monkeypatch.setenv(f"COMIX_STACK_{name}_PORT", "0")
        monkeypatch.setenv("COMIX_STACK_DAGSTER_PORT", str(taken.getsockname()[1]))
        result = runner.invoke(app, ["stack", "up"])
    assert result.exit_code == 1
    assert "COMIX_STACK_DAGSTER_PORT" in result.output and "--free-ports" in result.output
