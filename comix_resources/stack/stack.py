"""``comix stack up | status | down``: the scale-out stack on this machine, started by pid.

``up`` starts, in dependency order, PostgreSQL, Redis, SeaweedFS (S3), the MLflow server, the
Dagster webserver and daemon on a PostgreSQL instance, then the Celery workers; a server a team
already runs (see ``config``) is used instead of started. Each started process is added to
``$COMIX_HOME/stack/state.json`` as soon as it runs, so that ``down`` (another process, later)
stops exactly those, in reverse order, and nothing else. An ``up`` that fails stops what it had
started and raises with the failing server's log.
"""

from __future__ import annotations

import json
import os
import subprocess
import time
from collections.abc import Callable, Mapping
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import yaml

from comix_resources.instance import stack_instance_config, write_instance
from comix_resources.stack import servers
from comix_resources.stack.config import (
    BACKEND_URL,
    BROKER_URL,
    CACHE_URL,
    DAGSTER_PG_URL,
    HOST,
    MLFLOW_BACKEND_URI,
    MLFLOW_TRACKING_URI,
    S3_ENDPOINT,
    S3_KEY,
    S3_SECRET,
    SUPERVISOR,
    StackConfig,
    load_secrets,
    redact_url,
)
from comix_resources.stack.placement import (
    CPU_QUEUE,
    GPU_POOL,
    GPU_QUEUE,
    OCR_POOL,
    VLM_POOL,
    celery_config,
)
from comix_resources.stack.processes import (
    ProcessRecord,
    free_port,
    is_running,
    port_is_open,
    stop,
)

Progress = Callable[[str], None]


