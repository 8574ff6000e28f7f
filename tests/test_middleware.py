"""RequestSettingsMiddleware through the real stack, and as a unit with sync and async get_response."""

from __future__ import annotations

import asyncio
import io
import threading

import pytest
from asgiref.sync import iscoroutinefunction
from django.conf import settings
from django.http import FileResponse, HttpResponse
from django.test import Client, RequestFactory, override_settings

from request_settings import current_host, overlay
from request_settings.middleware import RequestSettingsMiddleware
from request_settings.models import SettingOverride
from tests import views
from tests.utils import HostAsyncClient

pytestmark = pytest.mark.django_db


def echo(client, host, keys="SESSION_EXPIRE_SECONDS"):
    response = client.get("/echo/", {"keys": keys}, HTTP_HOST=host)
    assert response.status_code == 200
    return response.json()["values"]


@pytest.fixture
def rows():
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 600)
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    SettingOverride.objects.set("TENANT_BANNER", "Welcome to the shop", host="shop.example.com")


def test_precedence_host_row_over_all_hosts_row_over_settings_py(rows, client):
    assert echo(client, "shop.example.com")["SESSION_EXPIRE_SECONDS"] == 60
    assert echo(client, "other.example.com")["SESSION_EXPIRE_SECONDS"] == 600
    SettingOverride.objects.unset("SESSION_EXPIRE_SECONDS")
    assert echo(client, "other.example.com")["SESSION_EXPIRE_SECONDS"] == 3600
    assert echo(client, "shop.example.com")["SESSION_EXPIRE_SECONDS"] == 60


def test_a_key_settings_py_lacks_exists_only_for_its_host(rows, client):
    assert echo(client, "shop.example.com", "TENANT_BANNER") == {"TENANT_BANNER": "Welcome to the shop"}
    assert echo(client, "other.example.com", "TENANT_BANNER") == {"TENANT_BANNER": "<missing>"}
    assert not hasattr(settings, "TENANT_BANNER")


def test_host_is_matched_without_port_case_or_trailing_dot(rows, client):
    assert echo(client, "SHOP.Example.com.:8443")["SESSION_EXPIRE_SECONDS"] == 60


def test_a_host_refused_by_allowed_hosts_gets_django_400_not_a_500(rows, client):
    response = client.get("/echo/", HTTP_HOST="evil.test")
    assert response.status_code == 400


def test_nothing_remains_after_the_request_even_when_the_view_raises(rows):
    client = Client(raise_request_exception=False)
    assert client.get("/boom/", HTTP_HOST="shop.example.com").status_code == 500
    assert overlay.current() == {}
    assert settings.SESSION_EXPIRE_SECONDS == 3600
    assert echo(client, "other.example.com")["SESSION_EXPIRE_SECONDS"] == 600


def test_the_view_error_sees_the_override(rows):
    client = Client()
    with pytest.raises(RuntimeError, match="boom at 60"):
        client.get("/boom/", HTTP_HOST="shop.example.com")


def test_a_template_rendered_after_the_view_returned_sees_the_override(rows, client):
    response = client.get("/template/", HTTP_HOST="shop.example.com")
    assert response.content == b"60"


def test_signal_receivers_called_during_the_request_see_the_override(rows, client):
    def receiver(**kwargs):
        return settings.SESSION_EXPIRE_SECONDS

    views.something_happened.connect(receiver)
    try:
        response = client.get("/signal/", HTTP_HOST="shop.example.com")
    finally:
        views.something_happened.disconnect(receiver)
    assert response.json() == {"seen": [60]}


def test_request_finished_handlers_run_after_the_layer_is_gone(rows, client):
    views.seen_in_signal.clear()
    echo(client, "shop.example.com")
    assert views.seen_in_signal == [3600]


def test_streaming_body_is_produced_inside_the_layer(rows, client):
    response = client.get("/stream/", HTTP_HOST="shop.example.com")
    assert b"".join(response.streaming_content) == b"60\n60\n60\n"
    assert overlay.current() == {}


@pytest.mark.django_db(transaction=True)
async def test_async_streaming_body_is_produced_inside_the_layer(rows):
    response = await HostAsyncClient().get("/async-stream/", headers={"host": "shop.example.com"})
    body = b"".join([chunk async for chunk in response.streaming_content])
    assert body == b"60\n60\n60\n"


@pytest.mark.django_db(transaction=True)
async def test_async_view_and_its_sync_to_async_code_see_the_overrides(rows):
    response = await HostAsyncClient().get("/async-echo/", headers={"host": "shop.example.com"})
    assert response.json()["values"] == {"SESSION_EXPIRE_SECONDS": 60}
    assert response.json()["in_thread"] == {"SESSION_EXPIRE_SECONDS": 60}


