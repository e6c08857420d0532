"""Page types of books: the trained model's predictor (save/load), predictions for many books,
and the ``page_types`` table with story segments."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Protocol

import numpy as np

from comix_resources.page_classes import PAGE_CLASSES
from comix_resources.page_stream.config import PageStreamConfig
from comix_resources.page_stream.features import BookFeatures
from comix_resources.page_stream.labels import Segment, segments
from comix_resources.torch_models import read_model_folder, save_model_folder

if TYPE_CHECKING:
    import polars as pl

    from comix_resources.page_stream.model import PageStreamModel


class Predictor(Protocol):
    """``RulePredictor`` and ``PageStreamPredictor``."""

    classes: tuple[str, ...]
    name: str

    def predict(self, book: BookFeatures) -> tuple[list[str], np.ndarray]: ...


class PageStreamPredictor:
    """Page classes from encoded ``BookFeatures``; ``save``/``load`` a folder with
    ``config.json`` and ``state_dict.pt`` (weights only, loaded with ``weights_only=True``)."""

    name = "model"

    def __init__(self, model: PageStreamModel) -> None:
        self.model = model.eval()

    @property
    def config(self) -> PageStreamConfig:
        return self.model.config

    @property
    def classes(self) -> tuple[str, ...]:
        return tuple(self.config.classes)

    def predict(self, book: BookFeatures) -> tuple[list[str], np.ndarray]:
        """``(labels, probabilities (n, C))``. A book longer than ``max_pages`` is read in
        consecutive windows of ``max_pages``."""
        import torch

        if book.vision is None or book.text is None:
            raise ValueError(f"book {book.book_id} is not encoded (encode_books)")
        probs = []
        step = self.config.max_pages
        with torch.inference_mode():
            for start in range(0, len(book), step):
                part = slice(start, start + step)
                logits = self.model(
                    torch.from_numpy(np.asarray(book.vision[part], np.float32))[None],
                    torch.from_numpy(np.asarray(book.text[part], np.float32))[None],
                    torch.from_numpy(np.asarray(book.scalars[part], np.float32))[None],
                    torch.ones(1, len(book.page_ids[part]), dtype=torch.bool),
                )
                probs.append(torch.softmax(logits[0], -1).numpy())
        p = np.concatenate(probs) if probs else np.zeros((0, len(self.classes)), np.float32)
        return [self.classes[i] for i in p.argmax(1)], p.astype(np.float32)

    def save(self, path: str | Path) -> None:
        save_model_folder(path, self.config.to_json(), self.model)

    @classmethod
    def load(cls, path: str | Path) -> PageStreamPredictor:
        from comix_resources.page_stream.model import PageStreamModel

        config_json, state = read_model_folder(path)
        model = PageStreamModel(PageStreamConfig.from_json(config_json))
        model.load_state_dict(state)
        return cls(model)


@dataclass
class BookPrediction:
    book_id: str
    page_ids: list[str]
    page_indices: list[int]
    labels: list[str]
    probabilities: np.ndarray  # (n, C), columns in ``classes`` order
    classes: tuple[str, ...]
    method: str

    @property
    def segments(self) -> list[Segment]:
        return segments(self.labels, self.page_indices)


def predict_books(predictor: Predictor, books: Sequence[BookFeatures]) -> list[BookPrediction]:
    """One ``BookPrediction`` per book, in the books' order."""
    out = []
    for book in books:
        labels, probs = predictor.predict(book)
        out.append(
            BookPrediction(
                book.book_id,
                list(book.page_ids),
                list(book.page_indices),
                labels,
                probs,
                tuple(predictor.classes),
                predictor.name,
            )
        )
    return out


PAGE_TYPES_COLUMNS = (
    "page_id",
    "book_id",
    "page_index",
    "page_type",
    "probability",
    "probabilities",
    "segment_index",
    "segment_type",
    "segment_start",
    "segment_end",
    "method",
)


def page_types_table(predictions: Sequence[BookPrediction]) -> pl.DataFrame:
    """The ``page_types`` table: one row per page, sorted by page_id, with its class, the
    class's probability, every class's probability (a struct in ``classes`` order), and the
    story segment it belongs to (index within the book, type, first and last page_index).
    ``method`` is ``rules`` or ``model``."""
    import polars as pl

    rows: list[dict[str, Any]] = []
    # An empty table keeps the full schema (a struct without fields would not write).
    classes: tuple[str, ...] = predictions[0].classes if predictions else PAGE_CLASSES
    for pred in predictions:
        seg_of: dict[int, tuple[int, Segment]] = {}
        for k, seg in enumerate(pred.segments):
            for index in pred.page_indices:
                if seg.start_page <= index <= seg.end_page:
                    seg_of[index] = (k, seg)
        for i, page_id in enumerate(pred.page_ids):
            k, seg = seg_of[pred.page_indices[i]]
            rows.append(
                {
                    "page_id": page_id,
                    "book_id": pred.book_id,
                    "page_index": pred.page_indices[i],
                    "page_type": pred.labels[i],
                    "probability": float(pred.probabilities[i, pred.classes.index(pred.labels[i])]),
                    "probabilities": {
                        c: float(pred.probabilities[i, j]) for j, c in enumerate(classes)
                    },
                    "segment_index": k,
                    "segment_type": seg.segment_type,
                    "segment_start": seg.start_page,
                    "segment_end": seg.end_page,
                    "method": pred.method,
                }
            )
    from comix_resources.tables import PAGE_TYPES

    schema = {
        **PAGE_TYPES.schema,
        "probabilities": pl.Struct({c: pl.Float64() for c in classes}),
    }
    return pl.DataFrame(rows, schema=schema, orient="row").sort("page_id")


def segments_table(predictions: Sequence[BookPrediction]) -> pl.DataFrame:
    """Story segments per book: book_id, segment_index, segment_type, start_page, end_page,
    pages, and the mean probability of the segment's page classes (``confidence``)."""
    import polars as pl

    rows = []
    for pred in predictions:
        position = {index: i for i, index in enumerate(pred.page_indices)}
        for k, seg in enumerate(pred.segments):
            members = [
                position[x] for x in pred.page_indices if seg.start_page <= x <= seg.end_page
            ]
            confidence = np.mean(
                [pred.probabilities[i, pred.classes.index(pred.labels[i])] for i in members]
            )
            rows.append(
                {
                    "book_id": pred.book_id,
                    "segment_index": k,
                    "segment_type": seg.segment_type,
                    "start_page": seg.start_page,
                    "end_page": seg.end_page,
                    "pages": len(members),
                    "confidence": float(confidence),
                }
            )
    schema = {
        "book_id": pl.String(),
        "segment_index": pl.Int32(),
        "segment_type": pl.String(),
        "start_page": pl.Int32(),
        "end_page": pl.Int32(),
        "pages": pl.Int32(),
        "confidence": pl.Float64(),
    }
    return pl.DataFrame(rows, schema=schema, orient="row")
