"""One holder at a time per piece of work, across processes on one ``COMIX_HOME``.

Two ``comix run`` started on the same home would each materialize every partition. A lease is
an advisory lock on a file under ``$COMIX_HOME/locks/`` (``fcntl.flock``: the kernel drops it
when its process dies, so a killed run never leaves a stale lock behind). The file also keeps
a small record of the last holder: who, since when, and whether it finished the work, so a
process that had to wait can tell that the work it waited for is already done.
"""

from __future__ import annotations

import fcntl
import json
import os
import socket
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from comix_resources.ids import short_hash, slugify


@dataclass
class Lease:
    """A held lease: what the previous holder left, and whether this holder had to wait."""

    key: str
    waited: bool
    previous: dict[str, Any] = field(default_factory=dict)
    ok: bool = False  # set by the holder when its work succeeded; recorded on release

    def done_since(self, since: float) -> bool:
        """The previous holder finished this work successfully at ``since`` or later: a run
        that started at ``since`` and waited for it, or came just behind it, has nothing to do."""
        finished = self.previous.get("finished")
        return bool(self.previous.get("ok")) and finished is not None and finished >= since


class Leases:
    """Leases kept as files in ``folder``."""

    def __init__(self, folder: Path) -> None:
        self.folder = Path(folder)

    def path(self, key: str) -> Path:
        return self.folder / f"{slugify(key, 80)}-{short_hash(key, 10)}.lock"

    @contextmanager
    def hold(
        self, key: str, on_wait: Callable[[dict[str, Any]], None] | None = None
    ) -> Iterator[Lease]:
        """Hold the lease on ``key`` for the block, waiting while another process holds it
        (``on_wait`` is told who). A signal that raises (Ctrl-C, SIGTERM) ends the wait."""
        self.folder.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.path(key), os.O_RDWR | os.O_CREAT, 0o644)
        try:
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
                waited = False
            except BlockingIOError:
                if on_wait is not None:
                    on_wait(_read(fd))
                fcntl.flock(fd, fcntl.LOCK_EX)
                waited = True
            lease = Lease(key, waited, _read(fd))
            record = {
                "key": key,
                "pid": os.getpid(),
                "host": socket.gethostname(),
                "started": time.time(),
            }
            _write(fd, {**record, "finished": None, "ok": False})
            try:
                yield lease
            finally:
                _write(fd, {**record, "finished": time.time(), "ok": lease.ok})
        finally:
            os.close(fd)  # closing drops the lock


def _read(fd: int) -> dict[str, Any]:
    os.lseek(fd, 0, os.SEEK_SET)
    data = os.read(fd, 64 * 1024)
    try:
        record = json.loads(data) if data else {}
    except ValueError:
        return {}
    return record if isinstance(record, dict) else {}


def _write(fd: int, record: dict[str, Any]) -> None:
    data = json.dumps(record).encode()
    os.lseek(fd, 0, os.SEEK_SET)
    os.ftruncate(fd, 0)
    os.write(fd, data)
