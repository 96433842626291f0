"""qa.types: a Hit is a chunk plus a score; its chunk's fields read through it, nothing is copied."""

from __future__ import annotations

import copy

import pytest

from qa.types import Chunk, Hit

CHUNK = Chunk("001.txt", "政府工作报告", 11, 120, 131, "全年总收入1.99亿元。")


def test_a_hit_reads_its_chunks_fields() -> None:
    hit = Hit(CHUNK, 0.75)
    assert (hit.source, hit.title, hit.paragraph, hit.start, hit.end, hit.text) == (
        "001.txt", "政府工作报告", 11, 120, 131, "全年总收入1.99亿元。")
    assert hit.chunk is CHUNK and hit.score == 0.75
    assert hit.to_dict() == {"source": "001.txt", "title": "政府工作报告", "paragraph": 11, "start": 120,
                             "end": 131, "text": "全年总收入1.99亿元。", "score": 0.75}


def test_a_hit_has_no_other_attributes_and_copies() -> None:
    hit = Hit(CHUNK, 0.75)
    with pytest.raises(AttributeError, match="no attribute 'page'"):
        _ = hit.page
    assert copy.deepcopy(hit) == hit and copy.copy(hit).chunk is CHUNK
