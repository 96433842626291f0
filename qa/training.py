"""``qa train-reader``: fine-tune the span reader on a SQuAD-format set (CMRC 2018 train by default).

Data
    Every question with its whole paragraph, cut into windows (``max_length`` tokens, ``stride`` shared);
    a window that does not hold the whole answer is labelled no-answer (``<s>``). Answer offsets that do not
    point at the answer text are re-anchored at its nearest occurrence (21 in CMRC 2018 train). No-answer
    examples from retrieval: every paragraph is indexed with the project's own pipeline and each question's
    ``negatives`` best-ranked passages of *other* paragraphs that do not hold the answer are added, so the
    reader learns to abstain on exactly the near misses it will meet. Questions and passages are read in the
    search form (``qa.script.to_search``), as at answer time.
Hold-out
    ``heldout`` paragraphs (seeded) never train; they select the checkpoint (F1 given the gold paragraph)
    and calibrate abstention. Each held-out question is asked twice, as the app asks it: over ``passages``
    passages that hold its answer (the passage of its own paragraph with the answer, plus the best-ranked
    retrieved passages without it) and over ``passages`` that do not (the best-ranked retrieved passages of
    other paragraphs without the answer). The margin threshold is SQuAD 2.0's best-F1 threshold over both
    (the official evaluation's ``find_best_thresh``: an answer earns its F1 when a passage holds the answer
    and 0 otherwise, an abstention earns 1 when none does and 0 otherwise). Platt scaling of the margin on
    the same cases (right = ``is_right``) gives ``confidence``.
Training
    AdamW, linear warm-up and decay, gradient clipping at 1, bf16 autocast where the CPU has it, the
    word-embedding matrix frozen. Seeded; a checkpoint every ``checkpoint_every`` steps (model, optimiser,
    scheduler, data order, random states) so a stopped run resumes where it stood; each checkpoint is
    evaluated on the hold-out and the best one is exported (``qa/weights/reader.safetensors`` + manifest).
    ``start_from`` (``--from-weights``) fine-tunes an exported reader further under a schedule of its own: its
    weights, not its optimiser or schedule; it is evaluated first (step 0) and stays the export until a
    checkpoint beats it on the hold-out.
"""

from __future__ import annotations

import argparse
import hashlib
import json
import math
import os
import random
import re
import shutil
import sys
import time
import warnings
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np
import torch
from tqdm import tqdm

from .precision import autocast, resolve_precision
from .reader import (
    MANIFEST_FILE,
    WEIGHTS_DIR,
    WEIGHTS_FILE,
    Reader,
    SpanModel,
    base_model,
    builtin_base,
    checked_weights,
    load_trained,
    make_windows,
    pad,
    read_manifest,
)
from .reading import hash_file
from .script import to_search
from .settings import CMRC_TRAIN, Settings

DEFAULT_DATA = CMRC_TRAIN
DATA_CREDIT = ("CMRC 2018 train (Cui et al., EMNLP-IJCNLP 2019; github.com/ymcui/cmrc2018), CC BY-SA 4.0")


@dataclass(frozen=True)
class TrainConfig:
    data: str = str(DEFAULT_DATA)
    limit: int | None = None  # only the first N questions (a smoke run)
    epochs: float = 2.0
    batch_size: int = 16
    learning_rate: float = 8e-5
    warmup: float = 0.06
    weight_decay: float = 0.01
    max_length: int = 256
    stride: int = 96
    max_answer_tokens: int = 48
    negatives: int = 1
    heldout: float = 0.04  # share of paragraphs held out
    passages: int = 4  # retrieved passages per calibration question
    seed: int = 13
    checkpoint_every: int = 300
    precision: str = "auto"
    start_from: str = ""  # sha256 of the exported reader weights the run starts from; "" = the base encoder

    def key(self) -> str:
        """What a checkpoint must match to be resumed (everything that shapes the run)."""
        return hashlib.sha256(json.dumps(asdict(self), sort_keys=True).encode()).hexdigest()[:16]


