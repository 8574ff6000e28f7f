"""Every setting in policy.HONORED, shown through the real stack: Django obeys a host's override.

Each test writes rows with the write API and sends the same request for a.example.com (which has
the override) and b.example.com (which has not, or only the all-hosts row). ``@honors(KEY)``
registers a test for a key; ``test_every_honored_key_has_a_test`` fails when a key is added to
HONORED without one.
"""

from __future__ import annotations

import email.utils
import time
from datetime import datetime, timedelta
from unittest import mock

import django
import pytest
from django.conf import settings
from django.contrib.auth.models import User
from django.contrib.auth.tokens import default_token_generator
from django.contrib.sessions.models import Session
from django.contrib.sites.models import Site
from django.core.exceptions import ValidationError
from django.core.files.uploadedfile import SimpleUploadedFile
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django.utils.encoding import force_bytes
from django.utils.http import urlencode, urlsafe_base64_encode
from django_session_timeout.middleware import SESSION_TIMEOUT_KEY

from request_settings import policy
from request_settings.models import SettingOverride

pytestmark = [pytest.mark.django_db, pytest.mark.urls("tests.honored_urls")]

A = "a.example.com"
B = "b.example.com"
SMTP = "django.core.mail.backends.smtp.EmailBackend"
DUMMY = "django.core.mail.backends.dummy.EmailBackend"
# Django 6.0 deprecates (name, address) pairs in ADMINS; 5.2 requires them.
ADMINS = [("Ops", "ops@example.org")] if django.VERSION < (6, 0) else ["ops@example.org"]

HONORED_TESTS: dict[str, str] = {}
"""key -> the test that shows Django honors its override per request."""

SESSION_TIMEOUT_TESTS: dict[str, str] = {}
"""django-session-timeout's keys (custom, read at call time) -> their test."""


def honors(*keys, registry=HONORED_TESTS):
    def register(test):
        for key in keys:
            registry[key] = test.__name__
        return test

    return register


def client(host):
    return Client(HTTP_HOST=host)


def set_override(key, value, host=A):
    SettingOverride.objects.set(key, value, host=host)


def session_cookie(host):
    """A fresh session for ``host``, and the sessionid cookie of the response that created it."""
    browser = client(host)
    response = browser.get(reverse("session"))
    return browser, response.cookies[settings.SESSION_COOKIE_NAME]


def csrf_cookie(host):
    response = client(host).get(reverse("honored-csrf"))
    return response.cookies[settings.CSRF_COOKIE_NAME]


def test_every_honored_key_has_a_test():
    assert set(HONORED_TESTS) == set(policy.HONORED)
    assert all(name in globals() for name in HONORED_TESTS.values())


# Sessions: SessionMiddleware reads these in its response phase, inside our layer.


@honors("SESSION_COOKIE_AGE")
def test_session_cookie_age_sets_the_cookie_max_age():
    set_override("SESSION_COOKIE_AGE", 900, host="")
    set_override("SESSION_COOKIE_AGE", 600)

    _, cookie_a = session_cookie(A)
    _, cookie_b = session_cookie(B)
    _, cookie_c = session_cookie("c.example.com")

    assert cookie_a["max-age"] == 600
    # The server side follows too: the stored expiry date ends the session even if a cookie stays.
    stored = Session.objects.get(pk=cookie_a.value).expire_date - timezone.now()
    assert timedelta(seconds=590) < stored <= timedelta(seconds=600)
    assert cookie_b["max-age"] == 900  # the all-hosts row
    assert cookie_c["max-age"] == 900
    assert settings.SESSION_COOKIE_AGE == 1209600  # outside a request: settings.py


@honors("SESSION_EXPIRE_AT_BROWSER_CLOSE")
def test_session_expire_at_browser_close_makes_a_browser_session_cookie():
    set_override("SESSION_EXPIRE_AT_BROWSER_CLOSE", True)

    _, cookie_a = session_cookie(A)
    _, cookie_b = session_cookie(B)

    assert (cookie_a["max-age"], cookie_a["expires"]) == ("", "")
    assert cookie_b["max-age"] == settings.SESSION_COOKIE_AGE
    assert cookie_b["expires"]


@honors("SESSION_COOKIE_SECURE")
def test_session_cookie_secure_flag():
    set_override("SESSION_COOKIE_SECURE", True)

    assert session_cookie(A)[1]["secure"] is True
    assert not session_cookie(B)[1]["secure"]


@honors("SESSION_COOKIE_HTTPONLY")
def test_session_cookie_httponly_flag():
    set_override("SESSION_COOKIE_HTTPONLY", False)

    assert not session_cookie(A)[1]["httponly"]
    assert session_cookie(B)[1]["httponly"] is True


