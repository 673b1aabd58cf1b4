"""cidr_subnet against Terraform's own test table, Go's parser rules, and ipaddress as oracle."""

from __future__ import annotations

import ipaddress
import itertools
import re
from typing import Any

import pytest
from ansible_collections.ideation.platform.plugins.plugin_utils.cidr import (
    cidr_subnet,
    parse_prefix,
)
from hypothesis import assume, example, given
from hypothesis import strategies as st

# hashicorp/terraform internal/lang/funcs/cidr_test.go, TestCidrSubnet: (prefix, newbits, netnum)
TERRAFORM_OK = [
    ("192.168.2.0/20", 4, 6, "192.168.6.0/24"),
    ("fe80::/48", 16, 6, "fe80:0:0:6::/64"),
    ("::ffff:192.168.0.0/112", 8, 6, "192.168.6.0/24"),  # IPv4-mapped comes out as IPv4
    ("fe80::/48", 33, 6, "fe80::3:0:0:0/81"),
    ("010.001.0.0/24", 4, 1, "10.1.0.16/28"),  # leading zeros are decimal, not octal
]
TERRAFORM_ERRORS = [
    ("192.168.0.0/30", 4, 6),  # not enough bits left
    ("192.168.0.0/168", 2, 16),  # prefix length longer than the address
    ("not-a-cidr", 4, 6),
    ("10.256.0.0/8", 4, 6),  # octet > 255
    ("10.256.0.0/8", 2 / 3, 0.75),  # fractions
]


@pytest.mark.parametrize(("prefix", "newbits", "netnum", "expected"), TERRAFORM_OK)
def test_terraform_examples(prefix: str, newbits: int, netnum: int, expected: str) -> None:
    assert cidr_subnet(prefix, newbits, netnum) == expected


@pytest.mark.parametrize(("prefix", "newbits", "netnum"), TERRAFORM_ERRORS)
def test_terraform_rejections(prefix: str, newbits: object, netnum: object) -> None:
    with pytest.raises(ValueError):
        cidr_subnet(prefix, newbits, netnum)


@pytest.mark.parametrize(
    ("prefix", "newbits", "netnum", "expected"),
    [
        ("10.0.0.5/16", 8, 1, "10.0.1.0/24"),  # host bits are dropped, as Go's ParseCIDR does
        ("10.0.0.0/16", 0, 0, "10.0.0.0/16"),
        ("0.0.0.0/0", 32, 2**32 - 1, "255.255.255.255/32"),
        ("::/0", 128, 2**128 - 1, "ffff:ffff:ffff:ffff:ffff:ffff:ffff:ffff/128"),
        ("::/0", 0, 0, "::/0"),
        ("::ffff:0:0/96", 0, 0, "0.0.0.0/0"),  # Go prints a mapped network as IPv4, prefix - 96
        ("::ffff:10.0.0.0/104", 8, 3, "10.3.0.0/16"),
        ("::/80", 16, 0xFFFF, "0.0.0.0/0"),  # the result lands in the mapped range
        ("00000001::/16", 0, 0, "1::/16"),  # Go allowed leading zeros in hex groups too
        ("1:2:3:4:5:6:7::/128", 0, 0, "1:2:3:4:5:6:7:0/128"),
        ("::1.2.3.4/128", 0, 0, "::102:304/128"),  # only mapped addresses print as IPv4
        ("10.0.0.0/0016", 8, 1, "10.0.1.0/24"),  # leading zeros in the prefix length
        ("2001:DB8::/32", 32, 1, "2001:db8:0:1::/64"),  # lower-case output
        ("10.0.0.0/16", "8", "3", "10.0.3.0/24"),  # numeric strings convert, as in Terraform
        ("10.0.0.0/16", "+8", "3.0", "10.0.3.0/24"),
        ("10.0.0.0/16", "0.8e1", "30e-1", "10.0.3.0/24"),
        ("10.0.0.0/16", 8.0, 3.0, "10.0.3.0/24"),
    ],
)
def test_go_semantics(prefix: str, newbits: object, netnum: object, expected: str) -> None:
    assert cidr_subnet(prefix, newbits, netnum) == expected


