"""``comix demo``'s servers stop with their parent, however the parent is told to stop."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import pytest

pytestmark = pytest.mark.slow

# A parent like ``comix demo``: one child server in its own session, then wait; the parent
# prints the child's pid once it is up.
PARENT = textwrap.dedent(
    """
    import sys, time
    from pathlib import Path
    import dagster  # noqa: F401  (what the demo has imported when it serves)
    from comix_resources.services import Services, stop_on_signals

    services = Services(Path(sys.argv[1]))
    stop_on_signals()
    try:
        services.start("sleeper", [sys.executable, "-c", "import time; time.sleep(600)"])
        print(services.processes["sleeper"].pid, flush=True)
        services.wait()
    except KeyboardInterrupt as interrupt:
        print(f"stopping on {interrupt}", flush=True)
    finally:
        services.stop()
    """
)


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    return True


@pytest.mark.parametrize("signum", [signal.SIGTERM, signal.SIGINT, signal.SIGHUP])
def test_a_backgrounded_parent_stops_its_servers_on_a_signal(tmp_path: Path, signum) -> None:
    parent = subprocess.Popen(
        [sys.executable, "-c", PARENT, str(tmp_path / "logs")],
        stdout=subprocess.PIPE,
        text=True,
        # As `comix demo &` from a script: SIGINT ignored from the start.
        preexec_fn=lambda: signal.signal(signal.SIGINT, signal.SIG_IGN),
    )
    try:
        child = int(parent.stdout.readline())
        assert _alive(child)
        parent.send_signal(signum)
        assert parent.wait(timeout=30) == 0
        assert f"stopping on {signal.Signals(signum).name}" in parent.stdout.read()
        deadline = time.monotonic() + 10
        while _alive(child) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(child), "the server outlived its parent"
    finally:
        parent.kill()
