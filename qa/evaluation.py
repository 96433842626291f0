"""``qa eval``: retrieval and answer quality on a question file or a SQuAD-format file (e.g. CMRC 2018).

Two inputs:

* ``--questions FILE`` — JSON lines ``{question, source, answers, evidence}`` over an existing index
  (default: the project's). A retrieval hit is a chunk of ``source`` whose search form, all whitespace
  removed, contains ``evidence`` (as cleaning reads it: pinyin annotations copied from the file are dropped,
  ``qa.cleaning.remove_pinyin``, from the answers too). An answer is *accurate* when it contains a gold
  answer and *exact* when it equals one (both in search form, whitespace removed). ``source: null`` marks an
  unanswerable question: the app should abstain.
* ``--squad FILE`` — every paragraph is written as ``<title>\\n\\n<context>`` to a ``.txt`` file of a
  temporary corpus and indexed with ``qa.indexing.build`` (into ``--index DIR`` when given, so a rerun
  reuses it), then each question is asked open-domain: a hit is any chunk of the question's own paragraph;
  answers are scored as CMRC 2018's official script scores them (:func:`cmrc_em`, :func:`cmrc_f1`).
  ``--limit N`` keeps the first N questions *and only the paragraphs they come from*, so a smoke run
  embeds a handful of chunks; its retrieval figures are therefore easier than a full run's.

Each question is asked of the fused retriever and, unless ``--no-baselines``, of BM25 alone and dense alone;
the baselines' answers are read from their own top passages by the same reader (``read_answer``).
Figures are fractions in [0, 1] (CMRC papers print EM/F1 × 100); latencies are milliseconds per call.

>>> cmrc_em("《泡泡堂》", ["泡泡堂"]), cmrc_f1("Nexon公司", ["Nexon"])
(1.0, 0.5)
>>> hit_rate([1, 3, None, 12], 3), mrr([1, 2, None, 12], 10)
(0.5, 0.375)
"""

from __future__ import annotations

import argparse
import json
import re
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path

import numpy as np
from tqdm import tqdm

from .cleaning import remove_pinyin
from .indexing import build
from .retrieval import Engine, clean_question, load
from .script import to_search
from .settings import Settings
from .types import Answer, Hit

KS = (1, 3, 5, 10)
MODES = ("hybrid", "bm25", "dense")
# CMRC 2018 evaluate script (v5), sp_char: dropped before EM and F1. "……" is listed there as one
# two-character item, so the script never matches it when it walks the text character by character.
CMRC_PUNCTUATION = frozenset("-:_*^/\\~`+=，。：？！“”；’《》·、「」（）－～『』")
_CMRC_HAN = re.compile(r"[\u4e00-\u9fa5]")
# nltk.word_tokenize (Penn Treebank) on the non-Chinese runs: words, numbers with inner . or , kept whole,
# every other mark alone. nltk is not a dependency; this agrees with it on the text CMRC answers hold.
_ENGLISH_TOKEN = re.compile(r"\w+(?:[.,']\w+)*|\S")


@dataclass(frozen=True)
class Case:
    """One question: ``source`` is the file that answers it (None: unanswerable); ``evidence`` must occur in
    a hit's text (empty: any chunk of ``source`` is a hit)."""

    id: str
    question: str
    source: str | None
    answers: tuple[str, ...]
    evidence: str = ""


@dataclass(frozen=True)
class Paragraph:
    """A SQuAD paragraph and the corpus file it becomes."""

    source: str
    title: str
    context: str


# ---------------------------------------------------------------------------------------------- reading


def read_questions(path: Path) -> list[Case]:
    """The cases of a JSON-lines question file (``id`` optional: the line number stands in)."""
    cases = []
    for number, line in enumerate(Path(path).read_text(encoding="utf-8").splitlines(), start=1):
        if line.strip():
            row = json.loads(line)
            cases.append(Case(str(row.get("id", number)), row["question"], row.get("source"),
                              tuple(map(remove_pinyin, row.get("answers", ()))),
                              compact(remove_pinyin(row.get("evidence") or ""))))
    return cases


