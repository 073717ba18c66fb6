"""The reference dashboard in a real headless Chromium against the real local stack: sign in, pair, unbind.

Chromium comes from the OS packages (`make browser-deps`; .ci/run installs it), driven by Playwright's Python
package with `executable_path` (never `playwright install`, which would download a browser of its own). Where
/usr/bin/chromium is missing the test is skipped with that reason. Screenshots of each step land in
out/screenshots/ (git-ignored); docs/dashboard.png in the README is a copy of the "paired" one.
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
import requests

from tests.fakes.openclaw_server import FakeOpenClaw
from tests.fakes.telegram_server import FakeTelegram
from tests.inbound_support import BOT_TOKEN, SECRET, private_update
from tests.localstack import ROOT, LocalStack

CHROMIUM = Path("/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking", "--disable-component-update",
    "--disable-sync", "--no-first-run",
]
SHOTS = ROOT / "out" / "screenshots"
ADMIN = "e2e-admin-token-dashboard-0123456789"
KEY = "e2e-dashboard-tenant-key-0123456789abcdef"
CHAT = 5123456001
WAIT_MS = 10_000


@pytest.fixture(scope="module")
def browser() -> Iterator[Any]:
    if not CHROMIUM.exists():
        pytest.skip(f"SKIPPED THE DASHBOARD BROWSER TEST: {CHROMIUM} is missing (run `make browser-deps` as root)")
    sync_api = pytest.importorskip("playwright.sync_api", reason="playwright is missing: run `make venv`")
    with sync_api.sync_playwright() as playwright:
        chromium = playwright.chromium.launch(executable_path=str(CHROMIUM), args=CHROMIUM_ARGS, headless=True)
        try:
            yield chromium
        finally:
            chromium.close()


@pytest.fixture(scope="module")
def stack() -> Iterator[tuple[LocalStack, FakeTelegram, FakeOpenClaw]]:
    with FakeTelegram() as tg, FakeOpenClaw() as openclaw:
        env = {
            "MUX_ADMIN_TOKEN": ADMIN,
            "TELEGRAM_BOT_TOKEN": BOT_TOKEN,
            "MUX_TELEGRAM_WEBHOOK_SECRET": SECRET,
            "MUX_TELEGRAM_API_BASE_URL": tg.url,
            "MUX_TELEGRAM_BOT_USERNAME": "MuxAssistBot",
        }
        with LocalStack(env) as running:
            yield running, tg, openclaw


def _bindings(stack: LocalStack) -> list[dict[str, Any]]:
    answer = requests.get(stack.url + "/v1/pairings", headers={"Authorization": f"Bearer {KEY}"}, timeout=10)
    assert answer.status_code == 200, answer.text
    items: list[dict[str, Any]] = answer.json()["items"]
    return items


def test_sign_in_pair_a_chat_watch_it_appear_and_unbind_it(
    browser: Any, stack: tuple[LocalStack, FakeTelegram, FakeOpenClaw]
) -> None:
    from playwright.sync_api import expect

    mux, _, openclaw = stack
    boot = requests.post(
        mux.url + "/v1/admin/tenants/bootstrap",
        json={"tenantId": "acme", "apiKey": KEY, "inboundUrl": openclaw.url, "agents": ["helper"]},
        headers={"Authorization": f"Bearer {ADMIN}"},
        timeout=10,
    )
    assert boot.status_code == 200, boot.text
    SHOTS.mkdir(parents=True, exist_ok=True)

    context = browser.new_context(viewport={"width": 1100, "height": 900})
    page = context.new_page()
    page.set_default_timeout(WAIT_MS)
    problems: list[str] = []  # console errors include CSP violations: the page must cause none
    page.on("console", lambda msg: problems.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: problems.append(str(exc)))
    try:
        page.goto(mux.url + "/dashboard")
        page.get_by_label("Tenant key").fill("not-the-key-0123456789abcdef")
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#signin-error")).to_have_text("That tenant key is not valid.")
        # The browser logs the refused sign-in's 401 itself; that one is expected.
        problems[:] = [p for p in problems if "status of 401" not in p]

        # 1. Sign in: the key is kept in this tab's sessionStorage only.
        page.get_by_label("Tenant key").fill(KEY)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#bindings-empty")).to_be_visible()
        assert page.evaluate("[sessionStorage.length, localStorage.length, document.cookie]") == [1, 0, ""]
        page.screenshot(path=str(SHOTS / "1-signed-in.png"), full_page=True)

        # 2. Pair: the page shows the deep link, the start command and the QR code (an SVG as a data: image).
        page.get_by_label("Channel", exact=True).select_option("telegram")
        sessions = page.get_by_label("Session", exact=True).locator("option")
        expect(sessions).to_have_text(["The chat's own session (default)", "Agent helper (the chat's own session)"])
        page.get_by_role("button", name="Pair").click()
        command = page.locator("#pair-command")
        expect(command).to_have_text(re.compile(r"^/start mpt_[A-Za-z0-9_-]{32}$"))
        token = (command.text_content() or "").removeprefix("/start ")
        expect(page.locator("#pair-link")).to_have_attribute("href", f"https://t.me/MuxAssistBot?start={token}")
        expect(page.locator("#pair-status")).to_have_text("waiting for the chat…")
        expect(page.locator("#pair-qr")).to_be_visible()
        assert (page.locator("#pair-qr").get_attribute("src") or "").startswith("data:image/svg+xml;base64,")
        assert page.evaluate("document.getElementById('pair-qr').naturalWidth") > 0  # the SVG decoded
        page.screenshot(path=str(SHOTS / "2-pairing-link.png"), full_page=True)

        # 3. The user sends /start <token> in the chat: the status turns to paired and the chat is listed.
        update = private_update(CHAT, f"/start {token}")
        webhook = requests.post(
            mux.url + "/v1/webhooks/telegram",
            json=update,
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            timeout=10,
        )
        assert webhook.status_code == 200, webhook.text
        expect(page.locator("#pair-status")).to_have_attribute("data-status", "claimed")
        user = update["message"]["from"]
        name = f"{user['first_name']} {user.get('last_name', '')}".strip()
        expect(page.locator("#pair-status")).to_have_text(f"paired: {name}")  # the status answer's display fields
        route = f"telegram:default:chat:{CHAT}"
        row = page.locator("#bindings-body tr", has_text=route)
        expect(row).to_have_count(1)
        expect(row.locator("td").first).to_have_text(name)
        [binding] = _bindings(mux)
        assert binding["routeKey"] == route
        expect(row).to_have_attribute("data-binding-id", binding["bindingId"])
        page.screenshot(path=str(SHOTS / "3-paired.png"), full_page=True)

        # 4. Unbind, after the confirmation dialog: the row goes, and so does the binding.
        dialogs: list[str] = []

        def accept(dialog: Any) -> None:
            dialogs.append(dialog.message)
            dialog.accept()

        page.once("dialog", accept)
        row.get_by_role("button", name="Unbind").click()
        expect(page.locator("#bindings-empty")).to_be_visible()
        assert len(dialogs) == 1 and dialogs[0].startswith("Unbind ")
        assert _bindings(mux) == []
        page.screenshot(path=str(SHOTS / "4-unbound.png"), full_page=True)

        # A link can be cancelled before anyone uses it.
        page.get_by_role("button", name="Pair").click()
        expect(page.locator("#pair-status")).to_have_text("waiting for the chat…")
        page.get_by_role("button", name="Cancel this link").click()
        expect(page.locator("#pair-status")).to_have_attribute("data-status", "revoked")
        expect(page.get_by_role("button", name="Cancel this link")).to_be_hidden()

        # Against a mux that predates tokenId (and the QR), the page finds the new chat in the bindings list.
        def as_an_older_mux(route: Any) -> None:
            response = route.fetch()
            body = {k: v for k, v in response.json().items() if k not in ("tokenId", "qrSvg")}
            route.fulfill(response=response, json=body)

        page.route(re.compile(r"/v1/pairings/token\?"), as_an_older_mux)
        page.get_by_role("button", name="Pair").click()
        expect(page.locator("#pair-status")).to_have_text("waiting for the chat…")
        expect(page.locator("#pair-qr")).to_be_hidden()
        token = (command.text_content() or "").removeprefix("/start ")
        webhook = requests.post(
            mux.url + "/v1/webhooks/telegram",
            json=private_update(CHAT + 1, f"/start {token}"),
            headers={"X-Telegram-Bot-Api-Secret-Token": SECRET},
            timeout=10,
        )
        assert webhook.status_code == 200, webhook.text
        expect(page.locator("#pair-status")).to_have_attribute("data-status", "claimed")
        expect(page.locator("#bindings-body tr", has_text=f"telegram:default:chat:{CHAT + 1}")).to_have_count(1)
        page.unroute(re.compile(r"/v1/pairings/token\?"))

        # Sign out forgets the key.
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_label("Tenant key")).to_be_visible()
        assert page.evaluate("sessionStorage.length") == 0
        assert problems == []
    finally:
        context.close()
