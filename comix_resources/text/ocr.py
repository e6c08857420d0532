"""Offline page text with RapidOCR: text lines grouped into balloons and captions, then labelled.

RapidOCR ships its ONNX models (PP-OCR det/rec) inside the wheel, so this engine needs no
network. It returns text lines; comics need balloons, so lines that sit on top of each other
with overlapping columns and the same glyph height are merged into one item. Each item is
then labelled:

- ``sfx``: a few words in glyphs much bigger than the page's speech, or big and shouted.
- ``narration``: text whose background region (the pixels of the background colour
  connected to the text) is a closed rectangle, or tinted, or not closed at all (text laid
  on the art or the paper). Caption boxes are rectangles, often yellow.
- ``dialogue``: text in a closed, white, non-rectangular region: a balloon.
"""

from __future__ import annotations

import copy
import math
import threading
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from importlib import metadata
from pathlib import Path
from typing import Any

import numpy as np

from comix_resources.text.base import Box, EngineAnswer, EngineError, TextItem

GROUPING_VERSION = "g1"  # part of the model string, hence of the cache key
# How lines are found and read (our own det/rec driver, see OcrEngine); part of the model too.
PIPELINE_VERSION = "p2"
REC_HEIGHT = 48  # the recognition model's input height
PREPROCESS_MAX_SIDE = 2000  # RapidOCR's own cap before detection; recognition crops from here
ALPHABETS = ("latin", "all")

Quad = np.ndarray  # 4 x 2 float32 corners of one detected line, in image pixels


@dataclass
class _Line:
    x0: float
    y0: float
    x1: float
    y1: float
    height: float  # glyph height along the line's own slant, not the axis-aligned box
    text: str
    score: float

    @property
    def width(self) -> float:
        return self.x1 - self.x0


def _models_dir() -> Path:
    from importlib.util import find_spec

    spec = find_spec("rapidocr")
    if spec is None or spec.origin is None:  # pragma: no cover - a dependency of the project
        raise EngineError("rapidocr is not installed")
    return Path(spec.origin).parent / "models"


