"""Child servers of ``comix demo`` (Dagster UI, MLflow UI, search page), stopped together.

Each child gets its own session and process group, and is stopped through it: SIGTERM, then
SIGKILL after a grace period (a process started from a non-interactive shell ignores SIGINT,
and Dagster maps SIGTERM onto SIGINT, so SIGTERM alone may not end ``dagster dev``).
"""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path


def port_is_open(host: str, port: int) -> bool:
    with socket.socket() as probe:
        probe.settimeout(0.5)
        return probe.connect_ex((host, port)) == 0


@dataclass
class Services:
    """Started servers by name; ``stop()`` ends each one's process group."""

    log_dir: Path
    processes: dict[str, subprocess.Popen] = field(default_factory=dict)

    def start(self, name: str, command: Sequence[str], env: dict[str, str] | None = None) -> None:
        self.log_dir.mkdir(parents=True, exist_ok=True)
        log = (self.log_dir / f"{name}.log").open("ab")
        self.processes[name] = subprocess.Popen(
            list(command),
            stdout=log,
            stderr=subprocess.STDOUT,
            env={**os.environ, **(env or {})},
            # Its own session and process group: stopping it stops what it started.
            start_new_session=True,
        )

    def wait_for(self, name: str, host: str, port: int, timeout_s: float = 60.0) -> bool:
        """True once ``host:port`` accepts connections; False if the server died or timed out."""
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline:
            if self.processes[name].poll() is not None:
                return False
            if port_is_open(host, port):
                return True
            time.sleep(0.5)
        return False

    def wait(self) -> None:
        """Until any server exits (or Ctrl-C)."""
        while all(p.poll() is None for p in self.processes.values()):
            time.sleep(1.0)

    def stop(self, timeout_s: float = 10.0) -> None:
        for process in self.processes.values():
            if process.poll() is None:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + timeout_s
        for process in self.processes.values():
            try:
                process.wait(max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                with contextlib.suppress(ProcessLookupError):
                    os.killpg(process.pid, signal.SIGKILL)


def stop_on_signals() -> None:
    """Make SIGINT, SIGTERM and SIGHUP raise KeyboardInterrupt here, so that the caller's
    ``finally`` stops the servers: a process started in the background ignores SIGINT, and
    dagster, once imported, maps SIGTERM onto SIGINT, so ``kill`` (or a supervisor, or a
    closed terminal) otherwise left the parent running, or killed it with its servers
    orphaned in their own sessions."""

    def interrupt(signum: int, frame: object) -> None:
        raise KeyboardInterrupt(signal.Signals(signum).name)

    for number in (signal.SIGINT, signal.SIGTERM, signal.SIGHUP):
        signal.signal(number, interrupt)


def executable(name: str) -> str:
    """A console script of this environment (beside the running Python)."""
    return str(Path(sys.executable).parent / name)
