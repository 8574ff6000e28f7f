"""Conformance suite for request_settings.appsettings and its errors."""

from __future__ import annotations

import gc
import inspect
import json
import warnings
import weakref
from unittest import mock

import pytest
from django.apps import apps
from django.conf import settings as django_settings
from django.contrib.auth.models import Group, User
from django.core.exceptions import AppRegistryNotReady, ImproperlyConfigured
from django.core.signals import setting_changed
from django.test import override_settings
from django.utils.text import slugify
from hypothesis import given
from hypothesis import settings as hypothesis_settings
from hypothesis import strategies as st

from request_settings import appsettings, overlay
from request_settings.appsettings import AppSettings, DeprecatedSetting
from request_settings.exceptions import (
    AppSettingsDeclarationError,
    AppSettingsError,
    DefaultValueFormatInvalid,
    DefaultValueNotImportable,
    DefaultValueTypeInvalid,
    DeprecationDeclarationError,
    OverrideValueFormatInvalid,
    OverrideValueNotImportable,
    OverrideValueTypeInvalid,
    UnknownSettingError,
)
from tests.helperapp.conf.settings import HelperAppSettings
from tests.helperapp.conf.settings import settings as helper

DEFAULTS = "tests.helperapp.conf.defaults"
BAD_DEFAULTS = "tests.helperapp.conf.bad_defaults"
MODEL = "a string in the form 'app_label.ModelName' naming an installed model"
OBJECT = "a dotted import path such as 'package.module.attribute'"
MODULE = "a dotted module path such as 'package.module'"
SALUTATION_DEPRECATED = "The HELPERAPP_SALUTATION setting is deprecated and will be removed in 2.0."


class BadSettings(AppSettings):
    prefix = "BAD"
    defaults_path = BAD_DEFAULTS


bad = BadSettings()


@pytest.fixture(autouse=True)
def _fresh_caches():
    # Per-instance, so one test's imports cannot hide another test's validation.
    helper.clear_cache()
    bad.clear_cache()


def make(deprecations=(), **attrs):
    """A throwaway helper over the test app's defaults."""
    attrs = {"prefix": "X", "defaults_path": DEFAULTS, "deprecations": deprecations, **attrs}
    return type("Throwaway", (AppSettings,), attrs)()


def single_warning(record, category=DeprecationWarning):
    assert [w.category for w in record] == [category]
    assert record[0].filename == __file__
    return str(record[0].message)


# Plain values: defaults, live overrides, unknown names.


def test_defaults_are_returned_when_not_overridden():
    assert helper.GREETING == "hello"
    assert helper.get("PAGE_SIZE") == 20
    assert helper.get("GREETING") == "hello"


def test_override_is_read_live(settings):
    settings.HELPERAPP_GREETING = "hi"
    assert helper.GREETING == "hi"
    settings.HELPERAPP_GREETING = "hey"
    assert helper.get("GREETING") == "hey"
    del settings.HELPERAPP_GREETING
    assert helper.GREETING == "hello"


def test_override_settings_reaches_an_existing_helper():
    with override_settings(HELPERAPP_PAGE_SIZE=50):
        assert helper.PAGE_SIZE == 50
    assert helper.PAGE_SIZE == 20


def test_value_is_read_without_any_signal():
    # Per-request overlays need not send setting_changed: plain values are never cached.
    django_settings.HELPERAPP_GREETING = "overlay"
    try:
        assert helper.GREETING == "overlay"
    finally:
        del django_settings.HELPERAPP_GREETING
    assert helper.GREETING == "hello"


def test_context_local_overlay_reaches_the_helper():
    # The per-request layer sends no setting_changed; values and imports must still follow it.
    layer = overlay.freeze({"HELPERAPP_GREETING": "bonjour", "HELPERAPP_USER_MODEL": "auth.Group"})
    assert helper.models.USER_MODEL is User
    token = overlay.push(layer, None)
    try:
        assert helper.GREETING == "bonjour"
        assert helper.models.USER_MODEL is Group
    finally:
        overlay.pop(token)
    assert helper.GREETING == "hello"
    assert helper.models.USER_MODEL is User


def test_overrides_are_never_copied_into_the_helper(settings):
    settings.HELPERAPP_GREETING = "hi"
    assert helper.GREETING == "hi"
    assert "GREETING" not in vars(helper)
    assert "HELPERAPP_GREETING" not in vars(helper)


def test_plain_reads_do_not_warn():
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert helper.GREETING == "hello"
        assert helper.models.USER_MODEL is User


