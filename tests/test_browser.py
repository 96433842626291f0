"""The chat page in real headless Chromium (Selenium, the system chromium and chromedriver), over the one
app process the app tests use: the model's loading state, a real answer with its citation, an unanswerable
question, an empty question, a follow-up understood from the chat and its answer copied, example questions
(made after the model loads), and questions holding HTML or markdown, which must be shown as text.

A screenshot of the answered follow-up goes to test-artifacts/ and, with QA_UPDATE_SCREENSHOT=1, to
docs/screenshot.png (the README's picture).
"""

from __future__ import annotations

import importlib.util
import json
import os
import re
import shutil
import sys
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pypdf
import pytest
from conftest import write_docx
from gradio_client import Client
from selenium import webdriver
from selenium.common.exceptions import NoAlertPresentException, StaleElementReferenceException
from selenium.webdriver.chrome.service import Service
from selenium.webdriver.common.by import By
from selenium.webdriver.common.keys import Keys
from selenium.webdriver.remote.webdriver import WebDriver
from selenium.webdriver.remote.webelement import WebElement
from selenium.webdriver.support.ui import WebDriverWait

from qa.settings import PROJECT_ROOT

pytest_plugins = ["app_process"]
pytestmark = [
    pytest.mark.browser,
    pytest.mark.skipif(not (Path("/usr/bin/chromium").exists() and Path("/usr/bin/chromedriver").exists()),
                       reason="needs /usr/bin/chromium and /usr/bin/chromedriver (scripts/setup.sh --test)"),
]

CHROMIUM_FLAGS = ("--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
                  "--disable-quic", "--no-first-run", "--disable-component-update", "--disable-sync",
                  "--window-size=1280,1060", "--lang=zh-CN")
QUESTION = "伊金霍洛镇2022年全年总收入是多少？"
SOURCE = "001_84905cf744b120d4.txt"
TEXTBOX = (By.CSS_SELECTOR, "#qa-question textarea")
WAIT_SECONDS = 60
LOAD_SECONDS = 600  # the model, then the example questions, load in the background after the page serves


@pytest.fixture(scope="module")
def browser() -> Iterator[WebDriver]:
    profile = tempfile.mkdtemp(prefix="qa-chromium-")
    options = webdriver.ChromeOptions()
    options.binary_location = "/usr/bin/chromium"
    options.add_experimental_option("prefs", {"intl.accept_languages": "zh-CN,zh"})  # Gradio's own labels in Chinese
    for flag in (*CHROMIUM_FLAGS, f"--user-data-dir={profile}"):
        options.add_argument(flag)
    driver = webdriver.Chrome(service=Service("/usr/bin/chromedriver"), options=options)
    try:
        yield driver
    finally:
        driver.quit()
        shutil.rmtree(profile, ignore_errors=True)


@pytest.fixture
def page(browser: WebDriver, app_server) -> WebDriver:
    """A fresh page of the app (a new session: empty chat)."""
    browser.get(app_server.url)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: driver.find_elements(*TEXTBOX))
    return browser


def replies(driver: WebDriver) -> list[WebElement]:
    return driver.find_elements(By.CSS_SELECTOR, "#qa-chat .qa-reply")


def ask(driver: WebDriver, question: str) -> WebElement:
    """Type ``question``, press Enter, and return the reply once it is shown."""
    before = len(replies(driver))
    box = driver.find_element(*TEXTBOX)
    box.send_keys(question)
    box.send_keys(Keys.ENTER)
    WebDriverWait(driver, WAIT_SECONDS).until(lambda d: len(replies(d)) > before)
    return replies(driver)[-1]


def assert_no_alert(driver: WebDriver) -> None:
    with pytest.raises(NoAlertPresentException):
        driver.switch_to.alert.text  # noqa: B018 - reading it is what raises


