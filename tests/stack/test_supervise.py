"""The supervisor starts dead workers again, and only workers; what a dead worker left in its
process group is killed first; a worker that keeps dying waits longer each time."""

from __future__ import annotations

import os
import signal
import sys
import time
from pathlib import Path

from comix_resources.stack import Stack, StackConfig
from comix_resources.stack.processes import ProcessRecord, group_members, is_running, launch, stop
from comix_resources.stack.stack import StackState
from comix_resources.stack.supervise import MAX_PAUSE_S, Restarts, Supervisor

# A wrapper with a child in its process group, as `dagster-celery worker start` runs `celery`.
WRAPPER = (
    "import subprocess, sys, time; "
    "subprocess.Popen([sys.executable, '-c', 'import time; time.sleep(600)']); time.sleep(600)"
)


def _wait(condition, timeout_s: float = 10.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, "condition not met in time"
        time.sleep(0.05)


def test_a_dead_worker_is_started_again_with_a_new_record(tmp_path: Path) -> None:
    config = StackConfig(home=tmp_path)
    stack = Stack(config)
    logs = config.log_dir
    worker = launch(
        "cpu-1",
        [sys.executable, "-c", WRAPPER],
        logs / "w.log",
        os.environ,
        endpoints={"queue": "cpu"},
    )
    store = launch(
        "redis", [sys.executable, "-c", "import time; time.sleep(600)"], logs / "r.log", os.environ
    )
    stack.save_state(StackState(ports={}, processes=[store, worker]))
    replaced: list[ProcessRecord] = []
    try:
        _wait(lambda: len(group_members(worker.pid)) == 2)
        supervisor = Supervisor(config, say=lambda line: None)
        assert supervisor.check() == 0  # everything alive: nothing to do

        os.kill(worker.pid, signal.SIGKILL)  # the wrapper dies; its child lives on
        _wait(lambda: not is_running(worker))
        os.kill(store.pid, signal.SIGKILL)  # not a worker: not the supervisor's to restart
        _wait(lambda: not is_running(store))
        assert supervisor.check() == 1

        state = stack.load_state()
        assert state is not None
        [new_store, new_worker] = state.processes
        replaced.append(new_worker)
        assert new_store == store
        assert new_worker.name == "cpu-1" and new_worker.pid != worker.pid
        assert new_worker.command == worker.command and new_worker.endpoints == {"queue": "cpu"}
        assert is_running(new_worker)
        _wait(lambda: not group_members(worker.pid))  # the orphaned child was killed
        assert supervisor.check() == 0
    finally:
        for record in [worker, store, *replaced]:
            stop(record, timeout_s=5)


def test_a_worker_that_keeps_dying_waits_longer_each_time() -> None:
    restarts = Restarts()
    pauses = [restarts.pause(lived_s=0.5) for _ in range(9)]
    assert pauses[:4] == [0.0, 2.0, 4.0, 8.0]
    assert max(pauses) == MAX_PAUSE_S and pauses == sorted(pauses)
    assert restarts.pause(lived_s=3600) == 0.0  # it ran for an hour: a fresh start


def test_the_supervisor_stops_when_the_stack_is_down(tmp_path: Path) -> None:
    supervisor = Supervisor(StackConfig(home=tmp_path), say=lambda line: None)
    supervisor.run(poll_s=0.01)  # no state.json: returns at once
    assert supervisor.stopping.is_set()
