"""The debug-toolbar panel (extra ``toolbar``), rendered by the real django-debug-toolbar in real requests."""

from __future__ import annotations

import os
import re

import pytest
from django.http import HttpResponse
from django.test import override_settings
from django.urls import include, path

if os.environ.get("REQUEST_SETTINGS_REQUIRE_EXTRAS"):
    import debug_toolbar  # noqa: F401  (the toolbar env: a missing extra is a failure)
else:
    pytest.importorskip(
        "debug_toolbar", reason="the extra 'toolbar' is not installed (tox -e toolbar runs these tests)"
    )

from django.conf import settings

from request_settings.models import SettingOverride
from request_settings.testing import override_request_settings
from tests.settings import INSTALLED_APPS, MIDDLEWARE

PANEL = "request_settings.contrib.debug_toolbar.RequestSettingsPanel"
OURS = "request_settings.middleware.RequestSettingsMiddleware"
TOOLBAR = "debug_toolbar.middleware.DebugToolbarMiddleware"


def show_toolbar(request):
    return True


def page(request):
    # The view reads the setting, as third-party code would.
    return HttpResponse(f"<html><body><p>timeout {settings.SESSION_EXPIRE_SECONDS}</p></body></html>")


def __getattr__(name):
    # The URLconf of these tests (ROOT_URLCONF is this module). Built on first use: the toolbar's URLs import its
    # models, which exist only while the tests' settings add "debug_toolbar" to INSTALLED_APPS.
    if name == "urlpatterns":
        return [path("page/", page), path("__debug__/", include("debug_toolbar.urls"))]
    raise AttributeError(name)


def toolbar_settings(*, toolbar_first: bool = False):
    middleware = [name for name in MIDDLEWARE if name != OURS]
    if toolbar_first:
        middleware[1:1] = [TOOLBAR, OURS]
    else:
        middleware[1:1] = [OURS, TOOLBAR]
    return override_settings(
        INSTALLED_APPS=[*INSTALLED_APPS, "debug_toolbar", "request_settings.contrib.debug_toolbar"],
        MIDDLEWARE=middleware,
        ROOT_URLCONF=__name__,
        DEBUG_TOOLBAR_PANELS=["debug_toolbar.panels.sql.SQLPanel", PANEL],
        DEBUG_TOOLBAR_CONFIG={"SHOW_TOOLBAR_CALLBACK": f"{__name__}.show_toolbar", "IS_RUNNING_TESTS": False},
    )


pytestmark = pytest.mark.django_db(transaction=True)


def render_panel(client, host="shop.example.com"):
    """GET a page through the toolbar, then fetch the panel's content as the toolbar's JavaScript would."""
    response = client.get("/page/", headers={"host": host})
    assert response.status_code == 200
    html = response.content.decode()
    request_id = re.search(r'data-request-id="([^"]+)"', html).group(1)
    subtitle = re.search(r'id="djdt-RequestSettingsPanel".*?<small>\s*(.*?)\s*</small>', html, re.S)
    panel = client.get(
        "/__debug__/render_panel/",
        {"request_id": request_id, "panel_id": "RequestSettingsPanel"},
        headers={"host": host},
    )
    assert panel.status_code == 200
    return html, subtitle.group(1) if subtitle else "", panel.json()["content"]


def cells(content):
    """The rows of the panel's tables as lists of cell texts."""
    rows = re.findall(r"<tr>(.*?)</tr>", content, re.S)
    return [
        [re.sub(r"<[^>]+>", "", cell).strip() for cell in re.findall(r"<t[dh]>(.*?)</t[dh]>", row, re.S)]
        for row in rows
    ]


@pytest.fixture
def rows():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 120, host="shop.example.com")
    SettingOverride.objects.set("BANNER_TEXT", "Sale")
    SettingOverride.objects.set("MAPS_API_KEY", "s3cr3t", host="shop.example.com")


@pytest.mark.parametrize("toolbar_first", [False, True], ids=["ours-first", "toolbar-first"])
def test_the_panel_shows_host_values_sources_and_settings_py_values(client, rows, toolbar_first):
    with toolbar_settings(toolbar_first=toolbar_first):
        html, subtitle, content = render_panel(client)

    assert "timeout 120" in html  # the page itself saw the override
    assert subtitle == "3 overrides for shop.example.com"
    table = cells(content)
    assert ["Host", "shop.example.com"] in table
    assert ["SESSION_EXPIRE_SECONDS", "120", "host row shop.example.com", "3600"] in table
    assert ["BANNER_TEXT", "&quot;Sale&quot;", "all-hosts row (all hosts)", "(not in settings.py)"] in table
    assert ["MAPS_API_KEY", "********************", "host row shop.example.com", "(not in settings.py)"] in table
    assert "s3cr3t" not in content


def test_an_unknown_host_gets_the_all_hosts_rows(client, rows):
    with toolbar_settings():
        _html, subtitle, content = render_panel(client, host="blog.example.com")

    table = cells(content)
    assert subtitle == "2 overrides for blog.example.com"
    assert ["SESSION_EXPIRE_SECONDS", "600", "all-hosts row (all hosts)", "3600"] in table


def test_snapshot_facts_the_store_exposes(client, rows):
    with toolbar_settings(toolbar_first=True):
        _html, _subtitle, first = render_panel(client)  # the writes above invalidated the snapshot: a read
        _html, _subtitle, second = render_panel(client)

    assert ["Snapshot from the cache", "no: this request read the table"] in cells(first)
    assert ["Snapshot from the cache", "yes"] in cells(second)
    age = next(row for row in cells(second) if row[0] == "Snapshot age")[1]
    assert re.fullmatch(r"\d+\.\d{3} s \(TTL 5 s\)", age), age
    version = next(row for row in cells(second) if row[0] == "Snapshot version")[1]
    assert re.fullmatch(r"\d+", version), version


