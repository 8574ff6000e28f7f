"""Values that pass a type check but break responses or open a hole, refused on every write path.

Each test comes from the security review of issue 11: the value was accepted, and the test shows it is now refused
(with the accepted values written out here) or, when a raw row carries it, skipped by every request.
"""

from __future__ import annotations

import io
import json
import logging
import re
from decimal import Decimal
from pathlib import Path

import pytest
from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.management import call_command
from django.core.management.base import CommandError
from django.test import Client, override_settings
from django.urls import reverse

from request_settings import checks, policy, thirdparty
from request_settings.forms import SettingOverrideForm
from request_settings.models import SettingOverride
from tests.test_honored import ADMINS
from tests.test_refusals import insert_raw

pytestmark = pytest.mark.django_db

A = "a.example.com"
ADD = "admin:request_settings_settingoverride_add"
CHANGELIST = "admin:request_settings_settingoverride_changelist"
CHARSET = "one of 'utf-8', 'gb18030' (any letter case)"
DOMAIN = "a domain such as 'example.com' or '.example.com' (letters, digits, '-' and '.') or null"
PATH = "a URL path starting with / that the admin's URL lies under, such as '/' (no ';', ',' or spaces)"
ADDRESS = "one e-mail address such as 'shop@example.com' or 'Shop <shop@example.com>'"
URL = (
    "a path on this site starting with / (not //), or a URL name such as 'login' "
    "(an absolute URL only on a host in REQUEST_SETTINGS_URL_HOSTS)"
)
EXPIRE = "an integer from 60 to 31536000 (seconds)"


def refused(key, value, host=A):
    """What the write API says about ``value`` (with the project allowing every honored key), or None."""
    with override_settings(REQUEST_SETTINGS_ALLOWED=[key]):
        try:
            SettingOverride.objects.set(key, value, host=host)
        except ValidationError as error:
            assert not SettingOverride.objects.filter(key=key).exists()
            return " ".join(error.messages)
    SettingOverride.objects.filter(key=key).delete()
    return None


def expected(key, value, accepted):
    return f"{value!r} is not a valid value for {key}: expected {accepted}."


