"""Test utilities shared by several test modules."""

from __future__ import annotations

import os
import threading
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from typing import Any
from unittest import mock

from django.test import AsyncClient
from django.urls import URLPattern, URLResolver, include, path

NEEDS_API = "the extra 'api' is not installed (tox -e api runs these tests)"
"""The reason API tests skip in an env without Django REST framework."""


def with_api(patterns: list[URLPattern | URLResolver]) -> tuple[list[URLPattern | URLResolver], bool]:
    """``patterns`` plus the JSON API's under ``api/settings/`` when the extra 'api' is installed, and whether it is.

    In the api env (``REQUEST_SETTINGS_REQUIRE_EXTRAS``) a missing extra is a failure, not a skip.
    """
    try:
        import rest_framework  # noqa: F401
    except ImportError:
        if os.environ.get("REQUEST_SETTINGS_REQUIRE_EXTRAS"):
            raise
        return list(patterns), False
    return [*patterns, path("api/settings/", include("request_settings.api.urls"))], True


class HostAsyncClient(AsyncClient):
    """An AsyncClient that sends only the Host header a test gives (Django adds 'testserver' beside it)."""

    def request(self, **request):
        headers = request["headers"]
        if sum(name == b"host" for name, _ in headers) > 1:
            request["headers"] = [header for header in headers if header != (b"host", b"testserver")]
        return super().request(**request)


def logged_in_client(user_model, codenames, *, name: str, is_staff: bool = False):
    """A test Client logged in as a new user holding exactly ``codenames``; the user is at ``client.user``."""
    from django.contrib.auth.models import Permission
    from django.test import Client

    user = user_model.objects.create_user(name, password="pw", is_staff=is_staff)
    user.user_permissions.set(Permission.objects.filter(codename__in=codenames))
    client = Client()
    client.force_login(user)
    client.user = user
    return client


def reads(queries) -> list[str]:
    """The SQL of captured queries, transaction control left out (PostgreSQL's full read runs in a transaction of
    its own, for its server-side cursor)."""
    control = ("BEGIN", "COMMIT", "ROLLBACK", "SAVEPOINT", "RELEASE")
    return [query["sql"] for query in queries.captured_queries if not query["sql"].startswith(control)]


def api_operator(user_model):
    """An API client authenticated as a new staff user with every override permission (the user at ``client.user``)."""
    from django.contrib.auth.models import Permission
    from rest_framework.test import APIClient

    user = user_model.objects.create_user("operator", password="pw", is_staff=True)
    actions = ("view", "add", "change", "delete")
    user.user_permissions.set(Permission.objects.filter(codename__in=[f"{a}_settingoverride" for a in actions]))
    client = APIClient()
    client.force_authenticate(user)
    client.user = user
    return client


@contextmanager
def background_refresher() -> Iterator[Callable[..., None]]:
    """Turn the store's refresher thread on (off under test runners), and yield a write standing for another process.

    The test database is an in-memory SQLite in shared-cache mode, where a reader's statement locks its whole table
    and a writer meeting that lock fails at once ('database table is locked') instead of waiting out the busy timeout
    as it would on a database file. So the write waits for the thread's round in progress and holds off the next.
    """
    from request_settings.models import SettingOverride
    from request_settings.store import store

    gate = threading.Lock()
    refresh = store.refresh

    def one_at_a_time(*args: Any, **kwargs: Any) -> Any:
        with gate:
            return refresh(*args, **kwargs)

    def another_process_sets(key: str, value: object, host: str = "") -> None:
        """The row and its change version, but no invalidation in this process."""
        with gate, mock.patch.object(store, "invalidate"):
            SettingOverride.objects.set(key, value, host=host)

    store.reset()
    store.background = True
    try:
        with mock.patch.object(store, "refresh", one_at_a_time):
            yield another_process_sets
    finally:
        store.background = None
        store.reset()
