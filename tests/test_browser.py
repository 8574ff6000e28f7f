"""A real browser: staff set SESSION_EXPIRE_SECONDS for one host; only its sessions expire.

The live server runs in a thread (pytest-django's ``live_server``) and Playwright's sync API in
another, away from Django's async-safety check (DESIGN.md, "Traps"). Debian's Chromium is used:
no browser download.
"""

from __future__ import annotations

import os
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import django.contrib.admin
import pytest

from tests.conftest import require_server

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]

CHROMIUM = os.environ.get("REQUEST_SETTINGS_CHROMIUM", "/usr/bin/chromium")
ARTIFACTS = Path(__file__).resolve().parent.parent / "test-artifacts"
ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    # Chromium resolves *.localhost to loopback itself; say so anyway, whatever the resolver does.
    "--host-resolver-rules=MAP *.localhost 127.0.0.1",
]
SHORT = 60  # seconds a session on a.localhost may live once the override is set (the lowest accepted)
PASSWORD = "browser-pw"


@pytest.fixture
def sync_playwright():
    require_server("Chromium", os.access(CHROMIUM, os.X_OK))
    try:
        from playwright.sync_api import sync_playwright
    except ImportError:
        require_server("Playwright's Python package", False)
    return sync_playwright


def age_sessions(seconds: int) -> None:
    """Move the start of every session (django-session-timeout's stamp) back by ``seconds``."""
    from django.contrib.sessions.backends.db import SessionStore
    from django.contrib.sessions.models import Session
    from django.db import connections
    from django_session_timeout.middleware import SESSION_TIMEOUT_KEY

    try:
        for key in Session.objects.values_list("session_key", flat=True):
            session = SessionStore(session_key=key)
            if SESSION_TIMEOUT_KEY in session:
                session[SESSION_TIMEOUT_KEY] -= seconds
                session.save()
    finally:
        connections.close_all()


def drive(sync_playwright, port: int) -> dict[str, object]:
    """Everything the browser does and sees; runs in its own thread."""
    seen: dict[str, object] = {}
    a, b = f"http://a.localhost:{port}", f"http://b.localhost:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1600, "height": 900}).new_page()

            def log_in(origin: str) -> None:
                page.goto(f"{origin}/admin/login/?next=/admin/")
                page.fill("#id_username", "staff")
                page.fill("#id_password", PASSWORD)
                page.click("input[type=submit]")
                page.wait_for_url(f"{origin}/admin/")

            # On b.localhost (sessions keep settings.py's hour): add the override for a.localhost.
            log_in(b)
            page.goto(f"{b}/admin/request_settings/settingoverride/add/")
            page.fill("#id_key", "SESSION_EXPIRE_SECONDS")
            page.fill("#id_host", "a.localhost")
            page.fill("#id_value", str(SHORT))
            page.click("input[name=_save]")
            page.wait_for_url(f"{b}/admin/request_settings/settingoverride/")
            seen["changelist"] = page.inner_text("#result_list")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "changelist.png"), full_page=True)

            # A session on each host, started now.
            log_in(a)
            seen["a_echo"] = page.goto(f"{a}/echo/").json()["values"]["SESSION_EXPIRE_SECONDS"]
            seen["b_echo"] = page.goto(f"{b}/echo/").json()["values"]["SESSION_EXPIRE_SECONDS"]
            page.goto(f"{a}/admin/")
            seen["a_before"] = page.url
            # SHORT + 1 seconds later, without waiting them: every session's start moves back (b's too, which lives on).
            with ThreadPoolExecutor(max_workers=1) as aging:  # a plain thread: Django refuses queries in Playwright's
                aging.submit(age_sessions, SHORT + 1).result(timeout=30)
            page.goto(f"{a}/admin/")
            seen["a_after"] = page.url  # django-session-timeout flushes it and redirects to LOGIN_URL
            page.goto(f"{a}/admin/")
            seen["a_again"] = page.url
            page.goto(f"{b}/admin/request_settings/settingoverride/")
            seen["b_after"] = page.url
        finally:
            browser.close()
    return seen


