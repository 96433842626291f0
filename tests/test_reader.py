"""The span reader: windows and labels, span decoding, the shipped weights and their checks, precision."""

from __future__ import annotations

import json
import shutil

import pytest
import torch

from qa.precision import cpu_has_bf16, resolve_precision
from qa.reader import (
    MANIFEST_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    Reader,
    ReaderUnavailable,
    best_spans,
    make_windows,
    read_manifest,
)
from qa.reading import hash_file
from qa.script import to_search
from qa.training import label

PASSAGE = "伊金霍洛镇全年总收入1.99亿元，其中一般公共预算财政拨款收入1.85亿元。" * 12


@pytest.fixture(scope="module")
def reader(engine) -> Reader:
    return engine.reader


def test_windows_cover_the_passage_and_map_tokens_to_its_characters(reader):
    windows = make_windows(reader.tokenizer, ["总收入是多少？"], [PASSAGE], max_length=64, stride=16)
    assert len(windows.input_ids) > 1 and set(windows.passage) == {0}
    assert all(len(ids) <= 64 for ids in windows.input_ids)
    covered = set()
    for offsets in windows.offsets:
        for pair in offsets:
            if pair is not None:
                assert 0 <= pair[0] < pair[1] <= len(PASSAGE)
                covered.update(range(*pair))
    assert covered == set(range(len(PASSAGE)))


def test_labels_point_at_the_answer_tokens_or_at_no_answer(reader):
    start = PASSAGE.index("1.99亿元")
    end = start + len("1.99亿元")
    windows = make_windows(reader.tokenizer, ["总收入是多少？"], [PASSAGE], max_length=64, stride=16)
    labelled = [label(offsets, start, end) for offsets in windows.offsets]
    holding = [(w, pair) for w, pair in enumerate(labelled) if pair != (0, 0)]
    assert holding, "some window holds the answer"
    for w, (first, last) in holding:
        offsets = windows.offsets[w]
        assert offsets[first][0] <= start < offsets[first][1]
        assert offsets[last][0] < end <= offsets[last][1]
    assert any(pair == (0, 0) for pair in labelled), "a window far from the answer is labelled no-answer"


def test_best_span_respects_passage_tokens_order_and_length():
    offsets = [[None, None, (0, 1), (1, 2), (2, 3), (3, 4), None]]
    start = torch.tensor([[5.0, 9.0, 0.0, 3.0, 0.0, 0.0, 0.0]])  # token 1 is question: never a start
    end = torch.tensor([[1.0, 0.0, 4.0, 0.0, 0.0, 2.0, 9.0]])  # token 6 is </s>: never an end
    assert best_spans(start, end, offsets, max_answer_tokens=3) == [(3, 5, 5.0, 6.0)]
    assert best_spans(start, end, offsets, max_answer_tokens=1)[0][:3] == (2, 2, 4.0)  # one token: 0 + 4 beats 3 + 0


def test_answers_a_question_over_a_traditional_passage_with_exact_offsets(reader):
    passage = "宋家鎮引進本土人才回鄉投資項目30余個，新建扶貧車間2處，帶動脫貧戶就業。"
    spans = reader.read(to_search("宋家鎮引進回鄉投資項目多少個？"), [to_search(passage)])
    assert spans and passage[spans[0].start:spans[0].end] == "30余個"
    assert reader.confidence(spans[0].margin, support=1.0) > reader.threshold


def test_reads_every_passage_in_one_call_best_margin_first(reader):
    passages = [to_search("阿拉善高新区位于内蒙古西部。"), to_search(PASSAGE[:60])]
    spans = reader.read("伊金霍洛镇全年总收入是多少？", passages)
    assert [span.margin for span in spans] == sorted((span.margin for span in spans), reverse=True)
    assert spans[0].passage == 1 and passages[1][spans[0].start:spans[0].end] == "1.99亿元"


def test_confidence_rises_with_the_margin_and_the_support(reader):
    by_margin = [reader.confidence(margin, 0.5) for margin in (-5.0, 0.0, 5.0, 10.0)]
    by_support = [reader.confidence(2.0, share) for share in (0.0, 0.5, 1.0)]
    assert by_margin == sorted(by_margin) and 0.0 < by_margin[0] < by_margin[-1] < 1.0
    assert by_support == sorted(by_support) and by_support[0] < by_support[-1]
    assert 0.0 <= reader.confidence(-1e9, 0.0) < reader.threshold  # no span at all is never an answer


def test_shipped_weights_are_compact_and_documented():
    manifest = read_manifest()
    weights = WEIGHTS_DIR / manifest["file"]
    assert weights.stat().st_size <= 45 * 1024 * 1024
    assert hash_file(weights) == manifest["sha256"]
    training = manifest["training"]
    assert training["data"] == "cmrc2018_train.json" and len(training["data_sha256"]) == 64
    assert training["config"]["seed"] == manifest["training"]["config"]["seed"] and manifest["steps"] > 0
    assert "CC BY-SA 4.0" in training["credit"]
    assert 0.0 < manifest["heldout"]["gold_f1"] <= 1.0


@pytest.fixture
def weights_copy(tmp_path):
    folder = tmp_path / "weights"
    shutil.copytree(WEIGHTS_DIR, folder)
    return folder


def test_a_corrupt_weights_file_is_refused_naming_the_fix(weights_copy):
    path = weights_copy / WEIGHTS_FILE
    data = bytearray(path.read_bytes())
    data[len(data) // 2] ^= 0xFF
    path.write_bytes(bytes(data))
    with pytest.raises(ReaderUnavailable, match="checksum.*git checkout"):
        Reader.load(weights_copy)


def test_a_missing_weights_file_or_manifest_is_refused_naming_the_fix(weights_copy):
    (weights_copy / WEIGHTS_FILE).unlink()
    with pytest.raises(ReaderUnavailable, match="missing.*qa train-reader"):
        Reader.load(weights_copy)
    (weights_copy / MANIFEST_FILE).unlink()
    with pytest.raises(ReaderUnavailable, match="manifest"):
        Reader.load(weights_copy)


def test_weights_trained_over_another_base_are_refused(weights_copy):
    manifest = json.loads((weights_copy / MANIFEST_FILE).read_text(encoding="utf-8"))
    manifest["base_weights_sha256"] = "0" * 64
    (weights_copy / MANIFEST_FILE).write_text(json.dumps(manifest), encoding="utf-8")
    with pytest.raises(ReaderUnavailable, match="other base weights"):
        Reader.load(weights_copy)


def test_precision_setting_is_resolved_and_checked():
    assert resolve_precision("auto") == ("bf16" if cpu_has_bf16() else "fp32")
    assert resolve_precision("fp32") == "fp32"
    with pytest.raises(ValueError, match="auto, bf16, fp32"):
        resolve_precision("fp16")


@pytest.mark.skipif(not cpu_has_bf16(), reason="this CPU has no native bf16")
def test_bf16_and_fp32_readers_pick_the_same_span(reader):
    passage = to_search(PASSAGE[:80])
    question = "一般公共预算财政拨款收入是多少？"
    readers = {p: reader if reader.precision == p else Reader.load(precision=p) for p in ("bf16", "fp32")}
    fp32 = readers["fp32"].read(question, [passage])[0]
    bf16 = readers["bf16"].read(question, [passage])[0]
    assert (fp32.start, fp32.end) == (bf16.start, bf16.end)
    assert abs(fp32.margin - bf16.margin) < 1.0