def test_unknown_upper_case_name_lists_valid_names():
    message = (
        "HelperAppSettings has no setting 'NOPE'. Valid names: GREETING, ITEMS_PER_PAGE, "
        "JSON_MODULE, LEGACY_MODE, LEGACY_MODEL, OPTIONS, PAGE_SIZE, SLUGIFY, TAGS, USER_MODEL (set "
        "HELPERAPP_<NAME> in your Django settings to override one)."
    )
    for read in (lambda: helper.NOPE, lambda: helper.get("NOPE"), lambda: helper.models.NOPE):
        with pytest.raises(UnknownSettingError) as info:
            read()
        assert str(info.value) == message
        assert isinstance(info.value, AttributeError)
        assert isinstance(info.value, ImproperlyConfigured)
    assert not hasattr(helper, "NOPE")


@pytest.mark.parametrize("name", ["greeting", "_private", "Greeting", "__deepcopy__"])
def test_other_unknown_attributes_are_plain_attribute_errors(name):
    with pytest.raises(AttributeError) as info:
        getattr(helper, name)
    assert type(info.value) is AttributeError
    assert str(info.value) == f"'HelperAppSettings' object has no attribute {name!r}"
    for namespace in (helper.models, helper.objects, helper.modules):
        with pytest.raises(AttributeError) as info:
            getattr(namespace, name)
        assert type(info.value) is AttributeError
        assert str(info.value) == f"'_Namespace' object has no attribute {name!r}"


def test_get_with_a_lower_case_name_is_unknown():
    with pytest.raises(UnknownSettingError, match="has no setting 'greeting'"):
        helper.get("greeting")


def test_dir_and_repr():
    assert {"GREETING", "USER_MODEL", "get_model"} <= set(dir(helper))
    assert repr(helper) == "<HelperAppSettings prefix='HELPERAPP'>"


def test_the_base_class_cannot_be_instantiated():
    with pytest.raises(TypeError, match="Subclass AppSettings once per app"):
        AppSettings()


# Models, objects and modules.


def test_model_object_and_module_defaults():
    assert helper.models.USER_MODEL is User
    assert helper.get_model("USER_MODEL") is User
    assert helper.objects.SLUGIFY is slugify
    assert helper.get_object("SLUGIFY") is slugify
    assert helper.modules.JSON_MODULE is json
    assert helper.get_module("JSON_MODULE") is json


def test_model_object_and_module_overrides(settings):
    settings.HELPERAPP_USER_MODEL = "auth.Group"
    settings.HELPERAPP_SLUGIFY = "django.utils.text.capfirst"
    settings.HELPERAPP_JSON_MODULE = "django.utils.text"
    from django.utils import text

    assert helper.models.USER_MODEL is Group
    assert helper.objects.SLUGIFY is text.capfirst
    assert helper.modules.JSON_MODULE is text
    assert helper.get("USER_MODEL") == "auth.Group"


def _default_message(name, expected, detail):
    return (
        f"The default for BAD_{name} ({name} in {BAD_DEFAULTS}) must be {expected}{detail}. "
        f"Change {name} in {BAD_DEFAULTS}."
    )


DEFAULT_ERRORS = [
    ("get_model", "MODEL_TYPE", DefaultValueTypeInvalid, MODEL, ", not 42 (int)"),
    ("get_model", "MODEL_FORMAT", DefaultValueFormatInvalid, MODEL, ", not 'auth'"),
    (
        "get_model",
        "MODEL_MISSING",
        DefaultValueNotImportable,
        MODEL,
        ", but 'auth.Nope' cannot be imported: App 'auth' doesn't have a 'Nope' model",
    ),
    (
        "get_object",
        "OBJECT_TYPE",
        DefaultValueTypeInvalid,
        OBJECT,
        ", not ['django.utils.text.slugify'] (list)",
    ),
    ("get_object", "OBJECT_FORMAT", DefaultValueFormatInvalid, OBJECT, ", not 'slugify'"),
    (
        "get_object",
        "OBJECT_MISSING",
        DefaultValueNotImportable,
        OBJECT,
        ", but 'django.utils.text.nope' cannot be imported: "
        'Module "django.utils.text" does not define a "nope" attribute/class',
    ),
    ("get_module", "MODULE_TYPE", DefaultValueTypeInvalid, MODULE, ", not None (NoneType)"),
    ("get_module", "MODULE_FORMAT", DefaultValueFormatInvalid, MODULE, ", not 'not a module'"),
    (
        "get_module",
        "MODULE_MISSING",
        DefaultValueNotImportable,
        MODULE,
        ", but 'tests.helperapp.no_such_module' cannot be imported: No module named 'tests.helperapp.no_such_module'",
    ),
]
NAMESPACES = {"get_model": "models", "get_object": "objects", "get_module": "modules"}