def test_a_per_host_session_timeout_set_in_the_admin_expires_only_that_hosts_sessions(
    sync_playwright, live_server, settings, django_user_model
):
    settings.ALLOWED_HOSTS = [".localhost", "localhost", "127.0.0.1"]
    # The live server serves /static/ from STATIC_ROOT: the admin's files, for a styled screenshot.
    settings.STATIC_ROOT = str(Path(django.contrib.admin.__file__).parent / "static")
    django_user_model.objects.create_superuser("staff", "staff@example.com", PASSWORD)
    port = int(live_server.url.rsplit(":", 1)[1])

    with ThreadPoolExecutor(max_workers=1) as executor:
        seen = executor.submit(drive, sync_playwright, port).result(timeout=120)

    assert "SESSION_EXPIRE_SECONDS" in seen["changelist"] and "a.localhost" in seen["changelist"]
    assert (ARTIFACTS / "changelist.png").stat().st_size > 0
    assert (seen["a_echo"], seen["b_echo"]) == (SHORT, 3600)
    a, b = f"http://a.localhost:{port}", f"http://b.localhost:{port}"
    assert seen["a_before"] == f"{a}/admin/"  # logged in on a.localhost ...
    assert seen["a_after"] == f"{a}/accounts/login/?next=/admin/"  # ... timed out SHORT seconds later
    assert seen["a_again"] == f"{a}/admin/login/?next=/admin/"  # and logged out
    assert seen["b_after"] == f"{b}/admin/request_settings/settingoverride/"  # b.localhost keeps its session

    from request_settings.models import SettingOverride, SettingOverrideChange

    assert list(SettingOverride.objects.values_list("key", "host", "value")) == [
        ("SESSION_EXPIRE_SECONDS", "a.localhost", SHORT)
    ]
    assert list(SettingOverrideChange.objects.values_list("key", "host", "action", "username")) == [
        ("SESSION_EXPIRE_SECONDS", "a.localhost", "created", "staff")
    ]


TENANT_PASSWORD = "tenant-pw"


def drive_tenant(sync_playwright, port: int, theirs: int) -> dict[str, object]:
    """A tenant editor of a.localhost in the admin; ``theirs`` is the id of b.localhost's row."""
    seen: dict[str, object] = {}
    a = f"http://a.localhost:{port}"
    admin = f"{a}/admin/request_settings/settingoverride"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            page = browser.new_context(viewport={"width": 1400, "height": 900}).new_page()
            ARTIFACTS.mkdir(exist_ok=True)
            page.goto(f"{a}/admin/login/?next=/admin/")
            page.fill("#id_username", "tenant")
            page.fill("#id_password", TENANT_PASSWORD)
            page.click("input[type=submit]")
            page.wait_for_url(f"{a}/admin/")

            # The changelist lists their host's rows only.
            page.goto(f"{admin}/")
            seen["rows"] = page.inner_text("#result_list")
            seen["count"] = page.inner_text(".paginator")
            page.screenshot(path=str(ARTIFACTS / "tenant-changelist.png"), full_page=True)

            # They change their session timeout through the change form.
            page.click("#result_list a:text('SESSION_EXPIRE_SECONDS')")
            page.wait_for_url(f"{admin}/*/change/")
            page.fill("#id_value", "120")
            page.screenshot(path=str(ARTIFACTS / "tenant-change-form.png"), full_page=True)
            page.click("input[name=_save]")
            page.wait_for_url(f"{admin}/")
            seen["saved"] = page.inner_text("ul.messagelist")
            seen["echo"] = page.goto(f"{a}/echo/").json()["values"]["SESSION_EXPIRE_SECONDS"]

            # Another host's row by URL: the admin says it does not exist; its effective settings are forbidden.
            page.goto(f"{admin}/{theirs}/change/")
            seen["theirs_url"] = page.url
            seen["theirs_message"] = page.inner_text("ul.messagelist")
            page.screenshot(path=str(ARTIFACTS / "tenant-other-row.png"), full_page=True)
            seen["theirs_effective"] = page.goto(f"{admin}/effective/?host=b.localhost").status
            seen["theirs_history"] = page.goto(f"{admin}/{theirs}/history/").url
        finally:
            browser.close()
    return seen


def test_a_tenant_editor_sees_and_changes_only_their_hosts_session_timeout(
    sync_playwright, live_server, settings, django_user_model
):
    from request_settings.models import SettingGrant, SettingOverride, SettingOverrideChange

    settings.ALLOWED_HOSTS = [".localhost", "localhost", "127.0.0.1"]
    settings.STATIC_ROOT = str(Path(django.contrib.admin.__file__).parent / "static")
    settings.AUTHENTICATION_BACKENDS = [
        "django.contrib.auth.backends.ModelBackend",
        "request_settings.backends.GrantBackend",
    ]
    tenant = django_user_model.objects.create_user("tenant", password=TENANT_PASSWORD, is_staff=True)
    SettingGrant.objects.create(user=tenant, hosts="a.localhost", keys="SESSION_*", can_edit=True)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host="a.localhost")
    theirs = SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 900, host="b.localhost")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 1200)
    port = int(live_server.url.rsplit(":", 1)[1])

    with ThreadPoolExecutor(max_workers=1) as executor:
        seen = executor.submit(drive_tenant, sync_playwright, port, theirs.pk).result(timeout=120)

    assert "a.localhost" in seen["rows"] and "b.localhost" not in seen["rows"] and "(all hosts)" not in seen["rows"]
    assert seen["count"].strip().startswith("1 setting override")
    assert "SESSION_EXPIRE_SECONDS (a.localhost)" in seen["saved"]
    assert seen["echo"] == 120
    a = f"http://a.localhost:{port}"
    assert seen["theirs_url"] == f"{a}/admin/"
    assert f"{theirs.pk}" in seen["theirs_message"] and "Perhaps it was deleted?" in seen["theirs_message"]
    assert seen["theirs_effective"] == 403
    assert seen["theirs_history"] == f"{a}/admin/"
    assert sorted(SettingOverride.objects.values_list("host", "value")) == [
        ("", 1200),
        ("a.localhost", 120),
        ("b.localhost", 900),
    ]
    latest = SettingOverrideChange.objects.first()
    assert (latest.host, latest.old_value, latest.new_value, latest.username) == ("a.localhost", 600, 120, "tenant")
    for name in ("tenant-changelist.png", "tenant-change-form.png", "tenant-other-row.png"):
        assert (ARTIFACTS / name).stat().st_size > 0