def squad_source(index: int, paragraph_id: str) -> str:
    """The corpus file name of the ``index``-th paragraph: unique, and safe on any file system."""
    return f"{index:04d}_{re.sub(r'[^0-9A-Za-z_.-]', '_', paragraph_id)[:80]}.txt"


def read_squad(path: Path) -> tuple[list[Paragraph], list[Case]]:
    """The paragraphs and questions of a SQuAD-format file; a question without answers is unanswerable."""
    data = json.loads(Path(path).read_text(encoding="utf-8"))["data"]
    paragraphs, cases = [], []
    for article in data:
        for paragraph in article["paragraphs"]:
            source = squad_source(len(paragraphs), str(paragraph.get("id", "")))
            paragraphs.append(Paragraph(source, str(article.get("title", "")), paragraph["context"]))
            for qa in paragraph["qas"]:
                answers = tuple(answer["text"] for answer in qa.get("answers", ()))
                cases.append(Case(str(qa["id"]), qa["question"], source if answers else None, answers))
    return paragraphs, cases


def first_questions(paragraphs: list[Paragraph], cases: list[Case],
                    limit: int | None) -> tuple[list[Paragraph], list[Case]]:
    """The first ``limit`` questions and the paragraphs they come from (everything when ``limit`` is None)."""
    if limit is None:
        return paragraphs, cases
    kept = cases[:limit]
    sources = {case.source for case in kept}
    return [p for p in paragraphs if p.source in sources], kept


def write_corpus(paragraphs: list[Paragraph], folder: Path) -> None:
    """One ``<title>\\n\\n<context>`` text file per paragraph."""
    folder.mkdir(parents=True, exist_ok=True)
    for paragraph in paragraphs:
        text = f"{paragraph.title}\n\n{paragraph.context}\n"
        (folder / paragraph.source).write_text(text, encoding="utf-8")


# ---------------------------------------------------------------------------------------------- scoring


def compact(text: str) -> str:
    """Search form (simplified, half-width, lower case) with all whitespace removed."""
    return "".join(to_search(text).split())


def is_hit(hit: Hit, case: Case) -> bool:
    """A chunk of the case's file that holds its evidence."""
    return hit.source == case.source and case.evidence in compact(hit.text)


def first_hit_rank(hits: Sequence[Hit], case: Case) -> int | None:
    """The 1-based rank of the first hit, or None."""
    return next((rank for rank, hit in enumerate(hits, start=1) if is_hit(hit, case)), None)


def hit_rate(ranks: Sequence[int | None], k: int) -> float:
    """Share of questions with a hit in the top ``k``."""
    return sum(rank is not None and rank <= k for rank in ranks) / len(ranks) if ranks else 0.0


def mrr(ranks: Sequence[int | None], k: int = 10) -> float:
    """Mean reciprocal rank of the first hit, counting 0 beyond ``k``."""
    return sum(1.0 / rank for rank in ranks if rank is not None and rank <= k) / len(ranks) if ranks else 0.0


def percentile(values: Sequence[float], q: float) -> float:
    """The ``q``-th percentile (linear interpolation), 0.0 for no values."""
    return float(np.percentile(values, q)) if len(values) else 0.0


def contains_answer(prediction: str, answers: Sequence[str]) -> bool:
    """The prediction holds a gold answer (search form, whitespace removed)."""
    text = compact(prediction)
    return bool(text) and any(compact(answer) in text for answer in answers)


def exact_answer(prediction: str, answers: Sequence[str]) -> bool:
    """The prediction is a gold answer (search form, whitespace removed)."""
    text = compact(prediction)
    return bool(text) and any(compact(answer) == text for answer in answers)


def mixed_segmentation(text: str, remove_punctuation: bool = False) -> list[str]:
    """CMRC 2018's segments: each Chinese character (and each listed mark) alone, other runs as words."""
    segments: list[str] = []
    run = ""
    for ch in text.lower().strip():
        if remove_punctuation and ch in CMRC_PUNCTUATION:
            continue
        if _CMRC_HAN.match(ch) or ch in CMRC_PUNCTUATION:
            segments += _ENGLISH_TOKEN.findall(run)
            run = ""
            segments.append(ch)
        else:
            run += ch
    return segments + _ENGLISH_TOKEN.findall(run)


