"""Work spreading over Celery workers: pages per second with 1, 2 and 4 workers when page text
comes from a latency-bound VLM endpoint, and what one run's start costs.

    comix bench scale-out [--workers 1 --workers 2 --workers 4] [--latency 1.0]

It lives with the asset graph, not with the engine benchmarks, because it drives Dagster runs.

What runs is the stack's own machinery: PostgreSQL (the Dagster instance and the shared cache),
Redis and Celery workers started by ``comix_resources.stack.servers`` with the stack's Celery
settings, instance and pools, and the code location on the Celery executor. The lake stays on
local disk: where it lives is not what is measured. A collection of synthetic books (distinct
pages) is split into shards (``COMIX_SHARD_PAGES``); books and pages of every shard are
extracted once; then, for each worker count, a fresh copy of that lake and a fresh cache
database get the page text of every shard, one ``dagster asset materialize`` run per shard and
at most as many runs at once as there are workers (the stack's ``max_concurrent_runs``), from
``FakeVlmEndpoint`` answering each page after ``--latency`` seconds (each page-text step sends
two pages at once, ``PageTextResource.max_concurrency``).

Printed: per worker count, the wall time from the first run's launch to the last run's end,
pages per second, the speed-up over one worker, and the median start-up of a run (its process
launched until its first step starts on a worker: the Python start and code location load of
the run process, then the executor's hand-over through the broker). Waiting for an endpoint
spreads over workers even on this machine's 2 cores; CPU-bound work cannot go faster than 2
cores whatever the number of workers, so a CPU-bound pipeline would show no scaling here.
The machine is shared: figures of one run of this benchmark compare with each other only.
"""

from __future__ import annotations

import io
import os
import secrets
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
import zipfile
from collections.abc import Mapping
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

PAGE_TEXT_ASSET = "amazon/page_text"


def _library(root: Path, books: int, pages_per_book: int) -> Path:
    """``root/amazon/Big Box/`` with ``books`` CBZs of distinct noise pages."""
    import numpy as np
    from PIL import Image

    folder = root / "amazon" / "Big Box"
    folder.mkdir(parents=True)
    rng = np.random.default_rng(16)
    for number in range(books):
        with zipfile.ZipFile(folder / f"Issue {number:03d}.cbz", "w") as archive:
            for index in range(pages_per_book):
                pixels = rng.integers(0, 255, (160, 110, 3), dtype=np.uint8)
                image = io.BytesIO()
                Image.fromarray(pixels).save(image, "PNG")
                archive.writestr(f"{index:03d}.png", image.getvalue())
    return root / "amazon"


def _new_database(port: int, password: str, name: str) -> str:
    import psycopg2

    from comix_resources.stack.config import HOST, PG_USER
    from comix_resources.stack.servers import postgres_url

    connection = psycopg2.connect(
        host=HOST, port=port, user=PG_USER, password=password, dbname="postgres"
    )
    connection.autocommit = True
    with connection.cursor() as cursor:
        cursor.execute(f'CREATE DATABASE "{name}"')
    connection.close()
    return postgres_url(port, password, name)


def _materialize(select: str, partition: str, env: Mapping[str, str], log: Path):
    return subprocess.Popen(
        [
            str(Path(sys.executable).parent / "dagster"),
            "asset",
            "materialize",
            "-m",
            "comix_assets.definitions",
            "--select",
            select,
            "--partition",
            partition,
        ],
        env=dict(env),
        stdout=log.open("ab"),
        stderr=subprocess.STDOUT,
    )


def _run_all(
    select: str, partitions: list[str], env: Mapping[str, str], at_once: int, logs: Path
) -> dict[str, float]:
    """Every partition's run, at most ``at_once`` at a time; launch time per partition."""
    pending, running, launched = list(partitions), {}, {}
    while pending or running:
        while pending and len(running) < at_once:
            key = pending.pop(0)
            launched[key] = time.time()
            running[key] = _materialize(select, key, env, logs / f"run-{key}.log")
        for key, process in list(running.items()):
            if process.poll() is not None:
                del running[key]
                if process.returncode != 0:
                    raise RuntimeError(f"the run of {key} failed; see {logs / f'run-{key}.log'}")
        time.sleep(0.2)
    return launched


