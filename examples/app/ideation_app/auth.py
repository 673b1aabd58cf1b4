"""Who may call what. People: a bearer JWT (HS256) signed with JWT_SECRET, the platform's
jwt/secret in Secrets Manager; tokens are issued elsewhere (the identity side of the product), the
API only checks them. Machines (Prometheus on /metrics): the platform's api/key, API_KEY, sent as
the password of HTTP Basic auth (what Prometheus's basic_auth sends) or as an X-API-Key header."""

from __future__ import annotations

import base64
import binascii
import hmac
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


def presented_key(headers: Mapping[str, str]) -> str:
    """The API key a machine presents: X-API-Key, or the password of Basic auth."""
    if headers.get("X-API-Key"):
        return headers["X-API-Key"]
    scheme, _, encoded = headers.get("Authorization", "").partition(" ")
    if scheme.lower() != "basic":
        return ""
    try:
        decoded = base64.b64decode(encoded.strip(), validate=True).decode()
    except (binascii.Error, UnicodeDecodeError):
        return ""
    return decoded.partition(":")[2]


def machine_allowed(headers: Mapping[str, str], api_key: str) -> bool:
    """Whether the request presents the API key; never with no key configured. The comparison
    takes the same time wherever the presented key first differs."""
    presented = presented_key(headers)
    if not api_key or not presented:
        return False
    return hmac.compare_digest(presented.encode(), api_key.encode())
