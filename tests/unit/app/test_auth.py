"""Bearer JWTs (HS256 with the platform's jwt/secret): what passes and what is refused."""

import time

import pytest

jwt = pytest.importorskip("jwt")

from ideation_app.auth import UnauthorizedError, bearer_token, verify

SECRET = "s" * 64


def token(secret: str = SECRET, algorithm: str = "HS256", **claims) -> str:
    claims = {"sub": "alice", "exp": int(time.time()) + 300, **claims}
    return jwt.encode({k: v for k, v in claims.items() if v is not None}, secret,
                      algorithm=algorithm)


def test_a_signed_unexpired_token_gives_its_claims():
    assert verify(token(), SECRET)["sub"] == "alice"


# Tokens are made when each test runs, not when pytest collects: a collection minutes before a
# test (pytest-xdist) would have expired the "valid" ones.
@pytest.mark.parametrize(
    ("bad", "message"),
    [
        (lambda: token(secret="t" * 64), "not valid"),
        (lambda: token(exp=int(time.time()) - 120), "expired"),
        (lambda: token(exp=None), "not valid"),
        (lambda: token(sub=None), "not valid"),
        (lambda: token(sub=""), "not valid"),
        (lambda: token(algorithm="HS512"), "not valid"),
        (lambda: jwt.encode({"sub": "alice", "exp": int(time.time()) + 300}, None,
                            algorithm="none"), "not valid"),
        (lambda: "not.a.token", "not valid"),
    ],
    ids=["other-secret", "expired", "no-exp", "no-sub", "empty-sub", "hs512", "alg-none",
         "garbage"],
)
def test_bad_tokens_are_refused_with_a_safe_message(bad, message):
    with pytest.raises(UnauthorizedError, match=message):
        verify(bad(), SECRET)


def test_a_small_clock_skew_is_tolerated():
    assert verify(token(exp=int(time.time()) - 10), SECRET)["sub"] == "alice"


def test_no_secret_is_a_configuration_error_not_a_pass():
    with pytest.raises(ValueError, match="no JWT secret"):
        verify(token(), "")


@pytest.mark.parametrize("header", ["", "Basic abc", "Bearer", "Bearer   ", "Token abc"])
def test_the_authorization_header_must_be_a_bearer_token(header):
    with pytest.raises(UnauthorizedError, match="bearer token is required"):
        bearer_token({"Authorization": header} if header else {})


def test_the_bearer_scheme_is_case_insensitive():
    assert bearer_token({"Authorization": "bearer abc"}) == "abc"