def drive_preview(sync_playwright, port: int) -> dict[str, object]:
    """Save as draft, preview it in the same browser, look from another browser, publish."""
    seen: dict[str, object] = {}
    origin = f"http://a.localhost:{port}"
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(executable_path=CHROMIUM, args=ARGS)
        try:
            mine, theirs = browser.new_context(), browser.new_context()  # two browsers: no shared cookies
            page, other = mine.new_page(), theirs.new_page()
            for tab, username in ((page, "staff"), (other, "colleague")):
                tab.goto(f"{origin}/admin/login/?next=/admin/")
                tab.fill("#id_username", username)
                tab.fill("#id_password", PASSWORD)
                tab.click("input[type=submit]")
                tab.wait_for_url(f"{origin}/admin/")

            page.goto(f"{origin}/admin/request_settings/settingoverride/add/")
            page.fill("#id_key", "SESSION_EXPIRE_SECONDS")
            page.fill("#id_value", "120")
            page.click("input[name=_draft]")
            page.wait_for_url(f"{origin}/admin/request_settings/settingdraft/")
            page.click("#preview-toggle")
            page.wait_for_url(f"{origin}/admin/request_settings/settingdraft/")
            seen["state"] = page.inner_text("#preview-state")
            seen["banner"] = page.inner_text("#request-settings-preview")
            ARTIFACTS.mkdir(exist_ok=True)
            page.screenshot(path=str(ARTIFACTS / "preview-banner.png"), full_page=True)
            seen["mine"] = page.goto(f"{origin}/echo/").json()["values"]["SESSION_EXPIRE_SECONDS"]
            # Another browser (a colleague's), even holding a copy of the preview cookie, gets the live settings.
            cookie = next(c for c in mine.cookies() if c["name"] == "request_settings_preview")
            seen["cookie"] = {"httpOnly": cookie["httpOnly"], "sameSite": cookie["sameSite"]}
            theirs.add_cookies([cookie])
            seen["theirs"] = other.goto(f"{origin}/echo/").json()["values"]["SESSION_EXPIRE_SECONDS"]
            other.goto(f"{origin}/admin/")
            seen["their_banner"] = other.locator("#request-settings-preview").count()

            page.goto(f"{origin}/admin/")
            page.click("#request-settings-preview a:text('Publish')")
            page.click("#confirm")
            page.wait_for_url(f"{origin}/admin/request_settings/settingdraft/")
            seen["after"] = other.goto(f"{origin}/echo/").json()["values"]["SESSION_EXPIRE_SECONDS"]
        finally:
            browser.close()
    return seen


def test_a_draft_previews_in_its_authors_browser_only_until_published(
    sync_playwright, live_server, settings, django_user_model
):
    settings.ALLOWED_HOSTS = [".localhost", "localhost", "127.0.0.1"]
    django_user_model.objects.create_superuser("staff", "staff@example.com", PASSWORD)
    django_user_model.objects.create_superuser("colleague", "colleague@example.com", PASSWORD)
    port = int(live_server.url.rsplit(":", 1)[1])

    with ThreadPoolExecutor(max_workers=1) as executor:
        seen = executor.submit(drive_preview, sync_playwright, port).result(timeout=120)

    assert seen["state"] == "on"
    assert "SESSION_EXPIRE_SECONDS" in seen["banner"] and "120" in seen["banner"]
    assert seen["cookie"] == {"httpOnly": True, "sameSite": "Lax"}
    assert (seen["mine"], seen["theirs"], seen["their_banner"]) == (120, 3600, 0)
    assert seen["after"] == 120

    from request_settings.models import SettingDraft, SettingOverride, SettingOverrideChange

    assert list(SettingOverride.objects.values_list("key", "host", "value")) == [("SESSION_EXPIRE_SECONDS", "", 120)]
    assert list(SettingOverrideChange.objects.values_list("key", "action", "username")) == [
        ("SESSION_EXPIRE_SECONDS", "created", "staff")
    ]
    assert not SettingDraft.objects.exists()