@pytest.fixture
def admin_client(django_user_model):
    user = django_user_model.objects.create_superuser("root", "root@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


# -- the guiding key --------------------------------------------------------------------------------------------


@pytest.mark.parametrize("value", ["10 minutes", 0, -5, True, 10**23, None, 59, 31536001])
@pytest.mark.parametrize("host", [A, ""])
@pytest.mark.parametrize("in_settings_py", [True, False])
def test_session_expire_seconds_refuses_what_would_break_or_end_every_session(value, host, in_settings_py, settings):
    if not in_settings_py:
        del settings.SESSION_EXPIRE_SECONDS

    assert refused("SESSION_EXPIRE_SECONDS", value, host=host) == expected("SESSION_EXPIRE_SECONDS", value, EXPIRE)


@pytest.mark.parametrize("value", [60, 600, 31536000])
def test_session_expire_seconds_accepts_a_minute_to_a_year(value, settings):
    del settings.SESSION_EXPIRE_SECONDS

    assert refused("SESSION_EXPIRE_SECONDS", value) is None


def test_the_command_refuses_the_guiding_key_as_text_without_settings_py(settings):
    del settings.SESSION_EXPIRE_SECONDS

    with pytest.raises(CommandError) as caught:
        call_command("request_settings", "set", "SESSION_EXPIRE_SECONDS", "10 minutes", "--host", "a.localhost")

    assert str(caught.value) == (
        f"'10 minutes' is not a valid value for SESSION_EXPIRE_SECONDS: Enter a whole number. Expected {EXPIRE}."
    )
    assert not SettingOverride.objects.exists()


# -- DEFAULT_CHARSET: canonical names only --------------------------------------------------------------------


@pytest.mark.parametrize("value", ["utf-8\n", "\r\nutf-8", "utf-8\x0b", "idna", "utf_8", "UTF8", "iso-8859-1", "rot13"])
def test_charset_refuses_anything_but_a_canonical_name(value):
    assert refused("DEFAULT_CHARSET", value) == expected("DEFAULT_CHARSET", value, CHARSET)


@pytest.mark.parametrize("value", ["utf-8", "UTF-8", "gb18030"])
def test_charset_accepts_canonical_names(value):
    assert refused("DEFAULT_CHARSET", value) is None


def test_a_raw_row_with_a_header_breaking_charset_is_skipped_and_the_login_page_works(caplog):
    insert_raw("DEFAULT_CHARSET", "utf-8\n")

    with caplog.at_level(logging.WARNING, "request_settings"):
        response = Client(HTTP_HOST=A).get(reverse("admin:login"))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/html; charset=utf-8"
    assert any("Skipped the override of DEFAULT_CHARSET" in record.getMessage() for record in caplog.records)


# -- cookie domains and paths ---------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["SESSION_COOKIE_DOMAIN", "CSRF_COOKIE_DOMAIN"])
@pytest.mark.parametrize(
    "value",
    ["a.example.com\r\nX-Injected: 1", "a.example.com; SameSite=None", "a.example.com,b.example.com",
     "a.example.com\x0b", "exa mple.com", "", ".", "-a.example.com", "a..example.com", "http://a.example.com", 42],
)  # fmt: skip
def test_cookie_domain_refuses_what_is_not_a_domain(key, value):
    assert refused(key, value) == expected(key, value, DOMAIN)


@pytest.mark.parametrize("key", ["SESSION_COOKIE_PATH", "CSRF_COOKIE_PATH"])
@pytest.mark.parametrize(
    "value",
    ["/; Domain=evil.example; SameSite=None", "/\r\nX-Injected: 1", "/a,b", "/ admin/", "admin/", "/shop/", "/adm",
     "/admin/login/", ""],
)  # fmt: skip
def test_cookie_path_refuses_injection_and_paths_the_admin_is_not_under(key, value):
    assert refused(key, value) == expected(key, value, PATH)


@pytest.mark.parametrize("value", ["/", "/admin", "/admin/"])
def test_cookie_path_accepts_paths_the_admin_lies_under(value):
    assert refused("SESSION_COOKIE_PATH", value) is None


def test_a_raw_row_that_would_split_the_set_cookie_header_is_skipped():
    insert_raw("SESSION_COOKIE_DOMAIN", "a.example.com\r\nX-Injected: 1")
    insert_raw("CSRF_COOKIE_PATH", "/; Domain=evil.example")

    session = Client(HTTP_HOST=A).get(reverse("session"))
    login = Client(HTTP_HOST=A).get(reverse("admin:login"))

    assert session.cookies[settings.SESSION_COOKIE_NAME]["domain"] == ""
    assert login.cookies[settings.CSRF_COOKIE_NAME]["path"] == "/"
    assert "X-Injected" not in session.serialize_headers().decode()


@pytest.mark.parametrize(
    ("host", "value", "problem"),
    [
        (A, ".b.example.com", f"null or a domain that {A} lies in, such as {A!r} (browsers drop the others)"),
        (A, "evil.example", f"null or a domain that {A} lies in, such as {A!r} (browsers drop the others)"),
        ("", ".example.com", "null for all hosts (a cookie domain locks out every host outside it): set it per host"),
    ],
)
def test_the_admin_refuses_a_cookie_domain_the_host_is_not_in(admin_client, host, value, problem):
    response = admin_client.post(reverse(ADD), {"key": "SESSION_COOKIE_DOMAIN", "host": host, "value": value})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["value"] == [expected("SESSION_COOKIE_DOMAIN", value, problem)]
    assert not SettingOverride.objects.exists()


@pytest.mark.parametrize("value", ["a.example.com", ".a.example.com", "example.com", ".example.com"])
def test_the_site_form_accepts_a_cookie_domain_the_host_lies_in(value):
    form = SettingOverrideForm({"key": "SESSION_COOKIE_DOMAIN", "value": value}, keys=["SESSION_COOKIE_DOMAIN"], host=A)

    assert form.is_valid(), form.errors


@pytest.mark.parametrize(("value", "valid"), [("a.example.com", True), (".example.com", True), ("example.com", False)])
def test_the_csrf_cookie_domain_also_passes_django_s_referer_check(value, valid):
    # CsrfViewMiddleware matches the Referer of HTTPS posts against CSRF_COOKIE_DOMAIN with is_same_domain(): a name
    # without a leading dot matches that host only, so "example.com" would refuse every post on a.example.com.
    form = SettingOverrideForm({"key": "CSRF_COOKIE_DOMAIN", "value": value}, keys=["CSRF_COOKIE_DOMAIN"], host=A)

    assert form.is_valid() is valid
    if not valid:
        assert form.errors["value"] == [
            expected(
                "CSRF_COOKIE_DOMAIN",
                value,
                "null, 'a.example.com' or a domain with a leading dot that a.example.com lies in, such as "
                "'.a.example.com'",
            )
        ]


def test_the_command_checks_the_cookie_domain_against_its_host():
    with pytest.raises(CommandError, match=re.escape("null or a domain that a.example.com lies in")):
        call_command("request_settings", "set", "SESSION_COOKIE_DOMAIN", "b.example.com", "--host", A)


# -- control characters in every string of an honored key ------------------------------------------------------

# A valid value of each honored key whose values are strings (or lists of strings); a control character is then
# put inside it.
STRING_SAMPLES = {
    "SESSION_COOKIE_DOMAIN": "a.example.com",
    "CSRF_COOKIE_DOMAIN": "a.example.com",
    "SESSION_COOKIE_PATH": "/admin/",
    "CSRF_COOKIE_PATH": "/admin/",
    "EMAIL_SUBJECT_PREFIX": "[Shop] ",
    "DEFAULT_FROM_EMAIL": "Shop <shop@example.com>",
    "SERVER_EMAIL": "alerts@example.com",
    "EMAIL_BACKEND": "django.core.mail.backends.smtp.EmailBackend",
    "EMAIL_HOST": "smtp.example.com",
    "EMAIL_HOST_USER": "shop",
    "EMAIL_HOST_PASSWORD": "s3cret",
    "LOGIN_URL": "/sign-in/",
    "LOGIN_REDIRECT_URL": "/welcome/",
    "LOGOUT_REDIRECT_URL": "/goodbye/",
    "DEFAULT_CHARSET": "utf-8",
    "X_FRAME_OPTIONS": "DENY",
    "SESSION_COOKIE_SAMESITE": "Lax",
    "CSRF_COOKIE_SAMESITE": "Lax",
    "SESSION_TIMEOUT_REDIRECT": "/timed-out/",
    "CORS_ALLOWED_ORIGINS": ["https://shop.example.com"],
    "CORS_ALLOW_METHODS": ["GET"],
    "CORS_ALLOW_HEADERS": ["x-requested-with"],
    "CORS_EXPOSE_HEADERS": ["x-total-count"],
    "ACCOUNT_LOGOUT_REDIRECT_URL": "/goodbye/",
    "ACCOUNT_EMAIL_SUBJECT_PREFIX": "[Shop] ",
}
CONTROL_CHARACTERS = ["\n", "\r", "\t", "\x0b", "\x0c", "\x1c", "\x1f", "\x7f", "\x85", "\u2028", "\u2029"]


def string_keys():
    honored = {**policy.HONORED, **{key: found.rule for key, found in thirdparty.honored().items()}}
    return sorted(key for key, rule in honored.items() if rule.kind in (str, list))


def test_every_honored_string_key_has_a_sample():
    assert set(string_keys()) - {"SESSION_COOKIE_SAMESITE", "CSRF_COOKIE_SAMESITE"} <= set(STRING_SAMPLES)


def with_control(sample, character):
    if isinstance(sample, list):
        return [with_control(sample[0], character)]
    middle = len(sample) // 2
    return sample[:middle] + character + sample[middle:]


@pytest.mark.parametrize("key", sorted(STRING_SAMPLES))
def test_every_control_character_is_refused_in_an_honored_string(key):
    assert refused(key, STRING_SAMPLES[key]) is None  # the sample itself is fine
    for character in CONTROL_CHARACTERS:
        value = with_control(STRING_SAMPLES[key], character)
        assert refused(key, value) is not None, (key, value)


@pytest.mark.urls("tests.honored_urls")
def test_a_vertical_tab_in_the_subject_prefix_never_reaches_the_mail_server(mailoutbox):
    insert_raw("EMAIL_SUBJECT_PREFIX", "[Shop]\x0bReply-To: attacker@example.org ")

    with override_settings(ADMINS=ADMINS):
        Client(HTTP_HOST=A).get("/honored/admins-mail/")

    assert [message.subject for message in mailoutbox] == ["[Django] Disk full"]


# -- addresses -------------------------------------------------------------------------------------------------


@pytest.mark.parametrize("key", ["SERVER_EMAIL", "DEFAULT_FROM_EMAIL"])
@pytest.mark.parametrize(
    "value",
    ["not an address", "a@example.com, b@example.com", "\x0bBcc: spy@example.org", "Shop <shop@example.com", "@",
     "Shop <shop@example.com>, spy@example.org", "shop@", "Sh;op <shop@example.com>"],
)  # fmt: skip
def test_addresses_are_validated_as_addresses(key, value):
    assert refused(key, value) == expected(key, value, ADDRESS)


@pytest.mark.parametrize("value", ["shop@example.com", "Shop <shop@example.com>", "Shop A. <shop@a.example.com>"])
def test_an_address_with_or_without_a_name_is_accepted(value):
    assert refused("SERVER_EMAIL", value) is None


# -- URL settings stay on the site --------------------------------------------------------------------------------

URL_KEYS = ["LOGIN_URL", "LOGIN_REDIRECT_URL", "LOGOUT_REDIRECT_URL", "SESSION_TIMEOUT_REDIRECT",
            "ACCOUNT_LOGOUT_REDIRECT_URL"]  # fmt: skip
OFF_SITE = ["//evil.example/", "/\\evil.example", "https://evil.example/", "javascript:alert(1)",
            "mailto:a@example.com", "no-such-url-name", "/a b/", "http:///evil.example", ""]  # fmt: skip


def url_words(key):
    return URL + (" or null" if key in ("LOGOUT_REDIRECT_URL", "SESSION_TIMEOUT_REDIRECT") else "")


@pytest.mark.parametrize("key", URL_KEYS)
@pytest.mark.parametrize("value", OFF_SITE)
def test_url_settings_refuse_other_sites_and_schemes(key, value):
    assert refused(key, value) == expected(key, value, url_words(key))


@pytest.mark.parametrize("key", URL_KEYS)
@pytest.mark.parametrize("value", ["/welcome/", "/", "admin:index", "echo"])
def test_url_settings_accept_a_local_path_or_a_url_name(key, value):
    assert refused(key, value) is None


@override_settings(REQUEST_SETTINGS_URL_HOSTS=["accounts.example.com"])
@pytest.mark.parametrize("key", URL_KEYS)
def test_the_project_may_allow_hosts_for_url_settings(key):
    assert refused(key, "https://accounts.example.com/sign-in/") is None
    assert refused(key, "https://evil.example/") == expected(key, "https://evil.example/", url_words(key))
    assert refused(key, "javascript:alert(1)") is not None


def test_an_off_site_timeout_redirect_in_a_raw_row_is_skipped(caplog):
    insert_raw("SESSION_TIMEOUT_REDIRECT", "//evil.example/")

    with caplog.at_level(logging.WARNING, "request_settings"):
        values = Client(HTTP_HOST=A).get(reverse("echo"), {"keys": "SESSION_TIMEOUT_REDIRECT"}).json()["values"]

    assert values == {"SESSION_TIMEOUT_REDIRECT": "<missing>"}


# -- depth and size limits, in every write path ------------------------------------------------------------------


def nested(depth):
    value = "leaf"
    for _ in range(depth):
        value = [value]
    return value


DEPTH = "a JSON value nested at most 32 levels deep (REQUEST_SETTINGS_MAX_VALUE_DEPTH)"


def test_the_depth_check_itself_never_recurses():
    assert policy.value_problem("TENANT_MENU", nested(100_000)) == DEPTH


@pytest.mark.parametrize("depth", [33, 600])
def test_the_write_api_refuses_a_value_nested_too_deeply(depth):
    value = nested(depth)
    with pytest.raises(ValidationError) as caught:
        SettingOverride.objects.set("TENANT_MENU", value, host=A)

    assert caught.value.message_dict["value"][0].endswith(f"expected {DEPTH}.")
    assert not SettingOverride.objects.exists()


def test_32_levels_are_accepted_and_the_limit_is_configurable():
    SettingOverride.objects.set("TENANT_MENU", nested(32), host=A)
    with override_settings(REQUEST_SETTINGS_MAX_VALUE_DEPTH=40):
        SettingOverride.objects.set("TENANT_MENU", nested(40), host=A)
    with override_settings(REQUEST_SETTINGS_MAX_VALUE_DEPTH=2), pytest.raises(ValidationError):
        SettingOverride.objects.set("TENANT_MENU", nested(3), host=A)


def test_size_limit_in_bytes_of_json_and_configurable():
    just_fits = "x" * (65536 - 2)  # the JSON string's two quotes count
    SettingOverride.objects.set("TENANT_NOTICE", just_fits, host=A)
    with pytest.raises(ValidationError) as caught:
        SettingOverride.objects.set("TENANT_NOTICE", just_fits + "x", host=A)
    assert caught.value.message_dict["value"][0].endswith(
        "expected a JSON value of at most 65536 bytes (REQUEST_SETTINGS_MAX_VALUE_SIZE), not 65537."
    )
    with override_settings(REQUEST_SETTINGS_MAX_VALUE_SIZE=131072):
        SettingOverride.objects.set("TENANT_NOTICE", just_fits + "x", host=A)
    # Multi-byte characters count as bytes: 30,000 euro signs are 90,002 bytes.
    with pytest.raises(ValidationError):
        SettingOverride.objects.set("TENANT_NOTICE", "€" * 30000, host=A)


def test_the_admin_refuses_a_deep_value_and_its_pages_still_work(admin_client):
    response = admin_client.post(reverse(ADD), {"key": "TENANT_MENU", "host": "", "value": json.dumps(nested(600))})

    assert response.status_code == 200
    assert response.context["adminform"].form.errors["value"][0].endswith(f"expected {DEPTH}.")
    assert not SettingOverride.objects.exists()
    assert admin_client.get(reverse(CHANGELIST)).status_code == 200


def test_the_site_form_refuses_a_deep_value():
    form = SettingOverrideForm({"key": "TENANT_MENU", "value": json.dumps(nested(600))}, host="")

    assert not form.is_valid()
    assert form.errors["value"][0].endswith(f"expected {DEPTH}.")


def test_the_command_refuses_a_deep_value():
    with pytest.raises(CommandError, match=re.escape(DEPTH)):
        call_command("request_settings", "set", "TENANT_MENU", json.dumps(nested(600)))
    assert not SettingOverride.objects.exists()


def test_import_refuses_a_deep_value(tmp_path):
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps([{"key": "TENANT_MENU", "host": "", "value": nested(600)}]))

    with pytest.raises(CommandError, match=re.escape(DEPTH)):
        call_command("request_settings", "import", str(path), stdout=io.StringIO())
    assert not SettingOverride.objects.exists()


