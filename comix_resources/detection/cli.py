"""The work behind ``comix panels IMAGE_OR_DIR...``; the typer command only parses options."""

from __future__ import annotations

import json
from pathlib import Path

from comix_resources.detection import LEARNED, FasterRCNNDetector, make_detector
from comix_resources.detection.files import detect_files


def panels_command(
    paths: list[Path], detector: str = "contour", rtl: bool = False, checkpoint: Path | None = None
) -> str:
    """Kumiko-style JSON of the panels of every image (directories expanded in natural order).

    Raises FileNotFoundError for a path that does not exist and ValueError for
    an unknown detector or an unusable checkpoint, before any page is read.
    """
    missing = [str(path) for path in paths if not Path(path).exists()]
    if missing:
        raise FileNotFoundError(f"no such file or directory: {', '.join(missing)}")
    options = {} if checkpoint is None else {"checkpoint": checkpoint}
    if detector == LEARNED:
        options = {"folder": checkpoint}  # a learned-detector model folder
    elif checkpoint is not None and detector != FasterRCNNDetector.name:
        raise ValueError(
            f"--checkpoint applies to the fasterrcnn and learned detectors, not {detector!r}"
        )
    return json.dumps(detect_files(paths, make_detector(detector, **options), rtl=rtl), indent=2)