@pytest.mark.parametrize(("method", "name", "error", "expected", "detail"), DEFAULT_ERRORS)
def test_bad_defaults_raise_default_errors(method, name, error, expected, detail):
    message = _default_message(name, expected, detail)
    for read in (
        lambda: getattr(bad, method)(name),
        lambda: getattr(getattr(bad, NAMESPACES[method]), name),
    ):
        with pytest.raises(error) as info:
            read()
        assert str(info.value) == message
        assert isinstance(info.value, AppSettingsError)
        assert isinstance(info.value, ImproperlyConfigured)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, ImportError) == (error is DefaultValueNotImportable)
        if error is DefaultValueNotImportable:
            assert isinstance(info.value.__cause__, (ImportError, LookupError))


OVERRIDE_ERRORS = [
    ("get_model", "USER_MODEL", 42, OverrideValueTypeInvalid, MODEL, ", not 42 (int)"),
    ("get_model", "USER_MODEL", "auth.", OverrideValueFormatInvalid, MODEL, ", not 'auth.'"),
    ("get_model", "USER_MODEL", "a.b.C", OverrideValueFormatInvalid, MODEL, ", not 'a.b.C'"),
    (
        "get_model",
        "USER_MODEL",
        "nope.User",
        OverrideValueNotImportable,
        MODEL,
        ", but 'nope.User' cannot be imported: No installed app with label 'nope'",
    ),
    ("get_object", "SLUGIFY", slugify, OverrideValueTypeInvalid, OBJECT, None),
    ("get_object", "SLUGIFY", "a..b", OverrideValueFormatInvalid, OBJECT, ", not 'a..b'"),
    (
        "get_object",
        "SLUGIFY",
        "no_such_package.thing",
        OverrideValueNotImportable,
        OBJECT,
        ", but 'no_such_package.thing' cannot be imported: No module named 'no_such_package'",
    ),
    (
        "get_module",
        "JSON_MODULE",
        b"json",
        OverrideValueTypeInvalid,
        MODULE,
        ", not b'json' (bytes)",
    ),
    ("get_module", "JSON_MODULE", "", OverrideValueFormatInvalid, MODULE, ", not ''"),
    (
        "get_module",
        "JSON_MODULE",
        "json.nope",
        OverrideValueNotImportable,
        MODULE,
        ", but 'json.nope' cannot be imported: No module named 'json.nope'",
    ),
]


@pytest.mark.parametrize(("method", "name", "value", "error", "expected", "detail"), OVERRIDE_ERRORS)
def test_bad_overrides_raise_override_errors(settings, method, name, value, error, expected, detail):
    setattr(settings, f"HELPERAPP_{name}", value)
    if detail is None:
        detail = f", not {value!r} (function)"
    message = (
        f"The HELPERAPP_{name} setting must be {expected}{detail}. Change HELPERAPP_{name} in your Django settings."
    )
    for read in (
        lambda: getattr(helper, method)(name),
        lambda: getattr(getattr(helper, NAMESPACES[method]), name),
    ):
        with pytest.raises(error) as info:
            read()
        assert str(info.value) == message
        assert isinstance(info.value, ImproperlyConfigured)
        assert isinstance(info.value, ValueError)
        assert isinstance(info.value, ImportError) == (error is OverrideValueNotImportable)


# Caching of imported values.


def test_model_is_imported_once():
    with mock.patch.object(apps, "get_model", wraps=apps.get_model) as spy:
        for _ in range(3):
            assert helper.models.USER_MODEL is User
        assert helper.get_model("USER_MODEL") is User
    spy.assert_called_once_with("auth.User")


def test_object_and_module_are_imported_once():
    with (
        mock.patch.object(appsettings, "import_string", wraps=appsettings.import_string) as objs,
        mock.patch.object(appsettings, "import_module", wraps=appsettings.import_module) as mods,
    ):
        for _ in range(3):
            assert helper.objects.SLUGIFY is slugify
            assert helper.modules.JSON_MODULE is json
    objs.assert_called_once_with("django.utils.text.slugify")
    mods.assert_called_once_with("json")


def test_cache_follows_override_settings():
    with mock.patch.object(apps, "get_model", wraps=apps.get_model) as spy:
        assert helper.models.USER_MODEL is User
        with override_settings(HELPERAPP_USER_MODEL="auth.Group"):
            assert helper.models.USER_MODEL is Group
            assert helper.models.USER_MODEL is Group
        assert helper.models.USER_MODEL is User
    assert [c.args for c in spy.call_args_list] == [("auth.User",), ("auth.Group",), ("auth.User",)]


