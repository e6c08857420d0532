"""PDF books through PyMuPDF: scanned pages yield their embedded image untouched, others are
rendered."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import TYPE_CHECKING

from comix_resources.errors import BookError, UnsafeArchiveError
from comix_resources.pages.images import (
    decoded_problem,
    image_layout,
    sniff_image,
    truncation_problem,
)
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
    except Exception as exc:  # MuPDF's bindings raise odd types for odd files
        raise BookError(f"corrupt PDF: {type(exc).__name__}: {exc}") from exc
    try:
        if doc.needs_pass:
            raise BookError("encrypted PDF (needs a password)")
        if doc.page_count == 0:
            raise BookError("PDF has no pages")
        if doc.page_count > limits.max_pages:
            raise UnsafeArchiveError(
                f"too many pages: {doc.page_count} > max_pages {limits.max_pages}"
            )
        yield doc
    finally:
        doc.close()


def inspect_pdf(path: Path, limits: ExtractionLimits) -> BookInspection:
    with _open(path, limits) as doc:
        return BookInspection("pdf", tuple(f"page {n}" for n in range(1, doc.page_count + 1)))


def iter_pdf_pages(path: Path, limits: ExtractionLimits) -> Iterator[PageImage]:
    with _open(path, limits) as doc:
        renderer = _Renderer(limits)
        for index in range(doc.page_count):
            yield _page_image(doc, index, limits, renderer)


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
    doc: pymupdf.Document, index: int, limits: ExtractionLimits, renderer: _Renderer
) -> PageImage:
    """One page, never raising: whatever MuPDF says about a broken page is its error row."""
    name = f"pdf page {index + 1}"
    try:
        page = doc[index]
        problem = _oversized_image(page, limits)
        if problem:
            return PageImage(index, name, None, "png", 0, 0, True, problem)
        xref = full_page_image_xref(page)
        if xref is not None:
            embedded = _embedded(doc, xref, index, name, limits)
            if embedded is not None:
                return embedded
        return renderer.render(page, index, name)
    except Exception as exc:
        reason = f"unreadable PDF page: {type(exc).__name__}: {exc}"
        return PageImage(index, name, None, "png", 0, 0, True, reason)


def _oversized_image(page: pymupdf.Page, limits: ExtractionLimits) -> str | None:
    """A page that draws an image bigger than max_pixels: MuPDF would decode all of it to
    render even a thumbnail, so it is refused from the image's header."""
    for image in page.get_images(full=True):
        width, height = image[2], image[3]
        if width * height > limits.max_pixels:
            return (
                f"page draws a {width}x{height} image = {width * height} pixels"
                f" > max_pixels {limits.max_pixels} (decompression bomb?)"
            )
    return None


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
        width, height, pixel_bytes = image_layout(ext, data)
    except Exception:  # header PIL cannot read: rendering still gives the page
        return None
    problem = problem or decoded_problem(width, height, pixel_bytes, limits)
    if problem:
        return PageImage(index, name, None, ext, width, height, False, problem)
    return PageImage(index, name, data, ext, width, height, False)


class _Renderer:
    """Renders the pages of one book within its budget of max_rendered_pixels.

    A page of one colour (blank, or a solid background) is PNG-encoded once per size and
    colour: encoding is nearly all of a render's cost, and blank pages come by the thousand.
    """

    def __init__(self, limits: ExtractionLimits) -> None:
        self.limits = limits
        self.spent = 0
        self.plain: dict[tuple[int, int, bytes], bytes] = {}  # PNG of a one-colour page

    def render(self, page: pymupdf.Page, index: int, name: str) -> PageImage:
        limits = self.limits
        scale = limits.pdf_dpi / 72
        width, height = round(page.rect.width * scale), round(page.rect.height * scale)

        def refused(reason: str) -> PageImage:
            return PageImage(index, name, None, "png", width, height, True, reason)

        if width * height > limits.max_pixels:  # refuse before MuPDF allocates the pixmap
            return refused(
                f"page too large to render: {width}x{height} at {limits.pdf_dpi} dpi"
                f" > max_pixels {limits.max_pixels}"
            )
        pixmap = page.get_pixmap(dpi=limits.pdf_dpi)
        samples = pixmap.samples
        pixel = pixmap.n
        # One colour: every pixel equals the one before it (a memcmp of the buffer against
        # itself shifted by a pixel; Pixmap.is_unicolor walks the pixels in Python, 14 s).
        if samples[pixel:] == samples[:-pixel]:
            key = (pixmap.width, pixmap.height, samples[:pixel])
            if key not in self.plain:
                self.plain[key] = pixmap.tobytes("png")
            data = self.plain[key]
        else:
            if self.spent + pixmap.width * pixmap.height > limits.max_rendered_pixels:
                return refused(
                    f"not rendered: the book's render budget is spent ({self.spent} pixels"
                    f" rendered, max_rendered_pixels {limits.max_rendered_pixels})"
                )
            self.spent += pixmap.width * pixmap.height
            data = pixmap.tobytes("png")
        return PageImage(index, name, data, "png", pixmap.width, pixmap.height, True)