def test_a_deep_raw_row_is_skipped_by_requests(caplog):
    insert_raw("TENANT_MENU", nested(600))
    insert_raw("TENANT_BANNER", "open")

    with caplog.at_level(logging.WARNING, "request_settings"):
        values = Client(HTTP_HOST=A).get(reverse("echo"), {"keys": "TENANT_MENU,TENANT_BANNER"}).json()["values"]

    assert values == {"TENANT_MENU": "<missing>", "TENANT_BANNER": "open"}


# -- numbers are bounded ------------------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "accepted"),
    [
        ("EMAIL_TIMEOUT", 1e300, "a number from 1 to 3600 (seconds) or null"),
        ("SITE_ID", 10**30, "the id of an existing Site (an integer from 1 to 2147483647)"),
        ("SESSION_COOKIE_AGE", 10**30, "an integer from 60 to 2147483647 (seconds)"),
        ("TENANT_LIMIT", 10**23, "integers from -9223372036854775807 to 9223372036854775807"),
        ("TENANT_LIMIT", float("inf"), "a finite number"),
    ],
)
def test_every_number_has_a_bound(key, value, accepted):
    assert refused(key, value) == expected(key, value, accepted)


# -- declared fields narrow, never widen ----------------------------------------------------------------------------


@override_settings(REQUEST_SETTINGS_FIELDS={"DEFAULT_CHARSET": {"field": "django.forms.CharField"}})
def test_a_declared_field_cannot_widen_a_built_in_rule():
    assert refused("DEFAULT_CHARSET", "no-such-charset") == expected("DEFAULT_CHARSET", "no-such-charset", CHARSET)