def test_same_value_is_imported_again_after_setting_changed():
    with mock.patch.object(apps, "get_model", wraps=apps.get_model) as spy:
        assert helper.models.USER_MODEL is User
        with override_settings(HELPERAPP_USER_MODEL="auth.User"):
            assert helper.models.USER_MODEL is User
    assert spy.call_count == 2


def test_changed_value_is_picked_up_without_a_signal():
    # The cache is keyed by the raw value, so an overlay that sends no signal is still obeyed.
    assert helper.models.USER_MODEL is User
    django_settings.HELPERAPP_USER_MODEL = "auth.Group"
    try:
        assert helper.models.USER_MODEL is Group
    finally:
        del django_settings.HELPERAPP_USER_MODEL
    assert helper.models.USER_MODEL is User


def test_validation_still_applies_after_caching(settings):
    assert helper.models.USER_MODEL is User
    settings.HELPERAPP_USER_MODEL = 42
    with pytest.raises(OverrideValueTypeInvalid):
        _ = helper.models.USER_MODEL
    settings.HELPERAPP_USER_MODEL = "auth"
    with pytest.raises(OverrideValueFormatInvalid):
        _ = helper.models.USER_MODEL
    settings.HELPERAPP_USER_MODEL = "auth.Nope"
    with pytest.raises(OverrideValueNotImportable):
        _ = helper.models.USER_MODEL


def test_setting_changed_clears_every_helper():
    other = HelperAppSettings()
    with mock.patch.object(apps, "get_model", wraps=apps.get_model) as spy:
        assert helper.models.USER_MODEL is User
        assert other.models.USER_MODEL is User
        assert spy.call_count == 2
        setting_changed.send(sender=None, setting="ANYTHING", value=1, enter=True)
        assert helper.models.USER_MODEL is User
        assert other.models.USER_MODEL is User
    assert spy.call_count == 4


def test_registry_does_not_keep_helpers_alive():
    other = HelperAppSettings()
    ref = weakref.ref(other)
    del other
    gc.collect()
    assert ref() is None
    setting_changed.send(sender=None, setting="ANYTHING", value=1, enter=True)


def test_model_before_app_registry_is_ready():
    with mock.patch.object(apps, "models_ready", False), pytest.raises(AppRegistryNotReady) as info:
        _ = helper.models.USER_MODEL
    assert str(info.value) == (
        "HELPERAPP_USER_MODEL names a model, which cannot be loaded before Django's app "
        "registry is ready. Read it inside a function or in AppConfig.ready(), not at import time."
    )
    assert isinstance(info.value.__cause__, AppRegistryNotReady)


def test_objects_and_modules_do_not_need_the_app_registry():
    with mock.patch.object(apps, "models_ready", False):
        assert helper.objects.SLUGIFY is slugify
        assert helper.modules.JSON_MODULE is json


# Deprecations.


READERS = {
    "attribute": lambda h, name: getattr(h, name),
    "get": lambda h, name: h.get(name),
}
MODEL_READERS = {
    "models": lambda h, name: getattr(h.models, name),
    "get_model": lambda h, name: h.get_model(name),
}


@pytest.mark.parametrize("read", READERS.values(), ids=READERS)
def test_reading_a_renamed_setting_warns_and_returns_the_new_value(settings, read):
    with pytest.warns(DeprecationWarning) as record:
        assert read(helper, "SALUTATION") == "hello"
    assert single_warning(record) == f"{SALUTATION_DEPRECATED} Use HELPERAPP_GREETING instead."
    settings.HELPERAPP_GREETING = "hi"
    with pytest.warns(DeprecationWarning):
        assert read(helper, "SALUTATION") == "hi"


def test_deprecation_warnings_point_at_the_callers_line(settings):
    settings.HELPERAPP_ACCOUNT_MODEL = "auth.User"
    lines = []
    with pytest.warns(DeprecationWarning) as record:
        lines.append(inspect.currentframe().f_lineno + 1)
        assert helper.SALUTATION == "hello"
        lines.append(inspect.currentframe().f_lineno + 1)
        assert helper.get("SALUTATION") == "hello"
        lines.append(inspect.currentframe().f_lineno + 1)
        assert helper.models.LEGACY_MODEL is Group
        lines.append(inspect.currentframe().f_lineno + 1)
        assert helper.get_model("LEGACY_MODEL") is Group
        lines.append(inspect.currentframe().f_lineno + 1)
        assert helper.models.USER_MODEL is User
        lines.append(inspect.currentframe().f_lineno + 1)
        assert helper.get_model("USER_MODEL") is User
        lines.append(inspect.currentframe().f_lineno + 1)
        assert helper.models.ACCOUNT_MODEL is User
    assert [(w.filename, w.lineno) for w in record] == [(__file__, line) for line in [*lines[:6], lines[6], lines[6]]]


