"""Word segmentation for BM25 and answer scoring: jieba taught the corpus's own place names.

jieba's dictionary does not know local names and splits 伊金霍洛镇 into 伊金霍/洛镇. Names are learned
from the corpus itself: Han strings ending in an administrative suffix (镇, 村, 嘎查, 旗 …) that recur,
keeping the longest form that is not always preceded by the same character.

>>> learn_place_names(["伊金霍洛镇召开会议。", "在伊金霍洛镇。", "伊金霍洛镇的发展"])
['伊金霍洛镇']
>>> Segmenter(["伊金霍洛镇"]).words("伊金霍洛镇全年总收入是多少？")
['伊金霍洛镇', '全年', '总收入', '是', '多少', '？']
>>> Segmenter(["伊金霍洛镇"]).tokens("伊金霍洛镇全年总收入是多少？")  # search mode: long words give parts too
['伊金霍', '伊金霍洛镇', '全年', '收入', '总收入']
"""

from __future__ import annotations

import logging
import re
from collections import Counter, defaultdict

import jieba
import jieba.posseg

from .lexicon import HAN_RUN, PLACE_SUFFIXES, RARE_WORD_FREQ, STOP_TOKENS

jieba.setLogLevel(logging.WARNING)

_SINGLE_SUFFIX_CHARS = {s for s in PLACE_SUFFIXES if len(s) == 1}
_NOT_NAME_START = set("的在和与及或全各本该我你他等了是为对把到将从向每此其这那个于以由被让给共年月日")
_MIN_COUNT = 2
_NAME_FREQ = 200_000  # high enough that jieba keeps a learned name whole
_JOINING_TAGS = ("n", "b", "j")  # a lone character of these joins the next word: 副 + 书记


def learn_place_names(texts: list[str], min_count: int = _MIN_COUNT) -> list[str]:
    """Recurring place and organisation names in ``texts`` (search form), longest stable form first.

    A name is a stem of 2–5 Han characters plus a suffix that recurs at least ``min_count`` times, where
    the suffix does not start a dictionary word (乡 in 乡村), the stem has a part jieba does not know
    or knows as rare (so 示范村 or 部分村 are not names), and neither a longer form (the stem always
    follows the same character) nor a shorter, more frequent one is the real name.
    """
    counts: Counter[str] = Counter()
    left_chars: dict[str, set[str]] = defaultdict(set)
    for text in texts:
        for run in HAN_RUN.findall(text):
            seen: set[tuple[int, int]] = set()  # 园区 and 区 end at the same place: count the span once
            for suffix in PLACE_SUFFIXES:
                for match in re.finditer(suffix, run):
                    end = match.end()
                    if _starts_word(run[match.start():end + 1]):
                        continue
                    for length in range(len(suffix) + 2, len(suffix) + 6):
                        start = end - length
                        if start < 0:
                            break
                        if (start, end) in seen:
                            continue
                        seen.add((start, end))
                        candidate = run[start:end]
                        counts[candidate] += 1
                        left_chars[candidate].add(run[start - 1] if start > 0 else "")
    names = [
        name for name, count in counts.items()
        if count >= min_count
        and name[0] not in _NOT_NAME_START
        and not any(ch in _SINGLE_SUFFIX_CHARS for ch in name[:-1])
        and _has_rare_part(_stem(name))
        and (not (core := _core_stem(name)) or _has_rare_part(core))
        and not _is_fragment(name, counts, left_chars)
        and counts[name[1:]] <= count
    ]
    return sorted(names, key=lambda name: (-len(name), name))


def _stem(name: str) -> str:
    suffix = next(s for s in PLACE_SUFFIXES if name.endswith(s))
    return name[: -len(suffix)]


def _core_stem(name: str) -> str:
    """The stem without any place suffix: 元以上 for 元以上嘎查村 (a stem that is itself a suffix, as
    in 嘎查村 or 苏木镇, leaves nothing)."""
    stem = _stem(name)
    while stem.endswith(PLACE_SUFFIXES):
        stem = _stem(stem)
    return stem