@honors("SESSION_COOKIE_SAMESITE")
def test_session_cookie_samesite():
    set_override("SESSION_COOKIE_SAMESITE", "Strict")

    assert session_cookie(A)[1]["samesite"] == "Strict"
    assert session_cookie(B)[1]["samesite"] == "Lax"


@honors("SESSION_COOKIE_DOMAIN")
def test_session_cookie_domain():
    set_override("SESSION_COOKIE_DOMAIN", ".a.example.com")

    assert session_cookie(A)[1]["domain"] == ".a.example.com"
    assert session_cookie(B)[1]["domain"] == ""


@honors("SESSION_COOKIE_PATH")
def test_session_cookie_path():
    # A path the admin lies under: any narrower one would keep staff from signing in to remove it.
    set_override("SESSION_COOKIE_PATH", "/admin/")

    assert session_cookie(A)[1]["path"] == "/admin/"
    assert session_cookie(B)[1]["path"] == "/"


@honors("SESSION_SAVE_EVERY_REQUEST")
def test_session_save_every_request_resends_the_cookie_on_an_unmodified_request():
    set_override("SESSION_SAVE_EVERY_REQUEST", True)

    def cookie_on_an_unmodified_request(host):
        browser, _ = session_cookie(host)
        # django-session-timeout stamps the session: modified once more.
        browser.get(reverse("echo"))
        response = browser.get(reverse("echo"))
        return response.cookies.get(settings.SESSION_COOKIE_NAME)

    assert cookie_on_an_unmodified_request(A) is not None
    assert cookie_on_an_unmodified_request(B) is None


# CSRF: CsrfViewMiddleware reads these in _set_csrf_cookie, in its response phase.


@honors("CSRF_COOKIE_AGE")
def test_csrf_cookie_age():
    set_override("CSRF_COOKIE_AGE", 600)
    set_override("CSRF_COOKIE_AGE", None, host="c.example.com")

    assert csrf_cookie(A)["max-age"] == 600
    assert csrf_cookie(B)["max-age"] == settings.CSRF_COOKIE_AGE
    assert csrf_cookie("c.example.com")["max-age"] == ""  # None: a browser-session cookie


@honors("CSRF_COOKIE_SECURE")
def test_csrf_cookie_secure_flag():
    set_override("CSRF_COOKIE_SECURE", True)

    assert csrf_cookie(A)["secure"] is True
    assert not csrf_cookie(B)["secure"]


@honors("CSRF_COOKIE_HTTPONLY")
def test_csrf_cookie_httponly_flag():
    set_override("CSRF_COOKIE_HTTPONLY", True)

    assert csrf_cookie(A)["httponly"] is True
    assert not csrf_cookie(B)["httponly"]


@honors("CSRF_COOKIE_SAMESITE")
def test_csrf_cookie_samesite():
    set_override("CSRF_COOKIE_SAMESITE", "Strict")

    assert csrf_cookie(A)["samesite"] == "Strict"
    assert csrf_cookie(B)["samesite"] == "Lax"


@honors("CSRF_COOKIE_DOMAIN")
def test_csrf_cookie_domain():
    set_override("CSRF_COOKIE_DOMAIN", ".a.example.com")

    assert csrf_cookie(A)["domain"] == ".a.example.com"
    assert csrf_cookie(B)["domain"] == ""


@honors("CSRF_COOKIE_PATH")
def test_csrf_cookie_path():
    set_override("CSRF_COOKIE_PATH", "/admin/")

    assert csrf_cookie(A)["path"] == "/admin/"
    assert csrf_cookie(B)["path"] == "/"


# Mail: django.core.mail reads these when a message or a connection is built.


@honors("EMAIL_SUBJECT_PREFIX", "SERVER_EMAIL")
@override_settings(ADMINS=ADMINS)
def test_mail_admins_subject_prefix_and_sender(mailoutbox):
    set_override("EMAIL_SUBJECT_PREFIX", "[Shop A] ")
    set_override("SERVER_EMAIL", "alerts@a.example.com")

    client(A).get(reverse("honored-admins-mail"))
    client(B).get(reverse("honored-admins-mail"))

    assert [(message.subject, message.from_email) for message in mailoutbox] == [
        ("[Shop A] Disk full", "alerts@a.example.com"),
        ("[Django] Disk full", "root@localhost"),
    ]


