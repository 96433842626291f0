"""qa.examples: example questions generated from the indexed documents, kept only when answered.

The templates are checked on hand-made documents (no model); the whole function on the committed index
and on a small corpus of invented reports, so nothing in it can be specific to the seed files.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from qa import build, load
from qa.examples import amount_candidates, date_candidates, example_questions
from qa.script import to_search
from qa.types import Document

INVENTED = {
    "report.txt": "雅布赖镇2023年政府工作报告\n来源:雅布赖镇人民政府\n发布时间:2024-01-15 09:00:00\n"
                  "过去一年，雅布赖镇坚持稳中求进，经济运行持续向好。\n"
                  "全年财政总收入3.6亿元，比上年增长8%。雅布赖镇完成造林绿化面积350亩。\n"
                  "雅布赖镇全年接待游客12万人次，乡村旅游综合收入达到4500万元。\n",
    "village.txt": "松岭村发展集体经济纪实\n松岭村地处山区，近年来依托特色产业带动群众增收。\n"
                   "村集体经济收入85万元；松岭村建成蔬菜大棚60座，带动农户就业300人。\n"
                   "松岭村还修建了村级道路12公里，群众出行更加便利。\n",
}


def document(text: str, metadata: dict[str, str] | None = None, source: str = "a.txt") -> Document:
    title = text.split("\n", 1)[0]
    return Document(source, title, text, to_search(text), [(0, len(text))], metadata or {"title": title})


def test_an_amount_after_a_noun_phrase_becomes_a_question_on_the_title_place() -> None:
    doc = document("青山镇工作总结\n青山镇稳步发展。全年总收入1.99亿元,同比增长。累计完成道路硬化12公里。")
    candidates = amount_candidates(doc, ["青山镇"])
    assert [c.question for c in candidates] == ["青山镇全年总收入是多少？", "青山镇道路硬化是多少？"]
    assert doc.text[candidates[0].start:candidates[0].end] == "1.99亿元"


def test_counts_ask_how_many_and_come_after_amounts_and_whole_clauses_first() -> None:
    doc = document("青山镇工作总结\n累计建成文化广场3个。全镇新增就业岗位120人。全年旅游收入800万元。")
    assert [c.question for c in amount_candidates(doc, ["青山镇"])] == [
        "青山镇全年旅游收入是多少？", "青山镇全镇新增就业岗位有多少人？", "青山镇文化广场有多少个？"]


def test_no_amount_question_without_a_place_or_before_a_noun() -> None:
    assert amount_candidates(document("工作总结\n全年总收入1.99亿元。"), ["青山镇"]) == []
    assert amount_candidates(document("青山镇总结\n青山镇建成3个广场。"), ["青山镇"]) == []


def test_a_traditional_document_gets_traditional_questions() -> None:
    doc = document("青山鎮工作總結\n青山鎮穩步發展。全年總收入1.99億元,同比增長。")
    assert [c.question for c in amount_candidates(doc, ["青山镇"])] == ["青山鎮全年總收入是多少？"]


def test_a_dated_document_gets_a_date_question() -> None:
    metadata = {"title": "青山镇简报", "date": "2023-07-25 10:50"}
    doc = document("青山镇简报\n时间:2023-07-25 10:50\n正文。", metadata)
    (candidate,) = date_candidates(doc)
    assert candidate.question == "《青山镇简报》是哪天发布的？"
    assert doc.text[candidate.start:candidate.end] == "2023-07-25 10:50"
    assert list(date_candidates(document("青山镇简报\n正文。"))) == []


@pytest.fixture(scope="module")
def seed_examples(engine) -> list[str]:
    return example_questions(engine, n=4)


@pytest.mark.slow
def test_the_seed_examples_are_answered(engine, seed_examples) -> None:
    assert len(seed_examples) == 4 and len(set(seed_examples)) == 4
    answers = [engine.answer(question) for question in seed_examples]
    assert all(answer.found for answer in answers), seed_examples
    assert all(q.endswith("？") and ".txt" not in q for q in seed_examples)
    assert len({answer.source for answer in answers}) >= 3  # spread over the reports


@pytest.mark.slow
def test_the_examples_are_deterministic_and_fewer_are_a_prefix(engine, seed_examples) -> None:
    assert example_questions(engine, n=2) == seed_examples[:2]
    assert example_questions(engine, n=0) == []


@pytest.mark.slow
def test_an_invented_corpus_gets_questions_on_its_own_names(tmp_path: Path, settings, embedder) -> None:
    corpus = tmp_path / "corpus"
    corpus.mkdir()
    for name, text in INVENTED.items():
        (corpus / name).write_text(text, encoding="utf-8")
    invented = settings.with_(corpus_dir=corpus, index_dir=tmp_path / "index")
    build(invented, embedder=embedder, progress=False, log=lambda message: None)
    engine = load(invented.index_dir, invented, embedder=embedder)
    questions = example_questions(engine, n=4)
    assert len(questions) == 4
    assert any("雅布赖镇" in q for q in questions) and any("松岭村" in q for q in questions)
    assert "《雅布赖镇2023年政府工作报告》是哪天发布的？" in questions
    answers = {q: engine.answer(q) for q in questions}
    assert all(answer.found for answer in answers.values())
