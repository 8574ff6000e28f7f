"""Settings for the test suite: SQLite by default, PostgreSQL with REQUEST_SETTINGS_TEST_DB=postgres."""

from __future__ import annotations

import os

import django

SECRET_KEY = "tests-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS = [".example.com", "testserver", "localhost", "127.0.0.1"]
ROOT_URLCONF = "tests.urls"
USE_TZ = True

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.sites",
    "request_settings",
    "tests.helperapp",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "request_settings.middleware.RequestSettingsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django_session_timeout.middleware.SessionTimeoutMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

TEMPLATES = [
    {
        "BACKEND": "django.template.backends.django.DjangoTemplates",
        "DIRS": [],
        "APP_DIRS": True,
        "OPTIONS": {
            "context_processors": [
                "django.template.context_processors.request",
                "django.contrib.auth.context_processors.auth",
                "django.contrib.messages.context_processors.messages",
            ]
        },
    }
]

if os.environ.get("REQUEST_SETTINGS_TEST_DB") == "postgres":
    DATABASES = {
        "default": {
            "ENGINE": "django.db.backends.postgresql",
            "HOST": os.environ.get("PGHOST", "127.0.0.1"),
            "PORT": os.environ.get("PGPORT", "5432"),
            "NAME": "test",
            "USER": os.environ.get("PGUSER", "postgres"),
            "TEST": {"NAME": os.environ.get("REQUEST_SETTINGS_TEST_DB_NAME", "test_request_settings")},
        }
    }
else:
    DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}

CACHES = {"default": {"BACKEND": "django.core.cache.backends.locmem.LocMemCache"}}
DEFAULT_AUTO_FIELD = "django.db.models.AutoField"
PASSWORD_HASHERS = ["django.contrib.auth.hashers.MD5PasswordHasher"]
if django.VERSION < (6, 1):  # Django 6.1 deprecates EMAIL_BACKEND for MAILERS; its test runner uses locmem anyway
    EMAIL_BACKEND = "django.core.mail.backends.locmem.EmailBackend"
SITE_ID = 1
STATIC_URL = "/static/"

# django-session-timeout reads this on every request; the suite overrides it per host.
SESSION_EXPIRE_SECONDS = 3600
