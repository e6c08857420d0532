"""Idempotence and crash safety: re-runs reuse extracted pages and give byte-identical tables."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest

from comix_assets.definitions import build_definitions, build_resources
from comix_resources.lake import TMP_PREFIX
from comix_resources.settings import ComixSettings

pytestmark = pytest.mark.slow


def lake_tables(lake_root: Path) -> dict[str, bytes]:
    return {
        str(p.relative_to(lake_root)): p.read_bytes()
        for p in sorted(lake_root.rglob("*"))
        if p.is_file()
        and p.suffix in {".parquet", ".jpg", ".png", ".json"}
        # A killed writer's leftovers (files or staging folders) that no reader ever opens.
        and not any(part.startswith(TMP_PREFIX) for part in p.relative_to(lake_root).parts)
    }


def test_second_materialization_reuses_pages_and_is_byte_identical(comix_env) -> None:
    settings = ComixSettings.from_env()
    defs = build_definitions(settings)
    job = defs.resolve_job_def("calibre_collection_job")
    key = build_resources(settings)["sources"].source("calibre").collections()[0].key
    with dg.DagsterInstance.ephemeral() as instance:
        instance.add_dynamic_partitions("calibre_collections", [key])
        first = job.execute_in_process(instance=instance, partition_key=key)
        snapshot = lake_tables(settings.lake_root)
        mtimes = {p: p.stat().st_mtime_ns for p in settings.lake_root.rglob("*.jpg")}
        second = job.execute_in_process(instance=instance, partition_key=key)
    assert first.success and second.success
    assert lake_tables(settings.lake_root) == snapshot
    assert {p: p.stat().st_mtime_ns for p in settings.lake_root.rglob("*.jpg")} == mtimes
    pages_metadata = second.asset_materializations_for_node("calibre__pages")[0].metadata
    assert pages_metadata["books_reused"].value == pages_metadata["books"].value > 0


def _comix_run(home: Path, env: dict[str, str]) -> subprocess.Popen:
    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "comix_assets.cli",
            "run",
            "--source",
            "darkhorse",
            "--select",
            "books,pages",
        ],
        env={**env, "COMIX_HOME": str(home)},
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
        # Our own group, default signal handling: SIGKILL reaches every process of the run.
        start_new_session=True,
    )


def _first_page_written(source_root: Path) -> bool:
    try:
        return any(source_root.glob("*/pages/*/0001.*"))
    except FileNotFoundError:
        # A book's staging folder was renamed into place between listing and scanning it.
        return False


def test_run_killed_mid_partition_resumes_to_the_uninterrupted_result(comix_env, tmp_path) -> None:
    env = dict(os.environ)
    reference_home, crash_home = tmp_path / "reference", tmp_path / "crashed"
    reference = _comix_run(reference_home, env)
    assert reference.wait(timeout=600) == 0, reference.stderr.read().decode()

    victim = _comix_run(crash_home, env)
    pages_root = crash_home / "lake" / "darkhorse"
    deadline = time.monotonic() + 300
    while time.monotonic() < deadline and victim.poll() is None:
        if _first_page_written(pages_root):
            break
        time.sleep(0.005)
    assert victim.poll() is None, "the run finished before it could be killed"
    os.killpg(victim.pid, signal.SIGKILL)
    victim.wait()
    partial = lake_tables(crash_home / "lake")
    assert partial != lake_tables(reference_home / "lake"), "kill came too late to test anything"

    resumed = _comix_run(crash_home, env)
    assert resumed.wait(timeout=600) == 0, resumed.stderr.read().decode()
    assert lake_tables(crash_home / "lake") == lake_tables(reference_home / "lake")
