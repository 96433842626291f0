"""Paragraph-aware chunks split at sentence ends.

A chunk never crosses a paragraph boundary, except that paragraphs shorter than ``min_chars`` (headings,
date lines) are joined with the paragraphs that follow. Inside a long paragraph, sentences are packed
until adding the next one would pass ``max_chars``. A sentence ends at 。！？；… (plus closing quotes
and brackets) but never inside a quotation, so quotes stay balanced; an unbalanced closing quote in the
source is simply ignored.

>>> from qa.cleaning import clean_text
>>> doc = clean_text("a.txt", "标题\\n第一句。第二句“引号。里面”还在。")
>>> [c.text for c in chunk_document(doc, min_chars=5, max_chars=13)]
['标题\\n第一句。', '第二句“引号。里面”还在。']

A sentence longer than ``max_chars`` is cut at its last clause mark (，、：) in reach, else hard at
``max_chars``; chunks may be shorter than ``min_chars`` (the end of a paragraph, a heading before a
long sentence, a short document) but never longer than ``max_chars``, and never begin or end with
white space.
"""

from __future__ import annotations

from collections.abc import Iterator

from .lexicon import CLAUSE_ENDS, CLOSERS, QUOTE_PAIRS, SENTENCE_ENDS
from .types import Chunk, Document


def sentence_spans(text: str, start: int = 0, end: int | None = None) -> list[tuple[int, int]]:
    """``(start, end)`` of each sentence of ``text[start:end]``; together they cover the range."""
    end = len(text) if end is None else end
    spans, open_quotes, begin, i = [], [], start, start
    while i < end:
        ch = text[i]
        if ch in QUOTE_PAIRS:
            open_quotes.append(QUOTE_PAIRS[ch])
        elif open_quotes and ch == open_quotes[-1]:
            open_quotes.pop()
        elif ch == "\n":
            open_quotes.clear()
        i += 1
        if (ch in SENTENCE_ENDS and not open_quotes) or ch == "\n":
            while i < end and (text[i] in SENTENCE_ENDS or text[i] in CLOSERS and not open_quotes):
                i += 1
            spans.append((begin, i))
            begin = i
    if begin < end:
        spans.append((begin, end))
    return [(a, b) for a, b in spans if text[a:b].strip()]


def _split_long(text: str, start: int, end: int, max_chars: int) -> Iterator[tuple[int, int]]:
    """Cut an over-long sentence at clause marks (，、：), or hard at ``max_chars`` if it has none."""
    while end - start > max_chars:
        window = text[start:start + max_chars]
        cut = max(window.rfind(mark) for mark in CLAUSE_ENDS)
        cut = start + (cut + 1 if cut > max_chars // 3 else max_chars)
        yield start, cut
        start = cut
    if start < end:
        yield start, end


def chunk_document(document: Document, min_chars: int = 150, max_chars: int = 300) -> list[Chunk]:
    """Cut a document into chunks of about ``min_chars``–``max_chars`` characters."""
    chunks: list[Chunk] = []
    pending: tuple[int, int] | None = None  # a run of short paragraphs waiting for more text
    for number, (p_start, p_end) in enumerate(document.paragraphs, start=1):
        if pending is None:
            pending = (number, p_start)
        _, run_start = pending
        if p_end - run_start < min_chars and number < len(document.paragraphs):
            continue
        pieces = [piece for a, b in sentence_spans(document.text, run_start, p_end)
                  for piece in _split_long(document.text, a, b, max_chars)]
        first_paragraph = pending[0]
        for a, b in _pack(pieces, max_chars):
            a, b = _trim(document.text, a, b)
            if a == b:
                continue
            paragraph = document.paragraph_at(a) if a > run_start else first_paragraph
            chunks.append(Chunk(document.source, document.title, paragraph, a, b, document.text[a:b]))
        pending = None
    return chunks


def _trim(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` without the white space (a paragraph's line break) at either edge."""
    while start < end and text[start].isspace():
        start += 1
    while end > start and text[end - 1].isspace():
        end -= 1
    return start, end


def _pack(pieces: list[tuple[int, int]], max_chars: int) -> Iterator[tuple[int, int]]:
    """Greedily join consecutive sentences while the chunk stays within ``max_chars``."""
    if not pieces:
        return
    start, end = pieces[0]
    for a, b in pieces[1:]:
        if b - start > max_chars:
            yield start, end
            start = a
        end = b
    yield start, end
