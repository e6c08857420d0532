import dagster as dg

from comix_assets.definitions import build_definitions
from comix_resources.settings import SOURCES, ComixSettings


def test_definitions_load_with_every_source_asset_and_sensor(bare_env) -> None:
    defs = build_definitions(ComixSettings.from_env())
    keys = {key.to_user_string() for key in defs.resolve_all_asset_keys()}
    for source in SOURCES:
        assert {f"{source}/books", f"{source}/pages"} <= keys
        assert defs.resolve_sensor_def(f"{source}_discovery").default_status == (
            dg.DefaultSensorStatus.RUNNING
        )
        job = defs.resolve_job_def(f"{source}_collection_job")
        assert job.partitions_def.name == f"{source}_collections"


def test_every_asset_has_description_owner_kinds_and_group(bare_env) -> None:
    defs = build_definitions(ComixSettings.from_env())
    for spec in defs.resolve_all_asset_specs():
        assert spec.description and len(spec.description) > 40, spec.key
        assert spec.owners, spec.key
        assert spec.kinds, spec.key
        if spec.key.path[0] in SOURCES:
            assert spec.group_name == spec.key.path[0], spec.key


def test_code_location_module_loads(bare_env) -> None:
    import importlib

    module = importlib.import_module("comix_assets.definitions")
    assert isinstance(module.defs, dg.Definitions)
