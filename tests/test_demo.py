"""The demo project works end to end: rundemo prepares it, and each tenant sees its own session timeout."""

from __future__ import annotations

import json
import os
import re
import subprocess
import sys
from pathlib import Path

DEMO = Path(__file__).resolve().parent.parent / "demo" / "manage.py"

PROBE = """
import json, re
from django.test import Client
from django.contrib.auth import get_user_model

def expire(host, client):
    page = client.get("/", HTTP_HOST=host).content.decode()
    return int(re.search(r'id="expire-seconds">(\\d+)<', page).group(1))

import os
staff = get_user_model().objects.get(username="staff")
a, b = Client(), Client()
assert a.login(username="staff", password=os.environ["DEMO_PASSWORD"])
form = a.get("/session-timeout/", HTTP_HOST="a.localhost")
print(json.dumps({
    "a": expire("a.localhost", a), "b": expire("b.localhost", b),
    "staff": staff.is_staff, "form": form.status_code, "title": "Session timeout" in form.content.decode(),
    "anonymous_form": b.get("/session-timeout/", HTTP_HOST="b.localhost").status_code,
}))
"""


def manage(*args, database, **extra_env):
    env = {**os.environ, "DEMO_DATABASE": str(database), **extra_env}
    env.pop("DJANGO_SETTINGS_MODULE", None)
    return subprocess.run(
        [sys.executable, str(DEMO), *args], env=env, capture_output=True, text=True, timeout=120, check=True
    )


def test_rundemo_prepares_a_staff_login_and_two_tenants(tmp_path):
    prepared = manage("rundemo", "--no-serve", database=tmp_path / "demo.sqlite3")
    password = re.search(r"Demo staff login: username 'staff', password '([^']+)'", prepared.stdout).group(1)
    probe = manage("shell", "-c", PROBE, database=tmp_path / "demo.sqlite3", DEMO_PASSWORD=password)
    result = json.loads(probe.stdout.strip().splitlines()[-1])
    assert result == {"a": 600, "b": 120, "staff": True, "form": 200, "title": True, "anonymous_form": 302}


def test_the_demos_declared_timeout_field_offers_only_values_the_rule_accepts(tmp_path):
    # The demo's help text promised "from 5 s" while the built-in rule refuses anything under 60 s.
    code = (
        "from django.conf import settings; from request_settings.fields import parse_value; "
        "declared = settings.REQUEST_SETTINGS_FIELDS['SESSION_EXPIRE_SECONDS']; "
        "print(parse_value('SESSION_EXPIRE_SECONDS', str(declared['min_value'])), "
        "parse_value('SESSION_EXPIRE_SECONDS', str(declared['max_value'])))"
    )
    probe = manage("shell", "-c", code, database=tmp_path / "demo.sqlite3")
    assert probe.stdout.split()[-2:] == ["60", "86400"]
