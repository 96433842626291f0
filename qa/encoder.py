"""A BERT encoder in plain torch: the forward pass of ``transformers.BertModel`` (absolute positions, layer norm
after each block, exact GELU, scaled dot-product attention) under the same weight names, so a BERT checkpoint
loads into it as it is.

Why not transformers' own class: importing ``transformers.BertModel`` pulls in ``torch.distributed``,
``torch._dynamo`` and sympy, 1.6–2.0 s of every start of the app on this machine; this module needs torch
only. ``tests/test_encoder.py`` checks it against ``transformers.BertModel`` on the builtin model.

Example::

    config = BertConfig.read(folder)                 # the model folder's config.json
    encoder = BertEncoder.load(folder)               # weights from folder/model.safetensors
    hidden = encoder(input_ids, attention_mask)      # (batch, tokens, config.hidden_size)
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path

import torch
from torch import nn
from torch.nn import functional

Device = torch.device | str | None
WEIGHTS_FILE = "model.safetensors"


class NotBert(ValueError):
    """The folder does not hold a BERT encoder this module computes exactly."""


@dataclass(frozen=True)
class BertConfig:
    """The shape of a BERT encoder (the fields of its ``config.json`` that the forward pass uses)."""

    vocab_size: int
    hidden_size: int
    num_hidden_layers: int
    num_attention_heads: int
    intermediate_size: int
    max_position_embeddings: int
    type_vocab_size: int
    layer_norm_eps: float
    pad_token_id: int = 0
    hidden_dropout_prob: float = 0.1
    attention_probs_dropout_prob: float = 0.1

    @classmethod
    def read(cls, folder: Path) -> BertConfig:
        """The config of the model in ``folder``; ``NotBert`` when it is another architecture or variant."""
        try:
            raw = json.loads((Path(folder) / "config.json").read_text(encoding="utf-8"))
        except (OSError, ValueError) as problem:
            raise NotBert(f"{folder}: no readable config.json ({problem})") from None
        variant = (raw.get("model_type"), raw.get("hidden_act", "gelu"), raw.get("position_embedding_type", "absolute"))
        if variant != ("bert", "gelu", "absolute"):
            raise NotBert(f"{folder}: {variant} is not a BERT encoder with GELU and absolute positions")
        try:
            return cls(**{field.name: raw[field.name] for field in fields(cls) if field.name in raw})
        except TypeError as problem:
            raise NotBert(f"{folder}: config.json lacks a BERT field ({problem})") from None


class Embeddings(nn.Module):
    """word + position + token type (0), then layer norm. The word table is frozen."""

    def __init__(self, config: BertConfig, word_embeddings: torch.Tensor, device: Device = None) -> None:
        super().__init__()
        self.word_embeddings = nn.Embedding.from_pretrained(word_embeddings, padding_idx=config.pad_token_id)
        # small tables, on the CPU: initialising an embedding on "meta" imports torch._dynamo (1.3 s)
        self.position_embeddings = nn.Embedding(config.max_position_embeddings, config.hidden_size)
        self.token_type_embeddings = nn.Embedding(config.type_vocab_size, config.hidden_size)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, device=device)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, input_ids: torch.Tensor) -> torch.Tensor:
        positions = torch.arange(input_ids.shape[1], device=input_ids.device)
        summed = (self.word_embeddings(input_ids) + self.position_embeddings(positions)[None]
                  + self.token_type_embeddings.weight[0])
        return self.dropout(self.LayerNorm(summed))


class SelfAttention(nn.Module):
    """softmax(QKᵀ/√d + mask)·V per head (``scaled_dot_product_attention``)."""

    def __init__(self, config: BertConfig, device: Device = None) -> None:
        super().__init__()
        self.heads = config.num_attention_heads
        self.query = nn.Linear(config.hidden_size, config.hidden_size, device=device)
        self.key = nn.Linear(config.hidden_size, config.hidden_size, device=device)
        self.value = nn.Linear(config.hidden_size, config.hidden_size, device=device)
        self.dropout = config.attention_probs_dropout_prob

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        batch, tokens, width = hidden.shape

        def split(projected: torch.Tensor) -> torch.Tensor:
            return projected.view(batch, tokens, self.heads, width // self.heads).transpose(1, 2)

        context = functional.scaled_dot_product_attention(
            split(self.query(hidden)), split(self.key(hidden)), split(self.value(hidden)), attn_mask=mask,
            dropout_p=self.dropout if self.training else 0.0)
        return context.transpose(1, 2).reshape(batch, tokens, width)


class Residual(nn.Module):
    """dense, dropout, then layer norm of the sum with the block's input (BERT's ``*Output`` modules)."""

    def __init__(self, config: BertConfig, inner: int, device: Device = None) -> None:
        super().__init__()
        self.dense = nn.Linear(inner, config.hidden_size, device=device)
        self.LayerNorm = nn.LayerNorm(config.hidden_size, eps=config.layer_norm_eps, device=device)
        self.dropout = nn.Dropout(config.hidden_dropout_prob)

    def forward(self, hidden: torch.Tensor, block_input: torch.Tensor) -> torch.Tensor:
        return self.LayerNorm(self.dropout(self.dense(hidden)) + block_input)


class Attention(nn.Module):
    def __init__(self, config: BertConfig, device: Device = None) -> None:
        super().__init__()
        self.self = SelfAttention(config, device)
        self.output = Residual(config, config.hidden_size, device)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        return self.output(self.self(hidden, mask), hidden)


class Intermediate(nn.Module):
    def __init__(self, config: BertConfig, device: Device = None) -> None:
        super().__init__()
        self.dense = nn.Linear(config.hidden_size, config.intermediate_size, device=device)

    def forward(self, hidden: torch.Tensor) -> torch.Tensor:
        return functional.gelu(self.dense(hidden))


class Layer(nn.Module):
    def __init__(self, config: BertConfig, device: Device = None) -> None:
        super().__init__()
        self.attention = Attention(config, device)
        self.intermediate = Intermediate(config, device)
        self.output = Residual(config, config.intermediate_size, device)

    def forward(self, hidden: torch.Tensor, mask: torch.Tensor) -> torch.Tensor:
        attended = self.attention(hidden, mask)
        return self.output(self.intermediate(attended), attended)


class Layers(nn.Module):
    def __init__(self, config: BertConfig, device: Device = None) -> None:
        super().__init__()
        self.layer = nn.ModuleList(Layer(config, device) for _ in range(config.num_hidden_layers))


class BertEncoder(nn.Module):
    """``(input_ids, attention_mask) -> last hidden state``, the weights named as in ``transformers.BertModel``
    (without its pooler)."""

    def __init__(self, config: BertConfig, word_embeddings: torch.Tensor | None = None, device: Device = None) -> None:
        """``word_embeddings`` (vocabulary × hidden) is used as it is, not copied; without it the table is left
        uninitialised, for weights loaded next (initialising 96M weights at random took 1 s). The other weights
        are initialised at random, or not at all on ``device="meta"`` (for weights loaded next: 0.1 s a model)."""
        super().__init__()
        self.config = config
        if word_embeddings is None:
            word_embeddings = torch.empty(config.vocab_size, config.hidden_size)
        self.embeddings = Embeddings(config, word_embeddings, device)
        self.encoder = Layers(config, device)

    def forward(self, input_ids: torch.Tensor, attention_mask: torch.Tensor) -> torch.Tensor:
        mask = attention_mask[:, None, None, :].bool()  # every query token may attend to the unpadded keys
        hidden = self.embeddings(input_ids)
        for layer in self.encoder.layer:
            hidden = layer(hidden, mask)
        return hidden

    @classmethod
    def load(cls, folder: Path, word_embeddings: torch.Tensor | None = None) -> BertEncoder:
        """The encoder of the BERT model in ``folder`` (``config.json``, ``model.safetensors``), built without
        initialising weights it is given at once. ``word_embeddings``, when given, is used instead of the file's
        matrix (not copied: an encoder sharing another's)."""
        from safetensors import safe_open

        config = BertConfig.read(folder)
        word = "embeddings.word_embeddings.weight"
        with safe_open(str(Path(folder) / WEIGHTS_FILE), framework="pt") as weights:
            stored = set(weights.keys())
            if word_embeddings is None and word in stored:
                word_embeddings = weights.get_tensor(word)
            encoder = cls(config, word_embeddings, device="meta")
            names = set(encoder.state_dict()) - ({word} if word_embeddings is not None else set())
            missing = names - stored
            if missing:
                raise NotBert(f"{folder}: {WEIGHTS_FILE} lacks {len(missing)} BERT weights, e.g. {min(missing)}")
            encoder.load_state_dict({name: weights.get_tensor(name) for name in names - {word}}, strict=False,
                                    assign=True)
        return encoder

