"""Preview: drafts saved on every path, applied only to their author's previewing browser, published or discarded.

Through the real stack: the admin, the site form, the command, the API, and requests through the middleware (sync,
threads, ASGI), with the preview cookie as a browser holds it.
"""

from __future__ import annotations

import asyncio
import datetime
import io
import json
import threading

import pytest
import time_machine
from django.contrib.auth.models import Permission
from django.core import signing
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.test import AsyncClient, Client, override_settings
from django.urls import reverse
from django.utils import timezone

from request_settings import preview
from request_settings.models import SettingDraft, SettingOverride, SettingOverrideChange
from request_settings.signals import override_changed
from request_settings.store import store
from tests import urls as test_urls
from tests.utils import NEEDS_API, HostAsyncClient, logged_in_client, with_api

urlpatterns, HAS_API = with_api(test_urls.urlpatterns)

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

KEY = "SESSION_EXPIRE_SECONDS"  # 3600 in tests/settings.py; read live by django-session-timeout
ADD_URL = "admin:request_settings_settingoverride_add"
DRAFTS_URL = "admin:request_settings_settingdraft_changelist"
PREVIEW_URL = "admin:request_settings_settingdraft_preview"
PUBLISH_URL = "admin:request_settings_settingdraft_publish"
DISCARD_URL = "admin:request_settings_settingdraft_discard"


@pytest.fixture
def author(django_user_model):
    return django_user_model.objects.create_superuser("author", "author@example.com", "pw")


@pytest.fixture
def other(django_user_model):
    return django_user_model.objects.create_superuser("other", "other@example.com", "pw")


def signed_in(user):
    client = Client()
    client.force_login(user)
    return client


def previewing(user):
    """A browser where ``user`` is signed in and turned preview on (through the admin's button)."""
    client = signed_in(user)
    response = client.post(reverse(PREVIEW_URL), {"preview": "on"})
    assert response.status_code == 302
    assert preview.COOKIE in response.cookies
    return client


def seen(client, host="testserver"):
    return client.get("/echo/", headers={"host": host}).json()["values"][KEY]


# -- saving drafts -----------------------------------------------------------------------------------------------------


def test_admin_save_as_draft_on_the_add_form_writes_a_draft_not_a_row(author):
    client = signed_in(author)
    page = client.get(reverse(ADD_URL))
    assert b'name="_draft"' in page.content

    response = client.post(reverse(ADD_URL), {"key": KEY, "host": "", "value": "120", "_draft": "Save as draft"})

    assert response.status_code == 302 and response.url == reverse(DRAFTS_URL)
    assert list(SettingDraft.objects.values_list("author__username", "key", "host", "value", "remove")) == [
        ("author", KEY, "", 120, False)
    ]
    assert not SettingOverride.objects.exists()
    assert not SettingOverrideChange.objects.exists()
    assert "Saved as a draft" in client.get(response.url).content.decode()


def test_admin_save_as_draft_on_the_change_form_leaves_the_row_alone(author):
    row = SettingOverride.objects.set(KEY, 600)
    client = signed_in(author)
    url = reverse("admin:request_settings_settingoverride_change", args=[row.pk])

    response = client.post(url, {"value": "120", "_draft": "Save as draft"})

    assert response.status_code == 302
    assert SettingOverride.objects.get().value == 600
    assert SettingDraft.objects.get().value == 120
    assert SettingOverrideChange.objects.count() == 1  # the creation only


def test_admin_save_as_draft_validates_like_save(author):
    client = signed_in(author)
    response = client.post(reverse(ADD_URL), {"key": "SESSION_COOKIE_AGE", "host": "", "value": "-5", "_draft": "1"})
    assert response.status_code == 200
    assert "SESSION_COOKIE_AGE" in response.content.decode()
    refused = client.post(reverse(ADD_URL), {"key": "SECRET_KEY", "host": "", "value": "x", "_draft": "1"})
    assert refused.status_code == 200
    assert not SettingDraft.objects.exists()


def test_admin_save_as_draft_needs_the_rights_of_a_save(django_user_model):
    viewer = logged_in_client(django_user_model, ["view_settingoverride"], name="viewer", is_staff=True)
    row = SettingOverride.objects.set(KEY, 600)
    url = reverse("admin:request_settings_settingoverride_change", args=[row.pk])
    assert b'name="_draft"' not in viewer.get(url).content
    assert viewer.post(url, {"value": "120", "_draft": "1"}).status_code == 403
    assert viewer.post(reverse(ADD_URL), {"key": KEY, "value": "120", "_draft": "1"}).status_code == 403
    assert not SettingDraft.objects.exists()


