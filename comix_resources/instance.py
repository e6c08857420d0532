"""The persistent Dagster instance: ``dagster.yaml`` for one machine or for the scale-out stack.

One machine (the embedded default, ``$COMIX_HOME/dagster``): SQLite storage, runs in process.
The stack (``$COMIX_HOME/stack/dagster``, written by ``comix stack up``): PostgreSQL storage
whose URL Dagster reads from ``COMIX_DAGSTER_PG_URL`` at run time (the file holds no
password), the default run launcher (runs start beside the daemon; their steps go to Celery
workers through ``celery_executor``; ``CeleryRunLauncher`` together with the Celery executor
fails), run monitoring with a start timeout (a run whose worker died is marked failed instead
of hanging), and at most as many runs at once as there are worker slots.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import yaml

from comix_resources.settings import ComixSettings

DAGSTER_YAML = """\
# CoMix Dagster instance. SQLite storage under this folder; everything survives restarts.
# To use PostgreSQL instead, replace the `storage` block with:
#   storage:
#     postgres:
#       postgres_url:
#         env: COMIX_DAGSTER_PG_URL   # postgresql+psycopg2://user:password@host:5432/dagster
# (`comix stack up` writes such an instance, with Celery workers, under $COMIX_HOME/stack).
storage:
  sqlite:
    base_dir: {storage}
# Two cores: at most two collection runs at once, the rest wait in the queue.
concurrency:
  runs:
    max_concurrent_runs: 2
telemetry:
  enabled: false
"""

STACK_HEADER = """\
# CoMix Dagster instance of the scale-out stack, written by `comix stack up` (rewritten on
# every start: edit comix_resources/instance.py or the COMIX_STACK_* variables instead).
# Secrets are read from the environment at run time, never stored here.
"""


def ensure_dagster_home(settings: ComixSettings) -> Path:
    """Create ``DAGSTER_HOME`` and its ``dagster.yaml`` (a user's edits are kept); export it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML.format(storage=home / "storage"))
    os.environ["DAGSTER_HOME"] = str(home)
    return home


def stack_instance_config(
    max_concurrent_runs: int,
    run_start_timeout_s: int = 300,
    pg_url_variable: str = "COMIX_DAGSTER_PG_URL",
) -> dict[str, Any]:
    """The stack's instance settings (see the module docstring for why each is there)."""
    return {
        "storage": {"postgres": {"postgres_url": {"env": pg_url_variable}}},
        "run_coordinator": {
            "module": "dagster._core.run_coordinator",
            "class": "QueuedRunCoordinator",
        },
        "concurrency": {
            "runs": {"max_concurrent_runs": max_concurrent_runs},
            # Op granularity: a pool limits steps (OCR, VLM calls, GPU), not whole runs.
            "pools": {"granularity": "op"},
        },
        "run_monitoring": {
            "enabled": True,
            "start_timeout_seconds": run_start_timeout_s,
            "cancel_timeout_seconds": 180,
            "poll_interval_seconds": 30,
            # The default launcher cannot resume a run whose worker died: fail it instead.
            "max_resume_run_attempts": 0,
        },
        "telemetry": {"enabled": False},
    }


def write_instance(home: Path, config: dict[str, Any], header: str = STACK_HEADER) -> Path:
    """Write ``home/dagster.yaml`` (atomically: the daemon may be reading it)."""
    home.mkdir(parents=True, exist_ok=True)
    target = home / "dagster.yaml"
    partial = home / ".dagster.yaml.partial"
    partial.write_text(header + yaml.safe_dump(config, sort_keys=False))
    partial.replace(target)
    return target
