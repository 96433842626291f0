"""The chat app in the browser: ``python app.py`` serves http://127.0.0.1:7860.

UI only: every answer comes from ``qa.Engine.answer`` over the index (QA_INDEX). The index is loaded
before the app serves (a missing or damaged one stops it with the fix); the model (embedder and reader,
warmed with one question) and then the example questions (``qa.examples``) load in a background thread,
so the page is usable at once and says "正在加载模型…" until the model is ready; a question asked
meanwhile waits for it. Up to QA_CONCURRENCY questions (default: the cores) are answered at once, on as many
threads of the app's own (torch keeps per-thread state, which grew the memory with every thread Gradio started),
the cores divided among them (``ThreadBudget``; OMP_NUM_THREADS caps the threads of one question). Settings
come from the environment: QA_HOST, QA_PORT and QA_CONCURRENCY (``qa.Settings``), and QA_USER /
QA_PASSWORD for a login, which is required when QA_HOST is not a loopback address.

Documents are added ("添加文档", several files at once) and removed ("移除文档") in the side panel when the app
serves this machine only or behind a login (``uploads_allowed``): ``qa.library`` checks each file, copies it into
the corpus folder (QA_CORPUS), updates the index (QA_INDEX) incrementally and swaps the engine, one update at a
time, while questions go on being answered from the previous index. The page shows the update's steps, then what
was added or refused and why; the document filter, the removal list and the example questions follow (every
open page looks for changes every ``REFRESH_SECONDS``).

The chat follows the conversation: its earlier answers go to ``Engine.answer`` as ``history``, so a
follow-up ("那2021年呢？") keeps the subject and document of the earlier turns, and the reply says how it was
understood ("按上文理解为：…"). Each answer shows the reader's confidence and a "复制" button that copies
``答案 —《标题》 文件名 第N段`` (第N页 for a PDF).

The named endpoint ``/ask`` returns the structured answer (``ask_result``) to ``gradio_client``:

    client = Client("http://127.0.0.1:7860/")
    first = client.predict("伊金霍洛镇2022年全年总收入是多少？", 5, None, api_name="/ask")
    client.predict("旅游综合收入有多少？", 5, None, [first], api_name="/ask")["understood"]

Everything shown in the chat (the question, the answer, the document text) is HTML-escaped before
the app adds its own tags, and the chat renders HTML without markdown or LaTeX, so text is shown
as text.
"""

from __future__ import annotations

import ctypes
import functools
import html
import ipaddress
import os
import sys
import threading
import time
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from contextlib import contextmanager
from pathlib import Path

os.environ.setdefault("HF_HUB_OFFLINE", "1")
os.environ.setdefault("GRADIO_ANALYTICS_ENABLED", "False")

import gradio as gr  # noqa: E402

from qa import Answer, Engine, Hit, IndexProblem, Settings, SettingsError, load  # noqa: E402
from qa.examples import example_questions  # noqa: E402
from qa.indexing import stale_reason  # noqa: E402
from qa.library import Change, Library, Refused, UpdateFailed, Upload  # noqa: E402
from qa.reading import SUPPORTED_SUFFIXES  # noqa: E402
from qa.script import to_search  # noqa: E402
from qa.types import Document  # noqa: E402