def test_a_question_gets_its_answer_and_citations(page: WebDriver, artifacts: Path) -> None:
    reply = ask(page, QUESTION)
    short = reply.find_element(By.CSS_SELECTOR, ".qa-short b").text
    assert "1.99亿元" in short
    assert reply.find_element(By.CSS_SELECTOR, ".qa-sentence mark.qa-answer").text == short
    summaries = reply.find_elements(By.CSS_SELECTOR, "details.qa-cite summary")
    assert 1 <= len(summaries) <= 5 and summaries[0].text.startswith("[1] ")
    assert f"{SOURCE} · 第" in summaries[0].text
    passage = reply.find_element(By.CSS_SELECTOR, "details.qa-cite .qa-passage")
    assert not passage.is_displayed()
    summaries[0].click()
    WebDriverWait(page, 5).until(lambda d: passage.is_displayed())
    assert "1.99亿元" in passage.find_element(By.CSS_SELECTOR, "mark.qa-answer").text
    assert reply.find_elements(By.CSS_SELECTOR, ".qa-passage mark.qa-term")  # the question's key words
    chat = page.find_element(By.CSS_SELECTOR, "#qa-chat [role=log]")
    WebDriverWait(page, 10).until(lambda d: d.execute_script("arguments[0].scrollTop = 0; return true", chat)
                                  and chat.find_element(By.CSS_SELECTOR, ".qa-question").is_displayed()
                                  and d.execute_script("return arguments[0].scrollTop", chat) == 0)
    assert page.save_screenshot(str(artifacts / "browser-answer.png"))


def copied_text(driver: WebDriver, button: WebElement) -> str:
    """Click a "复制" button and read the clipboard back (the page is allowed to read it)."""
    origin = driver.execute_script("return location.origin")
    permissions = ["clipboardReadWrite", "clipboardSanitizedWrite"]
    driver.execute_cdp_cmd("Browser.grantPermissions", {"origin": origin, "permissions": permissions})
    driver.execute_script("navigator.clipboard.writeText('')")
    button.click()
    WebDriverWait(driver, 5).until(lambda d: button.text == "已复制")
    return driver.execute_async_script("navigator.clipboard.readText().then(arguments[0], e => arguments[0](''))")


