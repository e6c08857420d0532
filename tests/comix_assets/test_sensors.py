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