@override_settings(
    REQUEST_SETTINGS_FIELDS={"SESSION_EXPIRE_SECONDS": {"field": "django.forms.IntegerField", "min_value": 300}}
)
def test_a_declared_field_narrows_a_built_in_rule():
    assert refused("SESSION_EXPIRE_SECONDS", 120) == (
        "120 is not a valid value for SESSION_EXPIRE_SECONDS: expected a value the declared field accepts "
        "(Ensure this value is greater than or equal to 300.)."
    )
    assert refused("SESSION_EXPIRE_SECONDS", 10) == expected("SESSION_EXPIRE_SECONDS", 10, EXPIRE)
    assert refused("SESSION_EXPIRE_SECONDS", 600) is None


# -- a denied setting's other names ------------------------------------------------------------------------------


def test_a_denied_app_setting_is_denied_under_its_old_name_too():
    import request_settings
    from tests.helperapp.conf.settings import settings as helper

    with override_settings(REQUEST_SETTINGS_DENIED=["HELPERAPP_GREETING"]):
        assert policy.refusal("HELPERAPP_SALUTATION") == (
            "another name of the renamed setting HELPERAPP_GREETING, which cannot be overridden "
            "(denied by REQUEST_SETTINGS_DENIED)"
        )
        with pytest.raises(ValidationError):
            SettingOverride.objects.set("HELPERAPP_SALUTATION", "psst", host=A)
        insert_raw("HELPERAPP_SALUTATION", "psst")  # written behind the app's back: requests skip it
        with request_settings.activate(A):
            assert helper.GREETING == "hello"


