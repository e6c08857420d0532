"""Fixed-layout image EPUBs: pages are the images of the spine documents, in spine order."""

from __future__ import annotations

import posixpath
import re
import xml.etree.ElementTree as ET
from urllib.parse import unquote

from comix_resources.pages.archives import Member, ZipReader
from comix_resources.pages.images import is_page_name

_CONTAINER = "META-INF/container.xml"
# Page documents are XHTML that may use HTML entities ElementTree rejects; a pattern over the
# <img>/<svg:image> tags finds their images without a full parse.
_IMAGE_REF = re.compile(
    r"<(?:\w+:)?(?:img|image)\b[^>]*?\s(?:src|xlink:href|href)\s*=\s*[\"']([^\"']+)[\"']",
    re.IGNORECASE,
)


def _local(tag: str) -> str:
    return tag.rsplit("}", 1)[-1]


def _resolve(base_dir: str, href: str) -> str:
    href = unquote(href.split("#", 1)[0])
    return posixpath.normpath(posixpath.join(base_dir, href)) if href else ""


class EpubReader(ZipReader):
    container = "epub"
    what = "EPUB"

    def choose_pages(self, members: list[Member]) -> list[Member]:
        by_name = {m.name: m for m in reversed(members)}
        spine_images = self._spine_images(by_name)
        if spine_images:
            return [by_name[name] for name in spine_images]
        # No usable OPF/spine: fall back to the images in natural order, like a CBZ.
        return super().choose_pages(members)

    def _text(self, name: str, by_name: dict[str, Member]) -> str | None:
        member = by_name.get(name)
        if member is None or member.size > 16 * 1024**2:  # markup files are small; skip oddities
            return None
        # The entry the listing checked (the first of a name), as for the pages.
        return self.zip.read(self._entries.get(name) or name).decode("utf-8", errors="replace")

    def _spine_images(self, by_name: dict[str, Member]) -> list[str]:
        container = self._text(_CONTAINER, by_name)
        if container is None:
            return []
        try:
            rootfile = next(
                (
                    el.get("full-path")
                    for el in ET.fromstring(container).iter()
                    if _local(el.tag) == "rootfile" and el.get("full-path")
                ),
                None,
            )
            opf_text = self._text(rootfile, by_name) if rootfile else None
            opf = ET.fromstring(opf_text) if opf_text else None
        except ET.ParseError:
            return []
        if opf is None or rootfile is None:
            return []
        opf_dir = posixpath.dirname(rootfile)
        manifest = {
            el.get("id"): (_resolve(opf_dir, el.get("href", "")), el.get("media-type", ""))
            for el in opf.iter()
            if _local(el.tag) == "item" and el.get("id")
        }
        images: list[str] = []
        for el in opf.iter():
            if _local(el.tag) != "itemref" or el.get("idref") not in manifest:
                continue
            href, media_type = manifest[el.get("idref")]
            if media_type.startswith("image/"):  # a spine may list images directly
                refs = [href]
            else:
                document = self._text(href, by_name) or ""
                base = posixpath.dirname(href)
                refs = [_resolve(base, ref) for ref in _IMAGE_REF.findall(document)]
            images.extend(ref for ref in refs if ref in by_name and is_page_name(ref))
        return list(dict.fromkeys(images))  # a cover shown twice is one page