def test_a_follow_up_is_understood_from_the_chat_and_its_answer_copied(page: WebDriver, artifacts: Path) -> None:
    ask(page, QUESTION)
    reply = ask(page, "旅游综合收入有多少？")
    assert reply.find_element(By.CSS_SELECTOR, ".qa-understood").text == "按上文理解为：伊金霍洛镇旅游综合收入有多少？"
    short = reply.find_element(By.CSS_SELECTOR, ".qa-short b").text
    assert "2000余万元" in short
    assert re.fullmatch(r"置信度 \d{1,3}%", reply.find_element(By.CSS_SELECTOR, ".qa-score").text)
    summaries = [s.text for s in reply.find_elements(By.CSS_SELECTOR, "details.qa-cite summary")]
    assert all(f"— {SOURCE} · 第" in summary for summary in summaries)  # the document of the first answer
    title, paragraph = re.fullmatch(rf"\[1\] (.+) — {re.escape(SOURCE)} · 第(\d+)段", summaries[0]).groups()
    button = reply.find_element(By.CSS_SELECTOR, "button.qa-copy")
    expected = f"{short} —《{title}》 {SOURCE} 第{paragraph}段"
    assert button.get_attribute("value") == expected
    reply.find_element(By.CSS_SELECTOR, "details.qa-cite summary").click()
    chat = page.find_element(By.CSS_SELECTOR, "#qa-chat [role=log]")
    follow_up = page.find_elements(By.CSS_SELECTOR, "#qa-chat .qa-question")[-1]
    page.execute_script("const [log, asked] = arguments; window.scrollTo(0, 0); log.scrollTop += "
                        "asked.getBoundingClientRect().top - log.getBoundingClientRect().top - 12", chat, follow_up)
    screenshot = artifacts / "browser-follow-up.png"
    assert page.save_screenshot(str(screenshot))
    if os.environ.get("QA_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, PROJECT_ROOT / "docs" / "screenshot.png")
    assert copied_text(page, button) == expected
    page.find_element(By.ID, "qa-clear").click()  # a new conversation: nothing to follow up
    WebDriverWait(page, 10).until(lambda d: not replies(d))
    assert not ask(page, "旅游综合收入有多少？").find_elements(By.CSS_SELECTOR, ".qa-understood")


def test_the_chat_s_own_clear_button_also_starts_a_new_conversation(page: WebDriver) -> None:
    ask(page, QUESTION)
    page.find_element(By.CSS_SELECTOR, "#qa-chat button[aria-label='清空对话']").click()
    WebDriverWait(page, 10).until(lambda d: not replies(d))
    assert not ask(page, "旅游综合收入有多少？").find_elements(By.CSS_SELECTOR, ".qa-understood")


def test_an_unanswerable_question_is_said_plainly_with_related_passages(page: WebDriver) -> None:
    reply = ask(page, "宋家镇有多少常住人口？")  # the reports never say
    assert "没有找到" in reply.find_element(By.CSS_SELECTOR, ".qa-message").text
    assert "相关段落" in reply.find_element(By.CSS_SELECTOR, ".qa-label").text
    assert reply.find_elements(By.CSS_SELECTOR, "details.qa-cite")
    assert not reply.find_elements(By.CSS_SELECTOR, ".qa-short, mark.qa-answer")


def test_an_empty_question_asks_for_one(page: WebDriver, artifacts: Path) -> None:
    page.find_element(By.ID, "qa-submit").click()
    WebDriverWait(page, WAIT_SECONDS).until(lambda d: replies(d))
    assert replies(page)[-1].text == "请输入问题。"
    assert not page.find_elements(By.CSS_SELECTOR, "#qa-chat .qa-question")
    page.save_screenshot(str(artifacts / "browser-empty-question.png"))


def test_a_question_with_no_document_selected_asks_for_one(page: WebDriver) -> None:
    for box in page.find_elements(By.CSS_SELECTOR, "#qa-sources input[type=checkbox]"):
        box.click()
    assert "至少选择一份文档" in ask(page, QUESTION).text


MARKUP = ["<script>alert(1)</script>",
          "**粗体** <img src=x onerror=alert(2)> [链接](http://example.org) $$x^2$$"]


@pytest.mark.parametrize("question", MARKUP)
def test_markup_in_a_question_is_shown_as_text(page: WebDriver, artifacts: Path, question: str) -> None:
    reply = ask(page, question)
    assert_no_alert(page)
    shown = page.find_elements(By.CSS_SELECTOR, "#qa-chat .qa-question")[-1]
    assert shown.text == question
    assert not shown.find_elements(By.CSS_SELECTOR, "script, img, strong, em, a, .katex")
    assert reply.find_element(By.CSS_SELECTOR, ".qa-message").text
    page.save_screenshot(str(artifacts / "browser-markup-question.png"))


def visible_status(driver: WebDriver) -> str:
    """The model's state shown above the chat ("正在加载模型…"), or "" when none is shown (the element is
    removed once the model is ready)."""
    try:
        return "".join(element.text for element in driver.find_elements(By.CSS_SELECTOR, "#qa-status .qa-status")
                       if element.is_displayed())
    except StaleElementReferenceException:  # replaced while it was read: read it again
        return visible_status(driver)


def test_a_question_asked_while_the_model_loads_is_answered_once_it_is(browser: WebDriver, held_app) -> None:
    app, release = held_app
    browser.get(app.url)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: driver.find_elements(*TEXTBOX))
    assert visible_status(browser) == "正在加载模型…"
    box = browser.find_element(*TEXTBOX)
    box.send_keys(QUESTION)
    box.send_keys(Keys.ENTER)
    assert not replies(browser) and visible_status(browser) == "正在加载模型…"  # it cannot be answered yet
    release()
    WebDriverWait(browser, LOAD_SECONDS).until(lambda d: replies(d))
    assert replies(browser)[-1].find_elements(By.CSS_SELECTOR, ".qa-short, details.qa-cite")
    WebDriverWait(browser, WAIT_SECONDS).until(lambda d: visible_status(d) == "")


def test_the_loading_notice_goes_once_the_model_is_ready(page: WebDriver, app_server) -> None:
    app_server.wait_for_model(LOAD_SECONDS)
    WebDriverWait(page, WAIT_SECONDS).until(lambda d: visible_status(d) == "")
    page.refresh()  # a page opened after the model loaded says nothing about it
    WebDriverWait(page, WAIT_SECONDS).until(lambda d: d.find_elements(*TEXTBOX))
    WebDriverWait(page, WAIT_SECONDS).until(lambda d: visible_status(d) == "")