def test_a_denied_old_name_denies_the_new_one():
    with override_settings(REQUEST_SETTINGS_DENIED=["HELPERAPP_SALUTATION"]):
        assert policy.refusal("HELPERAPP_GREETING") == (
            "another name of the renamed setting HELPERAPP_SALUTATION, which cannot be overridden "
            "(denied by REQUEST_SETTINGS_DENIED)"
        )
    assert policy.refusal("HELPERAPP_GREETING") is None


# -- settings.py values JSON cannot carry, and the project's layout --------------------------------------------------


@pytest.mark.parametrize(
    ("key", "value", "problem"),
    [
        ("SHOP_CALLBACK", print, "its settings.py value is a builtin_function_or_method"),
        ("SHOP_PATTERN", re.compile("x"), "its settings.py value is a Pattern"),
        ("SHOP_TAGS", {"a", "b"}, "its settings.py value is a set"),
        ("SHOP_PRICE", Decimal("9.99"), "its settings.py value is a Decimal"),
        ("SHOP_LEVELS", {10: "debug"}, "its settings.py value is a dict with keys that are not strings"),
        ("SHOP_HANDLERS", [("a", object())], "its settings.py value is a object"),
        ("SHOP_MIXED", [("a", 1), ["b", 2]], "its settings.py value mixes lists and tuples at one level"),
        ("SHOP_CLASS", ValueError, "its settings.py value is a type"),
        ("SHOP_LOCATION", Path("/srv"), f"its settings.py value is a {type(Path('/srv')).__name__}"),
    ],
)
def test_a_settings_py_value_json_cannot_carry_is_refused(key, value, problem):
    with override_settings(**{key: value}):
        assert policy.refusal(key) == f"{policy.NOT_JSON}: {problem}"
        with pytest.raises(ValidationError):
            SettingOverride.objects.set(key, "/elsewhere", host=A)


