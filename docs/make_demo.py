"""Regenerate ``docs/demo.png``: the demo page over the quickstart's real A and B models.

    .venv/bin/python docs/make_demo.py runs/quickstart      # after make quickstart; needs Chromium

It serves ``RUN/A`` and ``RUN/B`` on a free loopback port, types one sentence into the page in
headless Chromium (``/usr/bin/chromium``, through Playwright), and saves the page with both
models' entities. The entities shown are what the models predict, mistakes included.
"""

from __future__ import annotations

import socket
import sys
import threading
import time
from pathlib import Path

SENTENCE = "During the Olympic Games in Paris, Marie Curie caught influenza after eating a croissant with her dog."
OUTPUT = Path(__file__).resolve().parent / "demo.png"


def main(run: Path) -> None:
    import uvicorn
    from playwright.sync_api import sync_playwright

    from multinerd.apps.server import create_app
    from multinerd.model.tagger import Tagger

    app = create_app({name: Tagger.from_pretrained(run / name) for name in ("A", "B")})
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    server = uvicorn.Server(uvicorn.Config(app, host="127.0.0.1", port=port, log_level="warning"))
    threading.Thread(target=server.run, daemon=True).start()
    while not server.started:
        time.sleep(0.05)
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path="/usr/bin/chromium", args=["--no-sandbox"])
        page = browser.new_page(viewport={"width": 1100, "height": 800})
        page.goto(f"http://127.0.0.1:{port}/")
        page.wait_for_selector("#model-options input")
        page.get_by_label("Text").fill(SENTENCE)
        page.get_by_role("button", name="Find entities").click()
        page.wait_for_selector('article[data-model="B"]')
        page.screenshot(path=str(OUTPUT), full_page=True)
        browser.close()
    server.should_exit = True
    print(f"wrote {OUTPUT}")


if __name__ == "__main__":
    main(Path(sys.argv[1] if len(sys.argv) > 1 else "runs/quickstart"))