@honors("DEFAULT_FROM_EMAIL")
def test_default_from_email_is_the_sender_of_send_mail(mailoutbox):
    set_override("DEFAULT_FROM_EMAIL", "shop@a.example.com")

    client(A).get(reverse("honored-user-mail"))
    client(B).get(reverse("honored-user-mail"))

    assert [message.from_email for message in mailoutbox] == [
        "shop@a.example.com",
        "webmaster@localhost",
    ]


@honors("EMAIL_TIMEOUT")
@override_settings(EMAIL_BACKEND=SMTP)
def test_email_timeout_on_the_smtp_backend():
    set_override("EMAIL_TIMEOUT", 7.5)

    assert client(A).get(reverse("honored-mail-connection")).json()["timeout"] == 7.5
    assert client(B).get(reverse("honored-mail-connection")).json()["timeout"] is None


@honors("EMAIL_USE_LOCALTIME")
def test_email_use_localtime_in_the_message_date():
    set_override("EMAIL_USE_LOCALTIME", True)

    date_a = client(A).get(reverse("honored-message-date")).json()["date"]
    date_b = client(B).get(reverse("honored-message-date")).json()["date"]

    local_offset = email.utils.formatdate(localtime=True)[-5:]
    assert local_offset != "-0000", "Django sets TZ from TIME_ZONE (America/Chicago here)"
    assert date_a.endswith(local_offset)
    assert date_b.endswith(("-0000", "+0000"))  # UTC: Django 5.2 writes -0000, Django 6 +0000


SMTP_ATTRIBUTES = [
    ("EMAIL_HOST", "smtp.a.example.com", "host", "localhost"),
    ("EMAIL_PORT", 2525, "port", 25),
    ("EMAIL_HOST_USER", "shop-a", "username", ""),
    ("EMAIL_HOST_PASSWORD", "s3cret-a", "password", ""),
    ("EMAIL_USE_TLS", True, "use_tls", False),
    ("EMAIL_USE_SSL", True, "use_ssl", False),
]
SENSITIVE_VALUES = {key: value for key, value, *_ in SMTP_ATTRIBUTES} | {"EMAIL_BACKEND": DUMMY}


@honors(*(key for key, *_ in SMTP_ATTRIBUTES))
@pytest.mark.parametrize(("key", "value", "attribute", "default"), SMTP_ATTRIBUTES)
def test_sensitive_smtp_setting_honored_when_allowed(key, value, attribute, default):
    with override_settings(EMAIL_BACKEND=SMTP, REQUEST_SETTINGS_ALLOWED=[key]):
        set_override(key, value)

        assert client(A).get(reverse("honored-mail-connection")).json()[attribute] == value
        assert client(B).get(reverse("honored-mail-connection")).json()[attribute] == default


@honors("EMAIL_BACKEND")
@override_settings(REQUEST_SETTINGS_ALLOWED=["EMAIL_BACKEND"])
def test_email_backend_honored_when_allowed(mailoutbox):
    set_override("EMAIL_BACKEND", DUMMY)

    assert client(A).get(reverse("honored-mail-connection")).json()["backend"] == DUMMY
    assert client(A).get(reverse("honored-user-mail")).json() == {"sent": 1}
    assert mailoutbox == []  # the dummy backend of host A swallowed it

    client(B).get(reverse("honored-user-mail"))
    assert len(mailoutbox) == 1


@pytest.mark.parametrize("key", sorted(policy.SENSITIVE_KEYS & set(policy.HONORED)))
def test_sensitive_mail_setting_refused_unless_allowed(key):
    value = SENSITIVE_VALUES[key]

    with pytest.raises(ValidationError) as caught:
        set_override(key, value)

    assert caught.value.message_dict == {"key": [f"{key} cannot be overridden: {policy.SENSITIVE}."]}
    assert not SettingOverride.objects.exists()


# Authentication.


@honors("LOGIN_URL")
def test_login_url_is_where_login_required_redirects():
    set_override("LOGIN_URL", "/sign-in/")

    response_a = client(A).get(reverse("honored-private"))
    response_b = client(B).get(reverse("honored-private"))

    assert response_a["Location"] == "/sign-in/?next=/honored/private/"
    assert response_b["Location"] == "/accounts/login/?next=/honored/private/"


@honors("LOGIN_REDIRECT_URL")
def test_login_redirect_url_after_loginview():
    User.objects.create_user("alice", password="correct horse")
    set_override("LOGIN_REDIRECT_URL", "/welcome/")
    credentials = {"username": "alice", "password": "correct horse"}

    response_a = client(A).post(reverse("login"), credentials)
    response_b = client(B).post(reverse("login"), credentials)

    assert (response_a.status_code, response_a["Location"]) == (302, "/welcome/")
    assert (response_b.status_code, response_b["Location"]) == (302, "/accounts/profile/")


