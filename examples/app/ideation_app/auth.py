"""Who may call the authenticated endpoints: a bearer JWT (HS256) signed with JWT_SECRET, the
platform's jwt/secret in Secrets Manager. Tokens are issued elsewhere (the identity side of the
product); the API only checks them."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import jwt

ALGORITHMS = ["HS256"]  # never taken from the token's header: "none" and RS/HS confusion stay out
LEEWAY_SECONDS = 30  # clock skew between the issuer and the API hosts
REQUIRED_CLAIMS = ["exp", "sub"]


class UnauthorizedError(Exception):
    """The request carries no valid token; the message is safe to show the client."""


def bearer_token(headers: Mapping[str, str]) -> str:
    """The token of an `Authorization: Bearer <token>` header."""
    scheme, _, token = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "bearer" or not token.strip():
        raise UnauthorizedError("a bearer token is required")
    return token.strip()


def verify(token: str, secret: str) -> dict[str, Any]:
    """The claims of a token signed with the secret, unexpired and naming its subject. PyJWT
    compares the signature in constant time (hmac.compare_digest)."""
    if not secret:
        raise ValueError("no JWT secret configured")
    try:
        claims = jwt.decode(
            token,
            secret,
            algorithms=ALGORITHMS,
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError:
        raise UnauthorizedError("the token has expired") from None
    except jwt.InvalidTokenError:
        raise UnauthorizedError("the token is not valid") from None
    if not isinstance(claims.get("sub"), str) or not claims["sub"]:
        raise UnauthorizedError("the token is not valid")
    return claims