def test_a_test_pin_is_named_as_the_source(client, rows):
    with toolbar_settings(), override_request_settings(host="shop.example.com", SESSION_EXPIRE_SECONDS=90):
        html, _subtitle, content = render_panel(client)

    assert "timeout 90" in html
    assert ["SESSION_EXPIRE_SECONDS", "90", "override_request_settings (a test pin)", "3600"] in cells(content)


def test_with_the_kill_switch_off_the_panel_says_so(client, rows):
    with toolbar_settings(), override_settings(REQUEST_SETTINGS_ENABLED=False):
        html, subtitle, content = render_panel(client)

    assert "timeout 3600" in html
    assert subtitle == "0 overrides for shop.example.com"
    assert "REQUEST_SETTINGS_ENABLED is False" in content
    assert "No setting is overridden for this host" in content


def test_a_row_written_behind_the_apps_back_shows_as_the_snapshots_value(client, rows):
    with toolbar_settings():
        render_panel(client)  # caches the snapshot
        SettingOverride.objects.filter(key="SESSION_EXPIRE_SECONDS", host="shop.example.com").update(value=45)
        html, _subtitle, content = render_panel(client)

    assert "timeout 120" in html  # within the TTL the process serves its snapshot
    assert [
        "SESSION_EXPIRE_SECONDS",
        "120",
        "the snapshot (the table has changed since it was read)",
        "3600",
    ] in cells(content)


def test_the_panel_has_no_subtitle_before_any_stats():
    from types import SimpleNamespace

    from request_settings.contrib.debug_toolbar import RequestSettingsPanel

    panel = RequestSettingsPanel(SimpleNamespace(stats={}), get_response=None)

    assert panel.nav_subtitle == ""


def test_a_layer_is_read_as_one_mapping_whatever_its_shape():
    from request_settings.contrib.debug_toolbar.panel import _as_mapping

    assert _as_mapping({"A": 1}) == {"A": 1}
    assert _as_mapping(({"A": 1}, {"A": 2, "B": 3})) == {"A": 1, "B": 3}  # most specific first


def test_the_package_names_only_the_panel():
    import request_settings.contrib.debug_toolbar as package

    with pytest.raises(AttributeError, match="has no attribute 'Panel'"):
        package.Panel  # noqa: B018


def test_from_the_cache_is_known_with_our_middleware_first_too(client, rows):
    with toolbar_settings(toolbar_first=False):
        _html, _subtitle, first = render_panel(client)  # the writes above invalidated the snapshot: a read
        _html, _subtitle, second = render_panel(client)

    assert ["Snapshot from the cache", "no: this request read the table"] in cells(first)
    assert ["Snapshot from the cache", "yes"] in cells(second)


# -- requests our middleware did not handle, and what a page cannot show -----------------------------------------


def test_without_our_middleware_the_panel_says_nothing_was_applied(client, rows):
    from request_settings.store import store

    store.get()  # the snapshot is loaded (by any earlier request or activate()), yet this request applies none of it
    middleware = [name for name in MIDDLEWARE if name != OURS]
    middleware[1:1] = [TOOLBAR]
    with toolbar_settings(), override_settings(MIDDLEWARE=middleware):
        html, subtitle, content = render_panel(client)

    assert "timeout 3600" in html
    assert subtitle == "0 overrides for shop.example.com"
    assert [
        "Overrides",
        "not applied: RequestSettingsMiddleware did not handle this request "
        "(add it to MIDDLEWARE, first or just after SecurityMiddleware)",
    ] in cells(content)
    assert ["Snapshot from the cache", "unknown"] in cells(content)
    assert "No setting is overridden for this host" in content


def test_with_the_toolbar_first_an_activate_block_around_the_request_is_not_taken_for_its_layer(client, rows):
    from request_settings import activate

    with toolbar_settings(toolbar_first=True), activate("blog.example.com"):
        html, subtitle, content = render_panel(client)

    assert "timeout 120" in html  # the middleware's layer for shop.example.com replaced the block's
    assert subtitle == "3 overrides for shop.example.com"
    assert ["SESSION_EXPIRE_SECONDS", "120", "host row shop.example.com", "3600"] in cells(content)


def test_markup_is_escaped_and_invisible_characters_are_shown_escaped(client):
    SettingOverride.objects.set("BANNER_TEXT", "<b>Sale</b>\u200b\u202e\x7f")
    SettingOverride.objects.set("PAYMENT", {"api_key": "hunter2", "url": "https://pay.example.com"})
    with toolbar_settings(), override_settings(PAYMENT={"api_key": "from-settings-py"}):
        _html, _subtitle, content = render_panel(client)

    assert "<b>" not in content
    assert [
        "BANNER_TEXT",
        "&quot;&lt;b&gt;Sale&lt;/b&gt;\\u200b\\u202e\\u007f&quot;",
        "all-hosts row (all hosts)",
        "(not in settings.py)",
    ] in cells(content)
    assert [
        "PAYMENT",
        "{&quot;api_key&quot;: &quot;********************&quot;, &quot;url&quot;: &quot;https://pay.example.com&quot;}",
        "all-hosts row (all hosts)",
        "{&quot;api_key&quot;: &quot;********************&quot;}",
    ] in cells(content)
    assert "hunter2" not in content
    assert "from-settings-py" not in content
