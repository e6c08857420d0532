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


# ComicInfo.xml `<Page Type=...>` (anansi-project schema; ComicRack, ComicTagger, Komga, Kavita)
# and the platform's classes. Reading: what an owner's tag says about the page, None where it
# says nothing we can train on. A run of `Story` pages opens with `first-page` (see
# ``page_stream.labels.comicinfo_labels``). Writing: the type a reader expects for a class.
COMICINFO_TYPES: tuple[str, ...] = (
    "FrontCover",
    "InnerCover",
    "Roundup",
    "Story",
    "Advertisement",
    "Editorial",
    "Letters",
    "Preview",
    "BackCover",
    "Other",
    "Deleted",
)
COMICINFO_TO_CLASS: dict[str, str | None] = {
    "FrontCover": "cover",
    "InnerCover": "cover",  # an inside or variant cover: cover art
    "Roundup": "textstory",  # a news or recap page: text, not sequential art
    "Story": "story",
    "Advertisement": "advertisement",
    "Editorial": "textstory",
    "Letters": "textstory",
    "Preview": "advertisement",  # a preview of another book is there to sell it
    "BackCover": "back_cover",
    "Other": None,  # says only that the page is none of the above
    "Deleted": "non_comic",  # hidden by readers: scan credits, blanks, duplicates
}
CLASS_TO_COMICINFO: dict[str, str] = {
    "cover": "FrontCover",
    "credits": "Other",  # ComicInfo has no credits type
    "first-page": "Story",
    "story": "Story",
    "advertisement": "Advertisement",
    "textstory": "Editorial",
    "art": "Other",
    "back_cover": "BackCover",
    "non_comic": "Deleted",
}


def comicinfo_type(name: str | None) -> str | None:
    """The schema's spelling of a ComicInfo page type (``frontcover`` -> ``FrontCover``), or
    None when it is not one."""
    if not name:
        return None
    key = str(name).strip().lower()
    return next((t for t in COMICINFO_TYPES if t.lower() == key), None)
