"""Extractive answers: the trained span reader (``qa.reader``) marks the answer in the top fused passages.

The reader reads each passage in its search form (simplified script, same length as the text), so an offset
it returns is an offset into ``Document.text``; the answer is that slice of the source, shown in the script the
question was asked in. Each passage's best span gets a confidence from its margin over no-answer and the
lexical support of its passage (``supports``); the most confident span is the answer when its confidence beats
the calibrated threshold; otherwise the reader abstains and the closest passages are given as related ones. Three
rules sit beside the reader, each measured to help on top of it (docs/architecture.md): passages of a document
that never mentions a year the question names are not read (``mentions``), a question asking for a quantity is
answered only by a span holding a number it does not state (``new_numbers``), and questions about a document's
header (author, date, source) are answered by ``qa.byline``.

Example::

    engine = qa.load()
    answer = read_answer("伊金霍洛镇2022年全年总收入是多少？", engine.retrieve("…", 4), engine)
    answer.text, answer.score, answer.source, answer.paragraph
"""

from __future__ import annotations

import re
from typing import TYPE_CHECKING

from .chunking import sentence_spans
from .lexicon import BRACKET_PAIRS, CLAUSE_ENDS, NUMBER, QUANTITY_QUESTION, SENTENCE_ENDS, YEAR
from .script import is_traditional, to_search, to_simplified, to_traditional
from .terms import coverage, key_terms, term_weights
from .types import Answer, Document, Hit

if TYPE_CHECKING:  # the reader module imports torch; answering is imported before it is needed
    from .reader import Reader, Span

_EDGE_MARKS = " \t\n" + CLAUSE_ENDS + SENTENCE_ENDS


def read_answer(question: str, hits: list[Hit], engine) -> Answer:
    """The reader's answer from ``hits`` (all read in one forward pass), or an abstention that carries the
    hits as related passages."""
    if not question.strip():
        return Answer(question, False, message="请输入问题。")
    if not hits:
        return Answer(question, False, message="文档中没有找到相关内容。")
    years = asked_years(question)
    dated = [hit for hit in hits if mentions(engine.documents[hit.source], years)]
    if not dated:
        return Answer(question, False, citations=hits,
                      message=f"相关文档中没有提到{'、'.join(f'{y}年' for y in years)}。以下是最相关的段落。")
    reader = engine.reader
    found = most_confident(reader, engine, question, dated)
    if found is None:
        return Answer(question, False, citations=hits, message="文档中没有找到这个问题的答案。以下是最相关的段落。")
    confidence, best = round(found[0], 4), found[1]
    hit, document = dated[best.passage], engine.documents[dated[best.passage].source]
    start, end = trim(document.text, hit.start + best.start, hit.start + best.end)
    if confidence <= reader.threshold or end <= start:
        return Answer(question, False, citations=hits, score=confidence,
                      message="文档中没有找到这个问题的答案。以下是最相关的段落。")
    return span_answer(question, document, start, end, [hit] + [h for h in hits if h is not hit], confidence)


def span_answer(question: str, document: Document, start: int, end: int, citations: list[Hit],
                score: float) -> Answer:
    """The answer ``document.text[start:end]`` (in the question's script) with its sentence and place."""
    return Answer(
        question=question, found=True, text=in_script_of(question, document, start, end),
        sentence=sentence_around(document, start, end), source=document.source, title=document.title,
        paragraph=document.paragraph_at(start), page=document.page_at(start), start=start, end=end,
        citations=citations, score=score,
    )


def asked_years(question: str) -> list[str]:
    """The years a question names ("2024年" → "2024")."""
    return [match.group(0)[:4] for match in YEAR.finditer(to_search(question))]


def mentions(document: Document, years: list[str]) -> bool:
    """Whether the document mentions every one of ``years`` (as a number of its own, not inside a longer one):
    a question about a year a report never mentions is not answered from that report, whatever its passages
    say about other years."""
    return all(re.search(rf"(?<!\d){year}(?!\d)", document.search) for year in years)


def most_confident(reader: Reader, engine, question: str, hits: list[Hit]) -> tuple[float, Span] | None:
    """The reader's most confident span over the hits' passages (all read in one forward pass) with its
    confidence, or None when no passage has a span."""
    asked = to_search(question)
    documents = [engine.documents[hit.source] for hit in hits]
    passages = [document.search[hit.start:hit.end] for document, hit in zip(documents, hits, strict=True)]
    titled = [passage + document.search_title for passage, document in zip(passages, documents, strict=True)]
    shares = supports(engine, asked, titled)
    spans = reader.read(asked, passages)
    if QUANTITY_QUESTION.search(asked):
        spans = [span for span in spans if new_numbers(passages[span.passage][span.start:span.end], asked)]
    scored = [(reader.confidence(span.margin, shares[span.passage]), span) for span in spans]
    return max(scored, key=lambda pair: pair[0], default=None)


def new_numbers(text: str, question: str) -> list[str]:
    """The numbers in ``text`` that ``question`` does not state itself: what an answer to a quantity question
    must hold ("2008年" answers nothing about 2008; "总面积*平方公里", its figure masked, holds none).

    >>> new_numbers("2008年人口约33,700人", "2008年的人口是多少？")
    ['33', '700']
    """
    stated = set(NUMBER.findall(question))
    return [number for number in NUMBER.findall(text) if number not in stated]


def supports(engine, question: str, texts: list[str]) -> list[float]:
    """The lexical support of each passage for an answer: the share of the question's key words found in it
    (passage + title, search form), IDF × length weighted (``qa.terms.coverage``); none for a question without
    key words (punctuation, emoji), which nothing in the documents can support."""
    terms = key_terms(engine.segmenter.words(question))
    if not terms:
        return [0.0] * len(texts)
    weights = term_weights(terms, engine.bm25.idf)
    return [coverage(terms, text, weights) for text in texts]


def trim(text: str, start: int, end: int) -> tuple[int, int]:
    """Spaces and clause marks off both ends; a quotation or bracket mark whose partner is outside the span
    is dropped, one that encloses the whole span is kept."""
    while start < end and text[start] in _EDGE_MARKS:
        start += 1
    while end > start and text[end - 1] in _EDGE_MARKS:
        end -= 1
    for opening, closing in BRACKET_PAIRS:
        piece = text[start:end]
        if piece.endswith(closing) and piece.count(closing) > piece.count(opening):
            end -= 1
        elif piece.startswith(opening) and piece.count(opening) > piece.count(closing):
            start += 1
    return start, end


def in_script_of(question: str, document: Document, start: int, end: int) -> str:
    """``document.text[start:end]`` in the script of the question (the source's own words otherwise)."""
    original = document.text[start:end]
    asked_traditional = is_traditional(question)
    if asked_traditional == document.traditional:
        return original
    return to_traditional(original) if asked_traditional else to_simplified(original)


def sentence_around(document: Document, start: int, end: int) -> str:
    """The whole sentence(s) of ``document`` holding ``[start, end)``."""
    p_start, p_end = document.paragraphs[document.paragraph_at(start) - 1]
    spans = sentence_spans(document.text, p_start, max(p_end, end))
    covering = [(a, b) for a, b in spans if a < end and start < b] or [(p_start, p_end)]
    return document.text[covering[0][0]:covering[-1][1]].strip()
