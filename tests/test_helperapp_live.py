"""A reusable app's own prefixed settings, read through the helper, obey per-host overrides."""

from __future__ import annotations

import pytest
from django.test import Client, override_settings
from django.urls import include, path, reverse

from request_settings.models import get_override_model
from tests.helperapp.conf.settings import settings as helper

urlpatterns = [
    path("", include("tests.urls")),
    path("helperapp/", include("tests.helperapp.urls")),
]

pytestmark = [
    pytest.mark.django_db,
    pytest.mark.urls(__name__),
]


def greeting(host):
    response = Client().get(reverse("helperapp:greeting"), HTTP_HOST=host)
    assert response.status_code == 200
    return response.json()


def test_a_host_row_reaches_the_apps_setting_for_that_host_only():
    get_override_model().objects.set("HELPERAPP_GREETING", "bonjour", host="a.example.com")
    assert greeting("a.example.com")["greeting"] == "bonjour"
    assert greeting("b.example.com")["greeting"] == "hello"  # the app's default
    assert helper.GREETING == "hello"  # outside a request


@override_settings(HELPERAPP_GREETING="hi")
def test_other_hosts_see_the_settings_py_value():
    get_override_model().objects.set("HELPERAPP_GREETING", "bonjour", host="a.example.com")
    assert greeting("a.example.com")["greeting"] == "bonjour"
    assert greeting("b.example.com")["greeting"] == "hi"


def test_an_all_hosts_row_reaches_every_host_under_a_host_row():
    model = get_override_model()
    model.objects.set("HELPERAPP_GREETING", "salut")
    model.objects.set("HELPERAPP_GREETING", "bonjour", host="a.example.com")
    assert greeting("a.example.com")["greeting"] == "bonjour"
    assert greeting("b.example.com")["greeting"] == "salut"


def test_a_model_setting_resolves_per_host_without_leaking_between_requests():
    # The helper caches imported models by raw value: each host gets the model its own value names,
    # whichever host asked first.
    get_override_model().objects.set("HELPERAPP_USER_MODEL", "auth.Group", host="a.example.com")
    for _ in range(2):
        assert greeting("a.example.com")["user_model"] == "auth.Group"
        assert greeting("b.example.com")["user_model"] == "auth.User"
    assert helper.models.USER_MODEL._meta.label == "auth.User"


def test_a_bad_model_value_for_one_host_fails_that_hosts_read_only():
    """The write API takes any JSON for a custom key; the app's helper rejects the value on use."""
    get_override_model().objects.set("HELPERAPP_USER_MODEL", "auth.Nope", host="a.example.com")
    client = Client(raise_request_exception=False)
    response = client.get(reverse("helperapp:greeting"), HTTP_HOST="a.example.com")
    assert response.status_code == 500
    assert greeting("b.example.com")["user_model"] == "auth.User"
