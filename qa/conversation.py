"""Follow-up questions: a question that leaves out its subject takes it from the conversation.

No model: rules over the entities the pipeline already finds. A question's *subject* is the places it names
(the corpus's learned names and words of their shape, with an organisation such as 党委 or 政府 that follows
the place) and the documents it names (a 《title》, or a phrase such as 政府工作报告 found in a document title).
A year does not make a subject. Then:

* a question that names its own subject stands alone (a topic switch);
* an elliptical "那X呢？" repeats the previous question with X in place of the matching slot: a year for its
  year, a place for its place, otherwise for the words it asked about;
* a pronoun or demonstrative (它, 该镇, 这里, 这篇报告 …) is replaced by, or preceded by, the subject;
* any other question is prefixed with the subject.

A question that inherits its subject also inherits the document the previous answer came from (``sources``),
unless the previous turn was not answered. The earlier turns are understood the same way, in order, so a
history of questions as typed and a history of questions as understood give the same result.

>>> segmenter = Segmenter(["伊金霍洛镇", "宋家镇"])
>>> history = [Turn("伊金霍洛镇2022年全年总收入是多少？", "001.txt")]
>>> understood = understand("那2021年呢？", history, segmenter, {})
>>> understood.question, understood.inherited, understood.sources
('伊金霍洛镇2021年全年总收入是多少？', ['伊金霍洛镇'], ['001.txt'])
>>> understand("党委书记是谁？", history, segmenter, {}).question
'伊金霍洛镇党委书记是谁？'
>>> understand("宋家镇有多少名网格员？", history, segmenter, {}).rewritten()
False
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

import jieba

from .lexicon import (
    FUNCTION_FLAGS,
    HAN_RUN,
    ORGANISATIONS,
    PERSONAL_PRONOUNS,
    PLACE_SUFFIXES,
    PRONOUNS,
    QUESTION_WORDS,
    RARE_WORD_FREQ,
    STOP_TOKENS,
    YEAR,
)
from .script import is_traditional, to_search, to_simplified, to_traditional
from .terms import Segmenter

_SUFFIXES = tuple(sorted(PLACE_SUFFIXES, key=len, reverse=True))
_PLACE_POINTER = re.compile(r"(?:这个|那个|该|这|那|此|本)(?P<suffix>" + "|".join(_SUFFIXES) + ")")
_DOCUMENT_NOUN = r"(?:报告|文章|报道|新闻|稿件|讲话)"
_DOCUMENT_POINTER = re.compile(r"(?:这|那|该|本|此)(?:一?[篇份])?" + _DOCUMENT_NOUN + r"|(?:该|本|此)文")
_DOCUMENT_NAME = re.compile(r"《[^《》]+》")
_QUESTION_WORD = re.compile("|".join(QUESTION_WORDS))
_ELLIPSIS_END = re.compile(r"(?:呢|又如何|如何|怎么样|怎样)[\s?？。!！]*$")
_COUNTING = frozenset(("多少", "几"))  # count a noun before them (游客多少人次) unless a measure word follows
_CONNECTIVES = frozenset(("那", "那么"))  # "那…": 'then', not a subject
_LEAD_IN = "请问"
_PROPER_FLAGS = ("ns", "nr", "nz")  # jieba's place, person and other proper names
_LONGEST_STEM = 5


@dataclass
class Turn:
    """One earlier exchange: the question as typed (or as understood), and the file its answer came
    from (None: it was not answered)."""

    question: str
    source: str | None = None


@dataclass
class Understood:
    """How a question was understood. ``question`` is what to search and answer with (the input when
    nothing is inherited); ``inherited`` the subject words taken from the conversation (empty: the
    question stands alone); ``sources`` the files to restrict retrieval to, or None for all."""

    original: str
    question: str
    inherited: list[str] = field(default_factory=list)
    sources: list[str] | None = None

    def rewritten(self) -> bool:
        return self.question != self.original


def understand(question: str, history: Sequence[Turn], segmenter: Segmenter,
               titles: Mapping[str, str]) -> Understood:
    """``question`` as understood after ``history`` (oldest turn first). ``segmenter`` is the engine's
    (it knows the place names the index learned: ``engine.segmenter``); ``titles`` maps each source file
    to its document title (``engine.titles()``)."""
    if not question.strip():
        return Understood(question, question)
    context = None
    for turn in history:
        if turn.question.strip():
            understood = _understand(turn.question, context, segmenter, titles)
            context = _context(understood.question, turn.source, segmenter, titles)
    return _understand(question, context, segmenter, titles)


# ---------------------------------------------------------------------------------------------- reading


@dataclass
class _Reading:
    """A question read for its subject; every span is (start, end) into ``text`` (and ``search``)."""

    text: str
    search: str
    words: list[tuple[int, int, str]]  # each jieba word: start, end, part of speech
    places: list[tuple[int, int]]
    documents: list[tuple[int, int]]
    years: list[tuple[int, int]]
    pointers: list[tuple[int, int, str]]  # pronouns and demonstratives; the place suffix they name, or ""
    document_pointers: list[tuple[int, int]]

    def names_subject(self) -> bool:
        return bool(self.places or self.documents)

    def piece(self, span: tuple[int, int]) -> str:
        return self.text[span[0]:span[1]]


@dataclass
class _Subject:
    place: str  # the place (or adjacent places: 宋家镇双喜村) the conversation is about
    full: str  # with the organisation named after it (音德尔镇党委), for 它/其
    places: list[str]  # each place of ``place``, for 该镇 or 该村


@dataclass
class _Context:
    reading: _Reading  # the previous question as understood
    subject: _Subject | None
    source: str | None


def _read(text: str, segmenter: Segmenter, titles: Mapping[str, str]) -> _Reading:
    search = to_search(text)
    words, position = [], 0
    for word, flag in segmenter.tagged(search):
        words.append((position, position + len(word), flag))
        position += len(word)
    starts = {start for start, _, _ in words}
    ends = {end for _, end, _ in words}
    names = set(segmenter.names)
    return _Reading(
        text, search, words,
        places=_places(search, words, names),
        documents=[m.span() for m in _DOCUMENT_NAME.finditer(search)] + _title_phrases(search, titles),
        years=[m.span() for m in YEAR.finditer(search)],
        pointers=_pointers(search, words, starts, ends),
        document_pointers=[m.span() for m in _DOCUMENT_POINTER.finditer(search)
                           if m.start() in starts and m.end() in ends],
    )


def named_places(question: str, segmenter: Segmenter) -> list[str]:
    """The places a question names, in search form (``_places``: learned names and names of a place's shape).

    >>> named_places("宋家鎮雙喜村黨支部書記是誰？", Segmenter(["宋家镇"]))
    ['宋家镇', '双喜村']
    """
    reading = _read(question, segmenter, {})
    return [reading.search[start:end] for start, end in reading.places]


def _places(search: str, words: list[tuple[int, int, str]], names: set[str]) -> list[tuple[int, int]]:
    """Place names: learned names, and names of a place's shape whose suffix ends a jieba word (so not
    the 村 of 村歌 or the 市 of 市场)."""
    places = [(start, end) for start, end, _ in words
              if search[start:end] in names and not _only_suffixes(search[start:end])]  # not 嘎查村, 苏木镇
    ends = {end for _, end, _ in words}
    for m in re.finditer("|".join(_SUFFIXES), search):
        if m.end() in ends and not any(start < m.end() <= end for start, end in places):
            i = next(i for i, word in enumerate(words) if word[0] <= m.start() < word[1])
            first = _name_start(search, words, i, m)
            if first is not None and not _only_suffixes(search[first:m.end()]):
                places.append((first, m.end()))
    return sorted(places)


def _only_suffixes(word: str) -> bool:
    stem = word[: -len(next(s for s in _SUFFIXES if word.endswith(s)))]
    return stem in PLACE_SUFFIXES


def _name_start(search: str, words: list[tuple[int, int, str]], i: int, suffix: re.Match) -> int | None:
    """Where the place name ending with ``suffix`` (which starts in word ``i``) starts, or None when it is
    no name: a place word of three characters or more tagged as one (包头市), a common word ending in the
    suffix after a proper name (阿拉善 + 高新区), or the suffix after the words of a proper name or of a
    rare or unknown stem (双喜 + 村, 大 + 窑 + 村, 恼 + 包村, 苏莫嘎 + 查)."""
    start, end, flag = words[i]
    word = search[start:end]
    if flag.startswith(FUNCTION_FLAGS):  # 该镇, 本村
        return None
    if end == suffix.end() and word != suffix.group() and _frequency(word):  # 包头市, 高新区, 示范村, 全镇
        proper = i
        while proper > 0 and _proper_name_part(search, words[proper - 1]):
            proper -= 1
        return words[proper][0] if len(word) >= 3 and (proper < i or flag.startswith("ns")) else None
    first = i
    while (first > 0 and suffix.start() - words[first - 1][0] <= _LONGEST_STEM
           and _name_part(search, words[first - 1])):
        first -= 1
    stem = search[words[first][0]:suffix.start()]
    proper = any(flag.startswith(_PROPER_FLAGS) for _, _, flag in words[first:i])  # 双喜 (nr) + 村
    if len(stem) < 2 or stem.endswith(_SUFFIXES):  # 驻嘎查 + 村 is no name
        return None
    return words[first][0] if proper or _has_rare_part(stem) else None


def _proper_name_part(search: str, word: tuple[int, int, str]) -> bool:
    """A proper name (阿拉善) that can open a place name ending in a common word (高新区); not a place."""
    text = search[word[0]:word[1]]
    return word[2].startswith(_PROPER_FLAGS) and _is_han(search, word) and not text.endswith(_SUFFIXES)


def _name_part(search: str, word: tuple[int, int, str]) -> bool:
    """Whether a word can be part of a place name's stem: Han, not a function or stop word, not a verb of
    two characters or more, not itself a place."""
    text, flag = search[word[0]:word[1]], word[2]
    return (_is_han(search, word) and not flag.startswith(FUNCTION_FLAGS) and text not in STOP_TOKENS
            and not (flag.startswith("v") and len(text) > 1) and not text.endswith(_SUFFIXES))


def _frequency(word: str) -> int:
    jieba.dt.check_initialized()
    return jieba.get_FREQ(word) or 0


def _has_rare_part(stem: str) -> bool:
    """A name's stem cuts into single characters or rare words (大窑, 宋家); a phrase's into common ones
    (示范, 新增)."""
    return any(len(part) == 1 or _frequency(part) < RARE_WORD_FREQ for part in jieba.dt.cut(stem, HMM=False))


def _is_han(search: str, word: tuple[int, int, str]) -> bool:
    return bool(HAN_RUN.fullmatch(search[word[0]:word[1]]))


def _title_phrases(search: str, titles: Mapping[str, str]) -> list[tuple[int, int]]:
    """Phrases naming a document by its title: a document noun and at least two characters before it,
    found in a title (政府工作报告)."""
    forms = [to_search(title) for title in titles.values()]
    spans = []
    for m in re.finditer(_DOCUMENT_NOUN, search):
        for start in range(max(0, m.start() - 8), m.start() - 1):
            if any(search[start:m.end()] in form for form in forms):
                spans.append((start, m.end()))
                break
    return spans


def _pointers(search: str, words: list[tuple[int, int, str]], starts: set[int],
              ends: set[int]) -> list[tuple[int, int, str]]:
    """Pronouns (它, 这里) and demonstrative places (该镇, 这个村), whole words only (not 其 in 其中)."""
    pointers = [(start, end, "") for start, end, _ in words if search[start:end] in PRONOUNS]
    pointers += [(m.start(), m.end(), m.group("suffix")) for m in _PLACE_POINTER.finditer(search)
                 if m.start() in starts and m.end() in ends]
    return sorted(pointers)


# ---------------------------------------------------------------------------------------------- context


def _context(question: str, source: str | None, segmenter: Segmenter, titles: Mapping[str, str]) -> _Context:
    """What a later question can inherit from this one: its subject (else the place its answer's document
    title names) and the document its answer came from."""
    reading = _read(question, segmenter, titles)
    subject = _subject(reading)
    if subject is None and source in titles:
        subject = _subject(_read(titles[source], segmenter, titles))
    return _Context(reading, subject, source)


def _subject(reading: _Reading) -> _Subject | None:
    run = _place_run(reading)
    if run is None:
        return None
    place = reading.piece(run)
    after = next((w for w in reading.words if w[0] == run[1]), None)
    organisation = reading.piece(after[:2]) if after and reading.search[after[0]:after[1]] in ORGANISATIONS else ""
    places = [reading.piece(span) for span in reading.places if run[0] <= span[0] and span[1] <= run[1]]
    return _Subject(place, place + organisation, places)


def _place_run(reading: _Reading) -> tuple[int, int] | None:
    """The first place and the places right after it (宋家镇双喜村)."""
    if not reading.places:
        return None
    start, end = reading.places[0]
    for place_start, place_end in reading.places[1:]:
        if place_start != end:
            break
        end = place_end
    return start, end


# ---------------------------------------------------------------------------------------------- understanding


def _understand(question: str, context: _Context | None, segmenter: Segmenter,
                titles: Mapping[str, str]) -> Understood:
    if context is None:
        return Understood(question, question)
    reading = _read(question, segmenter, titles)
    body = _ellipsis_body(reading)
    if body is not None:
        return _fill_ellipsis(reading, body, context)
    if reading.names_subject():
        return Understood(question, question)
    return _understand_alone(reading, context)


def _understand_alone(reading: _Reading, context: _Context) -> Understood:
    """A question that names no subject: it takes the conversation's subject and document."""
    sources = [context.source] if context.source else None
    if context.subject is None:
        return Understood(reading.text, reading.text, sources=sources)
    rewritten, inherited = _with_subject(reading, context.subject, _script(reading.text))
    return Understood(reading.text, rewritten, inherited, sources)


