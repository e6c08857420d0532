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
from comix_resources.sources.loose_pages import (
    DEFAULT_PAGE_NAME_PATTERN,
    compile_page_name_pattern,
    group_pages,
)
from comix_resources.sources.metadata import (
    ComicMetadata,
    DeclaredPage,
    comicbox_metadata,
    comicbox_settings,
    metadata_from_name,
    read_comic_metadata,
)
from comix_resources.sources.model import (
    GROUPINGS,
    BookFile,
    Collection,
    ComicSource,
    SourceUnavailable,
)

__all__ = [
    "CALIBRE_FORMATS",
    "COMIC_EXTENSIONS",
    "DEFAULT_PAGE_NAME_PATTERN",
    "GROUPINGS",
    "IMAGE_EXTENSIONS",
    "BookFile",
    "CalibreSource",
    "Collection",
    "ComicMetadata",
    "ComicSource",
    "DeclaredPage",
    "FolderTreeSource",
    "SourceUnavailable",
    "comic_format",
    "comicbox_metadata",
    "comicbox_settings",
    "compile_page_name_pattern",
    "group_pages",
    "is_image",
    "make_source",
    "metadata_from_name",
    "read_comic_metadata",
]