def test_site_form_saves_a_draft_and_a_removal_draft(author):
    client = signed_in(author)
    assert b'name="_draft"' in client.get("/settings/").content
    response = client.post("/settings/", {"key": KEY, "host": "shop.example.com", "value": "90", "_draft": "1"})
    assert response.status_code == 302
    client.post("/settings/", {"key": "SITE_TITLE", "host": "", "value": "", "reset": "on", "_draft": "1"})
    assert set(SettingDraft.objects.values_list("key", "host", "value", "remove")) == {
        (KEY, "shop.example.com", 90, False),
        ("SITE_TITLE", "", None, True),
    }
    assert not SettingOverride.objects.exists()


def test_site_form_refuses_a_draft_from_a_user_who_is_not_staff(django_user_model):
    codenames = ["add_settingoverride", "change_settingoverride"]
    client = logged_in_client(django_user_model, codenames, name="editor")
    assert b'name="_draft"' not in client.get("/settings/").content
    response = client.post("/settings/", {"key": KEY, "host": "", "value": "90", "_draft": "1"})
    assert response.status_code == 200
    assert "Only staff can save drafts" in response.content.decode()
    assert not SettingDraft.objects.exists()


def test_command_set_and_unset_draft_for_a_user(author):
    SettingOverride.objects.set("SITE_TITLE", "Live")
    out = io.StringIO()
    call_command("request_settings", "set", KEY, "120", "--draft", "--user", "author", stdout=out)
    call_command("request_settings", "unset", "SITE_TITLE", "--draft", "--user", "author", stdout=out)
    assert "draft of author" in out.getvalue()
    drafts = set(SettingDraft.objects.values_list("key", "value", "remove"))
    assert drafts == {(KEY, 120, False), ("SITE_TITLE", None, True)}
    assert list(SettingOverride.objects.values_list("key", "value")) == [("SITE_TITLE", "Live")]


def test_command_draft_needs_a_user_and_a_valid_value(author):
    with pytest.raises(CommandError, match="--draft needs --user"):
        call_command("request_settings", "set", KEY, "120", "--draft")
    with pytest.raises(CommandError, match="SESSION_COOKIE_AGE"):
        call_command("request_settings", "set", "SESSION_COOKIE_AGE", "-1", "--draft", "--user", "author")
    assert not SettingDraft.objects.exists()


def test_every_path_refuses_a_draft_of_a_user_who_is_not_staff(django_user_model):
    django_user_model.objects.create_user("member", password="pw")
    with pytest.raises(CommandError, match="Only staff can save drafts"):
        call_command("request_settings", "set", KEY, "120", "--draft", "--user", "member")
    with pytest.raises(CommandError, match="Only staff can save drafts"):
        call_command("request_settings", "unset", KEY, "--draft", "--user", "member")
    with pytest.raises(ValidationError, match="Only staff can save drafts"):
        preview.save_draft(django_user_model.objects.get(username="member"), KEY, 120)
    assert not SettingDraft.objects.exists()


@pytest.mark.skipif(not HAS_API, reason=NEEDS_API)
def test_api_saves_lists_discards_and_publishes_drafts(author, other):
    from rest_framework.test import APIClient

    api = APIClient()
    api.force_authenticate(author)
    url = reverse("request_settings_api:draft-detail", args=[KEY])
    saved = api.put(url + "?host=shop.example.com", {"value": 90}, format="json")
    assert saved.status_code == 200 and saved.json()["value"] == 90
    age_url = reverse("request_settings_api:draft-detail", args=["SESSION_COOKIE_AGE"])
    bad = api.put(age_url, {"value": -1}, format="json")
    assert bad.status_code == 400 and "SESSION_COOKIE_AGE" in json.dumps(bad.json())
    assert api.put(url, {"value": 1, "remove": True}, format="json").status_code == 400
    assert [d["key"] for d in api.get(reverse("request_settings_api:draft-list")).json()["results"]] == [KEY]

    nosy = APIClient()
    nosy.force_authenticate(other)
    assert nosy.get(reverse("request_settings_api:draft-list")).json()["results"] == []

    published = api.post(reverse("request_settings_api:draft-publish"))
    assert published.status_code == 200
    assert SettingOverride.objects.get(key=KEY, host="shop.example.com").value == 90
    assert not SettingDraft.objects.exists()
    api.put(url, {"value": 100}, format="json")
    assert api.delete(url).status_code == 204
    assert api.delete(url).status_code == 404


