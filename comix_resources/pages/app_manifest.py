"""Dark Horse Digital app downloads: a tar (or its unpacked folder) described by a manifest.

Dark Horse delivered every book to its apps as a tar whose ``manifest.json`` says what the
book is and where its pages are::

    {"book_uuid": "aebf9496...", "is_rtl": false, "title": "...",        # title: sometimes
     "pages": [{"sort_order": 1, "src_image": "e3d686f3...", "mime_type": "image/jpeg"}, ...]}

The page members are named by ids without an image extension, so only the manifest tells
which members are pages and in what order; the file itself may be called anything (a bare id
as the browser saved it, ``.tar``, ``.cbt``). A container reader that finds ``manifest.json``
at its top level hands its bytes to ``read_manifest`` and takes its pages from
``manifest_pages``: ``sort_order`` decides the order (ties keep the manifest's order), each page
is typed by its bytes, and ``mime_type`` is what a page whose bytes are no image is said to be.
"""

from __future__ import annotations

import json
import posixpath
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

from comix_resources.errors import BookError, UnsafeArchiveError
from comix_resources.pages.images import check_member_name

MANIFEST_NAME = "manifest.json"
# A manifest lists a few hundred pages in some kilobytes; more is not a manifest.
MAX_MANIFEST_BYTES = 4 * 1024**2
_MIME_EXT = {
    "image/jpeg": "jpg",
    "image/jpg": "jpg",
    "image/pjpeg": "jpg",
    "image/png": "png",
    "image/gif": "gif",
    "image/webp": "webp",
    "image/bmp": "bmp",
    "image/tiff": "tif",
    "image/jxl": "jxl",
    "image/avif": "avif",
    "image/jp2": "jp2",
}


@dataclass(frozen=True)
class ManifestPage:
    sort_order: float
    member: str  # the archive member (or file in the folder), resolved against the manifest
    mime_type: str | None

    @property
    def declared_ext(self) -> str | None:
        """The image type the manifest declares (``jpg``), or None for an unknown type."""
        return _MIME_EXT.get((self.mime_type or "").split(";")[0].strip().lower())


@dataclass(frozen=True)
class AppManifest:
    book_uuid: str | None
    title: str | None
    is_rtl: bool | None
    pages: tuple[ManifestPage, ...]  # in reading order, each member once


def is_manifest_name(name: str) -> bool:
    """``manifest.json`` at the top level of a container (``./manifest.json`` in some tars)."""
    return posixpath.normpath(name.replace("\\", "/")) == MANIFEST_NAME


def read_manifest(data: bytes) -> AppManifest | None:
    """The app manifest in ``data``, or None when it is some other tool's ``manifest.json``
    (neither ``pages`` nor ``book_uuid``). BookError when it cannot be what it claims to be."""
    if len(data) > MAX_MANIFEST_BYTES:
        raise UnsafeArchiveError(
            f"{MANIFEST_NAME} holds more than {MAX_MANIFEST_BYTES} bytes (a manifest lists pages)"
        )
    try:
        document = json.loads(data.decode("utf-8-sig"))
    except (UnicodeDecodeError, ValueError) as error:
        raise BookError(f"{MANIFEST_NAME} is not valid JSON: {error}") from error
    if not isinstance(document, Mapping) or not ({"pages", "book_uuid"} & set(document)):
        return None
    listed = document.get("pages")
    if not isinstance(listed, list) or not listed:
        raise BookError(f"{MANIFEST_NAME} lists no pages")
    pages: list[ManifestPage] = []
    for position, page in enumerate(listed):
        if not isinstance(page, Mapping) or not isinstance(page.get("src_image"), str):
            raise BookError(f"{MANIFEST_NAME} page {position + 1} has no src_image")
        check_member_name(page["src_image"])  # no absolute paths, no '..'
        member = posixpath.normpath(page["src_image"].replace("\\", "/"))
        order = page.get("sort_order", position)
        try:
            sort_order = float(order)
        except (TypeError, ValueError):
            raise BookError(
                f"{MANIFEST_NAME} page {page['src_image']!r} has sort_order {order!r}, not a number"
            ) from None
        mime = page.get("mime_type")
        pages.append(ManifestPage(sort_order, member, mime if isinstance(mime, str) else None))
    ordered = sorted(pages, key=lambda p: p.sort_order)  # stable: ties keep manifest order
    first: dict[str, ManifestPage] = {}
    for page in ordered:
        first.setdefault(page.member, page)  # a member listed twice is one page, as in archives
    rtl = document.get("is_rtl")
    return AppManifest(
        book_uuid=_text(document.get("book_uuid")),
        title=_text(document.get("title")),
        is_rtl=rtl if isinstance(rtl, bool) else None,
        pages=tuple(first.values()),
    )


def manifest_pages(manifest: AppManifest, members: Sequence[str], what: str) -> list[str]:
    """The members the manifest names, in its order; BookError naming the first one missing."""
    present = set(members)
    for page in manifest.pages:
        if page.member not in present:
            raise BookError(
                f"{MANIFEST_NAME} names page {page.member!r} (sort_order {page.sort_order:g}),"
                f" which is not in the {what}"
            )
    return [page.member for page in manifest.pages]


def _text(value: object) -> str | None:
    if value is None or isinstance(value, bool | Mapping | list):
        return None
    text = str(value).strip()
    return text or None
