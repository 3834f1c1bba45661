from __future__ import annotations

import base64
import hmac
import shutil
import subprocess
from unittest import mock

import pytest

from mortard.config import Secret, ShopConfig
from mortard.ingest import hmac as ingest_hmac
from mortard.ingest.hmac import shop_secrets, sign, verify

BODY = b'{"id":820982911946154508,"email":"jon@example.com"}'
SECRET = "shpss_test_secret_1"
# Computed independently with:
#   printf '%s' '{"id":820982911946154508,"email":"jon@example.com"}' \
#     | openssl dgst -sha256 -hmac 'shpss_test_secret_1' -binary | base64
VECTOR = "UtRNMTWsv1SSizkJyhID1yDc2GA5oK8Rf2am27sRQSU="


def test_sign_matches_vector_computed_with_openssl() -> None:
    assert sign(BODY, SECRET) == VECTOR


@pytest.mark.skipif(shutil.which("openssl") is None, reason="openssl not installed")
@pytest.mark.parametrize("body", [b"", b"\x00\xff binary \r\n", "{\"name\":\"caf\u00e9 \u2603\"}".encode()])
def test_sign_matches_openssl_for_other_bodies(body: bytes) -> None:
    digest = subprocess.run(["openssl", "dgst", "-sha256", "-hmac", SECRET, "-binary"],
                            input=body, capture_output=True, check=True).stdout
    assert sign(body, SECRET) == base64.b64encode(digest).decode()


def test_verify_accepts_the_right_signature_and_tolerates_whitespace() -> None:
    assert verify(BODY, VECTOR, [SECRET])
    assert verify(BODY, f" {VECTOR} ", [SECRET])


@pytest.mark.parametrize("signature", [None, "", "not base64 at all", VECTOR[:-2] + "xx=",
                                       VECTOR.lower(), "\u00e9" * 44])
def test_verify_rejects_wrong_or_missing_signatures(signature: str | None) -> None:
    assert not verify(BODY, signature, [SECRET])


def test_verify_rejects_a_modified_body() -> None:
    assert not verify(BODY + b" ", VECTOR, [SECRET])


def test_verify_uses_constant_time_compare_for_every_secret() -> None:
    with mock.patch.object(ingest_hmac.hmac, "compare_digest", wraps=hmac.compare_digest) as spy:
        assert verify(BODY, VECTOR, [SECRET, "previous"])
    assert spy.call_count == 2  # no early exit once the first secret matched


def test_rotation_accepts_current_and_previous_secret_but_not_a_third() -> None:
    shop = ShopConfig(domain="a.myshopify.com", heartland_account="acct",
                      webhook_secret=Secret("new-secret"), previous_webhook_secret=Secret("old-secret"))
    secrets = shop_secrets(shop)
    assert secrets == ("new-secret", "old-secret")
    assert verify(BODY, sign(BODY, "new-secret"), secrets)
    assert verify(BODY, sign(BODY, "old-secret"), secrets)
    assert not verify(BODY, sign(BODY, "third-secret"), secrets)


def test_shop_without_secret_has_no_secrets_and_empty_secret_never_verifies() -> None:
    assert shop_secrets(ShopConfig(domain="a.myshopify.com", heartland_account="acct")) == ()
    assert shop_secrets(ShopConfig(domain="a", heartland_account="x", webhook_secret=Secret(""))) == ()
    assert not verify(BODY, sign(BODY, ""), [""])
