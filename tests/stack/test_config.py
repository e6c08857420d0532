"""The stack's settings, the instance it writes and the executor the code location picks."""

from __future__ import annotations

import stat
from pathlib import Path

import dagster as dg
import pytest
import yaml

from comix_assets.definitions import build_definitions
from comix_assets.jobs import build_executor
from comix_resources.instance import stack_instance_config, write_instance
from comix_resources.settings import ComixSettings
from comix_resources.stack.config import (
    DATABASES,
    DEFAULT_PORTS,
    StackConfig,
    load_secrets,
    redact_url,
)
from comix_resources.stack.placement import (
    GPU_POOL,
    GPU_QUEUE,
    OCR_POOL,
    QUEUE_TAG,
    VLM_POOL,
    celery_config,
    text_pool,
)


def test_defaults_start_every_server_on_the_usual_ports(tmp_path: Path) -> None:
    config = StackConfig.from_env(tmp_path, {})
    assert config.ports == DEFAULT_PORTS
    assert config.starts_postgres and config.starts_redis and config.starts_s3
    assert config.starts_mlflow
    assert (config.cpu_workers, config.gpu_workers, config.worker_slots) == (2, 1, 3)
    assert config.max_concurrent_runs == 3
    assert config.buckets == ["comix"]
    assert config.dagster_home == tmp_path / "stack" / "dagster"


def test_servers_a_team_runs_replace_the_stacks_own(tmp_path: Path) -> None:
    config = StackConfig.from_env(
        tmp_path,
        {
            "COMIX_DAGSTER_PG_URL": "postgresql+psycopg2://dagster:pw@db:5432/dagster",
            "COMIX_CELERY_BROKER_URL": "redis://broker:6379/0",
            "AWS_ENDPOINT_URL": "https://s3.example.org",
            "COMIX_MLFLOW_TRACKING_URI": "https://mlflow.example.org",
            "COMIX_LAKE_URL": "s3://corpus/lake",
            "COMIX_STACK_CPU_WORKERS": "8",
            "COMIX_STACK_GPU_WORKERS": "2",
        },
    )
    assert not (config.starts_postgres or config.starts_redis or config.starts_s3)
    assert not config.starts_mlflow
    assert config.worker_slots == 10 and config.ocr_pool == 8 and config.gpu_pool == 2
    assert config.buckets == ["comix", "corpus"]  # the MLflow artifacts keep their default


def test_free_ports_and_bad_counts(tmp_path: Path) -> None:
    assert set(StackConfig.from_env(tmp_path, {}, free_ports=True).ports.values()) == {0}
    with pytest.raises(ValueError, match="COMIX_STACK_CPU_WORKERS"):
        StackConfig.from_env(tmp_path, {"COMIX_STACK_CPU_WORKERS": "many"})


def test_connection_limit_grows_with_runs_and_workers(tmp_path: Path) -> None:
    small = StackConfig.from_env(tmp_path, {})
    large = StackConfig.from_env(tmp_path, {"COMIX_STACK_CPU_WORKERS": "40"})
    from comix_resources.cache_store import POOL_OVERFLOW, POOL_SIZE

    assert small.postgres_max_connections >= 100  # PostgreSQL's own default as the floor
    # Dagster's few connections per process, plus each process's pool of the shared caches.
    per_process = 6 + POOL_SIZE + POOL_OVERFLOW
    assert large.postgres_max_connections > per_process * (
        large.worker_slots + large.max_concurrent_runs
    )


def test_secrets_are_made_once_and_readable_by_the_owner_only(tmp_path: Path) -> None:
    first = load_secrets(tmp_path / "stack")
    assert load_secrets(tmp_path / "stack") == first
    mode = stat.S_IMODE((tmp_path / "stack" / "secrets.json").stat().st_mode)
    assert mode == 0o600
    assert len(first["postgres_password"]) >= 20


def test_redacted_urls_keep_user_and_host_only() -> None:
    assert redact_url("postgresql+psycopg2://comix:s3cret@127.0.0.1:5432/dagster") == (
        "postgresql+psycopg2://comix:***@127.0.0.1:5432/dagster"
    )
    assert redact_url("redis://127.0.0.1:6379/0") == "redis://127.0.0.1:6379/0"


def test_the_stack_instance_is_valid_dagster_config_without_secrets(tmp_path: Path) -> None:
    from dagster._core.instance.config import dagster_instance_config

    write_instance(tmp_path, stack_instance_config(max_concurrent_runs=5, run_start_timeout_s=90))
    text = (tmp_path / "dagster.yaml").read_text()
    assert "password" not in text and "env: COMIX_DAGSTER_PG_URL" in text
    config, _ = dagster_instance_config(str(tmp_path))
    assert config["concurrency"]["runs"]["max_concurrent_runs"] == 5
    assert config["run_monitoring"] == {
        "enabled": True,
        "start_timeout_seconds": 90,
        "cancel_timeout_seconds": 180,
        "poll_interval_seconds": 30,
        "max_resume_run_attempts": 0,
    }
    assert "run_launcher" not in config  # the default launcher: CeleryRunLauncher + executor fails


def test_celery_config_is_what_the_executor_and_the_workers_accept(tmp_path: Path) -> None:
    from dagster._config import validate_config
    from dagster_celery.executor import celery_executor

    block = celery_config()
    assert validate_config(celery_executor.config_schema.config_type, block).success
    # The workers read the same block from the file `comix stack up` writes (`-y`).
    from dagster_celery.cli import get_config_value_from_yaml

    path = tmp_path / "celery.yaml"
    path.write_text(yaml.safe_dump({"execution": {"config": block}}))
    assert get_config_value_from_yaml(str(path)) == block
    assert block["config_source"]["task_default_queue"] == "cpu"


