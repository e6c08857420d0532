import json
from pathlib import Path

import polars as pl
from typer.testing import CliRunner

from comix_assets.cli import app
from comix_resources.lake import Lake

runner = CliRunner()


def test_panels_prints_kumiko_shaped_json(shared_fixtures: Path) -> None:
    result = runner.invoke(app, ["panels", str(shared_fixtures / "kumiko" / "xkcd208.png")])
    assert result.exit_code == 0, result.output
    [page] = json.loads(result.stdout)
    assert page["size"] == [394, 400] and len(page["panels"]) == 8


def test_panels_names_a_missing_file_and_exits_2(tmp_path: Path) -> None:
    result = runner.invoke(app, ["panels", str(tmp_path / "missing.png")])
    assert result.exit_code == 2
    assert "missing.png" in result.output


def test_export_dataspec_writes_v03_json_per_page(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setenv("COMIX_HOME", str(tmp_path / "home"))
    lake = Lake(tmp_path / "home" / "lake")
    row = {
        "page_id": "b-0000",
        "page_image_path": "calibre/c/pages/b/0000.jpg",
        "source": "calibre",
        "collection": "c",
        "book": "b",
        "page_index": 0,
        "page_size": {"width": 800, "height": 1200},
        "panels": [
            {
                "panel_coords": [0, 0, 400, 600],
                "confidence": 1.0,
                "order": 0,
                "text": {"dialogue": ["Hello!"], "narration": [], "sfx": []},
                "characters": [],
                "description": None,
            }
        ],
    }
    from comix_resources.dataspec import DATASPEC_SCHEMA

    frame = pl.DataFrame([row], schema={k: DATASPEC_SCHEMA[k] for k in row}).with_columns(
        [
            pl.lit(None, dtype=dtype).alias(name)
            for name, dtype in DATASPEC_SCHEMA.items()
            if name not in row
        ]
    )
    lake.write_parquet(lake.path("calibre", "c", "dataspec.parquet"), frame)
    result = runner.invoke(app, ["export-dataspec", str(tmp_path / "out")])
    assert result.exit_code == 0, result.output
    document = json.loads((tmp_path / "out" / "calibre" / "c" / "b-0000.json").read_text())
    assert document["version"] == "0.3"
    assert document["panels"][0]["text"]["dialogue"] == ["Hello!"]
