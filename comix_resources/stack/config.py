"""What ``comix stack`` starts, where it listens, and the servers a team already runs.

Every URL can come from the environment instead: a set ``COMIX_DAGSTER_PG_URL`` means "use
that PostgreSQL, start none", ``COMIX_CELERY_BROKER_URL`` replaces Redis, ``AWS_ENDPOINT_URL``
(boto's own variable) replaces SeaweedFS, ``COMIX_MLFLOW_TRACKING_URI`` replaces the MLflow
server. Passwords and keys the stack makes for its own servers are kept in
``$COMIX_HOME/stack/secrets.json`` (mode 0600) and reach the servers and the code location only
through environment variables (Dagster reads them with ``env:`` / ``EnvVar``), never through a
config file or a command line.
"""

from __future__ import annotations

import json
import os
import secrets
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path

from comix_resources.stack.placement import STEP_LEASE_S

HOST = "127.0.0.1"
# Ports of the local stack; 0 (or ``comix stack up --free-ports``) picks free ones.
DEFAULT_PORTS: dict[str, int] = {
    "postgres": 5432,
    "redis": 6379,
    "s3": 8333,
    "mlflow": 5000,
    "dagster": 3000,
    # SeaweedFS's own servers behind its S3 gateway (each also takes port + 10000 for gRPC).
    "seaweed_master": 9333,
    "seaweed_volume": 9340,
    "seaweed_filer": 8888,
    "seaweed_admin": 23646,
}
BUCKET = "comix"
DEFAULT_LAKE_URL = f"s3://{BUCKET}/lake"
DEFAULT_MLFLOW_ARTIFACTS = f"s3://{BUCKET}/mlartifacts"
PG_USER = "comix"
# The process that restarts dead workers (stack/supervise.py), by its record's name.
SUPERVISOR = "supervisor"
DATABASES = ("dagster", "mlflow", "cache")

# The variables every stack process shares (and `comix stack env` prints).
DAGSTER_PG_URL = "COMIX_DAGSTER_PG_URL"
MLFLOW_BACKEND_URI = "COMIX_MLFLOW_BACKEND_STORE_URI"
MLFLOW_TRACKING_URI = "COMIX_MLFLOW_TRACKING_URI"
CACHE_URL = "COMIX_CACHE_URL"
BROKER_URL = "COMIX_CELERY_BROKER_URL"
BACKEND_URL = "COMIX_CELERY_BACKEND_URL"
S3_ENDPOINT = "AWS_ENDPOINT_URL"
S3_KEY = "AWS_ACCESS_KEY_ID"
S3_SECRET = "AWS_SECRET_ACCESS_KEY"


def _count(env: Mapping[str, str], name: str, default: int) -> int:
    value = env.get(name, "").strip()
    if not value:
        return default
    if not value.isdigit():
        raise ValueError(f"{name} must be a whole number, got {value!r}")
    return int(value)


