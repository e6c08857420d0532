"""`comix stack` end to end: every server up on free ports, a collection discovered by the
sensor and materialized through Celery workers into the S3 lake with the instance on
PostgreSQL, MLflow artifacts in the bucket, then `down` stops exactly what `up` started."""

from __future__ import annotations

import shutil
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from comix_resources.stack import Stack, StackAlreadyUp, StackConfig
from comix_resources.stack.config import DEFAULT_PORTS
from comix_resources.stack.processes import is_running

pytestmark = pytest.mark.slow

# What the collection job the sensor launches writes (page types come later, from the corpus
# model: their own job).
TABLES = ["books", "dataspec", "page_quality", "page_text", "pages", "panels"]
# Variables that would point the stack at servers a team runs, or at another instance.
OUTSIDE = [
    "DAGSTER_HOME",
    "COMIX_DAGSTER_PG_URL",
    "COMIX_MLFLOW_BACKEND_STORE_URI",
    "COMIX_MLFLOW_TRACKING_URI",
    "COMIX_CELERY_BROKER_URL",
    "COMIX_CELERY_BACKEND_URL",
    "AWS_ENDPOINT_URL",
    "AWS_ACCESS_KEY_ID",
    "AWS_SECRET_ACCESS_KEY",
    "COMIX_LAKE_URL",
    "COMIX_DARKHORSE_ROOT",
    "COMIX_CALIBRE_LIBRARY",
    "COMIX_TEXT_ENGINES",
    *(f"COMIX_STACK_{name.upper()}_PORT" for name in DEFAULT_PORTS),
]


@pytest.fixture
def reachable_folder() -> Iterator[Path]:
    """Under root, PostgreSQL runs as `postgres`, who cannot enter pytest's 0700 folders."""
    folder = Path(tempfile.mkdtemp(prefix="comix-stack-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _wait_for_run(instance, job: str, partition: str, timeout_s: float):
    import dagster as dg

    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        runs = instance.get_runs(dg.RunsFilter(job_name=job, tags={"dagster/partition": partition}))
        done = [run for run in runs if run.is_finished]
        if done:
            return done[0]
        time.sleep(3)
    raise AssertionError(f"no finished {job} run for {partition} after {timeout_s:.0f} s")


def test_stack_runs_a_collection_on_celery_over_s3_and_stops_only_itself(
    reachable_folder: Path, shared_fixtures: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg
    import s3fs

    from comix_resources.tracking import Tracker

    collection = reachable_folder / "library" / "amazon" / "captain"
    collection.mkdir(parents=True)
    shutil.copy(shared_fixtures / "comicbox" / "Captain Science #001.cbz", collection)
    for name in OUTSIDE:
        monkeypatch.delenv(name, raising=False)
    home = reachable_folder / "home"
    monkeypatch.setenv("COMIX_HOME", str(home))
    monkeypatch.setenv("COMIX_AMAZON_ROOT", str(collection.parent))
    monkeypatch.setenv("COMIX_STACK_CPU_WORKERS", "1")
    monkeypatch.setenv("COMIX_STACK_GPU_WORKERS", "1")
    bystander = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(900)"])
    stack = Stack(StackConfig.from_env(home, free_ports=True))
    began = time.perf_counter()
    state = stack.up(progress=print)
    up_seconds = time.perf_counter() - began
    try:
        statuses = {row.name: row.state for row in stack.status()}
        assert statuses == dict.fromkeys(
            [
                "postgres",
                "redis",
                "seaweedfs",
                "mlflow",
                "dagster-webserver",
                "dagster-daemon",
                "cpu-1",
                "gpu-1",
                "supervisor",
            ],
            "running",
        )
        with pytest.raises(StackAlreadyUp):
            stack.up()
        environment = stack.environment(state)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        assert environment["COMIX_DAGSTER_PG_URL"].startswith("postgresql+psycopg2://comix:")

        with dg.DagsterInstance.get() as instance:
            assert type(instance.run_storage).__name__ == "PostgresRunStorage"
            for pool, limit in (("ocr", 1), ("vlm", 4), ("gpu", 1)):
                assert instance.event_log_storage.get_concurrency_info(pool).slot_count == limit
            # Nobody launches it: the discovery sensor sees the collection on the daemon.
            run = _wait_for_run(instance, "amazon_collection_job", "captain", timeout_s=900)
            assert run.status == dg.DagsterRunStatus.SUCCESS, run.status
            steps = {
                record.step_key
                for record in instance.all_logs(run.run_id)
                if record.dagster_event and record.dagster_event.event_type_value == "STEP_SUCCESS"
            }
        # Every asset, and each check as a step of its own.
        assert {f"amazon__{table}" for table in TABLES} <= steps
        assert "amazon__books_books_readable" in steps
        worker_log = (stack.config.log_dir / "worker-cpu-1.log").read_text()
        assert 'Started execution of step "amazon__pages"' in worker_log

        # Its own keys and endpoint, not a cached client of another S3 server of this session.
        bucket = s3fs.S3FileSystem(
            endpoint_url=environment["AWS_ENDPOINT_URL"],
            key=environment["AWS_ACCESS_KEY_ID"],
            secret=environment["AWS_SECRET_ACCESS_KEY"],
            skip_instance_cache=True,
        )
        lake = "comix/lake/amazon/captain"
        assert sorted(p.rsplit("/", 1)[-1] for p in bucket.ls(lake) if p.endswith(".parquet")) == [
            f"{table}.parquet" for table in TABLES
        ]
        assert len(bucket.glob(f"{lake}/pages/*/*.jpg")) == 5
        assert not (home / "lake").exists(), "the lake went to the local disk"

        # MLflow on PostgreSQL, its artifacts proxied to the bucket by the server.
        tracker = Tracker(environment["COMIX_MLFLOW_TRACKING_URI"], None, "stack-smoke")
        with tracker.start_run("artifacts") as run_id:
            tracker.log_folder(lambda folder: (folder / "note.txt").write_text("hi"), "notes")
        stored = bucket.find("comix/mlartifacts")
        assert any(path.endswith(f"{run_id}/artifacts/notes/note.txt") for path in stored)
    finally:
        began = time.perf_counter()
        outcomes = stack.down()
        down_seconds = time.perf_counter() - began
        print(f"stack up {up_seconds:.0f} s ({state.seconds_to_start}); down {down_seconds:.1f} s")
        print(outcomes)
    try:
        assert [name for name, _ in outcomes][-3:] == ["seaweedfs", "redis", "postgres"]
        assert not any(is_running(record) for record in state.processes)
        assert bystander.poll() is None, "down stopped a process that up did not start"
        assert stack.status() == [] and stack.down() == []
    finally:
        bystander.kill()
        bystander.wait()
