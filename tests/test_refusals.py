"""Every refusal category of policy.py.

The write API refuses the key with its reason in words and writes nothing; a refused row that
reached the table another way (raw SQL) is skipped with a warning, and the other rows apply.
"""

from __future__ import annotations

import json
import logging

import pytest
from django.conf import LazySettings, settings
from django.core.exceptions import ValidationError
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone

from request_settings import policy, thirdparty
from request_settings.models import SettingOverride

pytestmark = pytest.mark.django_db

A = "a.example.com"

DESIGN_REFUSALS = {
    # DESIGN.md fact 6: cached by Django on first use.
    "LANGUAGES": policy.CACHED,
    "TIME_ZONE": policy.CACHED,
    "MEDIA_URL": policy.CACHED,
    "STATIC_URL": policy.CACHED,
    "CSRF_TRUSTED_ORIGINS": policy.CACHED,
    "MESSAGE_TAGS": policy.CACHED,
    "PASSWORD_HASHERS": policy.CACHED,
    "LANGUAGE_CODE": policy.CACHED,
    "DATE_FORMAT": policy.CACHED,
    "USE_THOUSAND_SEPARATOR": policy.CACHED,
    # Fact 7: more cached-on-first-use settings.
    "FORM_RENDERER": policy.CACHED,
    "DEFAULT_EXCEPTION_REPORTER_FILTER": policy.CACHED,
    "SESSION_FILE_PATH": policy.CACHED,
    "STATICFILES_DIRS": policy.CACHED,
    "LOCALE_PATHS": policy.CACHED,
    "DATABASE_ROUTERS": policy.CACHED,
    "SETTINGS_MODULE": policy.CACHED,
    # Fact 7: read once at start-up, or before the middleware chain.
    "SECURE_SSL_REDIRECT": policy.STARTUP,
    "SECURE_HSTS_SECONDS": policy.STARTUP,
    "SESSION_ENGINE": policy.STARTUP,
    "CACHE_MIDDLEWARE_SECONDS": policy.STARTUP,
    "CACHE_MIDDLEWARE_KEY_PREFIX": policy.STARTUP,
    "FORCE_SCRIPT_NAME": policy.STARTUP,
    "ROOT_URLCONF": policy.STARTUP,
    # Fact 8: security-critical, even though read live.
    "SECRET_KEY": policy.SECURITY,
    "SECRET_KEY_FALLBACKS": policy.SECURITY,
    "SIGNING_BACKEND": policy.SECURITY,
    "DEBUG": policy.SECURITY,
    "ALLOWED_HOSTS": policy.SECURITY,
    "SECURE_PROXY_SSL_HEADER": policy.SECURITY,
    "USE_X_FORWARDED_HOST": policy.SECURITY,
    "USE_X_FORWARDED_PORT": policy.SECURITY,
    "CSRF_USE_SESSIONS": policy.SECURITY,
    "AUTHENTICATION_BACKENDS": policy.SECURITY,
    "AUTH_PASSWORD_VALIDATORS": policy.SECURITY,
    "MEDIA_ROOT": policy.SECURITY,
    "STATIC_ROOT": policy.SECURITY,
    "FILE_UPLOAD_TEMP_DIR": policy.SECURITY,
    "DATABASES": policy.SECURITY,
    "INSTALLED_APPS": policy.SECURITY,
    "MIDDLEWARE": policy.SECURITY,
    "CACHES": policy.SECURITY,
    "TEMPLATES": policy.SECURITY,
    "STORAGES": policy.SECURITY,
    "LOGGING": policy.SECURITY,
    "AUTH_USER_MODEL": policy.SECURITY,
    "DEFAULT_AUTO_FIELD": policy.SECURITY,
    "USE_TZ": policy.SECURITY,
    "USE_I18N": policy.SECURITY,
    "ADMINS": policy.SECURITY,
    # Our own configuration.
    "REQUEST_SETTINGS_CACHE_TTL": policy.OWN,
    "REQUEST_SETTINGS_ALLOWED": policy.OWN,
    "REQUEST_SETTINGS_ENABLED": policy.OWN,
}