class OcrEngine:
    """RapidOCR's PP-OCR models with comic grouping, driven by us rather than by RapidOCR's
    pipeline, because where the time goes is decided here (measured by
    ``comix bench pipeline``):

    - detection sees the page with its longer side at most ``det_limit_side_len`` pixels
      (lettering stays legible; a bigger scan is shrunk first), one pass;
    - recognition reads every line of a page in batches of lines of similar length, each
      batch padded only to its own longest line (RapidOCR pads every batch to at least 320
      pixels and batches six at a time);
    - onnxruntime runs with ``threads`` intra-op threads (default 1: a process per core
      reads more pages per core than one process with threads that spin while they wait)
      and its memory arena on (it re-allocates every tensor of every page otherwise);
    - with ``alphabet="latin"`` the recognition model's last layer scores only the Latin
      script, digits, punctuation and common symbols (821 of its 18,710 classes, see
      ``latin_character``): that layer and its softmax were about a seventh of recognition, and a
      line of English can no longer come out as a Chinese character. ``"all"`` keeps every
      class (comics lettered in Chinese or Japanese).

    ``detect_lines`` is the detection stage alone: the triage's text-line density and, for
    pages that go on to be read, the same lines recognition takes.
    """

    name = "ocr"
    remote = False
    costly = False  # skipped on non-comic pages only when the cascade says so
    max_retries = 0  # a local engine gives the same answer twice
    base_delay_s = 0.0

    def __init__(
        self,
        det_limit_side_len: int = 1280,
        min_score: float = 0.5,
        threads: int = 1,
        rec_batch: int = 4,
        alphabet: str = "latin",
    ) -> None:
        if alphabet not in ALPHABETS:
            raise ValueError(f"unknown OCR alphabet {alphabet!r}: one of {', '.join(ALPHABETS)}")
        self.alphabet = alphabet
        self.det_limit_side_len = det_limit_side_len
        self.min_score = min_score
        self.threads = threads
        self.rec_batch = rec_batch
        self.model = (
            f"rapidocr-{metadata.version('rapidocr')}/det{det_limit_side_len}"
            f"/{GROUPING_VERSION}/{PIPELINE_VERSION}"
        ) + ("" if alphabet == "all" else f"/{alphabet}")
        self._parts: dict[str, Any] | None = None
        # onnxruntime sessions may run concurrently, but one page at a time per engine keeps
        # the arena's memory bounded and the thread count what was asked for.
        self._lock = threading.Lock()

    def __repr__(self) -> str:
        return f"OcrEngine({self.model!r})"

    def __getstate__(self) -> dict[str, Any]:
        # sent to worker processes: each loads its own sessions on first use
        return {k: v for k, v in self.__dict__.items() if k not in ("_parts", "_lock")}

    def __setstate__(self, state: dict[str, Any]) -> None:
        self.__dict__.update(state)
        self._parts = None
        self._lock = threading.Lock()

    def _load(self) -> dict[str, Any]:
        if self._parts is None:
            import onnxruntime as ort
            from rapidocr.ch_ppocr_det.utils import DBPostProcess
            from rapidocr.ch_ppocr_rec.utils import CTCLabelDecode

            options = ort.SessionOptions()
            options.intra_op_num_threads = self.threads
            options.inter_op_num_threads = 1
            options.enable_cpu_mem_arena = True
            options.log_severity_level = 3
            options.graph_optimization_level = ort.GraphOptimizationLevel.ORT_ENABLE_ALL
            # threads that spin between tensors burn a core they do not use
            options.add_session_config_entry("session.intra_op.allow_spinning", "0")
            models = _models_dir()

            def session(model: str | bytes) -> Any:
                return ort.InferenceSession(model, options, providers=["CPUExecutionProvider"])

            det = session(str(models / "PP-OCRv6_det_small.onnx"))
            rec_path = models / "PP-OCRv6_rec_small.onnx"
            if self.alphabet == "all":
                rec = session(str(rec_path))
                characters = rec.get_modelmeta().custom_metadata_map["character"].splitlines()
            else:
                model, characters = restricted_recognizer(rec_path, latin_character)
                rec = session(model)
            self._parts = {
                "det": det,
                "rec": rec,
                # RapidOCR's defaults for this model (config.yaml)
                "post": DBPostProcess(
                    thresh=0.3,
                    box_thresh=0.5,
                    max_candidates=1000,
                    unclip_ratio=1.6,
                    use_dilation=True,
                    score_mode="fast",
                ),
                "ctc": CTCLabelDecode(character=characters),
            }
        return self._parts

    def detect_lines(self, image: np.ndarray) -> list[Quad]:
        """Text-line quads of an RGB page, in its pixels."""
        import cv2

        with self._lock:
            parts = self._load()
            h, w = image.shape[:2]
            ratio = min(1.0, self.det_limit_side_len / max(h, w))
            dh, dw = max(32, round(h * ratio / 32) * 32), max(32, round(w * ratio / 32) * 32)
            small = cv2.resize(image, (dw, dh), interpolation=cv2.INTER_LINEAR)[..., ::-1]
            # the models were trained on OpenCV's BGR order: red lettering reads as blue else
            tensor = (small.astype(np.float32) * (2 / 255.0) - 1.0).transpose(2, 0, 1)[None]
            prob = parts["det"].run(None, {parts["det"].get_inputs()[0].name: tensor})[0]
            quads, _ = parts["post"](prob, (h, w))
        return [np.asarray(q, dtype=np.float32) for q in quads]

    def recognize(self, image: np.ndarray, quads: Sequence[Quad]) -> list[_Line]:
        """Read the lines at ``quads`` of an RGB page; empty and low-score lines are dropped."""
        if not quads:
            return []
        import cv2
        from rapidocr.utils.process_img import get_rotate_crop_image

        crops = [get_rotate_crop_image(image, copy.deepcopy(q))[..., ::-1] for q in quads]
        ratios = np.array([c.shape[1] / max(1, c.shape[0]) for c in crops])
        order = np.argsort(ratios, kind="stable")
        results: list[tuple[str, float]] = [("", 0.0)] * len(crops)
        with self._lock:
            parts = self._load()
            rec, ctc = parts["rec"], parts["ctc"]
            name = rec.get_inputs()[0].name
            for start in range(0, len(crops), self.rec_batch):
                batch_ids = order[start : start + self.rec_batch]
                widest = float(ratios[batch_ids].max())
                width = max(8, math.ceil(REC_HEIGHT * widest / 8) * 8)
                batch = np.zeros((len(batch_ids), 3, REC_HEIGHT, width), np.float32)
                for row, i in enumerate(batch_ids):
                    w = min(width, max(1, math.ceil(REC_HEIGHT * ratios[i])))
                    line = cv2.resize(crops[i], (w, REC_HEIGHT)).astype(np.float32)
                    batch[row, :, :, :w] = (line * (2 / 255.0) - 1.0).transpose(2, 0, 1)
                decoded, _ = ctc(
                    rec.run(None, {name: batch})[0],
                    False,
                    wh_ratio_list=list(ratios[batch_ids]),
                    max_wh_ratio=widest,
                )
                for row, i in enumerate(batch_ids):
                    results[i] = decoded[row]
        lines = []
        for quad, (text, score) in zip(quads, results, strict=True):
            text = text.strip()
            if score < self.min_score or not _is_text(text):
                continue
            q = np.asarray(quad, dtype=float)
            height = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
            lines.append(
                _Line(
                    q[:, 0].min(),
                    q[:, 1].min(),
                    q[:, 0].max(),
                    q[:, 1].max(),
                    height,
                    text,
                    float(score),
                )
            )
        return lines

    def read_lines(self, image: np.ndarray) -> list[_Line]:
        """Detected and recognised text lines of an RGB page image."""
        return self.recognize(image, self.detect_lines(image))

    def extract(self, image_bytes: bytes, width: int, height: int) -> EngineAnswer:
        from comix_resources.images import load_rgb

        try:
            image = prepared(load_rgb(image_bytes, PREPROCESS_MAX_SIDE))
        except Exception as exc:  # Pillow raises many types for a broken file
            raise EngineError(f"the image cannot be decoded: {exc}") from exc
        return self.answer(image, self.read_lines(image), width, height)

    def extract_lines(
        self, image: np.ndarray, quads: Sequence[Quad], width: int, height: int
    ) -> EngineAnswer:
        """``extract`` for a page already decoded (``prepared``) and detected (``quads``)."""
        return self.answer(image, self.recognize(image, quads), width, height)

    def answer(
        self, image: np.ndarray, lines: list[_Line], width: int, height: int
    ) -> EngineAnswer:
        """Group ``lines`` (found on ``image``) into items with boxes in page pixels."""
        groups = group_lines(lines)
        page_line_h = float(np.median([ln.height for ln in lines])) if lines else 0.0
        sx, sy = width / image.shape[1], height / image.shape[0]
        items = []
        for group in groups:
            x0, y0, x1, y1 = _union(group)
            box = (x0 * sx, y0 * sy, x1 * sx, y1 * sy)
            items.append(
                TextItem(
                    text=join_lines([ln.text for ln in group]),
                    kind=classify(image, group, page_line_h),
                    bbox=_xywh(box, width, height),
                    confidence=round(float(np.mean([ln.score for ln in group])), 4),
                )
            )
        return EngineAnswer(items=tuple(items))