@dataclass
class Example:
    """A question over a passage (search form); ``answer_start`` is -1 when the passage holds no answer."""

    id: str
    paragraph: str
    question: str
    passage: str
    answer_start: int
    answer: str


# ---------------------------------------------------------------------------------------------- data


def anchor(context: str, text: str, start: int) -> int:
    """The offset of ``text`` in ``context``: ``start`` when it points there, else the nearest occurrence
    (-1 when the text is nowhere in the context)."""
    if context[start: start + len(text)] == text:
        return start
    found = [m.start() for m in re.finditer(re.escape(text), context)]
    return min(found, key=lambda offset: abs(offset - start)) if found else -1


def read_examples(path: Path, limit: int | None = None) -> tuple[list[Example], int]:
    """The answerable questions of a SQuAD-format file (first answer, re-anchored) and how many offsets were
    re-anchored; questions whose answer is not in the paragraph are left out."""
    from .evaluation import squad_source

    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    examples, moved, index = [], 0, 0
    for article in data:
        for paragraph in article["paragraphs"]:
            source = squad_source(index, str(paragraph.get("id", "")))
            index += 1
            context = paragraph["context"]
            for qa in paragraph["qas"]:
                if not qa.get("answers"):
                    continue
                first = qa["answers"][0]
                text, start = first["text"], int(first["answer_start"])
                found = anchor(context, text, start)
                if found < 0:
                    continue
                moved += found != start
                examples.append(Example(str(qa["id"]), source, to_search(qa["question"]), to_search(context),
                                        found, to_search(text)))
    return (examples[:limit] if limit else examples), moved


def split_heldout(examples: list[Example], share: float, seed: int) -> tuple[list[Example], list[Example]]:
    """(train, held-out), split by paragraph so no held-out passage is ever trained on."""
    paragraphs = sorted({e.paragraph for e in examples})
    random.Random(seed).shuffle(paragraphs)
    held = set(paragraphs[: max(1, round(share * len(paragraphs)))])
    return [e for e in examples if e.paragraph not in held], [e for e in examples if e.paragraph in held]


def retrieved_passages(examples: list[Example], data: Path, work: Path, depth: int, embedder,
                       settings: Settings) -> dict[str, list[tuple[str, str]]]:
    """For every question, its top ``depth`` passages ``(source, search text)`` from the project's own
    retriever over all the set's paragraphs; cached in ``work`` (the index too)."""
    from .evaluation import read_squad, write_corpus
    from .indexing import build
    from .retrieval import load

    cache = work / f"retrieved-{depth}.jsonl"
    done: dict[str, list[tuple[str, str]]] = {}
    if cache.exists():
        for line in cache.read_text(encoding="utf-8").splitlines():
            row = json.loads(line)
            done[row["id"]] = [tuple(p) for p in row["passages"]]
    todo = [e for e in examples if e.id not in done]
    if not todo:
        return done
    used = {e.paragraph for e in examples}
    corpus, index = work / "corpus", work / "index"
    if not corpus.exists():
        write_corpus([p for p in read_squad(data)[0] if p.source in used], corpus)
    local = settings.with_(corpus_dir=corpus, index_dir=index)
    report = build(local, corpus, index, embedder=embedder, progress=True, log=_log)
    _log(report.summary().splitlines()[0])
    engine = load(index, local, embedder)
    with cache.open("a", encoding="utf-8") as out:
        for example in tqdm(todo, desc="retrieving", unit="question", file=sys.stderr):
            hits = engine.retrieve(example.question, depth)
            passages = [(h.source, engine.documents[h.source].search[h.start:h.end]) for h in hits]
            done[example.id] = passages
            out.write(json.dumps({"id": example.id, "passages": passages}, ensure_ascii=False) + "\n")
    return done


def holds_answer(passage: str, answer: str) -> bool:
    return "".join(answer.split()) in "".join(passage.split())


