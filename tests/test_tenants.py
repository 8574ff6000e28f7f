"""Many tenants: a request for a host without rows costs no query and grows nothing.

The timing side (1,000 to 1,000,000 hosts: refresh times, memory per row, requests during a refresh) is a script
run on demand: ``python -m tests.benchmarks.scale sqlite 1000 10000 100000``.
"""

from __future__ import annotations

import uuid

import pytest
from django.db import connection
from django.test import Client
from django.test.utils import CaptureQueriesContext

from request_settings.models import SettingOverride
from request_settings.store import layer_for_host, store
from tests.utils import reads

KEY = "SESSION_EXPIRE_SECONDS"
HOSTS = [f"tenant{n}.example.com" for n in range(500)]


@pytest.fixture
def many_tenants():
    SettingOverride.objects.bulk_create(
        SettingOverride(key=KEY, host=host, value=60 + n) for n, host in enumerate(HOSTS)
    )
    SettingOverride.objects.set(KEY, 600)  # the all-hosts row, which unknown hosts get


def value_for(client, host):
    response = client.get("/echo/", {"keys": KEY}, HTTP_HOST=host)
    assert response.status_code == 200
    assert response.json()["host"] == host
    return response.json()["values"][KEY]


@pytest.mark.django_db(transaction=True)
def test_unknown_hosts_cause_no_query_and_leave_the_snapshot_unchanged(many_tenants, django_assert_num_queries):
    client = Client()
    assert value_for(client, HOSTS[7]) == 67
    snapshot = store.cached()
    hosts_before = set(snapshot.hosts())
    strangers = [f"{uuid.uuid4().hex}.example.com" for _ in range(200)]

    with django_assert_num_queries(0):
        assert {value_for(client, host) for host in strangers} == {600}
        assert value_for(client, HOSTS[499]) == 559

    assert store.cached() is snapshot
    assert set(snapshot.hosts()) == hosts_before == set(HOSTS)
    assert len(snapshot.raw_hosts) == 2  # the two tenants requested; strangers are remembered nowhere
    # Every unknown host shares the one all-hosts layer: nothing is built per host.
    assert all(layer_for_host(host, snapshot) is layer_for_host("", snapshot) for host in strangers)


@pytest.mark.django_db(transaction=True)
def test_each_of_many_tenants_gets_its_own_value_from_one_query(many_tenants):
    client = Client()
    with CaptureQueriesContext(connection) as queries:
        values = [value_for(client, host) for host in HOSTS]
    assert len(reads(queries)) == 1  # PostgreSQL: inside a BEGIN/COMMIT of its own, for its server-side cursor
    assert values == [60 + n for n in range(len(HOSTS))]
