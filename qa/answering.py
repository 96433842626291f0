"""Extractive answers: the shortest span of a retrieved passage that answers the question.

The reader never writes text. It reads the question's type (number, date, person, place, or a
"what/which" term) and its key terms, scores every sentence of the top passages on those terms,
collects the spans of the expected type inside each sentence, and keeps the span that stands
closest to the question's focus words. It abstains, and says so, when a named entity of the
question is absent from the source, when the sentence covers too little of the question, or when
no span of the expected type exists.

>>> q = analyse_question("伊金霍洛镇2022年全年总收入是多少？", Segmenter())
>>> q.kind, q.unit_class
('number', 'money')
"""

from __future__ import annotations

import math
import re
from collections.abc import Iterator
from dataclasses import dataclass, field

from .chunking import sentence_spans
from .script import is_traditional, to_search, to_simplified, to_traditional
from .terms import PLACE_SUFFIXES, Segmenter, coverage, key_terms, looks_like_place, term_weights
from .types import Answer, Document, Hit

# ---------------------------------------------------------------------------------------------- question

_KIND_PATTERNS = (
    ("date", re.compile(r"哪天|哪一天|何时|什么时候|什么时间|哪年|哪一年|几月|几号|哪个月|什么日期|发布时间|日期是")),
    ("person", re.compile(r"谁|哪位|什么人|叫什么名字|名字是什么|姓名|作者是")),
    ("number", re.compile(r"多少|几|多大|多高|多长|多远|多重|多久|百分之|比例是|占比")),
    ("place", re.compile(r"哪里|哪儿|什么地方|在哪(?![次个些一种年天项类家位])"
                         r"|哪[个些](?:村|镇|乡|县|市|旗|区|省|嘎查|地方|地区|社区)")),
    ("what", re.compile(r"什么|哪个|哪些|哪种|哪类|哪项|哪次|哪一|哪家|何种|哪")),
)
_UNITS = (  # longest first, so 万元 wins over 元
    "个百分点 平方公里 平方米 万人次 人次 万亩 万吨 万元 亿元 千元 万千瓦 千瓦 公里 千米 公顷 公斤 千克 学时 小时 "
    "余人 元 亩 吨 米 人 名 位 户 家 个 项 次 轮 座 间 所 条 处 场 期 批 件 起 辆 台 套 头 只 株 棵 份 张 本 篇 "
    "届 年 月 天 日 倍 % 斤 星级 万 亿"
).split()
_UNIT_CLASSES = {
    "money": ("元",),
    "area": ("亩", "公顷", "平方公里", "平方米"),
    "length": ("公里", "千米", "米"),
    "weight": ("吨", "公斤", "千克", "斤"),
    "people": ("人", "名", "位", "人次"),
}
_NOUN_UNIT_CLASS = (
    (re.compile(r"资金|收入|投资|预算|金额|经费|产值|资产|钱|收益|税|补贴|奖补|分红"), "money"),
    (re.compile(r"面积|土地|耕地|草原|林地"), "area"),
    (re.compile(r"产量"), "weight"),
    (re.compile(r"人口|人数|就业|党员|干部|游客|客流|人次"), "people"),
)
_NUMBER = re.compile(
    r"(?:\d+(?:[.,]\d+)*|\*+|[零一二两三四五六七八九十百千]+)(?:余|多)?(?:[万亿千百]+)?(?:余|多)?"
    r"(?P<unit>" + "|".join(re.escape(u) for u in sorted(_UNITS, key=len, reverse=True)) + r")?"
)
_DATE = re.compile(
    r"\d{4}\s*[-/.年]\s*\d{1,2}\s*[-/.月]\s*\d{1,2}日?|\d{4}年\d{1,2}月|\d{1,2}月\d{1,2}日|\d{4}年"
)
_QUOTED = re.compile(r"“[^“”]{1,30}”|《[^《》]{1,40}》|「[^「」]{1,30}」|‘[^‘’]{1,30}’|\"[^\"]{1,30}\"")
_TITLES = re.compile(
    r"书记|镇长|乡长|县长|市长|区长|旗长|主任|主席|局长|部长|厅长|省长|委员|组长|所长|站长|队长|校长|院长"
)
_METADATA_QUESTIONS = (  # (field, question kind, words that ask for it)
    ("author", "person", re.compile(r"作者|谁写|撰稿|撰写|记者|写的")),
    ("speaker", "person", re.compile(r"报告人|讲话人|谁作|谁做|谁代表|谁讲|[作做].{0,12}报告")),
    ("source", "what", re.compile(r"来源|出自|哪个网站|哪家媒体")),
    ("date", "date", re.compile(r"发布|发表|刊登|刊发|时间|日期")),
)
_DOCUMENT_WORDS = re.compile(  # words that describe the document, not its content
    r"文章|报道|稿件|本文|这篇|那篇|一文|新闻|介绍|讲述|关于|发布|发表|刊登|刊发|作者|来源|报告"
)
_CLAUSE_BREAKS = "，,。；;！!？?：:\n"
_PHRASE_STOPS = set("在于对向从把被将与和及是为的了着")
_NAME_STOPS = set("我本全各该每到至赴由经")
_QUESTION_FILLER = re.compile(r"[？?。！!，,\s]+$|^(?:请问|请告诉我)")


