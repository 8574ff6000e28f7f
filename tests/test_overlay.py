"""The context-local layer over django.conf.settings (DESIGN.md, "Facts about Django")."""

from __future__ import annotations

import asyncio
import copy
import pickle
import threading
from datetime import date, datetime, timezone

import pytest
from django import forms
from django.conf import LazySettings, settings
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.utils import translation
from django.utils.formats import date_format
from django.utils.timesince import timesince
from django.utils.translation import trans_real

from request_settings import overlay


@pytest.fixture
def layer():
    """Push a layer for the test body; always popped."""
    tokens = []

    def push(**values):
        tokens.append(overlay.push(overlay.freeze(values)))

    yield push
    for token in reversed(tokens):
        overlay.pop(token)


def test_settings_is_still_a_lazy_settings_and_looks_the_same():
    assert overlay.is_installed()
    assert isinstance(settings, LazySettings)
    assert repr(settings) == '<LazySettings "tests.settings">'
    # Django finds its own translation catalogs through sys.modules[settings.__module__].
    assert settings.__module__ == "django.conf"
    assert type(settings).__module__ == LazySettings.__module__
    assert type(settings).__qualname__ == LazySettings.__qualname__ == type(settings).__name__
    assert type(settings).__doc__ == LazySettings.__doc__


def test_settings_pickles_and_copies_like_django_s(layer):
    layer(SESSION_EXPIRE_SECONDS=60, ADMINS_EXTRA=(("a", "a@example.com"),))
    restored = pickle.loads(pickle.dumps(settings))
    assert restored.SETTINGS_MODULE == "tests.settings"
    assert restored.SESSION_EXPIRE_SECONDS == 3600  # a pickled copy is settings.py, never a request's layer
    derived = {"age": settings.SESSION_EXPIRE_SECONDS, "admins": settings.ADMINS_EXTRA}
    assert pickle.loads(pickle.dumps(derived)) == {"age": 60, "admins": (("a", "a@example.com"),)}
    assert copy.copy(settings).SETTINGS_MODULE == "tests.settings"
    assert copy.deepcopy(settings).SESSION_EXPIRE_SECONDS == 3600


@pytest.mark.parametrize(
    ("language", "day", "error", "plural"),
    [
        ("de", "31. Dezember 2009", "Bitte eine ganze Zahl eingeben.", "2\xa0Tage"),
        ("fr", "31 décembre 2009", "Saisissez un nombre entier.", "2\xa0jours"),
        ("en", "Dec. 31, 2009", "Enter a whole number.", "2\xa0days"),
    ],
)
def test_django_translations_load_with_the_overlay_installed(language, day, error, plural):
    with translation.override(language):
        assert date_format(date(2009, 12, 31)) == day
        with pytest.raises(ValidationError) as raised:
            forms.IntegerField().clean("x")
        assert raised.value.messages == [error]
        two_days = datetime(2009, 12, 29, tzinfo=timezone.utc), datetime(2009, 12, 31, tzinfo=timezone.utc)
        assert timesince(*two_days) == plural


def test_django_catalog_of_the_default_language_is_found():
    saved = trans_real._translations, trans_real._default
    trans_real._translations, trans_real._default = {}, None
    try:
        # Both raised OSError ("No translation files found for default language") with the overlay's old module.
        german = trans_real.translation("de")
        assert german.gettext("This field is required.") == "Dieses Feld ist zwingend erforderlich."
        assert trans_real.translation(settings.LANGUAGE_CODE).gettext("This field is required.") == (
            "This field is required."
        )
    finally:
        trans_real._translations, trans_real._default = saved


def test_install_is_idempotent():
    before = type(settings)
    overlay.install()
    overlay.install()
    assert type(settings) is before


def test_layer_value_wins_and_leaves_nothing_behind():
    assert settings.SESSION_EXPIRE_SECONDS == 3600  # Django caches this read in settings.__dict__
    token = overlay.push(overlay.freeze({"SESSION_EXPIRE_SECONDS": 60}))
    assert settings.SESSION_EXPIRE_SECONDS == 60
    overlay.pop(token)
    assert settings.SESSION_EXPIRE_SECONDS == 3600


