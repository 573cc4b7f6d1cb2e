"""The widget, the demo page and the playground in a real browser: Debian's chromium, driven by
Playwright, against the real app served by uvicorn on loopback, and host pages on other
loopback origins (one allowed by CORS, one not)."""

from __future__ import annotations

import http.server
import os
import tempfile
import threading
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from services import free_port

pytestmark = [pytest.mark.integration, pytest.mark.browser]

CHROMIUM = Path("/usr/bin/chromium")
ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
STAFF_TOKEN = "browser-staff-token-0123456789"
# The README's screenshots: `SCREENSHOT_DIR=docs/screenshots pytest tests/test_browser.py`
# refreshes them; a normal run writes to a temporary folder and leaves the tree clean.
SCREENSHOTS = Path(
    os.environ.get("SCREENSHOT_DIR") or tempfile.mkdtemp(prefix="advisor-screenshots-")
)



@pytest.fixture(scope="module")
def host_ports() -> dict[str, int]:
    return {"allowed": free_port(), "refused": free_port()}


@pytest.fixture(scope="module")
def advisor(
    indexed_dir: Path, tmp_path_factory: pytest.TempPathFactory, host_ports: dict[str, int]
) -> Iterator[str]:
    import uvicorn

    from server.app import create_app
    from server.settings import Settings

    port = free_port()
    settings = Settings(
        data_dir=indexed_dir,
        sessions_path=tmp_path_factory.mktemp("browser") / "sessions.sqlite3",
        environment="test",
        rate_limit="",
        staff_token=STAFF_TOKEN,
        allowed_origins=[f"http://127.0.0.1:{host_ports['allowed']}"],
    )
    server = uvicorn.Server(
        uvicorn.Config(create_app(settings), host="127.0.0.1", port=port, log_level="warning")
    )
    thread = threading.Thread(target=server.run, daemon=True)
    thread.start()
    deadline = time.time() + 300  # a cold start trains the router and the curated ranking
    while not server.started:
        if time.time() > deadline or not thread.is_alive():
            raise RuntimeError("the advisor did not start")
        time.sleep(0.1)
    yield f"http://127.0.0.1:{port}"
    server.should_exit = True
    thread.join(timeout=10)


def _host_page(advisor: str, extra_head: str = "") -> bytes:
    return f"""<!doctype html><html lang="de"><head><meta charset="utf-8">
<title>Kunde</title>{extra_head}</head><body><h1>Eine Kundenseite</h1>
<p>Text der Kundenseite.</p>
<script src="{advisor}/widget.js" data-api="{advisor}" data-title="IT-Berater" data-lang="de"
 data-accent="#0a6" data-privacy-url="/datenschutz" defer></script></body></html>""".encode()


@pytest.fixture(scope="module")
def hosts(advisor: str, host_ports: dict[str, int]) -> Iterator[dict[str, str]]:
    """Two customer pages on other loopback origins, under the CSP the README documents."""
    csp = (
        f"default-src 'self'; script-src 'self' {advisor}; connect-src 'self' {advisor}; "
        "style-src 'self'; img-src 'self' data:"
    )
    hostile = (
        "<style>* { font-family: 'Comic Sans MS' !important; color: red !important; } "
        "button { background: black !important; padding: 40px !important; } "
        "div { border: 5px solid lime !important; }</style>"
    )

    class Handler(http.server.BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            hostile_page = self.path.startswith("/hostile")
            body = _host_page(advisor, hostile if hostile_page else "")
            self.send_response(200)
            self.send_header("Content-Type", "text/html; charset=utf-8")
            if not hostile_page:  # the hostile page needs its inline style
                self.send_header("Content-Security-Policy", csp)
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *args: Any) -> None:
            pass

    servers = []
    urls = {}
    for name, port in host_ports.items():
        server = http.server.ThreadingHTTPServer(("127.0.0.1", port), Handler)
        threading.Thread(target=server.serve_forever, daemon=True).start()
        servers.append(server)
        urls[name] = f"http://127.0.0.1:{port}"
    yield urls
    for server in servers:
        server.shutdown()


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip("Debian's chromium is not installed (make browser)")
    from playwright.sync_api import sync_playwright

    with sync_playwright() as p:
        instance = p.chromium.launch(executable_path=str(CHROMIUM), headless=True, args=ARGS)
        yield instance
        instance.close()