@override_settings(SHOP_CHOICES=(("a", "A"), ("b", "B")), SHOP_SIZES=[1, 2], SHOP_MAP={"pair": (1, 2)})
def test_tuples_come_back_as_tuples_at_every_level():
    SettingOverride.objects.set("SHOP_CHOICES", [["c", "C"]], host=A)
    SettingOverride.objects.set("SHOP_MAP", {"pair": [3, 4], "other": [5]}, host=A)

    import request_settings

    with request_settings.activate(A):
        assert settings.SHOP_CHOICES == (("c", "C"),)
        assert settings.SHOP_MAP == {"pair": (3, 4), "other": [5]}
    assert policy.coerce("SHOP_SIZES", [3]) == [3]


@pytest.mark.parametrize(
    "key", ["BASE_DIR", "EMAIL_FILE_PATH", "UPLOADS_DIR", "REPORT_DIRS", "SHOP_ROOT", "EXPORT_PATH", "PLUGIN_PATHS"]
)
@pytest.mark.parametrize("in_settings_py", [True, False])
def test_layout_keys_are_refused_whatever_settings_py_holds(key, in_settings_py):
    configuration = {key: "/srv/site"} if in_settings_py else {}
    with override_settings(**configuration), override_settings(REQUEST_SETTINGS_ALLOWED=[key]):
        assert policy.refusal(key) == policy.LAYOUT
        with pytest.raises(ValidationError) as caught:
            SettingOverride.objects.set(key, "/srv/other", host=A)
    assert caught.value.message_dict == {"key": [f"{key} cannot be overridden: {policy.LAYOUT}."]}