@honors("LOGOUT_REDIRECT_URL")
def test_logout_redirect_url_after_logoutview():
    set_override("LOGOUT_REDIRECT_URL", "/goodbye/")

    response_a = client(A).post(reverse("logout"))
    response_b = client(B).post(reverse("logout"))

    assert (response_a.status_code, response_a["Location"]) == (302, "/goodbye/")
    assert response_b.status_code == 200  # no LOGOUT_REDIRECT_URL: Django renders logged_out.html
    assert "registration/logged_out.html" in [template.name for template in response_b.templates]


@honors("PASSWORD_RESET_TIMEOUT")
def test_password_reset_timeout_expires_the_reset_link():
    user = User.objects.create_user("alice", email="alice@example.org", password="correct horse")
    two_hours_ago = datetime.now() - timedelta(hours=2)
    with mock.patch.object(default_token_generator, "_now", return_value=two_hours_ago):
        token = default_token_generator.make_token(user)
    set_override("PASSWORD_RESET_TIMEOUT", 3600)
    url = reverse("password_reset_confirm", args=[urlsafe_base64_encode(force_bytes(user.pk)), token])

    response_a = client(A).get(url)
    response_b = client(B).get(url)

    assert response_a.status_code == 200
    assert response_a.context["validlink"] is False  # "The password reset link was invalid"
    assert response_b.status_code == 302
    assert response_b["Location"].endswith("/set-password/")
    # Outside a request: settings.py's 3 days.
    assert default_token_generator.check_token(user, token)


# Request bodies: HttpRequest and MultiPartParser read the limits when the view parses the body.


def post_form(host, fields):
    return client(host).post(
        reverse("honored-form"), urlencode(fields), content_type="application/x-www-form-urlencoded"
    )


@honors("DATA_UPLOAD_MAX_MEMORY_SIZE")
def test_data_upload_max_memory_size():
    set_override("DATA_UPLOAD_MAX_MEMORY_SIZE", 65536)  # the lowest accepted: the admin's forms stay postable
    fields = {"comment": "x" * 70000}

    assert post_form(A, fields).status_code == 400
    assert post_form(B, fields).json() == {"fields": 1, "files": 0}
    assert post_form(A, {"comment": "short"}).status_code == 200


@honors("DATA_UPLOAD_MAX_NUMBER_FIELDS")
def test_data_upload_max_number_fields():
    set_override("DATA_UPLOAD_MAX_NUMBER_FIELDS", 100)  # the lowest accepted
    fields = {f"field{number}": "x" for number in range(105)}

    assert post_form(A, fields).status_code == 400
    assert post_form(B, fields).json() == {"fields": 105, "files": 0}


@honors("DATA_UPLOAD_MAX_NUMBER_FILES")
def test_data_upload_max_number_files():
    set_override("DATA_UPLOAD_MAX_NUMBER_FILES", 2)

    def upload(host):
        files = {f"file{number}": SimpleUploadedFile(f"{number}.txt", b"data") for number in range(3)}
        return client(host).post(reverse("honored-form"), files)

    assert upload(A).status_code == 400
    assert upload(B).json() == {"fields": 0, "files": 3}


# Responses.


@honors("X_FRAME_OPTIONS")
def test_x_frame_options_header():
    set_override("X_FRAME_OPTIONS", "SAMEORIGIN", host="")
    set_override("X_FRAME_OPTIONS", "DENY")
    settings_value = settings.X_FRAME_OPTIONS

    assert client(A).get(reverse("echo"))["X-Frame-Options"] == "DENY"
    assert client(B).get(reverse("echo"))["X-Frame-Options"] == "SAMEORIGIN"  # the all-hosts row
    assert settings_value == "DENY"


@honors("APPEND_SLASH")
def test_append_slash_redirect():
    set_override("APPEND_SLASH", False)
    path = reverse("echo").rstrip("/")

    assert client(A).get(path).status_code == 404
    response_b = client(B).get(path)
    assert (response_b.status_code, response_b["Location"]) == (301, reverse("echo"))


@honors("PREPEND_WWW")
@override_settings(PREPEND_WWW=True)
def test_prepend_www_redirect():
    # Only false may be set per host (true would send the admin of that host away too): a host opts out.
    set_override("PREPEND_WWW", False)

    assert client(A).get(reverse("echo")).status_code == 200
    response_b = client(B).get(reverse("echo"))
    assert (response_b.status_code, response_b["Location"]) == (301, "http://www.b.example.com/echo/")


