"""The in-memory snapshot: per-key precedence (exact > longest pattern > all hosts), O(rows) memory, cheap changes."""

from __future__ import annotations

import gc
import json
import logging
import math
import time
import tracemalloc

import pytest
from django.conf import settings
from django.test import Client, override_settings

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


def test_the_log_says_which_value_was_refused_and_why_masked_when_the_key_looks_secret(caplog, settings):
    settings.REQUEST_SETTINGS_FIELDS = {"PAYMENT_API_KEY": {"field": "django.forms.IntegerField"}}
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        build([("SESSION_COOKIE_AGE", "", -1), ("PAYMENT_API_KEY", "", "sk-live-123")], 1)
    assert caplog.messages == [
        "Skipped the override of SESSION_COOKIE_AGE for host '': -1 is not valid, expected an integer from 60 to "
        "2147483647 (seconds).",
        "Skipped the override of PAYMENT_API_KEY for host '': ******************** is not valid, expected a value the "
        "declared field accepts (Enter a whole number.).",
    ]


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


def test_a_change_of_all_hosts_rows_reaches_every_host_and_keeps_the_count():
    before = build([("TENANT_BANNER", "", "all"), ("TENANT_BANNER", "a.example.com", "a")], 1, now=10.0)
    changes = {  # all-hosts changes first: the host change after them must still apply
        ("TENANT_BANNER", ""): "everyone",
        ("SESSION_EXPIRE_SECONDS", ""): 60,
        ("TENANT_BANNER", "b.example.com"): "b",
    }
    after = before.changed(changes, 2, loaded_at=20.0)
    assert after.all_hosts == {"TENANT_BANNER": "everyone", "SESSION_EXPIRE_SECONDS": 60}
    assert value(after, "c.example.com", "TENANT_BANNER") == "everyone"
    assert value(after, "a.example.com", "TENANT_BANNER") == "a"
    assert value(after, "a.example.com", "SESSION_EXPIRE_SECONDS") == 60
    assert value(after, "b.example.com", "TENANT_BANNER") == "b"
    assert before.all_hosts == {"TENANT_BANNER": "all"}  # a published snapshot never changes
    assert (after.row_count, after.version, after.loaded_at, after.full_at) == (4, 2, 20.0, 10.0)
    assert after.keys() == {"TENANT_BANNER", "SESSION_EXPIRE_SECONDS"}

    removed = after.changed({("SESSION_EXPIRE_SECONDS", ""): DELETED, ("NEVER_SET", ""): DELETED}, 3, loaded_at=30.0)
    assert removed.all_hosts == {"TENANT_BANNER": "everyone"}
    assert value(removed, "a.example.com", "SESSION_EXPIRE_SECONDS") == "<settings.py>"
    assert removed.row_count == 3
    assert after.all_hosts == {"TENANT_BANNER": "everyone", "SESSION_EXPIRE_SECONDS": 60}


def test_a_change_of_host_rows_shares_the_all_hosts_rows():
    before = build([("TENANT_BANNER", "", "all"), ("TENANT_BANNER", "a.example.com", "a")], 1)
    after = before.changed({("TENANT_BANNER", "a.example.com"): "changed"}, 2, loaded_at=0)
    assert after.all_hosts is before.all_hosts  # O(changes): the all-hosts rows are not copied
    assert after.layer("unknown.example.com") == ({"TENANT_BANNER": "all"},)


def test_removing_a_row_the_snapshot_never_had_changes_nothing():
    """Another process added and removed it between two refreshes: only its removal is read."""
    before = build([("TENANT_BANNER", "a.example.com", "a")], 1)
    after = before.changed(
        {("TENANT_BANNER", "b.example.com"): DELETED, ("OTHER", "a.example.com"): DELETED}, 2, loaded_at=0
    )
    assert list(after.hosts()) == ["a.example.com"]
    assert after.rows_of("a.example.com") == {"TENANT_BANNER": "a"}
    assert after.row_count == 1


