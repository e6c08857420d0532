"""Worker supervision: ``comix stack up`` starts this process beside the Celery workers, and it
starts again any worker whose process has died.

A worker killed in the middle of a step (SIGKILL, the OOM killer) takes nothing with it: its
step's broker message comes back to the queue when the worker's lease on it runs out
(``comix_resources.stack.lease``), and the restarted worker (or any other on the queue) runs it
again. What is left of the dead worker's process group (``celery`` under ``dagster-celery``)
is killed first, so that no orphan goes on consuming under the same name. A worker that keeps
dying is started again after a growing pause (up to a minute), not in a tight loop.

The new process replaces the old one's record in ``state.json``, so ``status`` shows it and
``down`` stops it; ``down`` stops this process first, so nothing is restarted while the stack
goes down. Run as ``python -m comix_resources.stack.supervise COMIX_HOME``.
"""

from __future__ import annotations

import contextlib
import os
import signal
import sys
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from comix_resources.stack.config import SUPERVISOR, StackConfig
from comix_resources.stack.processes import ProcessRecord, group_members, is_running, launch

__all__ = ["SUPERVISOR", "Supervisor", "is_worker"]

POLL_S = 1.0
MAX_PAUSE_S = 60.0
# A worker that ran this long before it died is not in a crash loop.
HEALTHY_AFTER_S = 60.0


def is_worker(record: ProcessRecord) -> bool:
    return "queue" in record.endpoints


@dataclass
class Restarts:
    """How often a worker was restarted lately, and when it may be started next."""

    count: int = 0
    not_before: float = 0.0

    def pause(self, lived_s: float) -> float:
        self.count = 0 if lived_s >= HEALTHY_AFTER_S else self.count + 1
        return 0.0 if self.count <= 1 else min(MAX_PAUSE_S, 2.0 ** (self.count - 1))


class Supervisor:
    def __init__(self, config: StackConfig, say: Callable[[str], None] = print) -> None:
        from comix_resources.stack.stack import Stack

        self.stack = Stack(config)
        self.say = say
        self.restarts: dict[str, Restarts] = {}
        self.stopping = threading.Event()

    def check(self) -> int:
        """One round: restart the workers that died; how many were restarted."""
        state = self.stack.load_state()
        if state is None:
            self.stopping.set()  # the stack went down without us
            return 0
        restarted = 0
        now = time.time()
        for index, record in enumerate(state.processes):
            if not is_worker(record) or is_running(record):
                continue
            restarts = self.restarts.setdefault(record.name, Restarts())
            if restarts.not_before == 0.0:
                restarts.not_before = now + restarts.pause(now - record.launched_at)
            if now < restarts.not_before:
                continue
            _kill_leftovers(record.pid)
            replacement = launch(
                record.name,
                record.command,
                Path(record.log),
                os.environ,
                stop_signal=record.stop_signal,
                endpoints=record.endpoints,
            )
            state.processes[index] = replacement
            restarts.not_before = 0.0
            restarted += 1
            self.say(
                f"{record.name} (pid {record.pid}) is gone; started again as pid {replacement.pid}"
            )
        if restarted:
            self.stack.save_state(state)
        return restarted

    def run(self, poll_s: float = POLL_S) -> None:
        workers = [r.name for r in (self.stack.load_state() or _empty()).processes if is_worker(r)]
        self.say(f"supervising {', '.join(workers) or 'no workers'}")
        while not self.stopping.is_set():
            self.check()
            _reap_children()
            self.stopping.wait(poll_s)
        self.say("stopped")


def _empty():  # a state without processes, for a stack that is not up
    from comix_resources.stack.stack import StackState

    return StackState(ports={})


def _kill_leftovers(group: int) -> None:
    if group_members(group):
        with contextlib.suppress(ProcessLookupError, PermissionError):
            os.killpg(group, signal.SIGKILL)


def _reap_children() -> None:
    """Collect the workers this process started and that have exited since."""
    with contextlib.suppress(ChildProcessError):
        while os.waitpid(-1, os.WNOHANG)[0]:
            pass


def main(argv: list[str]) -> None:
    supervisor = Supervisor(
        StackConfig(home=Path(argv[1])), say=lambda line: print(line, flush=True)
    )
    for signum in (signal.SIGTERM, signal.SIGINT):
        signal.signal(signum, lambda *_: supervisor.stopping.set())
    supervisor.run()


if __name__ == "__main__":
    main(sys.argv)