def _script(question: str) -> bool | None:
    """True for traditional script, False for simplified, None when the question shows neither."""
    if is_traditional(question):
        return True
    return False if to_traditional(question) != question else None


def _in_script(text: str, traditional: bool | None) -> str:
    if traditional is None:
        return text
    return to_traditional(text) if traditional else to_simplified(text)


def _with_subject(reading: _Reading, subject: _Subject, script: bool | None) -> tuple[str, list[str]]:
    """The question with each pronoun replaced by the subject (a demonstrative of another kind of place
    keeps its place after the subject: 新城区 + 该镇), the subject before a pointer to the document, or
    else the subject in front. A leading 那 ('then') goes."""
    place, full = _in_script(subject.place, script), _in_script(subject.full, script)
    edits: list[tuple[int, int, str]] = []
    for start, end, suffix in reading.pointers:
        kind = next((p for p in subject.places if to_search(p).endswith(suffix)), None) if suffix else None
        if not suffix:
            edits.append((start, end, full if reading.search[start:end] in PERSONAL_PRONOUNS else place))
        elif kind:
            edits.append((start, end, _in_script(kind, script)))
        else:
            edits.append((start, start, place))
    edits += [(start, start, place) for start, _ in reading.document_pointers]
    connective = _connective(reading)
    if not edits:
        position = len(_LEAD_IN) if reading.search.startswith(_LEAD_IN) else connective[1]
        edits.append((position, position, place))
    inherited = sorted({replacement for _, _, replacement in edits}, key=len)
    return _apply(reading.text, [*edits, (*connective, "")]), inherited


