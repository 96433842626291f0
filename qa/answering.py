"""Extractive answers: the trained span reader (``qa.reader``) marks the answer in the top fused passages.

The reader reads each passage in its search form (simplified script, same length as the text), so an offset it
returns is an offset into ``Document.text``; the answer is that slice of the source, shown in the script the
question was asked in. Each passage's best span gets a confidence from its margin over no-answer and the lexical
support of its passage (``supports``); the most confident span is the answer when its confidence beats the
calibrated threshold; otherwise the reader abstains and the closest passages are given as related ones. A span that
stops inside a word or an administrative unit (嘎查) ends with it (``word_end``), and takes in the noun the question
asks for when that follows it (``through_asked_noun``: 4567 → 4567工作法 for 什么工作法); one that starts inside a
place's name after a preposition starts with the name (``place_start``: 包村 → 恼包村). Rules sit beside the reader,
each measured to help on top of it (docs/architecture.md): passages of a document that never mentions a year, an
ordinal (第二届) or a place the corpus knows that the question names are not read (``question_marks``, ``mentions``),
nor a passage that does not name the most specific place when the report's title does not (``about_place``); a span
whose sentence names another year and not the asked one is no answer (``dated_otherwise``), nor one whose sentence
names no year under a section heading of another year (``section_years``: 一、2022年工作回顾 says nothing of
2023); a question asking for a quantity or a day is answered only by a span holding a number it does not state, in
the unit it asks for when it names one (``new_numbers``, ``asked_units``; a list item's 二要 is no number), in a
sentence that names one of the question's key words (``names_a_term``: 魔芋's 6300余亩 is not the 茶园's) and not
by a figure another of its unit in the sentence outnames, said of more of those words (``outnamed_figure``: the
市场主体's 118家 is not the 合作社's 69家 after 其中, nor is a part after 其中 its whole when the question names
nothing the part adds), and one asking for a day only by a span that names one
(``names_day``: 一、2022年 is no day), and one asking how much something grew only by a figure said as a change
(``names_change``: 同比增长10.95%, not the 1.28亿元 invested); a lone verb answers nothing (``is_bare_verb``), nor a
whole clause a 谁 question (``crosses_clause``); a question asking who holds a post only by a span that names a
person under that post, if any (``holds_asked_post``); questions about a document's header (author, date, source)
are answered by ``qa.byline``.

Example::

    engine = qa.load()
    answer = read_answer("伊金霍洛镇2022年全年总收入是多少？", engine.retrieve("…", 4), engine)
    answer.text, answer.score, answer.source, answer.paragraph
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Collection, Iterable
from typing import TYPE_CHECKING

from .chunking import sentence_spans
from .conversation import named_places
from .lexicon import (
    ASKED_NOUN,
    ASKED_UNIT,
    BARE_NUMBER,
    BRACKET_PAIRS,
    CHANGE_QUESTION,
    CHANGE_WORD,
    CHINESE_DIGITS,
    CLAUSE_ENDS,
    DATE_UNITS,
    DAY,
    DAY_QUESTION,
    FIGURE_UNIT,
    FUNCTION_FLAGS,
    GENERAL_CLASSIFIER,
    HAN_RUN,
    HEADING_YEAR,
    LIST_MARKER,
    NAME_QUESTION,
    NEGATING_PREFIX,
    NUMBER,
    NUMBER_WITH_UNIT,
    ORDINAL,
    PLACE_SUFFIXES,
    POST_TITLE,
    QUANTITY_QUESTION,
    ROLE_HOLDER_QUESTION,
    SCOPE_WORD,
    SENTENCE_ENDS,
    TIME_MARK,
    TIME_QUESTION,
    WHO_QUESTION,
    YEAR,
)
from .script import is_traditional, to_search, to_simplified, to_traditional
from .terms import Segmenter, coverage, key_terms, part_of_speech, term_weights
from .types import Answer, Document, Hit

if TYPE_CHECKING:  # the reader module imports torch; answering is imported before it is needed
    from .reader import Reader, Span

_EDGE_MARKS = " \t\n" + CLAUSE_ENDS + SENTENCE_ENDS
_FIGURE_CLAUSE_ENDS = SENTENCE_ENDS + CLAUSE_ENDS.replace("、", "")  # a 、 list is one clause
_FULL_STOPS = SENTENCE_ENDS.replace("；", "").replace(";", "") + "\n"  # a ； list is one sentence


def read_answer(question: str, hits: list[Hit], engine) -> Answer:
    """The reader's answer from ``hits`` (all read in one forward pass), or an abstention that carries the
    hits as related passages."""
    if not question.strip():
        return Answer(question, False, message="请输入问题。")
    if not hits:
        return Answer(question, False, message="文档中没有找到相关内容。")
    places = known_places(question, engine)
    marks = asked_marks(question) + places
    mentioning = [hit for hit in hits if mentions(engine.documents[hit.source], marks)]
    if not mentioning:
        documents = [engine.documents[hit.source] for hit in hits]
        unmentioned = [mark for mark in marks if not any(mentions(document, [mark]) for document in documents)]
        return Answer(question, False, citations=hits,
                      message=f"相关文档中没有提到{'、'.join(unmentioned or marks)}。以下是最相关的段落。")
    if places:
        mentioning = [hit for hit in mentioning if about_place(engine.documents[hit.source], hit, places[-1])]
    reader = engine.reader
    found = most_confident(reader, engine, question, mentioning) if mentioning else None
    if found is None:
        return Answer(question, False, citations=hits, message="文档中没有找到这个问题的答案。以下是最相关的段落。")
    confidence, best = round(found[0], 4), found[1]
    hit, document = mentioning[best.passage], engine.documents[mentioning[best.passage].source]
    start, end = answer_edges(document.text, document.search, hit.start + best.start, hit.start + best.end,
                              engine.segmenter, question)
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


def asked_marks(question: str) -> list[str]:
    """The years and ordinals a question names, in search form ("2024年", "第二届").

    >>> asked_marks("伊金霍洛镇2022年度第四届人大第三次会议在哪召开？")
    ['2022年', '第四届', '第三次']
    """
    ordinals = [match.group(0) for match in ORDINAL.finditer(to_search(question))]
    return [f"{year}年" for year in asked_years(question)] + ordinals


def question_marks(question: str, engine) -> list[str]:
    """What a report must mention to answer the question (``mentions``): the years and ordinals it names
    (``asked_marks``) and the places the corpus knows (``known_places``). 音德尔镇's report does not answer who
    宋家镇's party secretary is."""
    return asked_marks(question) + known_places(question, engine)


