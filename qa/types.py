"""Plain dataclasses passed between the stages."""

from __future__ import annotations

import bisect
from dataclasses import asdict, dataclass, field, fields
from functools import cached_property

from .script import is_traditional, to_search

SCRIPT_SAMPLE = 2000  # characters from the start that decide a document's script


@dataclass
class Document:
    """A cleaned document.

    ``text`` is what is shown and cited; ``search`` has exactly the same length (simplified script,
    half-width forms), so an offset found in one points at the same characters in the other.
    ``paragraphs`` are ``(start, end)`` offsets into ``text``, in reading order. ``pages`` holds the
    offset in ``text`` where each page starts (page 1 first; a page without text starts where the next
    one does); it is empty for documents without pages (text, HTML, Word).
    """

    source: str
    title: str
    text: str
    search: str
    paragraphs: list[tuple[int, int]]
    metadata: dict[str, str] = field(default_factory=dict)
    sha256: str = ""
    pages: list[int] = field(default_factory=list)

    @cached_property
    def search_title(self) -> str:
        """The title in search form (``qa.script.to_search``); worked out once, read for every passage ranked."""
        return to_search(self.title)

    @cached_property
    def traditional(self) -> bool:
        """Whether the document is written in traditional script (judged on its first characters)."""
        return is_traditional(self.text[:SCRIPT_SAMPLE])

    def paragraph_at(self, offset: int) -> int:
        """The 1-based number of the paragraph holding ``offset``."""
        starts = [start for start, _ in self.paragraphs]
        return max(1, bisect.bisect_right(starts, offset))

    def page_at(self, offset: int) -> int | None:
        """The 1-based number of the page holding ``offset`` (for 第N页), or None without pages."""
        if not self.pages:
            return None
        return max(1, bisect.bisect_right(self.pages, offset))


@dataclass
class Chunk:
    """A passage of a document: ``text == document.text[start:end]``."""

    source: str
    title: str
    paragraph: int
    start: int
    end: int
    text: str


@dataclass
class Hit:
    """A retrieved chunk with its fused score (higher is better). The chunk's fields read through it:
    ``hit.source``, ``hit.text`` … are ``hit.chunk.source``, ``hit.chunk.text`` …"""

    chunk: Chunk
    score: float

    def __getattr__(self, name: str):
        if name in _CHUNK_FIELDS:  # only called for names a Hit does not have itself
            return getattr(self.chunk, name)
        raise AttributeError(f"'Hit' object has no attribute {name!r}")

    def to_dict(self) -> dict:
        return {**asdict(self.chunk), "score": self.score}


_CHUNK_FIELDS = frozenset(item.name for item in fields(Chunk))


@dataclass
class Answer:
    """An extracted answer. ``text`` is a span of the source (in the question's script); ``score`` is the
    reader's confidence in [0, 1] that it is right; ``understood`` is the question as answered when a
    follow-up took words from the conversation ("" otherwise); ``page`` is the source page for paged
    documents (PDF). ``citations`` has one entry per paragraph. When ``found`` is False, ``citations`` holds
    the closest passages and ``message`` says why."""

    question: str
    found: bool
    text: str = ""
    sentence: str = ""
    source: str | None = None
    title: str | None = None
    paragraph: int | None = None
    start: int | None = None
    end: int | None = None
    citations: list[Hit] = field(default_factory=list)
    message: str = ""
    score: float = 0.0
    understood: str = ""
    page: int | None = None

    def to_dict(self) -> dict:
        return {**{name: value for name, value in asdict(self).items() if name != "citations"},
                "citations": [hit.to_dict() for hit in self.citations]}