def _connective(reading: _Reading) -> tuple[int, int]:
    """The span of a leading 那/那么 ('then'), empty when there is none."""
    first = reading.words[0] if reading.words else (0, 0, "")
    return first[:2] if reading.search[first[0]:first[1]] in _CONNECTIVES else (0, 0)


def _apply(text: str, edits: list[tuple[int, int, str]]) -> str:
    """``text`` with each (start, end, replacement) edit made; edits do not overlap."""
    out, position = [], 0
    for start, end, replacement in sorted(edits, key=lambda edit: edit[:2]):
        out += [text[position:start], replacement]
        position = max(position, end)
    return "".join(out) + text[position:]


# ---------------------------------------------------------------------------------------------- ellipsis


def _ellipsis_body(reading: _Reading) -> tuple[int, int] | None:
    """The X of "那X呢？" (without 那, a pronoun and 的 around it), or None for any other question."""
    end = _ELLIPSIS_END.search(reading.search)
    if end is None or _QUESTION_WORD.search(reading.search[: end.start()]):
        return None
    start, stop = _connective(reading)[1], end.start()
    for p_start, p_end, _ in reading.pointers:
        if p_start == start:
            start = p_end
    while start < stop and reading.search[start] == "的":
        start += 1
    while stop > start and reading.search[stop - 1] == "的":
        stop -= 1
    return (start, stop) if stop > start else None