def test_first_read_inside_a_layer_does_not_leak_into_later_reads():
    overlay.make_overridable("SESSION_COOKIE_NAME")
    settings.__dict__.pop("SESSION_COOKIE_NAME", None)  # as if never read before
    token = overlay.push(overlay.freeze({"SESSION_COOKIE_NAME": "tenant"}))
    try:
        assert settings.SESSION_COOKIE_NAME == "tenant"
    finally:
        overlay.pop(token)
    assert settings.SESSION_COOKIE_NAME == "sessionid"


def test_key_absent_from_settings_py_exists_only_inside_the_layer(layer):
    overlay.make_overridable("BRAND_NEW_KEY")
    assert not hasattr(settings, "BRAND_NEW_KEY")
    assert getattr(settings, "BRAND_NEW_KEY", "default") == "default"
    with pytest.raises(AttributeError):
        settings.BRAND_NEW_KEY  # noqa: B018
    layer(BRAND_NEW_KEY="value")
    assert hasattr(settings, "BRAND_NEW_KEY")
    assert settings.BRAND_NEW_KEY == "value"


def test_layer_wins_over_override_settings():
    with override_settings(SESSION_EXPIRE_SECONDS=10):
        token = overlay.push(overlay.freeze({"SESSION_EXPIRE_SECONDS": 60}))
        assert settings.SESSION_EXPIRE_SECONDS == 60
        overlay.pop(token)
        assert settings.SESSION_EXPIRE_SECONDS == 10


def test_override_settings_restores_the_settings_py_value():
    overlay.make_overridable("SESSION_EXPIRE_SECONDS")
    with override_settings(SESSION_EXPIRE_SECONDS=10):
        assert settings.SESSION_EXPIRE_SECONDS == 10
    assert settings.SESSION_EXPIRE_SECONDS == 3600


def test_assigning_and_deleting_an_overridable_setting_still_work():
    overlay.make_overridable("SOME_TEST_FLAG")
    settings.SOME_TEST_FLAG = True
    try:
        assert settings.SOME_TEST_FLAG is True
    finally:
        del settings.SOME_TEST_FLAG
    assert not hasattr(settings, "SOME_TEST_FLAG")


def test_descriptor_reports_itself_on_the_class():
    overlay.make_overridable("SESSION_EXPIRE_SECONDS")
    assert overlay.is_overridable("SESSION_EXPIRE_SECONDS")
    assert not overlay.is_overridable("NEVER_OVERRIDDEN_KEY")
    assert type(settings).SESSION_EXPIRE_SECONDS.name == "SESSION_EXPIRE_SECONDS"


@pytest.mark.parametrize("name", ["configure", "configured", "_wrapped", "_setup"])
def test_names_of_lazy_settings_attributes_are_refused(name):
    with pytest.raises(ValueError, match=r"attribute of django\.conf\.settings"):
        overlay.make_overridable(name)


def test_current_is_read_only_and_empty_outside_a_layer(layer):
    assert overlay.current() == {}
    layer(SESSION_EXPIRE_SECONDS=5)
    assert overlay.current() == {"SESSION_EXPIRE_SECONDS": 5}
    with pytest.raises(TypeError):
        overlay.current()["SESSION_EXPIRE_SECONDS"] = 6


def test_a_new_thread_does_not_inherit_the_layer(layer):
    layer(SESSION_EXPIRE_SECONDS=60)
    seen = []
    thread = threading.Thread(target=lambda: seen.append(settings.SESSION_EXPIRE_SECONDS))
    thread.start()
    thread.join()
    assert seen == [3600]
    assert settings.SESSION_EXPIRE_SECONDS == 60