def _starts_word(text: str) -> bool:
    """True when a suffix and the character after it form a dictionary word (乡村, 区域, 市场)."""
    return len(text) > 1 and _dictionary().FREQ.get(text, 0) > 0


def _has_rare_part(stem: str) -> bool:
    dictionary = _dictionary()
    return any(dictionary.FREQ.get(word, 0) < RARE_WORD_FREQ for word in dictionary.cut(stem, HMM=False))


def _dictionary() -> jieba.Tokenizer:
    """jieba's global tokenizer with its default dictionary, loaded once per process (thread-safe)."""
    jieba.dt.check_initialized()
    return jieba.dt


def _private_tokenizer() -> jieba.Tokenizer:
    """A tokenizer of its own over a copy of the default dictionary (copying takes ~15 ms; loading it again
    ~0.4 s). Words added to it stay in it; the global tokenizer is left alone."""
    base = _dictionary()
    tokenizer = jieba.Tokenizer()
    tokenizer.FREQ, tokenizer.total, tokenizer.initialized = dict(base.FREQ), base.total, True
    return tokenizer


class _Tagger(jieba.posseg.POSTokenizer):
    """jieba's part-of-speech tagger over a private tokenizer. It shares the word tags that ``jieba.posseg``
    read from the default dictionary at import, where ``POSTokenizer(tokenizer)`` would read the file again;
    they are only read, since the private tokenizer's words carry no tags."""

    def __init__(self, tokenizer: jieba.Tokenizer) -> None:  # not super().__init__: that reads the file
        self.tokenizer = tokenizer
        self.word_tag_tab = jieba.posseg.dt.word_tag_tab


def _is_fragment(name: str, counts: Counter[str], left_chars: dict[str, set[str]]) -> bool:
    """True when ``name`` always follows the same character: it is the tail of a longer name."""
    lefts = left_chars[name]
    if len(lefts) != 1 or "" in lefts:
        return False
    longer = next(iter(lefts)) + name
    return longer[0] not in _NOT_NAME_START and counts[longer] == counts[name]


class Segmenter:
    """A private jieba tokenizer (the global one is left alone) that knows ``names``. jieba's dictionary is
    loaded once per process and copied into each segmenter."""

    def __init__(self, names: list[str] | tuple[str, ...] = ()) -> None:
        self.names = list(names)
        self._jieba = _private_tokenizer()
        self._tagger: jieba.posseg.POSTokenizer | None = None
        for name in self.names:
            self._jieba.add_word(name, freq=_NAME_FREQ)

    def tagged(self, text: str) -> list[tuple[str, str]]:
        """``(word, part of speech)`` pairs (jieba's tags: nr person, ns place, …)."""
        if self._tagger is None:
            self._tagger = _Tagger(self._jieba)
        return [(pair.word, pair.flag) for pair in self._tagger.cut(text)]

    def words(self, text: str) -> list[str]:
        """jieba's segmentation of ``text``, every piece kept (punctuation too), for span finding."""
        return list(self._jieba.cut(text, HMM=True))

    def dictionary_words(self, text: str) -> list[str]:
        """jieba's segmentation of ``text`` into words of its dictionary and the learned names only, every piece
        kept: without the HMM, which guesses new words from characters (陈健作 for 陈健 + 作)."""
        return list(self._jieba.cut(text, HMM=False))

    def tokens(self, text: str) -> list[str]:
        """Search tokens: search-mode words (long words also give their parts), no punctuation or stop
        words. ``text`` should be in search form (``qa.script.to_search``)."""
        return [
            token for token in self._jieba.cut_for_search(text, HMM=True)
            if token.strip() and not _is_punctuation(token) and token not in STOP_TOKENS
        ]


