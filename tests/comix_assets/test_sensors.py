import json
import os
import shutil
from pathlib import Path

import dagster as dg

from comix_assets.definitions import build_definitions, build_resources
from comix_resources.ids import slugify
from comix_resources.settings import ComixSettings


def _tick(defs, instance, source, cursor, resources):
    sensor = defs.resolve_sensor_def(f"{source}_discovery")
    context = dg.build_sensor_context(instance=instance, cursor=cursor, resources=resources)
    result = sensor(context)
    if isinstance(result, dg.SensorResult):
        for request in result.dynamic_partitions_requests or []:
            if isinstance(request, dg.DeleteDynamicPartitionsRequest):
                for key in request.partition_keys:
                    instance.delete_dynamic_partition(request.partitions_def_name, key)
            else:
                instance.add_dynamic_partitions(request.partitions_def_name, request.partition_keys)
        return result, result.cursor
    return result, context.cursor


def _copy_tree(demo_library: Path, tmp_path: Path) -> Path:
    root = tmp_path / "amazon"
    shutil.copytree(demo_library / "amazon", root)
    return root


def test_discovery_adds_partitions_runs_changes_and_skips_touches(
    comix_env, demo_library: Path, tmp_path: Path, monkeypatch
) -> None:
    root = _copy_tree(demo_library, tmp_path)
    monkeypatch.setenv("COMIX_AMAZON_ROOT", str(root))
    settings = ComixSettings.from_env()
    defs = build_definitions(settings)
    resources = build_resources(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        first, cursor = _tick(defs, instance, "amazon", None, resources)
        collections = sorted(p.name for p in root.iterdir() if p.is_dir())
        assert len(first.run_requests) == len(collections) >= 2
        partitions = instance.get_dynamic_partitions("amazon_collections")
        assert sorted(r.partition_key for r in first.run_requests) == sorted(partitions)

        second, cursor = _tick(defs, instance, "amazon", cursor, resources)
        assert isinstance(second, dg.SkipReason)

        # The requested runs hash every book; from then on the sensor knows content digests.
        job = defs.resolve_job_def("amazon_collection_job")
        for key in partitions:
            job.execute_in_process(
                instance=instance,
                partition_key=key,
                asset_selection=[dg.AssetKey(["amazon", "books"])],
            )
        _, cursor = _tick(defs, instance, "amazon", cursor, resources)
        assert all(state["content"] for state in json.loads(cursor).values())

        # A sensor without a cursor (as after `comix run`) does not redo materialized work.
        fresh, _ = _tick(defs, instance, "amazon", None, resources)
        assert isinstance(fresh, dg.SkipReason), fresh

        book = next(p for p in sorted(root.rglob("*")) if p.suffix in {".cbz", ".pdf", ".cb7"})
        os.utime(book, ns=(book.stat().st_atime_ns, book.stat().st_mtime_ns + 10**9))
        touched, cursor = _tick(defs, instance, "amazon", cursor, resources)
        assert isinstance(touched, dg.SkipReason), "a touched file with equal bytes re-ran"

        book.write_bytes(book.read_bytes() + b"\0")
        changed, cursor = _tick(defs, instance, "amazon", cursor, resources)
        changed_collection = book.relative_to(root).parts[0]
        assert [r.partition_key for r in changed.run_requests] == [slugify(changed_collection)]
        assert not changed.dynamic_partitions_requests

        (root / "New Arrivals").mkdir()
        shutil.copy(book, root / "New Arrivals" / "copy.cbz")
        new, _ = _tick(defs, instance, "amazon", cursor, resources)
        assert [r.partition_key for r in new.run_requests] == ["new-arrivals"]
        assert "new-arrivals" in instance.get_dynamic_partitions("amazon_collections")


def test_unconfigured_source_skips_with_the_variable_to_set(comix_env, monkeypatch) -> None:
    monkeypatch.delenv("COMIX_DARKHORSE_ROOT")
    settings = ComixSettings.from_env()
    with dg.DagsterInstance.ephemeral() as instance:
        result, _ = _tick(
            build_definitions(settings), instance, "darkhorse", None, build_resources(settings)
        )
    assert isinstance(result, dg.SkipReason)
    assert "COMIX_DARKHORSE_ROOT" in result.skip_message


def _shard_books(resources, keys: list[str]) -> dict[str, set[tuple[str, str]]]:
    sources = resources["sources"]
    fingerprints = sources.fingerprints()
    return {
        key: {
            (b.relative_path, fingerprints.sha256(b.path, b.size, b.mtime_ns))
            for b in sources.partition("amazon", key).books
        }
        for key in keys
    }


def test_a_large_collection_runs_as_shards_and_reruns_only_changed_shards(
    comix_env, demo_library: Path, tmp_path: Path, monkeypatch
) -> None:
    from comix_resources.shards import collection_key, is_shard

    root = tmp_path / "amazon"
    big = root / "Big Box"
    big.mkdir(parents=True)
    # Every demo amazon book in one collection, split with a target of 20 pages a partition.
    for book in sorted((demo_library / "amazon").rglob("*")):
        if book.suffix in {".cbz", ".cbt", ".cb7", ".pdf"}:
            shutil.copy(book, big / book.name)
    shutil.copytree(demo_library / "amazon" / "Star Runners", root / "Star Runners")
    monkeypatch.setenv("COMIX_AMAZON_ROOT", str(root))
    monkeypatch.setenv("COMIX_SHARD_PAGES", "20")
    settings = ComixSettings.from_env()
    defs = build_definitions(settings)
    resources = build_resources(settings)
    with dg.DagsterInstance.ephemeral() as instance:
        first, cursor = _tick(defs, instance, "amazon", None, resources)
        requested = sorted(r.partition_key for r in first.run_requests)
        shards = [k for k in requested if collection_key(k) == "big-box"]
        assert len(shards) >= 2 and all(is_shard(k) for k in shards)
        assert sorted(instance.get_dynamic_partitions("amazon_collections")) == requested
        assert {r.tags["comix/collection"] for r in first.run_requests} >= {"Big Box"}
        books = _shard_books(resources, shards)
        listed = {b.name for b in big.iterdir()}
        assert sorted(p.rsplit("/", 1)[1] for bs in books.values() for p, _ in bs) == sorted(listed)

        job = defs.resolve_job_def("amazon_collection_job")
        for key in requested:
            result = job.execute_in_process(
                instance=instance,
                partition_key=key,
                asset_selection=[dg.AssetKey(["amazon", "books"])],
            )
            assert result.success
        fresh, cursor = _tick(defs, instance, "amazon", None, resources)
        assert isinstance(fresh, dg.SkipReason), fresh  # every shard is done

        # One book changes: the shards whose books changed run, the others do not.
        book = sorted(big.iterdir())[0]
        book.write_bytes(book.read_bytes() + b"\0")
        changed, _ = _tick(defs, instance, "amazon", cursor, resources)
        after = _shard_books(resources, shards)
        expected = sorted(k for k in shards if after[k] != books[k])
        assert 1 <= len(expected) <= 2
        assert sorted(r.partition_key for r in changed.run_requests) == expected
