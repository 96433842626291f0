"""qa.tokenizer: the model's tokenizer.json run by ``tokenizers``, compared with transformers' ``AutoTokenizer``
(the reference: what sentence-transformers and the reader used before) on the builtin model."""

from __future__ import annotations

from pathlib import Path

import pytest

from qa.tokenizer import Tokenizer

PASSAGE = ("2022年,伊金霍洛镇全年总收入1.99亿元,其中一般公共预算拨款1.85亿元。累计完成固定资产投资1.28亿元,"
           "同比增长10.95%。") * 12
TEXTS = [PASSAGE[:60], "query: <mask> 测试 ▁ end▁ </s>", "  两个  空格 ", "𝓤nicode 😀 <pad>", "短", PASSAGE * 3]


@pytest.fixture(scope="module")
def tokenizers(model_dir: Path):
    from transformers import AutoTokenizer

    return Tokenizer.from_folder(model_dir), AutoTokenizer.from_pretrained(str(model_dir))


@pytest.mark.slow
def test_a_batch_has_the_reference_ids_and_masks(tokenizers) -> None:
    ours, reference = tokenizers
    ids, mask = ours.batch(TEXTS, max_length=512)
    expected = reference(TEXTS, padding=True, truncation=True, max_length=512, return_tensors="pt")
    assert ids.tolist() == expected["input_ids"].tolist()
    assert mask.tolist() == expected["attention_mask"].tolist()
    assert ids.shape[1] == 512 and mask[4].sum() < 8  # the long text was cut, the short one padded


@pytest.mark.slow
def test_pair_windows_are_the_reference_overflowing_windows(tokenizers) -> None:
    ours, reference = tokenizers
    questions, passages = ["总收入是多少？", "固定资产投资增长多少？"], [PASSAGE, PASSAGE[:50]]
    windows = ours.pair_windows(questions, passages, max_length=64, stride=16)
    expected = reference(questions, passages, truncation="only_second", max_length=64, stride=16,
                         return_overflowing_tokens=True, return_offsets_mapping=True)
    assert [w.input_ids for w in windows] == expected["input_ids"]
    assert [w.pair for w in windows] == expected["overflow_to_sample_mapping"]
    for w, window in enumerate(windows):
        sequence = expected.sequence_ids(w)
        assert window.offsets == [tuple(pair) if sequence[t] == 1 else None
                                  for t, pair in enumerate(expected["offset_mapping"][w])]
    assert len(windows) > 3 and max(len(w.input_ids) for w in windows) == 64
    first = windows[0]
    cited = [PASSAGE[start:end] for start, end in filter(None, first.offsets)]
    assert "".join(cited).replace(" ", "") in PASSAGE  # offsets point into the passage


@pytest.mark.slow
def test_pieces_are_the_reference_offsets(tokenizers) -> None:
    ours, reference = tokenizers
    for text in TEXTS:
        assert ours.pieces(text) == [tuple(pair) for pair in reference(
            text, add_special_tokens=False, return_offsets_mapping=True)["offset_mapping"]]
