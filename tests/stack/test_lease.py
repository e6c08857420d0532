"""Leased steps on real Celery workers and a real Redis, with the stack's Celery settings: a
step that runs several leases long runs once; the step of a worker killed with SIGKILL runs
again on another worker one lease later, instead of after hours."""

from __future__ import annotations

import importlib
import os
import signal
import subprocess
import sys
import time
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from comix_resources.stack.lease import LeaseRenewer, renewal_interval

pytestmark = pytest.mark.slow

PROJECT = Path(__file__).resolve().parents[2]
LEASE_S = 4


def _entries(log: Path) -> list[tuple[str, int, float]]:
    if not log.exists():
        return []
    return [
        (kind, int(pid), float(at))
        for kind, pid, at in (line.split() for line in log.read_text().splitlines())
    ]


def _wait(condition, timeout_s: float, what: str) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"{what} not within {timeout_s} s"
        time.sleep(0.2)


@pytest.fixture
def celery_env(redis_url: str) -> dict[str, str]:
    database = 2 + uuid.uuid4().int % 10  # a broker database of this test's own
    return {
        **os.environ,
        "LEASE_BROKER": f"{redis_url}/{database}",
        "LEASE_BACKEND": f"{redis_url}/{database + 1}",
        "LEASE_S": str(LEASE_S),
    }


@pytest.fixture
def start_worker(celery_env: dict[str, str], tmp_path: Path) -> Iterator:
    started: list[subprocess.Popen] = []

    def start(name: str) -> subprocess.Popen:
        log = (tmp_path / f"{name}.log").open("ab")
        worker = subprocess.Popen(
            [
                sys.executable, "-m", "celery", "-A", "tests.stack.celery_lease_app", "worker",
                "--pool=solo", "-Q", "steps", "-n", f"{name}@%h", "--loglevel=INFO",
                "-I", "comix_resources.stack.lease",
            ],
            cwd=PROJECT, env=celery_env, stdout=log, stderr=subprocess.STDOUT,
        )  # fmt: skip
        started.append(worker)
        _wait(lambda: b" ready." in (tmp_path / f"{name}.log").read_bytes(), 120, name)
        return worker

    yield start
    for worker in started:
        worker.kill()
        worker.wait()


def _app(celery_env: dict[str, str], monkeypatch: pytest.MonkeyPatch):
    for name in ("LEASE_BROKER", "LEASE_BACKEND", "LEASE_S"):
        monkeypatch.setenv(name, celery_env[name])
    sys.modules.pop("tests.stack.celery_lease_app", None)  # its app reads them on import
    return importlib.import_module("tests.stack.celery_lease_app")


def test_a_step_longer_than_its_lease_runs_once(
    start_worker, celery_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _app(celery_env, monkeypatch)
    start_worker("a")
    start_worker("b")  # idle: it sweeps every second, and must never take the running step
    log = tmp_path / "steps.log"
    result = module.step.delay(4 * LEASE_S, str(log))
    pid = result.get(timeout=120)
    assert [kind for kind, _, _ in _entries(log)] == ["start", "done"]
    assert {p for _, p, _ in _entries(log)} == {pid}


def test_the_step_of_a_killed_worker_runs_again_one_lease_later(
    start_worker, celery_env: dict[str, str], tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    module = _app(celery_env, monkeypatch)
    workers = {w.pid: w for w in (start_worker("a"), start_worker("b"))}
    log = tmp_path / "steps.log"
    result = module.step.delay(3, str(log))
    _wait(lambda: len(_entries(log)) == 1, 60, "the step's start")
    [(_, first_pid, _)] = _entries(log)
    os.kill(first_pid, signal.SIGKILL)
    killed_at = time.time()
    workers[first_pid].wait()
    second_pid = result.get(timeout=120)
    entries = _entries(log)
    assert second_pid != first_pid and second_pid in workers
    assert [(kind, pid) for kind, pid, _ in entries] == [
        ("start", first_pid),
        ("start", second_pid),
        ("done", second_pid),
    ]
    again_after = entries[1][2] - killed_at
    print(f"the killed worker's step started again {again_after:.1f} s after the kill")
    # One lease after the last renewal, plus at most one sweep interval.
    assert again_after <= LEASE_S + renewal_interval(LEASE_S) + 3


def test_a_lease_is_never_renewed_for_an_acknowledged_message(redis_url: str) -> None:
    import redis

    client = redis.Redis.from_url(f"{redis_url}/15")
    index = f"test-index-{uuid.uuid4().hex[:6]}"
    client.zadd(index, {"tag": 1.0})
    renewer = LeaseRenewer(client, index, "tag", lease_s=4)
    assert renewer.renew() and client.zscore(index, "tag") > 1.0
    client.zrem(index, "tag")  # acknowledged
    assert not renewer.renew()
    assert client.zscore(index, "tag") is None  # not put back