def test_an_example_question_is_asked_on_a_click(page: WebDriver) -> None:
    WebDriverWait(page, LOAD_SECONDS).until(lambda d: d.find_elements(By.CSS_SELECTOR, "#qa-examples button"))
    example = page.find_element(By.CSS_SELECTOR, "#qa-examples button")
    question = example.text
    example.click()
    WebDriverWait(page, WAIT_SECONDS).until(lambda d: replies(d))
    assert page.find_elements(By.CSS_SELECTOR, "#qa-chat .qa-question")[-1].text == question
    assert replies(page)[-1].find_element(By.CSS_SELECTOR, ".qa-short b").text


def test_the_clear_button_empties_the_chat(page: WebDriver) -> None:
    ask(page, QUESTION)
    page.find_element(By.ID, "qa-clear").click()
    WebDriverWait(page, 10).until(lambda d: not replies(d))


# ---------------------------------------------------------------------------------------------- documents
# Another app (``library_app``), over a temporary copy of the seeds and their index: uploads and removals never
# touch the committed seeds/ and embeddings/.

UPDATE_SECONDS = 300  # an update embeds the new document on cores the other tests and processes share
TOWN_REPORT = ["青石湾镇2023年政府工作报告",
               "各位代表：现在，我代表青石湾镇人民政府向大会报告工作，请予审议。",
               "过去一年，青石湾镇坚持农业强镇。全镇新建智慧温室大棚137座，带动农户增收2300万元。",
               "全年接待游客4.6万人次，旅游综合收入达到5100万元。"]
TOWN_QUESTION = "青石湾镇新建智慧温室大棚多少座？"
PDF_PAGES = 20
PDF_ANSWER_PAGE = 17
PDF_ANSWER = "2023年，柳溪镇新建冷链仓储中心14座，冷库总容量达到3.6万吨，带动果农户均增收8600元。"
PDF_QUESTION = "柳溪镇新建冷链仓储中心多少座？"


@pytest.fixture
def library_page(browser: WebDriver, library_app) -> WebDriver:
    browser.get(library_app[0].url)
    WebDriverWait(browser, WAIT_SECONDS).until(lambda driver: driver.find_elements(*TEXTBOX))
    return browser


def library_message(driver: WebDriver) -> str:
    return "".join(element.text for element in driver.find_elements(By.CSS_SELECTOR, "#qa-library .qa-library"))


def upload(driver: WebDriver, *paths: Path) -> tuple[str, list[str]]:
    """Choose ``paths`` in the "添加文档" control; returns what the page said when the update was done and the
    progress steps seen on the way."""
    before = library_message(driver)
    driver.find_element(By.CSS_SELECTOR, "#qa-upload input[type=file]").send_keys("\n".join(map(str, paths)))
    return finished_update(driver, before)


def finished_update(driver: WebDriver, before: str) -> tuple[str, list[str]]:
    """Wait until the page says what an update did (a message other than ``before``); the progress texts shown
    meanwhile are collected every 50 ms."""
    steps: list[str] = []

    def done(d: WebDriver) -> bool:
        try:
            shown = d.find_element(By.CSS_SELECTOR, "#qa-library").text
        except StaleElementReferenceException:
            return False
        if shown and shown not in steps:
            steps.append(shown)
        return library_message(d) not in ("", before)

    WebDriverWait(driver, UPDATE_SECONDS, poll_frequency=0.05).until(done)
    return library_message(driver), steps


def source_choices(driver: WebDriver) -> list[str]:
    return [label.text for label in driver.find_elements(By.CSS_SELECTOR, "#qa-sources label")]


def test_a_word_file_added_in_the_page_is_answered_from(library_page: WebDriver, library_app, tmp_path: Path,
                                                         artifacts: Path) -> None:
    app, corpus = library_app
    said, steps = upload(library_page, write_docx(tmp_path / "青石湾镇报告.docx", TOWN_REPORT))
    assert said.startswith("已添加：青石湾镇报告.docx（用时 ") and "未添加" not in said
    assert any("索引" in step for step in steps), steps  # the page showed the update's progress
    assert (corpus / "青石湾镇报告.docx").is_file()
    WebDriverWait(library_page, WAIT_SECONDS).until(lambda d: "青石湾镇2023年政府工作报告" in source_choices(d))
    assert "从 6 份政府报告" in library_page.find_element(By.ID, "qa-header").text
    reply = ask(library_page, TOWN_QUESTION)
    assert "137座" in reply.find_element(By.CSS_SELECTOR, ".qa-short b").text
    assert "青石湾镇报告.docx · 第" in reply.find_element(By.CSS_SELECTOR, "details.qa-cite summary").text
    library_page.save_screenshot(str(artifacts / "browser-upload.png"))
    assert not (problem := app.tracebacks()), problem