@honors("DEFAULT_CHARSET")
def test_default_charset_of_responses():
    set_override("DEFAULT_CHARSET", "gb18030")

    response_a = client(A).get(reverse("honored-cafe"))
    response_b = client(B).get(reverse("honored-cafe"))

    assert (response_a["Content-Type"], response_a.content) == (
        "text/html; charset=gb18030",
        "café".encode("gb18030"),
    )
    assert (response_b["Content-Type"], response_b.content) == (
        "text/html; charset=utf-8",
        b"caf\xc3\xa9",
    )


@honors("MESSAGE_LEVEL")
def test_message_level_decides_which_messages_are_stored():
    set_override("MESSAGE_LEVEL", 10)  # messages.DEBUG

    assert client(A).get(reverse("honored-messages")).json() == {"messages": ["debug detail", "info detail"]}
    assert client(B).get(reverse("honored-messages")).json() == {"messages": ["info detail"]}


@honors("SITE_ID")
def test_site_id_is_the_current_site():
    Site.objects.clear_cache()
    Site.objects.create(id=2, domain="shop-a.example.com", name="Shop A")
    set_override("SITE_ID", 2)
    try:
        assert client(A).get(reverse("honored-site")).json() == {
            "id": 2,
            "domain": "shop-a.example.com",
        }
        assert client(B).get(reverse("honored-site")).json() == {"id": 1, "domain": "example.com"}
        # Django's SITE_CACHE is keyed by id: host B's lookup did not stick.
        assert client(A).get(reverse("honored-site")).json()["id"] == 2
    finally:
        Site.objects.clear_cache()


# django-session-timeout's four keys: custom, read by SessionTimeoutMiddleware on every request.


def stamped_session(host):
    """A session the timeout middleware has stamped with its start time."""
    browser, _ = session_cookie(host)
    browser.get(reverse("echo"))
    assert SESSION_TIMEOUT_KEY in browser.session
    return browser


def age_session(browser, seconds):
    session = browser.session
    session[SESSION_TIMEOUT_KEY] = session[SESSION_TIMEOUT_KEY] - seconds
    session.save()
    return session[SESSION_TIMEOUT_KEY]


def test_every_session_timeout_key_has_a_test():
    assert set(SESSION_TIMEOUT_TESTS) == {
        "SESSION_EXPIRE_SECONDS",
        "SESSION_EXPIRE_AFTER_LAST_ACTIVITY",
        "SESSION_EXPIRE_AFTER_LAST_ACTIVITY_GRACE_PERIOD",
        "SESSION_TIMEOUT_REDIRECT",
    }


@honors("SESSION_EXPIRE_SECONDS", registry=SESSION_TIMEOUT_TESTS)
def test_session_expire_seconds_ends_the_session():
    set_override("SESSION_EXPIRE_SECONDS", 60)  # settings.py: 3600
    browser_a, browser_b = stamped_session(A), stamped_session(B)
    age_session(browser_a, 120)
    age_session(browser_b, 120)

    response_a = browser_a.get(reverse("echo"))
    response_b = browser_b.get(reverse("echo"))

    assert (response_a.status_code, response_a["Location"]) == (302, "/accounts/login/?next=/echo/")
    assert "visits" not in browser_a.session  # flushed
    assert response_b.status_code == 200
    assert browser_b.session["visits"] == 1


@honors("SESSION_TIMEOUT_REDIRECT", registry=SESSION_TIMEOUT_TESTS)
def test_session_timeout_redirect():
    set_override("SESSION_EXPIRE_SECONDS", 60, host="")
    set_override("SESSION_TIMEOUT_REDIRECT", "/timed-out/")
    browser_a, browser_b = stamped_session(A), stamped_session(B)
    age_session(browser_a, 120)
    age_session(browser_b, 120)

    assert browser_a.get(reverse("echo"))["Location"] == "/timed-out/"
    assert browser_b.get(reverse("echo"))["Location"] == "/accounts/login/?next=/echo/"


@honors("SESSION_EXPIRE_AFTER_LAST_ACTIVITY", registry=SESSION_TIMEOUT_TESTS)
def test_session_expire_after_last_activity_restarts_the_clock():
    set_override("SESSION_EXPIRE_AFTER_LAST_ACTIVITY", True)
    browser_a, browser_b = stamped_session(A), stamped_session(B)
    aged_a, aged_b = age_session(browser_a, 100), age_session(browser_b, 100)
    before = time.time()

    browser_a.get(reverse("echo"))
    browser_b.get(reverse("echo"))

    assert browser_a.session[SESSION_TIMEOUT_KEY] >= before > aged_a
    assert browser_b.session[SESSION_TIMEOUT_KEY] == aged_b