MAX_K = 10
PROGRESS = gr.Progress()  # the default that makes Gradio show an update's steps (it reports per event)
REFRESH_SECONDS = 2  # how often an open page looks for a loaded model, examples and changed documents
MAX_TURNS = 10  # earlier turns a follow-up is understood from (the most recent ones)
EXAMPLES = 6
TITLE = "政府报告问答"
LOADING = "正在加载模型…"
LOAD_WAIT_SECONDS = 600  # how long a question asked during start-up waits for the model
CSS = """
.gradio-container { max-width: 1180px !important; margin: 0 auto !important; }
#qa-header h1 { font-size: 1.6rem; margin: 0.2rem 0 0.1rem; }
#qa-header p { margin: 0; color: var(--body-text-color-subdued); }
.qa-reply { line-height: 1.7; }
.qa-short { font-size: 1.15rem; margin-bottom: 0.35rem; display: flex; align-items: baseline; gap: 0.6rem;
            flex-wrap: wrap; }
.qa-score { font-size: 0.8rem; color: var(--body-text-color-subdued); }
.qa-copy { font-size: 0.8rem; padding: 0 0.5rem; border: 1px solid var(--border-color-primary);
           border-radius: 4px; background: var(--background-fill-primary); cursor: pointer; }
.qa-understood { font-size: 0.85rem; color: var(--body-text-color-subdued); margin-bottom: 0.3rem; }
.qa-library { font-size: 0.85rem; line-height: 1.6; }
.qa-added { color: #15803d; }
.qa-refused { color: #b91c1c; }
.qa-warning { color: #b45309; }
.qa-sentence { border-left: 3px solid var(--color-accent); padding: 0.1rem 0 0.1rem 0.7rem;
               margin: 0.3rem 0 0.6rem; color: var(--body-text-color); }
.qa-message { font-weight: 600; margin-bottom: 0.4rem; }
.qa-status { color: #b45309; font-weight: 600; }
.qa-label { font-size: 0.85rem; color: var(--body-text-color-subdued); margin: 0.4rem 0 0.2rem; }
.qa-related .qa-label { color: #b45309; font-weight: 600; }
.qa-cite { border: 1px solid var(--border-color-primary); border-radius: 6px; margin: 0.25rem 0;
           padding: 0.2rem 0.6rem; background: var(--background-fill-secondary); }
.qa-cite summary { cursor: pointer; font-size: 0.9rem; }
.qa-file { color: var(--body-text-color-subdued); white-space: nowrap; }
.qa-passage { margin-top: 0.4rem; font-size: 0.92rem; white-space: normal; }
mark.qa-answer { background: #fde047; color: #111; padding: 0 2px; border-radius: 2px; font-weight: 600; }
mark.qa-term { background: #dbeafe; color: #111; padding: 0 1px; border-radius: 2px; }
"""
# The "复制" button of each answer copies its ``value`` (the chat's sanitiser drops data-* attributes and inline
# handlers, so the text rides in ``value`` and one listener on the page serves every button); without the
# clipboard API (plain http off loopback) a hidden textarea is copied instead.
COPY_JS = """
<script>
document.addEventListener("click", async (event) => {
  const button = event.target.closest ? event.target.closest(".qa-copy") : null;
  if (!button) return;
  const text = button.value || "";
  let copied = false;
  try {
    await navigator.clipboard.writeText(text);
    copied = true;
  } catch (error) {
    const area = document.createElement("textarea");
    area.value = text;
    area.style.position = "fixed";
    area.style.opacity = "0";
    document.body.appendChild(area);
    area.select();
    copied = document.execCommand("copy");
    area.remove();
  }
  button.textContent = copied ? "已复制" : "复制失败";
  setTimeout(() => { button.textContent = "复制"; }, 1500);
});
</script>
"""


# ---------------------------------------------------------------------------------------------- settings


def is_loopback(host: str) -> bool:
    """True for ``localhost`` and loopback addresses (127.0.0.0/8, ::1)."""
    if host == "localhost":
        return True
    try:
        return ipaddress.ip_address(host).is_loopback
    except ValueError:
        return False


def login(settings: Settings, environ: dict[str, str]) -> tuple[str, str] | None:
    """The (user, password) from QA_USER / QA_PASSWORD, or None when neither is set.

    Raises ``SystemExit`` with a message when only one is set, or when the app would listen on a
    non-loopback address without a login."""
    user, password = environ.get("QA_USER", ""), environ.get("QA_PASSWORD", "")
    if bool(user) != bool(password):
        raise SystemExit("app: set both QA_USER and QA_PASSWORD for a login, or neither")
    if not user and not is_loopback(settings.host):
        raise SystemExit(
            f"app: refusing to listen on {settings.host} without a login: set QA_USER and QA_PASSWORD, "
            "or QA_HOST=127.0.0.1 to serve this machine only"
        )
    return (user, password) if user else None


def uploads_allowed(settings: Settings, auth: tuple[str, str] | None) -> bool:
    """Whether the page may add and remove documents: on this machine only (loopback), or behind a login."""
    return is_loopback(settings.host) or auth is not None


def open_index(settings: Settings) -> Engine:
    """The engine over the committed index; its model loads later (``ModelLoader``). Raises ``SystemExit``
    saying how to build the index when it cannot be loaded."""
    try:
        engine = load(settings.index_dir, settings)
    except IndexProblem as problem:
        raise SystemExit(f"app: cannot start: {problem}\nBuild the index with: qa build") from None
    reason = stale_reason(engine.stored.manifest, settings.corpus_dir, settings)
    if reason:
        print(f"app: warning: the index is out of date ({reason}); update it with `qa build`", file=sys.stderr)
    return engine