def test_hostile_uploads_are_refused_with_their_reasons(library_page: WebDriver, library_app,
                                                        tmp_path: Path) -> None:
    app, corpus = library_app
    before = sorted(path.name for path in corpus.iterdir())
    binary = tmp_path / "扫描件.pdf"
    binary.write_bytes(b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 40)  # a picture renamed .pdf
    empty = tmp_path / "空.txt"
    empty.write_bytes(b"")
    program = tmp_path / "setup.exe"
    program.write_bytes(b"MZ" + bytes(200))
    said, _ = upload(library_page, binary, empty, program)
    assert "未添加：扫描件.pdf — 文件无法读取：不是有效的 PDF 文件" in said
    assert "未添加：空.txt — 空文件（0 字节）" in said
    assert "未添加：setup.exe — 不支持的文件类型“.exe”" in said
    assert "已添加" not in said
    # Names holding a path, as only a crafted request sends them: the browser builds these files itself.
    message = library_message(library_page)
    library_page.execute_script("""
        const input = document.querySelector("#qa-upload input[type=file]");
        const files = new DataTransfer();
        files.items.add(new File(["青石湾镇的报告"], "..\\\\..\\\\逃出.txt", {type: "text/plain"}));
        files.items.add(new File(["白沙河村全年新修村道12公里。"], "../../越界.txt", {type: "text/plain"}));
        input.files = files.files;
        input.dispatchEvent(new Event("change", {bubbles: true}));
    """)
    said, _ = finished_update(library_page, message)
    assert "未添加：....逃出.txt — 文件名不能以“.”开头" in said  # Gradio drops the "\\"; a dot-name is refused
    assert "已添加：越界.txt" in said  # Gradio keeps only the last part of a "/" path: a plain name
    work = corpus.parent
    assert sorted(path.name for path in corpus.iterdir()) == sorted([*before, "越界.txt"])
    assert not [path for path in (work, work.parent, PROJECT_ROOT) if any(path.glob("*越界*")) or
                any(path.glob("*逃出*"))]
    assert not (problem := app.tracebacks()), problem


def test_a_document_removed_in_the_page_leaves_the_index(library_page: WebDriver, library_app,
                                                         tmp_path: Path) -> None:
    app, corpus = library_app
    notice = tmp_path / "白沙河村总结.txt"
    notice.write_text("白沙河村2023年工作总结\n白沙河村全年安装太阳能路灯86盏，新建文化广场2处。\n", encoding="utf-8")
    said, _ = upload(library_page, notice)
    assert said.startswith("已添加：白沙河村总结.txt")
    question = "白沙河村安装太阳能路灯多少盏？"
    assert "86盏" in ask(library_page, question).find_element(By.CSS_SELECTOR, ".qa-short b").text
    library_page.find_element(By.CSS_SELECTOR, "#qa-remove-panel button").click()  # open the panel
    choose = WebDriverWait(library_page, WAIT_SECONDS).until(
        lambda d: d.find_element(By.CSS_SELECTOR, "#qa-remove input"))
    choose.click()
    label = "白沙河村2023年工作总结（白沙河村总结.txt）"
    option = WebDriverWait(library_page, WAIT_SECONDS).until(lambda d: d.find_element(
        By.CSS_SELECTOR, f"#qa-remove li[role=option][aria-label='{label}']"))
    option.click()
    WebDriverWait(library_page, WAIT_SECONDS).until(  # chosen in the page before the button sends it
        lambda d: d.find_element(By.CSS_SELECTOR, "#qa-remove input").get_attribute("value") == label)
    message = library_message(library_page)
    library_page.find_element(By.ID, "qa-remove-button").click()
    said, _ = finished_update(library_page, message)
    assert said == f"已从索引中移除：{label}"
    WebDriverWait(library_page, WAIT_SECONDS).until(lambda d: "白沙河村2023年工作总结" not in source_choices(d))
    assert not (corpus / "白沙河村总结.txt").exists()
    assert (corpus.with_name(corpus.name + ".trash") / "白沙河村总结.txt").is_file()
    assert "白沙河村总结.txt" not in ask(library_page, question).text
    assert not (problem := app.tracebacks()), problem