@pytest.mark.parametrize("read", MODEL_READERS.values(), ids=MODEL_READERS)
def test_reading_a_renamed_model_setting(read):
    with pytest.warns(DeprecationWarning) as record:
        assert read(helper, "ACCOUNT_MODEL") is User
    assert single_warning(record) == (
        "The HELPERAPP_ACCOUNT_MODEL setting is deprecated and will be removed in a future "
        "version. Use HELPERAPP_USER_MODEL instead."
    )


def test_reading_a_renamed_object_and_module_setting_points_at_the_caller():
    deprecations = (
        DeprecatedSetting("OLD_SLUGIFY", renamed_to="SLUGIFY", removing_in="9.0"),
        DeprecatedSetting("OLD_JSON", renamed_to="JSON_MODULE", removing_in="9.0"),
    )
    throwaway = make(deprecations)
    for read, name, expected in [
        (lambda: throwaway.objects.OLD_SLUGIFY, "OLD_SLUGIFY", slugify),
        (lambda: throwaway.get_object("OLD_SLUGIFY"), "OLD_SLUGIFY", slugify),
        (lambda: throwaway.modules.OLD_JSON, "OLD_JSON", json),
        (lambda: throwaway.get_module("OLD_JSON"), "OLD_JSON", json),
    ]:
        with pytest.warns(DeprecationWarning) as record:
            assert read() is expected
        assert single_warning(record).startswith(f"The X_{name} setting is deprecated")


@pytest.mark.parametrize("read", READERS.values(), ids=READERS)
def test_reading_a_replaced_setting_warns_and_returns_its_own_value(settings, read):
    with pytest.warns(DeprecationWarning) as record:
        assert read(helper, "ITEMS_PER_PAGE") == 10
    assert single_warning(record) == (
        "The HELPERAPP_ITEMS_PER_PAGE setting is deprecated and will be removed in 2.0. "
        "Use HELPERAPP_PAGE_SIZE instead. PAGE_SIZE counts rows, not items."
    )
    # A replacement means something else: the old value still works but is not carried over.
    settings.HELPERAPP_ITEMS_PER_PAGE = 5
    with pytest.warns(DeprecationWarning):
        assert read(helper, "ITEMS_PER_PAGE") == 5
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert helper.PAGE_SIZE == 20


@pytest.mark.parametrize("read", READERS.values(), ids=READERS)
def test_reading_a_setting_deprecated_for_removal(read):
    with pytest.warns(PendingDeprecationWarning) as record:
        assert read(helper, "LEGACY_MODE") is False
    assert single_warning(record, PendingDeprecationWarning) == (
        "The HELPERAPP_LEGACY_MODE setting is deprecated and will be removed in 2.0."
    )


@pytest.mark.parametrize("read", MODEL_READERS.values(), ids=MODEL_READERS)
def test_reading_a_model_setting_deprecated_for_removal(read):
    with pytest.warns(DeprecationWarning) as record:
        assert read(helper, "LEGACY_MODEL") is Group
    assert single_warning(record) == ("The HELPERAPP_LEGACY_MODEL setting is deprecated and will be removed in 3.0.")


@pytest.mark.parametrize("read", READERS.values(), ids=READERS)
def test_old_prefixed_setting_is_honoured_through_the_new_name(settings, read):
    settings.HELPERAPP_SALUTATION = "hey"
    with pytest.warns(DeprecationWarning) as record:
        assert read(helper, "GREETING") == "hey"
    assert single_warning(record) == (f"{SALUTATION_DEPRECATED} Rename it to HELPERAPP_GREETING in your settings.")


@pytest.mark.parametrize("read", MODEL_READERS.values(), ids=MODEL_READERS)
def test_old_prefixed_model_setting_is_honoured_through_the_new_name(settings, read):
    settings.HELPERAPP_ACCOUNT_MODEL = "auth.Group"
    with pytest.warns(DeprecationWarning) as record:
        assert read(helper, "USER_MODEL") is Group
    assert single_warning(record) == (
        "The HELPERAPP_ACCOUNT_MODEL setting is deprecated and will be removed in a future "
        "version. Rename it to HELPERAPP_USER_MODEL in your settings."
    )