def answer_passages(examples: list[Example], index_dir: Path) -> dict[str, str]:
    """For every question, the first indexed passage (search form) of its own paragraph that holds its answer
    (none when the answer straddles two passages)."""
    from .storage import load_index

    stored = load_index(index_dir)
    by_source: dict[str, list[str]] = {}
    for chunk in stored.chunks:
        by_source.setdefault(chunk.source, []).append(stored.documents[chunk.source].search[chunk.start:chunk.end])
    found = {}
    for e in examples:
        text = next((t for t in by_source.get(e.paragraph, ()) if holds_answer(t, e.answer)), None)
        if text is not None:
            found[e.id] = text
    return found


def other_passages(example: Example, retrieved: dict[str, list[tuple[str, str]]]) -> list[tuple[str, str]]:
    """The question's retrieved passages ``(source, text)`` from other paragraphs that do not hold its answer,
    best first."""
    return [(source, text) for source, text in retrieved.get(example.id, ())
            if source != example.paragraph and not holds_answer(text, example.answer)]


def negative_examples(examples: list[Example], retrieved: dict[str, list[tuple[str, str]]],
                      per_question: int) -> list[Example]:
    """Each question's best-ranked passages of other paragraphs that do not hold its answer."""
    negatives = []
    for e in examples:
        chosen = other_passages(e, retrieved)[:per_question]
        negatives += [Example(f"{e.id}-neg{n}", e.paragraph, e.question, text, -1, "")
                      for n, (_, text) in enumerate(chosen)]
    return negatives


@dataclass
class Feature:
    input_ids: list[int]
    start: int  # token labels; 0 (<s>) when the window holds no answer
    end: int


def features(examples: list[Example], tokenizer, config: TrainConfig) -> list[Feature]:
    """Labelled windows of every example."""
    out = []
    for first in range(0, len(examples), 256):
        batch = examples[first: first + 256]
        windows = make_windows(tokenizer, [e.question for e in batch], [e.passage for e in batch],
                               config.max_length, config.stride)
        for ids, offsets, source in zip(windows.input_ids, windows.offsets, windows.passage, strict=True):
            example = batch[source]
            start, end = label(offsets, example.answer_start, example.answer_start + len(example.answer))
            out.append(Feature(ids, start, end) if example.answer_start >= 0 else Feature(ids, 0, 0))
    return out


def label(offsets: list[tuple[int, int] | None], start: int, end: int) -> tuple[int, int]:
    """Token indices of the first and last token of ``[start, end)`` when the window holds all of it,
    else ``(0, 0)``."""
    tokens = [t for t, pair in enumerate(offsets) if pair is not None]
    if start < 0 or not tokens or offsets[tokens[0]][0] > start or offsets[tokens[-1]][1] < end:
        return 0, 0
    first = next(t for t in tokens if offsets[t][1] > start)
    last = next(t for t in reversed(tokens) if offsets[t][0] < end)
    return first, last


# ---------------------------------------------------------------------------------------------- scoring


@dataclass(frozen=True)
class Candidate:
    """The reader's best span in one passage: its margin, the lexical support of its passage
    (``qa.answering.supports``) and its text."""

    margin: float
    support: float
    prediction: str


@dataclass(frozen=True)
class Case:
    """A calibration case: the reader's candidates for one question over some passages, and whether any
    passage held the answer."""

    candidates: tuple[Candidate, ...]
    answers: tuple[str, ...]
    answerable: bool


def reader_case(reader: Reader, engine, example: Example, passages: list[tuple[str, str]],
                answerable: bool) -> Case:
    """The reader's candidates for the question over ``passages`` ``(source, search text)``; ``engine`` (over
    the set's own index) gives the titles and the key-word weights for the support."""
    from .answering import supports

    texts = [text for _, text in passages]
    titled = [text + engine.documents[source].search_title for source, text in passages]
    shares = supports(engine, example.question, titled)
    candidates = tuple(Candidate(span.margin, shares[span.passage],
                                 texts[span.passage][span.start:span.end])
                       for span in reader.read(example.question, texts))
    return Case(candidates, (example.answer,), answerable)


