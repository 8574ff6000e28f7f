"""What we know about the settings of widely used third-party apps: honored per request, or refused and why.

Each key is either **honored** (the app reads it from ``django.conf.settings`` while it handles a request, so a
per-host override works; it has a bounded rule, and a test against the real package in the tox env
``thirdparty`` proves both) or **refused** with the reason in words (the app caches it process-wide, reads it at
start-up, or it guards security). The decision holds whatever settings.py contains, and whether or not the app is
installed: a key of these names means that app's setting.

A project extends this for its own keys (or other apps) through ``REQUEST_SETTINGS_FIELDS``; a declared field
narrows a rule here, never widens it.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Union

from request_settings import validators as v


@dataclass(frozen=True)
class Honored:
    app: str
    rule: v.Rule
    reads: str
    """Where the app reads it, per request."""


@dataclass(frozen=True)
class Refused:
    app: str
    reason: str


Decision = Union[Honored, Refused]  # noqa: UP007 (dataclass unions are evaluated at run time on Python 3.10)

SESSION_TIMEOUT = "django-session-timeout"
CORS = "django-cors-headers"
DRF = "djangorestframework"
SIMPLE_JWT = "djangorestframework-simplejwt"
ALLAUTH = "django-allauth"
AXES = "django-axes"
TOOLBAR = "django-debug-toolbar"
WHITENOISE = "whitenoise"
STORAGES = "django-storages"
CSP = "django-csp"
CELERY = "celery"

YEAR = 365 * 24 * 3600
MINUTE = 60


def _cached(app: str, where: str) -> Refused:
    return Refused(app, f"cached by {app} in {where} on first use: the first host's value would apply to every host")


def _startup(app: str, where: str) -> Refused:
    return Refused(app, f"read once at start-up by {where}: an override would have no effect")


def _security(app: str, why: str) -> Refused:
    return Refused(app, f"security-critical ({why})")


_CORS_REGEX = Refused(
    CORS,
    "a regular expression that django-cors-headers runs on every request: a slow pattern would stall every worker, "
    "and a broad one lets every site read this host's responses",
)
_CORS_ALL = _security(CORS, "it lets every website read this host's responses")
_STORAGE = _cached(STORAGES, "the storage backends Django builds once (django.core.files.storage.storages)")
_ALLAUTH_SECURITY = _security(ALLAUTH, "it guards sign-up, sign-in or account recovery")
_ALLAUTH_CODE = _security(ALLAUTH, "it names code to import and run")
_ALLAUTH_STARTUP = _startup(ALLAUTH, "django-allauth, which builds its URL patterns from it")

_ALLAUTH_SECURITY_KEYS = (
    "ACCOUNT_EMAIL_VERIFICATION", "ACCOUNT_RATE_LIMITS", "ACCOUNT_LOGIN_ATTEMPTS_LIMIT",
    "ACCOUNT_LOGIN_ATTEMPTS_TIMEOUT", "ACCOUNT_PREVENT_ENUMERATION", "ACCOUNT_LOGIN_ON_PASSWORD_RESET",
    "ACCOUNT_LOGIN_ON_EMAIL_CONFIRMATION", "ACCOUNT_CONFIRM_EMAIL_ON_GET", "ACCOUNT_LOGOUT_ON_GET",
    "ACCOUNT_UNIQUE_EMAIL", "ACCOUNT_PRESERVE_USERNAME_CASING", "ACCOUNT_PASSWORD_INPUT_RENDER_VALUE",
    "ACCOUNT_SALT", "ACCOUNT_REAUTHENTICATION_REQUIRED", "ACCOUNT_REAUTHENTICATION_TIMEOUT", "ACCOUNT_LOGIN_METHODS",
    "ACCOUNT_AUTHENTICATION_METHOD", "ACCOUNT_EMAIL_REQUIRED", "ACCOUNT_USER_MODEL_USERNAME_FIELD",
    "ACCOUNT_USER_MODEL_EMAIL_FIELD", "ACCOUNT_PASSWORD_MIN_LENGTH", "ACCOUNT_LOGIN_BY_CODE_REQUIRED",
    "ACCOUNT_EMAIL_CONFIRMATION_HMAC", "SOCIALACCOUNT_PROVIDERS", "SOCIALACCOUNT_EMAIL_AUTHENTICATION",
    "SOCIALACCOUNT_EMAIL_AUTHENTICATION_AUTO_CONNECT", "ALLAUTH_TRUSTED_PROXY_COUNT",
    "ALLAUTH_TRUSTED_CLIENT_IP_HEADER",
)  # fmt: skip
_ALLAUTH_CODE_KEYS = (
    "ACCOUNT_ADAPTER", "ACCOUNT_FORMS", "ACCOUNT_SIGNUP_FORM_CLASS", "ACCOUNT_USERNAME_VALIDATORS",
    "ACCOUNT_PASSWORD_RESET_TOKEN_GENERATOR", "SOCIALACCOUNT_ADAPTER", "SOCIALACCOUNT_FORMS", "MFA_ADAPTER",
    "MFA_FORMS", "HEADLESS_ADAPTER", "USERSESSIONS_ADAPTER", "ALLAUTH_SETTING_GETTER",
)  # fmt: skip
_ALLAUTH_STARTUP_KEYS = (
    "SOCIALACCOUNT_ONLY", "HEADLESS_ONLY", "ACCOUNT_EMAIL_VERIFICATION_BY_CODE_ENABLED", "ACCOUNT_SIGNUP_FIELDS",
    "SOCIALACCOUNT_ENABLED", "MFA_SUPPORTED_TYPES", "MFA_PASSKEY_LOGIN_ENABLED", "MFA_PASSKEY_SIGNUP_ENABLED",
    "USERSESSIONS_ENABLED", "HEADLESS_SERVE_SPECIFICATION",
)  # fmt: skip

KEYS: dict[str, Decision] = {
    # django-session-timeout: SessionTimeoutMiddleware.process_request reads all four on every request.
    "SESSION_EXPIRE_SECONDS": Honored(
        SESSION_TIMEOUT,
        v.integer(MINUTE, YEAR, unit="seconds"),
        "SessionTimeoutMiddleware.process_request, on every request with a session",
    ),
    "SESSION_EXPIRE_AFTER_LAST_ACTIVITY": Honored(
        SESSION_TIMEOUT, v.boolean(), "SessionTimeoutMiddleware.process_request, on every request with a session"
    ),
    "SESSION_EXPIRE_AFTER_LAST_ACTIVITY_GRACE_PERIOD": Honored(
        SESSION_TIMEOUT,
        v.integer(0, YEAR, unit="seconds"),
        "SessionTimeoutMiddleware.process_request, on every request with a session",
    ),
    "SESSION_TIMEOUT_REDIRECT": Honored(
        SESSION_TIMEOUT,
        v.local_url(optional=True),
        "SessionTimeoutMiddleware.process_request, when a session has expired",
    ),
    # django-cors-headers: corsheaders.conf.Settings reads each through a property, per request.
    "CORS_ALLOWED_ORIGINS": Honored(
        CORS, v.list_of(v.origin(), 100, "origins"), "CorsMiddleware.add_response_headers (corsheaders.conf)"
    ),
    "CORS_ALLOW_METHODS": Honored(
        CORS, v.list_of(v.http_method(), 20, "methods"), "CorsMiddleware.add_response_headers, on preflight requests"
    ),
    "CORS_ALLOW_HEADERS": Honored(
        CORS,
        v.list_of(v.header_name(), 100, "header names"),
        "CorsMiddleware.add_response_headers, on preflight requests",
    ),
    "CORS_EXPOSE_HEADERS": Honored(
        CORS, v.list_of(v.header_name(), 100, "header names"), "CorsMiddleware.add_response_headers"
    ),
    "CORS_PREFLIGHT_MAX_AGE": Honored(
        CORS,
        v.integer(0, 24 * 3600, unit="seconds"),
        "CorsMiddleware.add_response_headers, on preflight requests",
    ),
    "CORS_ALLOW_CREDENTIALS": Honored(CORS, v.boolean(), "CorsMiddleware.add_response_headers"),
    "CORS_ALLOW_PRIVATE_NETWORK": Honored(CORS, v.boolean(), "CorsMiddleware.add_response_headers"),
    "CORS_ALLOW_ALL_ORIGINS": _CORS_ALL,
    "CORS_ORIGIN_ALLOW_ALL": _CORS_ALL,
    "CORS_ALLOWED_ORIGIN_REGEXES": _CORS_REGEX,
    "CORS_ORIGIN_REGEX_WHITELIST": _CORS_REGEX,
    "CORS_URLS_REGEX": _CORS_REGEX,
    "CORS_ORIGIN_WHITELIST": Refused(
        CORS,
        "an old name of CORS_ALLOWED_ORIGINS, read only when CORS_ALLOWED_ORIGINS is not set: override "
        "CORS_ALLOWED_ORIGINS",
    ),
    # Django REST framework and Simple JWT: one APISettings object per process, filled on first use.
    "REST_FRAMEWORK": _cached(DRF, "rest_framework.settings.api_settings"),
    "SIMPLE_JWT": _cached(SIMPLE_JWT, "rest_framework_simplejwt.settings.api_settings"),
    # django-allauth reads its settings live through properties; three are tested per request, the others guard
    # sign-in, name code, or shape URL patterns at start-up.
    "ACCOUNT_LOGOUT_REDIRECT_URL": Honored(
        ALLAUTH, v.local_url(), "DefaultAccountAdapter.get_logout_redirect_url, when LogoutView redirects"
    ),
    "ACCOUNT_EMAIL_SUBJECT_PREFIX": Honored(
        ALLAUTH, v.text(100, optional=True), "DefaultAccountAdapter.format_email_subject, for every mail it sends"
    ),
    "ACCOUNT_SIGNUP_ENABLED": Honored(
        ALLAUTH, v.boolean(), "DefaultAccountAdapter.is_open_for_signup, when SignupView is shown or posted"
    ),
    **dict.fromkeys(_ALLAUTH_SECURITY_KEYS, _ALLAUTH_SECURITY),
    **dict.fromkeys(_ALLAUTH_CODE_KEYS, _ALLAUTH_CODE),
    **dict.fromkeys(_ALLAUTH_STARTUP_KEYS, _ALLAUTH_STARTUP),
    # django-debug-toolbar: get_config() and get_panels() are functools caches, cleared only by setting_changed.
    "DEBUG_TOOLBAR_CONFIG": _cached(TOOLBAR, "debug_toolbar.settings.get_config()"),
    "DEBUG_TOOLBAR_PANELS": _cached(TOOLBAR, "debug_toolbar.settings.get_panels()"),
    # django-csp 4 reads its policy per response, but it is the page's defence against script injection.
    "CONTENT_SECURITY_POLICY": _security(CSP, "the policy that limits script injection"),
    "CONTENT_SECURITY_POLICY_REPORT_ONLY": _security(CSP, "it sends each page's address to the report URL it names"),
}

PREFIXES: tuple[tuple[str, Refused], ...] = (
    ("CORS_", Refused(CORS, "a django-cors-headers setting that is not known to be honored per request")),
    ("ACCOUNT_", Refused(ALLAUTH, "a django-allauth setting that is not known to be honored per request")),
    ("SOCIALACCOUNT_", Refused(ALLAUTH, "a django-allauth setting that is not known to be honored per request")),
    ("MFA_", Refused(ALLAUTH, "a django-allauth setting that is not known to be honored per request")),
    ("HEADLESS_", Refused(ALLAUTH, "a django-allauth setting that is not known to be honored per request")),
    ("USERSESSIONS_", Refused(ALLAUTH, "a django-allauth setting that is not known to be honored per request")),
    ("IDP_OIDC_", Refused(ALLAUTH, "a django-allauth setting that is not known to be honored per request")),
    ("ALLAUTH_", Refused(ALLAUTH, "a django-allauth setting that is not known to be honored per request")),
    ("AXES_", _security(AXES, "django-axes guards sign-in against password guessing; a host could switch it off")),
    ("DEBUG_TOOLBAR_", _cached(TOOLBAR, "debug_toolbar.settings")),
    ("WHITENOISE_", _startup(WHITENOISE, "WhiteNoiseMiddleware.__init__")),
    ("CSP_", Refused(CSP, "a django-csp 3 setting, which django-csp 4 ignores (and a policy is security-critical)")),
    (
        "CELERY_",
        _cached(CELERY, "the objects the Celery app builds once (the broker connection pool, queues, routes)"),
    ),
    *((prefix, _STORAGE) for prefix in ("AWS_", "GS_", "AZURE_", "DROPBOX_", "FTP_", "SFTP_", "LIBCLOUD_")),
)

_STORAGES_KEYS = ("GZIP_CONTENT_TYPES", "DEFAULT_LIBCLOUD_PROVIDER", "BASE_URL")
KEYS.update(
    dict.fromkeys(
        _STORAGES_KEYS, _startup(STORAGES, "django-storages when it builds a storage backend, once per process")
    )
)


def decision(key: str) -> Decision | None:
    """What the registry says about ``key``: Honored, Refused, or None when no app here owns it."""
    found = KEYS.get(key)
    if found is not None:
        return found
    for prefix, refused in PREFIXES:
        if key.startswith(prefix):
            return refused
    return None


def honored() -> dict[str, Honored]:
    """Every key the registry honors, with its rule."""
    return {key: found for key, found in KEYS.items() if isinstance(found, Honored)}
