"""Review of scheduled changes and drafts: bad input, secrets, and every write path agreeing."""

from __future__ import annotations

import datetime

import pytest
import time_machine
from django.core.exceptions import ValidationError
from django.core.management import CommandError, call_command
from django.urls import include, path, reverse

from request_settings.models import SettingOverride
from tests.urls import urlpatterns as site_urlpatterns

urlpatterns = [*site_urlpatterns, path("api/settings/", include("request_settings.api.urls"))]

pytestmark = [pytest.mark.django_db, pytest.mark.urls(__name__)]

UTC = datetime.timezone.utc
NOW = datetime.datetime(2026, 12, 1, 12, 0, tzinfo=UTC)
SECRET = "PAYMENT_API_KEY"
SECRET_VALUE = "sk-live-0123456789"


def at(hours: float) -> datetime.datetime:
    return NOW + datetime.timedelta(hours=hours)


@pytest.fixture
def clock():
    with time_machine.travel(NOW, tick=False) as traveller:
        yield traveller


# -- a secret's value never shows in an overlap refusal ---------------------------------------------------------------


def test_the_overlap_refusal_masks_a_secret_scheduled_value(clock):
    SettingOverride.objects.schedule(SECRET, SECRET_VALUE, start=at(1), end=at(3))

    with pytest.raises(ValidationError) as refused:
        SettingOverride.objects.schedule(SECRET, "sk-other", start=at(2), end=at(4))

    message = " ".join(refused.value.messages)
    assert "already has a scheduled value" in message
    assert SECRET_VALUE not in message


def test_the_command_overlap_refusal_masks_a_secret_scheduled_value(clock):
    SettingOverride.objects.schedule(SECRET, SECRET_VALUE, start=at(1), end=at(3))

    with pytest.raises(CommandError) as refused:
        call_command("request_settings", "set", SECRET, "sk-other", "--from", at(2).isoformat())

    assert SECRET_VALUE not in str(refused.value)


# -- the JSON API ----------------------------------------------------------------------------------------------------

SCHEDULES = "request_settings_api:schedule-list"


@pytest.fixture
def operator(django_user_model):
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    user = django_user_model.objects.create_user("operator", password="pw", is_staff=True)
    user.user_permissions.set(
        Permission.objects.filter(codename__in=[f"{a}_settingoverride" for a in ("view", "add", "change", "delete")])
    )
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client


def test_the_api_overlap_refusal_masks_a_secret_scheduled_value(clock, operator):
    SettingOverride.objects.schedule(SECRET, SECRET_VALUE, start=at(1), end=at(3))
    body = {"key": SECRET, "value": "sk-other", "start": at(2).isoformat()}

    response = operator.post(reverse(SCHEDULES), body, format="json")

    assert response.status_code == 400
    assert "already has a scheduled value" in response.json()["non_field_errors"][0]
    assert SECRET_VALUE not in response.content.decode()
