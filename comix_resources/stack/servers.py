"""How each server of the stack is started and when it counts as ready.

Each ``start_*`` launches one server (``processes.launch``) and returns it with ``ready``, which
waits until it answers the way its clients will use it (a SQL login, a Redis PING, an S3 bucket
listing, an HTTP health check, a worker consuming its queue) and raises with the end of its
log if it exits or never answers. The two are apart so that the caller records the pid before
it waits: a server that never gets ready is still stopped.
"""

from __future__ import annotations

import glob
import os
import pwd
import shutil
import signal
import sys
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path

from comix_resources.stack.config import DATABASES, HOST, PG_USER, SUPERVISOR
from comix_resources.stack.processes import ProcessRecord, launch, run_as, wait_until

POSTGRES_USER_WHEN_ROOT = "postgres"  # Debian's `postgresql` package creates it


@dataclass(frozen=True)
class Launched:
    record: ProcessRecord
    ready: Callable[[], None]


def executable(name: str) -> str:
    """A console script of this environment (beside the running Python)."""
    return str(Path(sys.executable).parent / name)


def postgres_binary(name: str) -> str:
    """``initdb``/``postgres`` from PATH or Debian's versioned folder (not on PATH there)."""
    found = shutil.which(name)
    if found:
        return found
    candidates = sorted(
        glob.glob(f"/usr/lib/postgresql/*/bin/{name}"),
        key=lambda path: int(Path(path).parts[-3]) if Path(path).parts[-3].isdigit() else 0,
    )
    if not candidates:
        raise RuntimeError(
            f"PostgreSQL's {name} is not installed: `apt-get install postgresql` (or set "
            "COMIX_DAGSTER_PG_URL to a server you already run)"
        )
    return candidates[-1]


def _server_user() -> str | None:
    """Who runs PostgreSQL: ourselves, or the ``postgres`` account when we are root."""
    if os.geteuid() != 0:
        return None
    try:
        pwd.getpwnam(POSTGRES_USER_WHEN_ROOT)
    except KeyError as error:
        raise RuntimeError(
            "PostgreSQL refuses to run as root and there is no 'postgres' account to run it "
            "as: install Debian's postgresql package, or run `comix stack up` as another user"
        ) from error
    return POSTGRES_USER_WHEN_ROOT


def _give_to(path: Path, user: str | None) -> None:
    if user is not None:
        entry = pwd.getpwnam(user)
        os.chown(path, entry.pw_uid, entry.pw_gid)


def start_postgres(
    data_dir: Path, port: int, password: str, max_connections: int, log: Path, env: Mapping
) -> Launched:
    """PostgreSQL on ``data_dir`` (initialised on first use), with the stack's databases."""
    user = _server_user()
    if not (data_dir / "PG_VERSION").exists():
        _initdb(data_dir, password, user, log, env)
    record = launch(
        "postgres",
        [
            postgres_binary("postgres"),
            "-D",
            str(data_dir),
            "-p",
            str(port),
            "-c",
            f"listen_addresses={HOST}",
            # TCP only: no socket file to place where the server's account may write.
            "-c",
            "unix_socket_directories=",
            "-c",
            f"max_connections={max_connections}",
        ],
        log,
        env,
        user=user,
        stop_signal=int(signal.SIGINT),  # "fast" shutdown; SIGTERM waits for every client
        endpoints={"sql": f"{HOST}:{port}"},
    )
    return _ready_when(record, lambda: _create_databases(port, password), 60, "SQL login")


