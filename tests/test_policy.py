"""request_settings.policy, its helpers one by one: the type settings.py gives a key, the field a project declares for
it, what it accepts in words, and tuples coming back as tuples (refusals: test_refusals.py; value rules: test_values.py,
test_honored.py and test_validators.py)."""

from __future__ import annotations

import enum

import pytest
from django.core.exceptions import ValidationError
from django.test import override_settings
from django.urls import reverse_lazy
from django.utils.safestring import mark_safe

from request_settings import policy
from request_settings.fields import JSONOrTextField

INTEGER = "an integer from -9223372036854775807 to 9223372036854775807"

# -- the type of the settings.py value -------------------------------------------------------------------------------


@override_settings(SHOP_SIZE=10, SHOP_ON=True, SHOP_RATIO=0.5, SHOP_TAGS=("a",), SHOP_MAP={"a": 1})
@pytest.mark.parametrize(
    ("key", "good", "bad", "accepted"),
    [
        ("SHOP_SIZE", [0, -3, 11], [True, 1.5, "11", None], INTEGER),  # a bool is no integer
        ("SHOP_ON", [True, False], [1, 0, "true", None], "true or false"),
        ("SHOP_RATIO", [0.25, 2, -1], [True, "0.5", None], "a number"),  # an integer is a number
        ("SHOP_TAGS", [["b"], [], ("c",)], ["b", {"b": 1}, None], "a JSON list"),
        ("SHOP_MAP", [{"b": 2}, {}], [["b"], "b", None], "a JSON object"),
    ],
)
def test_a_value_must_have_the_type_of_the_settings_py_value(key, good, bad, accepted):
    for value in good:
        assert policy.value_problem(key, value) is None, value
    for value in bad:
        assert policy.value_problem(key, value) == accepted, value


class Level(enum.IntEnum):
    LOW = 1


class Colour(str, enum.Enum):
    RED = "red"


@override_settings(SHOP_LEVEL=Level.LOW, SHOP_COLOUR=Colour.RED, SHOP_BANNER=mark_safe("<b>Hi</b>"))
def test_a_settings_py_value_of_a_subclass_asks_for_its_json_type():
    """An IntEnum member is an int and a SafeString a str: a value of another type would break the code that reads
    them as surely as for a plain int or str."""
    assert policy.value_problem("SHOP_LEVEL", 2) is None
    assert policy.value_problem("SHOP_LEVEL", "high") == INTEGER
    assert policy.value_problem("SHOP_COLOUR", "blue") is None
    assert policy.value_problem("SHOP_COLOUR", ["red"]) == "a string"
    assert policy.value_problem("SHOP_BANNER", {"b": "Hi"}) == "a string"
    assert policy.is_checked("SHOP_BANNER")


@override_settings(SHOP_NOTHING=None)
def test_a_key_settings_py_leaves_unset_or_none_takes_any_json_value():
    for key in ("SHOP_NOTHING", "SHOP_UNSET"):
        assert policy.value_problem(key, {"any": ["json", 1]}) is None
        assert not policy.is_checked(key)
        assert policy.accepted(key) == policy.UNCHECKED


def test_base_value_is_the_settings_py_value_or_the_default():
    assert policy.base_value("SESSION_EXPIRE_SECONDS") == 3600
    assert policy.base_value("SHOP_UNSET", "fallback") == "fallback"
    assert policy.base_value("SHOP_UNSET") is None


# -- values settings.py holds that JSON cannot carry back -------------------------------------------------------------


@pytest.mark.parametrize(
    ("value", "problem"),
    [
        ([float("nan"), 1], "its settings.py value holds nan"),  # found behind a plain item
        ({"limit": 1, "ratio": float("-inf")}, "its settings.py value holds -inf"),
    ],
)
def test_a_settings_py_value_json_cannot_hold_refuses_the_key(value, problem):
    with override_settings(SHOP_LIMIT=value):
        assert policy.refusal("SHOP_LIMIT") == f"{policy.NOT_JSON}: {problem}"


@pytest.mark.parametrize("value", [0.5, [1.5, "a", None, True], {"ratio": -2.0}])
def test_finite_numbers_in_settings_py_are_fine(value):
    with override_settings(SHOP_LIMIT=value):
        assert policy.refusal("SHOP_LIMIT") is None


def test_a_cookie_path_is_no_file_system_location():
    """LANGUAGE_COOKIE_PATH ends like a path setting but is a URL path: refused as untested, and a project may allow
    it (BASE_DIR-like keys it may not)."""
    assert policy.refusal("LANGUAGE_COOKIE_PATH") == policy.UNTESTED
    with override_settings(REQUEST_SETTINGS_ALLOWED=["LANGUAGE_COOKIE_PATH", "SHOP_UPLOAD_PATH"]):
        assert policy.refusal("LANGUAGE_COOKIE_PATH") is None
        assert policy.refusal("SHOP_UPLOAD_PATH") == policy.LAYOUT


# -- the form field a project declares -------------------------------------------------------------------------------

INTEGER_FIELD = {"field": "django.forms.IntegerField", "min_value": 60}


@override_settings(
    REQUEST_SETTINGS_FIELDS={
        "SESSION_EXPIRE_SECONDS": {**INTEGER_FIELD, "help_text": "at least a minute"},
        "SHOP_LIMIT": INTEGER_FIELD,
        "SHOP_MOTTO": {"max_length": 5, "help_text": "five letters at most"},
    }
)
def test_what_a_key_accepts_names_the_declared_field_and_its_help_text():
    assert policy.accepted("SESSION_EXPIRE_SECONDS") == (
        "an integer from 60 to 31536000 (seconds), and what the declared field accepts (at least a minute)"
    )
    assert policy.accepted("SHOP_LIMIT") == "what the declared field accepts"
    assert policy.accepted("SHOP_MOTTO") == "what the declared field accepts (five letters at most)"
    assert policy.accepted("SHOP_OTHER") == policy.UNCHECKED


