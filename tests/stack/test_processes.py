"""Servers are stopped by pid and start time: only what was started, with what it forked."""

from __future__ import annotations

import dataclasses
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import pytest

from comix_resources.stack.processes import (
    ProcessRecord,
    free_port,
    group_members,
    is_running,
    launch,
    start_time,
    stop,
)


def _sleeper(tmp_path: Path, name: str = "sleeper", script: str = "") -> ProcessRecord:
    code = script or "import time; time.sleep(600)"
    return launch(name, [sys.executable, "-c", code], tmp_path / f"{name}.log", os.environ)


def test_a_started_server_is_stopped_by_its_record(tmp_path: Path) -> None:
    record = _sleeper(tmp_path)
    assert is_running(record) and record.started == start_time(record.pid)
    restored = ProcessRecord.from_json(record.to_json())  # as `down` reads it back
    assert stop(restored) == "stopped"
    assert not is_running(record)
    assert stop(restored) == "not running"


def test_a_reused_pid_is_never_signalled(tmp_path: Path) -> None:
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(600)"])
    try:
        # A record whose pid now belongs to another process (its start time differs).
        stale = ProcessRecord(
            name="old", pid=bystander.pid, started=-5, command=["old"], log=str(tmp_path / "x")
        )
        assert not is_running(stale)
        assert stop(stale) == "not running"
        time.sleep(0.2)
        assert bystander.poll() is None, "a process that `up` did not start was signalled"
    finally:
        bystander.kill()
        bystander.wait()


def test_what_a_server_forked_stops_with_it(tmp_path: Path) -> None:
    # A wrapper and its child, like `dagster-celery worker start` and its `celery`.
    script = (
        "import subprocess, sys, time;"
        "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']);"
        "time.sleep(600)"
    )
    record = _sleeper(tmp_path, "wrapper", script)
    deadline = time.monotonic() + 20
    while len(group_members(record.pid)) < 2 and time.monotonic() < deadline:
        time.sleep(0.1)
    assert len(group_members(record.pid)) == 2
    assert stop(record) == "stopped"
    assert group_members(record.pid) == []


def test_a_server_that_ignores_its_signal_is_killed(tmp_path: Path) -> None:
    script = "import signal, time; signal.signal(signal.SIGTERM, signal.SIG_IGN); time.sleep(600)"
    record = _sleeper(tmp_path, "stubborn", script)
    time.sleep(1.0)  # let it install the handler
    record = dataclasses.replace(record, stop_signal=int(signal.SIGTERM))
    assert stop(record, timeout_s=1.0) == "killed"
    assert not is_running(record)


def test_free_ports_come_in_pairs_and_differ() -> None:
    taken: set[int] = set()
    ports = [free_port(taken=taken) for _ in range(5)]
    assert len(set(ports)) == 5
    assert all(port + 10000 in taken for port in ports)


def test_postgres_binaries_are_found_where_debian_puts_them(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    import glob

    from comix_resources.stack.servers import postgres_binary

    if not glob.glob("/usr/lib/postgresql/*/bin/initdb"):
        pytest.skip("Debian's postgresql is not installed")
    # Debian's package puts only wrappers on PATH; the servers live in a versioned folder.
    monkeypatch.setenv("PATH", "/usr/bin:/bin")
    assert postgres_binary("initdb").startswith("/usr/lib/postgresql/")
    monkeypatch.setenv("PATH", "/nonexistent")
    monkeypatch.setattr(glob, "glob", lambda pattern: [])
    with pytest.raises(RuntimeError, match="apt-get install postgresql"):
        postgres_binary("initdb")