def latin_character(character: str) -> bool:
    """Whether the ``latin`` alphabet reads ``character``: Latin letters with their accents,
    digits, ASCII and general punctuation, currency signs, and the symbols lettering uses
    (hearts, notes, stars); not CJK, not geometric shapes (a window read as "■")."""
    code = ord(character)
    return (
        code < 0x250  # ASCII, Latin-1, Latin Extended-A and -B
        or 0x2000 <= code < 0x2070  # general punctuation: dashes, quotes, ellipsis
        or 0x20A0 <= code < 0x20D0  # currency signs
        or character == "\u2122"  # trade mark sign
        or 0x2600 <= code < 0x2700  # miscellaneous symbols
    )


def restricted_recognizer(path: Path, keep: Callable[[str], bool]) -> tuple[bytes, list[str]]:
    """The recognition model at ``path`` with its classifier cut to the characters ``keep``
    accepts: ``(model bytes, characters)``. CTC's blank (class 0) and the space (the last
    class) always stay; every other layer is untouched."""
    import onnx
    from onnx import numpy_helper

    model = onnx.load(str(path))
    meta = {p.key: p.value for p in model.metadata_props}
    characters = meta["character"].splitlines()
    classes = len(characters) + 2  # blank first, space last (CTCLabelDecode's order)
    kept = [i for i, c in enumerate(characters) if keep(c)]
    columns = np.array([0, *(i + 1 for i in kept), classes - 1])
    weights = {w.name: w for w in model.graph.initializer}
    # the classifier: the MatMul whose weight has a column per class, and its bias Add
    matmul = next(
        (
            node
            for node in model.graph.node
            if node.op_type == "MatMul"
            and node.input[1] in weights
            and list(weights[node.input[1]].dims)[-1:] == [classes]
        ),
        None,
    )
    bias = next(
        (
            node
            for node in model.graph.node
            if matmul is not None
            and node.op_type == "Add"
            and matmul.output[0] in node.input
            and any(list(weights[i].dims) == [classes] for i in node.input if i in weights)
        ),
        None,
    )
    if matmul is None or bias is None:
        raise EngineError(f"{path.name}: no classifier of {classes} classes to restrict")
    for name in [matmul.input[1], *(i for i in bias.input if i in weights)]:
        array = numpy_helper.to_array(weights[name])
        weights[name].CopyFrom(
            numpy_helper.from_array(np.ascontiguousarray(array[..., columns]), name)
        )
    for output in model.graph.output:
        output.type.tensor_type.shape.dim[-1].dim_value = len(columns)
    del model.graph.value_info[:]  # shapes inferred from the full classifier
    return model.SerializeToString(), [characters[i] for i in kept]


