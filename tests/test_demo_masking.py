"""The demo's public home page lists the overrides of the request: secret-looking values are masked there too."""

from __future__ import annotations

import json

from tests.test_demo import manage

PROBE = """
import json
from django.test import Client
from request_settings.models import SettingOverride

SettingOverride.objects.set("PARTNER_API_TOKEN", "tok-s3cr3t-123", host="a.localhost")
SettingOverride.objects.set("SHOP_BANNER", "Hello", host="a.localhost")
page = Client().get("/", HTTP_HOST="a.localhost").content.decode()
shown = {"secret": "tok-s3cr3t-123" in page, "masked": "********************" in page, "banner": "Hello" in page}
print(json.dumps(shown))
"""


def test_the_demo_home_page_masks_secret_overrides_from_anonymous_visitors(tmp_path):
    database = tmp_path / "demo.sqlite3"
    manage("rundemo", "--no-serve", database=database)
    probe = manage("shell", "-c", PROBE, database=database)
    assert json.loads(probe.stdout.strip().splitlines()[-1]) == {"secret": False, "masked": True, "banner": True}