def test_removing_a_hosts_last_row_forgets_the_host():
    before = build([("TENANT_BANNER", "a.example.com", "a"), ("TENANT_BANNER", "", "all")], 1)
    after = before.changed({("TENANT_BANNER", "a.example.com"): DELETED}, 2, loaded_at=0)
    assert list(after.hosts()) == []
    assert not after.has_rows("a.example.com")
    assert after.keys() == {"TENANT_BANNER"}


def test_a_host_has_rows_of_its_own_or_through_a_matching_pattern_only():
    rows = [("TENANT_BANNER", "a.example.com", "a"), ("TENANT_BANNER", "*.eu.example.com", "eu"), ("X_KEY", "", 1)]
    snapshot = build(rows, 1)
    assert snapshot.has_rows("a.example.com")
    assert snapshot.has_rows("shop.eu.example.com")
    assert not snapshot.has_rows("b.example.com")
    assert not snapshot.has_rows("eu.example.com")
    assert not snapshot.has_rows("")
    without_patterns = build([("TENANT_BANNER", "a.example.com", "a")], 1)
    assert without_patterns.has_rows("a.example.com")
    assert not without_patterns.has_rows("b.example.com")


def test_a_snapshot_records_its_version_and_when_it_was_read():
    assert build([], 7).version == 7
    assert (build([], 1, now=5.0).loaded_at, build([], 1, now=5.0).full_at) == (5.0, 5.0)
    assert (empty(now=7.0).loaded_at, empty(now=7.0).full_at) == (7.0, 7.0)
    started = time.monotonic()
    for snapshot in (build([], 1), empty()):
        assert started <= snapshot.loaded_at == snapshot.full_at <= time.monotonic()


def test_an_empty_snapshot_has_no_rows_and_takes_changes_like_any_other():
    snapshot = empty()
    assert (snapshot.row_count, snapshot.patterns, list(snapshot.hosts()), snapshot.keys()) == (0, set(), [], set())
    changed = snapshot.changed(
        {("TENANT_BANNER", ""): "all", ("TENANT_BANNER", "*.example.com"): "sub"}, 1, loaded_at=0
    )
    assert changed.row_count == 2
    assert value(changed, "a.example.com", "TENANT_BANNER") == "sub"


def test_a_rule_that_depends_on_the_rows_host_judges_each_row_with_its_own_host(caplog):
    """A cookie domain must contain the row's host, or staff of that host are locked out."""
    rows = [
        ("SESSION_COOKIE_DOMAIN", "a.example.com", "a.example.com"),
        ("SESSION_COOKIE_DOMAIN", "b.example.com", "a.example.com"),
    ]
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        snapshot = build(rows, 1)
    assert snapshot.rows_of("a.example.com") == {"SESSION_COOKIE_DOMAIN": "a.example.com"}
    assert snapshot.rows_of("b.example.com") is None
    assert [m.split(":")[0] for m in caplog.messages] == [
        "Skipped the override of SESSION_COOKIE_DOMAIN for host 'b.example.com'"
    ]


@pytest.mark.parametrize(
    ("count", "shown"),
    [
        (2, "'t0.example.com', 't1.example.com'"),
        (3, "'t0.example.com', 't1.example.com', 't2.example.com'"),
        (4, "'t0.example.com', 't1.example.com', 't2.example.com' and 1 more"),
    ],
)
def test_a_skipped_key_names_at_most_three_hosts(count, shown, caplog):
    rows = [("SECRET_KEY", f"t{n}.example.com", "stolen") for n in range(count)]
    with caplog.at_level(logging.WARNING, logger="request_settings"):
        build(rows, 1)
    assert caplog.messages == [f"Skipped the override of SECRET_KEY for {count} hosts ({shown}): security-critical."]