def prepared(rgb: np.ndarray) -> np.ndarray:
    """A decoded page as the OCR reads it: longer side at most ``PREPROCESS_MAX_SIDE``."""
    import cv2

    h, w = rgb.shape[:2]
    if max(h, w) <= PREPROCESS_MAX_SIDE:
        return rgb
    ratio = PREPROCESS_MAX_SIDE / max(h, w)
    return cv2.resize(rgb, (round(w * ratio), round(h * ratio)), interpolation=cv2.INTER_AREA)


def _is_text(text: str) -> bool:
    """Words, or a balloon of pure punctuation ("...", "?!"); not a window read as "■"."""
    return any(c.isalnum() for c in text) or (len(text) > 1 and set(text) <= set(".!?…"))


def _union(lines: list[_Line]) -> tuple[float, float, float, float]:
    return (
        min(ln.x0 for ln in lines),
        min(ln.y0 for ln in lines),
        max(ln.x1 for ln in lines),
        max(ln.y1 for ln in lines),
    )


def _xywh(box: tuple[float, float, float, float], width: int, height: int) -> Box:
    x0, y0 = max(0, round(box[0])), max(0, round(box[1]))
    x1, y1 = min(width, round(box[2])), min(height, round(box[3]))
    return (x0, y0, x1 - x0, y1 - y0)


def _same_block(a: _Line, b: _Line) -> bool:
    """Whether two lines belong to one balloon: stacked or side by side, same glyph size."""
    small, big = sorted((a.height, b.height))
    if small < 0.7 * big:
        return False
    upper, lower = (a, b) if a.y0 + a.y1 <= b.y0 + b.y1 else (b, a)
    x_overlap = min(a.x1, b.x1) - max(a.x0, b.x0)
    # Stacked: the next line starts within a fraction of a line below, in the same column.
    # Centred balloon lines and left-aligned caption lines both overlap the shorter one.
    gap = lower.y0 - upper.y1
    if gap <= 0.75 * small and x_overlap >= 0.5 * min(a.width, b.width):
        return (lower.y0 + lower.y1) - (upper.y0 + upper.y1) > small  # a row below, not beside
    # Side by side: OCR split one printed line at a wide space.
    y_overlap = min(a.y1, b.y1) - max(a.y0, b.y0)
    h_gap = -x_overlap
    return y_overlap >= 0.6 * small and 0 <= h_gap <= 1.0 * small


def group_lines(lines: list[_Line]) -> list[list[_Line]]:
    """Union-find over pairs that ``_same_block``; groups in top-to-bottom order, lines too."""
    parent = list(range(len(lines)))

    def find(i: int) -> int:
        while parent[i] != i:
            parent[i] = parent[parent[i]]
            i = parent[i]
        return i

    for i in range(len(lines)):
        for j in range(i + 1, len(lines)):
            if _same_block(lines[i], lines[j]):
                parent[find(i)] = find(j)
    groups: dict[int, list[_Line]] = {}
    for i, line in enumerate(lines):
        groups.setdefault(find(i), []).append(line)
    ordered = []
    for group in groups.values():
        # reading order inside a balloon: by row, then left to right within a row
        row_h = min(ln.height for ln in group) / 2
        ordered.append(sorted(group, key=lambda ln: (round(ln.y0 / row_h), ln.x0)))
    return sorted(ordered, key=lambda g: (min(ln.y0 for ln in g), min(ln.x0 for ln in g)))


def join_lines(texts: list[str]) -> str:
    """Join a balloon's lines; a word hyphenated across lines is put back together."""
    out = ""
    for text in texts:
        if out.endswith("-") and len(out) > 1 and out[-2].isalpha() and text[:1].islower():
            out = out[:-1] + text
        else:
            out = f"{out} {text}" if out else text
    return out


