"""A small evaluator of identity policies: does this policy allow this request?

Enough of IAM's logic to state least privilege as behaviour in tests (``instance_policies``):
Allow and Deny statements, ``Action`` and ``Resource`` with ``*`` and ``?`` wildcards, and the
condition operators the platform's policies use. Anything else (NotAction, NotResource, other
operators, policy variables) raises ``ValueError`` rather than guess. Not a replacement for
IAM's policy simulator: no resource policies, boundaries or SCPs.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

_SUPPORTED_KEYS = frozenset({"Sid", "Effect", "Action", "Resource", "Condition"})


def _pattern(glob: str, *, case: bool) -> re.Pattern[str]:
    """IAM's glob: ``*`` any run of characters, ``?`` one; everything else literal."""
    if "${" in glob:
        raise ValueError(f"policy variables are not supported: {glob}")
    body = "".join(".*" if c == "*" else "." if c == "?" else re.escape(c) for c in glob)
    return re.compile(body, 0 if case else re.IGNORECASE)


def glob_match(glob: str, value: str, *, case: bool = True) -> bool:
    """Whether ``value`` matches the IAM wildcard pattern ``glob``."""
    return _pattern(glob, case=case).fullmatch(value) is not None


def _listed(value: Any) -> list[str]:
    return [value] if isinstance(value, str) else list(value)


def _equals(pattern: str, value: str) -> bool:
    return pattern == value


def _like(pattern: str, value: str) -> bool:
    return glob_match(pattern, value)


_OPERATORS: dict[str, Callable[[str, str], bool]] = {
    "StringEquals": _equals,
    "StringLike": _like,
}


def _condition_holds(operator: str, key: str, expected: Any, context: Mapping[str, Any]) -> bool:
    qualifier, _colon, name = operator.rpartition(":")
    if name not in _OPERATORS:
        raise ValueError(f"condition operator {operator} is not supported")
    test = _OPERATORS[name]
    patterns = _listed(expected)
    present = key in context
    values = _listed(context[key]) if present else []
    if qualifier == "ForAllValues":
        # True when the request has no value for the key: pair with care (IAM's own rule).
        return all(any(test(p, v) for p in patterns) for v in values)
    if qualifier == "ForAnyValue":
        return any(test(p, v) for p in patterns for v in values)
    if qualifier:
        raise ValueError(f"condition qualifier {qualifier} is not supported")
    if not present or len(values) != 1:
        return False
    return any(test(p, values[0]) for p in patterns)


def _statement_matches(
    statement: Mapping[str, Any], action: str, resource: str, context: Mapping[str, Any]
) -> bool:
    unknown = set(statement) - _SUPPORTED_KEYS
    if unknown:
        raise ValueError(f"statement keys not supported: {', '.join(sorted(unknown))}")
    if not any(glob_match(a, action, case=False) for a in _listed(statement["Action"])):
        return False
    if not any(glob_match(r, resource) for r in _listed(statement["Resource"])):
        return False
    for operator, tests in statement.get("Condition", {}).items():
        for key, expected in tests.items():
            if not _condition_holds(operator, key, expected, context):
                return False
    return True


def allows(
    policies: Mapping[str, Any] | Sequence[Mapping[str, Any]],
    action: str,
    resource: str,
    context: Mapping[str, Any] | None = None,
) -> bool:
    """Whether the identity policies allow ``action`` on ``resource`` with request ``context``.

    An explicit Deny wins; otherwise some Allow must match; nothing matching means denied.
    """
    documents = [policies] if isinstance(policies, Mapping) else list(policies)
    context = context or {}
    allowed = False
    for document in documents:
        for statement in _listed_statements(document):
            if _statement_matches(statement, action, resource, context):
                if statement["Effect"] == "Deny":
                    return False
                allowed = allowed or statement["Effect"] == "Allow"
    return allowed


def _listed_statements(document: Mapping[str, Any]) -> list[Mapping[str, Any]]:
    statements = document["Statement"]
    return [statements] if isinstance(statements, Mapping) else list(statements)
