"""SettingGrant: what its hosts and keys texts mean, how they are validated, and wildcard edge cases (hypothesis)."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import Group
from django.core.exceptions import ValidationError
from django.db import IntegrityError, transaction
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from hypothesis.extra.django import TestCase

from request_settings.backends import GrantBackend, _grant_scope
from request_settings.models import SettingGrant, SettingOverride, grant_hosts, grant_keys

# -- the hosts text --------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "hosts"),
    [
        ("", [""]),
        ("   ", [""]),
        ("(all hosts)", [""]),
        (" (all hosts) ", [""]),
        ("a.example.com", ["a.example.com"]),
        ("a.example.com, b.example.com", ["a.example.com", "b.example.com"]),
        ("a.example.com b.example.com\nc.example.com", ["a.example.com", "b.example.com", "c.example.com"]),
        ("a.example.com,,b.example.com,", ["a.example.com", "b.example.com"]),
        ("*.example.com", ["*.example.com"]),
        ("a.example.com, (all hosts)", ["", "a.example.com"]),
        # normalised like a request's host, as every other entry point does
        ("A.EXAMPLE.COM", ["a.example.com"]),
        ("a.example.com:8000", ["a.example.com"]),
        ("a.example.com.", ["a.example.com"]),
        ("a.example.com A.example.com", ["a.example.com"]),
    ],
)
def test_hosts_text(text, hosts):
    assert grant_hosts(text) == hosts


@pytest.mark.parametrize("bad", ["http://a.example.com/", ".example.com", "a..example.com", "*.", "a/b"])
def test_bad_hosts_are_refused_with_the_host_rule_message(bad):
    with pytest.raises(ValidationError) as caught:
        grant_hosts(f"ok.example.com, {bad}")
    [message] = caught.value.messages
    assert repr(bad) in message
    assert "is not a host" in message


# -- the keys text ---------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "keys"),
    [
        ("", []),
        ("SESSION_COOKIE_AGE", ["SESSION_COOKIE_AGE"]),
        ("SESSION_*, CSRF_COOKIE_AGE", ["SESSION_*", "CSRF_COOKIE_AGE"]),
        ("*", ["*"]),
        ("A B\tC", ["A", "B", "C"]),
    ],
)
def test_keys_text(text, keys):
    assert grant_keys(text) == keys


@pytest.mark.parametrize("bad", ["session_*", "SESSION*AGE", "*_AGE", "**", "1KEY", "SESSION-AGE"])
def test_bad_key_patterns_are_refused_naming_them(bad):
    with pytest.raises(ValidationError) as caught:
        grant_keys(f"SITE_ID {bad}")
    [message] = caught.value.messages
    assert repr(bad) in message
    assert "SESSION_*" in message  # says what is accepted


# -- the model -------------------------------------------------------------------------------------


@pytest.mark.django_db
def test_a_grant_is_for_a_user_or_a_group_never_both_nor_none(django_user_model):
    user = django_user_model.objects.create_user("u")
    group = Group.objects.create(name="g")
    for holder in ({}, {"user": user, "group": group}):
        grant = SettingGrant(keys="*", hosts="a.example.com", **holder)
        with pytest.raises(ValidationError) as caught:
            grant.full_clean()
        assert "exactly one" in str(caught.value)
        with pytest.raises(IntegrityError), transaction.atomic():
            grant.save()
    SettingGrant(user=user, keys="*").full_clean()
    SettingGrant(group=group, keys="*").full_clean()


@pytest.mark.django_db
def test_full_clean_reports_bad_hosts_and_keys_on_their_fields(django_user_model):
    grant = SettingGrant(user=django_user_model.objects.create_user("u"), hosts="http://x/", keys="bad key")
    with pytest.raises(ValidationError) as caught:
        grant.full_clean()
    assert set(caught.value.message_dict) == {"hosts", "keys"}


@pytest.mark.django_db
def test_str_names_the_holder_the_scope_and_the_right(django_user_model):
    grant = SettingGrant(user=django_user_model.objects.create_user("ann"), hosts="", keys="SESSION_*")
    assert str(grant) == "ann: view SESSION_* on (all hosts)"
    grant.can_edit = True
    grant.hosts = "a.example.com *.example.org"
    assert str(grant) == "ann: edit SESSION_* on a.example.com, *.example.org"


def test_a_text_written_behind_the_admins_back_grants_nothing():
    grant = SettingGrant(hosts="http://a.example.com/", keys="*")
    assert grant.host_list() == []
    assert not grant.covers("SITE_ID", "a.example.com")
    assert SettingGrant(hosts="a.example.com", keys="bad key").key_list() == []


@pytest.mark.parametrize(
    ("grant_host", "row_host", "covered"),
    [
        ("*.example.com", "a.example.com", True),
        ("*.example.com", "a.b.example.com", True),
        ("*.example.com", "example.com", False),  # never the apex
        ("*.example.com", "example.com.evil.org", False),
        ("*.example.com", "aexample.com", False),
        ("*.example.com", "*.example.com", True),  # pattern rows at least as specific
        ("*.example.com", "*.eu.example.com", True),
        ("*.example.com", "*.com", False),
        ("*.example.com", "", False),
        ("a.example.com", "a.example.com", True),
        ("a.example.com", "*.a.example.com", False),  # an exact-host grant never covers a pattern row
        ("a.example.com", "b.a.example.com", False),
        ("a.example.com", "", False),
        ("", "", True),
        ("", "a.example.com", False),
    ],
)
def test_host_coverage(grant_host, row_host, covered):
    grant = SettingGrant(hosts=grant_host or "(all hosts)", keys="*")
    assert grant.covers("SITE_ID", row_host) is covered


@pytest.mark.parametrize(
    ("pattern", "key", "covered"),
    [
        ("SESSION_*", "SESSION_COOKIE_AGE", True),
        ("SESSION_*", "CSRF_COOKIE_AGE", False),
        ("SESSION_*", "SESSIONS", False),
        ("SESSION_COOKIE_AGE", "SESSION_COOKIE_AGE", True),
        ("SESSION_COOKIE", "SESSION_COOKIE_AGE", False),  # an exact key never acts as a prefix
        ("*", "ANY_KEY", True),
    ],
)
def test_key_coverage(pattern, key, covered):
    assert SettingGrant(hosts="a.example.com", keys=pattern).covers(key, "a.example.com") is covered


# -- the SQL scope, case by case: the rows a listing shows are the rows covers() grants ----------------------------

SCOPE_ROW_HOSTS = [
    "",
    "example.com",
    "a.example.com",
    "a.b.example.com",
    "aexample.com",
    "example.com.evil.org",
    ".example.com",  # written behind the admin's back: no host
    "*.example.com",
    "*.eu.example.com",
    "*.com",
    "b.example.org",
]


SUBDOMAINS = ["a.example.com", "a.b.example.com", "*.example.com", "*.eu.example.com"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("hosts", "keys", "expected_hosts", "expected_keys"),
    [
        ("*.example.com", "SITE_ID", SUBDOMAINS, ["SITE_ID"]),  # an exact key never acts as a prefix
        ("*.example.org, *.example.com", "SITE_ID", [*SUBDOMAINS, "b.example.org"], ["SITE_ID"]),
        ("(all hosts), *.example.com", "SITE_ID", ["", *SUBDOMAINS], ["SITE_ID"]),
        ("a.example.com", "SITE_ID SITE_IDS", ["a.example.com"], ["SITE_ID", "SITE_IDS"]),
        ("b.example.org", "SITE_*", ["b.example.org"], ["SITE_ID", "SITE_IDS"]),
        ("b.example.org", "*", ["b.example.org"], ["SITE_ID", "SITE_IDS"]),
        ("b.example.org", "", [], []),
    ],
)
def test_sql_scope_lists_the_rows_the_grant_covers(hosts, keys, expected_hosts, expected_keys):
    keys_stored = ("SITE_ID", "SITE_IDS")
    SettingOverride.objects.bulk_create(
        SettingOverride(key=key, host=host, value=1) for host in SCOPE_ROW_HOSTS for key in keys_stored
    )
    grant = SettingGrant(hosts=hosts, keys=keys)
    scope = _grant_scope(grant)
    in_sql = set() if scope is None else set(SettingOverride.objects.filter(scope).values_list("key", "host"))
    assert in_sql == {(key, host) for host in expected_hosts for key in expected_keys}
    assert in_sql == {(key, host) for host in SCOPE_ROW_HOSTS for key in keys_stored if grant.covers(key, host)}


# -- hypothesis: the SQL scope and the per-row answer agree, and both follow the rule in labels --------------------

labels = st.sampled_from(["a", "b", "eu", "example", "com", "xample"])
names = st.lists(labels, min_size=1, max_size=4).map(".".join)
row_hosts = st.one_of(st.just(""), names, names.map(lambda name: "*." + name))
grant_host_texts = st.one_of(st.just("(all hosts)"), names, names.map(lambda name: "*." + name))
key_names = st.sampled_from(["SESSION_COOKIE_AGE", "SESSION_EXPIRE_SECONDS", "CSRF_COOKIE_AGE", "SITE_ID", "SESSION"])
key_patterns = st.one_of(key_names, st.sampled_from(["SESSION_*", "SESSION*", "S*", "*", "CSRF_*"]))


def oracle_host(grant_host: str, row_host: str) -> bool:
    """DESIGN.md's rule, stated on labels rather than on string suffixes."""
    if not grant_host.startswith("*."):
        return row_host == grant_host
    if not row_host:
        return False
    suffix = grant_host[2:].split(".")
    row = row_host.split(".")
    if row[0] == "*":  # a pattern row: as specific or more
        return row[1:][-len(suffix) :] == suffix and len(row) - 1 >= len(suffix)
    return len(row) > len(suffix) and row[-len(suffix) :] == suffix