@dataclass
class Question:
    text: str
    search: str
    kind: str  # number | date | person | place | what | other
    terms: list[str]  # content words, in question order
    entities: list[str]  # names and years the source must contain
    left: str = ""  # words just before the question word
    right: str = ""  # words just after it
    unit: str = ""
    unit_class: str = ""
    metadata_field: str = ""
    traditional: bool = False


def analyse_question(question: str, segmenter: Segmenter) -> Question:
    """The question's type, focus words, entities and expected unit."""
    search = _QUESTION_FILLER.sub("", to_search(question))
    kind, wh = "other", None
    for name, pattern in _KIND_PATTERNS:
        wh = pattern.search(search)
        if wh:
            kind = name
            break
    words = [w for w in segmenter.words(search) if not _KIND_PATTERNS[-1][1].fullmatch(w)]
    terms = key_terms(words)
    names = set(segmenter.names)
    entities = [w for w in terms if looks_like_place(w, names)]
    entities += re.findall(r"\d{4}年", search)
    q = Question(question, search, kind, terms, entities, traditional=is_traditional(question))
    if wh:
        q.left, q.right = search[: wh.start()], search[wh.end():]
    if kind == "number":
        q.unit, q.unit_class = _expected_unit(q.right, search)
    for name, asked_kind, pattern in _METADATA_QUESTIONS:
        if kind == asked_kind and pattern.search(search):
            q.metadata_field = name
            break
    return q


def _expected_unit(after_wh: str, question: str) -> tuple[str, str]:
    for unit in sorted(_UNITS, key=len, reverse=True):
        if after_wh.startswith(unit) and unit not in ("万", "亿"):
            cls = next((c for c, units in _UNIT_CLASSES.items() if unit in units), "")
            return unit, cls
    for pattern, cls in _NOUN_UNIT_CLASS:
        if pattern.search(question):
            return "", cls
    return "", ""


# ---------------------------------------------------------------------------------------------- candidates


@dataclass
class Span:
    start: int  # offsets in the document
    end: int
    score: float
    kind: str


@dataclass
class Scored:
    document: Document
    sentence: tuple[int, int]
    coverage: float
    rank: int
    spans: list[Span] = field(default_factory=list)


def _occurrences(terms: list[str], text: str) -> list[tuple[int, int, str]]:
    spans = []
    for term in terms:
        for m in re.finditer(re.escape(term), text):
            spans.append((m.start(), m.end(), term))
    return spans


def _proximity(text: str, start: int, end: int, anchors: list[tuple[int, int, str]],
               weights: dict[str, float]) -> float:
    """How close a span stands to the question's words: Σ weight · e^(−gap/6) over each word's nearest
    occurrence, where a punctuation mark in the gap counts as six characters (a list item or clause
    away is far)."""
    best: dict[str, float] = {}
    for a_start, a_end, term in anchors:
        if a_start < end and start < a_end:
            continue
        between = text[a_end:start] if a_end <= start else text[end:a_start]
        gap = len(between) + 5 * sum(ch in _CLAUSE_BREAKS + "、" for ch in between)
        best[term] = max(best.get(term, 0.0), weights[term] * math.exp(-gap / 6))
    return sum(best.values())


def _number_spans(q: Question, text: str) -> Iterator[tuple[int, int, float]]:
    for m in _NUMBER.finditer(text):
        span = m.group(0)
        unit = m.group("unit") or ""
        if not any(ch.isdigit() or ch == "*" for ch in span) and not unit:
            continue
        if span in q.search or re.fullmatch(r"\d{4}年", span) and q.unit != "年":
            continue
        if q.unit:
            fits = span.endswith(q.unit)
        elif q.unit_class:
            fits = span.endswith(_UNIT_CLASSES[q.unit_class])
        else:
            fits = bool(unit)
        if fits:  # a number in another unit does not answer 多少亩 or 多少资金
            yield m.start(), m.end(), 2.0


