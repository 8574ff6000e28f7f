"""The third-party registry (request_settings/thirdparty.py) against the real packages (tox -e thirdparty).

Each honored key is shown through the real middleware stack: the app obeys a host's override for that host and not
for another. Each claim that a key is cached or read at start-up is shown on the real package: a value read inside
one host's layer either sticks for every host, or never reaches the object that uses it. And the registry covers
every setting each installed app reads.
"""

from __future__ import annotations

import importlib
import importlib.util
import re
from pathlib import Path
from unittest import mock

import pytest
from django.conf import global_settings, settings

if settings.SETTINGS_MODULE != "tests.thirdparty_settings":
    pytest.skip("needs the third-party apps: tox -e thirdparty (tests.thirdparty_settings)", allow_module_level=True)

from django.contrib.auth.models import User
from django.test import Client
from django.urls import reverse

from request_settings import policy, thirdparty
from request_settings.models import SettingOverride
from request_settings.testing import override_request_settings
from tests.utils import HostAsyncClient

pytestmark = pytest.mark.django_db

A = "a.example.com"
B = "b.example.com"
ORIGIN = "https://shop-a.example.org"

REGISTRY_TESTS: dict[str, str] = {}


def honors(*keys):
    def register(test):
        for key in keys:
            REGISTRY_TESTS[key] = test.__name__
        return test

    return register


def test_every_honored_key_of_the_registry_has_a_test():
    session_timeout = {key for key, found in thirdparty.honored().items() if found.app == thirdparty.SESSION_TIMEOUT}
    # django-session-timeout's keys are proved in tests/test_honored.py, which runs in every env.
    assert set(REGISTRY_TESTS) == set(thirdparty.honored()) - session_timeout


def set_override(key, value, host=A):
    SettingOverride.objects.set(key, value, host=host)


def get(host, path="/echo/", **headers):
    return Client(HTTP_HOST=host).get(path, headers=headers)


def preflight(host, **headers):
    return Client(HTTP_HOST=host).options(
        "/echo/", headers={"origin": ORIGIN, "access-control-request-method": "PUT", **headers}
    )


# -- django-cors-headers ----------------------------------------------------------------------------------------