def _fill_ellipsis(reading: _Reading, body: tuple[int, int], context: _Context) -> Understood:
    """The previous question with the body's place, year or topic words in place of its own."""
    previous, script = context.reading, _script(reading.text)
    places = [p for p in reading.places if body[0] <= p[0] and p[1] <= body[1]]
    years = [y for y in reading.years if body[0] <= y[0] and y[1] <= body[1]]
    topic = _topic(reading, body, places + years)
    if not (places or years or topic):
        return Understood(reading.text, reading.text)
    place_run = _place_run(previous)
    subject_end = place_run[1] if place_run else 0
    edits: list[tuple[int, int, str]] = []
    if places:
        edits.append((*(place_run or (0, 0)), reading.text[places[0][0]:places[-1][1]]))
    elif place_run is None and context.subject:  # the previous question had its subject from its document
        edits.append((0, 0, _in_script(context.subject.place, script)))
    if years:
        edits.append((*(previous.years[0] if previous.years else (subject_end, subject_end)), reading.piece(years[0])))
    if topic:
        span = _topic_run(previous, _head_of(reading, topic))
        if span is None:  # nothing to replace: the body is a question of its own about the subject
            return _understand_alone(reading, context)
        edits.append((*span, reading.piece(topic)))
    question = _rewrite(previous, edits, script)
    if places:
        return Understood(reading.text, question)
    subject = previous.piece(place_run) if place_run else context.subject.place if context.subject else ""
    inherited = [_in_script(subject, script)] if subject else []
    return Understood(reading.text, question, inherited, [context.source] if context.source else None)


