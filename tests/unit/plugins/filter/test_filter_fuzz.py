"""Fuzzed, the four filters answer or fail with AnsibleFilterError, never another exception,
and their messages quote at most a short prefix of what they were given."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from typing import Any

import pytest
from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.filter.cidr_subnet import cidr_subnet
from ansible_collections.ideation.platform.plugins.filter.sg_render import sg_render
from ansible_collections.ideation.platform.plugins.filter.sg_rules import sg_rules
from ansible_collections.ideation.platform.plugins.filter.subnet_plan import subnet_plan
from hypothesis import example, given
from hypothesis import strategies as st

# Strings that reach the parsers' corners: numbers in every notation, CIDR-like text.
texts = st.one_of(
    st.text(max_size=12),
    st.from_regex(r"[+-]?[0-9.]{0,6}([eE][+-]?[0-9]{1,25})?", fullmatch=True),
    st.from_regex(r"[0-9a-f:.]{0,20}/[0-9]{0,4}", fullmatch=True),
    st.sampled_from(["nan", "inf", "-inf", "1e99999999999999999999", "0x10", "all", "tcp"]),
)
scalars = st.one_of(
    st.none(),
    st.booleans(),
    st.integers(),
    st.floats(allow_nan=True, allow_infinity=True),
    texts,
)
values = st.recursive(
    scalars,
    lambda inner: st.one_of(
        st.lists(inner, max_size=4), st.dictionaries(st.one_of(texts, st.integers()), inner)
    ),
    max_leaves=12,
)
# Plausible matrices and tiers, so fuzzing reaches past the first type check.
entries = st.dictionaries(
    st.sampled_from(["from", "to", "proto", "ports", "desc", "why"]), values, max_size=4
)
matrices = st.fixed_dictionaries(
    {
        "groups": st.lists(
            st.fixed_dictionaries(
                {
                    "name": st.sampled_from(["a", "b"]),
                    "description": st.sampled_from(["x", "y"]),
                    "ingress": st.lists(entries, max_size=3),
                }
            ),
            min_size=1,
            max_size=2,
        )
    },
    optional={
        "named_cidrs": st.dictionaries(texts, values, max_size=2),
        "world": values,
        "limits": st.dictionaries(
            st.sampled_from(["max_open_share", "named_cidr_widest", "rules_per_group"]), values
        ),
    },
)
tiers = st.lists(
    st.dictionaries(st.sampled_from(["name", "prefix", "hosts", "offset"]), values), max_size=3
)


def _answers_or_filter_error(call: Callable[..., Any], *args: Any) -> None:
    with contextlib.suppress(AnsibleFilterError):
        call(*args)


@given(st.one_of(texts, values), st.one_of(texts, values), st.one_of(texts, values))
@example("10.0.0.0/8", "1e99999999999999999999", 1)
@example("10.0.0.0/8", 8, "1e-99999999999999999999")
@example("1e99999999999999999999", 8, 1)
def test_cidr_subnet(prefix: Any, newbits: Any, netnum: Any) -> None:
    _answers_or_filter_error(cidr_subnet, prefix, newbits, netnum)


@given(st.one_of(texts, values), st.one_of(tiers, values), st.one_of(values, st.lists(texts)))
def test_subnet_plan(vpc: Any, tier_specs: Any, zones: Any) -> None:
    _answers_or_filter_error(subnet_plan, vpc, tier_specs, zones)


@given(st.one_of(matrices, values), st.one_of(texts, values))
def test_sg_rules_and_sg_render(matrix: Any, prefix: Any) -> None:
    _answers_or_filter_error(sg_rules, matrix, prefix)
    _answers_or_filter_error(sg_render, matrix, "dot", "T", prefix)


def test_cidr_subnet_huge_exponent_is_the_filters_error() -> None:
    with pytest.raises(AnsibleFilterError, match="netnum must be a whole number"):
        cidr_subnet("10.0.0.0/8", 8, "1e99999999999999999999")


LONG = "s3cr3t" * 2000  # a secret pasted into the wrong variable, or megabytes of data


@pytest.mark.parametrize(
    ("call", "args"),
    [
        (cidr_subnet, (LONG, 8, 1)),
        (cidr_subnet, ("10.0.0.0/8", LONG, 1)),
        (cidr_subnet, ("10.0.0.0/8", 8, [LONG])),
        (subnet_plan, (LONG, [], ["a"])),
        (subnet_plan, ("10.0.0.0/16", [{"name": LONG, "prefix": 24}] * 2, ["a"])),
        (subnet_plan, ("10.0.0.0/16", [{"name": "t", "prefix": LONG}], ["a"])),
        (subnet_plan, ("10.0.0.0/16", [{"name": "t", LONG: 1}], ["a"])),
        (subnet_plan, ("10.0.0.0/16", [{"name": "t", "prefix": 24}], [LONG, LONG])),
        (sg_rules, ({LONG: 1},)),
        (sg_rules, ([LONG],)),
        (sg_rules, ({"groups": [{"name": "a", "description": LONG}]},)),
        (sg_rules, ({"groups": [{"name": "a", "description": "a", "ingress": [LONG]}]},)),
        (sg_rules, ({"named_cidrs": {"x": LONG}, "groups": [{"name": "a", "description": "a"}]},)),
        (sg_rules, ({"named_cidrs": {LONG: "10.0.0.0/8"}, "groups": [{"name": "a"}]},)),
        (
            sg_rules,
            (
                {
                    "named_cidrs": {LONG: "10.0.0.0/32"},
                    "groups": [{"name": "a", "description": "a", "ingress": [{"from": "x"}]}],
                },
            ),
        ),
        (sg_render, ({"groups": [{"name": "a", "description": "a"}]}, LONG)),
    ],
)
def test_messages_quote_only_a_short_prefix(call: Callable[..., Any], args: tuple[Any]) -> None:
    with pytest.raises(AnsibleFilterError) as caught:
        call(*args)
    message = str(caught.value)
    assert "s3cr3t" * 8 not in message, message[:300]
    assert len(message) < 500, message[:300]
