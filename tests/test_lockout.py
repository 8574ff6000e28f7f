"""No accepted value of an honored key locks staff out of the admin of the host it is set for.

For each honored key (Django's and the third-party registry's), the most hostile value its rule accepts is set for
one host; then a member of staff, at a human pace (ten seconds between pages, the clock moved rather than waited
for), opens the admin on that host, signs in with the login form, finds the row and deletes it. The client keeps
cookies as a browser does (``http.cookiejar``: Domain, Path, Secure, Max-Age/Expires), so a cookie a browser would
drop or withhold is dropped or withheld here too. Requests use HTTPS, as a site with Secure cookies is served.
"""

from __future__ import annotations

import http.client
import http.cookiejar
import re
import time
import urllib.request
from contextlib import contextmanager
from datetime import timedelta
from unittest import mock

import pytest
from django.contrib.sites.models import Site
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from request_settings import policy, thirdparty
from request_settings.models import SettingOverride

pytestmark = pytest.mark.django_db

A = "a.example.com"
PASSWORD = "correct horse battery staple"
PACE = 10  # seconds between two pages

HOSTILE = {
    # Django's honored settings.
    "SESSION_COOKIE_AGE": 60,
    "SESSION_EXPIRE_AT_BROWSER_CLOSE": True,
    "SESSION_COOKIE_SECURE": True,
    "SESSION_COOKIE_HTTPONLY": False,
    "SESSION_COOKIE_SAMESITE": "Strict",
    "SESSION_COOKIE_DOMAIN": "example.com",
    "SESSION_COOKIE_PATH": "/admin",
    "SESSION_SAVE_EVERY_REQUEST": True,
    "CSRF_COOKIE_AGE": 60,
    "CSRF_COOKIE_SECURE": True,
    "CSRF_COOKIE_HTTPONLY": True,
    "CSRF_COOKIE_SAMESITE": "Strict",
    "CSRF_COOKIE_DOMAIN": ".example.com",
    "CSRF_COOKIE_PATH": "/admin",
    "EMAIL_SUBJECT_PREFIX": "x" * 100,
    "EMAIL_TIMEOUT": 1,
    "EMAIL_USE_LOCALTIME": True,
    "DEFAULT_FROM_EMAIL": "nobody@invalid.example",
    "SERVER_EMAIL": "nobody@invalid.example",
    "EMAIL_BACKEND": "no.such.EmailBackend",
    "EMAIL_HOST": "localhost",
    "EMAIL_PORT": 1,
    "EMAIL_HOST_USER": "x" * 255,
    "EMAIL_HOST_PASSWORD": "x" * 255,
    "EMAIL_USE_TLS": True,
    "EMAIL_USE_SSL": True,
    "LOGIN_URL": "/nowhere/",
    "LOGIN_REDIRECT_URL": "/nowhere/",
    "LOGOUT_REDIRECT_URL": "/nowhere/",
    "PASSWORD_RESET_TIMEOUT": 1,
    "DATA_UPLOAD_MAX_MEMORY_SIZE": 65536,
    "DATA_UPLOAD_MAX_NUMBER_FIELDS": 100,
    "DATA_UPLOAD_MAX_NUMBER_FILES": 1,
    "X_FRAME_OPTIONS": "DENY",
    "APPEND_SLASH": False,
    "PREPEND_WWW": False,
    "DEFAULT_CHARSET": "gb18030",
    "MESSAGE_LEVEL": 100,
    "SITE_ID": 2,
    # The third-party registry.
    "SESSION_EXPIRE_SECONDS": 60,
    "SESSION_EXPIRE_AFTER_LAST_ACTIVITY": False,
    "SESSION_EXPIRE_AFTER_LAST_ACTIVITY_GRACE_PERIOD": 31536000,
    "SESSION_TIMEOUT_REDIRECT": "/nowhere/",
    "CORS_ALLOWED_ORIGINS": ["https://evil.example"],
    "CORS_ALLOW_METHODS": [],
    "CORS_ALLOW_HEADERS": [],
    "CORS_EXPOSE_HEADERS": ["set-cookie"],
    "CORS_PREFLIGHT_MAX_AGE": 0,
    "CORS_ALLOW_CREDENTIALS": True,
    "CORS_ALLOW_PRIVATE_NETWORK": True,
    "ACCOUNT_LOGOUT_REDIRECT_URL": "/nowhere/",
    "ACCOUNT_EMAIL_SUBJECT_PREFIX": "x" * 100,
    "ACCOUNT_SIGNUP_ENABLED": False,
}


def honored_keys():
    return set(policy.HONORED) | set(thirdparty.honored())


def test_every_honored_key_has_a_hostile_value():
    assert set(HOSTILE) == honored_keys()


class _Response:
    """What http.cookiejar reads from a response: its headers."""

    def __init__(self, headers):
        self._headers = headers

    def info(self):
        return self._headers


