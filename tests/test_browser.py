"""The chat page in real headless Chromium (Selenium, the system chromium and chromedriver), over the one
app process the app tests use: the model's loading state, a real answer with its citation, an unanswerable
question, an empty question, a follow-up understood from the chat and its answer copied, example questions
(made after the model loads), and questions holding HTML or markdown, which must be shown as text.

A screenshot of the answered follow-up goes to test-artifacts/ and, with QA_UPDATE_SCREENSHOT=1, to
docs/screenshot.png (the README's picture).
"""

from __future__ import annotations

import os
import re
import shutil
import tempfile
from collections.abc import Iterator
from pathlib import Path

import pytest
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
                  "--window-size=1280,1060")
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
    assert copied_text(page, button) == expected
    reply.find_element(By.CSS_SELECTOR, "details.qa-cite summary").click()
    follow_up = page.find_elements(By.CSS_SELECTOR, "#qa-chat .qa-question")[-1]
    page.execute_script("arguments[0].scrollIntoView({block: 'start'})", follow_up)
    screenshot = artifacts / "browser-follow-up.png"
    assert page.save_screenshot(str(screenshot))
    if os.environ.get("QA_UPDATE_SCREENSHOT") == "1":
        shutil.copyfile(screenshot, PROJECT_ROOT / "docs" / "screenshot.png")
    page.find_element(By.ID, "qa-clear").click()  # a new conversation: nothing to follow up
    WebDriverWait(page, 10).until(lambda d: not replies(d))
    assert not ask(page, "旅游综合收入有多少？").find_elements(By.CSS_SELECTOR, ".qa-understood")


def test_the_chat_s_own_clear_button_also_starts_a_new_conversation(page: WebDriver) -> None:
    ask(page, QUESTION)
    page.find_element(By.CSS_SELECTOR, "#qa-chat button[aria-label='Clear']").click()
    WebDriverWait(page, 10).until(lambda d: not replies(d))
    assert not ask(page, "旅游综合收入有多少？").find_elements(By.CSS_SELECTOR, ".qa-understood")


def test_an_unanswerable_question_is_said_plainly_with_related_passages(page: WebDriver) -> None:
    reply = ask(page, "宋家镇的镇长叫什么名字？")
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