@dataclass(frozen=True)
class StackConfig:
    """The stack as configured; ports of 0 are resolved when ``stack up`` starts it."""

    home: Path
    ports: dict[str, int] = field(default_factory=lambda: dict(DEFAULT_PORTS))
    cpu_workers: int = 2
    gpu_workers: int = 1
    # Pools created up front (Dagster inserts a missing pool's row on first use, and two runs
    # doing that at once collide on PostgreSQL's unique key).
    ocr_pool: int = 2
    vlm_pool: int = 4
    gpu_pool: int = 1
    lake_url: str = DEFAULT_LAKE_URL
    mlflow_artifacts: str = DEFAULT_MLFLOW_ARTIFACTS
    # Servers a team already runs (empty: the stack starts its own).
    external: dict[str, str] = field(default_factory=dict)
    run_start_timeout_s: int = 300
    # A dead worker's step runs again this long after its last lease renewal (lease.py).
    step_lease_s: int = STEP_LEASE_S

    @classmethod
    def from_env(
        cls, home: Path, environ: Mapping[str, str] | None = None, free_ports: bool = False
    ) -> StackConfig:
        env = os.environ if environ is None else environ
        ports = {
            name: 0 if free_ports else _count(env, f"COMIX_STACK_{name.upper()}_PORT", default)
            for name, default in DEFAULT_PORTS.items()
        }
        cpu = _count(env, "COMIX_STACK_CPU_WORKERS", 2)
        gpu = _count(env, "COMIX_STACK_GPU_WORKERS", 1)
        external = {
            name: env[name].strip()
            for name in (
                DAGSTER_PG_URL,
                MLFLOW_BACKEND_URI,
                MLFLOW_TRACKING_URI,
                CACHE_URL,
                BROKER_URL,
                BACKEND_URL,
                S3_ENDPOINT,
            )
            if env.get(name, "").strip()
        }
        return cls(
            home=home,
            ports=ports,
            cpu_workers=cpu,
            gpu_workers=gpu,
            ocr_pool=_count(env, "COMIX_POOL_OCR", max(cpu, 1)),
            vlm_pool=_count(env, "COMIX_POOL_VLM", 4),
            gpu_pool=_count(env, "COMIX_POOL_GPU", max(gpu, 1)),
            lake_url=env.get("COMIX_LAKE_URL", "").strip() or DEFAULT_LAKE_URL,
            mlflow_artifacts=env.get("COMIX_MLFLOW_ARTIFACTS", "").strip()
            or DEFAULT_MLFLOW_ARTIFACTS,
            external=external,
            step_lease_s=max(_count(env, "COMIX_STACK_STEP_LEASE_S", STEP_LEASE_S), 4),
        )

    # -- places -----------------------------------------------------------------------------

    @property
    def directory(self) -> Path:
        return self.home / "stack"

    @property
    def dagster_home(self) -> Path:
        return self.directory / "dagster"

    @property
    def state_file(self) -> Path:
        return self.directory / "state.json"

    @property
    def log_dir(self) -> Path:
        return self.directory / "logs"

    # -- what to start ----------------------------------------------------------------------

    @property
    def starts_postgres(self) -> bool:
        return DAGSTER_PG_URL not in self.external

    @property
    def starts_redis(self) -> bool:
        return BROKER_URL not in self.external

    @property
    def starts_s3(self) -> bool:
        return S3_ENDPOINT not in self.external

    @property
    def starts_mlflow(self) -> bool:
        return MLFLOW_TRACKING_URI not in self.external

    @property
    def worker_slots(self) -> int:
        """Steps that can run at once: one per worker (each runs Celery's ``solo`` pool)."""
        return self.cpu_workers + self.gpu_workers

    @property
    def max_concurrent_runs(self) -> int:
        """A run beyond the worker slots would only wait for a slot while holding a run
        worker process and its database connections."""
        return max(1, self.worker_slots)

    @property
    def postgres_max_connections(self) -> int:
        """PostgreSQL's connection limit, from what can connect at once.

        Dagster's storage opens a connection per operation (SQLAlchemy ``NullPool``), so each
        process holds a few at a time: the webserver, the daemon (its threads) and every run
        worker and step worker; MLflow's server keeps its own pool (capped to 2 + 4 in the
        stack), and every process that opens a shared cache keeps one more pool of at most
        ``cache_store.POOL_SIZE + POOL_OVERFLOW``. Beyond the budget a connection fails at once
        instead of slowing everyone.
        """
        from comix_resources.cache_store import POOL_OVERFLOW, POOL_SIZE

        processes = 2 + self.max_concurrent_runs + self.worker_slots
        return max(100, 20 + (6 + POOL_SIZE + POOL_OVERFLOW) * processes + 10)

    @property
    def buckets(self) -> list[str]:
        names = [url.removeprefix("s3://").split("/", 1)[0] for url in self._s3_urls]
        return sorted(set(names))

    @property
    def _s3_urls(self) -> list[str]:
        return [u for u in (self.lake_url, self.mlflow_artifacts) if u.startswith("s3://")]


def load_secrets(directory: Path) -> dict[str, str]:
    """The stack's own passwords and keys, made once and kept readable by the owner only."""
    path = directory / "secrets.json"
    if path.exists():
        return json.loads(path.read_text())
    directory.mkdir(parents=True, exist_ok=True)
    made = {
        "postgres_password": secrets.token_urlsafe(18),
        "s3_access_key": f"comix{secrets.token_hex(6)}",
        "s3_secret_key": secrets.token_urlsafe(24),
    }
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        json.dump(made, handle)
    return made


def redact_url(url: str) -> str:
    """``scheme://user:***@host/...``: a URL fit to print."""
    scheme, sep, rest = url.partition("://")
    if not sep or "@" not in rest:
        return url
    credentials, at, location = rest.rpartition("@")
    user = credentials.split(":", 1)[0]
    return f"{scheme}://{user}:***{at}{location}" if ":" in credentials else url
