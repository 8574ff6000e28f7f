"""Test utilities shared by several test modules."""

from __future__ import annotations

from django.test import AsyncClient


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
