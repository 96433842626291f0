"""qa.evaluation: the scoring functions on hand-made cases, then ``qa eval`` in-process on the real model."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from qa.cli import parser
from qa.evaluation import (
    Case,
    Paragraph,
    cmrc_em,
    cmrc_f1,
    contains_answer,
    exact_answer,
    first_hit_rank,
    first_questions,
    format_table,
    hit_rate,
    is_hit,
    longest_common_run,
    mixed_segmentation,
    mrr,
    percentile,
    read_questions,
    read_squad,
    run_cli,
    write_corpus,
)
from qa.settings import CMRC_TRIAL
from qa.types import Chunk, Hit

DATA = Path(__file__).parent / "data"
needs_cmrc = pytest.mark.skipif(not CMRC_TRIAL.is_file(), reason=f"CMRC 2018 trial not at {CMRC_TRIAL}")


def _hit(source: str, text: str) -> Hit:
    return Hit(Chunk(source, "标题", 1, 0, len(text), text), 1.0)


# ---------------------------------------------------------------------------------------------- CMRC


def test_mixed_segmentation_splits_chinese_characters_and_keeps_english_words():
    assert mixed_segmentation("NBA球员Kobe Bryant") == ["nba", "球", "员", "kobe", "bryant"]
    assert mixed_segmentation("《泡泡堂》", remove_punctuation=True) == ["泡", "泡", "堂"]
    assert mixed_segmentation("《泡泡堂》") == ["《", "泡", "泡", "堂", "》"]
    # as in the official script, a removed mark does not end an English run
    assert mixed_segmentation("2V2、4V4", remove_punctuation=True) == ["2v24v4"]
    assert mixed_segmentation("2V2、4V4") == ["2v2", "、", "4v4"]
    assert mixed_segmentation("3.5亿", remove_punctuation=True) == ["3.5", "亿"]


def test_cmrc_em_ignores_listed_punctuation_case_and_outer_spaces():
    assert cmrc_em("《泡泡堂》", ["泡泡堂"]) == 1.0
    assert cmrc_em(" Nexon ", ["nexon"]) == 1.0
    assert cmrc_em("泡泡", ["泡泡堂"]) == 0.0
    assert cmrc_em("盛大", ["游戏橘子", "盛大"]) == 1.0  # best over the gold answers
    assert cmrc_em("泡泡堂.", ["泡泡堂"]) == 0.0  # "." is not in the official list


def test_cmrc_f1_is_by_longest_common_contiguous_run():
    assert cmrc_f1("泡泡堂", ["泡泡堂"]) == 1.0
    assert cmrc_f1("韩国Nexon", ["Nexon"]) == pytest.approx(2 * (1 / 3) * 1 / (1 / 3 + 1))
    assert cmrc_f1("盛大网络", ["盛大游戏"]) == pytest.approx(0.5)
    # a common subsequence of 2 but a common run of 1: precision = recall = 1/4
    assert cmrc_f1("甲乙丙丁", ["甲丙乙戊"]) == pytest.approx(0.25)
    assert cmrc_f1("毫无关系", ["泡泡堂"]) == 0.0
    assert cmrc_f1("", ["泡泡堂"]) == 0.0
    assert cmrc_f1("盛大网络", ["游戏橘子", "盛大网络公司"]) == pytest.approx(2 * 1 * (4 / 6) / (1 + 4 / 6))


def test_longest_common_run():
    assert longest_common_run(list("abcde"), list("xbcdy")) == 3
    assert longest_common_run([], list("abc")) == 0


# ---------------------------------------------------------------------------------------------- retrieval


def test_hit_needs_the_right_file_and_the_evidence_in_search_form():
    case = Case("1", "问题", "a.txt", ("10个",), "10个庭院经济示范村")
    assert is_hit(_hit("a.txt", "打造１０個 庭院經濟\n示範村。"), case)
    assert not is_hit(_hit("b.txt", "打造10个庭院经济示范村。"), case)
    assert not is_hit(_hit("a.txt", "打造10个示范村。"), case)
    hits = [_hit("b.txt", "x"), _hit("a.txt", "y"), _hit("a.txt", "10个庭院经济示范村")]
    assert first_hit_rank(hits, case) == 3
    assert first_hit_rank(hits[:2], case) is None
    any_chunk = Case("2", "问题", "a.txt", ("y",))
    assert first_hit_rank(hits, any_chunk) == 2


def test_hit_rate_and_mrr():
    ranks = [1, 2, None, 4, 11]
    assert hit_rate(ranks, 1) == 0.2
    assert hit_rate(ranks, 3) == 0.4
    assert hit_rate(ranks, 10) == 0.6
    assert mrr(ranks, 10) == pytest.approx((1 + 1 / 2 + 1 / 4) / 5)
    assert mrr(ranks, 3) == pytest.approx((1 + 1 / 2) / 5)
    assert hit_rate([], 5) == 0.0 and mrr([], 10) == 0.0


def test_answers_compare_in_search_form():
    assert contains_answer("共打造１０個示范村", ["10个"])
    assert not contains_answer("", ["10个"])
    assert exact_answer("１０個", ["10个", "十个"])
    assert not exact_answer("10个村", ["10个"])


def test_percentile():
    assert percentile([1.0, 2.0, 3.0, 4.0], 50) == 2.5
    assert percentile([], 95) == 0.0


def test_table_is_aligned_with_ratios():
    rows = [("hit@1", {"hybrid": 0.9, "bm25": 0.6, "dense": 0.45}), ("answerable", {"hybrid": 3, "bm25": 3,
                                                                                     "dense": 3})]
    lines = format_table("retrieval", rows, ["hybrid", "bm25", "dense"]).splitlines()
    assert len({len(line) for line in lines}) == 1
    assert lines[2].split() == ["hit@1", "0.900", "0.600", "0.450", "1.50x", "2.00x"]
    assert lines[3].split()[1:4] == ["3", "3", "3"]


# ---------------------------------------------------------------------------------------------- files


def test_read_questions_keeps_unanswerable_ones():
    cases = read_questions(DATA / "seeds_dev_qa.jsonl")
    assert len(cases) == 31 and sum(case.source is None for case in cases) == 3
    assert all(case.evidence == "".join(case.evidence.split()) for case in cases)


def test_evidence_and_answers_copied_with_pinyin_annotations_are_read_as_cleaning_reads_the_file(tmp_path):
    row = {"question": "魔芋种了多少亩？", "source": "004.txt", "answers": ["6300余畝", "6300余萬(wàn)畝"],
           "evidence": "規(guī)范化種植魔芋6300余畝"}
    (tmp_path / "q.jsonl").write_text(json.dumps(row, ensure_ascii=False), encoding="utf-8")
    case = read_questions(tmp_path / "q.jsonl")[0]
    assert case.evidence == "规范化种植魔芋6300余亩"
    assert case.answers == ("6300余畝", "6300余萬畝")
    assert is_hit(_hit("004.txt", "宋家镇規范化種植魔芋6300余畝。"), case)


def test_squad_paragraphs_become_files(tmp_path):
    first = {"id": "P/1", "context": "第一段。", "qas": [
        {"id": "q1", "question": "问一？", "answers": [{"text": "一"}]},
        {"id": "q2", "question": "问二？", "answers": []}]}
    second = {"id": "P2", "context": "第二段。", "qas": [
        {"id": "q3", "question": "问三？", "answers": [{"text": "二"}]}]}
    squad = {"data": [{"title": "泡泡战士", "paragraphs": [first, second]}]}
    path = tmp_path / "squad.json"
    path.write_text(json.dumps(squad, ensure_ascii=False), encoding="utf-8")
    paragraphs, cases = read_squad(path)
    assert paragraphs == [Paragraph("0000_P_1.txt", "泡泡战士", "第一段。"),
                          Paragraph("0001_P2.txt", "泡泡战士", "第二段。")]
    assert [(c.id, c.source, c.answers) for c in cases] == [
        ("q1", "0000_P_1.txt", ("一",)), ("q2", None, ()), ("q3", "0001_P2.txt", ("二",))]
    kept, first = first_questions(paragraphs, cases, 1)
    assert kept == paragraphs[:1] and first == cases[:1]
    write_corpus(kept, tmp_path / "corpus")
    assert (tmp_path / "corpus" / "0000_P_1.txt").read_text(encoding="utf-8") == "泡泡战士\n\n第一段。\n"


def test_unreadable_question_file_is_one_line_and_exit_2(tmp_path, settings, capsys):
    args = parser().parse_args(["eval", "--questions", str(tmp_path / "missing.jsonl")])
    assert run_cli(args, settings) == 2
    assert capsys.readouterr().err.startswith("qa: cannot read")


# ---------------------------------------------------------------------------------------------- qa eval


@pytest.mark.slow
def test_eval_dev_questions_over_the_committed_index(tmp_path, settings, embedder, capsys):
    out = tmp_path / "dev.json"
    args = parser().parse_args(["eval", "--questions", str(DATA / "seeds_dev_qa.jsonl"), "--index",
                                str(settings.index_dir), "--no-baselines", "--json", str(out)])
    assert run_cli(args, settings, embedder=embedder) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["retrieval"]["hybrid"]["hit@5"] == 1.0
    assert report["retrieval"]["hybrid"]["hit@1"] >= 0.95
    assert report["dataset"]["questions"] == 31 and len(report["questions"]) == 31
    assert report["answers"]["hybrid"]["unanswerable"] == 3
    assert report["latency"]["answer_p50_ms"] > 0
    assert "hit@1" in capsys.readouterr().out


@pytest.mark.slow
@needs_cmrc
def test_eval_squad_smoke_run(tmp_path, settings, embedder, capsys):
    out = tmp_path / "cmrc.json"
    args = parser().parse_args(["eval", "--squad", str(CMRC_TRIAL), "--limit", "10", "--json", str(out)])
    assert run_cli(args, settings, embedder=embedder) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["dataset"]["questions"] == 10
    assert 1 <= report["build"]["files"] <= 10 and report["build"]["chunks"] >= report["build"]["files"]
    for mode in ("hybrid", "bm25", "dense"):
        figures = report["retrieval"][mode]
        assert 0.0 <= figures["hit@1"] <= figures["hit@3"] <= figures["hit@5"] <= figures["hit@10"] <= 1.0
    assert report["retrieval"]["hybrid"]["hit@10"] >= 0.9
    # the first 10 questions score F1 0.45 (the whole trial set 0.508: benchmarks/results/eval_cmrc2018_trial.txt)
    assert report["answers"]["hybrid"]["f1"] >= 0.4 and report["answers"]["hybrid"]["abstained"] <= 0.5
    assert "hybrid/bm25" in capsys.readouterr().out


@pytest.mark.slow
@needs_cmrc
@pytest.mark.parametrize("script", [[], ["--traditional"]])
def test_eval_reader_given_the_gold_paragraph(tmp_path, settings, script, capsys):
    out = tmp_path / "gold.json"
    args = parser().parse_args(["eval", "--squad", str(CMRC_TRIAL), "--gold", "--limit", "30", *script,
                                "--json", str(out)])
    assert run_cli(args, settings) == 0
    report = json.loads(out.read_text(encoding="utf-8"))
    assert report["gold"]["questions"] == 30 and report["gold"]["f1"] >= 0.6, report["gold"]
    assert all(row["prediction"] for row in report["questions"])
    assert "reader given the gold paragraph" in capsys.readouterr().out