def strip_punctuation(text: str) -> str:
    """CMRC 2018's EM normal form: lower case, outer spaces stripped, listed marks removed."""
    return "".join(ch for ch in text.lower().strip() if ch not in CMRC_PUNCTUATION)


def longest_common_run(a: Sequence[str], b: Sequence[str]) -> int:
    """Length of the longest common contiguous run of segments (the official script's ``find_lcs``)."""
    best, previous = 0, [0] * (len(b) + 1)
    for x in a:
        current = [0] * (len(b) + 1)
        for j, y in enumerate(b, start=1):
            if x == y:
                current[j] = previous[j - 1] + 1
                best = max(best, current[j])
        previous = current
    return best


def cmrc_f1(prediction: str, answers: Sequence[str]) -> float:
    """CMRC 2018 F1: over segments without punctuation, by longest common run, best over the answers."""
    predicted = mixed_segmentation(prediction, remove_punctuation=True)
    scores = [0.0]
    for answer in answers:
        gold = mixed_segmentation(answer, remove_punctuation=True)
        common = longest_common_run(gold, predicted)
        if common:
            precision, recall = common / len(predicted), common / len(gold)
            scores.append(2 * precision * recall / (precision + recall))
    return max(scores)


def cmrc_em(prediction: str, answers: Sequence[str]) -> float:
    """CMRC 2018 exact match: 1.0 when the prediction equals an answer once punctuation is removed."""
    return float(any(strip_punctuation(answer) == strip_punctuation(prediction) for answer in answers))


# ---------------------------------------------------------------------------------------------- running


@dataclass
class Outcome:
    """What one question gave: first-hit rank and prediction per mode ("" = abstained), latencies (ms)."""

    case: Case
    ranks: dict[str, int | None]
    predictions: dict[str, str]
    latency_ms: dict[str, float]

    def to_dict(self) -> dict:
        """The question's outcome for ``--json``; latencies only enter the percentiles, so that two runs of
        the same code give the same rows."""
        return {"id": self.case.id, "question": self.case.question, "source": self.case.source,
                "answers": list(self.case.answers), "rank": self.ranks, "prediction": self.predictions}


def _timed(call: Callable[[], object]) -> tuple[object, float]:
    start = time.perf_counter()
    value = call()
    return value, (time.perf_counter() - start) * 1000


def ask(engine: Engine, case: Case, modes: Sequence[str]) -> Outcome:
    """Retrieve the top 10 in each mode and answer, timing ``retrieve()`` per mode and ``answer()``.

    The fused answer is ``engine.answer()`` itself; a baseline's answer is the same reader over that
    baseline's top ``settings.top_k`` passages.
    """
    from .answering import read_answer

    top_k = engine.settings.top_k
    ranks, predictions, latency = {}, {}, {}
    for mode in modes:
        hits, latency[f"retrieve_{mode}"] = _timed(lambda m=mode: engine.retrieve(case.question, max(KS),
                                                                                    mode=m))
        ranks[mode] = first_hit_rank(hits, case)
        if mode != "hybrid":
            question = clean_question(case.question, engine.settings.max_question_chars)
            predictions[mode] = _prediction(read_answer(question, hits[: engine.settings.reader_passages],
                                                                   engine))
    answer, latency["answer"] = _timed(lambda: engine.answer(case.question, top_k))
    predictions["hybrid"] = _prediction(answer)
    return Outcome(case, ranks, predictions, latency)


def _prediction(answer: Answer) -> str:
    return answer.text if answer.found else ""


def run(engine: Engine, cases: list[Case], modes: Sequence[str], progress: bool = True) -> list[Outcome]:
    """Ask every case, after one untimed warm-up question (model load, first FAISS and jieba calls)."""
    if cases:
        ask(engine, cases[0], modes)
    return [ask(engine, case, modes) for case in tqdm(cases, desc="qa eval", unit="question",
                                                      disable=not progress, file=sys.stderr)]


