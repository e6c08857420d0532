"""A Celery app with the stack's own Celery settings (``placement.celery_config``) and one
task that stands for a long step: it notes when it starts and ends, and which process ran it."""

from __future__ import annotations

import os
import time

from celery import Celery

from comix_resources.stack.placement import celery_config

app = Celery("lease_test", broker=os.environ["LEASE_BROKER"], backend=os.environ["LEASE_BACKEND"])
app.conf.update(celery_config(lease_s=int(os.environ["LEASE_S"]))["config_source"])
app.conf.task_default_queue = "steps"


@app.task(name="step")
def step(seconds: float, log: str) -> int:
    with open(log, "a") as handle:
        handle.write(f"start {os.getpid()} {time.time()}\n")
    time.sleep(seconds)
    with open(log, "a") as handle:
        handle.write(f"done {os.getpid()} {time.time()}\n")
    return os.getpid()