def oracle_key(pattern: str, key: str) -> bool:
    return key.startswith(pattern[:-1]) if pattern.endswith("*") else key == pattern


class WildcardTests(TestCase):
    @settings(max_examples=150, deadline=None, suppress_health_check=[HealthCheck.too_slow])
    @given(
        rows=st.lists(st.tuples(key_names, row_hosts), unique=True, max_size=12),
        grant_hosts_list=st.lists(grant_host_texts, min_size=1, max_size=3),
        patterns=st.lists(key_patterns, max_size=3),
    )
    def test_sql_scope_equals_per_row_answer_equals_the_rule(self, rows, grant_hosts_list, patterns):
        SettingOverride.objects.bulk_create(SettingOverride(key=key, host=host, value=1) for key, host in rows)
        grant = SettingGrant(hosts=", ".join(grant_hosts_list), keys=" ".join(patterns), can_edit=True)
        wanted_hosts = ["" if text == "(all hosts)" else text for text in grant_hosts_list]

        expected = {
            (key, host)
            for key, host in rows
            if any(oracle_key(p, key) for p in patterns) and any(oracle_host(g, host) for g in wanted_hosts)
        }
        per_row = {(key, host) for key, host in rows if grant.covers(key, host)}
        scope = _grant_scope(grant)
        in_sql = set() if scope is None else set(SettingOverride.objects.filter(scope).values_list("key", "host"))
        assert per_row == expected
        assert in_sql == expected


def test_the_backend_never_authenticates():
    backend = GrantBackend()
    assert backend.authenticate(None, username="x", password="y") is None
    assert backend.get_user(1) is None