class BrowserClient:
    """Django's test client, with cookies kept and sent by a browser's rules, and a Referer like a browser's."""

    def __init__(self, host):
        self.host = host
        self.client = Client(enforce_csrf_checks=True, raise_request_exception=False)
        self.jar = http.cookiejar.CookieJar()
        self.referer = None

    def request(self, method, path, data=None):
        url = f"https://{self.host}{path}"
        request = urllib.request.Request(url, method=method)
        self.jar.add_cookie_header(request)
        extra = {"HTTP_HOST": self.host, "HTTP_COOKIE": request.get_header("Cookie", "")}
        if self.referer:
            extra["HTTP_REFERER"] = self.referer
        self.client.cookies.clear()  # only the jar decides what is sent
        response = getattr(self.client, method.lower())(path, data or {}, secure=True, **extra)
        headers = http.client.HTTPMessage()
        for morsel in response.cookies.values():
            headers["Set-Cookie"] = morsel.OutputString()
        self.jar.extract_cookies(_Response(headers), request)
        self.referer = url
        return response

    def get(self, path):
        return self.request("GET", path)

    def post(self, path, data):
        return self.request("POST", path, data)


@contextmanager
def human_clock():
    """A clock that staff move forward between pages: ``time.time`` and Django's ``timezone.now`` agree on it."""
    offset = [0.0]
    real_time, real_now = time.time, timezone.now
    with (
        mock.patch("time.time", lambda: real_time() + offset[0]),
        mock.patch("django.utils.timezone.now", lambda: real_now() + timedelta(seconds=offset[0])),
    ):
        yield lambda: offset.__setitem__(0, offset[0] + PACE)


def csrf_token(response):
    match = re.search(rb'name="csrfmiddlewaretoken" value="([^"]+)"', response.content)
    assert match, "the page has a CSRF token"
    return match.group(1).decode()


def sign_in_and_delete(row):
    """Staff's way back in: the admin of the host, its login form, the row's delete page. Returns what failed."""
    browser = BrowserClient(A)
    with human_clock() as pause:
        index = reverse("admin:index")
        response = browser.get(index)
        if response.status_code != 302:
            return f"admin index gave {response.status_code}"
        pause()
        login = browser.get(response["Location"])
        if login.status_code != 200:
            return f"login page gave {login.status_code}"
        pause()
        signed_in = browser.post(
            reverse("admin:login") + f"?next={index}",
            {"username": "staff", "password": PASSWORD, "next": index, "csrfmiddlewaretoken": csrf_token(login)},
        )
        if signed_in.status_code != 302 or signed_in["Location"] != index:
            return f"sign-in gave {signed_in.status_code} {signed_in.get('Location')}"
        pause()
        listing = browser.get(reverse("admin:request_settings_settingoverride_changelist"))
        if listing.status_code != 200 or row.key.encode() not in listing.content:
            return f"the list of overrides gave {listing.status_code}"
        pause()
        delete_url = reverse("admin:request_settings_settingoverride_delete", args=[row.pk])
        confirm = browser.get(delete_url)
        if confirm.status_code != 200:
            return f"the delete page gave {confirm.status_code}"
        pause()
        deleted = browser.post(delete_url, {"post": "yes", "csrfmiddlewaretoken": csrf_token(confirm)})
        if deleted.status_code != 302:
            return f"the deletion gave {deleted.status_code}"
    return None


@pytest.fixture
def staff(django_user_model):
    return django_user_model.objects.create_superuser("staff", "staff@example.com", PASSWORD)


def test_staff_can_sign_in_and_delete_a_row_with_no_hostile_value(staff):
    row = SettingOverride.objects.set("TENANT_MOTTO", "Hi", host=A)

    assert sign_in_and_delete(row) is None
    assert not SettingOverride.objects.exists()


@pytest.mark.parametrize("key", sorted(HOSTILE))
def test_the_most_hostile_accepted_value_does_not_lock_staff_out(key, staff):
    Site.objects.create(id=2, domain="other.example.com", name="Other")
    value = HOSTILE[key]
    with override_settings(REQUEST_SETTINGS_ALLOWED=[key]):  # the sensitive mail settings too
        assert policy.value_problem(key, value, host=A) is None, "the value is accepted for this host"
        row = SettingOverride.objects.set(key, value, host=A)

        assert sign_in_and_delete(row) is None

    assert not SettingOverride.objects.exists()


# The lock-outs the tightened rules prevent: each value was accepted before, and each locks staff out.
LOCKING = [
    ("SESSION_COOKIE_AGE", 1),
    ("CSRF_COOKIE_AGE", 1),
    ("SESSION_EXPIRE_SECONDS", 1),
    ("SESSION_COOKIE_PATH", "/shop/"),
    ("CSRF_COOKIE_PATH", "/shop/"),
    ("SESSION_COOKIE_DOMAIN", "b.example.com"),
    ("CSRF_COOKIE_DOMAIN", "example.com"),  # CsrfViewMiddleware's Referer check then matches example.com only
    ("DATA_UPLOAD_MAX_NUMBER_FIELDS", 2),
    ("DATA_UPLOAD_MAX_MEMORY_SIZE", 10),
    ("SITE_ID", 99),
    ("PREPEND_WWW", True),
]


@pytest.mark.parametrize(("key", "value"), LOCKING)
def test_a_value_that_would_lock_staff_out_is_refused(key, value, staff):
    assert policy.value_problem(key, value, host=A) is not None


@pytest.mark.parametrize(("key", "value"), LOCKING)
def test_the_refused_values_really_lock_staff_out(key, value, staff):
    """Why each refusal above is needed: with the value in force (here for the whole site), the same flow fails."""
    row = SettingOverride.objects.set("TENANT_MOTTO", "Hi", host=A)

    with override_settings(**{key: value}):
        assert sign_in_and_delete(row) is not None

    assert SettingOverride.objects.filter(pk=row.pk).exists()
