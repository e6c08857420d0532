"""PDF books through PyMuPDF: scanned pages yield their embedded image untouched, others are
rendered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from comix_resources.errors import BookError
from comix_resources.pages.images import image_size, sniff_image, truncation_problem
from comix_resources.pages.limits import BookInspection, ExtractionLimits, PageImage

if TYPE_CHECKING:
    import pymupdf

# An image whose placement covers this share of the page is "the page" (scanners and
# converters leave hairline margins from rounding).
_FULL_PAGE_AREA = 0.98


@contextmanager
def _open(path: Path, limits: ExtractionLimits) -> Iterator[pymupdf.Document]:
    # imported here: PyMuPDF loads onnxruntime (its layout models), which the code location
    # and the non-PDF steps should not pay for
    import pymupdf

    try:
        doc = pymupdf.open(path, filetype="pdf")
    except (pymupdf.FileDataError, RuntimeError, ValueError) as exc:
        raise BookError(f"corrupt PDF: {exc}") from exc
    try:
        if doc.needs_pass:
            raise BookError("encrypted PDF (needs a password)")
        if doc.page_count == 0:
            raise BookError("PDF has no pages")
        if doc.page_count > limits.max_entries:
            raise BookError(f"too many pages: {doc.page_count} > max_entries {limits.max_entries}")
        yield doc
    finally:
        doc.close()


def inspect_pdf(path: Path, limits: ExtractionLimits) -> BookInspection:
    with _open(path, limits) as doc:
        return BookInspection("pdf", tuple(f"page {n}" for n in range(1, doc.page_count + 1)))


def iter_pdf_pages(path: Path, limits: ExtractionLimits) -> Iterator[PageImage]:
    with _open(path, limits) as doc:
        for index, page in enumerate(doc):
            yield _page_image(doc, page, index, limits)


def full_page_image_xref(page: pymupdf.Page) -> int | None:
    """The xref of the single upright image that is the whole page, else None.

    Anything drawn besides it (visible text, vectors, a second image) or any rotation means
    the image alone is not what a reader sees, so such pages are rendered. Invisible text (an
    OCR layer, render mode 3) does not count.
    """
    if page.rotation:
        return None
    # get_image_info(xrefs=True) would decode and hash every image (~40 ms for a scan); the
    # placement list without xrefs is cheap, and the page's image resources name the xref.
    placements = page.get_image_info()
    resources = page.get_images(full=True)
    if len(placements) != 1 or len(resources) != 1:
        return None
    placement = placements[0]
    xref, _, width, height = resources[0][:4]
    if (placement["width"], placement["height"]) != (width, height):  # e.g. an inline image
        return None
    a, b, c, d, _, _ = placement["transform"]
    if b or c or a <= 0 or d <= 0:  # rotated or mirrored placement
        return None
    page_area = abs(page.rect)
    import pymupdf

    if page_area <= 0 or abs(pymupdf.Rect(placement["bbox"]) & page.rect) < (
        _FULL_PAGE_AREA * page_area
    ):
        return None
    if any(span["type"] != 3 for span in page.get_texttrace()):
        return None
    if page.get_cdrawings():
        return None
    return xref


def _page_image(
    doc: pymupdf.Document, page: pymupdf.Page, index: int, limits: ExtractionLimits
) -> PageImage:
    name = f"pdf page {index + 1}"
    try:
        xref = full_page_image_xref(page)
        if xref is not None:
            embedded = _embedded(doc, xref, index, name, limits)
            if embedded is not None:
                return embedded
        return _render(page, index, name, limits)
    except (RuntimeError, ValueError) as exc:  # MuPDF reports a broken page this way
        return PageImage(index, name, None, "png", 0, 0, True, f"unreadable PDF page: {exc}")


def _embedded(
    doc: pymupdf.Document, xref: int, index: int, name: str, limits: ExtractionLimits
) -> PageImage | None:
    """The image stream as stored (JPEG bytes stay identical); None when it should be rendered:
    a soft mask, a format we cannot identify (JBIG2, CCITT), or a header we cannot parse."""
    extracted = doc.extract_image(xref)
    if not extracted or extracted.get("smask"):
        return None
    data = extracted["image"]
    ext = sniff_image(data)
    if ext is None:
        return None
    problem = truncation_problem(ext, data)
    try:
        width, height = image_size(ext, data)
    except Exception:  # header PIL cannot read: rendering still gives the page
        return None
    if problem is None and width * height > limits.max_pixels:
        problem = f"image too large: {width}x{height} > max_pixels {limits.max_pixels}"
    if problem:
        return PageImage(index, name, None, ext, width, height, False, problem)
    return PageImage(index, name, data, ext, width, height, False)


def _render(page: pymupdf.Page, index: int, name: str, limits: ExtractionLimits) -> PageImage:
    scale = limits.pdf_dpi / 72
    width, height = round(page.rect.width * scale), round(page.rect.height * scale)
    if width * height > limits.max_pixels:  # refuse before MuPDF allocates the pixmap
        return PageImage(
            index,
            name,
            None,
            "png",
            width,
            height,
            True,
            f"page too large to render: {width}x{height} at {limits.pdf_dpi} dpi"
            f" > max_pixels {limits.max_pixels}",
        )
    pixmap = page.get_pixmap(dpi=limits.pdf_dpi)
    return PageImage(index, name, pixmap.tobytes("png"), "png", pixmap.width, pixmap.height, True)
