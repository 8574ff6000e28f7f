"""The in-memory snapshot: per-key precedence (exact > longest pattern > all hosts), O(rows) memory, cheap changes."""

from __future__ import annotations

import logging
import tracemalloc

import pytest
from django.conf import settings
from django.test import Client

from request_settings import activate, overlay
from request_settings.models import SettingOverride, Undecodable
from request_settings.snapshot import DELETED, build, empty

ROWS = [
    ("SESSION_EXPIRE_SECONDS", "", 600),
    ("TENANT_BANNER", "", "everyone"),
    ("SESSION_TIMEOUT_REDIRECT", "", "/all/"),
    ("TENANT_BANNER", "*.example.com", "example subdomains"),
    ("SESSION_TIMEOUT_REDIRECT", "*.example.com", "/example/"),
    ("TENANT_BANNER", "*.eu.example.com", "eu subdomains"),
    ("SESSION_EXPIRE_SECONDS", "shop.eu.example.com", 60),
]


def value(snapshot, host, key):
    for rows in snapshot.layer(host):
        if key in rows:
            return rows[key]
    return "<settings.py>"


@pytest.mark.parametrize(
    ("host", "expected"),
    [
        ("shop.eu.example.com", (60, "eu subdomains", "/example/")),
        ("blog.eu.example.com", (600, "eu subdomains", "/example/")),
        ("a.example.com", (600, "example subdomains", "/example/")),
        ("example.com", (600, "everyone", "/all/")),  # the apex is not a subdomain
        ("example.com.evil.org", (600, "everyone", "/all/")),
        ("other.test", (600, "everyone", "/all/")),
        ("", (600, "everyone", "/all/")),
    ],
)
def test_each_key_takes_its_most_specific_row(host, expected):
    snapshot = build(ROWS, 1)
    keys = ("SESSION_EXPIRE_SECONDS", "TENANT_BANNER", "SESSION_TIMEOUT_REDIRECT")
    assert tuple(value(snapshot, host, key) for key in keys) == expected


def test_without_pattern_rows_a_host_costs_one_lookup_and_unknown_hosts_share_one_chain():
    snapshot = build([("TENANT_BANNER", "", "x"), ("TENANT_BANNER", "a.example.com", "y")], 1)
    assert snapshot.patterns == frozenset()
    assert snapshot.layer("a.example.com") == ({"TENANT_BANNER": "y"}, {"TENANT_BANNER": "x"})
    assert snapshot.layer("b.example.com") is snapshot.layer("c.example.com")


@pytest.mark.django_db
def test_patterns_through_requests_and_activate():
    for key, host, stored in ROWS:
        SettingOverride.objects.set(key, stored, host=host)
    response = Client().get("/echo/", {"keys": "SESSION_EXPIRE_SECONDS,TENANT_BANNER"}, HTTP_HOST="shop.eu.example.com")
    assert response.json()["values"] == {"SESSION_EXPIRE_SECONDS": 60, "TENANT_BANNER": "eu subdomains"}
    with activate("news.example.com"):
        assert (settings.SESSION_EXPIRE_SECONDS, settings.TENANT_BANNER) == (600, "example subdomains")


def test_changes_copy_only_the_buckets_they_touch():
    rows = [("TENANT_BANNER", f"t{n}.example.com", n) for n in range(2000)]
    before = build(rows, 1)
    after = before.changed(
        {("TENANT_BANNER", "t7.example.com"): "seven", ("TENANT_BANNER", "t8.example.com"): DELETED}, 2, loaded_at=0
    )
    assert value(after, "t7.example.com", "TENANT_BANNER") == "seven"
    assert after.rows_of("t8.example.com") is None
    assert value(before, "t7.example.com", "TENANT_BANNER") == 7  # a published snapshot never changes
    assert after.row_count == before.row_count - 1
    shared = sum(a is b for a, b in zip(before._buckets, after._buckets, strict=True))
    assert shared >= len(before._buckets) - 2