@honors("SESSION_EXPIRE_AFTER_LAST_ACTIVITY_GRACE_PERIOD", registry=SESSION_TIMEOUT_TESTS)
def test_session_expire_after_last_activity_grace_period():
    set_override("SESSION_EXPIRE_AFTER_LAST_ACTIVITY", True, host="")
    set_override("SESSION_EXPIRE_AFTER_LAST_ACTIVITY_GRACE_PERIOD", 600)
    browser_a, browser_b = stamped_session(A), stamped_session(B)
    aged_a, aged_b = age_session(browser_a, 100), age_session(browser_b, 100)
    before = time.time()

    browser_a.get(reverse("echo"))
    browser_b.get(reverse("echo"))

    # 100 s is within host A's 600 s grace period; host B has the default, 1 s.
    assert browser_a.session[SESSION_TIMEOUT_KEY] == aged_a
    assert browser_b.session[SESSION_TIMEOUT_KEY] >= before > aged_b


# Validators: a well-typed but bad value is refused with an error naming the key, the value and what is accepted.
# The accepted values are written out here, never computed by the code under test.

SECONDS_60 = "an integer from 60 to 2147483647 (seconds)"
BOOL = "true or false"
SAMESITE = "one of 'Lax', 'Strict', False"
DOMAIN = "a domain such as 'example.com' or '.example.com' (letters, digits, '-' and '.') or null"
PATH = "a URL path starting with / that the admin's URL lies under, such as '/' (no ';', ',' or spaces)"
LINE_100 = "a string of at most 100 characters without control characters"
LINE_255 = "a string of at most 255 characters without control characters"
ADDRESS = "one e-mail address such as 'shop@example.com' or 'Shop <shop@example.com>'"
URL = (
    "a path on this site starting with / (not //), or a URL name such as 'login' "
    "(an absolute URL only on a host in REQUEST_SETTINGS_URL_HOSTS)"
)

BAD_VALUES = [
    ("SESSION_COOKIE_AGE", 0, SECONDS_60),
    ("SESSION_COOKIE_AGE", -5, SECONDS_60),
    ("SESSION_COOKIE_AGE", "600", SECONDS_60),
    ("SESSION_COOKIE_AGE", None, SECONDS_60),
    ("SESSION_COOKIE_AGE", True, SECONDS_60),
    ("SESSION_EXPIRE_AT_BROWSER_CLOSE", 1, BOOL),
    ("SESSION_COOKIE_SECURE", "false", BOOL),
    ("SESSION_COOKIE_HTTPONLY", 0, BOOL),
    ("SESSION_COOKIE_SAMESITE", "Sometimes", SAMESITE),
    ("SESSION_COOKIE_SAMESITE", True, SAMESITE),
    ("SESSION_COOKIE_SAMESITE", "None", SAMESITE),  # browsers drop SameSite=None cookies that are not Secure
    ("SESSION_COOKIE_DOMAIN", 42, DOMAIN),
    ("SESSION_COOKIE_PATH", "shop/", PATH),
    ("SESSION_SAVE_EVERY_REQUEST", "true", BOOL),
    ("CSRF_COOKIE_AGE", 0, SECONDS_60 + " or null"),
    ("CSRF_COOKIE_SECURE", "false", BOOL),
    ("CSRF_COOKIE_HTTPONLY", 1, BOOL),
    ("CSRF_COOKIE_SAMESITE", "Sometimes", SAMESITE),
    ("CSRF_COOKIE_DOMAIN", ["a.example.com"], DOMAIN),
    ("CSRF_COOKIE_PATH", "csrf", PATH),
    ("EMAIL_SUBJECT_PREFIX", None, LINE_100),
    ("EMAIL_TIMEOUT", 0, "a number from 1 to 3600 (seconds) or null"),
    ("EMAIL_TIMEOUT", -1, "a number from 1 to 3600 (seconds) or null"),
    ("EMAIL_TIMEOUT", "10", "a number from 1 to 3600 (seconds) or null"),
    ("EMAIL_USE_LOCALTIME", "yes", BOOL),
    ("DEFAULT_FROM_EMAIL", None, ADDRESS),
    ("SERVER_EMAIL", ["alerts@example.org"], ADDRESS),
    ("EMAIL_BACKEND", None, "a dotted import path such as 'django.core.mail.backends.smtp.EmailBackend'"),
    ("EMAIL_HOST", 42, "a host name such as 'smtp.example.com', 'localhost' or an IP address"),
    ("EMAIL_PORT", 0, "an integer from 1 to 65535"),
    ("EMAIL_PORT", 70000, "an integer from 1 to 65535"),
    ("EMAIL_PORT", None, "an integer from 1 to 65535"),
    ("EMAIL_HOST_USER", None, LINE_255),
    ("EMAIL_HOST_PASSWORD", 1234, LINE_255),
    ("EMAIL_USE_TLS", "true", BOOL),
    ("EMAIL_USE_SSL", 1, BOOL),
    ("LOGIN_URL", None, URL),
    ("LOGIN_REDIRECT_URL", 42, URL),
    ("LOGOUT_REDIRECT_URL", 42, URL + " or null"),
    ("PASSWORD_RESET_TIMEOUT", 0, "an integer from 1 to 31536000 (seconds)"),
    ("PASSWORD_RESET_TIMEOUT", None, "an integer from 1 to 31536000 (seconds)"),
    ("DATA_UPLOAD_MAX_MEMORY_SIZE", -1, "an integer from 65536 to 2147483647 (bytes) or null"),
    ("DATA_UPLOAD_MAX_NUMBER_FIELDS", 0, "an integer from 100 to 2147483647 or null"),
    ("DATA_UPLOAD_MAX_NUMBER_FILES", -3, "an integer from 1 to 2147483647 or null"),
    ("X_FRAME_OPTIONS", "ALLOW", "one of 'DENY', 'SAMEORIGIN'"),
    ("X_FRAME_OPTIONS", "ALLOW-FROM https://a.example.com", "one of 'DENY', 'SAMEORIGIN'"),
    ("APPEND_SLASH", "false", BOOL),
    ("PREPEND_WWW", True, "false (true would send every request, the admin's included, to another host)"),
    ("DEFAULT_CHARSET", "no-such-charset", "one of 'utf-8', 'gb18030' (any letter case)"),
    ("MESSAGE_LEVEL", -10, "an integer from 0 to 100"),
    ("SITE_ID", 0, "the id of an existing Site (an integer from 1 to 2147483647)"),
]