@pytest.fixture
def page(browser: Any) -> Iterator[Any]:
    context = browser.new_context(viewport={"width": 1280, "height": 800}, locale="de-DE")
    page = context.new_page()
    page.problems = []  # type: ignore[attr-defined]
    page.on(
        "console",
        lambda m: page.problems.append(m.text) if m.type == "error" else None,  # type: ignore[attr-defined]
    )
    page.on("pageerror", lambda e: page.problems.append(str(e)))  # type: ignore[attr-defined]
    yield page
    context.close()


def _open(page: Any) -> None:
    page.get_by_role("button", name="IT-Berater öffnen").click()
    page.wait_for_selector("textarea", state="visible")


def _ask(page: Any, text: str) -> Any:
    answers = page.locator("[role=log] .msg.bot")
    before = answers.count()
    box = page.locator("textarea")
    box.fill(text)
    box.press("Enter")
    # the finished answer moves into the live log
    answers.nth(before).wait_for(timeout=60_000)
    return answers.nth(before)


def test_demo_page_under_its_strict_csp_answers_with_citations(advisor: str, page: Any) -> None:
    page.goto(advisor + "/")
    assert page.evaluate("document.cookie") == ""
    _open(page)
    answer = _ask(page, "Was kostet ein Senior-Techniker im Jahr?")
    assert "70.000" in answer.inner_text()
    cite = answer.locator("button.cite").first
    cite.click()
    card = page.locator("[role=log] .card").first
    card.wait_for()
    assert card.locator("mark").count() >= 1, "the quoted span is marked in its passage"
    link = card.get_by_role("link", name="Quelle öffnen")
    href = link.get_attribute("href")
    assert href.startswith(advisor + "/sources/") and "passage=" in href
    assert not [p for p in page.problems if "Content Security Policy" in p], page.problems
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    page.screenshot(path=str(SCREENSHOTS / "widget-desktop.png"))
    source = page.context.new_page()
    source.goto(href)
    assert source.locator("#passage mark").count() == 1
    source.close()


def test_a_follow_up_button_and_the_keyboard_alone(advisor: str, page: Any) -> None:
    page.goto(advisor + "/")
    page.keyboard.press("Tab")
    for _ in range(40):  # tab through the host page to the launcher
        if page.evaluate(
            "() => { const a = document.activeElement;"
            " return !!(a && a.shadowRoot && a.shadowRoot.activeElement"
            " && a.shadowRoot.activeElement.classList.contains('launcher')); }"
        ):
            break
        page.keyboard.press("Tab")
    page.keyboard.press("Enter")
    page.wait_for_selector("textarea", state="visible")
    answers = page.locator("[role=log] .msg.bot")
    greeting = answers.count()
    page.keyboard.type("Was ist ein Key-User?")
    page.keyboard.press("Enter")
    answers.nth(greeting).wait_for(timeout=60_000)
    chips = page.locator(".chips .chip")
    chips.first.wait_for()
    chips.first.click()  # a follow-up button sends its question
    answers.nth(greeting + 1).wait_for(timeout=60_000)
    page.keyboard.press("Escape")
    assert page.locator(".panel").is_hidden()
    focused = page.evaluate(
        "() => { const a = document.activeElement; return a && a.shadowRoot"
        " && a.shadowRoot.activeElement && a.shadowRoot.activeElement.className; }"
    )
    assert "launcher" in str(focused), "focus returns to the launcher"


def test_an_allowed_host_page_on_another_origin_works(hosts: dict[str, str], page: Any) -> None:
    page.goto(hosts["allowed"] + "/")
    _open(page)
    answer = _ask(page, "Welche Risiken hat IT-Outsourcing?")
    assert answer.locator("button.cite").count() >= 1
    assert not [p for p in page.problems if "Content Security Policy" in p], page.problems


def test_a_host_page_on_a_refused_origin_gets_the_german_error(
    hosts: dict[str, str], page: Any
) -> None:
    page.goto(hosts["refused"] + "/")
    _open(page)
    page.locator("textarea").fill("Was ist ein Key-User?")
    page.locator("textarea").press("Enter")
    error = page.locator(".err")
    error.wait_for(timeout=30_000)
    assert "nicht erreichbar" in error.inner_text()
    assert page.locator("textarea").input_value() == "Was ist ein Key-User?"


def test_a_hostile_host_stylesheet_does_not_change_the_widget(
    hosts: dict[str, str], advisor: str, page: Any
) -> None:
    def styles(url: str) -> dict[str, str]:
        page.goto(url)
        _open(page)
        return page.evaluate(
            "() => { const root = [...document.querySelectorAll('*')].find(e => e.shadowRoot)"
            ".shadowRoot; const out = {}; for (const sel of ['.launcher', '.panel', 'textarea',"
            " '.send']) { const s = getComputedStyle(root.querySelector(sel)); out[sel] ="
            " [s.fontFamily, s.color, s.backgroundColor, s.padding, s.borderTopWidth].join('|'); }"
            " return out; }"
        )

    hostile = styles(hosts["allowed"] + "/hostile")
    # the hostile rules do apply to the host page itself
    assert page.evaluate("getComputedStyle(document.querySelector('h1')).color") == "rgb(255, 0, 0)"
    assert hostile == styles(hosts["allowed"] + "/")


