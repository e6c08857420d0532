import dagster as dg
import pytest

from comix_assets.definitions import build_resources
from comix_resources.settings import ComixSettings


def test_defaults_need_no_variable(tmp_path) -> None:
    settings = ComixSettings.from_env({"COMIX_HOME": str(tmp_path)})
    assert settings.home == tmp_path.resolve()
    assert settings.dagster_home == tmp_path.resolve() / "dagster"
    assert settings.source_root("amazon") is None and settings.calibre_collection_by == "tag"
    assert settings.text_engines == ("ocr",) and settings.detector == "contour"
    text = build_resources(settings)["text"]
    assert text.openai_api_key == ""


def test_engines_and_the_api_key_come_from_the_environment(tmp_path) -> None:
    settings = ComixSettings.from_env(
        {
            "COMIX_HOME": str(tmp_path),
            "COMIX_TEXT_ENGINES": "openai, ocr",
            "COMIX_VLM_API_KEY": "sk-not-a-real-key",
            "COMIX_RTL_COLLECTIONS": "manga-a,manga-b",
        }
    )
    resources = build_resources(settings)
    assert resources["text"].engines == ["openai", "ocr"]
    # The key travels as an EnvVar reference, so Dagster never stores or shows its value.
    assert isinstance(resources["text"].openai_api_key, dg.EnvVar)
    assert "sk-not-a-real-key" not in repr(resources["text"])
    assert resources["detection"].is_rtl("manga-b") and not resources["detection"].is_rtl("x")


@pytest.mark.slow  # MLflow creates and migrates its SQLite store: tens of seconds
def test_mlflow_resource_tracks_under_comix_home(tmp_path) -> None:
    settings = ComixSettings.from_env({"COMIX_HOME": str(tmp_path)})
    tracker = build_resources(settings)["mlflow"].tracker()
    with tracker.start_run("smoke") as run_id:
        tracker.log_metrics({"loss": 1.0}, step=0)
    assert (tmp_path / "mlflow.db").is_file()
    assert run_id in tracker.run_url(run_id)


def test_readme_lists_every_variable_with_its_default() -> None:
    from pathlib import Path

    from comix_resources.settings import VARIABLES, settings_markdown

    readme = (Path(__file__).resolve().parents[1] / "README.md").read_text()
    begin = readme.index("<!-- settings:begin")
    table = readme[readme.index("\n", begin) + 1 : readme.index("<!-- settings:end -->")]
    assert table.strip() == settings_markdown()
    assert all(f"`{variable.name}`" in table for variable in VARIABLES)


def test_resources_default_to_the_settings_defaults() -> None:
    """A resource built in the launchpad without a value gets the same default as an unset
    variable: both come from the ComixSettings field."""
    from comix_resources.resources import (
        ClosureLiteResource,
        PageTextResource,
        PanelDetectorResource,
    )

    text = PageTextResource(cache_dir="cache")
    model = ClosureLiteResource(cache_dir="cache")
    defaults = ComixSettings()
    assert (text.openai_base_url, text.openai_model) == (defaults.vlm_base_url, defaults.vlm_model)
    assert text.engines == list(defaults.text_engines)
    assert text.transformers_model == defaults.vlm_local_model
    assert (model.max_epochs, model.embedding_variant) == (
        defaults.train_max_epochs,
        defaults.embedding_variant,
    )
    assert PanelDetectorResource().detector == defaults.detector
