"""Page stream segmentation (the CoSMo task): a class per page and story segments per book.

Plain Python/torch, no Dagster; torch is imported only by the modules that train or run the
model. Classes are ``comix_resources.page_classes.PAGE_CLASSES``.

API (what an asset needs):

- Inputs. ``page_rows(pages, page_text=None, page_quality=None) -> list[dict]`` joins a
  collection's lake tables into page rows (``features`` documents the keys);
  ``book_features(rows) -> list[BookFeatures]`` groups them by book with the scalar features
  (enough for the rules); ``encode_books(rows, image_loader, vision_encoder, text_encoder,
  cache=None) -> list[BookFeatures]`` adds a whole-page image vector and an OCR-text vector
  per page, with ``comix_resources.encoders``' ``VisionEncoder``, ``TextEncoder`` and
  ``FeatureCache``; ``image_loader(path) -> PIL.Image`` gets pages.parquet's lake-relative
  ``path`` (``encoders.lake_image_loader(lake)`` fits); ``encode_lake_books(lake, rows,
  settings)`` does both for lake pages.
- Predictors, both ``.predict(book) -> (labels, probabilities (n, C))``, ``.classes``,
  ``.name``: ``RulePredictor()`` (no training, documented in ``rules``), and
  ``PageStreamPredictor`` (``.save(dir)`` writes ``config.json`` and ``state_dict.pt``;
  ``PageStreamPredictor.load(dir)`` reads them with ``weights_only=True``).
- Outputs. ``predict_books(predictor, books) -> list[BookPrediction]``;
  ``page_types_table(predictions) -> pl.DataFrame`` (one row per page: page_type,
  probability, all probabilities, its segment); ``segments_table(predictions)`` (book_id,
  segment_type, start_page, end_page, ...); ``segments(labels, page_indices)``.
- Training (module ``page_stream.train``, which imports torch): ``train(books,
  PageStreamConfig(...), seed=0, val_books=None, on_epoch=None) -> TrainResult`` (books
  encoded, with ``labels``; split by ``group``/book, early stopping; ``result.model()``,
  ``result.history`` for MLflow, ``result.config``); ``split_books(books, fraction, seed)``.
- Labels. ``read_cosmo_splits(path) -> {book_id: labels}`` and ``write_cosmo_splits(books,
  path)`` (CoSMo's split-file format, documented in ``labels``); ``comicinfo_labels(
  declared_pages)`` from a book's ComicInfo page types. Unknown labels are None.
  Labelled rows straight from a demo library: ``comix_resources.demo.page_stream_rows``.
- Metrics. ``evaluate_books([(true_labels, predicted_labels), ...]) -> dict`` with accuracy,
  macro_f1, per_class, pq, sq, rq, mndd, mndd_normalised (defined in ``metrics``);
  ``comicinfo_agreement`` scores predictions against ComicInfo page types.
- Benchmark: ``python -m comix_resources.benchmarks.page_stream WORK_DIR``.
"""

from comix_resources.page_stream.config import PageStreamConfig
from comix_resources.page_stream.features import (
    SCALAR_FEATURES,
    BookFeatures,
    book_features,
    encode_books,
    encode_lake_books,
    page_rows,
)
from comix_resources.page_stream.inference import (
    BookPrediction,
    PageStreamPredictor,
    page_types_table,
    predict_books,
    segments_table,
)
from comix_resources.page_stream.labels import (
    Segment,
    comicinfo_labels,
    read_cosmo_splits,
    segments,
    write_cosmo_splits,
)
from comix_resources.page_stream.metrics import (
    comicinfo_agreement,
    evaluate_books,
    stream_metrics,
)
from comix_resources.page_stream.rules import RulePredictor

__all__ = [
    "SCALAR_FEATURES",
    "BookFeatures",
    "BookPrediction",
    "PageStreamConfig",
    "PageStreamPredictor",
    "RulePredictor",
    "Segment",
    "book_features",
    "comicinfo_agreement",
    "comicinfo_labels",
    "encode_books",
    "encode_lake_books",
    "evaluate_books",
    "page_rows",
    "page_types_table",
    "predict_books",
    "read_cosmo_splits",
    "segments",
    "segments_table",
    "stream_metrics",
    "write_cosmo_splits",
]