@honors("CORS_ALLOWED_ORIGINS")
def test_cors_allowed_origins_for_one_host_only():
    set_override("CORS_ALLOWED_ORIGINS", [ORIGIN])

    assert get(A, origin=ORIGIN)["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in get(A, origin="https://other.example.org")
    assert "access-control-allow-origin" not in get(B, origin=ORIGIN)
    assert settings.CORS_ALLOWED_ORIGINS == []  # outside a request: settings.py


@pytest.mark.django_db(transaction=True)
async def test_cors_allowed_origins_under_asgi():
    await SettingOverride.objects.aset("CORS_ALLOWED_ORIGINS", [ORIGIN], host=A)

    response_a = await HostAsyncClient().get("/echo/", headers={"host": A, "origin": ORIGIN})
    response_b = await HostAsyncClient().get("/echo/", headers={"host": B, "origin": ORIGIN})

    assert response_a["access-control-allow-origin"] == ORIGIN
    assert "access-control-allow-origin" not in response_b


@honors("CORS_ALLOW_METHODS")
def test_cors_allow_methods_on_preflight():
    set_override("CORS_ALLOWED_ORIGINS", [ORIGIN], host="")
    set_override("CORS_ALLOW_METHODS", ["GET", "PUT"])

    assert preflight(A)["access-control-allow-methods"] == "GET, PUT"
    assert preflight(B)["access-control-allow-methods"] == "DELETE, GET, OPTIONS, PATCH, POST, PUT"


@honors("CORS_ALLOW_HEADERS")
def test_cors_allow_headers_on_preflight():
    set_override("CORS_ALLOWED_ORIGINS", [ORIGIN], host="")
    set_override("CORS_ALLOW_HEADERS", ["x-shop"])

    assert preflight(A)["access-control-allow-headers"] == "x-shop"
    assert "x-shop" not in preflight(B)["access-control-allow-headers"]


@honors("CORS_EXPOSE_HEADERS")
def test_cors_expose_headers():
    set_override("CORS_ALLOWED_ORIGINS", [ORIGIN], host="")
    set_override("CORS_EXPOSE_HEADERS", ["x-total-count"])

    assert get(A, origin=ORIGIN)["access-control-expose-headers"] == "x-total-count"
    assert "access-control-expose-headers" not in get(B, origin=ORIGIN)


@honors("CORS_PREFLIGHT_MAX_AGE")
def test_cors_preflight_max_age():
    set_override("CORS_ALLOWED_ORIGINS", [ORIGIN], host="")
    set_override("CORS_PREFLIGHT_MAX_AGE", 600)

    assert preflight(A)["access-control-max-age"] == "600"
    assert preflight(B)["access-control-max-age"] == "86400"


@honors("CORS_ALLOW_CREDENTIALS")
def test_cors_allow_credentials():
    set_override("CORS_ALLOWED_ORIGINS", [ORIGIN], host="")
    set_override("CORS_ALLOW_CREDENTIALS", True)

    assert get(A, origin=ORIGIN)["access-control-allow-credentials"] == "true"
    assert "access-control-allow-credentials" not in get(B, origin=ORIGIN)


@honors("CORS_ALLOW_PRIVATE_NETWORK")
def test_cors_allow_private_network():
    set_override("CORS_ALLOWED_ORIGINS", [ORIGIN], host="")
    set_override("CORS_ALLOW_PRIVATE_NETWORK", True)
    header = {"access-control-request-private-network": "true"}

    assert preflight(A, **header)["access-control-allow-private-network"] == "true"
    assert "access-control-allow-private-network" not in preflight(B, **header)


def test_cors_settings_in_the_registry_cover_every_setting_cors_headers_reads():
    from corsheaders.conf import Settings

    read = {name for name in vars(Settings) if name.startswith("CORS_")}
    assert read
    assert {name: thirdparty.decision(name) is not None for name in read} == dict.fromkeys(read, True)
    # Old names only answer when the new one is not set: override the new name.
    assert policy.refusal("CORS_ORIGIN_WHITELIST").startswith("an old name of CORS_ALLOWED_ORIGINS")


@pytest.mark.parametrize(
    ("key", "value"),
    [
        ("CORS_ALLOWED_ORIGINS", ["https://shop.example.org/path"]),
        ("CORS_ALLOWED_ORIGINS", ["null"]),
        ("CORS_ALLOWED_ORIGINS", ["ftp://shop.example.org"]),
        ("CORS_ALLOWED_ORIGINS", "https://shop.example.org"),
        ("CORS_ALLOWED_ORIGINS", ["https://shop.example.org:70000"]),
        ("CORS_ALLOWED_ORIGINS", [f"https://shop{n}.example.org" for n in range(101)]),
        ("CORS_ALLOW_METHODS", ["get"]),
        ("CORS_ALLOW_HEADERS", ["x shop"]),
        ("CORS_EXPOSE_HEADERS", ["x-a\r\nx-b"]),
        ("CORS_PREFLIGHT_MAX_AGE", 86401),
        ("CORS_PREFLIGHT_MAX_AGE", -1),
        ("CORS_ALLOW_CREDENTIALS", "true"),
    ],
)
def test_cors_values_are_bounded(key, value):
    assert policy.value_problem(key, value) is not None


def test_a_bad_cors_value_in_a_raw_row_leaves_the_host_on_settings_py():
    from tests.test_refusals import insert_raw

    insert_raw("CORS_ALLOWED_ORIGINS", "https://shop-a.example.org")  # a string, not a list: cors would match "h"...

    assert "access-control-allow-origin" not in get(A, origin=ORIGIN)


# -- django-allauth ---------------------------------------------------------------------------------------------


@honors("ACCOUNT_LOGOUT_REDIRECT_URL")
def test_allauth_logout_redirect_url():
    set_override("ACCOUNT_LOGOUT_REDIRECT_URL", "/goodbye/")
    user = User.objects.create_user("alice", "alice@example.org", "pw")

    def log_out(host):
        client = Client(HTTP_HOST=host)
        client.force_login(user)
        return client.post(reverse("account_logout"))

    assert log_out(A)["Location"] == "/goodbye/"
    assert log_out(B)["Location"] == "/"


@honors("ACCOUNT_EMAIL_SUBJECT_PREFIX")
def test_allauth_email_subject_prefix(mailoutbox):
    set_override("ACCOUNT_EMAIL_SUBJECT_PREFIX", "[Shop A] ")
    User.objects.create_user("alice", "alice@example.org", "pw")

    for host in (A, B):
        response = Client(HTTP_HOST=host).post(reverse("account_reset_password"), {"email": "alice@example.org"})
        assert response.status_code == 302

    assert [message.subject.split("]")[0] + "]" for message in mailoutbox] == ["[Shop A]", "[Site]"]


@honors("ACCOUNT_SIGNUP_ENABLED")
def test_allauth_signup_enabled():
    set_override("ACCOUNT_SIGNUP_ENABLED", False)

    closed = Client(HTTP_HOST=A).get(reverse("account_signup"))
    open_ = Client(HTTP_HOST=B).get(reverse("account_signup"))

    assert "account/signup_closed.html" in [template.name for template in closed.templates]
    assert "account/signup.html" in [template.name for template in open_.templates]


# -- refused: each reason shown on the real package ---------------------------------------------------------------


def allowed_for_the_demonstration():
    """What would happen if the policy let the key through: the test helper's layer, with the refusal lifted."""
    return mock.patch.object(policy, "refusal", return_value=None)


def test_rest_framework_is_cached_process_wide():
    from rest_framework.settings import api_settings

    api_settings.reload()
    try:
        with allowed_for_the_demonstration(), override_request_settings(REST_FRAMEWORK={"PAGE_SIZE": 5}):
            inside = api_settings.PAGE_SIZE
        # Outside the layer, for every host: the first reader's value stuck.
        assert (inside, api_settings.PAGE_SIZE) == (5, 5)
    finally:
        api_settings.reload()
    assert api_settings.PAGE_SIZE is None


def test_simple_jwt_is_read_once_into_its_api_settings():
    import rest_framework_simplejwt.settings as jwt_settings

    try:
        with allowed_for_the_demonstration(), override_request_settings(SIMPLE_JWT={"AUTH_HEADER_TYPES": ["JWT"]}):
            importlib.reload(jwt_settings)  # the first import happening inside one host's request
        assert jwt_settings.api_settings.AUTH_HEADER_TYPES == ["JWT"]  # ... decides for every host
    finally:
        importlib.reload(jwt_settings)
    assert jwt_settings.api_settings.AUTH_HEADER_TYPES == ("Bearer",)


def test_debug_toolbar_config_is_cached_process_wide():
    from debug_toolbar.settings import get_config

    get_config.cache_clear()
    try:
        with allowed_for_the_demonstration(), override_request_settings(DEBUG_TOOLBAR_CONFIG={"SHOW_COLLAPSED": True}):
            inside = get_config()["SHOW_COLLAPSED"]
        assert (inside, get_config()["SHOW_COLLAPSED"]) == (True, True)
    finally:
        get_config.cache_clear()


def test_whitenoise_reads_its_settings_when_the_middleware_is_built():
    from whitenoise.middleware import WhiteNoiseMiddleware

    middleware = WhiteNoiseMiddleware(lambda request: None)  # at start-up, like every middleware
    with allowed_for_the_demonstration(), override_request_settings(WHITENOISE_MAX_AGE=1):
        assert settings.WHITENOISE_MAX_AGE == 1
        assert middleware.max_age != 1  # the instance kept what it read at start-up


def test_celery_builds_its_broker_connection_once():
    from celery import Celery

    app = Celery("shop")
    app.config_from_object("django.conf:settings", namespace="CELERY")
    try:
        with allowed_for_the_demonstration(), override_request_settings(CELERY_BROKER_URL="memory://tenant-a/"):
            inside = app.pool.connection.hostname  # the first task sent, inside one host's request
        # Every later task, for every host, goes through the connection built then.
        assert (inside, app.pool.connection.hostname) == ("tenant-a", "tenant-a")
    finally:
        app.close()


def test_storages_keep_the_settings_they_were_built_with():
    from storages.backends.ftp import FTPStorage

    with (
        allowed_for_the_demonstration(),
        override_request_settings(FTP_STORAGE_LOCATION="ftp://user:pw@files-a.example.com:21/"),
    ):
        storage = FTPStorage()  # Django's storages handler builds it on first use, maybe in one host's request
    assert storage._config["host"] == "files-a.example.com"  # ... and serves every host with it


def _names_read(package, pattern):
    spec = importlib.util.find_spec(package)
    assert spec is not None and spec.submodule_search_locations, package
    names = set()
    for path in Path(next(iter(spec.submodule_search_locations))).rglob("*.py"):
        if "tests" in path.parts or "migrations" in path.parts:
            continue
        names.update(re.findall(pattern, path.read_text(encoding="utf-8")))
    return names


@pytest.mark.parametrize(
    ("package", "pattern"),
    [
        ("storages", r"setting\(\s*\"([A-Z][A-Z0-9_]+)\""),
        ("axes", r"settings\.(AXES_[A-Z0-9_]+)"),
        ("whitenoise", r"settings\.(WHITENOISE_[A-Z0-9_]+)"),
        ("csp", r"getattr\(settings, \"((?:CSP|CONTENT_SECURITY)_[A-Z0-9_]+)\""),
        ("debug_toolbar", r"settings, \"(DEBUG_TOOLBAR_[A-Z0-9_]+)\""),
        ("rest_framework", r"getattr\(settings, '(REST_FRAMEWORK)'"),
        ("rest_framework_simplejwt", r"getattr\(settings, \"(SIMPLE_JWT)\""),
        ("allauth", r"get_setting\(\s*\"([A-Z][A-Z0-9_]+)\""),
    ],
)
def test_every_setting_an_app_reads_is_refused_or_honored_by_the_registry(package, pattern):
    names = {name for name in _names_read(package, pattern) if not hasattr(global_settings, name)}
    assert names, f"no setting found in {package}: the pattern is out of date"
    undecided = sorted(name for name in names if policy.refusal(name) is None and policy.builtin_rule(name) is None)
    assert undecided == []