# ---------------------------------------------------------------------------------------------- figures


def retrieval_figures(outcomes: list[Outcome], mode: str) -> dict[str, float]:
    """hit@1/3/5/10 and MRR@10 over the answerable questions."""
    ranks = [o.ranks[mode] for o in outcomes if o.case.source is not None]
    return {**{f"hit@{k}": hit_rate(ranks, k) for k in KS}, "mrr@10": mrr(ranks, max(KS))}


def latency_figures(outcomes: list[Outcome]) -> dict[str, float]:
    """p50 and p95 of every timed call, in milliseconds."""
    keys = outcomes[0].latency_ms if outcomes else {}
    figures = {}
    for key in keys:
        values = [o.latency_ms[key] for o in outcomes]
        figures[f"{key}_p50_ms"] = percentile(values, 50)
        figures[f"{key}_p95_ms"] = percentile(values, 95)
    return figures


def answer_figures(outcomes: list[Outcome], mode: str) -> dict[str, float | int]:
    """Accuracy (contains a gold answer), exact match and median length over the answerable questions;
    abstentions on the unanswerable (correct) and on the answerable (wrong)."""
    answerable = [o for o in outcomes if o.case.source is not None]
    unanswerable = [o for o in outcomes if o.case.source is None]
    answered = [o.predictions[mode] for o in answerable if o.predictions[mode]]
    share = _share(len(answerable))
    return {
        "accuracy": share(sum(contains_answer(o.predictions[mode], o.case.answers) for o in answerable)),
        "exact": share(sum(exact_answer(o.predictions[mode], o.case.answers) for o in answerable)),
        "median_answer_chars": float(np.median([len(text) for text in answered])) if answered else 0.0,
        "wrong": sum(bool(o.predictions[mode]) and not contains_answer(o.predictions[mode], o.case.answers)
                     for o in answerable) + sum(bool(o.predictions[mode]) for o in unanswerable),
        "correct_abstentions": sum(not o.predictions[mode] for o in unanswerable),
        "unanswerable": len(unanswerable),
        "wrong_abstentions": sum(not o.predictions[mode] for o in answerable),
        "answerable": len(answerable),
    }


def cmrc_figures(outcomes: list[Outcome], mode: str) -> dict[str, float]:
    """CMRC 2018 EM and F1 (an abstention scores 0), and the share of abstentions."""
    share = _share(len(outcomes))
    pairs = [(o.predictions[mode], o.case.answers) for o in outcomes]
    return {
        "em": share(sum(cmrc_em(prediction, answers) for prediction, answers in pairs if prediction)),
        "f1": share(sum(cmrc_f1(prediction, answers) for prediction, answers in pairs if prediction)),
        "abstained": share(sum(not prediction for prediction, _ in pairs)),
    }


def _share(total: int) -> Callable[[float], float]:
    return lambda count: count / total if total else 0.0


def summarise(outcomes: list[Outcome], modes: Sequence[str], squad: bool) -> dict:
    """Every figure, per mode: retrieval, answers (CMRC EM/F1 for SQuAD files), latency."""
    answers = cmrc_figures if squad else answer_figures
    return {
        "retrieval": {mode: retrieval_figures(outcomes, mode) for mode in modes},
        "answers": {mode: answers(outcomes, mode) for mode in modes},
        "latency": latency_figures(outcomes),
    }


def ratio(a: float, b: float) -> str:
    """``a / b`` as ``1.23x``; ``-`` when ``b`` is 0."""
    return f"{a / b:.2f}x" if b else "-"


def _cell(value: float | int, digits: int) -> str:
    return str(value) if isinstance(value, int) else f"{value:.{digits}f}"


