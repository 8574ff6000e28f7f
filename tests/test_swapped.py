"""A custom REQUEST_SETTINGS_MODEL end to end: admin, write API, snapshot and middleware.

The model is swapped at start-up, like AUTH_USER_MODEL, so this module runs in its own settings:

    pytest --ds=tests.swapped_settings tests/test_swapped.py

Under the default test settings it skips, saying so.
"""

from __future__ import annotations

from io import StringIO

import pytest
from django.conf import settings
from django.core.management import call_command

SWAPPED = "swappedapp.TenantOverride"

if getattr(settings, "REQUEST_SETTINGS_MODEL", None) != SWAPPED:
    pytest.skip(
        f"needs REQUEST_SETTINGS_MODEL = {SWAPPED!r}: run pytest --ds=tests.swapped_settings tests/test_swapped.py",
        allow_module_level=True,
    )

from django.contrib.auth.models import User  # noqa: E402
from django.db import connection  # noqa: E402
from django.test import Client  # noqa: E402
from django.urls import reverse  # noqa: E402

from request_settings import activate, checks  # noqa: E402
from request_settings.models import SettingOverride, get_override_model  # noqa: E402
from request_settings.store import store  # noqa: E402
from tests.swappedapp.models import TenantOverride  # noqa: E402

KEY = "SESSION_EXPIRE_SECONDS"
ECHO = f"/echo/?keys={KEY}"


def seen(host, client=None):
    response = (client or Client()).get(ECHO, HTTP_HOST=host)
    assert response.status_code == 200
    return response.json()["values"][KEY]


@pytest.fixture
def staff_client(db):
    user = User.objects.create_superuser("boss", "boss@example.com", "pw")
    client = Client()
    client.force_login(user)
    return client


def test_the_custom_model_is_the_override_model():
    assert get_override_model() is TenantOverride
    assert SettingOverride._meta.swapped == SWAPPED


@pytest.mark.django_db
def test_only_the_custom_table_is_created():
    tables = connection.introspection.table_names()
    assert TenantOverride._meta.db_table in tables
    assert SettingOverride._meta.db_table not in tables


@pytest.mark.django_db
def test_write_api_writes_the_custom_table_and_keeps_its_own_fields():
    row = TenantOverride.objects.set(KEY, 60, host="a.example.com")
    assert isinstance(row, TenantOverride)
    TenantOverride.objects.filter(pk=row.pk).update(note="shorter sessions for tenant A")
    TenantOverride.objects.set(KEY, 90, host="a.example.com")
    row.refresh_from_db()
    assert (row.value, row.note) == (90, "shorter sessions for tenant A")
    assert TenantOverride.objects.unset(KEY, host="a.example.com") is True
    assert not TenantOverride.objects.exists()


@pytest.mark.django_db
def test_snapshot_is_read_from_the_custom_table():
    TenantOverride.objects.set(KEY, 60, host="a.example.com")
    TenantOverride.objects.set(KEY, 120)
    snapshot = store.get()
    assert snapshot.rows_of("a.example.com") == {KEY: 60}
    assert snapshot.all_hosts == {KEY: 120}
    with activate("a.example.com"):
        assert settings.SESSION_EXPIRE_SECONDS == 60


@pytest.mark.django_db
def test_middleware_applies_a_row_of_the_custom_table_to_its_host():
    TenantOverride.objects.set(KEY, 60, host="a.example.com")
    assert seen("a.example.com") == 60
    assert seen("b.example.com") == 3600


@pytest.mark.django_db(transaction=True)
def test_a_committed_change_reaches_the_next_request_through_the_cached_snapshot():
    # Outside a transaction the snapshot is cached: only the custom model's signals refresh it.
    assert seen("a.example.com") == 3600
    assert store.cached() is not None
    TenantOverride.objects.set(KEY, 60, host="a.example.com")
    assert seen("a.example.com") == 60
    TenantOverride.objects.unset(KEY, host="a.example.com")
    assert seen("a.example.com") == 3600


def test_admin_urls_are_the_custom_models():
    assert reverse("admin:swappedapp_tenantoverride_changelist") == ("/admin/swappedapp/tenantoverride/")
    assert reverse("admin:swappedapp_tenantoverride_add") == "/admin/swappedapp/tenantoverride/add/"


def test_admin_changelist_lists_the_custom_rows(staff_client):
    TenantOverride.objects.set(KEY, 60, host="a.example.com")
    response = staff_client.get(reverse("admin:swappedapp_tenantoverride_changelist"))
    assert response.status_code == 200
    content = response.content.decode()
    assert KEY in content
    assert "a.example.com" in content


def test_admin_add_writes_the_custom_table_and_the_host_sees_it(staff_client):
    response = staff_client.post(
        reverse("admin:swappedapp_tenantoverride_add"),
        {"key": KEY, "host": "a.example.com", "value": "60"},
    )
    assert response.status_code == 302, response.content.decode()[:2000]
    row = TenantOverride.objects.get(key=KEY, host="a.example.com")
    assert row.value == 60
    change = staff_client.get(reverse("admin:swappedapp_tenantoverride_change", args=[row.pk]))
    assert change.status_code == 200
    assert seen("a.example.com") == 60
    assert seen("b.example.com") == 3600


def test_admin_add_refuses_a_refused_key_and_writes_nothing(staff_client):
    response = staff_client.post(
        reverse("admin:swappedapp_tenantoverride_add"),
        {"key": "SECRET_KEY", "host": "", "value": "stolen"},
    )
    assert response.status_code == 200
    assert "SECRET_KEY" in response.content.decode()
    assert not TenantOverride.objects.exists()


def test_the_checks_accept_the_custom_model():
    assert checks.check_model() == []
    out = StringIO()
    call_command("check", stdout=out)
    assert "request_settings." not in out.getvalue()
    assert "System check identified no issues" in out.getvalue()


@pytest.mark.django_db
def test_the_database_check_reads_the_custom_table(settings):
    TenantOverride.objects.set(KEY, 60, host="a.example.com")
    settings.REQUEST_SETTINGS_DENIED = [KEY]
    messages = checks.check_stored_overrides(databases=["default"])
    assert [message.id for message in messages] == ["request_settings.W006"]
    assert messages[0].obj is TenantOverride
    assert "TenantOverride.objects.unset" in messages[0].hint


@pytest.mark.django_db
def test_the_custom_models_migrations_are_up_to_date():
    out = StringIO()
    try:
        call_command("makemigrations", "swappedapp", "--check", "--dry-run", stdout=out)
    except SystemExit:
        pytest.fail(f"tests/swappedapp needs a new migration:\n{out.getvalue()}")
