"""Command line: ``qa build``, ``qa search``, ``qa ask``, ``qa eval``.

Thin wrappers over the library; every failure the user can fix is one line of text: exit code 2 for a bad
argument or setting (``qa.settings``), 1 for anything else.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from .indexing import EmptyCorpus
from .model import ModelUnavailable
from .settings import Settings, SettingsError
from .storage import IndexProblem


def _settings(args: argparse.Namespace) -> Settings:
    changes = {}
    if getattr(args, "corpus", None):
        changes["corpus_dir"] = Path(args.corpus)
    if getattr(args, "index", None):
        changes["index_dir"] = Path(args.index)
    if getattr(args, "model", None):
        changes["model"] = args.model
    return Settings().with_(**changes)


def _engine(args: argparse.Namespace):
    from . import default_engine, load

    settings = _settings(args)
    if args.index:
        return load(settings.index_dir, settings)
    return default_engine()


def cmd_build(args: argparse.Namespace) -> int:
    from .indexing import build

    settings = _settings(args)
    report = build(settings, progress=not args.quiet, log=lambda message: print(message, file=sys.stderr))
    print(report.summary())
    return 0


def cmd_search(args: argparse.Namespace) -> int:
    hits = _engine(args).retrieve(args.question, k=args.k)
    if not hits:
        print("no passage found (is the question empty?)")
    for rank, hit in enumerate(hits, start=1):
        print(f"[{rank}] {hit.score:.4f}  {hit.source} · 第{hit.paragraph}段 · {hit.title}")
        print(f"    {hit.text}")
    return 0


def cmd_ask(args: argparse.Namespace) -> int:
    result = _engine(args).answer(args.question, k=args.k)
    if result.found:
        print(f"答案: {result.text}")
        print(f"原句: {result.sentence}")
        where = f"{result.source} · 第{result.paragraph}段 · {result.title}"
        print(f"出处: {where} [{result.start}:{result.end}]")
    else:
        print(result.message or "文档中没有找到答案。")
        for rank, hit in enumerate(result.citations, start=1):
            print(f"  相关[{rank}] {hit.source} · 第{hit.paragraph}段: {hit.text[:80]}")
    return 0


def cmd_eval(args: argparse.Namespace) -> int:
    from .evaluation import run_cli

    return run_cli(args, _settings(args))


def cmd_train_reader(args: argparse.Namespace) -> int:
    from .training import run_cli

    return run_cli(args, _settings(args))


def parser() -> argparse.ArgumentParser:
    root = argparse.ArgumentParser(prog="qa",
                                   description="Offline question answering over Chinese documents.")
    sub = root.add_subparsers(dest="command", required=True)

    def add(name: str, help_text: str, handler) -> argparse.ArgumentParser:
        command = sub.add_parser(name, help=help_text, description=help_text)
        command.add_argument("--index", help="index folder (default: the project's embeddings/)")
        command.add_argument("--model",
                             help="sentence-transformers model name or path (default: %(default)s)",
                             default=None)
        command.set_defaults(handler=handler)
        return command

    build = add("build", "Build or update the index of a corpus folder (offline).", cmd_build)
    build.add_argument("--corpus", help="folder of .txt/.md/.html files (default: the project's seeds/)")
    build.add_argument("--quiet", action="store_true", help="no progress bar")
    for name, help_text, handler in (
            ("search", "Show the passages that best match a question.", cmd_search),
            ("ask", "Answer a question with the exact words of the source.", cmd_ask)):
        command = add(name, help_text, handler)
        command.add_argument("question")
        command.add_argument("-k", type=int, default=5, help="passages to consider (default: 5)")
    evaluate = add("eval", "Measure retrieval and answers on a question file or a SQuAD-format file.",
                   cmd_eval)
    source = evaluate.add_mutually_exclusive_group(required=True)
    source.add_argument("--questions", help="JSON lines: question, source, answers, evidence")
    source.add_argument("--squad", help="SQuAD-format JSON (e.g. CMRC 2018)")
    evaluate.add_argument("--limit", type=int, help="only the first N questions")
    evaluate.add_argument("--gold", action="store_true",
                          help="with --squad: the reader alone, given each question's own paragraph")
    evaluate.add_argument("--traditional", action="store_true",
                          help="with --gold: convert paragraphs and questions to traditional script first")
    evaluate.add_argument("--json", dest="json_out", help="write every figure to this file")
    evaluate.add_argument("--no-baselines", action="store_true",
                          help="skip the BM25-only and dense-only runs")
    train = add("train-reader", "Fine-tune the span reader (CMRC 2018 train by default; hours on a CPU).",
                cmd_train_reader)
    from .training import DEFAULT_DATA, TrainConfig

    defaults = TrainConfig()
    train.add_argument("--data", default=str(DEFAULT_DATA), help="SQuAD-format training file (default: %(default)s)")
    train.add_argument("--limit", type=int, help="only the first N questions (a smoke run)")
    train.add_argument("--epochs", type=float, default=defaults.epochs, help="(default: %(default)s)")
    train.add_argument("--learning-rate", type=float, default=defaults.learning_rate,
                       help="peak of the linear warm-up and decay (default: %(default)s)")
    train.add_argument("--seed", type=int, default=defaults.seed, help="(default: %(default)s)")
    train.add_argument("--checkpoint-every", type=int, default=defaults.checkpoint_every,
                       help="steps between checkpoints and held-out evaluations (default: %(default)s)")
    train.add_argument("--precision", choices=("auto", "bf16", "fp32"), help="(default: auto)")
    train.add_argument("--out", help="where the trained weights go (default: qa/weights)")
    train.add_argument("--calibrate", action="store_true",
                       help="only calibrate the exported reader again on the held-out slice")
    train.add_argument("--work", help="checkpoints and caches (default: ~/.cache/qa/train-reader)")
    resume = train.add_mutually_exclusive_group()
    resume.add_argument("--resume-weights", metavar="DIR",
                        help="without a checkpoint, resume from the reader this same run exported in DIR")
    resume.add_argument("--from-weights", metavar="DIR",
                        help="fine-tune the reader exported in DIR further, under a schedule of its own")
    return root


def main(argv: list[str] | None = None) -> int:
    args = parser().parse_args(argv)
    try:
        return args.handler(args)
    except SettingsError as problem:
        print(f"qa: {problem}", file=sys.stderr)
        return 2
    except (IndexProblem, EmptyCorpus, ModelUnavailable) as problem:
        print(f"qa: {problem}", file=sys.stderr)
        return 1
    except OSError as error:  # a folder that cannot be written, a full disk: the previous index is unchanged
        print(f"qa: {error}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("qa: interrupted; the previous index is unchanged", file=sys.stderr)
        return 130