def calibration_cases(reader: Reader, engine, examples: list[Example],
                      retrieved: dict[str, list[tuple[str, str]]], own: dict[str, str], passages: int) -> list[Case]:
    """Each question over ``passages`` passages holding its answer and over ``passages`` without it (see the
    module docstring)."""
    cases = []
    for e in tqdm(examples, desc="calibration", unit="question", file=sys.stderr, leave=False):
        others = other_passages(e, retrieved)
        if e.id in own:
            cases.append(reader_case(reader, engine, e, [(e.paragraph, own[e.id]), *others[: passages - 1]], True))
        if others:
            cases.append(reader_case(reader, engine, e, others[:passages], False))
    return cases


def is_right(prediction: str, case: Case) -> bool:
    """An answer is right when a passage held the answer and the prediction contains a gold answer or lies
    inside one, with CMRC F1 ≥ 0.5 (so at most about three times longer or shorter): "120人" is not right for
    "1950人" although the two share 人 (F1 0.5)."""
    from .evaluation import cmrc_f1, compact

    text = compact(prediction)
    nested = any(compact(a) in text or text in compact(a) for a in case.answers)
    return case.answerable and bool(text) and nested and cmrc_f1(prediction, case.answers) >= 0.5


def fit_confidence(cases: list[Case], steps: int = 500) -> list[float]:
    """``[w_margin, w_support, bias]`` of P(right | margin, support) = σ(w·x + bias), by logistic regression
    over every candidate (LBFGS with a strong-Wolfe line search; plain steps diverge on real margins)."""
    rows = [(c.margin, c.support, is_right(c.prediction, case)) for case in cases for c in case.candidates]
    x = torch.tensor([r[:2] for r in rows], dtype=torch.float64).clamp(-50.0, 50.0)
    y = torch.tensor([float(r[2]) for r in rows], dtype=torch.float64)
    params = torch.zeros(3, dtype=torch.float64, requires_grad=True)
    optimiser = torch.optim.LBFGS([params], max_iter=steps, line_search_fn="strong_wolfe")

    def closure():
        optimiser.zero_grad()
        loss = torch.nn.functional.binary_cross_entropy_with_logits(x @ params[:2] + params[2], y)
        loss.backward()
        return loss

    optimiser.step(closure)
    return params.detach().tolist()


def best_candidate(case: Case, weights: list[float]) -> tuple[float, Candidate | None]:
    """The case's most confident candidate and its confidence (0 and None without any)."""
    from .reader import confidence

    scored = [(confidence(weights, c.margin, c.support), c) for c in case.candidates]
    return max(scored, key=lambda pair: pair[0], default=(0.0, None))


def choose_threshold(cases: list[Case], weights: list[float]) -> float:
    """SQuAD 2.0's best-F1 threshold (Rajpurkar et al. 2018, ``find_best_thresh``): the confidence above which
    answering maximises Σ F1(answered, answerable) + #(abstained, unanswerable) over the cases."""
    from .evaluation import cmrc_f1

    best = [best_candidate(case, weights) for case in cases]
    values = np.array([score for score, _ in best])
    gain = np.array([cmrc_f1(c.prediction, case.answers) if c and case.answerable else 0.0
                     for (_, c), case in zip(best, cases, strict=True)])
    unanswerable = np.array([not case.answerable for case in cases])

    def utility(threshold: float) -> float:
        answered = values > threshold
        return float(gain[answered].sum() + (unanswerable & ~answered).sum())

    candidates = [0.0] + sorted({round(float(v), 6) - 1e-6 for v in values if v > 0})
    return max(candidates, key=utility)


def abstention_figures(cases: list[Case], weights: list[float], threshold: float) -> dict[str, float]:
    """With abstention at ``threshold``: over passages that hold the answer the shares right, wrong and
    abstained; over passages that do not, the share abstained."""

    def share(subset: list[Case], keep) -> float:
        return sum(map(keep, subset)) / max(1, len(subset))

    def answered(case: Case) -> bool:
        return best_candidate(case, weights)[0] > threshold

    def right(case: Case) -> bool:
        _, candidate = best_candidate(case, weights)
        return candidate is not None and is_right(candidate.prediction, case)

    answerable = [c for c in cases if c.answerable]
    unanswerable = [c for c in cases if not c.answerable]
    return {
        "answerable_right": share(answerable, lambda c: answered(c) and right(c)),
        "answerable_wrong": share(answerable, lambda c: answered(c) and not right(c)),
        "answerable_abstained": share(answerable, lambda c: not answered(c)),
        "unanswerable_abstained": share(unanswerable, lambda c: not answered(c)),
        "threshold": threshold,
    }


