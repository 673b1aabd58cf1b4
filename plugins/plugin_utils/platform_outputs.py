"""Provisioning's outputs in SSM Parameter Store (docs/provisioning.md, "Where state lives").

playbooks/provision/outputs.yml writes them to one String parameter per environment
(/ideation/<env>/outputs) and to .cache/outputs/<env>.json; the inventories read them back as
platform_outputs. The rules of both sides are here: the parameter's value (compact JSON, held
to the Standard tier's 4 KB) and which source wins when reading (SSM; the local file only when
SSM gives nothing).
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

# SSM Parameter Store's Standard tier holds values of at most 4,096 characters (Advanced: 8 KB,
# charged per parameter and never downgradable). Prod's outputs are 2,120 characters.
STANDARD_TIER_LIMIT = 4096


def parameter_value(outputs: Mapping[str, Any], limit: int = STANDARD_TIER_LIMIT) -> str:
    """The outputs as the parameter's value: compact JSON with sorted keys (an unchanged
    environment gives the same text, so a second run changes nothing). Too long for the tier
    is an error naming the size, before the API refuses it with less to go on."""
    if not isinstance(outputs, Mapping) or not outputs.get("environment"):
        raise ValueError("the outputs must be a mapping with the environment's name")
    text = json.dumps(outputs, sort_keys=True, separators=(",", ":"), ensure_ascii=False)
    size = len(text)
    if size > limit:
        raise ValueError(
            f"the outputs of {outputs['environment']} are {size} characters of JSON, more than "
            f"the {limit} an SSM Standard parameter holds: split them, or move the parameter to "
            "the Advanced tier (docs/provisioning.md, 'Where state lives')"
        )
    return text


def _parse(text: str, source: str) -> dict[str, Any]:
    try:
        value = json.loads(text)
    except ValueError as exc:
        raise ValueError(f"{source} does not hold provisioning outputs (not JSON: {exc})") from None
    if not isinstance(value, dict):
        raise ValueError(f"{source} does not hold provisioning outputs (not a JSON object)")
    return value


def resolve(
    ssm_text: str | None,
    cache_text: str | None,
    *,
    environment: str,
    parameter: str,
    region: str,
    cache_file: str,
) -> tuple[dict[str, Any], str]:
    """The outputs and where they came from ("ssm" or "cache").

    SSM is the truth: every provisioning run writes it, and any checkout, AWX job or instance
    with credentials reads the same. The local file is only a fallback, for when SSM gives
    nothing (unreachable, access denied, or an environment provisioned before the parameter
    existed); with neither, the error says what to run."""
    if ssm_text:
        return _parse(ssm_text, f"SSM parameter {parameter}"), "ssm"
    if cache_text:
        return _parse(cache_text, cache_file), "cache"
    raise ValueError(
        f"No provisioning outputs for {environment}: SSM parameter {parameter} (region {region}) "
        f"is absent or could not be read (then a warning above says why), and there is no "
        f"local cache at {cache_file}. Run ansible-playbook "
        f"playbooks/provision.yml -i inventories/{environment} first (it writes both), or give "
        f"this run AWS credentials that may read the parameter."
    )
