"""Thin Dagster resources over the engines: they hold configuration and build the engines."""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import dagster as dg
import polars as pl
from pydantic import Field

from comix_resources.closure_lite.config import ClosureLiteConfig
from comix_resources.closure_lite.encoders import Encoder, PanelCrops
from comix_resources.closure_lite.features import PanelFeatures
from comix_resources.detection import PanelDetector, make_detector
from comix_resources.detection.training import TrainConfig
from comix_resources.fingerprints import FingerprintCache
from comix_resources.lake import Lake
from comix_resources.page_stream.config import PageStreamConfig
from comix_resources.pages import ExtractionLimits
from comix_resources.quality import QualityThresholds
from comix_resources.settings import ComixSettings
from comix_resources.sources import CalibreSource, ComicSource, FolderTreeSource
from comix_resources.text import OcrEngine, OpenAIEngine, TextCache, TextCascade, TransformersEngine
from comix_resources.tracking import Tracker, sqlite_tracking_uri


class LakeResource(dg.ConfigurableResource):
    """Where every table and image lives: a local folder or any fsspec URL."""

    root: str

    def lake(self) -> Lake:
        return Lake(self.root)


class ComicSourcesResource(dg.ConfigurableResource):
    """The three comic sources; an empty root means the source is not configured."""

    amazon_root: str = ""
    darkhorse_root: str = ""
    calibre_library: str = ""
    calibre_collection_by: str = "tag"
    cache_dir: str

    def source(self, name: str) -> ComicSource | None:
        if name == "calibre":
            if not self.calibre_library:
                return None
            return CalibreSource(Path(self.calibre_library), self.calibre_collection_by)
        root = {"amazon": self.amazon_root, "darkhorse": self.darkhorse_root}[name]
        return FolderTreeSource(name, Path(root)) if root else None

    def root_variable(self, name: str) -> str:
        return {
            "amazon": "COMIX_AMAZON_ROOT",
            "darkhorse": "COMIX_DARKHORSE_ROOT",
            "calibre": "COMIX_CALIBRE_LIBRARY",
        }[name]

    def fingerprints(self) -> FingerprintCache:
        return FingerprintCache(Path(self.cache_dir) / "fingerprints.sqlite")

    @classmethod
    def from_settings(cls, settings: ComixSettings) -> ComicSourcesResource:
        return cls(
            amazon_root=str(settings.amazon_root or ""),
            darkhorse_root=str(settings.darkhorse_root or ""),
            calibre_library=str(settings.calibre_library or ""),
            calibre_collection_by=settings.calibre_collection_by,
            cache_dir=str(settings.cache_dir),
        )


class PageExtractionResource(dg.ConfigurableResource):
    """Limits that protect the platform from hostile archives, and the PDF render DPI."""

    max_total_bytes: int = ExtractionLimits.max_total_bytes
    max_entry_bytes: int = ExtractionLimits.max_entry_bytes
    max_entries: int = ExtractionLimits.max_entries
    max_pixels: int = ExtractionLimits.max_pixels
    max_compression_ratio: float = ExtractionLimits.max_compression_ratio
    pdf_dpi: int = ExtractionLimits.pdf_dpi
    warn_failure_rate: float = 0.10

    def limits(self) -> ExtractionLimits:
        return ExtractionLimits(
            max_total_bytes=self.max_total_bytes,
            max_entry_bytes=self.max_entry_bytes,
            max_entries=self.max_entries,
            max_pixels=self.max_pixels,
            max_compression_ratio=self.max_compression_ratio,
            pdf_dpi=self.pdf_dpi,
        )


class PanelDetectorResource(dg.ConfigurableResource):
    """Which panel detector runs, and the collections read right to left (manga)."""

    detector: str = "contour"
    checkpoint: str = ""  # fasterrcnn: a .pth state_dict such as CoMix's faster_rcnn-c100-best
    score_threshold: float = 0.5
    device: str = "cpu"
    rtl_collections: list[str] = Field(default_factory=list)
    # learned: the champion of ``panel-detector`` in this MLflow store
    tracking_db: str = ""
    artifact_root: str = ""

    def build(self) -> PanelDetector:
        if self.detector == "learned":
            from comix_resources.detection.registry import EXPERIMENT, champion_detector

            tracker = Tracker(sqlite_tracking_uri(self.tracking_db), self.artifact_root, EXPERIMENT)
            return champion_detector(tracker)
        if self.detector == "fasterrcnn":
            return make_detector(
                "fasterrcnn",
                checkpoint=Path(self.checkpoint) if self.checkpoint else None,
                score_threshold=self.score_threshold,
                device=self.device,
            )
        return make_detector(self.detector)

    def is_rtl(self, collection_key: str) -> bool:
        return collection_key in self.rtl_collections