def key_terms(words: list[str]) -> list[str]:
    """Content words of a question, in order: stop words, question words and pronouns (这次, 哪样, 该镇: jieba's
    ``r``) dropped, and a lone nominal or attributive character (``n``, ``b``, ``j``) joined to the word after it,
    since jieba splits titles such as 副书记 into 副/书记; any other lone character stands alone (往 of 往部队,
    当 of 当首位: a preposition glued to a noun makes a word no passage holds). A lone character right after a
    question word is a measure word and is dropped.

    >>> key_terms(["音德尔镇", "党委", "副", "书记", "是", "谁"])
    ['音德尔镇', '党委', '副书记']
    >>> key_terms(["宋家镇", "今年", "往", "部队", "送", "了", "几名", "青年"])
    ['宋家镇', '今年', '往', '部队', '送', '青年']
    >>> key_terms(["音德尔镇", "这次", "党委", "扩大会", "是", "哪", "天开", "的"])
    ['音德尔镇', '党委', '扩大会', '天开']
    """
    terms: list[str] = []
    carry, after_stop = "", False
    for word in words:
        if (word in STOP_TOKENS or word.startswith(("几", "多少")) or _is_punctuation(word)
                or (len(word) > 1 and part_of_speech(word) == "r")):
            terms += [carry] if carry else []
            carry, after_stop = "", True
        elif len(word) == 1 and terms and terms[-1].isdigit() and not carry:
            terms[-1] += word  # 2022 + 年
            after_stop = False
        elif len(word) == 1 and not carry:
            if not after_stop:  # after 多少/几 a lone character is a measure word (多少/座/厕所): dropped
                if part_of_speech(word).startswith(_JOINING_TAGS):
                    carry = word
                else:
                    terms.append(word)
            after_stop = False
        else:
            terms.append(carry + word)
            carry, after_stop = "", False
    if carry:
        terms.append(carry)
    return terms


def part_of_speech(word: str) -> str:
    """jieba's dictionary tag of ``word`` ("" for a word it does not know): n noun, b attributive, r pronoun, …"""
    return jieba.posseg.dt.word_tag_tab.get(word, "")


def coverage(terms: list[str], text: str, weights: dict[str, float]) -> float:
    """Share of the terms' weight found in ``text`` read without round brackets (``unbracketed``); a term found
    only in part counts half, by the share of its characters present (签订 vs 签定). No terms at all: nothing is
    missing, 1.0."""
    if not terms:
        return 1.0
    text = unbracketed(text)
    total = sum(weights[t] for t in terms) or 1.0
    found = 0.0
    for term in terms:
        if term in text:
            found += weights[term]
        elif len(term) > 1:
            found += 0.5 * weights[term] * sum(ch in text for ch in term) / len(term)
    return found / total


def adjacent_pairs(terms: list[str], question: str) -> list[str]:
    """Neighbouring key words that stand side by side in the question, joined: 政府 + 镇长 → 政府镇长."""
    pairs = []
    for first, second in zip(terms, terms[1:], strict=False):
        if first + second in question:
            pairs.append(first + second)
    return pairs


def phrase_coverage(pairs: list[str], text: str) -> float:
    """Share of the question's adjacent word pairs that also stand side by side in ``text`` read without round
    brackets (a sequential-dependence signal: Metzler & Croft 2005)."""
    text = unbracketed(text)
    return sum(pair in text for pair in pairs) / len(pairs) if pairs else 0.0


_BRACKETS = str.maketrans("", "", "()（）")


def unbracketed(text: str) -> str:
    """``text`` without its round brackets: a name may hold a parenthesis (党委(扩大)会议 is a 党委扩大会议).

    >>> unbracketed("音德尔镇召开党委(扩大)会议")
    '音德尔镇召开党委扩大会议'
    """
    return text.translate(_BRACKETS)


def term_weights(terms: list[str], idf: dict[str, float]) -> dict[str, float]:
    """IDF times length (capped at 4): long and rare words say most about a passage."""
    default = max(idf.values(), default=1.0)
    return {t: idf.get(t, default) * min(len(t), 4) for t in terms}


def _is_punctuation(token: str) -> bool:
    return all(not ch.isalnum() for ch in token)
