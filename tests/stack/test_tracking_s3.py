"""MLflow artifacts on a real S3 server, written by the tracker straight to the bucket."""

from __future__ import annotations

from pathlib import Path

import pytest
import s3fs

from comix_resources.tracking import Tracker, sqlite_tracking_uri

from .conftest import S3Server

pytestmark = pytest.mark.slow


def test_artifacts_go_to_the_bucket_and_come_back(
    s3: S3Server, s3_prefix: str, tmp_path: Path
) -> None:
    root = f"{s3_prefix}/mlartifacts"
    tracker = Tracker(sqlite_tracking_uri(tmp_path / "mlflow.db"), root, "s3-artifacts")
    assert tracker.artifact_location == root

    def save(folder: Path) -> None:
        (folder / "weights.bin").write_bytes(b"\x00\x01" * 5000)
        (folder / "config.json").write_text('{"dim": 384}')

    with tracker.start_run("upload") as run_id:
        tracker.log_folder(save, "predictor")
    bucket = s3fs.S3FileSystem(endpoint_url=s3.endpoint, key=s3.key, secret=s3.secret)
    stored = bucket.find(root.removeprefix("s3://"))
    assert sorted(path.rsplit("/", 1)[-1] for path in stored) == ["config.json", "weights.bin"]
    assert all(f"/{run_id}/artifacts/predictor/" in path for path in stored)
    copy = tracker.download_artifacts(run_id, "predictor", tmp_path / "download")
    assert (copy / "weights.bin").read_bytes() == b"\x00\x01" * 5000
    # Nothing was written beside the database: the bucket holds the artifacts.
    assert sorted(p.name for p in tmp_path.iterdir()) == ["download", "mlflow.db"]
