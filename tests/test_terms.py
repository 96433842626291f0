"""qa.terms: place names learned from the seeds, jieba taught them, key terms and coverage."""

from __future__ import annotations

import doctest
import re

import jieba
import pytest

import qa.terms
from qa.lexicon import STOP_TOKENS
from qa.terms import (
    Segmenter,
    coverage,
    key_terms,
    learn_place_names,
    phrase_coverage,
    term_weights,
)


@pytest.fixture(scope="module")
def seed_names(seed_documents) -> list[str]:
    return learn_place_names([doc.search for doc in seed_documents.values()])


def test_learned_names_from_the_seeds(seed_names) -> None:
    assert {"伊金霍洛镇", "伊金霍洛旗", "音德尔镇", "宋家镇", "布拉格嘎查", "沙巴日太嘎查"} <= set(seed_names)
    assert "霍洛镇" not in seed_names and "金霍洛镇" not in seed_names  # tails of a longer name
    assert seed_names == sorted(seed_names, key=lambda name: (-len(name), name))


def test_every_learned_name_recurs_in_the_seeds(seed_documents, seed_names) -> None:
    search = "\n".join(doc.search for doc in seed_documents.values())
    for name in seed_names:
        assert len(re.findall(name, search)) >= 2, name


def test_jieba_keeps_a_learned_name_whole(seed_names) -> None:
    question = "伊金霍洛镇全年总收入是多少？"
    assert "伊金霍洛镇" not in jieba.lcut(question)  # the stock dictionary splits it: 伊金霍/洛镇
    segmenter = Segmenter(seed_names)
    assert segmenter.words(question)[0] == "伊金霍洛镇"
    assert "伊金霍洛镇" in segmenter.tokens(question)
    assert "伊金霍洛镇" not in jieba.lcut(question)  # the global tokenizer is left alone


def test_dictionary_words_keep_learned_names_and_guess_no_new_words(seed_names) -> None:
    segmenter = Segmenter(seed_names)
    assert "布拉格嘎查" in segmenter.dictionary_words("布拉格嘎查成功申报国家乡村振兴示范村")
    assert "陈健作" in segmenter.words("陈健作了题为")  # the HMM guesses a word from the characters
    assert segmenter.dictionary_words("陈健作了题为")[:3] == ["陈", "健", "作"]


def test_common_words_with_a_place_suffix_are_not_names() -> None:
    texts = ["打造示范村2个。", "示范村建设成效明显。", "部分村集体经济薄弱。", "部分村缺少人才。",
             "伊金霍洛镇召开会议。", "在伊金霍洛镇。", "乡村振兴。", "乡村旅游。"]
    assert learn_place_names(texts) == ["伊金霍洛镇"]
    assert learn_place_names(texts[4:5]) == []  # seen once: not learned


def test_a_name_is_counted_once_per_occurrence() -> None:
    """园区 and 区 are both suffixes: one occurrence of 敖包工业园区 is still one."""
    assert learn_place_names(["共建巴音敖包工业园区美食广场。"]) == []
    assert learn_place_names(["共建敖包工业园区。", "敖包工业园区美食广场。"]) == ["敖包工业园区"]


def test_a_number_before_a_compound_suffix_is_not_a_name() -> None:
    texts = ["收入达到50万元以上嘎查村4个。", "培育100万元以上嘎查村2个。", "全镇嘎查村集体经济。"]
    assert "元以上嘎查村" not in learn_place_names(texts)


def test_tokens_drop_punctuation_and_stop_words() -> None:
    tokens = Segmenter(["伊金霍洛镇"]).tokens("伊金霍洛镇的乡村振兴是什么？（2023年）")
    assert {"伊金霍洛镇", "乡村", "振兴", "2023"} <= set(tokens)
    assert not STOP_TOKENS & set(tokens)
    assert all(any(ch.isalnum() for ch in token) for token in tokens)


def test_key_terms() -> None:
    assert key_terms(["音德尔镇", "党委", "副", "书记", "是", "谁"]) == ["音德尔镇", "党委", "副书记"]
    # after 多少 a lone character is a measure word, dropped
    words = ["宋家镇", "改造", "了", "多少", "座", "卫生", "厕所", "？"]
    assert key_terms(words) == ["宋家镇", "改造", "卫生", "厕所"]
    assert key_terms(["镇", "长"]) == ["镇长"]
    assert key_terms(["全年", "收", "。"]) == ["全年", "收"]  # a lone character before punctuation stays
    assert key_terms(["是", "谁", "？"]) == []


def test_key_terms_of_a_real_question(seed_names, seed_documents) -> None:
    words = Segmenter(seed_names).words("伊金霍洛镇2022年粮食产量是多少？")
    assert words == ["伊金霍洛镇", "2022", "年", "粮食产量", "是", "多少", "？"]
    terms = key_terms(words)
    assert terms == ["伊金霍洛镇", "2022年", "粮食产量"]  # the lone 年 joins the number before it
    document = seed_documents["001_84905cf744b120d4.txt"].search  # where the answer stands
    assert all(term in document for term in terms)


def test_key_terms_keep_a_preposition_off_the_noun_and_drop_pronouns(seed_names) -> None:
    segmenter = Segmenter(seed_names)
    words = segmenter.words("伊金霍洛镇给牧民发了多少补贴？")
    assert words[:3] == ["伊金霍洛镇", "给", "牧民"]
    assert key_terms(words) == ["伊金霍洛镇", "给", "牧民", "发了", "补贴"]  # not 给牧民, a word no report holds
    words = segmenter.words("伊金霍洛镇本次会议在哪里召开？")
    assert "本次" in words and key_terms(words) == ["伊金霍洛镇", "会议", "召开"]
    assert key_terms(segmenter.words("伊金霍洛镇党委副书记是谁？")) == ["伊金霍洛镇", "党委", "副书记"]


def test_coverage_by_hand() -> None:
    weights = {"乡村": 2.0, "振兴": 4.0, "旅游": 2.0}
    terms = list(weights)
    assert coverage(terms, "乡村振兴与乡村旅游", weights) == pytest.approx(1.0)
    assert coverage(terms, "乡村发展", weights) == pytest.approx(2 / 8)
    # 振 alone is half of 振兴: it counts half of half its weight
    assert coverage(terms, "乡村振作", weights) == pytest.approx((2 + 0.5 * 4 * 1 / 2) / 8)
    assert coverage(terms, "", weights) == 0.0
    assert coverage([], "乡村", {}) == 1.0  # no terms: nothing is missing
    # a name may hold a parenthesis: 党委(扩大)会议 holds 扩大会 and the pair 党委扩大会
    assert coverage(["扩大会"], "音德尔镇召开党委(扩大)会议", {"扩大会": 1.0}) == pytest.approx(1.0)
    assert phrase_coverage(["党委扩大会"], "召开党委（扩大）会议") == 1.0


def test_term_weights_by_hand() -> None:
    idf = {"乡村": 1.0, "振兴": 2.0, "伊金霍洛镇": 0.5}
    assert term_weights(["乡村", "振兴", "伊金霍洛镇", "未知词"], idf) == {
        "乡村": 2.0, "振兴": 4.0,
        "伊金霍洛镇": 0.5 * 4,  # length capped at 4
        "未知词": 2.0 * 3,  # an unknown word gets the highest idf
    }


def test_module_examples() -> None:
    assert doctest.testmod(qa.terms).failed == 0
