"""onnxruntime stays out of the code location, and writes nothing under HOME when it loads."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

PROJECT_ROOT = Path(__file__).resolve().parents[1]


def _python(code: str, home: Path) -> str:
    env = {k: v for k, v in os.environ.items() if k != "ORT_DISABLE_TELEMETRY"}
    env.update(HOME=str(home), PYTHONPATH=str(PROJECT_ROOT))
    done = subprocess.run(
        [sys.executable, "-c", code], env=env, capture_output=True, text=True, timeout=300
    )
    assert done.returncode == 0, done.stderr[-2000:]
    return done.stdout


def test_definitions_load_without_onnxruntime_and_ocr_leaves_home_alone(tmp_path: Path) -> None:
    out = _python(
        "import sys, comix_assets.definitions\n"
        "print('onnxruntime' in sys.modules, 'pymupdf' in sys.modules)\n"
        "from comix_resources.text import OcrEngine\n"
        "import numpy\n"
        "OcrEngine().read_lines(numpy.full((64, 64, 3), 255, 'uint8'))\n"
        "print('onnxruntime' in sys.modules)\n",
        tmp_path,
    )
    assert out.split() == ["False", "False", "True"]
    # the telemetry SDK keeps a device id and an event store under ~/.cache/Microsoft
    assert list(tmp_path.rglob("*")) == []
