"""The page-type vocabulary shared by page stream segmentation, Closure Lite and search.

CoSMo's classes (advertisement, cover, story, textstory, first-page), the later reproduction's
additions (credits, art, back_cover), and ``non_comic`` for pages the quality filter rejects.
"""

PAGE_CLASSES: tuple[str, ...] = (
    "cover",
    "credits",
    "first-page",
    "story",
    "advertisement",
    "textstory",
    "art",
    "back_cover",
    "non_comic",
)

_SPELLINGS = {
    "text-story": "textstory",
    "back-cover": "back_cover",
    "first_page": "first-page",
    "non-comic": "non_comic",
    "frontcover": "cover",
    "front-cover": "cover",
}


def normalise_page_class(name: str | None) -> str | None:
    """The canonical spelling of a page-type name, or None when it is not one of ours."""
    if not name:
        return None
    key = name.strip().lower()
    key = _SPELLINGS.get(key, key)
    return key if key in PAGE_CLASSES else None