def _initdb(data_dir: Path, password: str, user: str | None, log: Path, env: Mapping) -> None:
    import subprocess

    data_dir.mkdir(parents=True, exist_ok=True)
    data_dir.chmod(0o700)
    _give_to(data_dir, user)
    password_file = data_dir.parent / ".initdb-password"
    descriptor = os.open(password_file, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w") as handle:
        handle.write(password + "\n")
    _give_to(password_file, user)
    log.parent.mkdir(parents=True, exist_ok=True)
    try:
        with log.open("ab") as output:
            done = subprocess.run(
                [
                    postgres_binary("initdb"),
                    "-D",
                    str(data_dir),
                    "-U",
                    PG_USER,
                    f"--pwfile={password_file}",
                    "--auth=scram-sha-256",
                    "--encoding=UTF8",
                    "--no-locale",
                ],
                stdout=output,
                stderr=subprocess.STDOUT,
                env=dict(env),
                preexec_fn=run_as(user),
                check=False,
            )
    finally:
        password_file.unlink(missing_ok=True)
    if done.returncode != 0:
        tail = "\n".join(log.read_text(errors="replace").splitlines()[-8:])
        hint = (
            f" (it runs as '{user}', who must be able to reach {data_dir}: choose a "
            "COMIX_HOME outside folders only root may enter)"
            if user
            else ""
        )
        raise RuntimeError(f"initdb failed for {data_dir}{hint}:\n{tail}")


def _create_databases(port: int, password: str) -> bool:
    import psycopg2

    connection = psycopg2.connect(
        host=HOST, port=port, user=PG_USER, password=password, dbname="postgres", connect_timeout=3
    )
    try:
        connection.autocommit = True
        with connection.cursor() as cursor:
            for name in DATABASES:
                cursor.execute("SELECT 1 FROM pg_database WHERE datname = %s", (name,))
                if cursor.fetchone() is None:
                    cursor.execute(f'CREATE DATABASE "{name}"')
    finally:
        connection.close()
    return True


def postgres_url(port: int, password: str, database: str) -> str:
    # psycopg2 named: the locked SQLAlchemy sends a bare postgresql:// to psycopg 3.
    return f"postgresql+psycopg2://{PG_USER}:{password}@{HOST}:{port}/{database}"


def start_redis(data_dir: Path, port: int, log: Path, env: Mapping) -> Launched:
    """Redis, the Celery broker; the append-only file keeps queued steps over a restart."""
    binary = shutil.which("redis-server")
    if binary is None:
        raise RuntimeError(
            "redis-server is not installed: `apt-get install redis-server` (or set "
            "COMIX_CELERY_BROKER_URL to a broker you already run)"
        )
    data_dir.mkdir(parents=True, exist_ok=True)
    record = launch(
        "redis",
        [
            binary,
            "--bind",
            HOST,
            "--port",
            str(port),
            "--dir",
            str(data_dir),
            "--appendonly",
            "yes",
            "--save",
            "",
            "--protected-mode",
            "yes",
        ],
        log,
        env,
        endpoints={"broker": f"redis://{HOST}:{port}/0"},
    )

    def pong() -> bool:
        import redis

        return bool(redis.Redis(host=HOST, port=port, socket_timeout=2).ping())

    return _ready_when(record, pong, 30, "PING")


def start_seaweedfs(
    data_dir: Path,
    ports: Mapping[str, int],
    buckets: list[str],
    access_key: str,
    secret_key: str,
    log: Path,
    env: Mapping,
) -> Launched:
    """SeaweedFS in one process (``weed mini``): a real S3 server, with the stack's buckets."""
    data_dir.mkdir(parents=True, exist_ok=True)
    s3 = ports["s3"]
    options = {
        "dir": str(data_dir),
        "ip": HOST,
        "ip.bind": HOST,
        "master.port": ports["seaweed_master"],
        "volume.port": ports["seaweed_volume"],
        "filer.port": ports["seaweed_filer"],
        "admin.port": ports["seaweed_admin"],
        "s3.port": s3,
        # Its other listeners take the http port + 10000 unless told; name them all, so that
        # a second stack (a test's) on free ports never meets the first.
        "master.port.grpc": ports["seaweed_master"] + 10000,
        "volume.port.grpc": ports["seaweed_volume"] + 10000,
        "filer.port.grpc": ports["seaweed_filer"] + 10000,
        "admin.port.grpc": ports["seaweed_admin"] + 10000,
        "s3.port.grpc": s3 + 10000,
        "s3.port.iceberg": 0,
        "s3.port.lance": 0,
        "webdav": "false",
        "admin.ui": "false",
        "master.telemetry": "false",
        "bucket": ",".join(buckets),
    }
    record = launch(
        "seaweedfs",
        [executable("weed"), "mini", *(f"-{key}={value}" for key, value in options.items())],
        log,
        # weed mini makes its admin identity from these two variables.
        {**env, "AWS_ACCESS_KEY_ID": access_key, "AWS_SECRET_ACCESS_KEY": secret_key},
        endpoints={"s3": f"http://{HOST}:{s3}"},
    )

    def buckets_listed() -> bool:
        import s3fs

        fs = s3fs.S3FileSystem(
            key=access_key,
            secret=secret_key,
            endpoint_url=f"http://{HOST}:{s3}",
            skip_instance_cache=True,
        )
        listed = {entry.rstrip("/") for entry in fs.ls("")}
        return set(buckets) <= listed

    return _ready_when(record, buckets_listed, 90, "S3 buckets")


def start_mlflow(port: int, artifacts_destination: str, log: Path, env: Mapping) -> Launched:
    """The MLflow tracking server: runs and registry in ``MLFLOW_BACKEND_STORE_URI`` (from
    ``env``, so the password is on no command line), artifacts proxied to S3."""
    record = launch(
        "mlflow",
        [
            executable("mlflow"),
            "server",
            "--host",
            HOST,
            "--port",
            str(port),
            "--workers",
            "1",
            "--serve-artifacts",
            "--artifacts-destination",
            artifacts_destination,
        ],
        log,
        {
            **env,
            # A small pool: the server shares PostgreSQL's connection budget.
            "MLFLOW_SQLALCHEMYSTORE_POOL_SIZE": "2",
            "MLFLOW_SQLALCHEMYSTORE_MAX_OVERFLOW": "4",
            # Its job runner (GenAI evaluation jobs, which CoMix does not use) starts seven
            # more processes of about 250 MB each.
            "MLFLOW_SERVER_ENABLE_JOB_EXECUTION": "false",
        },
        endpoints={"ui": f"http://{HOST}:{port}"},
    )
    return _ready_when(record, lambda: _http_ok(f"http://{HOST}:{port}/health"), 180, "/health")


def start_dagster_webserver(port: int, log: Path, env: Mapping) -> Launched:
    record = launch(
        "dagster-webserver",
        [
            executable("dagster-webserver"),
            "-m",
            "comix_assets.definitions",
            "-h",
            HOST,
            "-p",
            str(port),
        ],
        log,
        env,
        endpoints={"ui": f"http://{HOST}:{port}"},
    )
    return _ready_when(
        record, lambda: _http_ok(f"http://{HOST}:{port}/server_info"), 240, "/server_info"
    )


def start_dagster_daemon(log: Path, env: Mapping) -> Launched:
    """The daemon: sensors, the run queue, run monitoring. Ready once its process is up (its
    heartbeats show in the UI's Deployment page)."""
    record = launch(
        "dagster-daemon",
        [executable("dagster-daemon"), "run", "-m", "comix_assets.definitions"],
        log,
        env,
    )
    return Launched(record, lambda: None)


def start_celery_worker(
    name: str, queue: str, celery_yaml: Path, log: Path, env: Mapping
) -> Launched:
    """One Celery worker on ``queue`` running one step at a time in its own main process
    (Celery's ``solo`` pool: a prefork child is daemonic and may not start processes).
    Ready once Celery logs that it consumes from the broker."""
    offset = log.stat().st_size if log.exists() else 0
    record = launch(
        name,
        [
            executable("dagster-celery"),
            "worker",
            "start",
            "-A",
            "dagster_celery.app",
            "-y",
            str(celery_yaml),
            "-q",
            queue,
            "-n",
            name,
            # Renews the lease on the step it runs (see lease.py).
            "-i",
            "comix_resources.stack.lease",
            "--",
            "--pool=solo",
        ],
        log,
        env,
        endpoints={"queue": queue},
    )

    def consuming() -> bool:
        with log.open("rb") as handle:
            handle.seek(offset)
            return b" ready." in handle.read()

    return _ready_when(record, consuming, 120, "worker")


def start_supervisor(home: Path, log: Path, env: Mapping) -> Launched:
    """The process that starts dead workers again (``comix_resources.stack.supervise``)."""
    offset = log.stat().st_size if log.exists() else 0
    record = launch(
        SUPERVISOR,
        [sys.executable, "-m", "comix_resources.stack.supervise", str(home)],
        log,
        env,
    )

    def supervising() -> bool:
        with log.open("rb") as handle:
            handle.seek(offset)
            return b"supervising" in handle.read()

    return _ready_when(record, supervising, 60, "supervision")


def _ready_when(
    record: ProcessRecord, check: Callable[[], bool], timeout_s: float, what: str
) -> Launched:
    return Launched(record, lambda: wait_until(check, record, timeout_s, what))


def _http_ok(url: str) -> bool:
    import urllib.request

    with urllib.request.urlopen(url, timeout=3) as response:
        return response.status == 200
