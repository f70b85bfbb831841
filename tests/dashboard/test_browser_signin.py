"""Dashboard sign-in in real Chromium against a real ``vigil serve`` with API auth required.

Without a session the dashboard shows the sign-in form (no page loads data); a wrong token is refused
with the API's message; a viewer token signs in (HttpOnly cookie: page scripts cannot read it), the
overview loads and the live feed connects on the cookie; editor-only controls are hidden for viewers;
revoking the token brings the form back; signing out clears the session.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from playwright.sync_api import Browser, expect

from contracts.access import Role
from storage.postgres.store import PostgresMetadataStore
from tests.dashboard.test_browser_pages import _open, browser  # noqa: F401 - the browser fixture
from tests.pg import throwaway_database
from tests.vigil_process import VigilProcess, start_server


@pytest.fixture(scope="module")
def secured(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[VigilProcess, PostgresMetadataStore]]:
    with throwaway_database("vigil_signin") as url:
        proc = start_server(Path(tmp_path_factory.mktemp("signin")), {"VIGIL_API_AUTH": "required",
                                                                      "VIGIL_POSTGRES_URL": url,
                                                                      "VIGIL_HOST_METRICS": "off"})
        yield proc, PostgresMetadataStore(url)
        proc.stop()


def test_sign_in_with_a_token(secured: tuple[VigilProcess, PostgresMetadataStore], browser: Browser,  # noqa: F811
                              tmp_path: Path) -> None:
    proc, store = secured
    viewer = store.tokens.create("dash-viewer", Role.VIEWER)
    w = _open(browser)
    page = w.page
    try:
        page.goto(f"{proc.api}/#/")
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        page.get_by_label("API token").fill("vgl_wrongwrongwrongwrong")
        page.get_by_role("button", name="Sign in").click()
        expect(page.get_by_role("alert")).to_contain_text("invalid or revoked token")
        page.screenshot(path=str(tmp_path / "signin.png"))
        w.problems.clear()  # the refused sign-in is a 401, which Chromium logs as a failed resource
        page.get_by_label("API token").fill(viewer.token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#session")).to_contain_text("dash-viewer (viewer)")
        expect(page.locator("#view h1")).to_be_visible()
        assert page.evaluate("document.cookie") == ""  # HttpOnly: not readable by scripts
        assert page.evaluate("document.body.dataset.role") == "viewer"
        page.evaluate("""() => { const b = document.createElement('button'); b.id = 'probe';
                                 b.dataset.needs = 'editor'; b.textContent = 'x'; document.body.append(b); }""")
        expect(page.locator("#probe")).to_be_hidden()
        expect(page.locator("#live-badge")).to_have_text("Live: live")  # /ws on the cookie
        w.assert_clean()
        store.tokens.revoke("dash-viewer")
        page.reload()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
        editor = store.tokens.create("dash-editor", Role.EDITOR)
        page.get_by_label("API token").fill(editor.token)
        page.get_by_role("button", name="Sign in").click()
        expect(page.locator("#session")).to_contain_text("dash-editor (editor)")
        page.get_by_role("button", name="Sign out").click()
        expect(page.get_by_role("heading", name="Sign in")).to_be_visible()
    finally:
        page.context.close()