def _date_spans(q: Question, text: str) -> Iterator[tuple[int, int, float]]:
    for m in _DATE.finditer(text):
        if m.group(0) not in q.search:
            yield m.start(), m.end(), 1.0


def _person_spans(q: Question, text: str, segmenter: Segmenter) -> Iterator[tuple[int, int, float]]:
    position = 0
    words = segmenter.tagged(text)
    for i, (word, flag) in enumerate(words):
        start, position = position, position + len(word)
        if flag in ("nr", "nrfg", "nrt") and 2 <= len(word) <= 4 and word not in q.search:
            after_title = i > 0 and bool(_TITLES.search(words[i - 1][0]))
            before_title = i + 1 < len(words) and bool(_TITLES.match(words[i + 1][0]))
            if after_title or before_title:
                yield start, position, 2.0


def _place_spans(q: Question, text: str, segmenter: Segmenter) -> Iterator[tuple[int, int, float]]:
    """Place names: learned names, and 2–6 characters before a place suffix, stopping at function
    words (在恼包村举办 → 恼包村). A name with the suffix asked for (哪个村 → …村) fits best."""
    asked = re.search(r"哪(?:个|些)?(" + "|".join(PLACE_SUFFIXES) + ")", q.search)
    for m in re.finditer("|".join(PLACE_SUFFIXES), text):
        start = m.start()
        while start > m.start() - 6 and start > 0 and _is_han(text[start - 1]) and (
                text[start - 1] not in _PHRASE_STOPS | _NAME_STOPS):
            start -= 1
        name = text[start:m.end()]
        if m.start() - start >= 2 and name not in q.search and looks_like_place(name, set(segmenter.names)):
            yield start, m.end(), 2.0 if asked and name.endswith(asked.group(1)) else 1.0


def _is_han(ch: str) -> bool:
    return "\u4e00" <= ch <= "\u9fff"


def _what_spans(q: Question, text: str) -> Iterator[tuple[int, int, float]]:
    """Terms a "what/which" question points at: quoted terms near the focus noun, the phrase between
    the question's left and right context, the noun phrase ending in the focus noun, and the list item
    after a named entity."""
    focus = _focus_noun(q)
    for m in _QUOTED.finditer(text):
        inner = m.group(0)[1:-1]
        if inner in q.search:
            continue
        bonus = 1.0
        if focus and (text.startswith(focus, m.end()) or focus in inner or _shares_char(focus, inner)):
            bonus = 2.0
        yield m.start(), m.end(), bonus
    left = _longest_suffix_in(q.left, text)
    right_terms = [t for t in q.terms if t in q.right]
    if left:
        for m in re.finditer(re.escape(left), text):
            clause_end = _clause_end(text, m.end())
            ends = [f + len(t) for t in right_terms if (f := text.find(t, m.end(), clause_end)) >= 0]
            end = _close_quotes(text, m.end(), max(ends) if ends else clause_end)
            if end - m.end() >= 2:
                yield m.end(), end, 2.0 if ends else 1.2
    if focus:
        for m in re.finditer(re.escape(focus), text):
            start = _phrase_start(text, m.start())
            if m.start() - start >= 2:
                yield start, m.end(), 1.0
    for entity in q.entities:
        for m in re.finditer(re.escape(entity), text):
            end = _clause_end(text, m.end(), breaks=_CLAUSE_BREAKS + "、")
            if 2 <= end - m.end() <= 12 and focus and _shares_char(focus, text[m.end():end]):
                yield m.end(), end, 1.5


def _focus_noun(q: Question) -> str:
    """The noun the question asks about: the word right after the question word (什么菊花 → 菊花),
    else the last content word before it (基层治理模式叫什么 → 基层治理模式)."""
    right = [t for t in q.terms if t in q.right]
    if right:
        return right[0]
    left = [t for t in q.terms if t in q.left and t not in q.entities]
    return left[-1] if left else ""


def _longest_suffix_in(context: str, text: str, shortest: int = 2) -> str:
    """The longest ending of ``context`` (the words before 什么) that occurs in ``text``."""
    context = re.sub(r"[了是的]+$", "", context)
    for length in range(min(len(context), 8), shortest - 1, -1):
        piece = context[-length:]
        if piece in text:
            return piece
    return ""