OTHER_REFUSALS = {
    "session_expire_seconds": policy.MALFORMED,
    "1ST_KEY": policy.MALFORMED,
    "_PRIVATE": policy.MALFORMED,
    "SITE-TITLE": policy.MALFORMED,
    "SITE TITLE": policy.MALFORMED,
    "SITE_TITLE\n": policy.MALFORMED,
    "": policy.MALFORMED,
    "configure": policy.MALFORMED,  # a LazySettings attribute, and not upper-case
    **dict.fromkeys(sorted(policy.SENSITIVE_KEYS), policy.SENSITIVE),
    # Django settings nobody has shown to be honored per request.
    "SESSION_COOKIE_NAME": policy.UNTESTED,
    "CSRF_COOKIE_NAME": policy.UNTESTED,
    "LANGUAGE_COOKIE_AGE": policy.UNTESTED,
    "DISALLOWED_USER_AGENTS": policy.UNTESTED,
    "FILE_UPLOAD_MAX_MEMORY_SIZE": policy.UNTESTED,
}

REFUSALS = {**DESIGN_REFUSALS, **OTHER_REFUSALS}


def assert_refused(key, reason, value="tenant value"):
    with pytest.raises(ValidationError) as caught:
        SettingOverride.objects.set(key, value, host=A)

    assert caught.value.message_dict == {"key": [f"{key} cannot be overridden: {reason}."]}
    assert not SettingOverride.objects.filter(key=key).exists()


def test_every_design_key_is_refused_with_its_reason():
    assert {key: policy.refusal(key) for key in DESIGN_REFUSALS} == DESIGN_REFUSALS


@pytest.mark.parametrize(("key", "reason"), sorted(REFUSALS.items()))
def test_write_api_refuses_with_the_reason_in_words(key, reason):
    assert_refused(key, reason)


@pytest.mark.parametrize(("key", "reason"), sorted(REFUSALS.items()))
def test_refused_whatever_the_value(key, reason):
    # The refusal comes before the value check: a value of the right type does not help.
    value = policy.base_value(key)
    assert_refused(key, reason, value=1 if value is None else value)


def test_a_custom_key_is_allowed():
    SettingOverride.objects.set("SHOP_BANNER", "Summer sale", host=A)

    assert SettingOverride.objects.get(key="SHOP_BANNER").value == "Summer sale"


def test_collides_with_an_attribute_of_the_settings_object(monkeypatch):
    # Django 5.2's LazySettings has no upper-case attribute, so MALFORMED hides COLLIDES for every
    # real name: this guard is for a future Django that adds one.
    assert not [name for name in dir(LazySettings) if policy.KEY_PATTERN.fullmatch(name)]
    monkeypatch.setattr(LazySettings, "CONFIGURE_LATER", None, raising=False)

    assert_refused("CONFIGURE_LATER", policy.COLLIDES)


@override_settings(REQUEST_SETTINGS_DENIED=["SESSION_EXPIRE_SECONDS"])
def test_denied_by_the_project():
    assert_refused("SESSION_EXPIRE_SECONDS", policy.DENIED_BY_PROJECT, value=60)
    # Other keys stay allowed.
    SettingOverride.objects.set("SESSION_TIMEOUT_REDIRECT", "/timed-out/", host=A)


@override_settings(REQUEST_SETTINGS_ALLOWED=["SESSION_EXPIRE_SECONDS"])
def test_not_in_the_allowed_list():
    assert_refused("SESSION_TIMEOUT_REDIRECT", policy.NOT_ALLOWED, value="/timed-out/")
    # Honored, but not allowed by this project.
    assert_refused("X_FRAME_OPTIONS", policy.NOT_ALLOWED, value="SAMEORIGIN")
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host=A)


@override_settings(
    REQUEST_SETTINGS_ALLOWED=["SESSION_EXPIRE_SECONDS", "EMAIL_HOST"],
    REQUEST_SETTINGS_DENIED=["SESSION_EXPIRE_SECONDS", "EMAIL_HOST"],
)
def test_deny_beats_allow():
    assert_refused("SESSION_EXPIRE_SECONDS", policy.DENIED_BY_PROJECT, value=60)
    assert_refused("EMAIL_HOST", policy.DENIED_BY_PROJECT, value="smtp.a.example.com")


