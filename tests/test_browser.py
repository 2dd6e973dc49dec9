"""The demo page in a real headless Chromium: type a sentence, press the button, see the entities.

The server runs uvicorn in a background thread on a free port, over two rule-based Taggers
(see ``conftest.rule_tagger``) whose entities are known exactly: model A knows PER, LOC
and ORG, model B only PER and LOC.
"""

from __future__ import annotations

import contextlib
import os
import socket
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from conftest import RULE_LABELS, rule_tagger
from multinerd.apps.server import create_app

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
    "--disable-background-networking", "--disable-component-update", "--disable-sync",
]  # fmt: skip
#: Set to a path to keep a screenshot of the page with results (used for docs/demo.png).
SCREENSHOT_ENV = "MULTINERD_DEMO_SCREENSHOT"

pytestmark = [
    pytest.mark.browser,
    pytest.mark.slow,
    pytest.mark.skipif(not CHROMIUM.exists(), reason="Chromium not installed at /usr/bin/chromium "
                       "(apt-get install chromium chromium-driver)"),
]


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


@contextlib.contextmanager
def _serving(app) -> Iterator[str]:
    import uvicorn

    port = _free_port()
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.monotonic() + 30
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            pytest.fail("uvicorn did not start")
        time.sleep(0.05)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


@pytest.fixture(scope="module")
def base_url() -> Iterator[str]:
    with _serving(create_app({"A": rule_tagger("A"), "B": rule_tagger("B", RULE_LABELS[:5])})) as url:
        yield url


@pytest.fixture(scope="module")
def keyed_url() -> Iterator[str]:
    with _serving(create_app({"A": rule_tagger("A")}, api_key="s3cret")) as url:
        yield url


@pytest.fixture(scope="module")
def page(base_url: str):
    sync_api = pytest.importorskip("playwright.sync_api", reason="the playwright package is not installed")
    with sync_api.sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        page = browser.new_page(viewport={"width": 1200, "height": 900})
        page.set_default_timeout(20_000)
        yield page
        browser.close()


def _entities(page, model: str) -> list[tuple[str, str]]:
    marks = page.locator(f'article[data-model="{model}"] mark.entity')
    return [(marks.nth(i).locator(".entity-text").inner_text(), marks.nth(i).get_attribute("data-type"))
            for i in range(marks.count())]


def test_typing_a_sentence_highlights_entities_by_type_for_both_models(page, base_url: str) -> None:
    errors: list[str] = []
    page.on("pageerror", lambda error: errors.append(str(error)))
    page.goto(base_url + "/")
    page.wait_for_selector("#model-options input")
    assert page.locator("#model-options input:checked").count() == 2  # A and B side by side
    page.get_by_label("Text").fill("Angela Merkel met Google people in Rome.")
    page.get_by_role("button", name="Find entities").click()
    page.wait_for_selector('article[data-model="B"] mark.entity')
    assert _entities(page, "A") == [("Angela Merkel", "PER"), ("Google", "ORG"), ("Rome", "LOC")]
    assert _entities(page, "B") == [("Angela Merkel", "PER"), ("Rome", "LOC")]
    # Same type, same colour; different types, different colours.
    colour = {t: page.locator(f'article[data-model="A"] mark[data-type="{t}"]').first.evaluate(
        "node => getComputedStyle(node).backgroundColor") for t in ("PER", "ORG", "LOC")}
    assert len(set(colour.values())) == 3
    legend = page.locator("#legend li")
    assert [legend.nth(i).get_attribute("data-type") for i in range(legend.count())] == ["PER", "LOC", "ORG"]
    assert "Entities found by model A: 3, B: 2" in page.locator("#status").inner_text()
    assert errors == []
    if os.environ.get(SCREENSHOT_ENV):
        page.screenshot(path=os.environ[SCREENSHOT_ENV], full_page=True)


def test_one_model_only_and_an_error_is_shown(page, base_url: str) -> None:
    page.goto(base_url + "/")
    page.wait_for_selector("#model-options input")
    page.locator(".model-option", has_text="A").locator("span").click()  # untick A
    page.get_by_label("Text").fill("Paris")
    page.get_by_role("button", name="Find entities").click()
    page.wait_for_selector('article[data-model="B"]')
    assert page.locator("article.result").count() == 1
    assert _entities(page, "B") == [("Paris", "LOC")]
    page.get_by_label("Text").fill("x" * 100_001)  # over the server's default text limit
    page.get_by_role("button", name="Find entities").click()
    page.wait_for_selector("#status.error")
    assert "413" in page.locator("#status").inner_text()


def test_the_page_asks_for_the_key_when_the_server_wants_one(page, keyed_url: str) -> None:
    page.goto(keyed_url + "/")
    page.wait_for_selector("#key-form:not([hidden])")
    assert "needs an API key" in page.locator("#status").inner_text()
    page.get_by_label("API key").fill("wrong")
    page.get_by_role("button", name="Use key").click()
    page.wait_for_selector("#status.error >> text=401")
    assert page.locator("#key-form").is_visible()
    page.get_by_label("API key").fill("s3cret")
    page.get_by_role("button", name="Use key").click()
    page.wait_for_selector("#model-options input")
    assert page.locator("#key-form").is_hidden()
    page.get_by_label("Text").fill("Angela Merkel in Rome.")
    page.get_by_role("button", name="Find entities").click()
    page.wait_for_selector('article[data-model="A"] mark.entity')
    assert _entities(page, "A") == [("Angela Merkel", "PER"), ("Rome", "LOC")]