def format_table(title: str, rows: list[tuple[str, dict[str, float | int]]], modes: Sequence[str],
                 digits: int = 3) -> str:
    """An aligned table: one row per figure, one column per mode, then fused/baseline ratios;
    counts (ints) print as they are, fractions and milliseconds with ``digits`` decimals."""
    baselines = [mode for mode in modes if mode != "hybrid"]
    header = [title, *modes, *(f"hybrid/{mode}" for mode in baselines)]
    lines = [header]
    for name, values in rows:
        cells = [_cell(values[mode], digits) for mode in modes]
        lines.append([name, *cells, *(ratio(values["hybrid"], values[mode]) for mode in baselines)])
    widths = [max(len(line[i]) for line in lines) for i in range(len(header))]
    text = ["  ".join([line[0].ljust(widths[0]), *(cell.rjust(w) for cell, w in zip(line[1:], widths[1:],
                                                                                     strict=True))])
            for line in lines]
    return "\n".join([text[0], "-" * len(text[0]), *text[1:]])


def format_report(report: dict) -> str:
    """The printed summary of a report made by :func:`summarise` plus its ``dataset`` entry."""
    modes = list(report["retrieval"])
    data = report["dataset"]
    lines = [f"{data['name']}: {data['questions']} questions ({data['answerable']} answerable), "
             f"{data['files']} files, {data['chunks']} chunks, {data['index_type']} index", ""]
    retrieval = report["retrieval"]
    lines.append(format_table("retrieval", [(name, {m: retrieval[m][name] for m in modes})
                                            for name in retrieval["hybrid"]], modes))
    answers = report["answers"]
    rows = [(name, {m: answers[m][name] for m in modes}) for name in answers["hybrid"]]
    lines += ["", format_table("answers", rows, modes)]
    latency = report["latency"]
    rows = [(f"retrieve {q}", {m: latency[f"retrieve_{m}_{q}_ms"] for m in modes}) for q in ("p50", "p95")]
    lines += ["", format_table("latency ms", rows, modes, digits=1),
              f"answer() p50 {latency['answer_p50_ms']:.1f} ms, p95 {latency['answer_p95_ms']:.1f} ms "
              f"(fused retrieval + reader)"]
    return "\n".join(lines)


# ---------------------------------------------------------------------------------------------- command


def _log(message: str) -> None:
    print(f"qa: {message}", file=sys.stderr)


def _questions_engine(args: argparse.Namespace, settings: Settings, embedder) -> Engine:
    """The default engine (rebuilt first when stale), or the index named by ``--index``."""
    if args.index is None and embedder is None:
        from . import default_engine

        return default_engine()
    return load(settings.index_dir, settings, embedder)


def _dataset(kind: str, name: str, cases: list[Case], engine: Engine) -> dict:
    return {"kind": kind, "name": name, "questions": len(cases),
            "answerable": sum(case.source is not None for case in cases),
            "files": len(engine.documents), "chunks": len(engine.stored.chunks),
            "index_type": engine.stored.manifest.get("index_type", "flat")}


def evaluate_questions(args: argparse.Namespace, settings: Settings, cases: list[Case], modes: Sequence[str],
                       embedder) -> dict:
    """The report of ``qa eval --questions``."""
    engine = _questions_engine(args, settings, embedder)
    outcomes = run(engine, cases, modes)
    return {"dataset": _dataset("questions", Path(args.questions).name, cases, engine),
            **summarise(outcomes, modes, squad=False), "questions": [o.to_dict() for o in outcomes]}


def evaluate_squad(args: argparse.Namespace, settings: Settings, paragraphs: list[Paragraph],
                   cases: list[Case], modes: Sequence[str], embedder) -> dict:
    """The report of ``qa eval --squad``: build the paragraphs' corpus, then ask open-domain."""
    if embedder is None:
        from .model import Embedder

        embedder = Embedder(settings.model, settings.model_cache, settings.batch_size)
    with tempfile.TemporaryDirectory(prefix="qa-eval-") as temporary:
        corpus = Path(temporary) / "corpus"
        write_corpus(paragraphs, corpus)
        index = Path(args.index) if args.index else Path(temporary) / "index"
        local = settings.with_(corpus_dir=corpus, index_dir=index)
        built = build(local, corpus, index, embedder=embedder, progress=True, log=_log)
        _log(built.summary())
        engine = load(index, local, embedder)
        outcomes = run(engine, cases, modes)
    build_figures = {"files": built.files, "chunks": built.chunks, "embedded": built.embedded,
                     "reused": built.reused, "seconds": built.seconds, "skipped": len(built.skipped)}
    return {"dataset": _dataset("squad", Path(args.squad).name, cases, engine), "build": build_figures,
            **summarise(outcomes, modes, squad=True), "questions": [o.to_dict() for o in outcomes]}