class ThreadBudget:
    """Divides the cores among the questions being answered: each request thread runs torch with
    ``cores // questions in progress`` intra-op threads, at least 1 and at most ``most``. One question gets
    every core, several get one each instead of oversubscribing the cores (torch's OpenMP thread count is per
    calling thread, and the answers do not depend on it)."""

    def __init__(self, cores: int, most: int | None = None) -> None:
        self.cores = max(1, cores)
        self.most = max(1, most or self.cores)
        self._answering = 0
        self._lock = threading.Lock()

    @classmethod
    def for_this_machine(cls) -> ThreadBudget:
        """The cores this process may use; OMP_NUM_THREADS, when set, caps the threads of one question (1 suits
        a machine whose cores other processes keep busy: a team of threads waits for its slowest member)."""
        return cls(len(os.sched_getaffinity(0)), int(os.environ.get("OMP_NUM_THREADS") or 0) or None)

    @contextmanager
    def share(self) -> Iterator[int]:
        """Count this question in while it is answered; yields the torch threads it was given."""
        import torch

        with self._lock:
            self._answering += 1
            threads = max(1, min(self.most, self.cores // self._answering))
        torch.set_num_threads(threads)
        try:
            yield threads
        finally:
            with self._lock:
                self._answering -= 1


class ModelLoader:
    """Loads the model of the library's engine in a background thread (one question loads and warms the
    embedder and the reader), then makes the example questions, which count as questions in ``budget``;
    ``engine()`` waits for the model and gives the library's current engine."""

    def __init__(self, library: Library, budget: ThreadBudget | None = None) -> None:
        self.library = library
        self.budget = budget or ThreadBudget.for_this_machine()
        self._ready = threading.Event()
        self._examples_lock = threading.Lock()
        self.problem = ""  # why the model cannot be loaded, once that is known
        self.examples: list[str] | None = None  # None until they are made

    def start(self) -> ModelLoader:
        threading.Thread(target=self._load, name="qa-model-loader", daemon=True).start()
        return self

    def _load(self) -> None:
        started = time.perf_counter()
        try:
            self.library.engine.answer("warm-up")
        except Exception as problem:  # whatever it is, the page and the waiting questions must hear of it
            self.problem, self.examples = f"{type(problem).__name__}: {problem}", []
            print(f"app: cannot load the model: {self.problem}", file=sys.stderr, flush=True)
            return
        finally:
            self._ready.set()
        print(f"app: model ready in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
        self._make_examples()

    def remake_examples(self) -> None:
        """Make the example questions again, in the background, from the documents as they are now (after an
        upload or a removal); the old ones stay until the new ones are ready."""
        threading.Thread(target=self._make_examples, name="qa-examples", daemon=True).start()

    def _make_examples(self) -> None:
        with self._examples_lock:  # one at a time; each reads the engine current when it starts
            try:
                with self.budget.share():  # questions asked meanwhile get their share of the cores
                    examples = example_questions(self.library.engine, EXAMPLES)
            except Exception as problem:  # the app answers without examples
                print(f"app: no example questions: {type(problem).__name__}: {problem}", file=sys.stderr,
                      flush=True)
                examples = []
            self.examples = examples
        print(f"app: {len(examples)} example questions ready", file=sys.stderr, flush=True)

    def status(self) -> str:
        """What the page says about the model: ``LOADING``, why it cannot be loaded, or "" once ready."""
        if not self._ready.is_set():
            return LOADING
        return f"模型无法加载：{self.problem}" if self.problem else ""

    def engine(self, timeout: float = LOAD_WAIT_SECONDS) -> Engine:
        """The current engine once its model is ready (waiting up to ``timeout`` seconds); ``gr.Error``
        otherwise."""
        if not self._ready.wait(timeout):
            raise gr.Error("模型仍在加载，请稍后再试。", print_exception=False)
        if self.problem:
            raise gr.Error(f"模型无法加载：{self.problem}", print_exception=False)
        return self.library.engine


# ---------------------------------------------------------------------------------------------- results


def ask_result(engine: Engine, answer: Answer) -> dict:
    """The structured answer returned by ``/ask``: plain JSON types, offsets into the cleaned
    document text (``engine.documents[source].text``), pages (PDF) or None."""
    return {
        "question": answer.question,
        "answer": answer.text,
        "found": answer.found,
        "sentence": answer.sentence,
        "source": answer.source,
        "title": answer.title,
        "paragraph": answer.paragraph,
        "start": answer.start,
        "end": answer.end,
        "page": answer.page,
        "score": answer.score,
        "understood": answer.understood,
        "message": answer.message,
        "citations": [{"file": hit.source, "title": hit.title, "paragraph": hit.paragraph,
                       "page": engine.documents[hit.source].page_at(hit.start), "start": hit.start,
                       "end": hit.end, "text": hit.text, "score": hit.score} for hit in answer.citations],
    }


def passages(k) -> int:
    """The number of passages asked for (default 5), within 1 and ``MAX_K``; ``gr.Error`` for one that is not
    a number."""
    try:
        return min(max(int(float(k or 5)), 1), MAX_K)
    except (TypeError, ValueError, OverflowError):
        raise gr.Error(f"k 应是 1–{MAX_K} 的整数（显示的段落数）", print_exception=False) from None


def as_turns(engine: Engine, history: list | None) -> list[dict]:
    """The last ``MAX_TURNS`` earlier turns of ``history`` as ``qa.Engine.answer`` takes them:
    ``{"question", "source"}`` dicts (more keys, such as a whole ``/ask`` result, are ignored). A source that is
    not in the index (a removed document) is dropped, the question kept; ``gr.Error`` for an entry that is not
    a dict with a question."""
    wrong = gr.Error('history 应是一个列表，每一项 {"question": "…", "source": "文件名或 null"}', print_exception=False)
    if not isinstance(history or [], list | tuple):
        raise wrong
    turns = []
    for entry in list(history or [])[-MAX_TURNS:]:
        if not isinstance(entry, dict) or not isinstance(entry.get("question"), str):
            raise wrong
        source = entry.get("source")
        known = isinstance(source, str) and source in engine.documents
        turns.append({"question": entry["question"], "source": source if known else None})
    return turns


def turn_of(answer: Answer) -> dict:
    """The turn a conversation keeps of ``answer``: the question as understood and, when it was answered,
    the file it came from."""
    return {"question": answer.understood or answer.question, "source": answer.source if answer.found else None}


def document_choices(titles: dict[str, str]) -> list[tuple[str, str]]:
    """The (label, value) choices of the document filter: the title, and the file name."""
    return [(title, source) for source, title in titles.items()]


def removal_choices(titles: dict[str, str]) -> list[tuple[str, str]]:
    """The (label, value) choices of the removal list: the title with the file name, and the file name."""
    return [(f"{title}（{source}）", source) for source, title in titles.items()]


def checked_sources(engine: Engine, sources: list[str] | str | None) -> list[str] | None:
    """``sources`` as given to the engine (one file name counts as a list of one): None (every document) when
    empty; ``gr.Error`` naming any file that is not in the index."""
    if not sources:
        return None
    if isinstance(sources, str):
        sources = [sources]
    if not isinstance(sources, list | tuple):
        raise gr.Error("sources 应是文件名的列表", print_exception=False)
    sources = [str(source) for source in sources]
    unknown = sorted(set(sources) - set(engine.documents))
    if unknown:
        raise gr.Error(f"索引中没有这些文件：{'、'.join(unknown)}", print_exception=False)
    return list(sources)


# ---------------------------------------------------------------------------------------------- HTML


def escape(text: str) -> str:
    """``text`` as HTML text: escaped, line breaks kept."""
    return html.escape(text).replace("\n", "<br>")


def highlight(document: Document, start: int, end: int, answer: tuple[int, int] | None,
              terms: list[str]) -> str:
    """``document.text[start:end]`` as escaped HTML, the answer span marked, and the question's key
    terms (found in the search form, same offsets) marked where they do not overlap the answer."""
    kinds = [""] * (end - start)
    search = document.search[start:end]
    for term in filter(None, terms):
        position = search.find(term)
        while position >= 0:
            kinds[position:position + len(term)] = ["qa-term"] * len(term)
            position = search.find(term, position + len(term))
    if answer:
        a, b = max(answer[0], start) - start, min(answer[1], end) - start
        kinds[a:b] = ["qa-answer"] * max(0, b - a)
    parts, run = [], 0
    for i in range(1, len(kinds) + 1):
        if i == len(kinds) or kinds[i] != kinds[run]:
            text = escape(document.text[start + run:start + i])
            parts.append(f'<mark class="{kinds[run]}">{text}</mark>' if kinds[run] else text)
            run = i
    return "".join(parts)


def key_terms(engine: Engine, question: str) -> list[str]:
    """The question's search words to mark in passages (search form): two characters or more, and not
    part of a longer one (总收入, not also 收入)."""
    tokens = {token for token in engine.segmenter.tokens(to_search(question)) if len(token) >= 2}
    return sorted(token for token in tokens if not any(token != other and token in other for other in tokens))


def asked(question: str) -> dict:
    """The user's chat message: the question as text."""
    return {"role": "user", "content": f'<div class="qa-question">{escape(question)}</div>'}


def reply(content: str) -> dict:
    """The app's chat message holding ``content`` (HTML made by the ``render_`` functions)."""
    return {"role": "assistant", "content": content}


def render_status(text: str) -> str:
    """The model's state above the chat ("正在加载模型…"), or nothing once it is ready."""
    return f'<div class="qa-status">{escape(text)}</div>' if text else ""


def render_notice(text: str) -> str:
    """A short notice in place of an answer (no question, no document selected)."""
    return f'<div class="qa-reply qa-notice"><div class="qa-message">{escape(text)}</div></div>'


def render_header(count: int) -> str:
    """The page's title and what it does, with the number of documents in the index."""
    return (f'<div id="qa-header"><h1>{TITLE}</h1><p>从 {count} 份政府报告中抽取答案，'
            "每个答案都注明原文出处；报告中没有的内容会直接说明。</p></div>")


def render_change(change: Change, titles: dict[str, str]) -> str:
    """What an upload or a removal did: the documents added or removed (with the time it took), each refused
    upload with its reason, and reading warnings."""
    lines = []
    if change.added:
        lines.append(f'<div class="qa-added">已添加：{escape("、".join(change.added))}'
                     f"（用时 {change.seconds:.1f} 秒）</div>")
    if change.removed:
        names = "、".join(f"{titles.get(source, source)}（{source}）" for source in change.removed)
        lines.append(f'<div class="qa-added">已从索引中移除：{escape(names)}</div>')
    lines += [f'<div class="qa-refused">未添加：{escape(name)} — {escape(reason)}</div>'
              for name, reason in change.refused]
    lines += [f'<div class="qa-warning">{escape(name)}：{escape(warning)}</div>' for name, warning in change.warnings]
    return f'<div class="qa-library">{"".join(lines)}</div>'


def render_problem(text: str) -> str:
    """An update that was not done, with the reason."""
    return f'<div class="qa-library"><div class="qa-refused">{escape(text)}</div></div>'


def render_answer(engine: Engine, answer: Answer) -> str:
    """The reply: how a follow-up was understood, the short answer in bold with its confidence and a copy
    button, its sentence with the answer marked, and the numbered citations; when nothing answers the
    question, the message and the closest passages, labelled as related passages rather than an answer."""
    terms = key_terms(engine, answer.understood or answer.question)
    head = f'<div class="qa-understood">按上文理解为：{escape(answer.understood)}</div>' if answer.understood else ""
    if answer.found:
        document = engine.documents[answer.source]
        head += (f'<div class="qa-short"><b>{escape(answer.text)}</b>'
                 f'<span class="qa-score">置信度 {round(answer.score * 100)}%</span>'
                 f'<button type="button" class="qa-copy" title="复制答案和出处" '
                 f'value="{html.escape(copy_text(answer))}">复制</button>'
                 f'</div><div class="qa-sentence">{render_sentence(document, answer)}</div>'
                 '<div class="qa-label">出处</div>')
        kind = "qa-found"
    else:
        head += f'<div class="qa-message">{escape(answer.message or "文档中没有找到这个问题的答案。")}</div>'
        if answer.citations:
            head += '<div class="qa-label">相关段落（仅供参考，并非答案）</div>'
        kind = "qa-related"
    cites = "".join(render_citation(engine, answer, number, hit, terms)
                    for number, hit in enumerate(answer.citations, start=1))
    return f'<div class="qa-reply {kind}">{head}{cites}</div>'


def copy_text(answer: Answer) -> str:
    """What "复制" copies: ``答案 —《标题》 文件名 第N段`` (第N页 for a PDF)."""
    where = f"第{answer.page}页" if answer.page else f"第{answer.paragraph}段"
    return f"{answer.text} —《{answer.title}》 {answer.source} {where}"


def locator(document: Document, paragraph: int, offset: int) -> str:
    """``第N段``, or ``第N页 · 第M段`` in a document with pages (PDF)."""
    page = document.page_at(offset)
    return f"第{page}页 · 第{paragraph}段" if page else f"第{paragraph}段"


def render_sentence(document: Document, answer: Answer) -> str:
    """The answer's sentence with the answer marked (found again around the answer's offsets)."""
    start = document.text.rfind(answer.sentence, 0, answer.start + len(answer.sentence))
    if start < 0 or start + len(answer.sentence) < answer.end:
        return escape(answer.sentence)
    return highlight(document, start, start + len(answer.sentence), (answer.start, answer.end), [])


def render_citation(engine: Engine, answer: Answer, number: int, hit: Hit, terms: list[str]) -> str:
    """``[n] 标题 — 文件名 · 第N段`` (with 第N页 for a PDF), expanding to the passage with the answer and key
    terms marked."""
    holds_answer = answer.found and hit.source == answer.source and hit.start <= answer.start < hit.end
    document = engine.documents[hit.source]
    where = locator(document, answer.paragraph, answer.start) if holds_answer else \
        locator(document, hit.paragraph, hit.start)
    span = (answer.start, answer.end) if holds_answer else None
    passage = highlight(document, hit.start, hit.end, span, terms)
    return (f'<details class="qa-cite"><summary>[{number}] {escape(hit.title)} — '
            f'<span class="qa-file">{escape(hit.source)} · {where}</span></summary>'
            f'<div class="qa-passage">{passage}</div></details>')


# ---------------------------------------------------------------------------------------------- UI


def build_ui(loader: ModelLoader, concurrency: int, uploads: bool = False) -> gr.Blocks:
    """The chat page and the ``/ask`` endpoint over the library of ``loader`` (its documents are shown before
    the model is loaded), answering up to ``concurrency`` questions at once; with ``uploads``, the side panel
    adds documents to the index and removes them (one update at a time)."""
    library = loader.library
    budget = loader.budget
    answering = {"concurrency_limit": concurrency, "concurrency_id": "answer"}
    updating = {"concurrency_limit": 1, "concurrency_id": "library", "api_visibility": "private"}
    # Questions are answered on these threads only: torch keeps state per calling thread (its OpenMP team,
    # oneDNN caches), and Gradio's worker threads come and go, so answering on them grew the resident memory
    # round after round (8 clients, 6 rounds: +97 MB after round 1; on these threads +18 MB).
    workers = ThreadPoolExecutor(concurrency, thread_name_prefix="qa-answer")

    def answer(engine: Engine, question: str, k: int, sources: list[str] | None, history: list | None) -> Answer:
        turns = as_turns(engine, history)
        return workers.submit(answer_now, engine, question, k, checked_sources(engine, sources), turns).result()

    def answer_now(engine: Engine, question: str, k: int, sources: list[str] | None, turns: list[dict]) -> Answer:
        with budget.share():
            try:
                return engine.answer(question, k, sources, turns)
            finally:
                return_free_memory()

    def respond(question: str, chat: list, k: float, sources: list[str], turns: list) -> tuple[list, str, list]:
        if not (question or "").strip():
            return chat + [reply(render_notice("请输入问题。"))], "", turns
        engine = loader.engine()  # one engine for the whole answer, even if an update swaps it meanwhile
        sources = [source for source in sources or [] if source in engine.documents]
        if not sources:
            notice = render_notice("请在右侧“检索文档”中至少选择一份文档。")
            return chat + [asked(question), reply(notice)], "", turns
        turns = turns if chat else []  # a chat emptied (by either clear button) starts a new conversation
        every = len(sources) == len(engine.documents)  # then a follow-up may keep to its document
        result = answer(engine, question, int(k), None if every else sources, turns)
        return (chat + [asked(result.question), reply(render_answer(engine, result))], "",
                (turns + [turn_of(result)])[-MAX_TURNS:])

    def ask(question: str, k: int = 5, sources: list[str] | None = None, history: list[dict] | None = None) -> dict:
        """Answer ``question`` from the reports: the short answer, its sentence, file, paragraph, page (PDF),
        offsets and confidence, and the citations (``k`` passages, from the files in ``sources`` or all).
        ``history`` holds the earlier turns of the conversation, oldest first, each a dict with the
        ``question`` and, when it was answered, the ``source`` file (the results of earlier calls can be
        passed as they are): a follow-up such as "那2021年呢？" takes its subject and document from them, and
        ``understood`` says how it was understood ("" when it stands alone)."""
        k = passages(k)
        engine = loader.engine()
        return ask_result(engine, answer(engine, question or "", k, sources, history))

    def page_state() -> dict:
        """What the page shows that can change while it is open: the model's state, the example questions and
        the documents (source → title)."""
        return {"status": loader.status(), "examples": list(loader.examples or []),
                "documents": library.engine.titles()}

    def page_updates(seen: dict, selected: list[str] | None) -> tuple:
        """The parts of the page that changed since it showed ``seen``: header, model state, examples, the
        document filter (the reader's choice kept, new documents added to it) and, with uploads, the removal
        list; then what the page shows now."""
        now = page_state()
        if now == seen:
            return (gr.skip(),) * (6 if uploads else 5)
        documents, known = now["documents"], seen.get("documents") or {}
        chosen = [source for source in selected or [] if source in documents]
        chosen += [source for source in documents if source not in known and source not in chosen]
        removal = (gr.Dropdown(choices=removal_choices(documents), value=None),) if uploads else ()
        return (render_header(len(documents)),
                gr.HTML(render_status(now["status"]), visible=bool(now["status"])),
                gr.Dataset(samples=[[q] for q in now["examples"]], visible=bool(now["examples"])),
                gr.CheckboxGroup(choices=document_choices(documents), value=chosen),
                *removal, now)

    def add_documents(files: list[str] | None, seen: dict, selected: list[str],
                      progress: gr.Progress = PROGRESS) -> tuple:
        """Add the uploaded files to the index (``qa.library``), then show what was done."""
        if not files:
            return (gr.skip(),) * 7 + (None,)
        loader.engine()  # an update needs the model, and must not race its loading
        received = [Upload(Path(path), Path(path).name) for path in files]  # Gradio keeps the name, no folders
        titles = library.engine.titles()
        try:
            change = library.add(received, lambda fraction, step: progress(fraction, desc=step))
        except (Refused, UpdateFailed) as problem:
            return (*page_updates(seen, selected), render_problem(str(problem)), None)
        if change.added:
            loader.remake_examples()
        return (*page_updates(seen, selected), render_change(change, titles), None)

    def remove_document(source: str | None, seen: dict, selected: list[str],
                        progress: gr.Progress = PROGRESS) -> tuple:
        """Take the chosen document out of the index (its file goes to the trash folder)."""
        if not source:
            return (*(gr.skip(),) * 6, render_problem("请先选择要移除的文档。"))
        loader.engine()
        titles = library.engine.titles()
        try:
            change = library.remove(source, lambda fraction, step: progress(fraction, desc=step))
        except (Refused, UpdateFailed) as problem:
            return (*page_updates(seen, selected), render_problem(str(problem)))
        loader.remake_examples()
        return (*page_updates(seen, selected), render_change(change, titles))

    initial = page_state()
    with gr.Blocks(title=TITLE, analytics_enabled=False, delete_cache=(3600, 3600)) as demo:
        header = gr.HTML(render_header(len(initial["documents"])))
        status = gr.HTML(render_status(initial["status"]), elem_id="qa-status", visible=bool(initial["status"]))
        with gr.Row(equal_height=False):
            with gr.Column(scale=3):
                chatbot = gr.Chatbot(label="对话", height=560, render_markdown=False, latex_delimiters=[],
                                     feedback_options=None, buttons=[], elem_id="qa-chat",
                                     placeholder="请在下方输入问题，或点击示例问题。")
                with gr.Row():
                    question = gr.Textbox(placeholder="输入问题，按回车提问", show_label=False, scale=5,
                                          max_lines=3, elem_id="qa-question", autofocus=True)
                    submit = gr.Button("提问", variant="primary", scale=1, min_width=90, elem_id="qa-submit")
                sample = gr.Dataset(label="示例问题", components=[question],
                                    samples=[[q] for q in initial["examples"]], elem_id="qa-examples",
                                    visible=bool(initial["examples"]))
            with gr.Column(scale=1, min_width=260):
                k = gr.Slider(1, MAX_K, value=library.settings.top_k, step=1, label="显示段落数",
                              elem_id="qa-k")
                sources = gr.CheckboxGroup(document_choices(initial["documents"]), value=list(initial["documents"]),
                                           label="检索文档", elem_id="qa-sources")
                turns = gr.State([])  # the conversation's earlier turns (``turn_of``), for follow-ups
                gr.ClearButton([chatbot, question, turns], value="清空对话", elem_id="qa-clear",
                               api_visibility="private")
                if uploads:
                    upload = gr.File(label=f"添加文档（{' '.join(SUPPORTED_SUFFIXES)}）", file_count="multiple",
                                     type="filepath", height=140, elem_id="qa-upload")
                    said = gr.HTML(elem_id="qa-library")  # what the last update did
                    with gr.Accordion("移除文档", open=False, elem_id="qa-remove-panel"):
                        remove = gr.Dropdown(removal_choices(initial["documents"]), value=None, show_label=False,
                                             elem_id="qa-remove")
                        remove_button = gr.Button("从索引中移除", variant="stop", size="sm",
                                                  elem_id="qa-remove-button")
        seen = gr.State(initial)  # what this page shows of ``page_state()``
        timer = gr.Timer(REFRESH_SECONDS)
        inputs, outputs = [question, chatbot, k, sources, turns], [chatbot, question, turns]
        submit.click(respond, inputs, outputs, api_visibility="private", **answering)
        question.submit(respond, inputs, outputs, api_visibility="private", **answering)
        sample.click(lambda chosen: chosen[0], sample, question, api_visibility="private").then(
            respond, inputs, outputs, api_visibility="private", **answering)
        page = [header, status, sample, sources]
        if uploads:
            page.append(remove)
            upload.upload(add_documents, [upload, seen, sources], [*page, seen, said, upload],
                          show_progress_on=[said], **updating)
            remove_button.click(remove_document, [remove, seen, sources], [*page, seen, said],
                                show_progress_on=[said], **updating)
        for trigger in (timer.tick, demo.load):
            trigger(page_updates, [seen, sources], [*page, seen], api_visibility="private",
                    show_progress="hidden", queue=False)  # a glance at the state: never waits behind questions
        gr.api(ask, api_name="ask", **answering)
    return demo


def theme() -> gr.themes.Base:
    """A quiet blue theme with local CJK fonts (nothing fetched from the web)."""
    fonts = ["Noto Sans CJK SC", "PingFang SC", "Microsoft YaHei", "system-ui", "sans-serif"]
    return gr.themes.Soft(primary_hue="blue", neutral_hue="slate", font=fonts).set(
        checkbox_label_background_fill_selected="*primary_50",
        checkbox_label_text_color_selected="*neutral_800",
        checkbox_label_border_color_selected="*primary_200",
    )


M_ARENA_MAX = -8  # glibc's mallopt parameter


@functools.cache
def glibc() -> ctypes.CDLL | None:
    """The C library when it is glibc (whose malloc the two functions below tune), else None."""
    if not sys.platform.startswith("linux"):
        return None
    try:
        libc = ctypes.CDLL("libc.so.6")
        return libc if hasattr(libc, "mallopt") and hasattr(libc, "malloc_trim") else None
    except OSError:
        return None


def limit_malloc_arenas(arenas: int = 2) -> None:
    """At most ``arenas`` glibc malloc arenas, as MALLOC_ARENA_MAX=2 would (unless that is set): otherwise each
    request thread gets an arena of its own and the resident memory grows with the load. Measured with
    ``scripts/loadtest.py`` (8 clients, 4 rounds of 200 requests): glibc's default 1.70 → 1.81 GB from round 1
    to round 4; two arenas 1.62 → 1.64 GB, at the same throughput."""
    libc = glibc()
    if libc and not os.environ.get("MALLOC_ARENA_MAX"):
        libc.mallopt(M_ARENA_MAX, arenas)


def return_free_memory() -> None:
    """Give the memory malloc holds free back to the system (glibc's ``malloc_trim``), after each answer: a
    question's activations are blocks of megabytes that malloc keeps once freed, so the resident memory rises to the
    high-water mark of every mix of questions answered together. 8 clients, same run: 1.54 against 1.67 GB after a
    round of 200 requests, at 0.93× the throughput."""
    libc = glibc()
    if libc:
        libc.malloc_trim(0)


def main() -> int:
    """Check the settings, load the index, start loading the model, serve."""
    limit_malloc_arenas()
    try:
        settings = Settings()
    except SettingsError as problem:  # one line naming the variable and what it takes
        print(f"app: {problem}", file=sys.stderr)
        return 2
    auth = login(settings, dict(os.environ))
    library = Library(open_index(settings))
    loader = ModelLoader(library).start()
    build_ui(loader, settings.concurrency, uploads_allowed(settings, auth)).launch(
        server_name=settings.host, server_port=settings.port, auth=auth, auth_message=TITLE if auth else None,
        theme=theme(), css=CSS, head=COPY_JS, footer_links=["api"], show_error=True,
        max_file_size=library.limits.max_bytes)
    return 0


if __name__ == "__main__":
    sys.exit(main())