def known_places(question: str, engine) -> list[str]:
    """The places a question names (``qa.conversation.named_places``, from the largest to the most specific, as
    Chinese names them: 音德尔镇长发村) that some document of the corpus mentions; a place no document mentions may
    be named otherwise there (呼和浩特市 as 首府), so it is left to the reader."""
    return [place for place in named_places(question, engine.segmenter) if engine.mentioned(place)]


def about_place(document: Document, hit: Hit, place: str) -> bool:
    """Whether the passage of ``hit`` can answer about ``place``: the report's title names it (its own town), or
    the passage does. A village a report mentions somewhere is the subject of the passages that name it, not of
    the whole report: 长发村's 第一书记 is not the 第一书记 of another passage."""
    pattern = mark_pattern(place)
    return bool(re.search(pattern, document.search_title) or re.search(pattern, document.search[hit.start:hit.end]))


def mentions(document: Document, marks: list[str]) -> bool:
    """Whether the document mentions every one of ``marks`` (``question_marks``): a year as a number of its own, not
    inside a longer one; an ordinal in digits or Chinese numerals, with or without its 第 (第二届: 二届, 第2届); a place
    by its name (``mark_pattern``). A question about a year, an ordinal or a place a report never mentions is not
    answered from that report, whatever its passages say about other years, the 第一届 or another town."""
    return all(re.search(mark_pattern(mark), document.search) for mark in marks)


def mark_pattern(mark: str) -> str:
    """The regular expression ``mentions`` looks for a mark with; a place by the last two characters of its name,
    which stand for it however the text writes the rest (音德尔镇: 德尔; 阿拉善高新区: 高新)."""
    ordinal = ORDINAL.fullmatch(mark)
    if ordinal is None:
        return rf"(?<!\d){mark[:4]}(?!\d)" if YEAR.fullmatch(mark) else re.escape(place_name(mark)[-2:])
    value = numeral_value(ordinal.group(1))
    return rf"(?<![0-9{CHINESE_DIGITS}十])(?:{value}|{chinese_numeral(value)}){ordinal.group(2)}"


def place_name(place: str) -> str:
    """A place without its administrative unit (``lexicon.PLACE_SUFFIXES``): 宋家镇 → 宋家, 绰勒社区 → 绰勒."""
    unit = next((suffix for suffix in PLACE_SUFFIXES if place.endswith(suffix) and len(place) > len(suffix)), "")
    return place[: len(place) - len(unit)]


def numeral_value(numeral: str) -> int:
    """1–99 written in digits or Chinese numerals (``lexicon.ORDINAL``'s): "二十三" → 23.

    >>> [numeral_value(n) for n in ("7", "七", "十", "十一", "二十", "九十九")]
    [7, 7, 10, 11, 20, 99]
    """
    if numeral.isdigit():
        return int(numeral)
    tens, ten, ones = numeral.rpartition("十")
    tens_value = CHINESE_DIGITS.index(tens) + 1 if tens else int(bool(ten))
    return tens_value * 10 + (CHINESE_DIGITS.index(ones) + 1 if ones else 0)


def chinese_numeral(value: int) -> str:
    """1–99 in Chinese numerals, as written in a text: 10 → 十, 11 → 十一, 23 → 二十三.

    >>> [chinese_numeral(v) for v in (7, 10, 11, 20, 99)]
    ['七', '十', '十一', '二十', '九十九']
    """
    tens, ones = divmod(value, 10)
    prefix = "" if tens == 0 else "十" if tens == 1 else CHINESE_DIGITS[tens - 1] + "十"
    return prefix + (CHINESE_DIGITS[ones - 1] if ones else "")


