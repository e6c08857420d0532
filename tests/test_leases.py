"""Leases: one holder at a time, a waiter learns the work was done, a dead holder frees it."""

from __future__ import annotations

import subprocess
import sys
import threading
import time
from pathlib import Path

from comix_resources.leases import Leases


def test_a_waiter_learns_the_holder_finished_the_work(tmp_path: Path) -> None:
    leases = Leases(tmp_path / "locks")
    holding = threading.Event()
    told: list[dict] = []

    def first() -> None:
        with leases.hold("amazon/c1/books") as lease:
            holding.set()
            time.sleep(0.5)
            lease.ok = True

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(10)
    second_started = time.time()
    with leases.hold("amazon/c1/books", on_wait=told.append) as second:
        assert second.waited and second.done_since(second_started)
    thread.join()
    assert told and told[0]["pid"] > 0 and told[0]["finished"] is None
    # A run that starts after the work was done (one after the other): it does the work.
    with leases.hold("amazon/c1/books") as third:
        assert not third.waited and not third.done_since(time.time())


def test_a_failed_holder_leaves_the_work_to_the_waiter(tmp_path: Path) -> None:
    leases = Leases(tmp_path / "locks")
    holding = threading.Event()

    def first() -> None:
        with leases.hold("k"):
            holding.set()
            time.sleep(0.3)  # ends without lease.ok

    thread = threading.Thread(target=first)
    thread.start()
    holding.wait(10)
    second_started = time.time()
    with leases.hold("k") as second:
        assert second.waited and not second.done_since(second_started)
    thread.join()


def test_a_killed_holder_frees_the_lease(tmp_path: Path) -> None:
    code = (
        "import os, signal, sys\n"
        "from pathlib import Path\n"
        "from comix_resources.leases import Leases\n"
        "with Leases(Path(sys.argv[1])).hold('k'):\n"
        "    print('held', flush=True)\n"
        "    os.kill(os.getpid(), signal.SIGKILL)\n"
    )
    killed = subprocess.run(
        [sys.executable, "-c", code, str(tmp_path / "locks")], capture_output=True, text=True
    )
    assert killed.returncode == -9 and "held" in killed.stdout
    started = time.perf_counter()
    with Leases(tmp_path / "locks").hold("k") as lease:
        assert not lease.waited and not lease.done_since(0)
    assert time.perf_counter() - started < 1