@pytest.mark.parametrize("read", READERS.values(), ids=READERS)
def test_old_prefixed_setting_is_ignored_when_the_new_one_is_set(settings, read):
    settings.HELPERAPP_SALUTATION = "hey"
    settings.HELPERAPP_GREETING = "hi"
    with pytest.warns(DeprecationWarning) as record:
        assert read(helper, "GREETING") == "hi"
    assert single_warning(record) == (
        f"{SALUTATION_DEPRECATED} It is ignored because HELPERAPP_GREETING is also set: remove HELPERAPP_SALUTATION."
    )


def test_reading_the_old_name_while_the_project_sets_the_old_name(settings):
    settings.HELPERAPP_SALUTATION = "hey"
    with pytest.warns(DeprecationWarning) as record:
        assert helper.SALUTATION == "hey"
    assert [str(w.message) for w in record] == [
        f"{SALUTATION_DEPRECATED} Use HELPERAPP_GREETING instead.",
        f"{SALUTATION_DEPRECATED} Rename it to HELPERAPP_GREETING in your settings.",
    ]
    assert {w.filename for w in record} == {__file__}


def test_guidance_is_added_to_every_warning(settings):
    throwaway = make((DeprecatedSetting("OLD", renamed_to="GREETING", removing_in="2.0", guidance="See docs."),))
    settings.X_OLD = "hey"
    with pytest.warns(DeprecationWarning) as record:
        assert throwaway.OLD == "hey"
    assert [str(w.message) for w in record] == [
        "The X_OLD setting is deprecated and will be removed in 2.0. Use X_GREETING instead. See docs.",
        "The X_OLD setting is deprecated and will be removed in 2.0. Rename it to X_GREETING in "
        "your settings. See docs.",
    ]


@pytest.mark.parametrize(
    ("value", "error", "detail"),
    [
        (42, OverrideValueTypeInvalid, ", not 42 (int)"),
        ("auth", OverrideValueFormatInvalid, ", not 'auth'"),
        (
            "auth.Nope",
            OverrideValueNotImportable,
            ", but 'auth.Nope' cannot be imported: App 'auth' doesn't have a 'Nope' model",
        ),
    ],
)
def test_bad_value_under_the_old_name_names_the_old_setting(settings, value, error, detail):
    settings.HELPERAPP_ACCOUNT_MODEL = value
    with pytest.warns(DeprecationWarning), pytest.raises(error) as info:
        _ = helper.models.USER_MODEL
    assert str(info.value) == (
        f"The HELPERAPP_ACCOUNT_MODEL setting must be {MODEL}{detail}. "
        "Change HELPERAPP_ACCOUNT_MODEL in your Django settings."
    )


# Invalid deprecation declarations.


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"name": "old"},
            "DeprecatedSetting name must be an upper-case setting name without the prefix, such "
            "as 'OLD_NAME', not 'old' (str).",
        ),
        (
            {"name": 42},
            "DeprecatedSetting name must be an upper-case setting name without the prefix, such "
            "as 'OLD_NAME', not 42 (int).",
        ),
        (
            {"name": "OLD", "renamed_to": "new"},
            "DeprecatedSetting renamed_to must be an upper-case setting name without the prefix, "
            "such as 'OLD_NAME', not 'new' (str).",
        ),
        (
            {"name": "OLD", "replaced_by": ["NEW"]},
            "DeprecatedSetting replaced_by must be an upper-case setting name without the prefix, "
            "such as 'OLD_NAME', not ['NEW'] (list).",
        ),
        (
            {"name": "OLD", "renamed_to": "NEW", "replaced_by": "OTHER"},
            "DeprecatedSetting 'OLD' gives both renamed_to='NEW' and replaced_by='OTHER'. Give "
            "renamed_to when the old value still means the same thing, replaced_by when it does "
            "not.",
        ),
        (
            {"name": "OLD", "renamed_to": "OLD"},
            "DeprecatedSetting 'OLD' points at itself. Name a different setting.",
        ),
        (
            {"name": "OLD", "removing_in": 2.0},
            "DeprecatedSetting 'OLD' removing_in must be a non-empty string or None, not 2.0 (float).",
        ),
        (
            {"name": "OLD", "removing_in": ""},
            "DeprecatedSetting 'OLD' removing_in must be a non-empty string or None, not '' (str).",
        ),
        (
            {"name": "OLD", "guidance": 5},
            "DeprecatedSetting 'OLD' guidance must be a non-empty string or None, not 5 (int).",
        ),
        (
            {"name": "OLD", "warning_category": str},
            "DeprecatedSetting 'OLD' warning_category must be a Warning subclass such as "
            "DeprecationWarning, not <class 'str'> (type).",
        ),
        (
            {"name": "OLD", "warning_category": DeprecationWarning("x")},
            "DeprecatedSetting 'OLD' warning_category must be a Warning subclass such as "
            "DeprecationWarning, not DeprecationWarning('x') (DeprecationWarning).",
        ),
    ],
)
def test_invalid_deprecated_setting(kwargs, message):
    with pytest.raises(DeprecationDeclarationError) as info:
        DeprecatedSetting(**kwargs)
    assert str(info.value) == message
    assert isinstance(info.value, ImproperlyConfigured)


