from pathlib import Path

import polars as pl
import pytest

from comix_resources.lake import TMP_PREFIX, Lake


def test_parquet_is_byte_identical_for_equal_frames(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    frame = pl.DataFrame({"a": [1, 2], "b": ["x", None], "c": [[1.0], []]})
    lake.write_parquet(lake.path("s", "c", "t.parquet"), frame)
    first = (tmp_path / "lake/s/c/t.parquet").read_bytes()
    lake.write_parquet(lake.path("s", "c", "t.parquet"), frame.clone())
    assert (tmp_path / "lake/s/c/t.parquet").read_bytes() == first
    assert lake.read_parquet(lake.path("s", "c", "t.parquet")).equals(frame)


def test_failed_write_leaves_neither_target_nor_temporary(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    target = lake.path("x", "file.bin")
    with pytest.raises(RuntimeError), lake.open_atomic(target) as handle:
        handle.write(b"half")
        raise RuntimeError("killed")
    assert not Path(target).exists()
    assert not [p for p in Path(target).parent.iterdir() if p.name.startswith(TMP_PREFIX)]


def test_refuses_paths_outside_the_lake(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    with pytest.raises(ValueError):
        lake.path("..", "escape")
    with pytest.raises(ValueError):
        lake.path("a/../../b")
    with pytest.raises(ValueError), lake.open_atomic(str(tmp_path / "elsewhere.bin")):
        pass
    assert not (tmp_path / "elsewhere.bin").exists()


def test_staging_folder_replaces_a_book_in_one_rename(tmp_path: Path) -> None:
    lake = Lake(tmp_path / "lake")
    book = lake.path("s", "c", "pages", "book")
    with lake.staging_dir(book) as staging:
        lake.write_bytes(f"{staging}/0000.jpg", b"old", atomic=False)
    with pytest.raises(RuntimeError), lake.staging_dir(book) as staging:
        lake.write_bytes(f"{staging}/0000.jpg", b"half", atomic=False)
        raise RuntimeError("killed")
    assert (Path(book) / "0000.jpg").read_bytes() == b"old"
    with lake.staging_dir(book) as staging:
        lake.write_bytes(f"{staging}/0001.jpg", b"new", atomic=False)
    assert sorted(p.name for p in Path(book).iterdir()) == ["0001.jpg"]
    assert sorted(p.name for p in Path(book).parent.iterdir()) == ["book"]


def test_stale_temporaries_are_swept_by_age(tmp_path: Path) -> None:
    import os

    lake = Lake(tmp_path / "lake")
    folder = tmp_path / "lake" / "pages"
    (folder / f"{TMP_PREFIX}abc-book").mkdir(parents=True)
    (folder / f"{TMP_PREFIX}abc-book" / "0000.jpg").write_bytes(b"x")
    (folder / "book").mkdir()
    assert lake.remove_stale_temporaries(str(folder), older_than_s=3600) == []
    os.utime(folder / f"{TMP_PREFIX}abc-book", (0, 0))
    assert len(lake.remove_stale_temporaries(str(folder), older_than_s=3600)) == 1
    assert sorted(p.name for p in folder.iterdir()) == ["book"]