@pytest.mark.parametrize(
    ("prefix", "newbits", "netnum", "message"),
    [
        ("10.0.0.0", 8, 0, "invalid CIDR address: 10.0.0.0"),
        ("10.0.0.0/33", 0, 0, "invalid CIDR address"),
        ("::/129", 0, 0, "invalid CIDR address"),
        ("10.0.0.0/", 0, 0, "invalid CIDR address"),
        ("/8", 0, 0, "invalid CIDR address"),
        ("10.0.0.0/8/8", 0, 0, "invalid CIDR address"),
        ("10.0.0.0/+8", 0, 0, "invalid CIDR address"),
        ("10.0.0.0/ 8", 0, 0, "invalid CIDR address"),
        (" 10.0.0.0/8", 0, 0, "invalid CIDR address"),
        ("10.0.0.0/255.0.0.0", 0, 0, "invalid CIDR address"),  # ipaddress would take it
        ("fe80::%eth0/64", 0, 0, "invalid CIDR address"),  # ipaddress would take it
        ("1.2.3/24", 0, 0, "invalid CIDR address"),
        ("1.2.3.4.5/24", 0, 0, "invalid CIDR address"),
        ("1::2::3/64", 0, 0, "invalid CIDR address"),
        ("1:2:3:4:5:6:7:8::/64", 0, 0, "invalid CIDR address"),
        ("12345::/16", 0, 0, "invalid CIDR address"),
        ("1:2:3:4:5:6::1.2.3.4/64", 0, 0, "invalid CIDR address"),
        ("10.0.0.0/30", 3, 0, "insufficient address space to extend prefix of 30 by 3"),
        ("::/64", 65, 0, "insufficient address space to extend prefix of 64 by 65"),
        ("10.0.0.0/16", 8, 256, "prefix extension of 8 does not accommodate a subnet numbered 256"),
        ("::/0", 64, 2**64, "prefix extension of 64 does not accommodate"),  # Go: 17-byte panic
        ("::/8", 65, 2**65 + 1, "prefix extension of 65"),  # Go: wrong subnet (uint64 check)
        ("10.0.0.0/16", -8, 0, "newbits must not be negative"),  # Go: garbage (terraform#17724)
        ("10.0.0.0/16", 8, -1, "netnum must not be negative"),  # Go: 0.0.1.0/24
        ("10.0.0.0/16", True, 0, "newbits must be a whole number"),
        ("10.0.0.0/16", " 8", 0, "newbits must be a whole number"),
        ("10.0.0.0/16", "8", "1_0", "netnum must be a whole number"),
        ("10.0.0.0/16", "8", "2.5", "netnum must be a whole number"),
        ("10.0.0.0/16", "8", "1e400", "netnum must be a whole number"),
        ("10.0.0.0/16", "8", "Inf", "netnum must be a whole number"),
        ("10.0.0.0/16", 8, "one", "netnum must be a whole number"),
        ("10.0.0.0/16", 8, 1.5, "netnum must be a whole number"),
        (None, 8, 1, "invalid CIDR expression"),
    ],
)
def test_rejections(
    prefix: object, newbits: object, netnum: object, message: str, rejected_by_filter: Any
) -> None:
    with pytest.raises(ValueError, match=re.escape(message)):
        cidr_subnet(prefix, newbits, netnum)  # type: ignore[arg-type]
    rejected_by_filter(message, "cidr_subnet", prefix, newbits, netnum)


@st.composite
def subnet_inputs(draw: st.DrawFn) -> tuple[ipaddress._BaseNetwork, int, int]:
    """A canonical parent network, newbits that fit, and a netnum in range."""
    version = draw(st.sampled_from([4, 6]))
    bits = 32 if version == 4 else 128
    length = draw(st.integers(0, bits))
    address = draw(st.integers(0, 2**bits - 1))
    kind = ipaddress.IPv4Network if version == 4 else ipaddress.IPv6Network
    network = kind((address, length), strict=False)
    newbits = draw(st.integers(0, bits - length))
    netnum = draw(st.integers(0, 2**newbits - 1))
    return network, newbits, netnum


def _printed_as_ipv4(network: ipaddress._BaseNetwork, text: str) -> bool:
    """Go prints an IPv4-mapped IPv6 result as IPv4; tested on its own below."""
    return network.version == 6 and ":" not in text


