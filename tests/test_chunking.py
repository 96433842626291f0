"""qa.chunking on the real seed documents: exact offsets, bounded length, paragraphs and quotes respected.

Length rule and its exceptions: a chunk is never longer than ``max_chars`` (an over-long sentence is cut
at a clause mark, or hard); it may be shorter than ``min_chars`` — the end of a paragraph, a heading
followed by a long sentence, a short document — but never empty.
"""

from __future__ import annotations

import doctest

import pytest

import qa.chunking
from qa.chunking import chunk_document, sentence_spans
from qa.cleaning import clean_text
from qa.settings import Settings

SETTINGS = Settings()
MIN, MAX = SETTINGS.chunk_min_chars, SETTINGS.chunk_max_chars
PAIRS = ("“”", "《》", "「」")


def balanced(text: str) -> bool:
    return all(text.count(a) == text.count(b) for a, b in PAIRS)


@pytest.fixture(scope="module")
def seed_chunks(seed_documents):
    return {name: (doc, chunk_document(doc, MIN, MAX)) for name, doc in seed_documents.items()}


def test_chunk_offsets_point_at_the_chunk_text(seed_chunks) -> None:
    for doc, chunks in seed_chunks.values():
        assert chunks
        for chunk in chunks:
            assert doc.text[chunk.start:chunk.end] == chunk.text
            assert chunk.source == doc.source and chunk.title == doc.title


def test_chunks_cover_the_text_in_order_without_overlap(seed_chunks) -> None:
    for doc, chunks in seed_chunks.values():
        edges = [0] + [edge for chunk in chunks for edge in (chunk.start, chunk.end)] + [len(doc.text)]
        assert edges == sorted(edges)
        gaps = [doc.text[a:b] for a, b in zip(edges[::2], edges[1::2], strict=True)]
        assert all(not gap.strip() for gap in gaps)  # only line breaks between chunks


def test_chunk_lengths(seed_chunks) -> None:
    lengths = [len(chunk.text) for _, chunks in seed_chunks.values() for chunk in chunks]
    assert all(1 <= n <= MAX for n in lengths)
    assert sum(n >= MIN for n in lengths) / len(lengths) > 0.7  # most reach the minimum
    for _, chunks in seed_chunks.values():
        assert all(chunk.text == chunk.text.strip() for chunk in chunks)


def test_chunks_cross_paragraphs_only_after_short_ones(seed_chunks) -> None:
    """Short paragraphs (titles, date lines) are joined with what follows; a line break inside a chunk
    therefore comes within its first ``min_chars`` characters."""
    joined = 0
    for _, chunks in seed_chunks.values():
        for chunk in chunks:
            if "\n" in chunk.text:
                joined += 1
                assert chunk.text.rindex("\n") < MIN
    assert joined >= 5


def test_paragraph_numbers(seed_chunks) -> None:
    for doc, chunks in seed_chunks.values():
        for chunk in chunks:
            assert chunk.paragraph == doc.paragraph_at(chunk.start)
            start, end = doc.paragraphs[chunk.paragraph - 1]
            first_line = chunk.text.split("\n")[0]
            assert start <= chunk.start and chunk.start + len(first_line) <= end
        assert chunks[0].paragraph == 1 and chunks[-1].paragraph == len(doc.paragraphs)
        assert [c.paragraph for c in chunks] == sorted(c.paragraph for c in chunks)


def test_quotes_stay_balanced_where_the_source_is(seed_chunks) -> None:
    checked = unbalanced_sources = 0
    for doc, chunks in seed_chunks.values():
        for chunk in chunks:
            first = doc.paragraph_at(chunk.start)
            last = doc.paragraph_at(chunk.end - 1)
            source = doc.text[doc.paragraphs[first - 1][0]:doc.paragraphs[last - 1][1]]
            if not balanced(source):
                unbalanced_sources += 1
                continue
            if any(a in chunk.text for a, _ in PAIRS):
                checked += 1
            assert balanced(chunk.text), chunk.text
    assert checked > 30 and unbalanced_sources >= 1  # 004 has 圍繞黨建+” with no opening quote


def test_sentence_spans_cover_the_range_and_respect_quotes() -> None:
    text = "他说：“第一。第二！”随后落实。然后？！圍繞黨建+”推動發展。最后一句"
    spans = sentence_spans(text)
    assert "".join(text[a:b] for a, b in spans) == text
    assert [text[a:b] for a, b in spans] == [
        "他说：“第一。第二！”随后落实。", "然后？！", "圍繞黨建+”推動發展。", "最后一句",
    ]
    assert sentence_spans(text, 3, 10) == [(3, 10)]  # inside a quote: no sentence end


def test_over_long_sentences_are_cut_at_clause_marks_then_hard() -> None:
    clauses = "，".join(f"第{i}项工作扎实推进成效明显" for i in range(60)) + "。"
    unbroken = "乡" * 700 + "。"
    doc = clean_text("a.txt", f"标题\n{clauses}\n{unbroken}")
    chunks = chunk_document(doc, MIN, MAX)
    assert all(len(chunk.text) <= MAX for chunk in chunks)
    joined = "".join(chunk.text for chunk in chunks)
    assert joined.replace("\n", "") == doc.text.replace("\n", "")  # nothing lost, nothing repeated
    clause_chunks = [chunk.text for chunk in chunks if "项工作" in chunk.text]
    assert len(clause_chunks) > 2 and all(text.endswith(("，", "。")) for text in clause_chunks)
    assert [len(chunk.text) for chunk in chunks if "乡" in chunk.text] == [300, 300, 101]


def test_a_heading_is_joined_with_the_paragraph_after_it() -> None:
    body = "全面推进乡村振兴。" * 30
    doc = clean_text("a.txt", f"一、主要工作\n（2023年4月20日）\n{body}")
    chunks = chunk_document(doc, MIN, MAX)
    assert chunks[0].text.startswith("一、主要工作\n（2023年4月20日）\n全面推进") and chunks[0].paragraph == 1
    assert all(chunk.paragraph == 3 for chunk in chunks[1:])


def test_empty_document_has_no_chunks() -> None:
    assert chunk_document(clean_text("a.txt", ""), MIN, MAX) == []


def test_module_examples() -> None:
    assert doctest.testmod(qa.chunking).failed == 0