def test_every_honored_key_has_a_refused_value():
    assert {key for key, _value, _accepted in BAD_VALUES} == set(policy.HONORED)


MASKED = {"EMAIL_HOST_PASSWORD", "PASSWORD_RESET_TIMEOUT"}
"""Keys Django's error reports mask (their names hold PASS): a refusal never repeats their value."""


def assert_value_refused(key, value, accepted):
    allowed = override_settings(REQUEST_SETTINGS_ALLOWED=list(policy.HONORED))  # reach the value check
    with allowed, pytest.raises(ValidationError) as caught:
        SettingOverride.objects.set(key, value, host=A)

    shown = "********************" if key in MASKED else repr(value)
    assert caught.value.message_dict == {"value": [f"{shown} is not a valid value for {key}: expected {accepted}."]}
    assert not SettingOverride.objects.exists()


def assert_value_accepted(key, value):
    with override_settings(REQUEST_SETTINGS_ALLOWED=list(policy.HONORED)):
        SettingOverride.objects.set(key, value, host=A)

    assert SettingOverride.objects.get(key=key, host=A).value == value


@pytest.mark.parametrize(("key", "value", "accepted"), BAD_VALUES)
def test_validator_refuses_a_bad_value(key, value, accepted):
    assert_value_refused(key, value, accepted)


def test_validator_message_says_what_is_accepted():
    with pytest.raises(ValidationError) as caught:
        SettingOverride.objects.set("SESSION_COOKIE_SAMESITE", "Sometimes", host=A)

    assert caught.value.message_dict["value"] == [
        "'Sometimes' is not a valid value for SESSION_COOKIE_SAMESITE: expected one of 'Lax', 'Strict', False."
    ]


# Every bound, at its edge: the last accepted value, and the first refused one past it.

