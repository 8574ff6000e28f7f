"""Demo settings: SQLite, two tenants (a.localhost, b.localhost), django-session-timeout, request_settings."""

from __future__ import annotations

import os
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent.parent

SECRET_KEY = os.environ.get("DEMO_SECRET_KEY", "demo-only-not-a-secret")
DEBUG = True
ALLOWED_HOSTS = ["localhost", ".localhost", "127.0.0.1"]

INSTALLED_APPS = [
    "django.contrib.admin",
    "django.contrib.auth",
    "django.contrib.contenttypes",
    "django.contrib.sessions",
    "django.contrib.messages",
    "django.contrib.staticfiles",
    "request_settings",
    "demo_project",
]

MIDDLEWARE = [
    "django.middleware.security.SecurityMiddleware",
    # Above SessionMiddleware: the session cookie is written with the overrides still active.
    "request_settings.middleware.RequestSettingsMiddleware",
    "django.contrib.sessions.middleware.SessionMiddleware",
    # Reads settings.SESSION_EXPIRE_SECONDS on every request, and knows nothing of request_settings.
    "django_session_timeout.middleware.SessionTimeoutMiddleware",
    "django.middleware.common.CommonMiddleware",
    "django.middleware.csrf.CsrfViewMiddleware",
    "django.contrib.auth.middleware.AuthenticationMiddleware",
    "django.contrib.messages.middleware.MessageMiddleware",
    "django.middleware.clickjacking.XFrameOptionsMiddleware",
]

ROOT_URLCONF = "demo_project.urls"
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
WSGI_APPLICATION = "demo_project.wsgi.application"
DATABASES = {
    "default": {
        "ENGINE": "django.db.backends.sqlite3",
        "NAME": os.environ.get("DEMO_DATABASE", str(BASE_DIR / "db.sqlite3")),
    }
}
DEFAULT_AUTO_FIELD = "django.db.models.BigAutoField"
USE_TZ = True
STATIC_URL = "static/"
LOGIN_URL = "admin:login"

# django-session-timeout: a session lives one hour after login, unless staff override it per host.
SESSION_EXPIRE_SECONDS = 3600
SESSION_TIMEOUT_REDIRECT = "/"

REQUEST_SETTINGS_FIELDS = {
    "SESSION_EXPIRE_SECONDS": {
        "field": "django.forms.IntegerField",
        # The registry's rule for this key already refuses under 60 s: the field narrows it to one day.
        "min_value": 60,
        "max_value": 86400,
        "help_text": "Seconds a login lasts, from one minute to one day.",
    }
}