@pytest.mark.skipif(not HAS_API, reason=NEEDS_API)
def test_api_draft_needs_staff_and_the_rights_of_a_write(django_user_model):
    from rest_framework.test import APIClient

    url = reverse("request_settings_api:draft-detail", args=[KEY])
    plain = django_user_model.objects.create_user("plain", password="pw")
    api = APIClient()
    api.force_authenticate(plain)
    assert api.put(url, {"value": 9}, format="json").status_code == 403
    viewer = django_user_model.objects.create_user("viewer", password="pw", is_staff=True)
    viewer.user_permissions.set(Permission.objects.filter(codename="view_settingoverride"))
    api.force_authenticate(viewer)
    assert api.put(url, {"value": 9}, format="json").status_code == 403
    assert not SettingDraft.objects.exists()


# -- the cookie --------------------------------------------------------------------------------------------------------


def test_turning_preview_on_sets_a_signed_httponly_lax_cookie(author):
    client = signed_in(author)
    response = client.post(reverse(PREVIEW_URL), {"preview": "on"})
    cookie = response.cookies[preview.COOKIE]
    assert cookie["httponly"] is True and cookie["samesite"] == "Lax" and not cookie["secure"]
    assert preview.cookie_author(cookie.value) == str(author.pk)
    assert signing.loads(cookie.value, salt=preview.SALT) == str(author.pk)
    with pytest.raises(signing.BadSignature):
        signing.loads(cookie.value)  # salted: no other signed value of the project passes for it

    secure = client.post(reverse(PREVIEW_URL), {"preview": "on"}, secure=True)
    assert secure.cookies[preview.COOKIE]["secure"] is True

    off = client.post(reverse(PREVIEW_URL), {"preview": "off"})
    assert off.cookies[preview.COOKIE].value == "" and off.cookies[preview.COOKIE]["max-age"] == 0


def test_preview_shows_the_authors_drafts_only_in_the_browser_that_turned_it_on(author):
    preview.save_draft(author, KEY, 120)
    on = previewing(author)
    assert seen(on) == 120
    assert seen(signed_in(author)) == 3600  # the author's other browser, preview off
    on.post(reverse(PREVIEW_URL), {"preview": "off"})
    assert seen(on) == 3600


def test_a_host_draft_previews_on_that_host_only(author):
    preview.save_draft(author, KEY, 90, "shop.example.com")
    client = previewing(author)
    assert seen(client, "shop.example.com") == 90
    assert seen(client, "other.example.com") == 3600


def test_a_removal_draft_previews_the_settings_py_value(author):
    SettingOverride.objects.set(KEY, 600)
    preview.save_draft(author, KEY, remove=True)
    assert seen(previewing(author)) == 3600
    assert seen(Client()) == 600


def test_a_copied_cookie_shows_nothing(author, other):
    preview.save_draft(author, KEY, 120)
    value = previewing(author).cookies[preview.COOKIE].value
    for client in (signed_in(other), Client()):  # another user's browser, a signed-out browser
        client.cookies[preview.COOKIE] = value
        assert seen(client) == 3600


@pytest.mark.parametrize(
    "forge",
    [
        lambda user: signing.dumps(str(user.pk), salt="another salt"),
        lambda user: signing.dumps(str(user.pk), salt=preview.SALT, key="not the secret key"),
        lambda user: signing.dumps(user.pk, salt=preview.SALT),  # not the text the app writes
        lambda user: str(user.pk),
        lambda user: "garbage:::",
    ],
)
def test_a_forged_cookie_is_ignored(author, forge):
    preview.save_draft(author, KEY, 120)
    client = signed_in(author)
    client.cookies[preview.COOKIE] = forge(author)
    assert seen(client) == 3600
    assert "request-settings-preview" not in client.get(reverse("admin:index")).content.decode()


def test_a_cookie_naming_another_user_is_ignored(author, other):
    preview.save_draft(other, KEY, 120)
    client = signed_in(author)
    client.cookies[preview.COOKIE] = preview.cookie_value(other)
    assert seen(client) == 3600