def _clause_end(text: str, start: int, breaks: str = _CLAUSE_BREAKS) -> int:
    depth, i = 0, start
    while i < len(text):
        ch = text[i]
        if ch in "“《「(（":
            depth += 1
        elif ch in "”》」)）":
            depth = max(0, depth - 1)
        elif ch in breaks and depth == 0:
            break
        i += 1
    return i


def _close_quotes(text: str, start: int, end: int) -> int:
    """Move ``end`` past the closing mark of any quotation opened in ``text[start:end]``."""
    for opening, closing in (("“", "”"), ("《", "》"), ("「", "」")):
        piece = text[start:end]
        if piece.count(opening) > piece.count(closing) and (close := text.find(closing, end)) >= 0:
            end = close + 1
    return end


def _phrase_start(text: str, end: int) -> int:
    i = end
    while i > 0 and text[i - 1] not in _CLAUSE_BREAKS + "、“”《》()（）—" and text[i - 1] not in _PHRASE_STOPS:
        i -= 1
    return i


def _shares_char(a: str, b: str) -> bool:
    return any(ch in b for ch in a if "\u4e00" <= ch <= "\u9fff")


# ---------------------------------------------------------------------------------------------- reading


MIN_COVERAGE = 0.5  # measured on the development set: see docs/architecture.md
MIN_OTHER_COVERAGE = 0.7
_SENTENCES_PER_HIT = 12
_HEADER_PARAGRAPHS = 6


def extract_answer(question: str, hits: list[Hit], engine) -> Answer:
    """Read the hits and return the best span, or an abstention carrying the hits as related passages."""
    if not question.strip():
        return Answer(question, False, message="请输入问题。")
    if not hits:
        return Answer(question, False, message="文档中没有找到相关内容。")
    segmenter: Segmenter = engine.segmenter
    q = analyse_question(question, segmenter)
    if not q.terms and q.kind == "other":
        return Answer(question, False, citations=hits, message="问题中没有可检索的词语，请换一种问法。")
    weights = term_weights(q.terms, engine.bm25.idf)
    content = [t for t in q.terms if t not in q.entities] or q.terms
    if q.metadata_field:  # 发布/作者 are answered by the header line itself, not by words near it
        content = [t for t in content if not _DOCUMENT_WORDS.search(t)]
    best: tuple[float, Scored, Span] | None = None
    best_coverage = 0.0
    for rank, hit in enumerate(hits):
        document = engine.documents[hit.source]
        if any(entity not in document.search for entity in q.entities):
            continue
        for scored in _sentences(q, hit, document, rank, content, weights):
            best_coverage = max(best_coverage, scored.coverage)
            for span in _typed_spans(q, scored, segmenter, weights):
                total = span.score + 3.0 * scored.coverage - 0.15 * rank
                if best is None or total > best[0]:
                    best = (total, scored, span)
    missing = [e for e in q.entities if not any(e in engine.documents[h.source].search for h in hits)]
    if missing:
        return _abstain(q, hits, f"文档中没有提到“{'、'.join(missing)}”，无法回答。")
    threshold = MIN_OTHER_COVERAGE if q.kind == "other" else MIN_COVERAGE
    if best is None or best[1].coverage < threshold:
        return _abstain(q, hits, "文档中没有找到这个问题的答案。以下是最相关的段落。")
    _, scored, span = best
    return _answer(q, scored, span, hits)


def _sentences(q: Question, hit: Hit, document: Document, rank: int, content: list[str],
               weights: dict[str, float]) -> Iterator[Scored]:
    """The hit's sentences, each scored by its coverage of the question's words: the sentence's own,
    raised toward its paragraph's when the paragraph (a heading, the sentence before) holds more."""
    title = to_search(document.title)
    spans = sentence_spans(document.text, hit.start, hit.end)[:_SENTENCES_PER_HIT]
    if q.metadata_field and hit.start > 0:  # the document's own header line answers 何时发布/作者
        header_end = document.paragraphs[min(len(document.paragraphs), _HEADER_PARAGRAPHS) - 1][1]
        spans = sentence_spans(document.text, 0, header_end) + spans
    for start, end in spans:
        p_start, p_end = document.paragraphs[document.paragraph_at(start) - 1]
        own = coverage(content, document.search[start:end] + title, weights)
        context = coverage(content, document.search[p_start:p_end] + title, weights)
        yield Scored(document, (start, end), max(own, (own + context) / 2), rank)