def _rewrite(previous: _Reading, edits: list[tuple[int, int, str]], script: bool | None) -> str:
    """The previous question in the current question's script, with ``edits`` (words as the user typed them)."""
    out, position = [], 0
    for e_start, e_end, replacement in sorted(edits, key=lambda edit: edit[:2]):  # stable: place before year
        out += [_in_script(previous.text[position:e_start], script), replacement]
        position = max(position, e_end)
    return "".join(out) + _in_script(previous.text[position:], script)


def _topic(reading: _Reading, body: tuple[int, int], entities: list[tuple[int, int]]) -> tuple[int, int] | None:
    """What remains of the body once its places and years are set aside (它的党委副书记 → 党委副书记)."""
    start, stop = body
    for e_start, e_end in sorted(entities):
        if e_start == start:
            start = e_end
    for e_start, e_end in sorted(entities, reverse=True):
        if e_end == stop:
            stop = e_start
    while start < stop and reading.search[start] == "的":
        start += 1
    return (start, stop) if stop > start and reading.search[start:stop].strip() else None


def _head_of(reading: _Reading, topic: tuple[int, int]) -> str:
    """The last word of the topic, the noun it is about (蒙元玫瑰产业项目 → 项目)."""
    last = [w for w in reading.words if topic[0] <= w[0] and w[1] <= topic[1]]
    return reading.search[last[-1][0]:last[-1][1]] if last else ""


def _topic_run(previous: _Reading, head: str) -> tuple[int, int] | None:
    """The words the previous question asked about. When the new topic's head word is among them, only the
    words up to it are replaced (白羽肉鸡全产业链项目|总投资 keeps 总投资)."""
    runs = _content_runs(previous)
    if not runs:
        return None
    run = _asked_about(previous, runs)
    heads = [w for w in run if previous.search[w[0]:w[1]] == head]
    return run[0][0], (heads[-1] if heads else run[-1])[1]


def _asked_about(reading: _Reading, runs: list[list[tuple[int, int, str]]]) -> list[tuple[int, int, str]]:
    """The run of content words the question word points at: the words right after it for 什么/哪个/几个
    and after a measure word (多少亩|土地), else the words before it (粮食产量|是多少, 接待游客|多少人次)."""
    words = reading.words
    asked = next((i for i, w in enumerate(words) if _QUESTION_WORD.search(reading.search[w[0]:w[1]])), None)
    if asked is None:
        return runs[-1]
    after = asked + 1
    while after < len(words) and _is_measure(words[after]):
        after += 1
    right = next((run for run in runs if after < len(words) and run[0] == words[after]), None)
    left = [run for run in runs if run[-1][1] <= words[asked][0]]
    counting = reading.search[words[asked][0]:words[asked][1]] in _COUNTING and after == asked + 1
    if right and not (counting and left):
        return right
    return left[-1] if left else right or runs[-1]


def _is_measure(word: tuple[int, int, str]) -> bool:
    return word[2].startswith(("q", "m")) or word[1] - word[0] == 1


def _content_runs(reading: _Reading) -> list[list[tuple[int, int, str]]]:
    """Maximal runs of adjacent content words: not stop or question words, not a place or a year, not a
    measure word after a question word (多少|亩|土地)."""
    entities = reading.places + reading.years
    runs: list[list[tuple[int, int, str]]] = []
    after_question = False
    for word in reading.words:
        text = reading.search[word[0]:word[1]]
        is_question = bool(_QUESTION_WORD.search(text))
        measure = after_question and _is_measure(word)
        content = (not is_question and not measure and text not in STOP_TOKENS
                   and any(ch.isalnum() for ch in text)
                   and not any(e[0] <= word[0] and word[1] <= e[1] for e in entities))
        if content and runs and runs[-1][-1][1] == word[0]:
            runs[-1].append(word)
        elif content:
            runs.append([word])
        after_question = is_question or measure
    return runs