# ---------------------------------------------------------------------------------------------- training


def _log(message: str) -> None:
    tqdm.write(f"qa: {message}", file=sys.stderr)


def _atomic_save(obj, path: Path) -> None:
    tmp = path.with_name(path.name + ".tmp")
    torch.save(obj, tmp)
    os.replace(tmp, path)


def export(model: SpanModel, out: Path, manifest: dict) -> None:
    """Write the trained weights (fp16 safetensors) and their manifest into ``out``, each replaced at once."""
    from safetensors.torch import save_file

    out.mkdir(parents=True, exist_ok=True)
    weights = out / WEIGHTS_FILE
    tmp = weights.with_name(weights.name + ".tmp")
    state = {name: tensor.detach().to(torch.float16).contiguous() for name, tensor in model.trainable_state().items()}
    save_file(state, str(tmp), metadata={"format": "pt"})
    os.chmod(tmp, 0o644)  # safetensors creates its files 0600
    os.replace(tmp, weights)
    manifest = {**manifest, "file": WEIGHTS_FILE, "sha256": hash_file(weights), "bytes": weights.stat().st_size}
    tmp = out / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST_FILE)


def start_from_export(folder: Path, out: Path, model: SpanModel, schedule, history_path: Path) -> dict:
    """Load the reader exported in ``folder`` by this same run (when its checkpoint is lost): its weights, the
    learning-rate schedule at its step and its history; ``out`` starts with a copy of it. Returns its
    manifest."""
    manifest = read_manifest(folder)
    out.mkdir(parents=True, exist_ok=True)
    for name in (manifest.get("file", WEIGHTS_FILE), MANIFEST_FILE):  # the best so far, until a better one
        if not (out / name).exists() or not (out / name).samefile(Path(folder) / name):
            shutil.copyfile(Path(folder) / name, out / name)
    load_trained(model, checked_weights(folder, manifest))
    step = int(manifest["steps"])
    with warnings.catch_warnings():  # stepping the schedule without the optimiser is the point here
        warnings.simplefilter("ignore")
        for _ in range(step):
            schedule.step()
    if not history_path.exists():
        history_path.write_text("".join(json.dumps(r) + "\n" for r in manifest.get("history", [])))
    return manifest


