"""Where steps run: Celery queues, Dagster pools, and the Celery executor's configuration.

Plain constants and dicts (no Dagster import): the asset graph tags its steps with them, the
code location configures ``celery_executor`` with them, and ``comix stack`` starts workers on
the same queues and creates the same pools. The executor and the workers must agree on broker,
backend and Celery settings, so both read :func:`celery_config`.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

# dagster-celery routes a step to the queue named by this op tag.
QUEUE_TAG = "dagster-celery/queue"
CPU_QUEUE = "cpu"
GPU_QUEUE = "gpu"
QUEUES = (CPU_QUEUE, GPU_QUEUE)

OCR_POOL = "ocr"
VLM_POOL = "vlm"
GPU_POOL = "gpu"
POOLS = (OCR_POOL, VLM_POOL, GPU_POOL)

# On Kubernetes (k8s_job_executor, a pod per step) the same steps ask for a GPU and tolerate
# the taint that GPU node pools carry by convention.
K8S_CONFIG_TAG = "dagster-k8s/config"
K8S_GPU_CONFIG = {
    "container_config": {"resources": {"limits": {"nvidia.com/gpu": "1"}}},
    "pod_spec_config": {
        "tolerations": [{"key": "nvidia.com/gpu", "operator": "Exists", "effect": "NoSchedule"}]
    },
}
GPU_STEP_TAGS = {QUEUE_TAG: GPU_QUEUE, K8S_CONFIG_TAG: K8S_GPU_CONFIG}

# Engines that call a remote endpoint (rate-limited: the `vlm` pool) and those that run a model
# on this machine's accelerator (the `gpu` pool); OCR takes CPU cores (the `ocr` pool).
REMOTE_TEXT_ENGINES = frozenset({"openai"})
LOCAL_MODEL_TEXT_ENGINES = frozenset({"transformers"})


def text_pool(engines: Sequence[str]) -> str:
    """The pool of the page-text step: that of the first engine of the cascade, which reads
    every page (later engines see only the pages it failed)."""
    first = engines[0] if engines else "ocr"
    if first in REMOTE_TEXT_ENGINES:
        return VLM_POOL
    if first in LOCAL_MODEL_TEXT_ENGINES:
        return GPU_POOL
    return OCR_POOL


# How long a dead worker's step waits before another worker runs it (see stack/lease.py).
STEP_LEASE_S = 120


def celery_config(
    broker_variable: str = "COMIX_CELERY_BROKER_URL",
    backend_variable: str = "COMIX_CELERY_BACKEND_URL",
    lease_s: int = STEP_LEASE_S,
) -> dict[str, Any]:
    """The ``celery_executor`` config block, URLs read from the environment at run time.

    Steps without a queue tag go to ``cpu``. A step is acknowledged only once it is done
    (``acks_late``), and its message is leased: a worker renews the lease while it runs the
    step (``stack/lease.py``), so a step whose worker died is swept back to its queue
    ``lease_s`` after the last renewal, by the next idle worker's sweep (every
    ``restore_s``), and never while its worker still runs it.
    """
    restore_s = max(1, min(10, lease_s // 4))
    return {
        "broker": {"env": broker_variable},
        "backend": {"env": backend_variable},
        "config_source": {
            "task_default_queue": CPU_QUEUE,
            "task_acks_late": True,
            "task_reject_on_worker_lost": True,
            "worker_prefetch_multiplier": 1,
            "broker_transport_options": {
                # dagster-celery's own connection retries (this block replaces its default)...
                "max_retries": 3,
                "interval_start": 0,
                "interval_step": 0.2,
                "interval_max": 0.5,
                # ...and an unacknowledged step whose lease ran out goes back to its queue.
                "visibility_timeout": lease_s,
                "unacked_restore_interval": restore_s,
                "unacked_restore_throttle": 1,  # sweep at every interval, not every tenth
            },
        },
    }
