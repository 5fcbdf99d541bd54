"""API key format and resident access tokens."""

from __future__ import annotations

from shared.api_keys import Principal, Role, hash_secret, new_plaintext_key, split_key
from shared.request_ids import access_token, valid_access_token


def test_a_new_key_splits_back_into_its_id_and_secret() -> None:
    key_id, secret, plaintext = new_plaintext_key()

    assert split_key(plaintext) == (key_id, secret)
    assert hash_secret(secret) != secret and len(hash_secret(secret)) == 64


def test_malformed_keys_do_not_split() -> None:
    for bad in ["", "gsp", "gsp_short_x", "xyz_0123456789abcdef_secret", "gsp_0123456789abcdef_"]:
        assert split_key(bad) is None


def test_principals_see_only_their_district_unless_platform_admin() -> None:
    operator = Principal("k1", "chengzhong", Role.OPERATOR, "desk-1")
    admin = Principal("k2", None, Role.PLATFORM_ADMIN, "root")

    assert operator.can_see("chengzhong") and not operator.can_see("chengxi")
    assert admin.can_see("chengxi")


def test_access_tokens_are_per_request_and_per_key() -> None:
    token = access_token(b"k", "r1")

    assert valid_access_token(b"k", "r1", token)
    assert not valid_access_token(b"k", "r2", token)
    assert not valid_access_token(b"other", "r1", token)