def train(config: TrainConfig, work: Path, out: Path, settings: Settings, command: str = "",
          resume_weights: Path | None = None, start_from: Path | None = None) -> dict:
    """Run (or resume) a training; returns the exported manifest. Without a checkpoint, ``resume_weights``
    (a folder this run exported) is where it resumes; ``start_from`` (an exported reader whose weights'
    sha256 is ``config.start_from``) is where a further fine-tuning starts."""
    work.mkdir(parents=True, exist_ok=True)
    torch.manual_seed(config.seed)
    random.seed(config.seed)
    precision = resolve_precision(config.precision)
    data = Path(config.data)
    examples, moved = read_examples(data, config.limit)
    train_set, held = split_heldout(examples, config.heldout, config.seed)
    _log(f"{len(examples)} questions ({moved} answer offsets re-anchored): {len(train_set)} train, "
         f"{len(held)} held out; precision {precision}")
    from .model import Embedder

    base_dir = builtin_base(settings.model)
    embedder = Embedder(settings.model, settings.model_cache, settings.batch_size)
    retrieval = work / f"retrieval-{config.limit or 'all'}"
    retrieved = retrieved_passages(examples, data, retrieval, max(config.passages, 8), embedder, settings)
    del embedder
    model, tokenizer = base_model(base_dir)
    train_examples = train_set + negative_examples(train_set, retrieved, config.negatives)
    feats = features(train_examples, tokenizer, config)
    _log(f"{len(train_examples)} training passages ({len(train_examples) - len(train_set)} retrieved "
         f"negatives) -> {len(feats)} windows, {sum(f.start > 0 for f in feats)} holding an answer")
    steps_per_epoch = math.ceil(len(feats) / config.batch_size)
    total = max(1, round(config.epochs * steps_per_epoch))
    optimiser, schedule = optimiser_and_schedule(model, config, total)
    checkpoint = work / f"checkpoint-{config.key()}.pt"
    history_path = work / f"history-{config.key()}.jsonl"
    manifest_base = {
        "base_model": settings.model,
        "base_weights_sha256": json.loads((base_dir / "qa_build.json").read_text())["weights_sha256"],
        "max_length": config.max_length, "stride": config.stride, "max_answer_tokens": config.max_answer_tokens,
        "precision_trained": precision,
        "training": {"data": data.name, "data_sha256": hash_file(data), "credit": DATA_CREDIT,
                     "command": command, "config": asdict(config), "questions": len(train_set),
                     "heldout_questions": len(held), "windows": len(feats), "reanchored": moved},
    }
    if start_from is not None:
        started = read_manifest(start_from)
        manifest_base["training"]["command"] = f"{started['training']['command']}, then {command}"
        manifest_base["training"]["started_from"] = {
            key: started[key] for key in ("sha256", "steps", "heldout", "history") if key in started}
    step, best_f1, losses = 0, -1.0, []
    if checkpoint.exists():
        state = torch.load(checkpoint, weights_only=True)
        model.load_state_dict(state["model"], strict=False)
        optimiser.load_state_dict(state["optimiser"])
        schedule.load_state_dict(state["schedule"])
        step, best_f1 = state["step"], state["best_f1"]
        torch.set_rng_state(state["torch_rng"])
        _log(f"resumed from {checkpoint} at step {step}/{total}")
    elif resume_weights is not None:
        exported = start_from_export(resume_weights, out, model, schedule, history_path)
        step, best_f1 = int(exported["steps"]), float(exported["heldout"]["gold_f1"])
        manifest_base["training"]["command"] = f"{exported['training']['command']} (steps 1-{step}), then {command}"
        _log(f"resumed from the weights exported in {resume_weights} at step {step}/{total} "
             "(the optimiser's moments start afresh)")
    elif start_from is not None:
        load_trained(model, checked_weights(start_from, started))
        history_path.unlink(missing_ok=True)  # a run stopped before its first checkpoint starts over
        best_f1 = evaluate_checkpoint(model, tokenizer, manifest_base, precision, held, 0, 0.0, None,
                                      history_path, out, total)
        _log(f"fine-tuning further the reader exported in {start_from}")
    model.train()
    progress = tqdm(total=total, initial=step, desc="train-reader", unit="step", file=sys.stderr)
    params = [p for p in model.parameters() if p.requires_grad]
    while step < total:
        loss = span_loss(model, batch_at(feats, step, steps_per_epoch, config), tokenizer.pad_token_id, precision)
        loss.backward()
        torch.nn.utils.clip_grad_norm_(params, 1.0)
        optimiser.step()
        schedule.step()
        optimiser.zero_grad(set_to_none=True)
        step += 1
        losses.append(loss.item())
        progress.update(1)
        progress.set_postfix(loss=f"{np.mean(losses[-50:]):.3f}", lr=f"{schedule.get_last_lr()[0]:.1e}")
        if step % config.checkpoint_every == 0 or step == total:
            best_f1 = evaluate_checkpoint(model, tokenizer, manifest_base, precision, held, step,
                                          round(step / steps_per_epoch, 3),
                                          float(np.mean(losses[-config.checkpoint_every:])),
                                          history_path, out, total, best_f1)
            model.train()
            _atomic_save({"model": model.trainable_state(), "optimiser": optimiser.state_dict(),
                          "schedule": schedule.state_dict(), "step": step, "best_f1": best_f1,
                          "torch_rng": torch.get_rng_state()}, checkpoint)
    progress.close()
    del model
    _log(f"calibrating the best checkpoint in {out}")
    return recalibrate(config, work, out, settings)


