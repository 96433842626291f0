"""Example questions made from the indexed documents themselves, kept only when the engine answers them.

Two generic templates, no question or file name written by hand:

* an amount: a clause that ends in a noun phrase followed by a number and unit (``全年总收入1.99亿元,``)
  becomes ``<place><noun phrase>是多少？`` (or ``有多少<unit>？`` for counts), where the place is a
  corpus place name from the document's title (else its most frequent one);
* a publication date: a document whose metadata has a ``date`` gives ``《<title>》是哪天发布的？``.

A candidate is kept only when ``engine.answer`` finds it in the same document, on the number (or date)
it was made from. Questions on a traditional-script document are written in traditional script.
The order is deterministic: one question per document in turn (amounts first, then dates, then
further amounts), so the examples cover the corpus rather than one report.

>>> example_questions(default_engine(), n=2)                      # doctest: +SKIP
['伊金霍洛镇全年总收入是多少？', '農牧區嘎查集體經營性收入是多少？']
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from dataclasses import dataclass
from itertools import zip_longest

import jieba.posseg

from .lexicon import AMOUNT_UNITS, COUNT_UNITS, HAN
from .script import to_search, to_traditional
from .types import Document

_AMOUNT = re.compile(
    rf"(?<![{HAN}])(?P<phrase>[{HAN}]{{2,16}}?)(?:达到|突破|超过|共计|合计|为|达|共|约|均)?"
    rf"(?P<amount>\d+(?:\.\d+)?(?:余|多)?[万亿]?(?P<unit>{'|'.join(AMOUNT_UNITS)}))"
    r"(?=[，,；;。、）)]|$)"
)
# jieba part-of-speech tags of words that cannot open a noun phrase (adverbs, verbs, prepositions …)
_LEADING_TAGS = frozenset(("a", "ad", "c", "d", "f", "p", "q", "r", "u", "v", "vd"))
_PHRASE_CHARS = (4, 10)
_MAX_TITLE_CHARS = 40
_ATTEMPTS_PER_QUESTION = 4


@dataclass(frozen=True)
class Candidate:
    """A generated question and the document span its answer must overlap."""

    question: str
    source: str
    start: int
    end: int


def example_questions(engine, n: int = 4) -> list[str]:
    """Up to ``n`` questions generated from ``engine``'s documents that the engine answers from the
    place they were made from; deterministic for a given index."""
    kept: list[str] = []
    budget = _ATTEMPTS_PER_QUESTION * n + len(engine.documents)
    for candidate in _interleaved(engine):
        if len(kept) >= n or budget <= 0:
            break
        budget -= 1
        answer = engine.answer(candidate.question)
        if (answer.found and answer.source == candidate.source and candidate.question not in kept
                and answer.start < candidate.end and answer.end > candidate.start):
            kept.append(candidate.question)
    return kept


def _interleaved(engine) -> Iterator[Candidate]:
    """Candidates taken one document at a time, in source order: each document's first amount question,
    then each one's date question, then their remaining amount questions."""
    names = sorted(engine.segmenter.names, key=lambda name: (-len(name), name))
    documents = [engine.documents[source] for source in sorted(engine.documents)]
    amounts = [list(amount_candidates(document, names)) for document in documents]
    rounds = [[found[:1] for found in amounts],
              [list(date_candidates(document)) for document in documents],
              [found[1:] for found in amounts]]
    for per_document in rounds:
        for group in zip_longest(*per_document):
            yield from (candidate for candidate in group if candidate is not None)


def amount_candidates(document: Document, names: list[str]) -> list[Candidate]:
    """``<place><noun phrase>是多少？`` questions on the document's amounts: money and measures before
    counts, whole clauses before phrases cut out of a longer clause, then in text order. ``names`` are
    the corpus place names, longest first."""
    place = _main_place(document, names)
    found = []
    for match in _AMOUNT.finditer(document.search):
        phrase_start = match.start("phrase") + _leading_function_chars(match.group("phrase"))
        phrase_end = match.end("phrase")
        if not _PHRASE_CHARS[0] <= phrase_end - phrase_start <= _PHRASE_CHARS[1]:
            continue
        phrase = document.text[phrase_start:phrase_end]
        has_place = any(name in document.search[phrase_start:phrase_end] for name in names)
        if not (has_place or place):
            continue
        unit = match.group("unit")
        ending = f"有多少{document.text[match.start('unit'):match.end('unit')]}？" if unit in COUNT_UNITS \
            else "是多少？"
        question = ("" if has_place else place) + phrase + _in_script(ending, document)
        rank = (unit in COUNT_UNITS, phrase_start > match.start("phrase"))
        found.append((rank, Candidate(question, document.source, *match.span("amount"))))
    return [candidate for _, candidate in sorted(found, key=lambda item: item[0])]


def date_candidates(document: Document) -> Iterator[Candidate]:
    """``《<title>》是哪天发布的？`` for a document whose metadata has a publication date."""
    date, title = document.metadata.get("date", ""), document.title
    if not date or not title or len(title) > _MAX_TITLE_CHARS:
        return
    position = document.text.find(date)
    if position >= 0:
        yield Candidate(f"《{title}》" + _in_script("是哪天发布的？", document), document.source,
                        position, position + len(date))


def _main_place(document: Document, names: list[str]) -> str:
    """The corpus place name in the document's title, else the one it mentions most, in the document's
    own script; empty when it mentions none."""
    title = document.search[: len(document.title)]
    in_title = [name for name in names if name in title]
    counts = {name: document.search.count(name) for name in (in_title or names)}
    best = max(counts, key=lambda name: counts[name], default="")
    if not counts.get(best):
        return ""
    position = document.search.find(best)
    return document.text[position:position + len(best)]


def _leading_function_chars(phrase: str) -> int:
    """How many characters at the start of ``phrase`` are words that cannot open a noun phrase."""
    skipped = 0
    for pair in jieba.posseg.lcut(to_search(phrase)):
        if pair.flag not in _LEADING_TAGS:
            break
        skipped += len(pair.word)
    return skipped


def _in_script(text: str, document: Document) -> str:
    """``text`` (simplified) in the document's script."""
    return to_traditional(text) if document.traditional else text
