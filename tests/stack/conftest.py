"""Real servers for the scale-out tests, each started once per test session on free ports and
stopped by pid: SeaweedFS (``weed mini``, S3) for the lake and MLflow tests, PostgreSQL for the
shared caches."""

from __future__ import annotations

import os
import secrets
import shutil
import tempfile
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import pytest

from comix_resources.benchmarks.fake_vlm import FakeVlmEndpoint
from comix_resources.stack import servers
from comix_resources.stack.config import DEFAULT_PORTS, HOST, PG_USER
from comix_resources.stack.processes import free_port, stop

BUCKET = "comix"


@dataclass(frozen=True)
class S3Server:
    endpoint: str
    key: str
    secret: str

    def environment(self) -> dict[str, str]:
        return {
            "AWS_ENDPOINT_URL": self.endpoint,
            "MLFLOW_S3_ENDPOINT_URL": self.endpoint,
            "AWS_ACCESS_KEY_ID": self.key,
            "AWS_SECRET_ACCESS_KEY": self.secret,
        }


@pytest.fixture(scope="session")
def seaweedfs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[S3Server]:
    folder = tmp_path_factory.mktemp("seaweedfs")
    taken: set[int] = set()
    ports = {name: free_port(taken=taken) for name in DEFAULT_PORTS}
    key, secret = f"test{secrets.token_hex(4)}", secrets.token_urlsafe(16)
    launched = servers.start_seaweedfs(
        folder / "data", ports, [BUCKET], key, secret, folder / "weed.log", dict(os.environ)
    )
    try:
        launched.ready()
        yield S3Server(f"http://127.0.0.1:{ports['s3']}", key, secret)
    finally:
        stop(launched.record)


@pytest.fixture
def s3(seaweedfs: S3Server, monkeypatch: pytest.MonkeyPatch) -> S3Server:
    """The server's endpoint and keys in boto's and MLflow's variables, as the stack sets them."""
    for name, value in seaweedfs.environment().items():
        monkeypatch.setenv(name, value)
    return seaweedfs


@pytest.fixture
def s3_prefix(s3: S3Server) -> str:
    """A fresh ``s3://`` folder of the test bucket."""
    return f"s3://{BUCKET}/{uuid.uuid4().hex[:12]}"


def local_folder(tmp_path: Path, name: str) -> Path:
    folder = tmp_path / name
    folder.mkdir(parents=True, exist_ok=True)
    return folder


@dataclass(frozen=True)
class PostgresServer:
    port: int
    password: str

    def url(self, database: str) -> str:
        return servers.postgres_url(self.port, self.password, database)

    def new_database(self) -> str:
        """A fresh, empty database; its URL."""
        import psycopg2

        name = f"test_{uuid.uuid4().hex[:10]}"
        connection = psycopg2.connect(
            host=HOST, port=self.port, user=PG_USER, password=self.password, dbname="postgres"
        )
        connection.autocommit = True
        with connection.cursor() as cursor:
            cursor.execute(f'CREATE DATABASE "{name}"')
        connection.close()
        return self.url(name)


@pytest.fixture(scope="session")
def postgres() -> Iterator[PostgresServer]:
    # Under root, PostgreSQL runs as `postgres`, who cannot enter pytest's 0700 folders.
    folder = Path(tempfile.mkdtemp(prefix="comix-pg-"))
    folder.chmod(0o755)
    port, password = free_port(), secrets.token_urlsafe(12)
    launched = servers.start_postgres(
        folder / "data", port, password, 100, folder / "postgres.log", dict(os.environ)
    )
    try:
        launched.ready()
        yield PostgresServer(port, password)
    finally:
        stop(launched.record)
        shutil.rmtree(folder, ignore_errors=True)


@pytest.fixture
def fake_vlm() -> Iterator[FakeVlmEndpoint]:
    """A local OpenAI-compatible endpoint that counts the answers it delivers per page."""
    with FakeVlmEndpoint() as endpoint:
        yield endpoint


@pytest.fixture(scope="session")
def redis_url(tmp_path_factory: pytest.TempPathFactory) -> Iterator[str]:
    """A Redis server of the test session (the Celery broker of the stack)."""
    folder = tmp_path_factory.mktemp("redis")
    port = free_port()
    launched = servers.start_redis(folder / "data", port, folder / "redis.log", dict(os.environ))
    try:
        launched.ready()
        yield f"redis://{HOST}:{port}"
    finally:
        stop(launched.record)