def test_answer_and_citation_text_render_as_text_never_as_markup(advisor: str, page: Any) -> None:
    payload = '<img src=x onerror="window.pwned=1"><script>window.pwned=2</script>'
    events = (
        'event: meta\ndata: {"session_id": "' + "a" * 32 + '", "intent": "fact", "outcome":'
        ' "answer", "language": "de", "profile": {}, "recommendation": null, "asked": [],'
        ' "follow_up": ["' + payload.replace('"', '\\"') + '"]}\n\n'
        'event: delta\ndata: {"text": "Antwort ' + payload.replace('"', '\\"') + ' [1]"}\n\n'
        'event: citations\ndata: {"citations": [{"n": 1, "doc_id": "x", "passage_id": "",'
        ' "title": "T", "heading": "H", "quote": "Q", "quotes": ["Q"], "text": "Q '
        + payload.replace('"', '\\"')
        + '"}]}\n\n'
        'event: done\ndata: {"session_id": "' + "a" * 32 + '"}\n\n'
    )
    page.route(
        "**/api/chat/stream",
        lambda route: route.fulfill(
            status=200, body=events, headers={"Content-Type": "text/event-stream"}
        ),
    )
    page.goto(advisor + "/")
    _open(page)
    answer = _ask(page, "test")
    assert "<script>" in answer.inner_text()
    answer.locator("button.cite").first.click()
    page.locator("[role=log] .card").first.wait_for()
    assert page.evaluate("window.pwned") is None
    assert page.locator("img").count() == 0


def test_nothing_is_stored_before_the_first_message(advisor: str, page: Any) -> None:
    page.goto(advisor + "/")
    _open(page)
    storage = "() => [sessionStorage.length, localStorage.length, document.cookie]"
    assert page.evaluate(storage) == [0, 0, ""]
    _ask(page, "Was ist Outtasking?")
    assert page.evaluate("sessionStorage.getItem('itadvisor.session')")
    assert page.evaluate("[localStorage.length, document.cookie]") == [0, ""]
    assert page.context.cookies() == []


def test_rate_limit_and_offline_messages_are_german_and_keep_the_text(
    advisor: str, page: Any
) -> None:
    page.route(
        "**/api/chat/stream",
        lambda route: route.fulfill(
            status=429,
            body='{"detail": "too many"}',
            headers={"Content-Type": "application/json", "Retry-After": "17"},
        ),
    )
    page.goto(advisor + "/")
    _open(page)
    page.locator("textarea").fill("Was kostet ein Ausfall?")
    page.locator("textarea").press("Enter")
    page.locator(".err").last.wait_for()
    assert "Bitte kurz warten" in page.locator(".err").last.inner_text()
    assert "17 Sekunden" in page.locator(".err").last.inner_text()
    assert page.locator("textarea").input_value() == "Was kostet ein Ausfall?"
    page.unroute("**/api/chat/stream")
    page.route("**/api/chat**", lambda route: route.abort())
    page.locator("textarea").press("Enter")
    page.wait_for_function(
        "() => [...document.querySelectorAll('*')].some(e => e.shadowRoot &&"
        " e.shadowRoot.textContent.includes('nicht erreichbar'))",
        timeout=30_000,
    )
    assert page.locator("textarea").input_value() == "Was kostet ein Ausfall?"


def test_a_phone_gets_a_full_screen_panel(advisor: str, browser: Any) -> None:
    context = browser.new_context(
        viewport={"width": 390, "height": 844}, is_mobile=True, has_touch=True
    )
    page = context.new_page()
    page.goto(advisor + "/")
    _open(page)
    box = page.locator(".panel").bounding_box()
    assert box["width"] >= 388 and box["height"] >= 800
    assert (
        page.evaluate(
            "() => getComputedStyle([...document.querySelectorAll('*')].find(e => e.shadowRoot)"
            ".shadowRoot.querySelector('textarea')).fontSize"
        )
        == "16px"
    )
    _ask(page, "Ab wann lohnt sich ein externer Dienstleister?")
    page.screenshot(path=str(SCREENSHOTS / "widget-phone.png"))
    context.close()