def twenty_page_pdf(path: Path) -> Path:
    """A 20-page report printed by headless Chromium: two seed reports' sentences told of another town, in
    paragraphs of up to about 180 characters, three to a page, and on page 17 a sentence found nowhere else."""
    spec = importlib.util.spec_from_file_location("extraction", PROJECT_ROOT / "benchmarks" / "extraction.py")
    extraction = sys.modules.setdefault("extraction", importlib.util.module_from_spec(spec))  # for its dataclasses
    spec.loader.exec_module(extraction)
    text = "\n".join((PROJECT_ROOT / "seeds" / name).read_text(encoding="utf-8")
                     for name in (SOURCE, "000_8d1e42f9393d2f5c.txt"))
    text = text.replace("伊金霍洛", "柳溪").replace("音德尔", "柳溪")
    filler, paragraph = [], ""
    for sentence in re.findall(r"[^。\n]{10,}。?", text):
        if paragraph and len(paragraph) + len(sentence) > 180:
            filler.append(paragraph)
            paragraph = ""
        paragraph += sentence.strip()
    paragraphs = ["柳溪镇2023年政府工作报告", *filler[: 3 * PDF_PAGES - 1]]
    paragraphs.insert(1 + 3 * (PDF_ANSWER_PAGE - 1), PDF_ANSWER)  # the first paragraph of its page
    breaks = [1 + 3 * page for page in range(1, PDF_PAGES)]
    return extraction.chromium_pdf(paragraphs, path, page_breaks_before=breaks)


def test_a_pdf_added_in_the_page_is_cited_by_page_while_questions_go_on(library_page: WebDriver, library_app,
                                                                          tmp_path: Path, artifacts: Path) -> None:
    """A 20-page PDF: its answer cites page 17; questions asked through /ask during the update are answered
    as before it; the times from choosing the file to the update done and to the answer go to
    test-artifacts/upload-timing.json."""
    app, corpus = library_app
    pdf = twenty_page_pdf(tmp_path / "柳溪镇报告.pdf")
    assert len(pypdf.PdfReader(pdf).pages) == PDF_PAGES
    client = Client(app.url, verbose=False)
    reference = client.predict(QUESTION, api_name="/ask")
    during: list[dict] = []
    stop = threading.Event()

    def keep_asking() -> None:
        while not stop.is_set():
            during.append(client.predict(QUESTION, api_name="/ask"))

    asker = threading.Thread(target=keep_asking)
    started = time.monotonic()
    asker.start()
    try:
        said, _ = upload(library_page, pdf)
    finally:
        stop.set()
        asker.join()
    updated = time.monotonic()
    assert said.startswith("已添加：柳溪镇报告.pdf")
    reply = ask(library_page, PDF_QUESTION)
    answered = time.monotonic()
    assert "14座" in reply.find_element(By.CSS_SELECTOR, ".qa-short b").text
    summary = reply.find_element(By.CSS_SELECTOR, "details.qa-cite summary").text
    assert f"柳溪镇报告.pdf · 第{PDF_ANSWER_PAGE}页 · 第" in summary
    copy = reply.find_element(By.CSS_SELECTOR, "button.qa-copy").get_attribute("value")
    assert copy.endswith(f" 柳溪镇报告.pdf 第{PDF_ANSWER_PAGE}页")
    # the old engine answered while the update ran; a question that arrived after the swap but before the page
    # heard of it gets the new engine's answer, which now also weighs the new report
    after = client.predict(QUESTION, api_name="/ask")
    assert reference in during
    assert all(result in (reference, after) for result in during), [r for r in during if r not in (reference, after)]
    assert client.predict(PDF_QUESTION, api_name="/ask")["page"] == PDF_ANSWER_PAGE
    (artifacts / "upload-timing.json").write_text(json.dumps({
        "pages": PDF_PAGES, "pdf_bytes": pdf.stat().st_size, "upload_to_indexed_s": round(updated - started, 2),
        "upload_to_answer_s": round(answered - started, 2), "questions_answered_during_update": len(during),
        "load_average": os.getloadavg()}, indent=1), encoding="utf-8")
    assert not (problem := app.tracebacks()), problem