@given(subnet_inputs())
def test_matches_ipaddress_arithmetic(case: tuple[ipaddress._BaseNetwork, int, int]) -> None:
    network, newbits, netnum = case
    text = cidr_subnet(str(network), newbits, netnum)
    assume(not _printed_as_ipv4(network, text))
    result = ipaddress.ip_network(text)  # strict: no host bits in the answer
    assert result.prefixlen == network.prefixlen + newbits
    assert result.subnet_of(network)  # type: ignore[arg-type]
    offset = int(result.network_address) - int(network.network_address)
    assert offset == netnum * result.num_addresses
    assert text == str(result)  # canonical, as Go prints it


@given(subnet_inputs())
def test_small_splits_equal_ipaddress_subnets(
    case: tuple[ipaddress._BaseNetwork, int, int],
) -> None:
    network, newbits, netnum = case
    assume(newbits <= 10)
    text = cidr_subnet(str(network), newbits, netnum)
    assume(not _printed_as_ipv4(network, text))
    subnets = network.subnets(new_prefix=network.prefixlen + newbits)
    assert text == str(next(itertools.islice(subnets, netnum, None)))


@given(st.integers(0, 2**32 - 1), st.integers(0, 32), st.data())
def test_mapped_ipv6_behaves_as_ipv4(address: int, length: int, data: st.DataObject) -> None:
    """``::ffff:a.b.c.d/96+n`` gives the IPv4 answer for ``a.b.c.d/n``, printed as IPv4."""
    newbits = data.draw(st.integers(0, 32 - length))
    netnum = data.draw(st.integers(0, 2**newbits - 1))
    v4 = ipaddress.IPv4Network((address, length), strict=False)
    mapped = f"::ffff:{v4.network_address}/{96 + length}"
    assert cidr_subnet(mapped, newbits, netnum) == cidr_subnet(str(v4), newbits, netnum)


@given(st.integers(0, 2**32 - 1), st.integers(0, 32), st.integers(0, 2**32 - 1))
def test_host_bits_are_ignored(address: int, length: int, host: int) -> None:
    network = ipaddress.IPv4Network((address, length), strict=False)
    noisy = ipaddress.IPv4Address(int(network.network_address) | host % network.num_addresses)
    assert cidr_subnet(f"{noisy}/{length}", 0, 0) == str(network)


# Strings close to CIDRs, to compare Go's parser with Python's. Python is stricter in one way
# only: it refuses leading zeros (in IPv4 octets and in IPv6 groups longer than 4 digits).
_PIECES = st.sampled_from(
    ["0", "00", "01", "1", "10", "255", "256", "0255", "ff", "FFFF", "0ffff", "10000", "a", "g"]
)
_SEPARATORS = st.sampled_from([".", ".", ":", ":", "::", ""])


@st.composite
def near_cidrs(draw: st.DrawFn) -> str:
    pieces = draw(st.lists(st.tuples(_PIECES, _SEPARATORS), min_size=1, max_size=10))
    address = "".join(piece + separator for piece, separator in pieces)
    address = draw(st.sampled_from(["", "::"])) + address
    length = draw(st.sampled_from(["0", "8", "24", "32", "033", "64", "96", "128", "129", ""]))
    return f"{address}/{length}"


def _strip_leading_zeros(text: str) -> str:
    return re.sub(r"(?<![0-9A-Fa-f])0+(?=[0-9A-Fa-f])", "", text)


@given(near_cidrs())
@example("1.2.3.4/24")
@example("010.0.0.1/8")
@example("::ffff:1.2.3.4/120")
@example("0001:2::/32")
@example("1:2:3:4:5:6:7::/128")
@example("::1:2:3:4:5:6:7/128")
def test_parser_agrees_with_ipaddress_up_to_leading_zeros(text: str) -> None:
    """Go accepts a string exactly when Python accepts it with leading zeros removed."""
    try:
        python = ipaddress.ip_network(_strip_leading_zeros(text), strict=False)
    except ValueError:
        python = None
    try:
        parsed = parse_prefix(text)
    except ValueError:
        parsed = None
    assert (parsed is None) == (python is None), (text, parsed, python)
    if parsed is not None and python is not None:
        assert (parsed.value, parsed.length) == (int(python.network_address), python.prefixlen)
        assert parsed.bits == python.max_prefixlen
