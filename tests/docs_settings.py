"""A new project as a reader of the README has it: ``startproject``'s settings plus the Quickstart.

The documentation's test examples run in a pytest process of their own with these settings (see
tests/doc_examples.py), so that an example passes only with the settings it shows: ``ALLOWED_HOSTS`` is empty,
as ``startproject`` writes it, and nothing of the suite's own settings (hosts, views, keys) helps.
"""

from __future__ import annotations

SECRET_KEY = "docs-only-not-a-secret"
DEBUG = False
ALLOWED_HOSTS: list[str] = []

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "request_settings",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    "request_settings.middleware.RequestSettingsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

# A project whose URLconf has no pages yet: every request is a 404, which still goes through the middleware.
ROOT_URLCONF = __name__
urlpatterns: list[object] = []

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

DATABASES = {"default": {"ENGINE": "django.db.backends.sqlite3", "NAME": ":memory:"}}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