def test_deprecated_setting_defaults():
    item = DeprecatedSetting("OLD")
    assert item == DeprecatedSetting("OLD", None, None, None, DeprecationWarning, None)


@pytest.mark.parametrize(
    ("deprecations", "message"),
    [
        (
            [DeprecatedSetting("OLD")],
            "Throwaway.deprecations must be a tuple of DeprecatedSetting, not "
            "[DeprecatedSetting(name='OLD', renamed_to=None, replaced_by=None, removing_in=None, "
            "warning_category=<class 'DeprecationWarning'>, guidance=None)] (list).",
        ),
        (
            ("OLD",),
            "Throwaway.deprecations must be a tuple of DeprecatedSetting, not ('OLD',) (tuple).",
        ),
        (
            (DeprecatedSetting("OLD"), DeprecatedSetting("OLD", removing_in="2.0")),
            "Throwaway.deprecations has more than one DeprecatedSetting with name='OLD'. Keep one.",
        ),
        (
            (
                DeprecatedSetting("A", renamed_to="GREETING"),
                DeprecatedSetting("B", renamed_to="GREETING"),
            ),
            "Throwaway.deprecations has more than one DeprecatedSetting with renamed_to='GREETING'. Keep one.",
        ),
    ],
)
def test_invalid_deprecations_fail_at_class_creation(deprecations, message):
    attrs = {"prefix": "X", "defaults_path": DEFAULTS, "deprecations": deprecations}
    with pytest.raises(DeprecationDeclarationError) as info:
        type("Throwaway", (AppSettings,), attrs)
    assert str(info.value) == message


WHERE = "Throwaway.deprecations"


@pytest.mark.parametrize(
    ("deprecation", "message"),
    [
        (
            DeprecatedSetting("OLD", renamed_to="NOPE"),
            f"{WHERE}: 'OLD' points at 'NOPE', which is not a current setting in {DEFAULTS}. "
            "Add NOPE to the defaults or fix the name.",
        ),
        (
            DeprecatedSetting("OLD", replaced_by="NOPE"),
            f"{WHERE}: 'OLD' points at 'NOPE', which is not a current setting in {DEFAULTS}. "
            "Add NOPE to the defaults or fix the name.",
        ),
        (
            DeprecatedSetting("PAGE_SIZE", renamed_to="GREETING"),
            f"{WHERE}: 'PAGE_SIZE' is renamed to 'GREETING' but is still in {DEFAULTS}. Remove "
            "PAGE_SIZE from the defaults; reads of it are answered by GREETING.",
        ),
        (
            DeprecatedSetting("GONE", removing_in="2.0"),
            f"{WHERE}: 'GONE' is deprecated but has no default in {DEFAULTS}. A deprecated setting "
            "works until it is removed: keep its default, or declare renamed_to if it was renamed.",
        ),
        (
            DeprecatedSetting("GONE", replaced_by="GREETING"),
            f"{WHERE}: 'GONE' is deprecated but has no default in {DEFAULTS}. A deprecated setting "
            "works until it is removed: keep its default, or declare renamed_to if it was renamed.",
        ),
    ],
)
def test_deprecations_inconsistent_with_defaults_fail_at_instantiation(deprecation, message):
    with pytest.raises(DeprecationDeclarationError) as info:
        make((deprecation,))
    assert str(info.value) == message


def test_deprecation_may_not_point_at_another_deprecated_setting():
    deprecations = (
        DeprecatedSetting("LEGACY_MODE"),
        DeprecatedSetting("OLD", renamed_to="LEGACY_MODE"),
    )
    with pytest.raises(DeprecationDeclarationError) as info:
        make(deprecations)
    assert str(info.value) == (
        f"{WHERE}: 'OLD' points at 'LEGACY_MODE', which is not a current setting in {DEFAULTS}. "
        "Add LEGACY_MODE to the defaults or fix the name."
    )


