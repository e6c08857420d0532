"""Servers started in the background and stopped later by pid, from another process.

``comix stack up`` returns while its servers go on running, and ``comix stack down`` (a later,
separate process) must stop exactly those: each one is recorded with its pid *and* its start
time from ``/proc``, so a pid that the kernel has since handed to an unrelated process is never
signalled. Every server gets its own session, so that stopping it stops what it forked
(Celery's worker under ``dagster-celery``, MLflow's web workers, the daemon's code server).
"""

from __future__ import annotations

import contextlib
import os
import pwd
import signal
import socket
import subprocess
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any


@dataclass(frozen=True)
class ProcessRecord:
    """One started server: enough to find it again and to stop it the way it wants."""

    name: str
    pid: int
    started: int  # /proc/<pid>/stat start time (clock ticks after boot): the pid's identity
    command: list[str]
    log: str
    # postgres shuts down fast on SIGINT and waits for every client on SIGTERM.
    stop_signal: int = int(signal.SIGTERM)
    endpoints: dict[str, str] = field(default_factory=dict)
    launched_at: float = 0.0  # epoch seconds

    def to_json(self) -> dict[str, Any]:
        return asdict(self)

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> ProcessRecord:
        return cls(**data)


def start_time(pid: int) -> int | None:
    """The kernel's start time of ``pid``, or None when no such process exists."""
    try:
        stat = Path(f"/proc/{pid}/stat").read_text()
    except (FileNotFoundError, ProcessLookupError):
        return None
    # The command name (field 2) may hold spaces and parentheses; fields after it do not.
    return int(stat.rsplit(")", 1)[1].split()[19])


def is_running(record: ProcessRecord) -> bool:
    """True while the recorded process is alive (and is still the one that was started)."""
    if start_time(record.pid) != record.started:
        return False
    state = Path(f"/proc/{record.pid}/stat").read_text().rsplit(")", 1)[1].split()[0]
    return state != "Z"


def run_as(user: str | None) -> Callable[[], None] | None:
    """A ``preexec_fn`` that drops to ``user`` (PostgreSQL refuses to run as root)."""
    if user is None:
        return None
    entry = pwd.getpwnam(user)

    def drop() -> None:
        os.setgid(entry.pw_gid)
        os.initgroups(user, entry.pw_gid)
        os.setuid(entry.pw_uid)

    return drop


def launch(
    name: str,
    command: Sequence[str],
    log: Path,
    env: Mapping[str, str],
    cwd: Path | None = None,
    user: str | None = None,
    stop_signal: int = int(signal.SIGTERM),
    endpoints: Mapping[str, str] | None = None,
) -> ProcessRecord:
    """Start ``command`` in its own session, output appended to ``log``; returns its record."""
    log.parent.mkdir(parents=True, exist_ok=True)
    launched_at = time.time()
    with log.open("ab") as output:
        process = subprocess.Popen(
            list(command),
            stdout=output,
            stderr=subprocess.STDOUT,
            stdin=subprocess.DEVNULL,
            env=dict(env),
            cwd=cwd,
            start_new_session=True,
            preexec_fn=run_as(user),
        )
    started = start_time(process.pid)
    if started is None:  # it exited before we looked: report it like any other failure
        started = -1
    return ProcessRecord(
        name=name,
        pid=process.pid,
        started=started,
        command=list(command),
        log=str(log),
        stop_signal=stop_signal,
        endpoints=dict(endpoints or {}),
        launched_at=launched_at,
    )


def stop(record: ProcessRecord, timeout_s: float = 30.0) -> str:
    """Stop the recorded server and its process group; says what happened in a few words.

    The whole group gets the stop signal, so a wrapper's child (``celery`` under
    ``dagster-celery``) shuts down warmly too; whatever is left after ``timeout_s`` is killed.
    """
    if not is_running(record):
        _reap(record.pid)
        return "not running"
    with contextlib.suppress(ProcessLookupError):
        os.killpg(record.pid, record.stop_signal)
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        _reap(record.pid)
        if not is_running(record) and not group_members(record.pid):
            return "stopped"
        time.sleep(0.1)
    with contextlib.suppress(ProcessLookupError, PermissionError):
        os.killpg(record.pid, signal.SIGKILL)
    deadline = time.monotonic() + 5.0
    while is_running(record) and time.monotonic() < deadline:
        _reap(record.pid)
        time.sleep(0.05)
    return "killed"


def group_members(group: int) -> list[int]:
    """Live processes of a process group (zombies excluded: they are only waiting to be
    collected)."""
    members = []
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except (FileNotFoundError, ProcessLookupError):
            continue
        if int(fields[2]) == group and fields[0] != "Z":
            members.append(int(entry.name))
    return members


def _reap(pid: int) -> None:
    """Collect the exit status when we are the parent (``stack up`` in a test), else nothing."""
    with contextlib.suppress(ChildProcessError, OSError):
        os.waitpid(pid, os.WNOHANG)


def port_is_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


def free_port(host: str = "127.0.0.1", taken: set[int] | None = None) -> int:
    """A port nothing listens on now (nor ``port + 10000``, SeaweedFS's gRPC twin)."""
    taken = taken if taken is not None else set()
    for _ in range(200):
        with socket.socket() as probe:
            probe.bind((host, 0))
            port = probe.getsockname()[1]
        twin = port + 10000
        if port in taken or twin in taken or twin > 65535 or port_is_open(host, twin):
            continue
        taken.update({port, twin})
        return port
    raise RuntimeError("no free port pair found")


def wait_until(
    ready: Callable[[], bool], record: ProcessRecord, timeout_s: float, what: str
) -> None:
    """Poll ``ready`` until true; raise with the end of the server's log if it died or hung."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if not is_running(record):
            raise RuntimeError(f"{record.name} exited while starting; {_log_tail(record)}")
        with contextlib.suppress(Exception):
            if ready():
                return
        time.sleep(0.3)
    raise RuntimeError(
        f"{record.name}: {what} not ready after {timeout_s:.0f} s; {_log_tail(record)}"
    )


def _log_tail(record: ProcessRecord, lines: int = 15) -> str:
    try:
        tail = Path(record.log).read_text(errors="replace").splitlines()[-lines:]
    except FileNotFoundError:
        return f"no log at {record.log}"
    return f"end of {record.log}:\n" + "\n".join(tail)
