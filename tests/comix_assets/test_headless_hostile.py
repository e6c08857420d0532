"""``comix run`` against what goes wrong around it: a broken Calibre database beside healthy
sources, two runs on one home, SIGTERM in the background; and the discovery sensor's retry."""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
import time
from pathlib import Path

import dagster as dg
import pytest
from rich.console import Console

from comix_assets.definitions import build_definitions, build_resources
from comix_assets.headless import run_all
from comix_resources.lake import Lake
from comix_resources.settings import ComixSettings
from tests.hostile import FIXTURES, cbz, drawn_page

pytestmark = pytest.mark.slow


def small_tree(root: Path, books_per_collection: int = 1, pages: int = 2) -> Path:
    for c, name in enumerate(("First Collection", "Second Collection")):
        folder = root / name
        folder.mkdir(parents=True)
        for b in range(books_per_collection):
            seeds = [100 * c + 10 * b + n for n in range(pages)]
            cbz([(f"p{n}.jpg", drawn_page(seed)) for n, seed in enumerate(seeds)])(
                folder / f"book {b}.cbz"
            )
    return root


def broken_calibre(root: Path) -> Path:
    root.mkdir(parents=True)
    (root / "metadata.db").write_bytes(bytes(range(256)) * 64)
    return root


def test_a_broken_calibre_database_does_not_stop_the_other_sources(
    comix_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("COMIX_DARKHORSE_ROOT", str(small_tree(tmp_path / "darkhorse")))
    monkeypatch.setenv("COMIX_CALIBRE_LIBRARY", str(broken_calibre(tmp_path / "calibre")))
    monkeypatch.delenv("COMIX_AMAZON_ROOT")
    settings = ComixSettings.from_env()
    summary = run_all(select="books,pages", console=Console(quiet=True), settings=settings)
    rows = {(row.source, row.partition): row for row in summary.rows}
    failed = rows[("calibre", "-")]
    assert not failed.ok and "metadata.db" in failed.error and "not a database" in failed.error
    done = [row for row in summary.rows if row.source == "darkhorse"]
    assert [row.ok for row in done] == [True, True]
    lake = Lake(settings.lake_root)
    for row in done:
        assert lake.read_parquet(lake.path("darkhorse", row.partition, "pages.parquet")).height == 2


def test_the_discovery_sensor_skips_a_broken_database_and_retries(
    comix_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    library = broken_calibre(tmp_path / "calibre")
    monkeypatch.setenv("COMIX_CALIBRE_LIBRARY", str(library))
    settings = ComixSettings.from_env()
    sensor = build_definitions(settings).resolve_sensor_def("calibre_discovery")
    resources = build_resources(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(instance=instance, cursor=None, resources=resources)
        skipped = sensor(context)
        assert isinstance(skipped, dg.SkipReason)
        assert "metadata.db" in (skipped.skip_message or "") and context.cursor is None
        # Calibre wrote a sound database again: the next tick finds its collections.
        shutil.copyfile(FIXTURES / "calibre_library" / "metadata.db", library / "metadata.db")
        context = dg.build_sensor_context(instance=instance, cursor=None, resources=resources)
        result = sensor(context)
        assert isinstance(result, dg.SensorResult) and len(result.run_requests) == 2


def test_the_discovery_sensor_takes_names_that_are_not_utf8(
    comix_env, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    root = small_tree(tmp_path / "darkhorse")
    odd = root / os.fsdecode(b"Bad \xff folder")
    odd.mkdir()
    cbz([("p1.jpg", drawn_page(1))])(odd / os.fsdecode(b"\xfe.cbz"))
    monkeypatch.setenv("COMIX_DARKHORSE_ROOT", str(root))
    settings = ComixSettings.from_env()
    sensor = build_definitions(settings).resolve_sensor_def("darkhorse_discovery")
    with dg.DagsterInstance.ephemeral() as instance:
        context = dg.build_sensor_context(
            instance=instance, cursor=None, resources=build_resources(settings)
        )
        result = sensor(context)
        assert isinstance(result, dg.SensorResult)
        requests = {r.partition_key: r.tags["comix/collection"] for r in result.run_requests}
        assert requests["bad-xff-folder"] == "Bad \\xff folder"
        assert len(requests) == 3


def comix_run(home: Path, env: dict[str, str], select: str, log: Path) -> subprocess.Popen:
    def background() -> None:
        # What `comix run &` from a script inherits: SIGINT ignored.
        signal.signal(signal.SIGINT, signal.SIG_IGN)

    return subprocess.Popen(
        [
            sys.executable,
            "-m",
            "comix_assets.cli",
            "run",
            "--source",
            "darkhorse",
            "--select",
            select,
        ],
        env={**env, "COMIX_HOME": str(home), "COLUMNS": "200"},
        stdout=log.open("wb"),
        stderr=subprocess.STDOUT,
        preexec_fn=background,
    )


def runs_by_partition(home: Path) -> dict[str, list[dg.DagsterRunStatus]]:
    from comix_resources.leases import Leases

    # Opening an instance creates its tables on a new home: while `comix run` creates them too,
    # both died with "table backfill_tags already exists"; take the lease it takes for that.
    with Leases(home / "locks").hold("dagster instance"):
        opened = dg.DagsterInstance.from_config(str(home / "dagster"))
    with opened as instance:
        found: dict[str, list[dg.DagsterRunStatus]] = {}
        for run in instance.get_runs():
            found.setdefault(run.tags.get("dagster/partition", "-"), []).append(run.status)
        return found


def test_two_runs_on_one_home_do_the_work_once(comix_env, tmp_path: Path) -> None:
    env = {**os.environ, "COMIX_DARKHORSE_ROOT": str(small_tree(tmp_path / "darkhorse"))}
    home = tmp_path / "home"
    logs = [tmp_path / "first.log", tmp_path / "second.log"]
    both = [comix_run(home, env, "books,pages", log) for log in logs]
    assert [p.wait(timeout=900) for p in both] == [0, 0], [log.read_text()[-3000:] for log in logs]
    output = " ".join("".join(log.read_text() for log in logs).split())
    assert "held by another comix run" in output and "done by another" in output
    runs = runs_by_partition(home)
    assert sorted(runs) == ["first-collection", "second-collection"]
    assert all(statuses == [dg.DagsterRunStatus.SUCCESS] for statuses in runs.values()), runs


def test_sigterm_stops_a_background_run(comix_env, tmp_path: Path) -> None:
    env = {**os.environ, "COMIX_DARKHORSE_ROOT": str(small_tree(tmp_path / "darkhorse", 2, 6))}
    home = tmp_path / "home"
    process = comix_run(home, env, "books,pages,panels,page_text", tmp_path / "run.log")
    deadline = time.monotonic() + 600
    while time.monotonic() < deadline and process.poll() is None:
        if (home / "dagster" / "dagster.yaml").exists():
            statuses = [s for ss in runs_by_partition(home).values() for s in ss]
            if dg.DagsterRunStatus.STARTED in statuses:
                break
        time.sleep(0.5)
    assert process.poll() is None, "the run ended before it could be stopped"
    os.kill(process.pid, signal.SIGTERM)
    try:
        code = process.wait(timeout=120)
    except subprocess.TimeoutExpired:
        process.kill()
        pytest.fail("comix run ignored SIGTERM")
    assert code == 130, (tmp_path / "run.log").read_text()[-3000:]
    assert "stopped:" in (tmp_path / "run.log").read_text()
    statuses = [s for ss in runs_by_partition(home).values() for s in ss]
    assert dg.DagsterRunStatus.STARTED not in statuses, statuses  # the run is not left running