def test_the_test_apps_deprecations_are_valid():
    assert [item.name for item in HelperAppSettings.deprecations] == [
        "SALUTATION",
        "ACCOUNT_MODEL",
        "ITEMS_PER_PAGE",
        "LEGACY_MODE",
        "LEGACY_MODEL",
    ]


# Prefix and defaults module.


@pytest.mark.parametrize(
    ("module", "prefix", "defaults_path"),
    [
        ("yourapp.conf.settings", "YOURAPP", "yourapp.conf.defaults"),
        ("request_settings.conf.settings", "REQUEST_SETTINGS", "request_settings.conf.defaults"),
        ("tests.helperapp.conf.settings", "HELPERAPP", "tests.helperapp.conf.defaults"),
        ("yourapp.app_settings", "YOURAPP", "yourapp.defaults"),
        ("conf.settings", "CONF", "conf.defaults"),
        ("mymodule", "MYMODULE", "defaults"),
        ("conf", "CONF", "defaults"),
    ],
)
def test_prefix_and_defaults_path_are_derived_from_the_module(module, prefix, defaults_path):
    cls = type("Derived", (AppSettings,), {"__module__": module})
    assert (cls.prefix, cls.defaults_path) == (prefix, defaults_path)


def test_the_test_app_prefix_and_defaults_path():
    assert helper.prefix == "HELPERAPP"
    assert helper.defaults_path == DEFAULTS


def test_explicit_prefix_and_defaults_path_win():
    attrs = {"__module__": "yourapp.conf.settings", "prefix": "MINE", "defaults_path": DEFAULTS}
    cls = type("Explicit", (AppSettings,), attrs)
    assert (cls.prefix, cls.defaults_path) == ("MINE", DEFAULTS)
    # A subclass elsewhere derives its own, as documented: only the class body counts.
    sub = type("Sub", (cls,), {"__module__": "otherapp.conf.settings"})
    assert (sub.prefix, sub.defaults_path) == ("OTHERAPP", "otherapp.conf.defaults")


def test_explicit_prefix_is_used_for_overrides():
    throwaway = make(prefix="MINE")
    with override_settings(MINE_GREETING="mine", HELPERAPP_GREETING="theirs"):
        assert throwaway.GREETING == "mine"


@pytest.mark.parametrize(
    ("attrs", "shown"),
    [
        ({"__module__": "__main__"}, "'__MAIN__' (str) (derived from the module '__main__'"),
        (
            {"prefix": "yourapp"},
            "'yourapp' (str) (derived from the module 'tests.test_appsettings'",
        ),
        ({"prefix": None}, "None (NoneType) (derived from the module 'tests.test_appsettings'"),
    ],
)
def test_invalid_prefix_fails_at_class_creation(attrs, shown):
    with pytest.raises(AppSettingsDeclarationError) as info:
        type("Broken", (AppSettings,), attrs)
    assert str(info.value) == (
        f"Broken.prefix must be an upper-case name such as 'YOURAPP', not {shown} unless set). "
        "Set prefix = 'YOURAPP' in the class body."
    )


def test_missing_defaults_module_fails_at_instantiation():
    with pytest.raises(AppSettingsDeclarationError) as info:
        make(defaults_path="tests.helperapp.conf.nope")
    assert str(info.value) == (
        "Throwaway cannot import its defaults module 'tests.helperapp.conf.nope': No module named "
        "'tests.helperapp.conf.nope'. Create it, or set defaults_path to the module holding the "
        "defaults."
    )
    assert isinstance(info.value.__cause__, ImportError)


def test_only_upper_case_public_names_are_defaults():
    # bad_defaults has `from __future__ import annotations`: lower-case names are not settings.
    with pytest.raises(UnknownSettingError):
        bad.get("annotations")
    assert bad.get("MODEL_TYPE") == 42


@given(st.one_of(st.text(max_size=30), st.from_regex(r"[a-z]{1,6}\.[A-Za-z]{1,8}", fullmatch=True)))
@hypothesis_settings(max_examples=200, deadline=None)
def test_any_model_value_is_a_model_or_an_override_error(value):
    with override_settings(HELPERAPP_USER_MODEL=value):
        try:
            model = helper.models.USER_MODEL
        except (OverrideValueFormatInvalid, OverrideValueNotImportable) as error:
            assert f"The HELPERAPP_USER_MODEL setting must be {MODEL}" in str(error)
            assert repr(value) in str(error)
        else:
            assert model is apps.get_model(value)