@dataclass
class StackState:
    """What ``up`` started and where it listens (``state.json``)."""

    ports: dict[str, int]
    processes: list[ProcessRecord] = field(default_factory=list)
    started_at: float = 0.0
    seconds_to_start: dict[str, float] = field(default_factory=dict)

    def to_json(self) -> dict[str, Any]:
        return {
            "ports": self.ports,
            "processes": [record.to_json() for record in self.processes],
            "started_at": self.started_at,
            "seconds_to_start": self.seconds_to_start,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> StackState:
        return cls(
            ports=dict(data["ports"]),
            processes=[ProcessRecord.from_json(item) for item in data["processes"]],
            started_at=float(data.get("started_at", 0.0)),
            seconds_to_start=dict(data.get("seconds_to_start", {})),
        )


@dataclass(frozen=True)
class ServiceStatus:
    name: str
    state: str  # running | stopped | external
    pid: int | None
    where: str


class StackAlreadyUp(RuntimeError):
    pass


class Stack:
    def __init__(self, config: StackConfig) -> None:
        self.config = config

    # -- state ------------------------------------------------------------------------------

    def load_state(self) -> StackState | None:
        if not self.config.state_file.exists():
            return None
        return StackState.from_json(json.loads(self.config.state_file.read_text()))

    def save_state(self, state: StackState) -> None:
        self.config.directory.mkdir(parents=True, exist_ok=True)
        partial = self.config.state_file.with_suffix(".partial")
        partial.write_text(json.dumps(state.to_json(), indent=1))
        partial.replace(self.config.state_file)

    # -- what every process shares ----------------------------------------------------------

    def environment(self, state: StackState) -> dict[str, str]:
        """The variables of the stack's processes (and of a shell that uses the stack)."""
        config, ports, external = self.config, state.ports, self.config.external
        secret = load_secrets(config.directory)
        pg_password = secret["postgres_password"]
        own_postgres = servers.postgres_url(ports["postgres"], pg_password, "dagster")
        env = {
            "COMIX_HOME": str(config.home),
            "DAGSTER_HOME": str(config.dagster_home),
            "COMIX_EXECUTOR": "celery",
            "COMIX_LAKE_URL": config.lake_url,
            DAGSTER_PG_URL: external.get(DAGSTER_PG_URL) or own_postgres,
            # The caches every worker shares: their own database on the stack's PostgreSQL;
            # on a team's, tables beside Dagster's unless COMIX_CACHE_URL says where.
            CACHE_URL: external.get(CACHE_URL)
            or external.get(DAGSTER_PG_URL)
            or servers.postgres_url(ports["postgres"], pg_password, "cache"),
            BROKER_URL: external.get(BROKER_URL) or f"redis://{HOST}:{ports['redis']}/0",
            BACKEND_URL: external.get(BACKEND_URL)
            or external.get(BROKER_URL)
            or f"redis://{HOST}:{ports['redis']}/1",
            MLFLOW_TRACKING_URI: external.get(MLFLOW_TRACKING_URI)
            or f"http://{HOST}:{ports['mlflow']}",
            "COMIX_DAGSTER_UI": f"http://{HOST}:{ports['dagster']}",
        }
        env["COMIX_MLFLOW_UI"] = env[MLFLOW_TRACKING_URI]
        if config.starts_s3:
            env[S3_ENDPOINT] = f"http://{HOST}:{ports['s3']}"
            # The stack's own keys: a user's AWS keys never become the local server's.
            env[S3_KEY] = secret["s3_access_key"]
            env[S3_SECRET] = secret["s3_secret_key"]
        else:
            env[S3_ENDPOINT] = external[S3_ENDPOINT]
        # MLflow's S3 client has its own endpoint variable.
        env["MLFLOW_S3_ENDPOINT_URL"] = env[S3_ENDPOINT]
        return env

    # -- up ---------------------------------------------------------------------------------

    def up(self, progress: Progress | None = None) -> StackState:
        say = progress or (lambda message: None)
        previous = self.load_state()
        if previous is not None:
            alive = [record for record in previous.processes if is_running(record)]
            if alive:
                names = ", ".join(f"{r.name} (pid {r.pid})" for r in alive)
                raise StackAlreadyUp(f"the stack is already up: {names}; `comix stack down` first")
        config = self.config
        no_mlflow_database = (
            not config.starts_postgres and MLFLOW_BACKEND_URI not in config.external
        )
        if config.starts_mlflow and no_mlflow_database:
            raise RuntimeError(
                f"{DAGSTER_PG_URL} names a PostgreSQL that the stack does not start: set "
                f"{MLFLOW_BACKEND_URI} for the MLflow server too (or {MLFLOW_TRACKING_URI} "
                "for an MLflow server you run)"
            )
        state = StackState(ports=self._resolve_ports(), started_at=time.time())
        self.save_state(state)
        env = {**os.environ, **self.environment(state)}
        # dagster-celery starts `celery` from PATH: this environment's, not another one.
        env["PATH"] = os.pathsep.join(
            [str(Path(servers.executable("celery")).parent), env.get("PATH", "")]
        )
        secret = load_secrets(config.directory)
        logs = config.log_dir
        try:
            # The stores first, one by one (each takes seconds and the rest need them)...
            if config.starts_postgres:
                self._start(
                    state,
                    say,
                    lambda: servers.start_postgres(
                        config.directory / "postgres",
                        state.ports["postgres"],
                        secret["postgres_password"],
                        config.postgres_max_connections,
                        logs / "postgres.log",
                        env,
                    ),
                )
            if config.starts_redis:
                self._start(
                    state,
                    say,
                    lambda: servers.start_redis(
                        config.directory / "redis", state.ports["redis"], logs / "redis.log", env
                    ),
                )
            if config.starts_s3:
                self._start(
                    state,
                    say,
                    lambda: servers.start_seaweedfs(
                        config.directory / "seaweedfs",
                        state.ports,
                        config.buckets,
                        env[S3_KEY],
                        env[S3_SECRET],
                        logs / "seaweedfs.log",
                        env,
                    ),
                )
            # ...then the Python servers, which spend their start importing: started
            # together, they overlap (MLflow's migrations, the code location's first load).
            starting: list[servers.Launched] = []
            if config.starts_mlflow:
                mlflow_env = {
                    **env,
                    "MLFLOW_BACKEND_STORE_URI": config.external.get(MLFLOW_BACKEND_URI)
                    or servers.postgres_url(
                        state.ports["postgres"], secret["postgres_password"], "mlflow"
                    ),
                }
                starting.append(
                    self._launch(
                        state,
                        say,
                        lambda: servers.start_mlflow(
                            state.ports["mlflow"],
                            config.mlflow_artifacts,
                            logs / "mlflow.log",
                            mlflow_env,
                        ),
                    )
                )
            self._write_configs(env, say)
            starting.append(
                self._launch(
                    state,
                    say,
                    lambda: servers.start_dagster_webserver(
                        state.ports["dagster"], logs / "dagster-webserver.log", env
                    ),
                )
            )
            starting.append(
                self._launch(
                    state,
                    say,
                    lambda: servers.start_dagster_daemon(logs / "dagster-daemon.log", env),
                )
            )
            workers = [(f"cpu-{i + 1}", CPU_QUEUE) for i in range(config.cpu_workers)]
            workers += [(f"gpu-{i + 1}", GPU_QUEUE) for i in range(config.gpu_workers)]
            for name, queue in workers:
                starting.append(
                    self._launch(
                        state,
                        say,
                        lambda n=name, q=queue: servers.start_celery_worker(
                            n, q, self.celery_yaml, logs / f"worker-{n}.log", env
                        ),
                    )
                )
            for launched in starting:
                self._ready(state, say, launched)
            # Last: it restarts workers that die, so it must see them all recorded.
            self._start(
                state,
                say,
                lambda: servers.start_supervisor(config.home, logs / "supervisor.log", env),
            )
        except BaseException:
            say("start failed: stopping what was started")
            self.down()
            raise
        return state

    def _start(
        self, state: StackState, say: Progress, start: Callable[[], servers.Launched]
    ) -> None:
        self._ready(state, say, self._launch(state, say, start))

    def _launch(
        self, state: StackState, say: Progress, start: Callable[[], servers.Launched]
    ) -> servers.Launched:
        launched = start()
        state.processes.append(launched.record)
        self.save_state(state)  # before waiting: a server that never gets ready is still stopped
        say(f"started {launched.record.name} (pid {launched.record.pid})")
        return launched

    def _ready(self, state: StackState, say: Progress, launched: servers.Launched) -> None:
        launched.ready()
        record = launched.record
        seconds = time.time() - record.launched_at
        state.seconds_to_start[record.name] = round(seconds, 1)
        self.save_state(state)
        say(f"{record.name} ready {seconds:.1f} s after its start")

    def _resolve_ports(self) -> dict[str, int]:
        """Free ports for those set to 0; a fixed port already in use stops ``up`` before it
        starts anything (a server would otherwise fail later, behind its own log)."""
        config = self.config
        starts = {
            "postgres": config.starts_postgres,
            "redis": config.starts_redis,
            "mlflow": config.starts_mlflow,
            "dagster": True,
        }
        busy = [
            f"{port} ({name}: COMIX_STACK_{name.upper()}_PORT)"
            for name, port in config.ports.items()
            if port and starts.get(name, config.starts_s3) and port_is_open(HOST, port)
        ]
        if busy:
            raise RuntimeError(
                "ports already in use: " + ", ".join(busy) + "; set those variables to other "
                "ports, or start with --free-ports"
            )
        taken: set[int] = set()
        return {name: port or free_port(HOST, taken) for name, port in config.ports.items()}

    @property
    def celery_yaml(self) -> Path:
        return self.config.directory / "celery.yaml"

    def _write_configs(self, env: Mapping[str, str], say: Progress) -> None:
        """The instance and the workers' Celery settings, then the pools (through Dagster's
        CLI; its first connection also creates the instance's tables, once, before the
        webserver, the daemon and the workers would race to)."""
        config = self.config
        write_instance(
            config.dagster_home,
            stack_instance_config(config.max_concurrent_runs, config.run_start_timeout_s),
        )
        self.celery_yaml.write_text(
            yaml.safe_dump(
                {"execution": {"config": celery_config(lease_s=config.step_lease_s)}},
                sort_keys=False,
            )
        )
        pools = {OCR_POOL: config.ocr_pool, VLM_POOL: config.vlm_pool, GPU_POOL: config.gpu_pool}
        began = time.perf_counter()
        [first, *rest] = pools.items()
        # The first alone (it creates the tables), then the others at once.
        create_pools([first], env)
        create_pools(rest, env)
        say(
            "pools "
            + ", ".join(f"{pool} {limit}" for pool, limit in pools.items())
            + f" ({time.perf_counter() - began:.1f} s)"
        )

    # -- status and down --------------------------------------------------------------------

    def status(self) -> list[ServiceStatus]:
        state = self.load_state()
        rows: list[ServiceStatus] = []
        if state is not None:
            for record in state.processes:
                where = ", ".join(f"{k} {v}" for k, v in record.endpoints.items())
                rows.append(
                    ServiceStatus(
                        record.name,
                        "running" if is_running(record) else "stopped",
                        record.pid,
                        where,
                    )
                )
        for variable, value in sorted(self.config.external.items()):
            rows.append(ServiceStatus(variable, "external", None, redact_url(value)))
        return rows

    def down(self) -> list[tuple[str, str]]:
        """Stop every recorded process; returns (name, outcome) in stopping order.

        The clients of the stores (workers, daemon, webserver, MLflow) stop first, together,
        so that a worker's warm shutdown (it finishes or returns its step) overlaps the
        others'; then the stores, which they were still writing to.
        """
        state = self.load_state()
        if state is None:
            return []
        # The supervisor first, so that no worker is started again while the stack stops;
        # then the state it left (a restarted worker has a new pid).
        supervisors = [record for record in state.processes if record.name == SUPERVISOR]
        outcomes = self._stop_together(supervisors)
        state = self.load_state() or state
        stores = {"postgres", "redis", "seaweedfs"}
        recorded = [r for r in reversed(state.processes) if r.name != SUPERVISOR]
        clients = [record for record in recorded if record.name not in stores]
        outcomes += self._stop_together(clients)
        outcomes += self._stop_together([r for r in recorded if r.name in stores])
        self.config.state_file.unlink(missing_ok=True)
        return outcomes

    @staticmethod
    def _stop_together(records: list[ProcessRecord]) -> list[tuple[str, str]]:
        def timed(record: ProcessRecord) -> tuple[str, str]:
            began = time.perf_counter()
            outcome = stop(record)
            return record.name, f"{outcome} in {time.perf_counter() - began:.1f} s"

        if not records:
            return []
        with ThreadPoolExecutor(max_workers=len(records)) as pool:
            return list(pool.map(timed, records))


def create_pools(pools: list[tuple[str, int]], env: Mapping[str, str]) -> None:
    """Set Dagster pools' limits through its CLI, all at once (``dagster instance concurrency
    set``); raises with the CLI's output when one fails."""
    dagster = servers.executable("dagster")
    running = [
        (
            pool,
            subprocess.Popen(
                [dagster, "instance", "concurrency", "set", pool, str(limit)],
                env=dict(env),
                stdout=subprocess.PIPE,
                stderr=subprocess.STDOUT,
            ),
        )
        for pool, limit in pools
    ]
    for pool, process in running:
        output, _ = process.communicate(timeout=180)
        if process.returncode != 0:
            tail = output.decode(errors="replace")[-2000:]
            raise RuntimeError(f"could not create pool {pool}:\n{tail}")