def _run_timings(instance: Any, launched: Mapping[str, float]) -> list[dict[str, float]]:
    import dagster as dg

    rows = []
    for key, started in launched.items():
        after = datetime.fromtimestamp(started - 1, UTC)
        [run] = instance.get_run_records(
            dg.RunsFilter(tags={"dagster/partition": key}, created_after=after)
        )
        stamps: dict[str, float] = {}
        for record in instance.all_logs(run.dagster_run.run_id):
            event = record.dagster_event
            if event is None:
                continue
            kind = event.event_type
            if kind in (dg.DagsterEventType.RUN_START, dg.DagsterEventType.STEP_START):
                stamps.setdefault(kind.name, record.timestamp)
            if kind in (dg.DagsterEventType.RUN_SUCCESS, dg.DagsterEventType.RUN_FAILURE):
                stamps["RUN_END"] = record.timestamp
        rows.append(
            {
                "launched": started,
                "run_start": stamps["RUN_START"] - started,
                "first_step": stamps["STEP_START"] - started,
                "ended": stamps["RUN_END"],
            }
        )
    return rows


def run_scale_out_benchmark(
    workers: tuple[int, ...] = (1, 2, 4),
    latency_s: float = 1.0,
    books: int = 24,
    pages_per_book: int = 4,
    shard_pages: int = 12,
) -> dict[str, Any]:
    import dagster as dg

    from comix_resources.benchmarks.fake_vlm import FakeVlmEndpoint
    from comix_resources.instance import stack_instance_config, write_instance
    from comix_resources.resources import ComicSourcesResource
    from comix_resources.stack import servers
    from comix_resources.stack.placement import CPU_QUEUE, celery_config
    from comix_resources.stack.processes import free_port, stop
    from comix_resources.stack.stack import create_pools

    work = Path(tempfile.mkdtemp(prefix="comix-scale-bench-"))
    work.chmod(0o755)  # PostgreSQL may run as another account
    logs = work / "logs"
    started: list[Any] = []
    result: dict[str, Any] = {
        "benchmark": "scale_out",
        "latency_s": latency_s,
        "cpus": os.cpu_count(),
        "load_before": list(os.getloadavg()),
        "rows": [],
    }
    try:
        root = _library(work / "library", books, pages_per_book)
        password = secrets.token_urlsafe(12)
        pg_port, redis_port = free_port(), free_port()
        postgres = servers.start_postgres(
            work / "postgres", pg_port, password, 200, logs / "postgres.log", dict(os.environ)
        )
        started.append(postgres.record)
        postgres.ready()
        redis = servers.start_redis(work / "redis", redis_port, logs / "redis.log", os.environ)
        started.append(redis.record)
        redis.ready()
        dagster_home = work / "dagster"
        write_instance(dagster_home, stack_instance_config(max(workers)))
        celery_yaml = work / "celery.yaml"
        import yaml

        celery_yaml.write_text(yaml.safe_dump({"execution": {"config": celery_config()}}))
        vlm = FakeVlmEndpoint(latency_s=latency_s).start()
        base = {
            **os.environ,
            "DAGSTER_HOME": str(dagster_home),
            "COMIX_HOME": str(work / "home"),
            "COMIX_AMAZON_ROOT": str(root),
            "COMIX_EXECUTOR": "celery",
            "COMIX_CELERY_BROKER_URL": f"redis://127.0.0.1:{redis_port}/0",
            "COMIX_CELERY_BACKEND_URL": f"redis://127.0.0.1:{redis_port}/1",
            "COMIX_DAGSTER_PG_URL": servers.postgres_url(pg_port, password, "dagster"),
            "COMIX_TEXT_ENGINES": "openai",
            "COMIX_VLM_BASE_URL": vlm.base_url,
            "COMIX_VLM_API_KEY": "sk-benchmark",
            "COMIX_SHARD_PAGES": str(shard_pages),
            "COMIX_LAKE_URL": str(work / "prepared"),
            "PATH": os.pathsep.join([str(Path(sys.executable).parent), os.environ["PATH"]]),
        }
        for name in ("DARKHORSE_ROOT", "CALIBRE_LIBRARY", "CACHE_URL"):
            base.pop(f"COMIX_{name}", None)
        os.environ.update({k: base[k] for k in ("DAGSTER_HOME", "COMIX_DAGSTER_PG_URL")})
        create_pools([("ocr", 64)], base)  # the first alone: it creates the instance's tables
        create_pools([("vlm", 64), ("gpu", 1)], base)

        sources = ComicSourcesResource(
            roots={"amazon": str(root)}, cache_dir=str(work / "home" / "cache"),
            shard_pages=shard_pages,
        )  # fmt: skip
        [collection] = sources.source("amazon").collections()
        plan = sources.plan(collection, [])
        partitions = [p.key for p in plan]
        pages = sum(p.pages for p in plan)
        result.update(partitions=len(partitions), pages=pages)
        with dg.DagsterInstance.get() as instance:
            instance.add_dynamic_partitions("amazon_collections", partitions)

        def start_workers(count: int, env: Mapping[str, str]) -> list[Any]:
            launched = [
                servers.start_celery_worker(
                    f"bench-{count}-{i}", CPU_QUEUE, celery_yaml, logs / f"w{count}-{i}.log", env
                )
                for i in range(count)
            ]
            started.extend(w.record for w in launched)
            for worker in launched:
                worker.ready()
            return [w.record for w in launched]

        # Books and pages once (not timed): every worker count starts from the same pages.
        prepare_env = {**base, "COMIX_CACHE_URL": _new_database(pg_port, password, "prep")}
        prepared = start_workers(2, prepare_env)
        _run_all("amazon/books,amazon/pages", partitions, prepare_env, 2, logs)
        for record in prepared:
            stop(record)

        one_worker = None
        for count in workers:
            lake = work / f"lake-{count}"
            shutil.copytree(work / "prepared", lake)
            env = {
                **base,
                "COMIX_LAKE_URL": str(lake),
                "COMIX_CACHE_URL": _new_database(pg_port, password, f"cache_{count}"),
            }
            records = start_workers(count, env)
            answered = vlm.answers
            began = time.time()
            launched = _run_all(PAGE_TEXT_ASSET, partitions, env, count, logs)
            with dg.DagsterInstance.get() as instance:
                timings = _run_timings(instance, launched)
            wall = max(t["ended"] for t in timings) - began
            for record in records:
                stop(record)
            rate = pages / wall
            one_worker = one_worker or rate
            result["rows"].append(
                {
                    "workers": count,
                    "runs": len(partitions),
                    "pages": pages,
                    "vlm_answers": vlm.answers - answered,
                    "wall_s": round(wall, 1),
                    "pages_per_s": round(rate, 2),
                    "speedup": round(rate / one_worker, 2),
                    "run_start_s": round(statistics.median(t["run_start"] for t in timings), 1),
                    "first_step_s": round(statistics.median(t["first_step"] for t in timings), 1),
                }
            )
        vlm.stop()
    finally:
        for record in reversed(started):
            stop(record)
        result["load_after"] = list(os.getloadavg())
        shutil.rmtree(work, ignore_errors=True)
    return result


def format_scale_out(result: Mapping[str, Any]) -> str:
    headers = ["workers", "runs", "pages", "vlm_answers", "wall_s", "pages_per_s", "speedup",
               "run_start_s", "first_step_s"]  # fmt: skip
    lines = [
        f"scale-out: {result['pages']} pages in {result['partitions']} shards, VLM latency "
        f"{result['latency_s']} s a page, 2 pages at once per page-text step",
        "  ".join(headers),
    ]
    for row in result["rows"]:
        lines.append("  ".join(str(row[h]).rjust(len(h)) for h in headers))
    lines.append(
        "run_start_s: a run's process launched until its RUN_START; first_step_s: until its "
        "first step started on a worker (medians)"
    )
    before, after = (
        ", ".join(f"{v:.2f}" for v in result[k]) for k in ("load_before", "load_after")
    )
    lines.append(
        f"{result['cpus']} CPUs, load average {before} before, {after} after (a shared machine)"
    )
    return "\n".join(lines)