def test_a_stale_cookie_is_ignored(author, django_user_model):
    preview.save_draft(author, KEY, 120)
    client = previewing(author)
    assert seen(client) == 120

    author.set_password("changed")  # ends the author's sessions (the session auth hash no longer matches)
    author.save()
    assert seen(client) == 3600

    client = previewing(django_user_model.objects.get(pk=author.pk))
    assert seen(client) == 120
    django_user_model.objects.filter(pk=author.pk).update(is_staff=False)
    assert seen(client) == 3600

    django_user_model.objects.filter(pk=author.pk).update(is_staff=True)
    cookie = client.cookies[preview.COOKIE].value
    client.logout()
    client.cookies[preview.COOKIE] = cookie
    assert seen(client) == 3600


@override_settings(SESSION_COOKIE_AGE=3600)
def test_an_expired_cookie_is_ignored(author):
    preview.save_draft(author, KEY, 120)
    with time_machine.travel(datetime.datetime.now(datetime.timezone.utc) - datetime.timedelta(hours=2)):
        old = preview.cookie_value(author)
    client = signed_in(author)
    client.cookies[preview.COOKIE] = old
    assert seen(client) == 3600
    client.cookies[preview.COOKIE] = preview.cookie_value(author)
    assert seen(client) == 120


@pytest.mark.django_db(transaction=True)  # committed rows: the snapshot is cached, as in production
def test_requests_without_the_cookie_pay_nothing(author, django_assert_num_queries):
    SettingOverride.objects.set(KEY, 600)
    preview.save_draft(author, KEY, 120)
    assert seen(Client()) == 600  # warms the snapshot
    with django_assert_num_queries(0):
        assert seen(Client()) == 600
    client = signed_in(author)
    seen(client)  # django-session-timeout stamps the new session once
    # Signed in: django-session-timeout's middleware reads the session, and that is all (no user, no drafts).
    with django_assert_num_queries(1) as queries:
        assert seen(client) == 600
    assert "django_session" in queries.captured_queries[0]["sql"]
    client.cookies[preview.COOKIE] = preview.cookie_value(author)
    # The preview: the session, the user, the drafts, each draft's row (the author's rights on it); then the timeout's
    # session.
    with django_assert_num_queries(5):
        assert seen(client) == 120


# -- never leaking -----------------------------------------------------------------------------------------------------


