"""Migrate, create (or reset) a demo staff login, seed two overrides, and serve on 127.0.0.1:8000."""

from __future__ import annotations

import secrets
from typing import Any

from django.contrib.auth import get_user_model
from django.core.management import call_command
from django.core.management.base import BaseCommand, CommandParser

from request_settings.models import get_override_model


class Command(BaseCommand):
    help = "Run the request_settings demo on SQLite."

    def add_arguments(self, parser: CommandParser) -> None:
        parser.add_argument("addrport", nargs="?", default="127.0.0.1:8000")
        parser.add_argument("--no-serve", action="store_true", help="Prepare the database and stop.")

    def handle(self, *args: Any, addrport: str, no_serve: bool, **options: Any) -> None:
        call_command("migrate", interactive=False, verbosity=0)
        password = secrets.token_urlsafe(9)
        user, _ = get_user_model().objects.get_or_create(username="staff")
        user.is_staff = user.is_superuser = True
        user.set_password(password)
        user.save()
        overrides = get_override_model().objects
        if not overrides.exists():
            overrides.set("SESSION_EXPIRE_SECONDS", 600)
            overrides.set("SESSION_EXPIRE_SECONDS", 120, host="b.localhost")
        port = addrport.rpartition(":")[2]
        self.stdout.write(
            f"Demo staff login: username 'staff', password '{password}'\n"
            f"Tenants: http://a.localhost:{port}/ and http://b.localhost:{port}/"
            f" (b.localhost has its own SESSION_EXPIRE_SECONDS)\n"
            f"Admin: http://a.localhost:{port}/admin/request_settings/settingoverride/\n"
        )
        if not no_serve:
            call_command("runserver", addrport, use_reloader=False)
