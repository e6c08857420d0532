"""The persistent Dagster instance under ``$COMIX_HOME/dagster`` (runs, partitions, checks)."""

from __future__ import annotations

import os
from pathlib import Path

from comix_resources.settings import ComixSettings

DAGSTER_YAML = """\
# CoMix Dagster instance. SQLite storage under this folder; everything survives restarts.
# To use PostgreSQL instead, replace the `storage` block with:
#   storage:
#     postgres:
#       postgres_url:
#         env: COMIX_DAGSTER_PG_URL   # postgresql+psycopg2://user:password@host:5432/dagster
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


def ensure_dagster_home(settings: ComixSettings) -> Path:
    """Create ``DAGSTER_HOME`` and its ``dagster.yaml`` (a user's edits are kept); export it."""
    home = settings.dagster_home
    home.mkdir(parents=True, exist_ok=True)
    config = home / "dagster.yaml"
    if not config.exists():
        config.write_text(DAGSTER_YAML.format(storage=home / "storage"))
    os.environ["DAGSTER_HOME"] = str(home)
    return home