def test_base_dir_is_not_offered_in_the_admin(admin_client):
    page = admin_client.get(reverse(ADD)).content.decode()

    assert "BASE_DIR" not in page


# -- keys nothing checks ---------------------------------------------------------------------------------------------

UNCHECKED_WHY = (
    "settings.py does not define it and no rule or declared field covers it, so any JSON value is accepted. Define "
    "it in settings.py, or declare a field for it in REQUEST_SETTINGS_FIELDS."
)


def test_an_unchecked_key_is_said_so_in_the_admin(admin_client):
    response = admin_client.post(reverse(ADD), {"key": "TENANT_MOTTO", "host": "", "value": "Hi"}, follow=True)

    shown = [str(message) for message in response.context["messages"]]
    assert f"The value of TENANT_MOTTO is not checked: {UNCHECKED_WHY}" in shown


def test_a_checked_key_is_not_said_unchecked(admin_client):
    response = admin_client.post(
        reverse(ADD), {"key": "SESSION_EXPIRE_SECONDS", "host": "", "value": "600"}, follow=True
    )

    assert not [str(message) for message in response.context["messages"] if "not checked" in str(message)]


def test_an_unchecked_key_is_said_so_by_the_command():
    stderr = io.StringIO()
    call_command("request_settings", "set", "TENANT_MOTTO", "Hi", stdout=io.StringIO(), stderr=stderr)

    assert stderr.getvalue().strip() == f"Note: the value of TENANT_MOTTO is not checked: {UNCHECKED_WHY}"


def test_an_unchecked_key_is_said_so_by_the_site_form():
    form = SettingOverrideForm(keys=["TENANT_MOTTO"], host="")

    assert form.fields["value"].help_text == (
        "TENANT_MOTTO: any JSON value: not checked (define the key in settings.py or declare it in "
        "REQUEST_SETTINGS_FIELDS)."
    )


@override_settings(TENANT_LIMIT=10, REQUEST_SETTINGS_FIELDS={"TENANT_BADGE": {"field": "django.forms.CharField"}})
def test_w008_lists_rows_whose_values_nothing_checks():
    SettingOverride.objects.set("TENANT_MOTTO", "Hi", host=A)
    SettingOverride.objects.set("TENANT_LIMIT", 20, host=A)  # typed by settings.py
    SettingOverride.objects.set("TENANT_BADGE", "gold", host=A)  # a declared field
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600, host=A)  # the registry

    messages = checks.check_stored_overrides(databases=["default"])

    assert [(message.id, message.msg) for message in messages] == [
        (
            "request_settings.W008",
            f"The override of TENANT_MOTTO for host {A!r} should have a value something checks: {UNCHECKED_WHY}",
        )
    ]
    assert "REQUEST_SETTINGS_FIELDS" in messages[0].hint


def test_w008_runs_with_manage_py_check_database():
    SettingOverride.objects.set("TENANT_MOTTO", "Hi")
    stderr = io.StringIO()

    call_command("check", "--database", "default", stdout=io.StringIO(), stderr=stderr)

    assert "request_settings.W008" in stderr.getvalue()
