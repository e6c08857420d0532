"""Thin Dagster resources over the engines: they hold configuration and build the engines.

Defaults come from ``ComixSettings`` (each written once, there); the work is the engines'.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import dagster as dg
import polars as pl
from pydantic import Field

from comix_resources.cache_store import cache_location
from comix_resources.closure_lite.config import ClosureLiteConfig
from comix_resources.closure_lite.encoding import PanelCrops
from comix_resources.closure_lite.features import PanelFeatures
from comix_resources.detection import PanelDetector, make_detector
from comix_resources.detection.training import TrainConfig
from comix_resources.encoders import Encoder, EncoderSettings
from comix_resources.fingerprints import FingerprintCache
from comix_resources.lake import Lake
from comix_resources.page_stream.config import PageStreamConfig
from comix_resources.pages import ExtractionLimits
from comix_resources.quality import QualityThresholds
from comix_resources.settings import CACHE_URL_VARIABLE, ComixSettings
from comix_resources.sources import Collection, ComicSource
from comix_resources.sources.registry import source_spec
from comix_resources.text import OcrEngine, OpenAIEngine, TextCache, TextCascade, TransformersEngine
from comix_resources.text.cascade import DEFAULT_MAX_CONCURRENCY
from comix_resources.tracking import Tracker, sqlite_tracking_uri

if TYPE_CHECKING:
    from comix_resources.shards import PlannedPartition


def shared_cache_url(settings: ComixSettings) -> str:
    """``COMIX_CACHE_URL`` as an ``EnvVar`` (it holds a password: the UI shows only the
    variable's name), or "" for the SQLite files under ``$COMIX_HOME/cache``."""
    return dg.EnvVar(CACHE_URL_VARIABLE) if settings.cache_url else ""  # type: ignore[return-value]


class LakeResource(dg.ConfigurableResource):
    """Where every table and image lives: a local folder or any fsspec URL."""

    root: str

    def lake(self) -> Lake:
        return Lake(self.root)


class ComicSourcesResource(dg.ConfigurableResource):
    """The comic sources by name (``sources.registry``); a missing root: not configured."""

    roots: dict[str, str] = Field(default_factory=dict)
    calibre_collection_by: str = ComixSettings.calibre_collection_by
    page_name_pattern: str = ComixSettings.page_name_pattern
    cache_dir: str
    cache_url: str = ""  # a database every worker shares (EnvVar); "": SQLite in cache_dir
    shard_pages: int = ComixSettings.shard_pages

    def source(self, name: str) -> ComicSource | None:
        spec = source_spec(name)
        root = self.roots.get(name, "")
        if not root:
            return None
        return spec.open(Path(root), self.calibre_collection_by, self.page_name_pattern)

    def partition(self, name: str, partition_key: str) -> Collection:
        """The collection, or shard of one, behind a partition key; KeyError if unknown."""
        from comix_resources.shards import shard_of, split_key

        comic_source = self.source(name)
        if comic_source is None:
            raise KeyError(f"source {name!r} is not configured")
        collection, prefixes = split_key(partition_key)
        return shard_of(comic_source.collection(collection), prefixes, self.fingerprints())

    def plan(
        self, collection: Collection, current_keys: Iterable[str], deadline: float | None = None
    ) -> list[PlannedPartition]:
        """The collection's partitions: itself, or its shards (``comix_resources.shards``)."""
        from comix_resources.shards import plan_partitions

        return plan_partitions(
            collection, self.fingerprints(), self.shard_pages, current_keys, deadline=deadline
        )

    def root_variable(self, name: str) -> str:
        return source_spec(name).root_variable

    def fingerprints(self) -> FingerprintCache:
        return FingerprintCache(
            cache_location(self.cache_url, self.cache_dir, "fingerprints.sqlite")
        )

    @classmethod
    def from_settings(cls, settings: ComixSettings) -> ComicSourcesResource:
        return cls(
            roots={name: str(root) for name, root in settings.source_roots.items() if root},
            calibre_collection_by=settings.calibre_collection_by,
            page_name_pattern=settings.page_name_pattern,
            cache_dir=str(settings.cache_dir),
            cache_url=shared_cache_url(settings),
            shard_pages=settings.shard_pages,
        )


class PageExtractionResource(dg.ConfigurableResource):
    """Limits that protect the platform from hostile archives, and the PDF render DPI."""

    max_total_bytes: int = ExtractionLimits.max_total_bytes
    max_entry_bytes: int = ExtractionLimits.max_entry_bytes
    max_entries: int = ExtractionLimits.max_entries
    max_pages: int = ExtractionLimits.max_pages
    max_pixels: int = ExtractionLimits.max_pixels
    max_decoded_bytes: int = ExtractionLimits.max_decoded_bytes
    max_compression_ratio: float = ExtractionLimits.max_compression_ratio
    pdf_dpi: int = ExtractionLimits.pdf_dpi
    max_rendered_pixels: int = ExtractionLimits.max_rendered_pixels
    warn_failure_rate: float = 0.10

    def limits(self) -> ExtractionLimits:
        return ExtractionLimits(
            max_total_bytes=self.max_total_bytes,
            max_entry_bytes=self.max_entry_bytes,
            max_entries=self.max_entries,
            max_pages=self.max_pages,
            max_pixels=self.max_pixels,
            max_decoded_bytes=self.max_decoded_bytes,
            max_compression_ratio=self.max_compression_ratio,
            pdf_dpi=self.pdf_dpi,
            max_rendered_pixels=self.max_rendered_pixels,
        )


class PanelDetectorResource(dg.ConfigurableResource):
    """Which panel detector runs, and the collections read right to left (manga)."""

    detector: str = ComixSettings.detector
    checkpoint: str = ""  # fasterrcnn: a .pth state_dict such as CoMix's faster_rcnn-c100-best
    score_threshold: float = 0.5
    device: str = "cpu"
    rtl_collections: list[str] = Field(default_factory=list)
    # learned: the champion of ``panel-detector`` in this MLflow store
    tracking_uri: str = ""
    artifact_root: str = ""

    def build(self) -> PanelDetector:
        if self.detector == "learned":
            from comix_resources.detection.registry import EXPERIMENT, champion_detector

            tracker = Tracker(self.tracking_uri, self.artifact_root or None, EXPERIMENT)
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
    # The real pages the detector is judged by: a CBZ and its truth file (the format of
    # shared/fixtures/real_pages); the gate compares the learned detector with contour there.
    eval_pages: str = ComixSettings.detector_eval_pages
    eval_truth: str = ComixSettings.detector_eval_truth
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

    engines: list[str] = Field(default_factory=lambda: list(ComixSettings.text_engines))
    openai_base_url: str = ComixSettings.vlm_base_url
    openai_model: str = ComixSettings.vlm_model
    openai_api_key: str = ""
    openai_timeout_s: float = 120.0
    price_in_per_mtok: float = 0.0
    price_out_per_mtok: float = 0.0
    transformers_model: str = ComixSettings.vlm_local_model
    ocr_alphabet: str = Field(
        default=ComixSettings.ocr_alphabet,
        description="What offline OCR reads: latin, or all (every character of its model).",
    )
    max_concurrency: int = Field(
        default=DEFAULT_MAX_CONCURRENCY,
        description="Requests in flight to a remote engine (vLLM and OpenRouter take dozens).",
    )
    skip_ocr_non_comic: bool = Field(
        default=True,
        description="Pages the triage is sure are not comics skip OCR recognition too "
        "(VLM engines are always skipped for them).",
    )
    workers: int = Field(
        default=0, description="Processes for the per-page work; 0: COMIX_WORKERS or every core."
    )
    cache_dir: str
    cache_url: str = ""  # a database every worker shares (EnvVar); "": SQLite in cache_dir

    def build(self) -> TextCascade:
        builders = {
            "ocr": lambda: OcrEngine(alphabet=self.ocr_alphabet),
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
        cache = TextCache(cache_location(self.cache_url, self.cache_dir, "page_text.sqlite"))
        return TextCascade(
            [builders[name]() for name in self.engines],
            cache=cache,
            max_concurrency=self.max_concurrency,
            skip_ocr_non_comic=self.skip_ocr_non_comic,
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
    """Our MLflow tracking store and registry (no dagster-mlflow): SQLite plus local artifacts
    on one machine; on the stack an MLflow server (``tracking_uri``) with artifacts on S3."""

    tracking_db: str = ""
    tracking_uri: str = ""  # a server or database URI; wins over tracking_db
    artifact_root: str = ""  # a folder or URL (s3://...); "" lets a server choose
    experiment: str = "closure-lite"
    ui_base: str = "http://127.0.0.1:5000"

    def tracker(self, experiment: str | None = None) -> Tracker:
        return Tracker(
            self.tracking_uri or sqlite_tracking_uri(self.tracking_db),
            self.artifact_root or None,
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
        default=ComixSettings.text_encoder,
        description="Hub id or local path; empty: all-MiniLM-L6-v2 from PyPI.",
    )
    vision_encoder: str = Field(
        default=ComixSettings.vision_encoder,
        description="Hub id or local path; empty: EfficientNet-Lite0 from PyPI.",
    )
    device: str = Field(
        default=ComixSettings.device, description="torch device: cpu, cuda, cuda:1, mps."
    )
    finetune_vision: bool = Field(
        default=ComixSettings.finetune_vision,
        description="Fine-tune the EfficientNet-Lite0 vision encoder on panel crops (GPU).",
    )
    cache_dir: str
    cache_url: str = ""  # a database every worker shares (EnvVar); "": SQLite in cache_dir
    embedding_variant: str = Field(
        default=ComixSettings.embedding_variant,
        description="Variant whose champion embeds the corpus.",
    )
    max_epochs: int = ComixSettings.train_max_epochs
    patience: int = ClosureLiteConfig.patience
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

    def encoders(self) -> EncoderSettings:
        return EncoderSettings(
            text_model=self.text_encoder,
            vision_model=self.vision_encoder,
            device=self.device,
            threads=self.threads,
            cache_path=cache_location(
                self.cache_url, self.cache_dir, "closure_lite_features.sqlite"
            ),
            cache_name="closure_lite_features",
        )

    def crops(self, lake: Lake, table: pl.DataFrame) -> PanelCrops | None:
        """The panel crops fine-tuning trains on (None when the encoders are frozen)."""
        from comix_resources.encoders import lake_image_loader

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
        from comix_resources.closure_lite.encoding import encode_lake_pages

        return encode_lake_pages(lake, table, self.encoders(), whole_page, vision_encoder)


class PageStreamResource(dg.ConfigurableResource):
    """Page stream segmentation: labels, training settings, and the page encoders it shares
    with Closure Lite (and their cache)."""

    cache_dir: str
    cache_url: str = ""  # a database every worker shares (EnvVar); "": SQLite in cache_dir
    labels_file: str = Field(
        default=ComixSettings.page_type_labels,
        description="A CoSMo split file keyed by book_id (format: comix_resources.page_stream."
        "labels); `.truth.json` files beside books are read as well.",
    )
    text_encoder: str = ComixSettings.text_encoder
    vision_encoder: str = ComixSettings.vision_encoder
    device: str = ComixSettings.device
    max_epochs: int = PageStreamConfig.max_epochs
    seed: int = 7
    threads: int = 2

    def labels(self) -> dict[str, list[str | None]] | None:
        from comix_resources.page_stream import read_cosmo_splits

        return read_cosmo_splits(self.labels_file) if self.labels_file else None

    def config(self) -> PageStreamConfig:
        return PageStreamConfig(max_epochs=self.max_epochs)

    def encode(self, lake: Lake, rows: list[dict]) -> list:
        """``BookFeatures`` with page vectors for page rows (``page_stream.page_rows``)."""
        from comix_resources.page_stream import encode_lake_books

        settings = EncoderSettings(
            text_model=self.text_encoder,
            vision_model=self.vision_encoder,
            device=self.device,
            threads=self.threads,
            cache_path=cache_location(
                self.cache_url, self.cache_dir, "page_stream_features.sqlite"
            ),
            cache_name="page_stream_features",
        )
        return encode_lake_books(lake, rows, settings)