def test_the_playground_asks_stores_feedback_and_edits_an_answer_live(
    advisor: str, page: Any
) -> None:
    import httpx

    staff = {"Authorization": f"Bearer {STAFF_TOKEN}"}
    page.goto(advisor + "/playground")
    page.locator("#login-token").fill("wrong-token-wrong-token")
    page.locator("#login-name").fill("Anna")
    page.locator("#login-submit").click()
    page.get_by_text("Token ungültig").wait_for()
    page.locator("#login-token").fill(STAFF_TOKEN)
    page.locator("#login-submit").click()
    page.locator("#ask-input").wait_for()
    page.locator("#ask-input").fill("Was kostet ein Senior-Techniker im Jahr?")
    page.locator("#ask-submit").click()
    turn = page.locator("article.turn").first
    turn.wait_for(timeout=60_000)
    assert "70.000" in turn.inner_text()
    # the shared renderer's citation cards: one opens with its quote marked, a click closes it
    cite = turn.locator("button.cite").first
    cite.click()
    card = turn.locator(".card").first
    card.wait_for()
    assert card.locator("mark").count() >= 1
    assert cite.get_attribute("aria-expanded") == "true"
    cite.click()
    assert turn.locator(".card").count() == 0 and cite.get_attribute("aria-expanded") == "false"
    turn.get_by_role("button", name="Gute Antwort").click()
    turn.get_by_placeholder("Grund (optional) …").fill("führt mit der Zahl")
    turn.get_by_role("button", name="Feedback senden").click()
    turn.get_by_text("Gespeichert").wait_for()
    exported = httpx.get(advisor + "/api/staff/feedback.csv", headers=staff).text
    assert "führt mit der Zahl" in exported and "Anna" in exported
    page.screenshot(path=str(SCREENSHOTS / "playground.png"), full_page=False)

    # edit a curated answer in the form: the new phrasing is answered at once
    entry_id = "w1-key-user"
    phrasing = "Wer tauscht bei uns eigentlich die Druckerpatrone, wenn kein Admin da ist?"
    page.get_by_role("link", name="Antworten pflegen").or_(
        page.get_by_role("button", name="Antworten pflegen")
    ).first.click()
    page.locator("#ed-search").fill(entry_id)
    page.locator("#ed-list").get_by_text(entry_id, exact=True).first.click()
    questions = page.get_by_label("Beispielfragen")
    questions.fill(questions.input_value() + "\n" + phrasing)
    with page.expect_response(
        lambda r: r.url.endswith(f"/api/staff/answers/{entry_id}") and r.request.method == "PUT",
        timeout=60_000,
    ) as saved:
        page.get_by_role("button", name="Speichern").click()
    assert saved.value.status == 200, saved.value.text()
    asked = httpx.post(
        advisor + "/api/staff/ask", json={"message": phrasing}, headers=staff, timeout=60
    ).json()
    assert asked["trace"].get("entry") == entry_id
    listed = httpx.get(advisor + "/api/staff/answers", headers=staff, timeout=60).json()
    edited = next(a for a in listed["answers"] if a["id"] == entry_id)
    assert edited["edited_by"] == "Anna" and phrasing in edited["questions"]


def test_the_api_docs_render_from_local_files_under_the_strict_csp(
    advisor: str, page: Any
) -> None:
    """Swagger UI at /docs: its files come from the advisor, it starts without an inline
    script, it breaks no CSP directive, and "Try it out" reaches the API."""
    requested: list[str] = []
    page.on("request", lambda r: requested.append(r.url))
    response = page.goto(advisor + "/docs")
    assert "unsafe-inline" not in response.headers["content-security-policy"]
    page.locator(".swagger-ui .opblock").first.wait_for(timeout=30_000)
    assert page.locator(".swagger-ui .opblock").count() >= 15
    assert "IT-Outsourcing-Berater" in page.locator(".swagger-ui .info .title").inner_text()
    search = page.locator("#operations-search-search_api_search_get")
    search.locator(".opblock-summary").click()
    search.get_by_role("button", name="Try it out").click()
    search.locator("input[placeholder='q']").fill("Was kostet ein IT-Ausfall?")
    search.get_by_role("button", name="Execute").click()
    status = search.locator(".live-responses-table tbody .response-col_status").first
    status.wait_for(timeout=30_000)
    assert status.inner_text().strip() == "200"
    page.screenshot(path=str(SCREENSHOTS / "api-docs.png"), full_page=False)
    assert not page.problems, page.problems  # a CSP violation is a console error
    others = [u for u in requested if not u.startswith((advisor, "data:"))]
    assert others == [], "no CDN, no other origin"