def _typed_spans(q: Question, scored: Scored, segmenter: Segmenter, weights: dict[str, float]) -> Iterator[Span]:
    start, end = scored.sentence
    text = scored.document.search[start:end]
    anchors = _occurrences(q.terms, text)
    if q.kind == "number":
        found = _number_spans(q, text)
    elif q.kind == "date":
        found = _date_spans(q, text)
    elif q.kind == "person":
        found = _person_spans(q, text, segmenter)
    elif q.kind == "place":
        found = _place_spans(q, text, segmenter)
    elif q.kind == "what":
        found = _what_spans(q, text)
    else:
        found = iter([(0, len(text.rstrip()), 0.0)])
    if q.metadata_field:
        found = _chain(found, _metadata_spans(q, scored))
    total_weight = sum(weights.values()) or 1.0
    restated = [t for t in q.terms if t not in right_terms_of(q) and t not in q.entities]
    echo = [t for t in q.terms if len(t) > 1]
    ordinal = re.search(r"哪([次届期批轮])", q.search)
    for a, b, fit in found:
        a, b = _trim(text, a, b)
        if b <= a:
            continue
        if q.kind in ("what", "place"):
            if _restated_share(text[a:b], echo) >= 0.9:
                continue  # only the question's own words
            fit -= 2.0 * _restated_share(text[a:b], restated)
        if ordinal and re.search(rf"第[\d一二三四五六七八九十]+{ordinal.group(1)}", text[a:b]):
            fit += 1.0  # 哪次会议 asks for 第三次会议
        closeness = _proximity(text, a, b, anchors, weights) / total_weight
        brevity = -0.02 * max(0, b - a - 10)
        yield Span(start + a, start + b, fit + 2.0 * closeness + brevity, q.kind)


def right_terms_of(q: Question) -> list[str]:
    return [t for t in q.terms if t in q.right]


def _restated_share(span: str, terms: list[str]) -> float:
    """Share of a span's characters that merely repeat the question's words."""
    covered = set()
    for term in terms:
        for m in re.finditer(re.escape(term), span):
            covered.update(range(m.start(), m.end()))
    return len(covered) / max(1, len(span))


def _metadata_spans(q: Question, scored: Scored) -> Iterator[tuple[int, int, float]]:
    """A document's own date, author, source or speaker, where its header line stands in this sentence."""
    value = scored.document.metadata.get(q.metadata_field, "")
    start, end = scored.sentence
    sentence = scored.document.text[start:end]
    position = sentence.find(value) if value else -1
    if position >= 0:
        if q.metadata_field == "date" and (date := _DATE.match(scored.document.search, start + position)):
            yield position, date.end() - start, 3.0
        else:
            yield position, position + len(value), 3.0


def _chain(*iterables):
    for iterable in iterables:
        yield from iterable


def _trim(text: str, a: int, b: int) -> tuple[int, int]:
    """Strip spaces and punctuation at the ends; a span that is exactly one quoted term loses its quotes."""
    while a < b and (text[a].isspace() or text[a] in "，,。；;：:、"):
        a += 1
    while b > a and (text[b - 1].isspace() or text[b - 1] in "，,。；;：:、"):
        b -= 1
    if b - a > 2 and _QUOTED.fullmatch(text[a:b]) and text[a] != "《":
        a, b = a + 1, b - 1
    return a, b


def _answer(q: Question, scored: Scored, span: Span, hits: list[Hit]) -> Answer:
    document = scored.document
    original = document.text[span.start:span.end]
    if q.traditional == is_traditional(document.text[:2000]):
        text = original
    else:
        text = to_traditional(original) if q.traditional else to_simplified(original)
    s_start, s_end = scored.sentence
    supporting = [h for h in hits if h.source == document.source and h.start <= span.start < h.end]
    citations = supporting[:1] + [h for h in hits if h not in supporting[:1]]
    return Answer(
        question=q.text, found=True, text=text, sentence=document.text[s_start:s_end].strip(),
        source=document.source, title=document.title, paragraph=document.paragraph_at(span.start),
        start=span.start, end=span.end, citations=citations, message="",
    )


def _abstain(q: Question, hits: list[Hit], message: str) -> Answer:
    return Answer(question=q.text, found=False, citations=hits, message=message)
