"""The context-local layer over django.conf.settings (DESIGN.md, "Facts about Django")."""

from __future__ import annotations

import asyncio
import threading

import pytest
from django.conf import LazySettings, settings
from django.test import override_settings

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
    assert isinstance(settings, LazySettings)
    assert type(settings).__name__ == "RequestSettingsLazySettings"
    assert repr(settings) == '<LazySettings "tests.settings">'


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
