"""One host rule at every entry point: the admin form, its host filter, the effective page, the site form, the
command's --host and import. The same bad hosts are refused with the same message; the same hosts are normalised
alike; patterns are accepted and shown the same way."""

from __future__ import annotations

import html
import json
import re
from io import StringIO

import pytest
from django.conf import settings
from django.contrib.auth.models import Permission
from django.core.management import CommandError, call_command
from django.test import Client, override_settings
from django.urls import reverse

from request_settings import activate
from request_settings.models import SettingOverride

pytestmark = pytest.mark.django_db

BAD = ["http://a.localhost/", ".localhost", "a..b"]
NORMALISED = ["A.LOCALHOST", "a.localhost:8000", "a.localhost."]


@pytest.fixture
def editor(django_user_model):
    user = django_user_model.objects.create_user("editor", is_staff=True)
    user.user_permissions.set(Permission.objects.filter(codename__endswith="_settingoverride"))
    client = Client()
    client.force_login(user)
    return client


def command(*args):
    out, err = StringIO(), StringIO()
    call_command("request_settings", *args, stdout=out, stderr=err)
    return out.getvalue()


def import_file(tmp_path, host):
    path = tmp_path / "overrides.json"
    path.write_text(json.dumps([{"key": "X_KEY", "host": host, "value": 1}]))
    return str(path)


def refusals(client, tmp_path, host):
    """The message each entry point gives for ``host``."""
    found = {}
    response = client.post(reverse("admin:request_settings_settingoverride_add"), {"key": "X_KEY", "host": host})
    [found["admin form"]] = response.context["adminform"].form.errors["host"]
    response = client.post(reverse("request_settings:edit"), {"key": "X_KEY", "host": host, "value": "1"})
    [found["site form"]] = response.context["form"].errors["host"]
    response = client.get(reverse("admin:request_settings_settingoverride_effective"), {"host": host})
    found["effective page"] = response.context["error"]
    response = client.get(reverse("admin:request_settings_settingoverride_changelist"), {"host": host})
    [found["host filter"]] = [str(message) for message in response.context["messages"]]
    for action in (["set", "X_KEY", "1"], ["unset", "X_KEY"], ["list"], ["get", "X_KEY"], ["export"]):
        with pytest.raises(CommandError) as caught:
            command(*action, "--host", host)
        found[f"command {action[0]}"] = str(caught.value).removeprefix("Error: argument --host: ")
    with pytest.raises(CommandError) as caught:
        command("import", import_file(tmp_path, host))
    found["import"] = (
        str(caught.value).split(": ", 1)[1].split("key X_KEY: ", 1)[1].removesuffix("); nothing was written.")
    )
    return found


@pytest.mark.parametrize("host", BAD)
def test_every_entry_point_refuses_a_host_no_request_can_have_with_one_message(editor, tmp_path, host):
    found = refusals(editor, tmp_path, host)

    messages = set(found.values())
    assert len(messages) == 1, found
    [message] = messages
    assert message.startswith(f"{host!r} is not a host: expected a host name such as")
    assert SettingOverride.objects.count() == 0


def test_import_refuses_a_host_that_is_not_a_string_saying_it_as_json(tmp_path):
    for host, spelled in ((5, "5"), (True, "true"), (None, "null"), (["a.localhost"], '["a.localhost"]')):
        with pytest.raises(CommandError, match=rf"key X_KEY: {re.escape(spelled)} is not a host: "):
            command("import", import_file(tmp_path, host))
    assert SettingOverride.objects.count() == 0


@pytest.mark.parametrize(
    ("host", "expected"),
    [*((host, "a.localhost") for host in NORMALISED), ("Bücher.localhost:8000", "xn--bcher-kva.localhost")],
)
def test_every_entry_point_normalises_a_host_like_a_request(editor, tmp_path, host, expected):
    def stored():
        rows = list(SettingOverride.objects.values_list("host", flat=True))
        SettingOverride.objects.all().delete()
        return rows

    editor.post(reverse("admin:request_settings_settingoverride_add"), {"key": "X_KEY", "host": host, "value": "1"})
    assert stored() == [expected]
    editor.post(reverse("request_settings:edit"), {"key": "X_KEY", "host": host, "value": "1"})
    assert stored() == [expected]
    command("set", "X_KEY", "1", "--host", host)
    assert stored() == [expected]
    command("import", import_file(tmp_path, host))
    assert stored() == [expected]
    SettingOverride.objects.set("X_KEY", 1, host=host)
    assert stored() == [expected]

    SettingOverride.objects.set("X_KEY", 1, host=expected)
    assert json.loads(command("export", "--host", host)) == [{"key": "X_KEY", "host": expected, "value": 1}]
    assert expected in command("list", "--host", host)
    effective = editor.get(reverse("admin:request_settings_settingoverride_effective"), {"host": host})
    assert effective.context["host"] == expected
    filtered = editor.get(reverse("admin:request_settings_settingoverride_changelist"), {"host": host})
    assert [row.host for row in filtered.context["cl"].result_list] == [expected]
    with activate(host):
        assert settings.X_KEY == 1
    with override_settings(ALLOWED_HOSTS=[".localhost"]):  # the Host header a browser sends for it
        response = Client().get("/echo/", {"keys": "X_KEY"}, headers={"host": f"{expected}:8000"})
    assert response.json()["values"] == {"X_KEY": 1}
    command("unset", "X_KEY", "--host", host)
    assert stored() == []


def test_a_pattern_is_accepted_and_shown_the_same_way_everywhere(editor, tmp_path):
    editor.post(
        reverse("admin:request_settings_settingoverride_add"), {"key": "A_KEY", "host": "*.Shop.test", "value": "1"}
    )
    editor.post(reverse("request_settings:edit"), {"key": "B_KEY", "host": "*.shop.test.", "value": "2"})
    command("set", "C_KEY", "3", "--host", "*.shop.test:8000")
    command("import", import_file(tmp_path, "*.SHOP.test"))

    assert sorted(SettingOverride.objects.values_list("key", "host")) == [
        ("A_KEY", "*.shop.test"),
        ("B_KEY", "*.shop.test"),
        ("C_KEY", "*.shop.test"),
        ("X_KEY", "*.shop.test"),
    ]
    changelist = html.unescape(
        editor.get(reverse("admin:request_settings_settingoverride_changelist")).content.decode()
    )
    assert '<td class="field-host_display">*.shop.test</td>' in changelist
    assert command("list").count("*.shop.test") == 4
    effective = editor.get(reverse("admin:request_settings_settingoverride_effective"), {"host": "x.shop.test"})
    sources = {line["key"]: line["source"] for line in effective.context["lines"]}
    assert sources["A_KEY"] == "pattern *.shop.test"
