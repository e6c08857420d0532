"""Source discovery (folder trees, Calibre libraries) and book metadata, free of Dagster."""

from comix_resources.sources.calibre import CALIBRE_FORMATS, CalibreSource
from comix_resources.sources.factory import make_source
from comix_resources.sources.folder_tree import FolderTreeSource
from comix_resources.sources.formats import (
    COMIC_EXTENSIONS,
    IMAGE_EXTENSIONS,
    comic_format,
    is_image,
)
from comix_resources.sources.metadata import ComicMetadata, read_comic_metadata
from comix_resources.sources.model import BookFile, Collection, ComicSource, SourceUnavailable

__all__ = [
    "CALIBRE_FORMATS",
    "COMIC_EXTENSIONS",
    "IMAGE_EXTENSIONS",
    "BookFile",
    "CalibreSource",
    "Collection",
    "ComicMetadata",
    "ComicSource",
    "FolderTreeSource",
    "SourceUnavailable",
    "comic_format",
    "is_image",
    "make_source",
    "read_comic_metadata",
]