def most_confident(reader: Reader, engine, question: str, hits: list[Hit]) -> tuple[float, Span] | None:
    """The reader's most confident span over the hits' passages (all read in one forward pass) with its
    confidence, or None when no passage has a span."""
    asked = to_search(question)
    documents = [engine.documents[hit.source] for hit in hits]
    passages = [document.search[hit.start:hit.end] for document, hit in zip(documents, hits, strict=True)]
    titled = [passage + document.search_title for passage, document in zip(passages, documents, strict=True)]
    shares = supports(engine, asked, titled)

    def said(span: Span) -> str:
        return passages[span.passage][span.start:span.end]

    spans = [span for span in reader.read(asked, passages) if not is_bare_verb(said(span), engine.segmenter)]
    if ROLE_HOLDER_QUESTION.search(asked):
        spans = [span for span in spans if holds_asked_post(passages[span.passage], span.start, span.end, asked,
                                                            engine.segmenter)]
    if WHO_QUESTION.search(asked):
        spans = [span for span in spans if not crosses_clause(said(span))]
    if NAME_QUESTION.search(asked):
        spans = [span for span in spans if not opens_with_preposition(said(span), engine.segmenter)]
    if not QUANTITY_QUESTION.search(asked):
        spans = [span for span in spans if not is_bare_number(said(span))]
    else:
        units = asked_units(asked, engine.figure_units)
        subject = [term for term in key_terms(engine.segmenter.words(asked)) if not SCOPE_WORD.fullmatch(term)]
        terms = negated_as_asked(term_parts(subject, engine.segmenter), asked)
        spans = [span for span in spans if new_numbers(said(span), asked, units)
                 and names_a_term(passages[span.passage], span.start, span.end, terms)
                 and not outnamed_figure(passages[span.passage], span.start, span.end, terms, units)
                 and not one_of_a_list(passages[span.passage], span.start, span.end, subject)]
    if CHANGE_QUESTION.search(asked):
        spans = [span for span in spans if names_change(passages[span.passage], span.start, span.end)]
    if DAY_QUESTION.search(asked):
        spans = [span for span in spans if names_day(said(span))]
    if TIME_QUESTION.search(asked):
        spans = [span for span in spans if names_time(said(span))]
    years = set(asked_years(asked))
    if years:
        spans = [span for span in spans if not dated_otherwise(
            passages[span.passage], span.start, span.end, years,
            section_years(documents[span.passage], hits[span.passage].start + span.start))]
    scored = [(reader.confidence(span.margin, shares[span.passage]), span) for span in spans]
    return max(scored, key=lambda pair: pair[0], default=None)


def is_bare_verb(span: str, segmenter: Segmenter) -> bool:
    """Whether ``span`` is one verb and nothing else, which answers no question (建强 from the headline "建强…品牌"
    for what the brand is called): none of the CMRC 2018 trial's 1,002 gold answers is one.

    >>> from qa.terms import Segmenter
    >>> is_bare_verb("建强", Segmenter()), is_bare_verb("茶叶", Segmenter())
    (True, False)
    """
    words = segmenter.tagged(span.strip(_EDGE_MARKS))
    return len(words) == 1 and words[0][1] == "v"


def opens_with_preposition(span: str, segmenter: Segmenter) -> bool:
    """Whether ``span`` opens with a preposition (jieba's tag p: 通过, 在, 按照): it tells how or where, and names
    nothing a 叫什么 question asks for. One of CMRC 2018 train's 223 gold answers to such questions does, mis-tagged
    (朝比奈实玖瑠的冒险).

    >>> opens_with_preposition("通过整合资金联合开办砂石厂", Segmenter()), opens_with_preposition("恼包村", Segmenter())
    (True, False)
    """
    words = segmenter.tagged(span.strip(_EDGE_MARKS))
    return bool(words) and words[0][1] == "p"


def is_bare_number(span: str) -> bool:
    """Whether ``span`` is a number and nothing else (``lexicon.BARE_NUMBER``: a section's "(四)", a list's "3."),
    which answers no question that asks for no quantity: none of CMRC 2018 train's 9,094 gold answers to such
    questions is one.

    >>> is_bare_number("四)"), is_bare_number("4567"), is_bare_number("4567工作法")
    (True, True, False)
    """
    return bool(BARE_NUMBER.fullmatch(span.strip(_EDGE_MARKS)))


def names_day(span: str) -> bool:
    """Whether ``span`` names a day (``lexicon.DAY``: 日 or 号, or a date in digits), as an answer to 哪天 or 几月几日
    must: "一、2022年" does not. Of the six such questions in CMRC 2018 train, five gold answers name one (4月6日,
    次日); the sixth answers with a description (是仙姑下凡普渡众生的日子).

    >>> [names_day(span) for span in ("2023年4月20日", "2023-04-22", "乡试放榜次日", "一、2022年")]
    [True, True, True, False]
    """
    return bool(DAY.search(span))


def names_time(span: str) -> bool:
    """Whether ``span`` names a time (``lexicon.TIME_MARK``: a number or a word of time), as an answer to 什么时候 or
    何时 must: 筹划举办“西部玫瑰文化节” says nothing of when.

    >>> [names_time(span) for span in ("2023年4月", "冬季", "魏晋", "筹划举办“西部玫瑰文化节”")]
    [True, True, False, False]
    """
    return bool(TIME_MARK.search(span))