@pytest.mark.parametrize(("key", "reason"), sorted(DESIGN_REFUSALS.items()))
def test_built_in_refusals_beat_allow(key, reason):
    with override_settings(REQUEST_SETTINGS_ALLOWED=[key]):
        assert_refused(key, reason)


@override_settings(REQUEST_SETTINGS_ALLOWED=["SESSION_COOKIE_NAME", "EMAIL_HOST"])
def test_the_allowed_list_lifts_untested_and_sensitive():
    SettingOverride.objects.set("SESSION_COOKIE_NAME", "shop_session", host=A)
    SettingOverride.objects.set("EMAIL_HOST", "smtp.a.example.com", host=A)

    assert SettingOverride.objects.count() == 2


# Rows that bypassed the write API.


def insert_raw(key, value, host=A):
    """INSERT a row the way a careless migration or a SQL console would: no validation at all."""
    model = SettingOverride
    quote = connection.ops.quote_name
    columns = ", ".join(quote(model._meta.get_field(name).column) for name in ("key", "host", "value"))
    audit = ", ".join(quote(model._meta.get_field(name).column) for name in ("created_at", "updated_at"))
    json_placeholder = "%s::jsonb" if connection.vendor == "postgresql" else "%s"
    now = timezone.now()
    with connection.cursor() as cursor:
        cursor.execute(
            f"INSERT INTO {quote(model._meta.db_table)} ({columns}, {audit}) "
            f"VALUES (%s, %s, {json_placeholder}, %s, %s)",
            [key, host, json.dumps(value), now, now],
        )


def echo(host, *keys):
    response = Client(HTTP_HOST=host).get(reverse("echo"), {"keys": ",".join(keys)})
    return response.json()["values"]


def as_echoed(value):
    return json.loads(json.dumps(value, cls=DjangoJSONEncoder))


# Keys the echo view can ask for: no separator or blank, and no method of the settings object.
RAW_REFUSALS = sorted(
    (key, reason)
    for key, reason in REFUSALS.items()
    if key and key.strip() == key and "," not in key and not hasattr(LazySettings, key)
)


@pytest.mark.parametrize(("key", "reason"), RAW_REFUSALS)
def test_a_refused_row_inserted_by_raw_sql_is_not_applied(key, reason, caplog):
    insert_raw(key, "raw-sql-value")
    insert_raw("SESSION_EXPIRE_SECONDS", 420)
    insert_raw("SESSION_TIMEOUT_REDIRECT", "/timed-out/", host="")

    with caplog.at_level(logging.WARNING, logger="request_settings"):
        values = echo(A, key, "SESSION_EXPIRE_SECONDS", "SESSION_TIMEOUT_REDIRECT")

    assert values == {
        key: as_echoed(getattr(settings, key, "<missing>")),  # what it is outside any request
        "SESSION_EXPIRE_SECONDS": 420,  # the other rows still apply
        "SESSION_TIMEOUT_REDIRECT": "/timed-out/",
    }
    warnings = [record.getMessage() for record in caplog.records if record.name == "request_settings"]
    assert f"Skipped the override of {key} for host {A!r}: {reason}." in warnings


@pytest.mark.parametrize(
    ("configuration", "reason"),
    [
        ({"REQUEST_SETTINGS_DENIED": ["SESSION_TIMEOUT_REDIRECT"]}, policy.DENIED_BY_PROJECT),
        ({"REQUEST_SETTINGS_ALLOWED": ["SESSION_EXPIRE_SECONDS"]}, policy.NOT_ALLOWED),
    ],
)
def test_a_raw_row_the_project_refuses_is_not_applied(configuration, reason, caplog):
    insert_raw("SESSION_TIMEOUT_REDIRECT", "/timed-out/")
    insert_raw("SESSION_EXPIRE_SECONDS", 420)

    with override_settings(**configuration), caplog.at_level(logging.WARNING, "request_settings"):
        values = echo(A, "SESSION_TIMEOUT_REDIRECT", "SESSION_EXPIRE_SECONDS")

    assert values == {"SESSION_TIMEOUT_REDIRECT": "<missing>", "SESSION_EXPIRE_SECONDS": 420}
    expected = f"Skipped the override of SESSION_TIMEOUT_REDIRECT for host {A!r}: {reason}."
    assert expected in [record.getMessage() for record in caplog.records]