@override_settings(REQUEST_SETTINGS_FIELDS={"SHOP_MOTTO": {"max_length": 5}})
def test_a_declaration_without_a_field_class_gets_json_or_text():
    field = policy.declared_field("SHOP_MOTTO")
    assert isinstance(field, JSONOrTextField)
    assert field.max_length == 5
    assert policy.is_checked("SHOP_MOTTO")
    assert policy.value_problem("SHOP_MOTTO", "Hello") is None
    assert policy.value_problem("SHOP_MOTTO", "Hello!") == (
        "a value the declared field accepts (Ensure this value has at most 5 characters (it has 6).)"
    )


@override_settings(
    REQUEST_SETTINGS_FIELDS={
        "SHOP_CODE": {"field": "django.forms.SlugField", "min_length": 5},
        "SHOP_LIMIT": INTEGER_FIELD,
    }
)
def test_a_value_the_declared_field_refuses_says_every_reason_or_that_its_type_differs():
    assert policy.value_problem("SHOP_CODE", "a b") == (
        "a value the declared field accepts (Enter a valid “slug” consisting of letters, numbers, underscores or "
        "hyphens. Ensure this value has at least 5 characters (it has 3).)"
    )
    assert policy.value_problem("SHOP_LIMIT", 60) is None
    assert policy.value_problem("SHOP_LIMIT", "60") == "a value of the declared field's type"  # cleaned to 60


def test_a_key_longer_than_its_column_is_refused_one_of_255_characters_is_not():
    longest = "A" * 255
    with override_settings(REQUEST_SETTINGS_ALLOWED=[longest, longest + "A"]):
        assert policy.refusal(longest) is None
        assert policy.refusal(longest + "A") == "longer than 255 characters, the size of the key column"


@override_settings(
    REQUEST_SETTINGS_FIELDS={
        "PARTNER_API_TOKEN": {"field": "django.forms.ChoiceField", "choices": [("a", "A")]},
        "PARTNER_API_PORT": {"field": "django.forms.IntegerField"},
    }
)
def test_the_declared_fields_message_never_quotes_a_secret_looking_keys_value():
    assert policy.value_problem("PARTNER_API_TOKEN", "sk-live-123") == (
        "a value the declared field accepts (Select a valid choice. ******************** is not one of the available "
        "choices.)"
    )
    assert (
        policy.value_problem("PARTNER_API_PORT", "eighty")
        == "a value the declared field accepts (Enter a whole number.)"
    )


def refuse_quoting_positionally(value):
    raise ValidationError("%s is not accepted", params=(value,))


@override_settings(
    REQUEST_SETTINGS_FIELDS={
        "PARTNER_API_TOKEN": {"field": "django.forms.CharField", "validators": [refuse_quoting_positionally]}
    }
)
def test_a_validators_positional_quote_of_a_secret_looking_keys_value_is_masked_too():
    assert policy.value_problem("PARTNER_API_TOKEN", "sk-live-123") == (
        "a value the declared field accepts (******************** is not accepted)"
    )


# -- the type a form parses typed text into --------------------------------------------------------------------------


@override_settings(SHOP_SIZE=10, SHOP_TAGS=("a",), LOGIN_URL=reverse_lazy("admin:index"), LOGOUT_REDIRECT_URL=None)
def test_form_kind_is_the_settings_py_type_else_the_rules():
    assert policy.form_kind("SHOP_SIZE") is int
    assert policy.form_kind("SHOP_TAGS") is tuple
    assert policy.form_kind("LOGIN_URL") is str  # lazy in settings.py: the rule's
    assert policy.form_kind("LOGOUT_REDIRECT_URL") is str  # None in settings.py: the rule's
    assert policy.form_kind("EMAIL_PORT") is int  # Django's default is an int too
    assert policy.form_kind("SHOP_UNSET") is None


# -- tuples come back as tuples --------------------------------------------------------------------------------------


@override_settings(
    SHOP_CHOICES=(("a", "A"),),
    SHOP_EMPTY=(),
    SHOP_MIXED=[("a", 1), "b"],
    SHOP_MAP={"pair": ("a", "b"), "name": "x"},
)
def test_coerce_follows_the_settings_py_containers_where_the_value_has_them():
    assert policy.coerce("SHOP_CHOICES", [["c", "C"], ["d", "D"]]) == (("c", "C"), ("d", "D"))
    assert policy.coerce("SHOP_EMPTY", ["a"]) == ("a",)
    assert policy.coerce("SHOP_MIXED", [["c", 2], "d"]) == [["c", 2], "d"]  # not every item a tuple: items as sent
    assert policy.coerce("SHOP_MAP", {"pair": ["c", "d"], "new": [1]}) == {"pair": ("c", "d"), "new": [1]}
    # an item of another shape than settings.py's is kept as it is
    assert policy.coerce("SHOP_MAP", {"pair": "cd", "name": {"first": "x"}}) == {"pair": "cd", "name": {"first": "x"}}
    assert policy.coerce("SHOP_MAP", {"pair": {"a": 1}}) == {"pair": {"a": 1}}
    assert policy.coerce("SHOP_UNSET", [1, [2]]) == [1, [2]]