@override_settings(SHOP_CHOICES=(("a", "A"),))
def test_a_hosts_rows_come_back_with_their_types_true_never_standing_for_one():
    rows = [("FLAG_A", "a.example.com", True), ("COUNT_A", "a.example.com", 1), ("RATIO_A", "a.example.com", 1.0)]
    rows += [("LIST_A", "a.example.com", [1, [2, "x"], {"k": None}]), ("SHOP_CHOICES", "a.example.com", [["c", "C"]])]
    snapshot = build([(key, host, json.loads(json.dumps(value))) for key, host, value in rows], 1)
    a = snapshot.rows_of("a.example.com")
    assert (type(a["FLAG_A"]), type(a["COUNT_A"]), type(a["RATIO_A"])) == (bool, int, float)
    assert a["LIST_A"] == [1, [2, "x"], {"k": None}]
    assert a["SHOP_CHOICES"] == (("c", "C"),)  # settings.py's container types, as before packing
    changed = snapshot.changed({("COUNT_A", "a.example.com"): 2}, 2, loaded_at=0.0)
    assert changed.rows_of("a.example.com") == {**a, "COUNT_A": 2}
    assert snapshot.rows_of("a.example.com")["COUNT_A"] == 1  # the published snapshot never changes


def test_tenants_add_nothing_to_the_garbage_collectors_work():
    """A full collection walks every tracked container: a million tenants' rows must not be among them."""
    gc.collect()
    before = len(gc.get_objects())
    snapshot = build([("SITE_PLAN", f"t{n}.example.com", ["gold", n]) for n in range(5000)], 1)
    snapshot = snapshot.changed({("SITE_PLAN", f"t{n}.example.com"): ["silver", n] for n in range(500)}, 2, loaded_at=0)
    gc.collect()
    assert len(gc.get_objects()) - before < 300  # the buckets, not the 5,000 hosts' rows and values
    assert snapshot.layer("t7.example.com")[0]["SITE_PLAN"] == ["silver", 7]


def test_the_memo_of_hosts_in_use_is_bounded(monkeypatch):
    monkeypatch.setattr("request_settings.snapshot._IN_USE", 10)
    snapshot = build([("SITE_PLAN", f"t{n}.example.com", n) for n in range(100)], 1)
    for n in range(100):
        assert snapshot.layer(f"t{n}.example.com")[0] == {"SITE_PLAN": n}
        assert len(snapshot._in_use) <= 10


def test_a_value_marshal_refuses_is_kept_as_it_is(monkeypatch):
    def refuse(rows):
        raise ValueError("object too deeply nested to marshal")

    monkeypatch.setattr("request_settings.snapshot.marshal.dumps", refuse)
    snapshot = build([("SITE_PLAN", "a.example.com", [[["deep"]]])], 1)
    assert snapshot.layer("a.example.com")[0] == {"SITE_PLAN": [[["deep"]]]}


def test_a_snapshot_knows_its_read_and_next_switch_and_changes_keep_them_unless_told():
    snapshot = build([("SITE_PLAN", "a.example.com", "gold")], 1)
    assert (snapshot.read_wall, snapshot.next_switch, snapshot.scheduled) == (0.0, math.inf, frozenset())
    pair = ("SITE_PLAN", "a.example.com")
    told = snapshot.changed({}, 2, loaded_at=0.0, read_wall=5.0, next_switch=9.0, scheduled=frozenset({pair}))
    assert (told.read_wall, told.next_switch, told.scheduled) == (5.0, 9.0, frozenset({pair}))
    kept = told.changed({("SITE_PLAN", "b.example.com"): "silver"}, 3, loaded_at=0.0)
    assert (kept.read_wall, kept.next_switch, kept.scheduled) == (5.0, 9.0, frozenset({pair}))


def test_a_host_in_use_is_unpacked_once_per_snapshot():
    snapshot = build([("SITE_PLAN", "a.example.com", ["gold"])], 1)
    assert snapshot.layer("a.example.com")[0] is snapshot.layer("a.example.com")[0]