@pytest.mark.django_db(transaction=True)
def test_drafts_never_reach_other_users_requests_in_threads(author, other):
    SettingOverride.objects.set(KEY, 600)
    preview.save_draft(author, KEY, 120)
    cookie = previewing(author).cookies[preview.COOKIE].value
    expected = {"author": 120, "other": 600, "anonymous": 600}
    wrong = []
    start = threading.Barrier(6)

    def browser(who):
        client = {"author": lambda: signed_in(author), "other": lambda: signed_in(other), "anonymous": Client}[who]()
        client.cookies[preview.COOKIE] = cookie  # the others hold a copy of the author's cookie
        client.get("/echo/")  # django-session-timeout stamps each new session: SQLite's writes stay out of the race
        return client

    def worker(who, client):
        start.wait(timeout=30)
        for _ in range(15):
            response = client.get("/echo/")
            if response.status_code != 200:
                wrong.append((who, response.status_code, response.content[:300]))
            elif response.json()["values"][KEY] != expected[who]:
                wrong.append((who, response.json()["values"][KEY]))

    threads = [threading.Thread(target=worker, args=(who, browser(who))) for who in expected for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []
    assert store.get().layer("")[-1][KEY] == 600  # the shared snapshot never saw the draft


@pytest.mark.django_db(transaction=True)
async def test_drafts_never_reach_other_users_requests_under_asgi(author, other):
    await asyncio.to_thread(SettingOverride.objects.set, KEY, 600)
    await asyncio.to_thread(preview.save_draft, author, KEY, 120)
    cookie = await asyncio.to_thread(preview.cookie_value, author)
    clients = {"author": AsyncClient(), "other": AsyncClient(), "anonymous": AsyncClient()}
    await clients["author"].aforce_login(author)
    await clients["other"].aforce_login(other)
    for client in clients.values():
        client.cookies[preview.COOKIE] = cookie
    expected = {"author": 120, "other": 600, "anonymous": 600}

    async def one(who, url):
        response = await clients[who].get(url)
        data = response.json()
        return who, data["values"][KEY], data.get("in_thread", data["values"])[KEY]

    results = await asyncio.gather(
        *(one(who, url) for _ in range(8) for who in expected for url in ("/async-echo/", "/echo/"))
    )
    assert len(results) == 48
    assert [r for r in results if r[1:] != (expected[r[0]], expected[r[0]])] == []


def test_preview_applies_only_the_drafts_the_author_may_still_write(django_user_model):
    SettingOverride.objects.set("SITE_TITLE", "Old")
    editor = django_user_model.objects.create_user("editor", password="pw", is_staff=True)
    codenames = ["add_settingoverride", "change_settingoverride"]
    editor.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    preview.save_draft(editor, KEY, 120)
    preview.save_draft(editor, "SITE_TITLE", remove=True)  # saved, then the delete right is not theirs (any more)
    client = signed_in(editor)
    client.cookies[preview.COOKIE] = preview.cookie_value(editor)
    values = client.get("/echo/", {"keys": f"{KEY},SITE_TITLE"}).json()["values"]
    assert values == {KEY: 120, "SITE_TITLE": "Old"}
    page = client.get(reverse("admin:index")).content.decode()
    assert "Not applied:" in page and "You may not remove SITE_TITLE" in page


def test_a_draft_under_a_scheduled_value_in_effect_previews_what_publishing_would_give(author):
    from request_settings import effective

    SettingOverride.objects.set(KEY, 600)
    SettingOverride.objects.schedule(KEY, 60, start=timezone.now() - datetime.timedelta(hours=1))
    preview.save_draft(author, KEY, 120)  # publishing changes the row under the window, which still wins
    client = previewing(author)
    assert seen(client) == 60
    page = client.get(reverse("admin:index")).content.decode()
    assert "Not applied:" in page and "scheduled value is in effect" in page
    with_drafts = effective.resolve("", [KEY], drafts=preview.draft_changes(author))[0]
    assert with_drafts.value == 60
    preview.publish(author)
    assert seen(Client()) == 60


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_a_host_draft_previews_on_that_host_with_the_banner(author):
    await asyncio.to_thread(preview.save_draft, author, KEY, 90, "shop.example.com")
    client = HostAsyncClient()
    await client.aforce_login(author)
    client.cookies[preview.COOKIE] = await asyncio.to_thread(preview.cookie_value, author)

    async def seen_async(host):
        return (await client.get("/async-echo/", headers={"host": host})).json()["values"][KEY]

    assert await seen_async("shop.example.com") == 90
    assert await seen_async("other.example.com") == 3600
    page = (await client.get(reverse("admin:index"), headers={"host": "shop.example.com"})).content.decode()
    assert 'id="request-settings-preview"' in page and page.index("</aside>") < page.rindex("</body>")


# -- the banner --------------------------------------------------------------------------------------------------------


def test_the_banner_lists_the_drafts_with_links_to_publish_and_discard(author):
    preview.save_draft(author, KEY, 120)
    preview.save_draft(author, "SITE_TITLE", remove=True)
    client = previewing(author)
    page = client.get(reverse("admin:index")).content.decode()
    banner = page[page.index('id="request-settings-preview"') : page.index("</aside>")]
    assert "SESSION_EXPIRE_SECONDS" in banner and "120" in banner and "(removed)" in banner
    assert reverse(PUBLISH_URL) in banner and reverse(DISCARD_URL) in banner
    assert page.index("</aside>") < page.rindex("</body>")
    assert client.get("/echo/").json()  # JSON is left alone
    assert "request-settings-preview" not in signed_in(author).get(reverse("admin:index")).content.decode()


def test_the_banner_masks_secret_values(author):
    preview.save_draft(author, "PAYMENT_API_KEY", "sk-live-123")
    page = previewing(author).get(reverse("admin:index")).content.decode()
    assert "PAYMENT_API_KEY" in page and "sk-live-123" not in page


@override_settings(REQUEST_SETTINGS_PREVIEW_BANNER=False)
def test_the_project_can_turn_the_banner_off(author):
    preview.save_draft(author, KEY, 120)
    client = previewing(author)
    assert "request-settings-preview" not in client.get(reverse("admin:index")).content.decode()
    assert seen(client) == 120  # the preview itself still applies


# -- publish and discard -----------------------------------------------------------------------------------------------


def test_publish_applies_every_draft_audited_and_signalled_then_deletes_them(
    author, django_capture_on_commit_callbacks
):
    SettingOverride.objects.set("SITE_TITLE", "Old")
    preview.save_draft(author, KEY, 120)
    preview.save_draft(author, "SITE_TITLE", remove=True)
    client = previewing(author)
    assert b"Publish 2 drafts" in client.get(reverse(PUBLISH_URL)).content
    received = []
    override_changed.connect(lambda **kw: received.append((kw["key"], kw["deleted"])), weak=False, dispatch_uid="t")
    try:
        with django_capture_on_commit_callbacks(execute=True):
            response = client.post(reverse(PUBLISH_URL))
    finally:
        override_changed.disconnect(dispatch_uid="t")
    assert response.status_code == 302
    assert list(SettingOverride.objects.values_list("key", "value")) == [(KEY, 120)]
    assert not SettingDraft.objects.exists()
    audit = set(SettingOverrideChange.objects.filter(user=author).values_list("key", "action"))
    assert audit == {(KEY, "created"), ("SITE_TITLE", "deleted")}
    assert sorted(received) == [(KEY, False), ("SITE_TITLE", True)]
    assert seen(Client()) == 120  # published: everyone gets it now


def test_publish_is_all_or_nothing(author):
    preview.save_draft(author, KEY, 120)
    SettingDraft.objects.create(author=author, key="SESSION_COOKIE_AGE", value=-1)  # became invalid since saved
    client = previewing(author)
    response = client.post(reverse(PUBLISH_URL), follow=True)
    message = response.content.decode()
    assert "Nothing was published" in message and "SESSION_COOKIE_AGE" in message
    assert not SettingOverride.objects.exists()
    assert not SettingOverrideChange.objects.exists()
    assert SettingDraft.objects.count() == 2


def test_publish_checks_the_authors_rights_per_draft(django_user_model):
    SettingOverride.objects.set("SITE_TITLE", "Old")
    editor = django_user_model.objects.create_user("editor", password="pw", is_staff=True)
    codenames = ["add_settingoverride", "change_settingoverride"]
    editor.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    preview.save_draft(editor, KEY, 120)
    preview.save_draft(editor, "SITE_TITLE", remove=True)  # removing needs the delete right, which editor lacks
    with pytest.raises(Exception, match="You may not remove SITE_TITLE"):
        preview.publish(django_user_model.objects.get(pk=editor.pk))
    assert list(SettingOverride.objects.values_list("key", "value")) == [("SITE_TITLE", "Old")]
    assert SettingDraft.objects.count() == 2


def test_discard_deletes_the_drafts_and_changes_nothing_else(author, other):
    SettingOverride.objects.set(KEY, 600)
    preview.save_draft(author, KEY, 120)
    preview.save_draft(other, KEY, 130)
    client = previewing(author)
    assert b"Discard 1 draft" in client.get(reverse(DISCARD_URL)).content
    assert client.post(reverse(DISCARD_URL)).status_code == 302
    assert list(SettingDraft.objects.values_list("author__username", flat=True)) == ["other"]
    assert seen(client) == 600
    assert SettingOverride.objects.get().value == 600


def test_the_drafts_page_lists_only_the_users_own_drafts(author, other):
    preview.save_draft(author, KEY, 120)
    theirs = preview.save_draft(other, "SITE_TITLE", "Theirs")
    client = signed_in(author)
    page = client.get(reverse(DRAFTS_URL)).content.decode()
    assert KEY in page and "Theirs" not in page and "Turn preview on" in page
    assert client.get(reverse("admin:request_settings_settingdraft_delete", args=[theirs.pk])).status_code == 302
    assert SettingDraft.objects.filter(pk=theirs.pk).exists()


# -- drafts stay out of exports and the effective page -----------------------------------------------------------------


def test_export_never_contains_drafts(author):
    SettingOverride.objects.set(KEY, 600)
    preview.save_draft(author, KEY, 120)
    preview.save_draft(author, "SITE_TITLE", "Draft")
    out = io.StringIO()
    call_command("request_settings", "export", stdout=out, stderr=io.StringIO())
    assert json.loads(out.getvalue()) == [{"key": KEY, "host": "", "value": 600}]


def test_the_effective_page_shows_drafts_only_to_their_author_when_asked(author, other):
    SettingOverride.objects.set(KEY, 600)
    preview.save_draft(author, KEY, 120)
    preview.save_draft(author, "SITE_TITLE", "Draft title")
    url = reverse("admin:request_settings_settingoverride_effective")

    def effective(client, **query):
        page = client.get(url, {"host": "", **query}).content.decode()
        row = page[page.index(f'data-key="{KEY}"') :]
        return row[: row.index("</tr>")], page

    mine, _page = effective(signed_in(author))
    assert "600" in mine and "draft" not in mine
    with_drafts, page = effective(signed_in(author), drafts="1")
    assert "120" in with_drafts and "your draft" in with_drafts and "Draft title" in page
    assert 'name="drafts"' in page
    theirs, page = effective(signed_in(other), drafts="1")
    assert "600" in theirs and "Draft title" not in page
