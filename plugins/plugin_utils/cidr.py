"""Terraform's ``cidrsubnet()`` in pure Python: same parser, same results, same rejections.

Terraform (internal/lang/funcs/cidr.go) parses the prefix with its own copy of the pre-Go-1.17
``net.ParseCIDR`` (internal/ipaddr) and computes the subnet with go-cidr's ``SubnetBig``. This
module reproduces both, because Python's ``ipaddress`` parses differently: it rejects leading
zeros (``010.0.0.0/8`` is 10.0.0.0/8 to Terraform), accepts scope ids and netmask suffixes
(``10.0.0.0/255.0.0.0``) that Terraform rejects, and prints IPv4-mapped IPv6 results differently.
``ipaddress`` is still used to print IPv6 addresses (its RFC 5952 form is Go's).

Deliberate difference: Terraform has no check for negative ``newbits``/``netnum`` or for a
``netnum`` of 2**64 or more, and returns wrong subnets for them (hashicorp/terraform#17724,
#30654: e.g. ``cidrsubnet("10.0.0.0/16", 8, -1)`` is ``0.0.1.0/24``). Those are rejected here.
No Ansible import: the filter wrapper turns ``ValueError`` into ``AnsibleFilterError``.
"""

from __future__ import annotations

import ipaddress
import re
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation

from ansible_collections.ideation.platform.plugins.plugin_utils.echo import clip, echo

_BIG = 0xFFFFFF  # Go's parser gives up on any decimal or hex component reaching this value
_HEX = "0123456789abcdefABCDEF"
# Terraform turns a string argument into a number with Go's decimal float syntax (cty)
_NUMBER = re.compile(r"[+-]?(?:[0-9]+\.?[0-9]*|\.[0-9]+)(?:[eE][+-]?[0-9]+)?")
_V4_MAPPED = 0xFFFF << 32
_V4_MAPPED_MASK = ((1 << 96) - 1) << 32


@dataclass(frozen=True)
class Prefix:
    """A parsed prefix: network address as an integer, prefix length and address width."""

    value: int
    length: int
    bits: int  # 32 for IPv4, 128 for IPv6 (IPv4-mapped IPv6 included, as in Go)


def _dtoi(text: str) -> tuple[int, int, bool]:
    """Go's dtoi: leading decimal number, characters consumed, success."""
    number = 0
    index = 0
    while index < len(text) and "0" <= text[index] <= "9":
        number = number * 10 + ord(text[index]) - ord("0")
        if number >= _BIG:
            return _BIG, index, False
        index += 1
    if index == 0:
        return 0, 0, False
    return number, index, True


def _xtoi(text: str) -> tuple[int, int, bool]:
    """Go's xtoi: leading hexadecimal number, characters consumed, success."""
    number = 0
    index = 0
    while index < len(text) and text[index] in _HEX:
        number = number * 16 + int(text[index], 16)
        if number >= _BIG:
            return 0, index, False
        index += 1
    if index == 0:
        return 0, 0, False
    return number, index, True


def parse_ipv4(text: str) -> int | None:
    """Dotted quad to integer, leading zeros read as decimal (Terraform's pre-Go-1.17 rule)."""
    value = 0
    for octet_index in range(4):
        if not text:
            return None
        if octet_index > 0:
            if text[0] != ".":
                return None
            text = text[1:]
        number, consumed, ok = _dtoi(text)
        if not ok or number > 0xFF:
            return None
        text = text[consumed:]
        value = value << 8 | number
    return None if text else value


def _expand_ellipsis(groups: list[int], filled: int, ellipsis: int) -> list[int]:
    """Move the bytes after '::' to the end of the 16-byte address, zeros in between."""
    shift = 16 - filled
    return groups[:ellipsis] + [0] * shift + groups[ellipsis:filled]