def test_a_pattern_added_or_removed_by_a_change_is_found():
    snapshot = build([("TENANT_BANNER", "", "all")], 1)
    added = snapshot.changed({("TENANT_BANNER", "*.example.com"): "sub"}, 2, loaded_at=0)
    assert added.patterns == {"*.example.com"}
    assert value(added, "a.example.com", "TENANT_BANNER") == "sub"
    removed = added.changed({("TENANT_BANNER", "*.example.com"): DELETED}, 3, loaded_at=0)
    assert removed.patterns == frozenset()


def test_memory_is_per_row_not_per_host_times_all_hosts_rows():
    all_hosts = [(f"ALL_{n}", "", n) for n in range(200)]
    hosts = [("TENANT_BANNER", f"tenant{n}.example.com", f"banner {n}") for n in range(2000)]
    tracemalloc.start()
    try:
        small = build(all_hosts, 1)
        base = tracemalloc.get_traced_memory()[0]
        big = build([*all_hosts, *hosts], 1)
        grown = tracemalloc.get_traced_memory()[0] - base
    finally:
        tracemalloc.stop()
    assert small.row_count == 200 and big.row_count == 2200
    # 2,000 host rows must not cost 2,000 copies of the 200 all-hosts rows (~20 MB): a few hundred bytes a row.
    assert grown / len(hosts) < 600


def test_bad_rows_are_skipped_and_logged_and_the_rest_applies(caplog):
    rows = [
        ("lower_case", "", 1),
        ("SECRET_KEY", "", "stolen"),
        ("SESSION_COOKIE_AGE", "", -1),
        ("TENANT_BANNER", "a.example.com", Undecodable("1" * 5000, ValueError("too many digits"))),
        ("SESSION_EXPIRE_SECONDS", "", 600),
        ("TENANT_BANNER", "b.example.com", "hello"),
    ]
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        snapshot = build(rows, 1)
    assert snapshot.all_hosts == {"SESSION_EXPIRE_SECONDS": 600}
    assert snapshot.rows_of("b.example.com") == {"TENANT_BANNER": "hello"}
    assert snapshot.rows_of("a.example.com") is None
    assert snapshot.row_count == 2
    assert [m.split(":")[0] for m in caplog.messages] == [
        "Skipped the override of lower_case for host ''",
        "Skipped the override of SECRET_KEY for host ''",
        "Skipped the override of SESSION_COOKIE_AGE for host ''",
        "Skipped the override of TENANT_BANNER for host 'a.example.com'",
    ]
    assert caplog.messages[3].endswith("its stored value cannot be decoded (ValueError: too many digits).")


def test_an_empty_snapshot_serves_settings_py():
    snapshot = empty()
    assert snapshot.version == -1
    assert snapshot.layer("a.example.com") == ({},)
    assert not snapshot.has_rows("a.example.com")


def test_descriptors_of_keys_no_snapshot_holds_are_removed(settings):
    build([(f"GONE_{n}", "", n) for n in range(50)], 1)
    assert overlay.is_overridable("GONE_7")
    overlay.retain({"GONE_7"})
    assert overlay.is_overridable("GONE_7")
    assert not any(overlay.is_overridable(f"GONE_{n}") for n in range(50) if n != 7)
    assert not hasattr(settings, "GONE_8")


@pytest.mark.django_db(transaction=True)
def test_a_full_read_removes_descriptors_of_deleted_keys_after_one_more_generation():
    from request_settings.store import store

    SettingOverride.objects.set("SHORT_LIVED_KEY", 1)
    assert store.get().all_hosts == {"SHORT_LIVED_KEY": 1}
    SettingOverride.objects.unset("SHORT_LIVED_KEY")
    store.refresh(full=True)
    assert overlay.is_overridable("SHORT_LIVED_KEY")  # the previous snapshot may still serve a request
    store.refresh(full=True)
    assert not overlay.is_overridable("SHORT_LIVED_KEY")
    assert not hasattr(settings, "SHORT_LIVED_KEY")


def test_a_refused_key_on_many_hosts_is_logged_once_not_once_per_host(caplog):
    rows = [("SECRET_KEY", f"t{n}.example.com", "stolen") for n in range(1000)]
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        build([*rows, ("SECRET_KEY", "", "stolen")], 1)
    assert caplog.messages == [
        "Skipped the override of SECRET_KEY for 1001 hosts ('t0.example.com', 't1.example.com', 't2.example.com' "
        "and 998 more): security-critical."
    ]
