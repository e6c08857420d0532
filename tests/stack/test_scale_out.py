"""The scale-out stack end to end, as issue 16 asks to show it.

`comix stack up` on free ports; two of the demo library's Amazon collections (5 books: CBT, CBZ,
CB7 and PDF, 56 pages; one collection split into 2 shards) discovered by
the sensor and materialized through 2 Celery workers, page text from a VLM (a local
OpenAI-compatible endpoint that counts what it answers, 0.4 s a page), the instance on
PostgreSQL, the lake on S3 (SeaweedFS) and the caches on PostgreSQL. While a page-text step is
in the middle of its pages, the worker running it is killed with SIGKILL: the supervisor starts
it again, the step's lease runs out and another worker runs it, and every run succeeds. Then:
no page was answered twice, and every file of the S3 lake equals a local run's byte for byte
(the page-text table: its timings and, for pages the rerun found in the shared cache, what
their first attempt cost aside); `comix run` on the stack's variables reads and rewrites the S3
lake identically without a call to the endpoint; `comix stack down` stops everything.
"""

from __future__ import annotations

import os
import shutil
import signal
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path

import polars as pl
import pytest

from comix_resources.benchmarks.fake_vlm import FakeVlmEndpoint
from comix_resources.stack import Stack, StackConfig
from comix_resources.stack.processes import is_running
from tests.stack.test_stack import OUTSIDE

pytestmark = pytest.mark.slow

COLLECTION_ASSETS = "books,pages,panels,page_text,dataspec,page_quality"
# Two of the demo library's Amazon collections: CBT, CBZ, CB7 and PDF books.
COLLECTIONS = ["Night Harbor: Case Files", "Star Runners"]
PAGES = 56
# What a page-text row records about how it was obtained, rather than what the page says.
HOW_IT_WAS_PAID = ["latency_s", "attempts", "error_kinds", "prompt_tokens", "completion_tokens",
                   "cost_usd"]  # fmt: skip


@pytest.fixture
def reachable_folder() -> Iterator[Path]:
    """Under root, PostgreSQL runs as `postgres`, who cannot enter pytest's 0700 folders."""
    folder = Path(tempfile.mkdtemp(prefix="comix-scale-"))
    folder.chmod(0o755)
    yield folder
    shutil.rmtree(folder, ignore_errors=True)


def _common_env(monkeypatch: pytest.MonkeyPatch, library: Path, vlm: FakeVlmEndpoint) -> None:
    for name in OUTSIDE:
        monkeypatch.delenv(name, raising=False)
    monkeypatch.delenv("COMIX_CACHE_URL", raising=False)
    monkeypatch.setenv("COMIX_AMAZON_ROOT", str(library))
    monkeypatch.setenv("COMIX_TEXT_ENGINES", "openai")
    monkeypatch.setenv("COMIX_VLM_BASE_URL", vlm.base_url)
    monkeypatch.setenv("COMIX_VLM_API_KEY", "sk-fake-key-for-tests")
    monkeypatch.setenv("COMIX_SHARD_PAGES", "30")


def _files(root: Path) -> dict[str, bytes]:
    return {p.relative_to(root).as_posix(): p.read_bytes() for p in root.rglob("*") if p.is_file()}


def _s3_files(fs, root: str) -> dict[str, bytes]:
    fs.invalidate_cache()
    return {path[len(root) + 1 :]: fs.cat_file(path) for path in fs.find(root)}


def _clients_of(port: int, client_ports: set[int]) -> set[int]:
    """Processes whose TCP connections to ``port`` start at one of ``client_ports``: which
    process sent the requests the endpoint holds."""
    inodes = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        for line in Path(table).read_text().splitlines()[1:]:
            fields = line.split()
            local, remote = (int(f.rsplit(":", 1)[1], 16) for f in fields[1:3])
            if remote == port and local in client_ports:
                inodes.add(fields[9])
    found = set()
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit() or int(entry.name) == os.getpid():
            continue
        try:
            links = {os.readlink(fd) for fd in (entry / "fd").iterdir()}
        except OSError:
            continue
        if any(f"socket:[{inode}]" in links for inode in inodes):
            found.add(int(entry.name))
    return found


def _how_pages_were_read(
    remote: dict[str, bytes], local: dict[str, bytes], text_tables: list[str]
) -> dict[str, object]:
    """Per page-text table, the pages whose engine, status, triage or error differ between the
    stack's lake and the local one: what a failure message needs to tell a VLM answer the stack
    did not pay for from one it did not need."""
    how = ["page_id", "status", "engine", "triage", "error"]
    report: dict[str, object] = {}
    for path in text_tables:
        if path not in remote:
            report[path] = "missing on S3"
            continue
        ours = pl.read_parquet(remote[path]).select(how)
        theirs = pl.read_parquet(local[path]).select(how)
        joined = ours.join(theirs, on="page_id", how="full", suffix="_local", coalesce=True)
        differs = pl.any_horizontal(
            pl.col(c).ne_missing(pl.col(f"{c}_local")) for c in how if c != "page_id"
        )
        report[path] = joined.filter(differs).to_dicts()
    return report