def evaluate_gold(paragraphs: list[Paragraph], cases: list[Case], reader, traditional: bool = False) -> dict:
    """The reader alone, given each question's own paragraph (search form): CMRC EM/F1 of its best span as the app
    cuts it (``answering.answer_edges``), never abstaining (abstention needs the retrieval context; see the
    open-domain run). With ``traditional``, paragraph and question are first converted to traditional script
    (OpenCC s2t, DRCD-style) and the prediction, cut from the traditional paragraph, is scored in simplified
    script."""
    from .answering import answer_edges
    from .script import to_simplified, to_traditional
    from .terms import Segmenter

    convert = to_traditional if traditional else str
    contexts = {p.source: convert(p.context) for p in paragraphs}
    segmenter = Segmenter()
    rows, f1, em = [], 0.0, 0.0
    for case in tqdm(cases, desc="qa eval --gold", unit="question", file=sys.stderr):
        context = contexts[case.source]
        search = to_search(context)
        spans = reader.read(to_search(convert(case.question)), [search])
        edges = (answer_edges(context, search, spans[0].start, spans[0].end, segmenter, convert(case.question))
                 if spans else (0, 0))
        prediction = context[slice(*edges)]
        prediction = to_simplified(prediction) if traditional else prediction
        f1 += cmrc_f1(prediction, case.answers)
        em += cmrc_em(prediction, case.answers)
        rows.append({"id": case.id, "question": case.question, "answers": list(case.answers),
                     "prediction": prediction, "margin": round(spans[0].margin, 3) if spans else None})
    n = max(1, len(cases))
    return {"gold": {"em": em / n, "f1": f1 / n, "questions": len(cases)},
            "questions": rows}


def run_cli(args: argparse.Namespace, settings: Settings, embedder=None) -> int:
    """``qa eval``: print the tables, write every figure to ``--json``; ``embedder`` shares a loaded model."""
    modes = ("hybrid",) if args.no_baselines else MODES
    path = Path(args.squad or args.questions)
    try:
        if args.squad:
            paragraphs, cases = first_questions(*read_squad(path), args.limit)
        else:
            cases = read_questions(path)[: args.limit]
    except (OSError, ValueError, KeyError, TypeError) as problem:
        print(f"qa: cannot read {path}: {type(problem).__name__}: {problem}", file=sys.stderr)
        return 2
    if not cases:
        print(f"qa: no question in {path}", file=sys.stderr)
        return 2
    if args.squad and args.gold:
        from .reader import Reader

        reader = Reader.load(settings.reader_dir, precision=settings.precision)
        report = evaluate_gold(paragraphs, [c for c in cases if c.source], reader, args.traditional)
        gold = report["gold"]
        script = " (converted to traditional script)" if args.traditional else ""
        print(f"{path.name}{script}: reader given the gold paragraph, {gold['questions']} questions: "
              f"F1 {100 * gold['f1']:.1f}, EM {100 * gold['em']:.1f}")
    elif args.squad:
        report = evaluate_squad(args, settings, paragraphs, cases, modes, embedder)
    else:
        report = evaluate_questions(args, settings, cases, modes, embedder)
    report["settings"] = {"model": settings.model, "top_k": settings.top_k, "candidates": settings.candidates,
                          "rerank_depth": settings.rerank_depth, "rrf_k": settings.rrf_k,
                          "reader_passages": settings.reader_passages, "precision": settings.precision}
    if "gold" not in report:
        print(format_report(report))
    if args.json_out:
        text = json.dumps(report, ensure_ascii=False, indent=1) + "\n"
        Path(args.json_out).write_text(text, encoding="utf-8")
    return 0