def parse_ipv6(text: str) -> int | None:
    """RFC 4291 text to integer, exactly as Go's pre-1.17 parseIPv6 (with its leniencies)."""
    octets = [0] * 16
    ellipsis = -1
    if text.startswith("::"):
        ellipsis = 0
        text = text[2:]
        if not text:
            return 0
    index = 0
    while index < 16:
        number, consumed, ok = _xtoi(text)
        if not ok or number > 0xFFFF:
            return None
        if consumed < len(text) and text[consumed] == ".":
            if (ellipsis < 0 and index != 12) or index + 4 > 16:
                return None
            embedded = parse_ipv4(text)
            if embedded is None:
                return None
            octets[index : index + 4] = list(embedded.to_bytes(4, "big"))
            text = ""
            index += 4
            break
        octets[index] = number >> 8
        octets[index + 1] = number & 0xFF
        index += 2
        text = text[consumed:]
        if not text:
            break
        if text[0] != ":" or len(text) == 1:
            return None
        text = text[1:]
        if text[0] == ":":
            if ellipsis >= 0:
                return None
            ellipsis = index
            text = text[1:]
            if not text:
                break
    if text:
        return None
    if index < 16:
        if ellipsis < 0:
            return None
        octets = _expand_ellipsis(octets, index, ellipsis)
    elif ellipsis >= 0:
        return None  # '::' must stand for at least one zero group
    return int.from_bytes(bytes(octets), "big")


def parse_prefix(text: str) -> Prefix:
    """Parse ``address/length`` like Terraform's ``ipaddr.ParseCIDR``; host bits are cleared."""
    if not isinstance(text, str) or "/" not in text:
        raise ValueError(f"invalid CIDR expression: invalid CIDR address: {clip(str(text))}")
    address, _slash, length_text = text.partition("/")
    bits = 32
    value = parse_ipv4(address)
    if value is None:
        bits = 128
        value = parse_ipv6(address)
    length, consumed, ok = _dtoi(length_text)
    if value is None or not ok or consumed != len(length_text) or length > bits:
        raise ValueError(f"invalid CIDR expression: invalid CIDR address: {clip(str(text))}")
    host_mask = (1 << (bits - length)) - 1
    return Prefix(value & ~host_mask, length, bits)


def format_prefix(value: int, length: int, bits: int) -> str:
    """Print a network as Go's ``IPNet.String()`` does: IPv4-mapped IPv6 comes out as IPv4."""
    if bits == 32:
        return f"{ipaddress.IPv4Address(value)}/{length}"
    if value & _V4_MAPPED_MASK == _V4_MAPPED:
        return f"{ipaddress.IPv4Address(value & 0xFFFFFFFF)}/{length - 96}"
    return f"{ipaddress.IPv6Address(value).compressed}/{length}"


def _whole_from_text(text: str) -> int | None:
    """``"8"``, ``"+8"``, ``"8.0"``, ``"1e1"`` to an int; None if not a whole number."""
    if not _NUMBER.fullmatch(text):
        return None
    try:
        number = Decimal(text)
        if number.adjusted() > 40:  # beyond any netnum an IPv6 prefix can take (2**128 ~ 3e38)
            return None
        # an exponent beyond decimal's context (1e99999999999999999999) raises here
        return int(number) if number == number.to_integral_value() else None
    except InvalidOperation:
        return None


def as_integer(value: object, what: str) -> int:
    """Accept an int, an integral float or a numeric string: Terraform converts those too."""
    whole: int | None = None
    if isinstance(value, int) and not isinstance(value, bool):
        whole = int(value)
    elif isinstance(value, float):
        whole = int(value) if value.is_integer() else None
    elif isinstance(value, str):
        whole = _whole_from_text(value)
    if whole is None:
        raise ValueError(f"{what} must be a whole number, got {echo(value)}")
    return whole


def cidr_subnet(prefix: str, newbits: object, netnum: object) -> str:
    """Subnet number ``netnum`` of ``prefix`` extended by ``newbits`` bits (``cidrsubnet``)."""
    extra = as_integer(newbits, "newbits")
    number = as_integer(netnum, "netnum")
    if extra < 0:
        raise ValueError(f"newbits must not be negative, got {extra}")
    if number < 0:
        raise ValueError(f"netnum must not be negative, got {number}")
    parent = parse_prefix(prefix)
    new_length = parent.length + extra
    if new_length > parent.bits:
        raise ValueError(
            f"insufficient address space to extend prefix of {parent.length} by {extra}"
        )
    if number >> extra:
        raise ValueError(
            f"prefix extension of {extra} does not accommodate a subnet numbered {number}"
        )
    value = parent.value | number << (parent.bits - new_length)
    return format_prefix(value, new_length, parent.bits)