EDGES = [
    ("SITE_ID", 1, 0, "the id of an existing Site (an integer from 1 to 2147483647)"),
    ("MESSAGE_LEVEL", 0, -1, "an integer from 0 to 100"),
    ("MESSAGE_LEVEL", 100, 101, "an integer from 0 to 100"),
    ("EMAIL_PORT", 65535, 65536, "an integer from 1 to 65535"),
    ("EMAIL_PORT", 1, 0, "an integer from 1 to 65535"),
    ("SESSION_COOKIE_AGE", 2**31 - 1, 2**31, SECONDS_60),
    ("SESSION_COOKIE_AGE", 60, 59, SECONDS_60),
    ("CSRF_COOKIE_AGE", 2**31 - 1, 2**31, SECONDS_60 + " or null"),
    ("CSRF_COOKIE_AGE", 60, 59, SECONDS_60 + " or null"),
    ("EMAIL_TIMEOUT", 1, 0.999, "a number from 1 to 3600 (seconds) or null"),
    ("EMAIL_TIMEOUT", 3600, 3600.5, "a number from 1 to 3600 (seconds) or null"),
    ("PASSWORD_RESET_TIMEOUT", 1, 0, "an integer from 1 to 31536000 (seconds)"),
    ("PASSWORD_RESET_TIMEOUT", 31536000, 31536001, "an integer from 1 to 31536000 (seconds)"),
    ("DATA_UPLOAD_MAX_MEMORY_SIZE", 65536, 65535, "an integer from 65536 to 2147483647 (bytes) or null"),
    ("DATA_UPLOAD_MAX_NUMBER_FIELDS", 100, 99, "an integer from 100 to 2147483647 or null"),
    ("DATA_UPLOAD_MAX_NUMBER_FILES", 1, 0, "an integer from 1 to 2147483647 or null"),
    ("DATA_UPLOAD_MAX_NUMBER_FILES", 2**31 - 1, 2**31, "an integer from 1 to 2147483647 or null"),
]


@pytest.mark.parametrize(("key", "last", "past", "accepted"), EDGES)
def test_a_bound_accepts_its_edge_and_refuses_one_past_it(key, last, past, accepted):
    assert_value_refused(key, past, accepted)
    assert_value_accepted(key, last)


@pytest.mark.parametrize(
    ("key", "accepted"),
    [
        ("SESSION_COOKIE_AGE", SECONDS_60),
        ("EMAIL_PORT", "an integer from 1 to 65535"),
        ("PASSWORD_RESET_TIMEOUT", "an integer from 1 to 31536000 (seconds)"),
        ("MESSAGE_LEVEL", "an integer from 0 to 100"),
    ],
)
def test_an_integer_setting_refuses_true_and_null(key, accepted):
    assert_value_refused(key, True, accepted)
    assert_value_refused(key, None, accepted)


@pytest.mark.parametrize(
    "key", ["CSRF_COOKIE_AGE", "EMAIL_TIMEOUT", "LOGOUT_REDIRECT_URL", "DATA_UPLOAD_MAX_NUMBER_FILES"]
)
def test_null_is_accepted_where_django_gives_it_a_meaning(key):
    assert_value_accepted(key, None)


def test_site_id_must_name_an_existing_site():
    # The admin's login page asks for the current Site: a missing one is a 500 on it, and staff are locked out.
    assert_value_refused("SITE_ID", 2, "the id of an existing Site (an integer from 1 to 2147483647)")
    Site.objects.create(id=2, domain="shop-a.example.com", name="Shop A")
    assert_value_accepted("SITE_ID", 2)


@override_settings(SHOP_LIMIT=10, SHOP_TITLE="Shop")
def test_a_custom_key_keeps_the_settings_py_type():
    with pytest.raises(ValidationError) as int_caught:
        SettingOverride.objects.set("SHOP_LIMIT", True, host=A)
    with pytest.raises(ValidationError) as str_caught:
        SettingOverride.objects.set("SHOP_TITLE", 42, host=A)

    assert int_caught.value.messages == [
        "True is not a valid value for SHOP_LIMIT: expected an integer from -9223372036854775807 to "
        "9223372036854775807."
    ]
    assert str_caught.value.messages == ["42 is not a valid value for SHOP_TITLE: expected a string."]


@pytest.mark.parametrize("key", ["SESSION_COOKIE_AGE", "CSRF_COOKIE_AGE"])
def test_validator_refuses_a_cookie_age_whose_expiry_date_overflows(key):
    # HttpResponse.set_cookie: http_date(time.time() + max_age) fails past the year 9999.
    assert_value_refused(key, 10**12, SECONDS_60 + (" or null" if key == "CSRF_COOKIE_AGE" else ""))


def test_validator_refuses_a_charset_that_is_not_a_text_encoding():
    # codecs.lookup("rot13") succeeds, but every HttpResponse fails on "café".encode("rot13").
    assert_value_refused("DEFAULT_CHARSET", "rot13", "one of 'utf-8', 'gb18030' (any letter case)")


@pytest.mark.parametrize(("key", "accepted"), [("EMAIL_SUBJECT_PREFIX", LINE_100), ("SERVER_EMAIL", ADDRESS),
                                               ("DEFAULT_FROM_EMAIL", ADDRESS)])  # fmt: skip
def test_validator_refuses_a_newline_in_a_mail_header(key, accepted):
    # django.core.mail raises BadHeaderError ("Header values can't contain newlines").
    assert_value_refused(key, "[Shop]\nBcc: spy@example.org", accepted)