def test_concurrent_threads_see_only_their_own_layer():
    overlay.make_overridable("SESSION_EXPIRE_SECONDS")
    barrier = threading.Barrier(8)
    wrong = []

    def worker(value):
        token = overlay.push(overlay.freeze({"SESSION_EXPIRE_SECONDS": value}))
        try:
            barrier.wait()
            for _ in range(200):
                if value != settings.SESSION_EXPIRE_SECONDS:
                    wrong.append(value)
        finally:
            overlay.pop(token)

    threads = [threading.Thread(target=worker, args=(value,)) for value in range(8)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert wrong == []


def test_asyncio_tasks_see_only_their_own_layer():
    async def task(value):
        token = overlay.push(overlay.freeze({"SESSION_EXPIRE_SECONDS": value}))
        try:
            seen = []
            for _ in range(5):
                await asyncio.sleep(0)
                seen.append(settings.SESSION_EXPIRE_SECONDS)
            return seen
        finally:
            overlay.pop(token)

    async def main():
        return await asyncio.gather(*(task(value) for value in (1, 2, 3)))

    assert asyncio.run(main()) == [[1] * 5, [2] * 5, [3] * 5]
    assert settings.SESSION_EXPIRE_SECONDS == 3600


# -- chains, current(), retained descriptors and pins -------------------------------------------------------------


@pytest.fixture
def descriptors():
    """Tests below remove descriptors: put back those that existed, so later tests find the class as it was."""
    before = [name for name, value in vars(type(settings)).items() if isinstance(value, overlay._Overridable)]
    yield
    for name in before:
        overlay.make_overridable(name)


def test_a_chain_answers_each_key_from_its_most_specific_mapping():
    for key in ("CHAIN_A", "CHAIN_B", "CHAIN_C"):
        overlay.make_overridable(key)
    host_rows = {"CHAIN_A": "host"}
    pattern_rows = {"CHAIN_A": "pattern", "CHAIN_B": "pattern"}
    all_hosts = {"CHAIN_A": "all", "CHAIN_B": "all", "CHAIN_C": "all"}
    token = overlay.push((host_rows, pattern_rows, all_hosts), "a.eu.example.com")
    try:
        assert (settings.CHAIN_A, settings.CHAIN_B, settings.CHAIN_C) == ("host", "pattern", "all")
        assert overlay.current() == {"CHAIN_A": "host", "CHAIN_B": "pattern", "CHAIN_C": "all"}
        assert overlay.current_host() == "a.eu.example.com"
        with pytest.raises(TypeError):
            overlay.current()["CHAIN_A"] = "changed"
    finally:
        overlay.pop(token)
    assert overlay.current_host() is None
    assert not hasattr(settings, "CHAIN_A")


def test_current_of_a_host_with_its_own_and_all_hosts_rows_merges_both():
    token = overlay.push(({"SESSION_EXPIRE_SECONDS": 60}, {"SESSION_EXPIRE_SECONDS": 600, "TENANT_BANNER": "all"}), "h")
    try:
        assert overlay.current() == {"SESSION_EXPIRE_SECONDS": 60, "TENANT_BANNER": "all"}
    finally:
        overlay.pop(token)


def test_current_of_a_single_mapping_is_a_read_only_copy():
    rows = {"SESSION_EXPIRE_SECONDS": 60}
    token = overlay.push(overlay.freeze(rows), "")
    try:
        seen = overlay.current()
        rows["SESSION_EXPIRE_SECONDS"] = 61  # the caller's dict, changed later: the layer holds its own copy
        assert seen == {"SESSION_EXPIRE_SECONDS": 60}
        assert overlay.current_host() == ""
    finally:
        overlay.pop(token)


def test_retain_removes_only_the_descriptors_of_keys_nobody_overrides(descriptors):
    for key in ("KEPT_KEY", "DROPPED_KEY"):
        overlay.make_overridable(key)
    overlay.retain({"KEPT_KEY"})
    assert overlay.is_overridable("KEPT_KEY")
    assert not overlay.is_overridable("DROPPED_KEY")
    assert overlay.is_installed()  # the class's own attributes stay
    assert settings.SECRET_KEY == "tests-only-not-a-secret"


def test_pinned_keys_keep_their_descriptors_until_their_block_ends(descriptors):
    outer = overlay.pin(None, {"PIN_OUTER": 1})
    middle = overlay.pin("a.example.com", {"PIN_MIDDLE": 2})
    inner = overlay.pin(None, {"PIN_INNER": 3})
    assert overlay.pins() == ((None, {"PIN_OUTER": 1}), ("a.example.com", {"PIN_MIDDLE": 2}), (None, {"PIN_INNER": 3}))
    overlay.retain(set())
    assert all(overlay.is_overridable(key) for key in ("PIN_OUTER", "PIN_MIDDLE", "PIN_INNER"))

    overlay.unpin(inner)
    assert overlay.pins() == ((None, {"PIN_OUTER": 1}), ("a.example.com", {"PIN_MIDDLE": 2}))
    overlay.retain(set())
    assert not overlay.is_overridable("PIN_INNER")
    assert overlay.is_overridable("PIN_OUTER") and overlay.is_overridable("PIN_MIDDLE")

    overlay.unpin(middle)
    overlay.unpin(outer)
    assert overlay.pins() == ()
    overlay.retain(set())
    assert not overlay.is_overridable("PIN_OUTER") and not overlay.is_overridable("PIN_MIDDLE")