def test_a_raw_row_with_a_bad_value_is_not_applied(caplog):
    insert_raw("X_FRAME_OPTIONS", "ALLOW")
    insert_raw("SESSION_EXPIRE_SECONDS", 420)

    with caplog.at_level(logging.WARNING, logger="request_settings"):
        response = Client(HTTP_HOST=A).get(reverse("echo"), {"keys": "SESSION_EXPIRE_SECONDS"})

    assert response["X-Frame-Options"] == "DENY"
    assert response.json()["values"] == {"SESSION_EXPIRE_SECONDS": 420}
    assert any(
        "X_FRAME_OPTIONS" in message and '"ALLOW"' in message and "'DENY', 'SAMEORIGIN'" in message
        for message in (record.getMessage() for record in caplog.records)
    )


# Third-party apps' settings (request_settings/thirdparty.py): refused with the reason in words, whatever settings.py
# holds and whether or not the app is installed.

THIRD_PARTY_REFUSALS = {
    "REST_FRAMEWORK": "cached by djangorestframework in rest_framework.settings.api_settings on first use: the first "
    "host's value would apply to every host",
    "SIMPLE_JWT": "cached by djangorestframework-simplejwt in rest_framework_simplejwt.settings.api_settings on first "
    "use: the first host's value would apply to every host",
    "DEBUG_TOOLBAR_CONFIG": "cached by django-debug-toolbar in debug_toolbar.settings.get_config() on first use: the "
    "first host's value would apply to every host",
    "WHITENOISE_MAX_AGE": "read once at start-up by WhiteNoiseMiddleware.__init__: an override would have no effect",
    "CELERY_BROKER_URL": "cached by celery in the objects the Celery app builds once (the broker connection pool, "
    "queues, routes) on first use: the first host's value would apply to every host",
    "AWS_STORAGE_BUCKET_NAME": "cached by django-storages in the storage backends Django builds once "
    "(django.core.files.storage.storages) on first use: the first host's value would apply to every host",
    "AXES_FAILURE_LIMIT": "security-critical (django-axes guards sign-in against password guessing; a host could "
    "switch it off)",
    "CONTENT_SECURITY_POLICY": "security-critical (the policy that limits script injection)",
    "CORS_ALLOW_ALL_ORIGINS": "security-critical (it lets every website read this host's responses)",
    "CORS_URLS_REGEX": "a regular expression that django-cors-headers runs on every request: a slow pattern would "
    "stall every worker, and a broad one lets every site read this host's responses",
    "ACCOUNT_EMAIL_VERIFICATION": "security-critical (it guards sign-up, sign-in or account recovery)",
    "ACCOUNT_ADAPTER": "security-critical (it names code to import and run)",
    "SOCIALACCOUNT_ONLY": "read once at start-up by django-allauth, which builds its URL patterns from it: an "
    "override would have no effect",
    "ACCOUNT_SOMETHING_NEW": "a django-allauth setting that is not known to be honored per request",
    "BASE_DIR": "a file-system location of the project (BASE_DIR, *_DIR, *_ROOT, *_PATH, EMAIL_FILE_PATH): staff "
    "could point the site's files, or mail with password-reset links, somewhere else",
}


@pytest.mark.parametrize(("key", "reason"), sorted(THIRD_PARTY_REFUSALS.items()))
def test_third_party_settings_refused_with_the_reason(key, reason):
    assert_refused(key, reason, value={"DEFAULT_PAGINATION_CLASS": None})
    with override_settings(REQUEST_SETTINGS_ALLOWED=[key], **{key: {"A": 1}}):
        assert_refused(key, reason, value={"A": 2})


@pytest.mark.parametrize(
    "key", sorted(key for key, found in thirdparty.KEYS.items() if isinstance(found, thirdparty.Refused))
)
def test_every_refusal_of_the_registry_reaches_the_write_api(key):
    reason = policy.refusal(key)
    assert reason and reason == thirdparty.decision(key).reason
    assert_refused(key, reason)
