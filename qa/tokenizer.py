"""A model's ``tokenizer.json`` run by the ``tokenizers`` library itself: the three ways the project tokenises
(a batch of texts for the embedder, question + passage windows for the reader, the pieces of one text).

Why not transformers' ``AutoTokenizer``: it runs the same ``tokenizer.json`` (``tests/test_tokenizer.py``
compares the two) and costs 0.8 s of imports at every start. Not thread-safe: truncation and padding are set
on the tokenizer for each call, so callers hold a lock (the embedder's, which the reader shares).

Example::

    tokenizer = Tokenizer.from_folder(model_dir)
    ids, mask = tokenizer.batch(["query: 乡村振兴"], max_length=512)   # int64 tensors, padded
    windows = tokenizer.pair_windows(["问题"], ["很长的段落……"], max_length=256, stride=96)
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch

SPECIAL_TOKENS_FILE = "special_tokens_map.json"


@dataclass
class PairWindow:
    """One window of a (question, passage) pair: token ids, the ``(start, end)`` of each token in the passage
    (None for question and special tokens), and the index of the pair it comes from."""

    input_ids: list[int]
    offsets: list[tuple[int, int] | None]
    pair: int


class Tokenizer:
    def __init__(self, raw, pad_token: str) -> None:
        """``raw``: a ``tokenizers.Tokenizer``; ``pad_token``: the token batches are padded with."""
        self._raw = raw
        self.pad_token = pad_token
        self.pad_token_id: int = raw.token_to_id(pad_token)
        if self.pad_token_id is None:
            raise ValueError(f"the padding token {pad_token!r} is not in the vocabulary")

    @classmethod
    def from_folder(cls, folder: Path) -> Tokenizer:
        """The tokenizer of the model in ``folder`` (``tokenizer.json``; the padding token named in
        ``special_tokens_map.json``, ``<pad>`` without it)."""
        from tokenizers import Tokenizer as RawTokenizer

        folder = Path(folder)
        try:
            special = json.loads((folder / SPECIAL_TOKENS_FILE).read_text(encoding="utf-8"))
        except FileNotFoundError:
            special = {}
        pad = special.get("pad_token", "<pad>")  # a name, or an AddedToken written out as a dict
        raw = RawTokenizer.from_file(str(folder / "tokenizer.json"))
        return cls(raw, pad if isinstance(pad, str) else pad["content"])

    def token_to_id(self, token: str) -> int | None:
        return self._raw.token_to_id(token)

    def pieces(self, text: str) -> list[tuple[int, int]]:
        """The ``(start, end)`` in ``text`` of each of its tokens, without special tokens."""
        self._raw.no_truncation()
        self._raw.no_padding()
        return self._raw.encode(text, add_special_tokens=False).offsets

    def batch(self, texts: Sequence[str], max_length: int) -> tuple[torch.Tensor, torch.Tensor]:
        """``(input_ids, attention_mask)`` of ``texts`` with special tokens, each cut to ``max_length`` tokens,
        padded to the longest."""
        self._raw.enable_truncation(max_length)
        self._raw.enable_padding(pad_id=self.pad_token_id, pad_token=self.pad_token)
        encodings = self._raw.encode_batch(list(texts))
        return (torch.tensor([e.ids for e in encodings], dtype=torch.long),
                torch.tensor([e.attention_mask for e in encodings], dtype=torch.long))

    def pair_windows(self, questions: Sequence[str], passages: Sequence[str], max_length: int,
                     stride: int) -> list[PairWindow]:
        """Windows of each ``(questions[i], passages[i])`` pair: ``<s> question </s></s> piece </s>``, the passage
        cut into pieces so that a window holds at most ``max_length`` tokens, consecutive pieces sharing
        ``stride`` tokens."""
        self._raw.enable_truncation(max_length, stride=stride, strategy="only_second")
        self._raw.no_padding()
        windows = []
        for pair, first in enumerate(self._raw.encode_batch(list(zip(questions, passages, strict=True)))):
            for encoding in [first, *first.overflowing]:
                sequence = encoding.sequence_ids
                windows.append(PairWindow(encoding.ids, [tuple(span) if sequence[t] == 1 else None
                                                         for t, span in enumerate(encoding.offsets)], pair))
        return windows
