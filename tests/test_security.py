"""Security: where the app listens and who may use it, no pickle, no user text used as a path, text escaped.

The app runs for real (``python app.py`` subprocesses): the shared one from ``app_process`` (default
settings, loopback), and one started here on 0.0.0.0 with a login, over a report whose text holds markup.
The page test drives headless Chromium. Refusals at start-up (another address without a login, a missing
or damaged index) are tested in test_app.py.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest
from app_process import PROJECT_ROOT, app_env, free_port
from gradio_client import Client
from gradio_client.exceptions import AppError, AuthenticationError

from qa.indexing import build
from qa.retrieval import load
from qa.settings import Settings

pytest_plugins = ["app_process"]

QUESTION = "伊金霍洛镇2022年全年总收入是多少？"
USER, PASSWORD = "reader", "s3cret-Pa55"
# Markup in a report: in the .html file as entities, so the document text holds it literally.
REPORT = ("<html><head><title>伊金霍洛镇工作报告</title></head><body>\n"
          "<p>伊金霍洛镇2022年全年总收入1.99亿元，其中一般公共预算拨款1.85亿元。附注：&lt;img src=x "
          "onerror=\"document.title='pwned-doc'\"&gt; 与 "
          "&lt;script&gt;document.title='pwned-script'&lt;/script&gt; 均为原文字符。</p>\n"
          "<p>乡村振兴工作稳步推进，农牧民收入持续增长，嘎查村集体经济不断壮大。</p></body></html>\n")
HOSTILE_QUESTION = "<img src=x onerror=\"document.title='pwned-question'\"><b>粗</b>" + QUESTION
PASSWD = "root:x:0:0"


# ------------------------------------------------------------------------------------------------ pickle


def python_files() -> list[Path]:
    skip = {".git", ".venv", "venv", "build", "dist", "test-artifacts", "node_modules", "__pycache__"}
    return [path for path in PROJECT_ROOT.rglob("*.py")
            if not any(part in skip or part.startswith(".") for part in path.relative_to(PROJECT_ROOT).parts)]


def test_no_pickle_anywhere() -> None:
    pickle = "pick" + "le"  # spelled in pieces, so this file does not match itself
    forbidden = re.compile(
        rf"\bimport\s+(?:c?{pickle}|dill|cloud{pickle}|joblib|shelve|marshal)\b"
        rf"|\bfrom\s+(?:c?{pickle}|dill|cloud{pickle}|joblib|shelve|marshal)\b"
        rf"|allow_{pickle}|\b{pickle}\.|read_{pickle}\(|Un{pickle}r"
        r"|torch\.load\((?![^)]*weights_only=True)"  # weights_only=True: torch's safe loader
    )
    files = python_files()
    assert len(files) > 20 and PROJECT_ROOT / "qa" / "storage.py" in files and PROJECT_ROOT / "app.py" in files
    offenders = [f"{path.relative_to(PROJECT_ROOT)}:{number}: {line.strip()}"
                 for path in files
                 for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), start=1)
                 if forbidden.search(line)]
    assert offenders == []


def test_no_pickled_data_in_the_repository_or_the_index(settings) -> None:
    suffixes = {".pkl", ".pickle", ".joblib", ".npy", ".npz", ".pt", ".pth", ".ckpt"}
    found = [path for path in PROJECT_ROOT.rglob("*") if path.suffix in suffixes and ".git" not in path.parts]
    assert found == []
    index_files = {path.suffix for path in settings.index_dir.iterdir() if not path.name.startswith(".")}
    assert index_files == {".json", ".jsonl", ".faiss"}


# ------------------------------------------------------------------------------------------------ binding


def listening_addresses(port: int) -> set[str]:
    """Local addresses with a socket in LISTEN state on ``port`` (from /proc/net/tcp and tcp6)."""
    addresses = set()
    for table in ("/proc/net/tcp", "/proc/net/tcp6"):
        with open(table, encoding="ascii") as rows:
            for row in list(rows)[1:]:
                local, state = row.split()[1], row.split()[3]
                address, hex_port = local.split(":")
                if state == "0A" and int(hex_port, 16) == port:
                    addresses.add(address)
    return addresses


LOOPBACK = {"0100007F", "00000000000000000000000001000000"}  # 127.0.0.1, ::1 as /proc/net writes them
ANY = {"00000000", "00000000000000000000000000000000"}


def test_the_default_host_is_loopback(monkeypatch) -> None:
    monkeypatch.delenv("QA_HOST", raising=False)
    assert Settings().host == "127.0.0.1"


def test_the_app_listens_on_loopback_only(app_server) -> None:
    port = int(app_server.url.rstrip("/").rsplit(":", 1)[1])
    addresses = listening_addresses(port)
    assert addresses and addresses <= LOOPBACK, addresses


@pytest.fixture(scope="module")
def exposed_app(tmp_path_factory, embedder):
    """``python app.py`` on 0.0.0.0 with QA_USER / QA_PASSWORD, over one report whose text holds markup."""
    corpus = tmp_path_factory.mktemp("hostile-corpus")
    (corpus / "report.html").write_text(REPORT, encoding="utf-8")
    index = tmp_path_factory.mktemp("hostile-index")
    build(Settings(), corpus, index, embedder=embedder, progress=False, log=lambda message: None)
    port = free_port()
    env = app_env(QA_HOST="0.0.0.0", QA_PORT=str(port), QA_USER=USER, QA_PASSWORD=PASSWORD,
                  QA_CORPUS=str(corpus), QA_INDEX=str(index))
    log = tmp_path_factory.mktemp("exposed-app") / "app.log"
    with open(log, "w", encoding="utf-8") as handle:
        process = subprocess.Popen([sys.executable, "app.py"], cwd=PROJECT_ROOT, env=env, stdout=handle,
                                   stderr=subprocess.STDOUT)
    url = f"http://127.0.0.1:{port}/"
    try:
        deadline = time.monotonic() + 240
        while not listening_addresses(port) or status(url) != 200:
            assert process.poll() is None, log.read_text(encoding="utf-8")
            assert time.monotonic() < deadline, log.read_text(encoding="utf-8")
            time.sleep(0.5)
        yield {"url": url, "port": port, "index": index, "log": log}
    finally:
        if process.poll() is None:
            process.terminate()
            try:
                process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()


def status(url: str, data: bytes | None = None) -> int:
    request = urllib.request.Request(url, data=data, headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code
    except (urllib.error.URLError, OSError):
        return 0


def test_another_address_requires_the_login(exposed_app) -> None:
    url = exposed_app["url"]
    assert listening_addresses(exposed_app["port"]) <= ANY  # reachable from the network: the login guards it
    call = b'{"data": ["' + QUESTION.encode("utf-8") + b'", 5, null]}'
    assert status(url + "config") == 401
    assert status(url + "gradio_api/info") == 401
    assert status(url + "gradio_api/call/ask", call) == 401
    assert status(url + "gradio_api/file=/etc/passwd") == 401
    with pytest.raises(AuthenticationError, match="credentials were not provided"):
        Client(url, verbose=False)
    with pytest.raises(ValueError, match="Could not login"):
        Client(url, auth=(USER, "wrong"), verbose=False)
    result = Client(url, auth=(USER, PASSWORD), verbose=False).predict(QUESTION, 5, None, api_name="/ask")
    assert result["found"] and result["answer"] == "1.99亿元"
    # the API gives the document text as data, unchanged; the page escapes it (below)
    assert "<img src=x onerror=\"document.title='pwned-doc'\">" in result["citations"][0]["text"]


# ------------------------------------------------------------------------------------------------ paths

AUDITED = {"open", "os.listdir", "os.scandir", "os.remove", "os.rename", "os.mkdir", "os.rmdir", "os.chmod",
           "os.symlink", "os.truncate", "shutil.rmtree", "shutil.copyfile"}
_audit = threading.local()
_events: list[tuple[str, str]] = []


def _hook(event: str, args: tuple) -> None:
    if getattr(_audit, "on", False) and event in AUDITED and args:
        _events.append((event, str(args[0])))


sys.addaudithook(_hook)  # an audit hook cannot be removed; it records only while _audit.on is set


def test_user_input_never_becomes_a_path(settings, embedder) -> None:
    engine = load(settings.index_dir, settings, embedder)
    engine.answer("warm-up 是谁？")  # lazy loads (jieba dictionaries) happen before the recording
    marker = "QAPROBE"
    questions = [f"/etc/passwd {marker}", f"../../../../etc/passwd{marker}", f"file:///etc/shadow?{marker}",
                 f"~root/.ssh/id_rsa {marker}", f"C:\\Windows\\win.ini {marker}", f"\x00/etc/passwd{marker}"]
    sources = [[f"../../../../etc/passwd{marker}"], [f"/etc/passwd{marker}"], [f"seeds/../../{marker}"]]
    _events.clear()
    _audit.on = True
    try:
        for question in questions:
            engine.answer(question)
            for chosen in sources:
                engine.answer(question, 5, chosen)
                engine.retrieve(QUESTION, 5, chosen)
    finally:
        _audit.on = False
    named = (marker, "passwd", "shadow", ".ssh", "win.ini")
    touched = [(event, path) for event, path in _events if any(name in path for name in named)]
    assert touched == []


def test_the_app_serves_no_file_a_user_names(app_server) -> None:
    url = app_server.url
    for path in ("gradio_api/file=/etc/passwd", "gradio_api/file=../../../../etc/passwd",
                 "gradio_api/file=" + str(PROJECT_ROOT / "qa" / "settings.py"), "file=/etc/passwd",
                 "gradio_api/file=%2Fetc%2Fpasswd", "static/../../../../etc/passwd"):
        request = urllib.request.Request(url + path)
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                body = response.read(200_000).decode("utf-8", "replace")
        except urllib.error.HTTPError as error:
            assert error.code in (403, 404, 405), (path, error.code)
            continue
        assert PASSWD not in body and "PROJECT_ROOT" not in body, path
    client = Client(url, verbose=False)
    with pytest.raises(AppError, match="etc/passwd"):  # refused by name: not in the index
        client.predict(QUESTION, 5, ["../../../../etc/passwd"], api_name="/ask")
    result = client.predict("/etc/passwd", 5, None, api_name="/ask")
    assert not result["found"] and PASSWD not in str(result)


# ------------------------------------------------------------------------------------------------ page


@pytest.mark.browser
def test_question_and_document_text_reach_the_page_escaped(exposed_app) -> None:
    chromium, chromedriver = shutil.which("chromium"), shutil.which("chromedriver")
    if not (chromium and chromedriver):
        pytest.skip("chromium and chromedriver are not installed (scripts/setup.sh --test installs them)")
    from selenium import webdriver
    from selenium.webdriver.chrome.service import Service
    from selenium.webdriver.common.by import By
    from selenium.webdriver.common.keys import Keys
    from selenium.webdriver.support.ui import WebDriverWait

    options = webdriver.ChromeOptions()
    options.binary_location = chromium
    for argument in ("--headless=new", "--no-sandbox", "--disable-dev-shm-usage", "--disable-gpu"):
        options.add_argument(argument)
    driver = webdriver.Chrome(options=options, service=Service(chromedriver))
    try:
        driver.get(exposed_app["url"])
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "input[type=password]"))
        driver.find_element(By.CSS_SELECTOR, "input[type=text]").send_keys(USER)
        driver.find_element(By.CSS_SELECTOR, "input[type=password]").send_keys(PASSWORD)
        next(b for b in driver.find_elements(By.TAG_NAME, "button") if b.text.strip() == "Login").click()
        WebDriverWait(driver, 60).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qa-question textarea"))
        title = driver.title
        box = driver.find_element(By.CSS_SELECTOR, "#qa-question textarea")
        box.send_keys(HOSTILE_QUESTION)
        box.send_keys(Keys.ENTER)
        WebDriverWait(driver, 180).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qa-chat .qa-reply"))
        chat = driver.find_element(By.CSS_SELECTOR, "#qa-chat")
        for details in chat.find_elements(By.TAG_NAME, "details"):
            driver.execute_script("arguments[0].open = true", details)
        shown = chat.text
        assert driver.title == title  # no handler ran
        assert HOSTILE_QUESTION in shown  # the question, shown as the text it is
        assert "<img src=x onerror=\"document.title='pwned-doc'\">" in shown
        assert "<script>document.title='pwned-script'</script>" in shown  # the document text, as text
        assert chat.find_elements(By.TAG_NAME, "img") == []
        assert chat.find_elements(By.TAG_NAME, "script") == []
        # the app's own markup still works, and is the only markup: the short answer in bold
        assert [b.text for b in chat.find_elements(By.TAG_NAME, "b")] == ["1.99亿元"]
    finally:
        driver.quit()
