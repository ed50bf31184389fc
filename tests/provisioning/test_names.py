"""Store name, username and namespace rules (provisioning/names.py)."""

from __future__ import annotations

import re
import uuid

import pytest

from provisioning.errors import ValidationError
from provisioning.names import (
    MAX_LENGTH,
    MIN_LENGTH,
    RESERVED_NAMES,
    namespace_for,
    validate_store_name,
    validate_username,
)

DNS_LABEL = re.compile(r"^[a-z0-9]([-a-z0-9]*[a-z0-9])?$")

BAD_NAMES: list[tuple[object, str]] = [
    ("", "Enter a store name"),
    (None, "Enter a store name"),
    (42, "Enter a store name"),
    (b"shop", "Enter a store name"),
    ("ab", f"at least {MIN_LENGTH} characters"),
    ("a" * 31, f"at most {MAX_LENGTH} characters long (it has 31)"),
    ("MyShop", "try 'myshop'"),
    ("-shop", "start and end with a letter or a digit"),
    ("shop-", "start and end with a letter or a digit"),
    ("my--shop", "two hyphens in a row"),
    ("my_shop", "try 'my-shop'"),
    ("café", "no accents or symbols"),
    ("магазин", "no accents or symbols"),
    ("shop🛒", "no accents or symbols"),
    ("my shop", "cannot contain spaces"),
    ("my\tshop", "cannot contain spaces"),
    (" shop", "cannot start or end with spaces"),
    ("shop ", "cannot start or end with spaces"),
    ("sh\x00op", "control characters"),
    ("sh\x7fop", "control characters"),
    # A trailing newline is surrounding whitespace, reported as such.
    ("shop\n", "cannot start or end with spaces"),
    ("shop';drop", "Use only the letters a-z, digits and hyphens"),
    ("<script>", "Use only the letters a-z, digits and hyphens"),
    ("a$(b)", "Use only the letters a-z, digits and hyphens"),
    ("shop.example", "Use only the letters a-z, digits and hyphens"),
    ("api", "reserved"),
    ("dashboard", "reserved"),
    ("www", "reserved"),
    ("admin", "reserved"),
]


@pytest.mark.parametrize(("raw", "fragment"), BAD_NAMES, ids=[repr(raw) for raw, _ in BAD_NAMES])
def test_bad_store_names_are_refused_with_a_specific_message(raw: object, fragment: str) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_store_name(raw)
    assert fragment in str(excinfo.value)
    assert excinfo.value.field == "name"


@pytest.mark.parametrize("name", sorted(RESERVED_NAMES))
def test_every_reserved_name_is_refused(name: str) -> None:
    with pytest.raises(ValidationError, match="reserved"):
        validate_store_name(name)


@pytest.mark.parametrize(
    "name",
    ["abc", "a" * MAX_LENGTH, "shop1", "123", "my-shop", "a-b-c-d", "2024-sale", "x1-y2-z3"],
)
def test_good_store_names_are_returned_unchanged(name: str) -> None:
    assert validate_store_name(name) == name
    assert DNS_LABEL.match(name)


def test_a_name_that_only_contains_a_reserved_word_is_fine() -> None:
    assert validate_store_name("api-shop") == "api-shop"
    assert validate_store_name("my-admin") == "my-admin"


@pytest.mark.parametrize("username", ["abc", "alice", "bob.smith", "j_doe", "user-1", "007", "a" * 32])
def test_good_usernames(username: str) -> None:
    assert validate_username(username) == username


@pytest.mark.parametrize(
    "username",
    [
        "",
        None,
        7,
        "a",
        "ab",
        "a" * 33,
        "Alice",
        "-alice",
        "alice-",
        ".alice",
        "alice_",
        "al ice",
        "alice!",
        "élise",
        "alice\n",
    ],
)
def test_bad_usernames(username: object) -> None:
    with pytest.raises(ValidationError) as excinfo:
        validate_username(username)
    assert excinfo.value.field == "username"


def test_username_length_message_matches_the_rule() -> None:
    with pytest.raises(ValidationError, match="3-32 characters"):
        validate_username("ab")


def test_namespace_differs_for_two_stores_with_the_same_name() -> None:
    first, second = uuid.uuid4().hex, uuid.uuid4().hex
    assert namespace_for("shop", first) != namespace_for("shop", second)
    assert namespace_for("shop", first) == namespace_for("shop", first)


@pytest.mark.parametrize("name", ["abc", "a" * MAX_LENGTH, "my-shop", "a-1-b-2-c-3-d-4-e-5-f-6-g-7-h8"])
def test_namespace_is_a_valid_dns_label_of_at_most_63_chars(name: str) -> None:
    namespace = namespace_for(validate_store_name(name), uuid.uuid4().hex)
    assert len(namespace) <= 63
    assert DNS_LABEL.match(namespace), namespace
    assert name in namespace
