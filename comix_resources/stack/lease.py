"""Steps that survive a dead worker: a lease on each step's broker message, renewed while the
worker lives.

With Redis as the broker, a message a worker has taken but not acknowledged (``acks_late``: a
step is acknowledged only once it is done) sits in the ``unacked`` hash, timed in the
``unacked_index`` sorted set; any worker's periodic sweep puts one older than the
``visibility_timeout`` back on its queue. A worker that dies (SIGKILL, the OOM killer, a lost
machine) can hand nothing back, so that timeout alone decides when its step runs again, and it
had to be longer than the longest step (6 h): a dead worker's step waited 6 h, and a shorter
timeout would have started a long step a second time while it was still running.

This module makes the timeout a lease. Imported into every worker (``dagster-celery worker
start -i comix_resources.stack.lease``), it starts a thread for each message the worker
receives that moves the message's time in ``unacked_index`` to now, every quarter of the lease,
for as long as the message is there: a running step is never swept, however long it runs, and
the step of a worker that died is swept, and run by another worker, one lease after its last
renewal. The thread stops by itself once the message is acknowledged (it leaves the index), and
dies with its worker. Redis's own ``ZADD XX`` does the renewal, so a message that was just
acknowledged is never put back.
"""

from __future__ import annotations

import contextlib
import logging
import threading
from typing import Any

from celery import signals

logger = logging.getLogger(__name__)

DEFAULT_INDEX_KEY = "unacked_index"


def renewal_interval(lease_s: float) -> float:
    """How often a lease is renewed: four times per lease, at most every second."""
    return max(1.0, lease_s / 4)


class LeaseRenewer:
    """Keeps one message's lease fresh until it leaves the unacknowledged index."""

    def __init__(self, client: Any, index_key: str, delivery_tag: str, lease_s: float) -> None:
        self.client = client
        self.index_key = index_key
        self.delivery_tag = delivery_tag
        self.interval = renewal_interval(lease_s)
        self._stop = threading.Event()
        self.renewals = 0
        self.thread = threading.Thread(
            target=self._run, name=f"lease-{delivery_tag[:8]}", daemon=True
        )

    def start(self) -> LeaseRenewer:
        self.thread.start()
        return self

    def stop(self) -> None:
        self._stop.set()

    def renew(self) -> bool:
        """Move the message's time to now; False once it is no longer unacknowledged."""
        import time

        # XX: only a member still there is updated; CH: count updated scores.
        changed = self.client.zadd(
            self.index_key, {self.delivery_tag: time.time()}, xx=True, ch=True
        )
        if changed:
            self.renewals += 1
        return bool(changed) or self.client.zscore(self.index_key, self.delivery_tag) is not None

    def _run(self) -> None:
        while not self._stop.wait(self.interval):
            try:
                if not self.renew():
                    return
            except Exception:  # a broker hiccup: try again next interval
                logger.warning("could not renew the lease of %s", self.delivery_tag, exc_info=True)


_renewers: dict[str, LeaseRenewer] = {}
_lock = threading.Lock()
_client: Any = None


def _redis_client(app: Any) -> Any:
    global _client
    if _client is None:
        import redis

        _client = redis.Redis.from_url(app.conf.broker_url)
    return _client


def _index_key(app: Any) -> str:
    options = app.conf.broker_transport_options or {}
    prefix = options.get("global_keyprefix", "")
    return prefix + options.get("unacked_index_key", DEFAULT_INDEX_KEY)


@signals.task_received.connect
def _lease_received(sender: Any = None, request: Any = None, **_: Any) -> None:
    app = getattr(sender, "app", None) or request.task.app
    if not str(app.conf.broker_url or "").startswith(("redis://", "rediss://")):
        return
    tag = getattr(request.message, "delivery_tag", None)
    lease_s = (app.conf.broker_transport_options or {}).get("visibility_timeout")
    if tag is None or not lease_s:
        return
    renewer = LeaseRenewer(_redis_client(app), _index_key(app), str(tag), float(lease_s))
    with _lock:
        _renewers[request.id] = renewer.start()


@signals.task_postrun.connect
def _lease_done(task_id: str | None = None, **_: Any) -> None:
    with _lock:
        renewer = _renewers.pop(task_id or "", None)
    if renewer is not None:
        with contextlib.suppress(Exception):
            renewer.stop()