@pytest.mark.django_db(transaction=True)
async def test_concurrent_async_requests_for_different_hosts_never_mix(rows):
    await asyncio.to_thread(SettingOverride.objects.set, "SESSION_EXPIRE_SECONDS", 70, host="b.example.com")
    client = HostAsyncClient()
    hosts = {"shop.example.com": 60, "b.example.com": 70, "c.example.com": 600}

    async def one(path, host):
        response = await client.get(path, headers={"host": host})
        return host, response.json()["values"]["SESSION_EXPIRE_SECONDS"]

    # Async and sync views through the ASGI handler, interleaved.
    requests = [one(path, host) for _ in range(10) for host in hosts for path in ("/async-echo/", "/echo/")]
    results = await asyncio.gather(*requests)
    wrong = [(host, value) for host, value in results if value != hosts[host]]
    assert len(results) == 60
    assert wrong == []


@pytest.mark.django_db(transaction=True)
def test_concurrent_threaded_requests_for_different_hosts_never_mix(rows):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 70, host="b.example.com")
    expected = {"shop.example.com": 60, "b.example.com": 70, "c.example.com": 600}
    wrong = []

    def worker(host):
        client = Client()
        for _ in range(20):
            value = echo(client, host)["SESSION_EXPIRE_SECONDS"]
            if value != expected[host]:
                wrong.append((host, value))

    threads = [threading.Thread(target=worker, args=(host,)) for host in expected for _ in range(2)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


@override_settings(SESSION_EXPIRE_SECONDS=10)
def test_override_settings_still_works_and_rows_win_over_it(client):
    SettingOverride.objects.set("SESSION_EXPIRE_SECONDS", 60, host="shop.example.com")
    assert echo(client, "shop.example.com")["SESSION_EXPIRE_SECONDS"] == 60
    assert echo(client, "other.example.com")["SESSION_EXPIRE_SECONDS"] == 10
    assert settings.SESSION_EXPIRE_SECONDS == 10


@override_settings(REQUEST_SETTINGS_ENABLED=False)
def test_kill_switch_applies_nothing(rows, client):
    assert echo(client, "shop.example.com")["SESSION_EXPIRE_SECONDS"] == 3600


@pytest.mark.django_db(transaction=True)
@override_settings(REQUEST_SETTINGS_ENABLED=False)
async def test_kill_switch_applies_nothing_under_asgi(rows):
    response = await HostAsyncClient().get("/async-echo/", headers={"host": "shop.example.com"})
    assert response.json()["values"] == {"SESSION_EXPIRE_SECONDS": 3600}


def tenant_from_header(request):
    return request.headers.get("X-Tenant", "")


@override_settings(REQUEST_SETTINGS_HOST_RESOLVER="tests.test_middleware.tenant_from_header")
def test_a_custom_host_resolver_picks_the_tenant(rows, client):
    response = client.get("/echo/", HTTP_HOST="other.example.com", HTTP_X_TENANT="shop.example.com")
    assert response.json()["values"] == {"SESSION_EXPIRE_SECONDS": 60}


# Unit tests: both kinds of get_response.


def test_sync_unit_layer_active_during_the_call_and_reset_after(rows):
    seen = []

    def get_response(request):
        seen.append((settings.SESSION_EXPIRE_SECONDS, current_host()))
        raise ValueError("view failed")

    middleware = RequestSettingsMiddleware(get_response)
    assert not iscoroutinefunction(middleware)
    with pytest.raises(ValueError, match="view failed"):
        middleware(RequestFactory().get("/", HTTP_HOST="Shop.Example.com:8000"))
    assert seen == [(60, "shop.example.com")]
    assert overlay.current() == {}
    assert current_host() is None


@pytest.mark.django_db(transaction=True)
async def test_async_unit_layer_active_during_the_call_and_reset_after(rows):
    seen = []

    async def get_response(request):
        await asyncio.sleep(0)
        seen.append((settings.SESSION_EXPIRE_SECONDS, current_host()))
        return HttpResponse("ok")

    middleware = RequestSettingsMiddleware(get_response)
    assert iscoroutinefunction(middleware)
    response = await middleware(RequestFactory().get("/", HTTP_HOST="shop.example.com"))
    assert response.content == b"ok"
    response = await middleware(RequestFactory().get("/", HTTP_HOST="unknown.example.com"))
    assert seen == [(60, "shop.example.com"), (600, "unknown.example.com")]
    assert overlay.current() == {}
    assert current_host() is None


def test_file_response_streams_untouched(rows):
    content = io.BytesIO(b"file body")
    middleware = RequestSettingsMiddleware(lambda request: FileResponse(content))
    response = middleware(RequestFactory().get("/", HTTP_HOST="shop.example.com"))
    assert response.file_to_stream is content  # still eligible for wsgi.file_wrapper
    assert b"".join(response.streaming_content) == b"file body"


def test_streaming_wrapper_closes_the_original_iterator(rows):
    closed = []

    def body():
        try:
            yield settings.SESSION_EXPIRE_SECONDS.__str__().encode()
            yield b"never"
        finally:
            closed.append(True)

    from django.http import StreamingHttpResponse

    middleware = RequestSettingsMiddleware(lambda request: StreamingHttpResponse(body()))
    response = middleware(RequestFactory().get("/", HTTP_HOST="shop.example.com"))
    iterator = iter(response)
    assert next(iterator) == b"60"
    response.close()
    assert closed == [True]


def test_the_cached_kill_switch_and_resolver_follow_override_settings(rows, client):
    assert echo(client, "shop.example.com")["SESSION_EXPIRE_SECONDS"] == 60  # both now cached
    with override_settings(REQUEST_SETTINGS_ENABLED=False):
        assert echo(client, "shop.example.com")["SESSION_EXPIRE_SECONDS"] == 3600
    with override_settings(REQUEST_SETTINGS_HOST_RESOLVER="tests.test_middleware.tenant_from_header"):
        response = client.get("/echo/", HTTP_HOST="other.example.com", HTTP_X_TENANT="shop.example.com")
        assert response.json()["values"] == {"SESSION_EXPIRE_SECONDS": 60}
    assert echo(client, "shop.example.com")["SESSION_EXPIRE_SECONDS"] == 60
    assert echo(client, "other.example.com")["SESSION_EXPIRE_SECONDS"] == 600


@pytest.mark.django_db(transaction=True)
async def test_a_custom_host_resolver_picks_the_tenant_under_asgi(rows):
    with override_settings(REQUEST_SETTINGS_HOST_RESOLVER="tests.test_middleware.tenant_from_header"):
        headers = {"host": "other.example.com", "x-tenant": "shop.example.com"}
        response = await HostAsyncClient().get("/async-echo/", headers=headers)
    assert response.json()["values"] == {"SESSION_EXPIRE_SECONDS": 60}


def host_and_value_chunks():
    for _ in range(2):
        yield f"{current_host()}={settings.SESSION_EXPIRE_SECONDS};".encode()


async def async_host_and_value_chunks():
    for _ in range(2):
        await asyncio.sleep(0)
        yield f"{current_host()}={settings.SESSION_EXPIRE_SECONDS};".encode()


def test_a_streaming_body_knows_the_request_s_host_too(rows):
    from django.http import StreamingHttpResponse

    middleware = RequestSettingsMiddleware(lambda request: StreamingHttpResponse(host_and_value_chunks()))
    response = middleware(RequestFactory().get("/", HTTP_HOST="shop.example.com"))
    assert b"".join(response) == b"shop.example.com=60;shop.example.com=60;"
    assert current_host() is None


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("body", [host_and_value_chunks, async_host_and_value_chunks])
async def test_a_streaming_body_under_asgi_knows_the_request_s_host_too(rows, body):
    from django.http import StreamingHttpResponse

    async def get_response(request):
        return StreamingHttpResponse(body())

    middleware = RequestSettingsMiddleware(get_response)
    response = await middleware(RequestFactory().get("/", HTTP_HOST="shop.example.com"))
    if response.is_async:
        chunks = [chunk async for chunk in response.streaming_content]
    else:
        chunks = list(response.streaming_content)
    assert b"".join(chunks) == b"shop.example.com=60;shop.example.com=60;"
    assert current_host() is None


@pytest.mark.django_db(transaction=True)  # rows committed: a snapshot can be cached
def test_the_request_says_whether_its_snapshot_came_from_the_cache(rows):
    """The debug-toolbar panel shows it: the first request after a change loads, the next one is served as is."""
    seen = []

    def get_response(request):
        seen.append(request.request_settings_from_cache)
        return HttpResponse()

    middleware = RequestSettingsMiddleware(get_response)
    for _ in range(2):
        middleware(RequestFactory().get("/", HTTP_HOST="shop.example.com"))
    assert seen == [False, True]


@pytest.mark.django_db(transaction=True)
async def test_under_asgi_the_request_says_whether_its_snapshot_came_from_the_cache(rows):
    seen = []

    async def get_response(request):
        seen.append(request.request_settings_from_cache)
        return HttpResponse()

    middleware = RequestSettingsMiddleware(get_response)
    for _ in range(2):
        await middleware(RequestFactory().get("/", HTTP_HOST="shop.example.com"))
    assert seen == [False, True]
