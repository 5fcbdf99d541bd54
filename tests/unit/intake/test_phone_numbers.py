"""Phone numbers as residents type them → E.164, or a clear refusal."""

from __future__ import annotations

import pytest
from hypothesis import given
from hypothesis import strategies as st

from shared.phone_numbers import InvalidPhoneNumber, mask, normalise


@pytest.mark.parametrize(
    ("raw", "expected"),
    [
        ("13800001234", "+8613800001234"),
        ("138 0000 1234", "+8613800001234"),
        ("138-0000-1234", "+8613800001234"),
        ("+86 138 0000 1234", "+8613800001234"),
        ("008613800001234", "+8613800001234"),
        ("8613800001234", "+8613800001234"),
        ("0971-8123456", "+869718123456"),  # Xining landline with trunk 0
        ("(010) 6512 3456", "+861065123456"),  # Beijing
        ("+44 20 7946 0958", "+442079460958"),
        ("+1 415 555 2671", "+14155552671"),
    ],
)
def test_common_spellings_become_e164(raw: str, expected: str) -> None:
    assert normalise(raw) == expected


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "call me",
        "12345",
        "1380000123",
        "23800001234",
        "+86 12 34",
        "+0123456789",
        "１３８００００１２３４",
        "+12",
        "+999999999999999",  # the right length, but no country has such numbers
        "+8699999999999",
        "+1 000 000 0000",
        "+44 20 0000 000",
    ],
)
def test_what_cannot_be_dialled_is_refused_with_a_reason(raw: str) -> None:
    with pytest.raises(InvalidPhoneNumber) as refused:
        normalise(raw)
    assert str(refused.value)


# Prefixes allocated to mainland mobile operators (others, such as 140 or 192x blocks, may be unassigned).
@given(st.from_regex(r"1(3[0-9]|5[0-35-9]|8[0-9]|7[0135-8]|99)[0-9]{8}", fullmatch=True))
def test_every_mainland_mobile_normalises_and_is_stable(mobile: str) -> None:
    e164 = normalise(mobile)
    assert e164 == "+86" + mobile
    assert normalise(e164) == e164


def test_mask_keeps_the_last_four_digits_only() -> None:
    assert mask("+8613800001234") == "+86138****1234"
