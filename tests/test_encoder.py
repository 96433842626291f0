"""qa.encoder: the BERT forward pass in plain torch, compared with ``transformers.BertModel`` (the reference)."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import pytest
import torch

from qa.encoder import BertConfig, BertEncoder, NotBert
from qa.precision import autocast, for_inference

TEXTS = ["query: 伊金霍洛镇全年总收入是多少",
         "passage: 累计完成固定资产投资1.28亿元,同比增长10.95%;全年总收入1.99亿元。" * 3]


def test_config_of_another_architecture_is_refused(tmp_path: Path) -> None:
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "xlm-roberta", "hidden_act": "gelu"}))
    with pytest.raises(NotBert, match="not a BERT encoder"):
        BertConfig.read(tmp_path)
    (tmp_path / "config.json").write_text(json.dumps({"model_type": "bert", "hidden_act": "relu"}))
    with pytest.raises(NotBert, match="not a BERT encoder"):
        BertConfig.read(tmp_path)
    with pytest.raises(NotBert, match="config.json"):
        BertConfig.read(tmp_path / "missing")


def test_padding_does_not_change_the_tokens_it_follows() -> None:
    torch.manual_seed(0)
    config = BertConfig(vocab_size=30, hidden_size=16, num_hidden_layers=2, num_attention_heads=4,
                        intermediate_size=32, max_position_embeddings=20, type_vocab_size=2, layer_norm_eps=1e-12)
    encoder = BertEncoder(config, torch.randn(30, 16)).eval()
    ids = torch.tensor([[2, 5, 7, 3]])
    padded = torch.tensor([[2, 5, 7, 3, 0, 0]])
    with torch.inference_mode():
        alone = encoder(ids, torch.ones_like(ids))
        together = encoder(padded, torch.tensor([[1, 1, 1, 1, 0, 0]]))
    torch.testing.assert_close(together[:, :4], alone, atol=1e-5, rtol=1e-5)
    assert not encoder.embeddings.word_embeddings.weight.requires_grad  # the word table stays frozen


@pytest.mark.slow
def test_same_hidden_states_as_transformers_bert(model_dir: Path) -> None:
    from transformers import AutoTokenizer, BertModel

    tokenizer = AutoTokenizer.from_pretrained(str(model_dir))
    features = tokenizer(TEXTS, padding=True, return_tensors="pt")
    real = features["attention_mask"].bool()
    ours = BertEncoder.load(model_dir).eval()
    reference = BertModel.from_pretrained(str(model_dir), add_pooling_layer=False).eval()
    for precision in ("fp32", "bf16"):
        for_inference(ours, precision)
        for_inference(reference, precision)
        with torch.inference_mode(), autocast(precision):
            hidden = ours(features["input_ids"], features["attention_mask"]).float()
            expected = reference(**features).last_hidden_state.float()
        torch.testing.assert_close(hidden[real], expected[real], atol=1e-4, rtol=1e-4)


@pytest.mark.slow
def test_a_folder_without_all_weights_is_refused(model_dir: Path, tmp_path: Path) -> None:
    from safetensors.torch import load_file, save_file

    state = load_file(str(model_dir / "model.safetensors"))
    del state["encoder.layer.3.output.dense.weight"]
    save_file(state, str(tmp_path / "model.safetensors"))
    shutil.copyfile(model_dir / "config.json", tmp_path / "config.json")
    with pytest.raises(NotBert, match="lacks 1 BERT weights"):
        BertEncoder.load(tmp_path)
