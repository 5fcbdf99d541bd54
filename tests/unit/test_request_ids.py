"""Signed request ids: intake recognises what it issued, for the right district only."""

from __future__ import annotations

from shared.request_ids import ID_LENGTH, issued_by_us, mint_request_id

KEY = b"unit-test-key"


def test_minted_id_is_recognised_for_its_district_only() -> None:
    request_id = mint_request_id(KEY, "chengzhong")

    assert len(request_id) == ID_LENGTH
    assert issued_by_us(KEY, "chengzhong", request_id)
    assert not issued_by_us(KEY, "chengxi", request_id)
    assert not issued_by_us(b"another-key", "chengzhong", request_id)


def test_random_ids_differ_and_idempotency_keys_repeat() -> None:
    assert mint_request_id(KEY, "chengzhong") != mint_request_id(KEY, "chengzhong")
    assert mint_request_id(KEY, "chengzhong", "k1") == mint_request_id(KEY, "chengzhong", "k1")
    assert mint_request_id(KEY, "chengzhong", "k1") != mint_request_id(KEY, "chengzhong", "k2")
    assert mint_request_id(KEY, "chengzhong", "k1") != mint_request_id(KEY, "chengxi", "k1")


def test_tampered_or_malformed_ids_are_refused() -> None:
    request_id = mint_request_id(KEY, "chengzhong")
    tampered = ("0" if request_id[0] != "0" else "1") + request_id[1:]

    assert not issued_by_us(KEY, "chengzhong", tampered)
    assert not issued_by_us(KEY, "chengzhong", "z" * ID_LENGTH)
    assert not issued_by_us(KEY, "chengzhong", request_id[:-2])