class DetectorTrainingResource(dg.ConfigurableResource):
    """How the learned panel detector trains: the generated page set and the budget.

    Defaults are for a long CPU run (about an hour and a half of one core); a GPU host can
    raise ``steps`` and ``device``. Only the launchpad runs it: no job of a full pass does.
    """

    pages_dir: str
    pages: int = 2000
    seed: int = 1000
    steps: int = 4000
    max_minutes: float = 90.0
    batch_size: int = 2
    threads: int = 1

    def page_set(self) -> Path:
        """The generated training pages, written once per (count, seed)."""
        from comix_resources.demo.detector_pages import write_detector_pages

        folder = Path(self.pages_dir) / f"seed{self.seed}-{self.pages}"
        if not (folder / "annotations.json").is_file():
            write_detector_pages(folder, self.pages, self.seed)
        return folder

    def config(self) -> TrainConfig:
        return TrainConfig(
            steps=self.steps,
            max_seconds=60 * self.max_minutes,
            batch_size=self.batch_size,
            threads=self.threads,
        )


class PageTextResource(dg.ConfigurableResource):
    """The text cascade: engines tried in order per page (``ocr``, ``openai``, ``transformers``).

    The API key comes from ``EnvVar`` (e.g. ``EnvVar("OPENROUTER_API_KEY")``) and is never logged.
    """

    engines: list[str] = Field(default_factory=lambda: ["ocr"])
    openai_base_url: str = "https://openrouter.ai/api/v1"
    openai_model: str = "google/gemma-3-27b-it"
    openai_api_key: str = ""
    openai_timeout_s: float = 120.0
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    transformers_model: str = "HuggingFaceTB/SmolVLM-256M-Instruct"
    max_concurrency: int = 2
    cache_dir: str

    def build(self) -> TextCascade:
        builders = {
            "ocr": lambda: OcrEngine(),
            "openai": lambda: OpenAIEngine(
                self.openai_base_url,
                self.openai_model,
                api_key_env=None,
                api_key=self.openai_api_key or None,
                timeout_s=self.openai_timeout_s,
                price_in_per_mtok=self.price_in_per_mtok,
                price_out_per_mtok=self.price_out_per_mtok,
            ),
            "transformers": lambda: TransformersEngine(self.transformers_model),
        }
        unknown = [name for name in self.engines if name not in builders]
        if unknown or not self.engines:
            raise ValueError(f"unknown text engine(s) {unknown}; choose from {list(builders)}")
        cache = TextCache(Path(self.cache_dir) / "page_text.sqlite")
        return TextCascade(
            [builders[name]() for name in self.engines],
            cache=cache,
            max_concurrency=self.max_concurrency,
        )


class DataQualityResource(dg.ConfigurableResource):
    """Thresholds of the data-quality checks and of the non-comic classifier."""

    # Above the original work's 23.5 %; OCR pages with silent panels keep it well below 1.
    min_panel_agreement_rate: float = 0.3
    min_aligned_rate: float = 0.8
    max_non_comic_fraction: float = 0.25
    text_page_min_text_area: float = QualityThresholds.text_page_min_text_area
    very_dark_max_brightness: float = QualityThresholds.very_dark_max_brightness

    def thresholds(self) -> QualityThresholds:
        return replace(
            QualityThresholds(),
            text_page_min_text_area=self.text_page_min_text_area,
            very_dark_max_brightness=self.very_dark_max_brightness,
        )


class MlflowResource(dg.ConfigurableResource):
    """Our MLflow tracking store and registry (no dagster-mlflow): SQLite plus local artifacts."""

    tracking_db: str
    artifact_root: str
    experiment: str = "closure-lite"
    ui_base: str = "http://127.0.0.1:5000"

    def tracker(self, experiment: str | None = None) -> Tracker:
        return Tracker(
            sqlite_tracking_uri(self.tracking_db),
            self.artifact_root,
            experiment or self.experiment,
            ui_base=self.ui_base,
        )