def optimiser_and_schedule(model: SpanModel, config: TrainConfig, total: int):
    """AdamW over the trainable parameters (no weight decay on biases and norms) and a learning rate that rises
    linearly over the first ``warmup`` share of ``total`` steps and falls linearly to 0 at ``total`` (BERT's)."""
    trainable = [p for p in model.parameters() if p.requires_grad]
    groups = [{"params": [p for p in trainable if p.ndim > 1], "weight_decay": config.weight_decay},
              {"params": [p for p in trainable if p.ndim <= 1], "weight_decay": 0.0}]
    optimiser = torch.optim.AdamW(groups, lr=config.learning_rate)
    warmup = max(1, round(config.warmup * total))
    schedule = torch.optim.lr_scheduler.LambdaLR(
        optimiser, lambda s: min((s + 1) / warmup, max(0.0, (total - s) / max(1, total - warmup))))
    return optimiser, schedule


def batch_at(feats: list[Feature], step: int, steps_per_epoch: int, config: TrainConfig) -> list[Feature]:
    """The windows of training step ``step``: each epoch reads all of them in an order of its own, seeded by the
    epoch, so a resumed run reads the same batches as an unbroken one."""
    order = list(range(len(feats)))
    random.Random(config.seed + step // steps_per_epoch).shuffle(order)
    position = step % steps_per_epoch
    return [feats[i] for i in order[position * config.batch_size: (position + 1) * config.batch_size]]


def span_loss(model: SpanModel, batch: list[Feature], pad_id: int, precision: str) -> torch.Tensor:
    """The mean of the start and end cross-entropies over ``batch``, padding masked out (no-answer windows point
    both at ``<s>``, position 0)."""
    ids, mask = pad([f.input_ids for f in batch], pad_id)
    with autocast(precision):
        start_logits, end_logits = model(ids, mask)
    starts = torch.tensor([f.start for f in batch])
    ends = torch.tensor([f.end for f in batch])
    return (torch.nn.functional.cross_entropy(start_logits.masked_fill(mask == 0, -1e4), starts)
            + torch.nn.functional.cross_entropy(end_logits.masked_fill(mask == 0, -1e4), ends)) / 2


UNCALIBRATED = {"calibration": {"threshold": 0.0, "weights": [1.0, 0.0, 0.0]}}


def evaluate_checkpoint(model: SpanModel, tokenizer, manifest_base: dict, precision: str, held: list[Example],
                        step: int, epoch: float, loss: float | None, history_path: Path, out: Path, total: int,
                        best_f1: float = -1.0) -> float:
    """Held-out figures of the model at ``step``, appended to the history; the model is exported to ``out``
    when it beats ``best_f1``. Returns the best F1 so far."""
    figures = gold_figures(Reader(model, tokenizer, {**manifest_base, **UNCALIBRATED}, precision), held)
    record = {"step": step, "epoch": epoch, "loss": loss, **figures}
    with history_path.open("a", encoding="utf-8") as handle:
        handle.write(json.dumps(record) + "\n")
    _log(" ".join(f"{k}={v:.4g}" if isinstance(v, float) else f"{k}={v}" for k, v in record.items()))
    if figures["gold_f1"] > best_f1:
        history = [json.loads(line) for line in history_path.read_text().splitlines()]
        export(model, out, {**manifest_base, **UNCALIBRATED, "heldout": figures, "steps": step,
                            "total_steps": total, "history": history})
        _log(f"exported step {step} to {out}")
        best_f1 = figures["gold_f1"]
    return best_f1


def gold_figures(reader: Reader, held: list[Example]) -> dict[str, float]:
    """F1 and EM over the held-out questions, each read from its own paragraph; they select the checkpoint."""
    from .evaluation import cmrc_em, cmrc_f1

    predictions = []
    for e in tqdm(held, desc="held-out", unit="question", file=sys.stderr, leave=False):
        spans = reader.read(e.question, [e.passage])
        predictions.append(e.passage[spans[0].start:spans[0].end] if spans else "")
    return {"gold_f1": float(np.mean([cmrc_f1(p, [e.answer]) for p, e in zip(predictions, held, strict=True)])),
            "gold_em": float(np.mean([cmrc_em(p, [e.answer]) for p, e in zip(predictions, held, strict=True)]))}


def recalibrate(config: TrainConfig, work: Path, out: Path, settings: Settings) -> dict:
    """Calibrate the exported reader in ``out`` again on the run's held-out slice (after a change to the
    calibration, not to the model) and rewrite its manifest."""
    examples, _ = read_examples(Path(config.data), config.limit)
    _, held = split_heldout(examples, config.heldout, config.seed)
    from .model import Embedder

    embedder = Embedder(settings.model, settings.model_cache, settings.batch_size)
    retrieval = work / f"retrieval-{config.limit or 'all'}"
    retrieved = retrieved_passages(examples, Path(config.data), retrieval, max(config.passages, 8), embedder,
                                   settings)
    reader = Reader.load(out, precision=config.precision, share=embedder)
    from .retrieval import load

    engine = load(retrieval / "index", settings.with_(corpus_dir=retrieval / "corpus", index_dir=retrieval / "index"),
                  embedder)
    cases = calibration_cases(reader, engine, held, retrieved, answer_passages(held, retrieval / "index"),
                              config.passages)
    weights = fit_confidence(cases)
    threshold = choose_threshold(cases, weights)
    manifest = dict(reader.manifest)
    manifest["calibration"] = {"threshold": threshold, "weights": weights, "passages": config.passages,
                               "objective": "squad2-best-f1", "cases": len(cases), "precision": reader.precision}
    manifest["heldout"] = {**gold_figures(reader, held), **abstention_figures(cases, weights, threshold)}
    tmp = out / (MANIFEST_FILE + ".tmp")
    tmp.write_text(json.dumps(manifest, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    os.replace(tmp, out / MANIFEST_FILE)
    return manifest


def run_cli(args: argparse.Namespace, settings: Settings) -> int:
    """``qa train-reader``: one line of text for a problem the user can fix, exit 2."""
    start_from = Path(args.from_weights) if args.from_weights else None
    config = TrainConfig(data=str(Path(args.data).resolve()), limit=args.limit, epochs=args.epochs,
                         learning_rate=args.learning_rate, seed=args.seed, checkpoint_every=args.checkpoint_every,
                         precision=args.precision or "auto",
                         start_from=read_manifest(start_from)["sha256"] if start_from else "")
    if not Path(config.data).is_file():
        print(f"qa: training data {config.data} not found (CMRC 2018 train is read from ../shared/data/; "
              "pass --data FILE)", file=sys.stderr)
        return 2
    out = Path(args.out) if args.out else WEIGHTS_DIR
    work = Path(args.work).expanduser() if args.work else settings.model_cache.parent / "train-reader"
    command = "qa train-reader " + " ".join(sys.argv[2:]) if sys.argv[1:2] == ["train-reader"] else ""
    started = time.perf_counter()
    if args.calibrate:
        manifest = recalibrate(config, work, out, settings)
        print(f"calibrated: {json.dumps(manifest['calibration'])}; held-out {json.dumps(manifest['heldout'])}")
        return 0
    if start_from is not None and start_from.resolve() == out.resolve():
        print(f"qa: --from-weights {start_from} would be overwritten by the run; pass --out another folder",
              file=sys.stderr)
        return 2
    resume = Path(args.resume_weights) if args.resume_weights else None
    if resume is not None and read_manifest(resume).get("training", {}).get("config") != asdict(config):
        print(f"qa: the reader in {resume} was trained with other options; resume it with the options it was "
              "trained with (its manifest's training.config)", file=sys.stderr)
        return 2
    manifest = train(config, work, out, settings, command, resume, start_from)
    print(f"trained in {time.perf_counter() - started:.0f} s; held-out {json.dumps(manifest.get('heldout'))} "
          f"-> {out}")
    return 0
