"""Questions about a document itself — who wrote it, when and where it was published, who edited it, on which
day a report was delivered — answered from its header or credit line (``Document.metadata``, read by
``qa.cleaning``).

The span reader is trained on questions about a passage's content; "这篇报道的作者是谁？" asks about the
document, and the header line that answers it ("时间:2023-07-25 10:50作者:方凤玲来源:宋家镇") reads as noise to
it. A question that names the document ("报道", "文章", "报告" …) and asks for a header field is answered from
the field of the top retrieved document, at the field's place in its text; the reader answers everything else,
and this question too when the document has no such field. Measured on top of the reader in
docs/architecture.md.

>>> asked_field("这篇报道的作者是谁？"), asked_field("这篇报道是哪天发布的？"), asked_field("作者是谁？")
('person', 'date', None)
"""

from __future__ import annotations

from .answering import mentions, question_marks, span_answer, supports
from .lexicon import DOCUMENT_WORDS, FIELD_QUESTIONS
from .script import to_search
from .types import Answer, Document, Hit

_FIELD_KEYS = {"person": ("author", "speaker"), "source": ("source",), "date": ("date",), "editor": ("editor",),
               "delivered": ("delivered",)}


def asked_field(question: str) -> str | None:
    """The header field a question about a document asks for (``person``, ``source``, ``date``, ``editor``,
    ``delivered``: the day a report was given), or
    None for a question that names no document or asks for no field."""
    asked = to_search(question)
    if not DOCUMENT_WORDS.search(asked):
        return None
    return next((field for field, words in FIELD_QUESTIONS if words.search(asked)), None)


def field_span(document: Document, field: str) -> tuple[int, int] | None:
    """Where the document's value of ``field`` stands in its text (its first occurrence), if it has one."""
    for key in _FIELD_KEYS[field]:
        value = document.metadata.get(key, "")
        start = document.text.find(value) if value else -1
        if start >= 0:
            return start, start + len(value)
    return None


def subject_of(question: str) -> str:
    """The question (search form) without the words that name a document or ask for a header field: what is
    left names which document is meant ("宋家镇", "党建引领高质量发展")."""
    asked = to_search(question)
    for _, words in FIELD_QUESTIONS:  # first: a field's words may hold a document's (报告的日期, 报告人)
        asked = words.sub(" ", asked)
    return DOCUMENT_WORDS.sub(" ", asked)


def byline_answer(question: str, hits: list[Hit], engine) -> Answer | None:
    """The asked header field of the top hit's document among those that mention the years, ordinals and places
    the question names (``qa.answering.question_marks``), or None when the question asks for none, the
    document has none, or the question does not name that document: under ``settings.byline_support`` of the
    weight of its subject's key words is found in the document's title and top passage (``qa.answering.supports``;
    a question whose only subject is "这篇" names none). ``score`` is that share."""
    field = asked_field(question)
    if field is None:
        return None
    marks = question_marks(question, engine)
    hits = [hit for hit in hits if mentions(engine.documents[hit.source], marks)]
    if not hits:
        return None
    hit = hits[0]
    document = engine.documents[hit.source]
    span = field_span(document, field)
    if span is None:
        return None
    passage = document.search[hit.start:hit.end] + document.search_title
    support = supports(engine, subject_of(question), [passage])[0]
    if support < engine.settings.byline_support:
        return None
    start, end = span
    return span_answer(question, document, start, end, sorted(hits, key=lambda h: not h.start <= start < h.end),
                       round(support, 4))