class ClosureLiteResource(dg.ConfigurableResource):
    """Closure Lite's encoders, training settings, and the variant that embeds the corpus.

    Encoders are frozen by default; their outputs are cached per panel crop and text in
    ``cache_dir``, so retraining a variant and re-embedding an unchanged partition encode
    nothing twice. ``finetune_vision`` (for GPUs) trains the default vision encoder on panel
    crops with the model; the embeddings then use the champion's own encoder.
    """

    text_encoder: str = Field(
        default="", description="Hub id or local path; empty: all-MiniLM-L6-v2 from PyPI."
    )
    vision_encoder: str = Field(
        default="", description="Hub id or local path; empty: EfficientNet-Lite0 from PyPI."
    )
    device: str = Field(default="cpu", description="torch device: cpu, cuda, cuda:1, mps.")
    finetune_vision: bool = Field(
        default=False,
        description="Fine-tune the EfficientNet-Lite0 vision encoder on panel crops (GPU).",
    )
    cache_dir: str
    embedding_variant: str = Field(
        default="context-denoise", description="Variant whose champion embeds the corpus."
    )
    max_epochs: int = 60
    patience: int = 15
    seed: int = 7
    threads: int = Field(default=2, description="torch CPU threads for training and embedding.")

    def config(self, variant: str) -> ClosureLiteConfig:
        if self.finetune_vision and self.vision_encoder:
            raise ValueError(
                f"finetune_vision trains the default EfficientNet-Lite0 encoder; vision encoder "
                f"{self.vision_encoder!r} can be used frozen only"
            )
        return ClosureLiteConfig(
            variant=variant,
            max_epochs=self.max_epochs,
            patience=self.patience,
            finetune_vision=self.finetune_vision,
        )

    def crops(self, lake: Lake, table: pl.DataFrame) -> PanelCrops | None:
        """The panel crops fine-tuning trains on (None when the encoders are frozen)."""
        from comix_resources.closure_lite.encoders import lake_image_loader

        return PanelCrops(table, lake_image_loader(lake)) if self.finetune_vision else None

    def encode(
        self,
        lake: Lake,
        table: pl.DataFrame,
        whole_page: bool = False,
        vision_encoder: Encoder | None = None,
    ) -> PanelFeatures:
        """``PanelFeatures`` of DataSpec rows whose images are in ``lake``; ``vision_encoder``
        replaces the configured one (a fine-tuned champion's, ``ClosureLitePredictor``)."""
        import torch

        from comix_resources.closure_lite.encoders import (
            FeatureCache,
            TextEncoder,
            VisionEncoder,
            encode_pages,
            lake_image_loader,
        )

        torch.set_num_threads(self.threads)
        cache = FeatureCache(Path(self.cache_dir) / "closure_lite_features.sqlite")
        try:
            return encode_pages(
                table,
                lake_image_loader(lake),
                TextEncoder(self.text_encoder or None, device=self.device),
                vision_encoder or VisionEncoder(self.vision_encoder or None, device=self.device),
                cache,
                whole_page=whole_page,
            )
        finally:
            cache.close()


class PageStreamResource(dg.ConfigurableResource):
    """Page stream segmentation: labels, training settings, and the page encoders it shares
    with Closure Lite (and their cache)."""

    cache_dir: str
    labels_file: str = Field(
        default="",
        description="A CoSMo split file keyed by book_id (format: comix_resources.page_stream."
        "labels); `.truth.json` files beside books are read as well.",
    )
    text_encoder: str = ""
    vision_encoder: str = ""
    device: str = "cpu"
    max_epochs: int = 80
    seed: int = 7
    threads: int = 2

    def labels(self) -> dict[str, list[str | None]] | None:
        from comix_resources.page_stream import read_cosmo_splits

        return read_cosmo_splits(self.labels_file) if self.labels_file else None

    def config(self) -> PageStreamConfig:
        return PageStreamConfig(max_epochs=self.max_epochs)

    def encode(self, lake: Lake, rows: list[dict]) -> list:
        """``BookFeatures`` with page vectors for page rows (``page_stream.page_rows``)."""
        import torch

        from comix_resources.closure_lite.encoders import (
            FeatureCache,
            TextEncoder,
            VisionEncoder,
            lake_image_loader,
        )
        from comix_resources.page_stream import encode_books

        torch.set_num_threads(self.threads)
        cache = FeatureCache(Path(self.cache_dir) / "page_stream_features.sqlite")
        try:
            return encode_books(
                rows,
                lake_image_loader(lake),
                VisionEncoder(self.vision_encoder or None, device=self.device),
                TextEncoder(self.text_encoder or None, device=self.device),
                cache,
            )
        finally:
            cache.close()