def test_a_step_is_leased_for_as_long_as_the_stack_says(tmp_path: Path) -> None:
    options = celery_config(lease_s=20)["config_source"]
    assert options["task_acks_late"] and options["worker_prefetch_multiplier"] == 1
    transport = options["broker_transport_options"]
    assert transport["visibility_timeout"] == 20
    # Swept often enough that a dead worker's step is back within a lease and a bit.
    assert transport["unacked_restore_interval"] == 5 and transport["unacked_restore_throttle"] == 1
    assert StackConfig.from_env(tmp_path, {}).step_lease_s == 120
    config = StackConfig.from_env(tmp_path, {"COMIX_STACK_STEP_LEASE_S": "30"})
    assert config.step_lease_s == 30


def test_page_text_pool_follows_the_first_engine() -> None:
    assert text_pool(["ocr"]) == OCR_POOL
    assert text_pool(["openai", "ocr"]) == VLM_POOL
    assert text_pool(["transformers", "ocr"]) == GPU_POOL
    assert text_pool([]) == OCR_POOL


def test_executor_choice(comix_env: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    assert build_executor("multiprocess") is dg.multiprocess_executor
    with pytest.raises(ValueError, match="COMIX_EXECUTOR"):
        build_executor("threads")
    monkeypatch.setenv("COMIX_EXECUTOR", "celery")
    monkeypatch.setenv("COMIX_TEXT_ENGINES", "openai,ocr")
    defs = build_definitions(ComixSettings.from_env())
    job = defs.resolve_job_def("amazon_collection_job")
    assert job.executor_def.name == "comix_celery"
    steps = {node.name: node.definition for node in job.graph.node_dict.values()}
    assert steps["amazon__page_text"].pool == VLM_POOL
    assert QUEUE_TAG not in steps["amazon__pages"].tags  # the default queue: cpu
    for job_name, step in (
        ("closure_lite_job", "closure_lite"),
        ("amazon_embeddings_job", "amazon__embeddings"),
    ):
        op = defs.resolve_job_def(job_name).graph.node_dict[step].definition
        assert op.tags[QUEUE_TAG] == GPU_QUEUE and op.pool == GPU_POOL


def test_a_busy_port_stops_up_before_anything_starts(tmp_path: Path) -> None:
    import dataclasses
    import socket

    from comix_resources.stack import Stack

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        config = StackConfig.from_env(tmp_path, {}, free_ports=True)
        config = dataclasses.replace(config, ports={**config.ports, "redis": port})
        with pytest.raises(RuntimeError, match=f"{port} \\(redis: COMIX_STACK_REDIS_PORT\\)"):
            Stack(config).up()
    assert not config.state_file.exists() and not config.log_dir.exists()


def test_a_team_postgresql_without_an_mlflow_database_is_refused_up_front(tmp_path: Path) -> None:
    from comix_resources.stack import Stack

    config = StackConfig.from_env(
        tmp_path, {"COMIX_DAGSTER_PG_URL": "postgresql+psycopg2://u:p@db:5432/dagster"}
    )
    with pytest.raises(RuntimeError, match="COMIX_MLFLOW_BACKEND_STORE_URI"):
        Stack(config).up()
    assert not config.state_file.exists()


def test_every_stack_process_gets_the_shared_cache_database(tmp_path: Path) -> None:
    from comix_resources.stack import Stack
    from comix_resources.stack.stack import StackState

    own = Stack(StackConfig.from_env(tmp_path / "own", {}))
    env = own.environment(StackState(ports=dict(DEFAULT_PORTS)))
    assert env["COMIX_CACHE_URL"].startswith("postgresql+psycopg2://comix:")
    assert env["COMIX_CACHE_URL"].endswith("@127.0.0.1:5432/cache")
    assert "cache" in DATABASES  # created with the others when PostgreSQL starts

    team_pg = "postgresql+psycopg2://u:p@db:5432/dagster"
    team = Stack(StackConfig.from_env(tmp_path / "team", {"COMIX_DAGSTER_PG_URL": team_pg}))
    assert team.environment(StackState(ports=dict(DEFAULT_PORTS)))["COMIX_CACHE_URL"] == team_pg
    chosen = "postgresql+psycopg2://u:p@cachedb:5432/comix_cache"
    told = Stack(
        StackConfig.from_env(
            tmp_path / "told", {"COMIX_DAGSTER_PG_URL": team_pg, "COMIX_CACHE_URL": chosen}
        )
    )
    assert told.environment(StackState(ports=dict(DEFAULT_PORTS)))["COMIX_CACHE_URL"] == chosen


def test_the_cache_url_reaches_resources_only_as_an_env_var(
    comix_env: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from comix_assets.definitions import build_resources

    url = "postgresql+psycopg2://comix:s3cret@127.0.0.1:5432/cache"
    monkeypatch.setenv("COMIX_CACHE_URL", url)
    resources = build_resources(ComixSettings.from_env())
    for name in ("text", "model", "page_stream_model", "sources"):
        value = resources[name].cache_url
        assert isinstance(value, dg.EnvVar) and value == "COMIX_CACHE_URL", name
    assert "s3cret" not in repr(resources)
    monkeypatch.delenv("COMIX_CACHE_URL")
    assert build_resources(ComixSettings.from_env())["text"].cache_url == ""