def classify(image: np.ndarray, group: list[_Line], page_line_h: float) -> str:
    """dialogue, narration or sfx for one group of lines on a BGR page (see module doc)."""
    page_h = image.shape[0]
    line_h = max(ln.height for ln in group)
    text = " ".join(ln.text for ln in group)
    words = len(text.split())
    letters = [c for c in text if c.isalpha()]
    shouted = (bool(letters) and all(c.isupper() for c in letters)) or text.endswith("!")
    relative = line_h / page_line_h if page_line_h else 1.0
    big = line_h >= 0.035 * page_h
    if (
        len(group) <= 2
        and words <= 3
        and ((big and relative >= 1.4) or (shouted and relative >= 1.8) or line_h >= 0.06 * page_h)
    ):
        return "sfx"
    region = container(image, _union(group), min(ln.height for ln in group))
    if region is None or region["tinted"] or region["fill"] >= 0.9:
        return "narration"
    return "dialogue"


def container(
    image: np.ndarray, box: tuple[float, float, float, float], line_h: float, tolerance: int = 40
) -> dict[str, float | int | bool] | None:
    """The closed region of background colour around a text box, or None if it is open.

    The background colour is the median of the text box. Pixels within
    ``tolerance`` of it that connect to the text form the region; the text box itself
    (slightly shrunk, so it never bridges a border) counts as region, letters included.
    ``fill`` is the region's area over its bounding box: about 1 for a caption box,
    pi/4 or less for an ellipse with a tail. The search window grows while the region
    reaches its edge (text is not always centred in its balloon); a region still open
    at a third of the page is the art or the paper, not a container.
    """
    h, w = image.shape[:2]
    base = max(3 * line_h, 0.5 * max(box[2] - box[0], box[3] - box[1])) + 10
    for pad in (base, 2 * base, 4 * base):
        region = _region(image, box, line_h, round(pad), tolerance)
        if region is None:
            return None
        if not region["open"]:
            # a closed region this big is a panel's flat background, not a container
            return region if region["area"] <= h * w / 9 else None
        if pad * 2 > max(h, w) / 3:
            return None
    return None


def _region(
    image: np.ndarray,
    box: tuple[float, float, float, float],
    line_h: float,
    pad: int,
    tolerance: int,
) -> dict[str, float | int | bool] | None:
    import cv2

    h, w = image.shape[:2]
    x0, y0, x1, y1 = (round(v) for v in box)
    wx0, wy0, wx1, wy1 = max(0, x0 - pad), max(0, y0 - pad), min(w, x1 + pad), min(h, y1 + pad)
    crop = image[wy0:wy1, wx0:wx1]
    bx0, by0, bx1, by1 = x0 - wx0, y0 - wy0, x1 - wx0, y1 - wy0

    # Ink covers a minority of a text line's box, so the median of the box is the colour
    # the text is printed on; a ring outside the box would straddle tight caption borders.
    inside = crop[max(0, by0) : by1, max(0, bx0) : bx1]
    if inside.size == 0:
        return None
    background = np.median(inside.reshape(-1, 3), axis=0)

    # every channel within tolerance of the background: inRange on the uint8 pixels (bounds
    # rounded inwards, so the same pixels as |pixel - background| <= tolerance)
    low = np.clip(np.ceil(background - tolerance), 0, 255)
    high = np.clip(np.floor(background + tolerance), 0, 255)
    mask = cv2.inRange(np.ascontiguousarray(crop), tuple(low.tolist()), tuple(high.tolist()))
    shrink = max(1, round(0.2 * line_h))
    mask[by0 + shrink : by1 - shrink, bx0 + shrink : bx1 - shrink] = 255
    seed_x, seed_y = (bx0 + bx1) // 2, (by0 + by1) // 2
    if mask[seed_y, seed_x] == 0:
        return None
    # the one 4-connected region around the text, filled from its centre (only its pixels
    # are visited, not every region of the window)
    area, _, _, (rx, ry, rw, rh) = cv2.floodFill(mask, None, (seed_x, seed_y), 128, flags=4)
    open_ = bool(rx == 0 or ry == 0 or rx + rw == crop.shape[1] or ry + rh == crop.shape[0])
    b, g, r = background
    return {
        "open": open_,
        "area": int(area),
        "fill": float(area / (rw * rh)),
        "tinted": bool(max(r, g, b) - min(r, g, b) > 40),
    }


def line_blocks(quads: Sequence[Quad]) -> list[tuple[float, float, float, float]]:
    """Detected lines grouped into blocks as recognised lines are (``group_lines``), as
    ``(x0, y0, x1, y1)`` boxes: the text boxes a page will have, before any line is read."""
    lines = []
    for quad in quads:
        q = np.asarray(quad, dtype=float)
        height = (np.linalg.norm(q[3] - q[0]) + np.linalg.norm(q[2] - q[1])) / 2
        lines.append(
            _Line(q[:, 0].min(), q[:, 1].min(), q[:, 0].max(), q[:, 1].max(), height, "", 1)
        )
    return [_union(group) for group in group_lines(lines) if group]