def _wait(condition, timeout_s: float, what: str, every_s: float = 0.5):
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        value = condition()
        if value:
            return value
        time.sleep(every_s)
    raise AssertionError(f"{what}: not within {timeout_s:.0f} s")


def test_the_demo_library_on_the_stack_survives_a_killed_worker(
    reachable_folder: Path, demo_library: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import dagster as dg
    import s3fs

    from comix_assets.headless import run_all

    began = time.perf_counter()
    library = reachable_folder / "library" / "amazon"
    for collection in COLLECTIONS:
        shutil.copytree(demo_library / "amazon" / collection, library / collection)

    # A local run first: the tables the stack must reproduce.
    with FakeVlmEndpoint(latency_s=0.0) as local_vlm:
        _common_env(monkeypatch, library, local_vlm)
        local_home = reachable_folder / "local"
        monkeypatch.setenv("COMIX_HOME", str(local_home))
        local = run_all(sources=["amazon"], select=COLLECTION_ASSETS)
        # The triage keeps pages it is sure are not comics away from the VLM.
        local_text = pl.concat(
            pl.read_parquet(path) for path in (local_home / "lake").rglob("page_text.parquet")
        )
        paid = local_text.filter(pl.col("engine") == "openai").height
        assert local_text.height == PAGES and 0 < paid <= PAGES
        assert local_vlm.answers == paid and not local_vlm.paid_twice()
    partitions = sorted(row.partition for row in local.rows)
    local_failures = {
        row.partition: {row.error.split(":", 1)[0]} for row in local.rows if not row.ok
    }
    assert all(step.endswith("_rate") for steps in local_failures.values() for step in steps)
    assert partitions == [
        "night-harbor-case-files",
        "star-runners--0000-7fff",
        "star-runners--8000-ffff",
    ]
    local_seconds = time.perf_counter() - began

    vlm = FakeVlmEndpoint(latency_s=0.4).start()
    _common_env(monkeypatch, library, vlm)
    monkeypatch.delenv("DAGSTER_HOME", raising=False)
    home = reachable_folder / "stack-home"
    monkeypatch.setenv("COMIX_HOME", str(home))
    monkeypatch.setenv("COMIX_STACK_CPU_WORKERS", "2")
    monkeypatch.setenv("COMIX_STACK_GPU_WORKERS", "0")
    monkeypatch.setenv("COMIX_POOL_VLM", "1")  # one page-text step at a time: a clean count
    monkeypatch.setenv("COMIX_STACK_STEP_LEASE_S", "20")
    stack = Stack(StackConfig.from_env(home, free_ports=True))
    up_began = time.perf_counter()
    state = stack.up(progress=print)
    up_seconds = time.perf_counter() - up_began
    killed: dict[str, int] = {}
    try:
        environment = stack.environment(state)
        for name, value in environment.items():
            monkeypatch.setenv(name, value)
        with dg.DagsterInstance.get() as instance:
            # Let a page-text step answer a few pages, then hold the endpoint's answers and
            # kill the worker that is waiting for them.
            _wait(lambda: vlm.answers >= 8, 900, "the first VLM answers")
            vlm.hold()
            _wait(lambda: vlm.held >= 1, 120, "a request in flight")
            time.sleep(1.5)  # the answers delivered before the hold are in the cache by now
            waiting = {port for _, port in vlm.held_from}
            [client] = _wait(
                lambda: _clients_of(vlm.httpd.server_address[1], waiting), 30, "the client"
            )
            answered_before_kill = vlm.answers
            os.kill(client, signal.SIGKILL)
            killed["pid"] = client
            print(f"killed worker process {client} after {answered_before_kill} answers")
            vlm.release()

            def all_finished():
                runs = instance.get_runs(dg.RunsFilter(job_name="amazon_collection_job"))
                by_partition = {r.tags.get("dagster/partition"): r for r in runs}
                done = set(by_partition) == set(partitions) and all(
                    r.is_finished for r in by_partition.values()
                )
                return by_partition if done else None

            runs = _wait(all_finished, 900, "every partition's run", every_s=3)
            restarted = []
            unfailed: dict[str, tuple[set[str], dict[str, bool], str]] = {}
            for key, run in runs.items():
                events = [record.dagster_event for record in instance.all_logs(run.run_id)]
                events = [event for event in events if event is not None]
                materialized = {
                    event.asset_key.path[-1]
                    for event in events
                    if event.event_type == dg.DagsterEventType.ASSET_MATERIALIZATION
                }
                assert materialized == set(COLLECTION_ASSETS.split(",")), key  # nothing lost
                starts = [
                    event.step_key
                    for event in events
                    if event.event_type == dg.DagsterEventType.STEP_START
                ]
                if starts.count("amazon__page_text") == 2:
                    restarted.append(key)
                # A check on fake VLM text may fail a blocking rate (and so the run); no step
                # may fail for any other reason, and none that passed locally.
                failed = {
                    event.step_key
                    for event in events
                    if event.event_type == dg.DagsterEventType.STEP_FAILURE
                }
                assert failed <= local_failures.get(key, set()), (key, failed)
                expected = dg.DagsterRunStatus.FAILURE if failed else dg.DagsterRunStatus.SUCCESS
                assert run.status == expected, (key, run.status)
                if failed != local_failures.get(key, set()):
                    checks = {
                        data.asset_check_key.name: data.passed
                        for event in events
                        if event.event_type == dg.DagsterEventType.ASSET_CHECK_EVALUATION
                        and (data := event.event_specific_data) is not None
                    }
                    unfailed[key] = (local_failures[key] - failed, checks, run.run_id)
            assert len(restarted) == 1, "the killed step ran again, in its own run"
        supervisor_log = (stack.config.log_dir / "supervisor.log").read_text()
        assert "is gone; started again" in supervisor_log
        assert all(is_running(r) for r in stack.load_state().processes)

        bucket = s3fs.S3FileSystem(
            endpoint_url=environment["AWS_ENDPOINT_URL"],
            key=environment["AWS_ACCESS_KEY_ID"],
            secret=environment["AWS_SECRET_ACCESS_KEY"],
            skip_instance_cache=True,
        )
        remote = _s3_files(bucket, "comix/lake")
        expected = _files(local_home / "lake")
        text_tables = sorted(p for p in expected if p.endswith("page_text.parquet"))
        assert len(text_tables) == 3

        # Nothing paid twice: every page answered once, by one worker or the other.
        never_answered = sorted(sha[:12] for sha in vlm.received if not vlm.answered[sha])
        how_read = _how_pages_were_read(remote, expected, text_tables)
        print(f"answers {vlm.answers} of {paid}; pages read otherwise than locally: {how_read}")
        assert vlm.answers == paid and vlm.paid_twice() == [], (
            vlm.answers,
            paid,
            vlm.paid_twice(),
            never_answered,
            how_read,
            unfailed,
        )
        assert vlm.answers > answered_before_kill

        # The S3 lake equals the local one.
        assert sorted(remote) == sorted(expected)
        for path in sorted(expected):
            if path not in text_tables:
                assert remote[path] == expected[path], path
        for path in text_tables:
            ours = pl.read_parquet(remote[path])
            theirs = pl.read_parquet(expected[path])
            rerun = any(path.startswith(f"amazon/{key.split('--')[0]}") for key in restarted)
            ignore = HOW_IT_WAS_PAID if rerun else ["latency_s"]
            assert ours.drop(ignore).equals(theirs.drop(ignore)), path

        # On the same tables, the same verdicts: a blocking check the local run failed fails on
        # the stack too (it did not, on CI, while pages failed there with reset connections).
        assert not unfailed, {
            key: f"the stack's run {run_id} did not fail {sorted(lost)}; its checks: {checks}"
            for key, (lost, checks, run_id) in unfailed.items()
        }

        # `comix run` with the stack's variables: the same lake on S3, nothing asked again.
        again = run_all(sources=["amazon"], select="books,pages,page_text")
        assert sorted(r.partition for r in again.rows) == partitions
        assert again.failed == 0, [r.error for r in again.rows]
        assert vlm.answers == paid
        assert _s3_files(bucket, "comix/lake") == remote
        assert not (home / "lake").exists() and not (home / "cache" / "page_text.sqlite").exists()
    finally:
        down_began = time.perf_counter()
        outcomes = stack.down()
        vlm.stop()
        down_seconds = time.perf_counter() - down_began
        print(
            f"local run {local_seconds:.0f} s; stack up {up_seconds:.0f} s; down "
            f"{down_seconds:.0f} s; whole test {time.perf_counter() - began:.0f} s; {outcomes}"
        )
    assert not any(is_running(record) for record in state.processes)
    if "pid" in killed:
        assert not Path(f"/proc/{killed['pid']}").exists()