def names_change(passage: str, start: int, end: int) -> bool:
    """Whether a figure of the span ``passage[start:end]`` is said as a change (``lexicon.CHANGE_WORD`` in its clause
    before it: 同比增长10.95%, 新增岗位120个), as an answer to 增长了多少 must: the 1.28亿元 of
    "完成固定资产投资1.28亿元，同比增长10.95%" is how much was invested, not how much that grew.

    >>> text = "完成固定资产投资1.28亿元，同比增长10.95%。"
    >>> names_change(text, 8, 14), names_change(text, 19, 25), names_change(text, 8, 25)
    (False, True, True)
    """
    for figure in NUMBER.finditer(passage, start, end):
        clause_start = bounds_within(passage, 0, figure.start(), _FIGURE_CLAUSE_ENDS + "、")[0]
        if CHANGE_WORD.search(passage, clause_start, figure.start()):
            return True
    return False


def crosses_clause(span: str) -> bool:
    """Whether ``span`` runs over a comma or a sentence end: a whole clause, which names no one (a 谁 question answered
    "四代传承源于民间，…"); a list of posts (镇党委副书记、政府镇长焦健) is one clause.

    >>> crosses_clause("镇党委副书记、政府镇长焦健"), crosses_clause("传承源于民间，深受群众喜爱。")
    (False, True)
    """
    return any(mark in span.strip(_EDGE_MARKS) for mark in "，," + SENTENCE_ENDS)


def holds_asked_post(passage: str, start: int, end: int, question: str, segmenter: Segmenter) -> bool:
    """Whether ``passage[start:end]`` can answer who holds the post ``question`` asks about: within one clause it
    names a person (``person_at``; a sentence that mentions 大青山 names none), and the post written right before
    the name, in the span or before it, is one the question names if there is one, with or without the unit of the
    place before it (``post_before``; 音德尔镇的党委书记 names 镇党委书记): 镇党委书记陈健 does not answer who the 镇长
    is, nor 镇党委副书记郑亚辉 who the 党委书记 is, nor "镇党委副书记、政府镇长焦健".

    >>> text = "镇党委副书记、政府镇长焦健主持，镇党委书记陈健讲话"
    >>> [holds_asked_post(text, 21, 23, q, Segmenter()) for q in ("镇长是谁", "镇党委书记是谁", "该镇的党委书记是谁")]
    [False, True, True]
    >>> [holds_asked_post(text, a, 13, "镇党委书记是谁？", Segmenter()) for a in (11, 0)]
    [False, False]
    >>> holds_asked_post(text, 0, 13, "镇长是谁？", Segmenter())
    True
    """
    text = passage[start:end]
    name = person_at(text, segmenter)
    if crosses_clause(text) or name < 0:
        return False
    post = post_before(passage, start + name, segmenter)
    return not post or post in question or (post[0] in PLACE_SUFFIXES and post[1:] in question)


def post_before(passage: str, start: int, segmenter: Segmenter, context: int = 12) -> str:
    """The post named right before ``passage[start:]`` (``lexicon.POST_TITLE``; 镇党委副书记郑亚辉 → 副书记), or "":
    the jieba word ending there, with a lone character before it joined (副 + 书记)."""
    words = segmenter.words(passage[max(0, start - context):start])
    post = words[-1] if words else ""
    if len(words) > 1 and len(words[-2]) == 1 and HAN_RUN.fullmatch(words[-2]):
        post = words[-2] + post
    return post if POST_TITLE.search(post) else ""


def person_at(text: str, segmenter: Segmenter) -> int:
    """Where ``text`` (search form) first names a person, or -1: outside the places it names (``named_places``:
    jieba tags 阿拉 of 阿拉坦花嘎查 as a name), a word jieba tags as a person's name (nr, nrfg, nrt) or a word in Latin
    letters (a name it cannot tag).

    >>> segmenter = Segmenter()
    >>> [person_at(text, segmenter) for text in ("镇党委副书记郑亚辉", "镇党委书记与镇纪委书记", "阿拉坦花嘎查")]
    [6, -1, -1]
    """
    for place in named_places(text, segmenter):
        text = text.replace(place, " " * len(place))
    at = 0
    for word, flag in segmenter.tagged(text):
        if flag.startswith("nr") or flag == "eng":
            return at
        at += len(word)
    return -1


def sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` of the sentence(s) of ``text`` holding ``[start, end)``.

    >>> sentence_bounds("新建茶园2500余亩。全镇种植魔芋6300余亩。", 17, 23)
    (11, 24)
    """
    sentences = [(a, b) for a, b in sentence_spans(text) if a < end and start < b] or [(start, end)]
    return sentences[0][0], sentences[-1][1]


def full_sentence_bounds(text: str, start: int, end: int) -> tuple[int, int]:
    """``(start, end)`` of the sentence(s) of ``text`` holding ``[start, end)``, to the full stops: the parts of a ；
    list are one sentence.

    >>> full_sentence_bounds("收入1.99亿元；支出1.85亿元。次年", 11, 17)
    (0, 18)
    """
    low = bounds_within(text, 0, start, _FULL_STOPS)[0]
    return low, min(bounds_within(text, 0, max(start, end - 1), _FULL_STOPS)[1] + 1, len(text))


def one_of_a_list(passage: str, start: int, end: int, terms: Collection[str]) -> bool:
    """Whether a key word of the question is named in the span's sentence only as an item of a 、 list closed by 等
    (A、B等项目; the word ends its item, or all of it but a character) whose other items the question does not name,
    in a clause apart from the span: what the sentence says of the items together is not said of that one
    ("联合开办砂石厂、共建…美食商业广场等项目，2021年度2个嘎查集体经营性收入突破50万元" gives no 砂石厂's income).

    >>> sentence = "开办砂石厂、共建美食广场等项目，收入突破50万元。"
    >>> one_of_a_list(sentence, 20, 24, ["砂石厂", "收入"]), one_of_a_list(sentence, 20, 24, ["砂石厂", "美食广场"])
    (True, False)
    """
    low, high = full_sentence_bounds(passage, start, end)

    def listed_alone(position: int, term: str) -> bool:
        clause_start, clause_end = bounds_within(passage, low, position, _FIGURE_CLAUSE_ENDS, high)
        clause = passage[clause_start:clause_end]
        closing = clause.rfind("等")
        items = clause[:closing].split("、") if closing >= 0 else []
        ends_its_item = re.match(r"[^、等]?[、等]", clause[position - clause_start + len(term):])  # 砂石 of 砂石厂
        return (len(items) > 1 and bool(ends_its_item) and position - clause_start < closing
                and not clause_start <= start < clause_end
                and sum(any(other in item for other in terms) for item in items) == 1)

    def only_listed(term: str) -> bool:
        positions = [match.start() for match in re.compile(re.escape(term)).finditer(passage, low, high)]
        return bool(positions) and all(listed_alone(position, term) for position in positions)

    return any(only_listed(term) for term in terms if len(term) > 1)


def names_a_term(passage: str, start: int, end: int, terms: Collection[str]) -> bool:
    """Whether the sentence of ``passage`` holding ``[start, end)`` names one of ``terms`` (the question's key words;
    none: nothing to check). A figure counts what its own sentence is about: "全镇规范化种植魔芋6300余亩，…" does not
    say how many 亩 the tea gardens cover (茶园总面积), though its passage names 茶园 in another sentence.

    >>> passage = "新建茶园2500余亩。全镇规范化种植魔芋6300余亩。"
    >>> names_a_term(passage, 20, 26, ["茶园", "总面积"]), names_a_term(passage, 4, 10, ["茶园", "总面积"])
    (False, True)
    """
    sentence = passage[slice(*sentence_bounds(passage, start, end))]
    return not terms or any(term in sentence for term in terms)


def outnamed_figure(passage: str, start: int, end: int, terms: Collection[str], units: Collection[str] = ()) -> bool:
    """Whether every figure of the span (in one of the ``units`` asked, if any: 60周岁 qualifies the 6113剂次 of
    "60周岁以上人群接种疫苗6113剂次") is outnamed: another figure in digits of its unit in its sentence (to the full
    stop: the items of a ； list are rivals), outside the span, is said of a strict superset of the question's key
    words that it is said of (``figure_label``; 非税收收入 is not said of 税收收入). The span then gives a list's total
    or neighbour instead of the item asked ("市场主体118家，其中…合作社69家" for 合作社有多少家; 18684剂次 for the
    60周岁以上's 6113剂次). A figure of the same value (the same fact said twice) is no rival, dates (年, 月, 日) have
    none, and rivals are in digits: a Chinese numeral is as often an ordinal or a name (第二部分, 地下一层).

    >>> outnamed_figure("已成立市场主体118家，其中园区22家、合作社69家。", 7, 11, ["市场主体", "合作社"])
    True
    >>> outnamed_figure("已成立市场主体118家，其中园区22家、合作社69家。", 23, 26, ["市场主体", "合作社"])
    False
    """
    low, high = full_sentence_bounds(passage, start, end)
    own = [figure for figure in NUMBER_WITH_UNIT.finditer(passage, low, high)
           if start <= figure.start() < end and figure.group(2) not in DATE_UNITS
           and (not units or figure.group(2) in units)]

    def outnamed(figure: re.Match) -> bool:
        rivals = [other for other in FIGURE_UNIT.finditer(passage, low, high) if other.group(1) == figure.group(2)
                  and not start <= other.start() < end and other.group(0) != figure.group(0)]
        siblings = sorted([figure, *rivals], key=lambda other: other.start())

        def said_of(other: re.Match, whole: bool = True) -> set[str]:
            label = figure_label(passage, low, other, siblings, whole)
            return {term for term in terms if names_unnegated(label, term)}

        mine = said_of(figure)
        if any(said_of(rival) > mine for rival in rivals):
            return True
        # a part after 其中 whose own words add none the question names to its whole's is not what it asks for
        # (6113剂次 of 60周岁以上人群 for all the doses of 新冠疫苗)
        parts = passage.find("其中", low, figure.start())
        wholes = [said_of(rival) for rival in rivals if 0 <= rival.start() < parts]
        own = said_of(figure, whole=False) if wholes else set()
        return any(whole and own <= whole for whole in wholes)

    return bool(own) and all(outnamed(figure) for figure in own)


def negated_as_asked(terms: Iterable[str], question: str) -> set[str]:
    """The terms, each with the 非 the question puts before it: the words drop 非 from 非税收收入, which asks for
    what is not 税收收入.

    >>> sorted(negated_as_asked(["税收收入", "完成"], "非税收收入完成多少"))
    ['完成', '非税收收入']
    """
    return {NEGATING_PREFIX + term if NEGATING_PREFIX + term in question else term for term in terms}


def names_unnegated(text: str, term: str) -> bool:
    """Whether ``text`` names ``term`` other than as 非 + ``term``, which names what ``term`` is not
    (``negated_as_asked`` keeps a question's own 非).

    >>> names_unnegated("非税收收入100.97万元", "税收收入"), names_unnegated("其中税收收入6728.14万元", "税收收入")
    (False, True)
    """
    return any(text[match.start() - 1:match.start()] != NEGATING_PREFIX for match in re.finditer(re.escape(term), text))


def figure_label(text: str, sentence_start: int, figure: re.Match, figures: list[re.Match], whole: bool = True) -> str:
    """What a figure of a sentence is said of, among ``figures`` of its unit, within its part of the sentence (to a ；):
    its clause with the clauses before it back to the previous figure's, the lead of a 、 list it is a later item of
    ("持续打造" for 10个 in "持续打造9个…、10个…"), and the words before 其中 when it is one of the parts
    (其中…合作社69家 is said of the 市场主体 too).

    >>> text = "全镇已成立市场主体118家，其中园区22家、合作社69家。"
    >>> figures = list(NUMBER_WITH_UNIT.finditer(text))
    >>> [figure_label(text, 0, figure, figures) for figure in figures]
    ['全镇已成立市场主体118家', '其中园区22家全镇已成立市场主体118家，', '其中园区合作社69家全镇已成立市场主体118家，']
    """
    sentence_start = bounds_within(text, sentence_start, figure.start(), SENTENCE_ENDS)[0]
    clause_start, clause_end = bounds_within(text, sentence_start, figure.start(), _FIGURE_CLAUSE_ENDS)
    earlier = [other for other in figures if sentence_start <= other.start() and other.end() <= clause_start]
    begin = bounds_within(text, sentence_start, earlier[-1].start(), _FIGURE_CLAUSE_ENDS)[1] + 1 if earlier \
        else sentence_start
    item_start, item_end = bounds_within(text, clause_start, figure.start(), _FIGURE_CLAUSE_ENDS + "、", clause_end)
    first = min(other.start() for other in figures if clause_start <= other.start() < clause_end)
    lead = text[clause_start:first] if item_start > clause_start else ""
    parts = text.find("其中", sentence_start, figure.start())
    said_of_whole = text[sentence_start:parts] if whole and parts >= 0 else ""
    return text[begin:clause_start] + lead + text[item_start:item_end] + said_of_whole


def bounds_within(text: str, low: int, position: int, ends: str, high: int | None = None) -> tuple[int, int]:
    """``(start, end)`` of the stretch of ``text`` around ``position`` that holds none of ``ends``, kept within
    ``[low, high)``."""
    high = len(text) if high is None else high
    start = position
    while start > low and text[start - 1] not in ends:
        start -= 1
    end = position
    while end < high and text[end] not in ends:
        end += 1
    return start, end


def term_parts(terms: Iterable[str], segmenter: Segmenter) -> set[str]:
    """The terms and the words of two or more characters they are made of (``Segmenter.tokens``, search mode): jieba
    joins 镇 to 茶园 in 宋家镇茶园, and 身高体重 stands for 身高 and 体重.

    >>> sorted(term_parts(["镇茶园", "身高体重"], Segmenter()))
    ['体重', '茶园', '身高', '身高体重', '镇茶园']
    """
    return {part for term in terms for part in (term, *segmenter.tokens(term)) if len(part) > 1}


def dated_otherwise(passage: str, start: int, end: int, years: Collection[str], section: Collection[str] = ()) -> bool:
    """Whether the sentence of ``passage`` holding ``[start, end)`` names none of ``years`` but another year outside
    the span, or names none and its ``section`` (``section_years``) is of another year: "2021年度2个嘎查集体经营性
    收入突破50万元" answers nothing about 2022, nor does a sentence under 一、2022年工作回顾 about 2023; while a span
    may name a year of its own (the title 《关于表彰2021年度…的决定》 read out at a 2022 meeting).

    >>> dated_otherwise("2021年度收入突破50万元。2022年新增3个。", 10, 14, {"2022"})
    True
    >>> dated_otherwise("2021年度收入突破50万元。2022年新增3个。", 22, 24, {"2022"})
    False
    >>> dated_otherwise("宣读了《关于表彰2021年度先进集体的决定》。", 3, 22, {"2022"}, section={"2022"})
    False
    >>> dated_otherwise("新增城镇就业120人。", 6, 10, {"2023"}, section={"2022"})
    True
    """
    named = list(YEAR.finditer(passage, *sentence_bounds(passage, start, end)))
    if any(match.group(0)[:4] in years for match in named):
        return False
    if any(match.end() <= start or match.start() >= end for match in named):
        return True
    return bool(section) and not set(section) & set(years)


def section_years(document: Document, offset: int) -> set[str]:
    """The years the last section heading before ``offset`` names: a report that reviews one year and plans the next
    (一、2022年工作回顾 … 二、2023年工作计划). A heading is a paragraph of at most 20 characters with no sentence end
    that names a year (``lexicon.HEADING_YEAR``, with or without 年: 踔厉奋发、笃行不怠的2022) and no day (not a
    dateline such as "(2023年4月20日)")."""
    years: set[str] = set()
    for start, end in document.paragraphs:
        if start > offset:
            break
        line = document.search[start:end].strip()
        named = set(HEADING_YEAR.findall(line))
        if named and len(line) <= 20 and not names_day(line) and not any(mark in line for mark in SENTENCE_ENDS):
            years = named
    return years


def new_numbers(text: str, question: str, units: Collection[str] = ()) -> list[str]:
    """The numbers in ``text`` that ``question`` does not state itself: what an answer to a quantity question
    must hold ("2008年" answers nothing about 2008; "总面积*平方公里", its figure masked, holds none; a list item's
    numeral, 二要…, is no figure). With the ``units`` the question asks in (``asked_units``), only numbers given in
    one of them count: "168余万元" does not answer "多少人次", "50余项" does not answer "多少万元".

    >>> new_numbers("2008年人口约33,700人", "2008年的人口是多少？")
    ['33', '700']
    >>> new_numbers("接待游客38万余人次，收入168余万元", "有多少人次？", units={"人", "次"})
    ['38']
    >>> new_numbers("二要突出重点，三是抓住关键", "列出了几项重点工作？")
    []
    """
    stated = set(NUMBER.findall(question))
    text = LIST_MARKER.sub("", text)
    if not units:
        return [number for number in NUMBER.findall(text) if number not in stated]
    # a unit in Latin letters ("2cm" for 多少厘米) is one this check cannot compare, so it stands
    return [number for number, unit in NUMBER_WITH_UNIT.findall(text)
            if (unit in units or unit.isascii()) and number not in stated]


def asked_units(question: str, units: Collection[str]) -> frozenset[str]:
    """The units a figure answering a quantity question may be given in: the unit the question asks in ("多少万只"
    → 只) when the documents use that character as a unit (``figure_units``), or a character of the noun it
    counts (a figure of 人 answers "多少名工作人员"); none when it asks without a unit ("是多少？"), with a
    noun ("多少游客": 游 is no unit, so "38万余人次" may answer it) or with the general classifier 个, which any
    unit may answer ("几个孩子" → "3名子女").

    >>> sorted(asked_units("预计年出栏肉鸡多少万只？", {"只", "元"})), asked_units("接待了多少游客？", {"只", "元"})
    (['只'], frozenset())
    >>> sorted(asked_units("新增了多少名工作人员？", {"名", "人"}))
    ['人', '作', '名', '员', '工']
    """
    match = ASKED_UNIT.search(question)
    if not match or match.group(1) not in units or match.group(1) == GENERAL_CLASSIFIER:
        return frozenset()
    return frozenset(match.group(1) + match.group(2))


def figure_units(texts: Iterable[str], share: float) -> frozenset[str]:
    """The characters the texts use as units of figures: those that follow a figure in digits (with 余/多 and
    orders of magnitude between, ``lexicon.FIGURE_UNIT``) in at least ``share`` of their occurrences. Read from
    the documents rather than listed: 亩 follows a figure 13 times in 13 in the seed reports, 元 38 in 43, 人 12
    in 118, while 项 (4 in 99), 学 or 工 mostly begin words, so "多少学生" asks for no unit.

    >>> sorted(figure_units(["种植6300余亩，投资3.26亿元，新建亩产示范", "项目5项"], share=0.5)) == ["亩", "元", "项"]
    True
    """
    after: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    for text in texts:
        seen.update(text)
        after.update(FIGURE_UNIT.findall(text))
    return frozenset(unit for unit, count in after.items() if count >= share * seen[unit])


def supports(engine, question: str, texts: list[str]) -> list[float]:
    """The lexical support of each passage for an answer: the share of the question's key words found in it
    (passage + title, search form), IDF × length weighted (``qa.terms.coverage``); none for a question without
    key words (punctuation, emoji), which nothing in the documents can support."""
    terms = key_terms(engine.segmenter.words(question))
    if not terms:
        return [0.0] * len(texts)
    weights = term_weights(terms, engine.bm25.idf)
    return [coverage(terms, text, weights) for text in texts]


def answer_edges(text: str, search: str, start: int, end: int, segmenter: Segmenter,
                 question: str = "") -> tuple[int, int]:
    """The reader's span ``text[start:end]`` as an answer: trimmed (``trim``), then, when it ends inside a word,
    to the end of that word (``word_end``, read in ``search``, the same-length search form of ``text``), then
    through the noun ``question`` asks for when it follows (``through_asked_noun``), and from the first character
    of a place's name it starts after (``place_start``)."""
    start, end = trim(text, start, end)
    if end <= start:
        return start, end
    end = through_asked_noun(search, word_end(search, start, end, segmenter), asked_noun(question, segmenter))
    return place_start(search, start, end, segmenter), end


def asked_noun(question: str, segmenter: Segmenter) -> str:
    """The noun a question ends by asking for (什么工作法 → 工作法, 哪个乡村游项目 → 乡村游项目), or "": its last
    word must be a noun (an abbreviation or a verbal noun too) and its first no function word (not 以什么为食,
    因为什么而闻名).

    >>> segmenter = Segmenter()
    >>> [asked_noun(q, segmenter) for q in ("推行的是什么工作法？", "蓝线裸顶鲷以什么为食？", "谁是镇长？")]
    ['工作法', '', '']
    """
    match = ASKED_NOUN.search(to_search(question))
    if not match:
        return ""
    tags = [flag for _, flag in segmenter.tagged(match.group(1))]
    head_is_noun = tags[-1].startswith("n") or tags[-1] in ("j", "vn")
    return match.group(1) if head_is_noun and not tags[0].startswith(FUNCTION_FLAGS) else ""


def through_asked_noun(search: str, end: int, noun: str, gap: int = 4) -> int:
    """``end``, or the end of ``noun`` when it follows ``end`` within ``gap`` Chinese characters of the same phrase:
    the reader tends to stop at the name before it (4567 in “4567工作法” asked as 什么工作法, 乌珠尔 in
    乌珠尔特色乡村游项目 asked as 哪个乡村游项目).

    >>> text = "全面推行“4567工作法”，规划乌珠尔特色乡村游项目"
    >>> [through_asked_noun(text, end, noun) for end, noun in ((9, "工作法"), (19, "乡村游项目"), (9, "项目"))]
    [12, 26, 9]
    """
    if not noun:
        return end
    at = search.find(noun, end, end + gap + len(noun))
    if at < 0 or (at > end and not HAN_RUN.fullmatch(search[end:at])):
        return end
    return at + len(noun)


def word_end(text: str, start: int, end: int, segmenter: Segmenter, context: int = 24) -> int:
    """``end``, or the end of the dictionary word (``Segmenter.dictionary_words``, learned names included) or
    administrative unit (``unit_end``) that ``text[start:end]`` stops inside: the reader's token pieces can end a
    span one character short (布拉格嘎 for the village 布拉格嘎查, 十星 for 十星级). ``text`` is read from ``context``
    characters before ``start`` to as many after ``end``.

    >>> from qa.terms import Segmenter
    >>> text = "两个嘎查被评为十星级党组织"
    >>> text[7:word_end(text, 7, 9, Segmenter())], text[7:word_end(text, 7, 10, Segmenter())]
    ('十星级', '十星级')
    """
    low = max(0, start - context)
    position = low
    for word in segmenter.dictionary_words(text[low:min(len(text), end + context)]):
        position += len(word)
        if position - len(word) < end < position:
            return position
        if position >= end:
            break
    return unit_end(text, end)


def unit_end(text: str, end: int) -> int:
    """``end``, or the end of the administrative unit of two or more characters (``lexicon.PLACE_SUFFIXES``) that
    ``end`` cuts: jieba's dictionary lacks 嘎查, so 阿拉坦花嘎 would stay cut.

    >>> text = "阿拉坦花嘎查被评为先进集体"
    >>> text[:unit_end(text, 5)], text[:unit_end(text, 4)]
    ('阿拉坦花嘎查', '阿拉坦花')
    """
    for unit in (suffix for suffix in PLACE_SUFFIXES if len(suffix) > 1):
        for cut in range(1, len(unit)):
            if text[end - cut:end - cut + len(unit)] == unit:
                return end - cut + len(unit)
    return end


def place_start(text: str, start: int, end: int, segmenter: Segmenter) -> int:
    """``start``, or one character earlier when the span names a place (two or more characters ending with an
    administrative unit, ``lexicon.PLACE_SUFFIXES``) and that character, neither a function word nor a verb, stands
    alone after a word that is a preposition: the reader's token pieces can drop a name's first character (包村 for
    恼包村 in "在恼包村举办"; not 是 in "现在是高档街区"). None of CMRC 2018 train's 289 gold answers that end with a
    unit is so preceded.

    >>> text = "我镇在恼包村举办了清风文化节，在该村，现在是高档街区"
    >>> [text[place_start(text, a, b, Segmenter()):b] for a, b in ((4, 6), (3, 6), (17, 18), (22, 26))]
    ['恼包村', '恼包村', '村', '高档街区']
    """
    if (end - start < 2 or start < 2 or not any(text[start:end].endswith(unit) for unit in PLACE_SUFFIXES)
            or not HAN_RUN.fullmatch(text[start - 1])
            or part_of_speech(text[start - 1]).startswith((*FUNCTION_FLAGS, "v"))):
        return start
    before = segmenter.dictionary_words(text[max(0, start - 8):start - 1])
    return start - 1 if before and len(before[-1]) == 1 and part_of_speech(before[-1]) == "p" else start


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
