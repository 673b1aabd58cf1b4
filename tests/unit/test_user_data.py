"""The launch templates' user data (playbooks/provision/templates/user-data.yml.j2, docs/boot.md):
cloud-config that writes boot.py and its config and runs it; within EC2's limit, no secret."""

from __future__ import annotations

import base64
import json
from pathlib import Path

import pytest
import yaml
from ansible.errors import AnsibleFilterError
from ansible_collections.ideation.platform.plugins.filter.user_data import user_data
from ansible_collections.ideation.platform.plugins.plugin_utils.user_data import (
    USER_DATA_LIMIT,
    decode_user_data,
)

REPO = Path(__file__).resolve().parents[2]


def test_user_data_fits_ec2s_limit_and_carries_no_secret():
    """The rendered user data for prod: cloud-config with boot.py and its config, under 16 KB."""
    from ansible.parsing.dataloader import DataLoader
    from ansible.template import Templar, trust_as_template

    loader = DataLoader()
    template = REPO / "playbooks/provision/templates/user-data.yml.j2"
    variables = {
        "platform_environment": "prod",
        "item": {"key": "api"},
        "_aws_boot_script": str(REPO / "plugins/plugin_utils/boot.py"),
        "_aws_boot_config": {
            "environment": "prod",
            "name_prefix": "ideation-prod",
            "release_parameter": "/ideation/prod/release/current",
            "artifacts_bucket": "ideation-prod-artifacts",
            "endpoint_url": None,
        },
    }
    text = Templar(loader=loader, variables=variables).template(
        trust_as_template(template.read_text())
    )
    assert text.startswith("#cloud-config\n")
    data = yaml.safe_load(text)
    encoded = user_data(text)
    assert len(base64.b64decode(encoded)) <= 16384  # EC2's limit, before base64
    assert decode_user_data(encoded) == text
    assert encoded == user_data(text)  # the same template version on every run
    files = {f["path"]: f for f in data["write_files"]}
    script = files["/usr/local/lib/ideation/boot.py"]["content"]
    assert script == (REPO / "plugins/plugin_utils/boot.py").read_text()
    assert json.loads(files["/etc/ideation/boot.json"]["content"]) == variables["_aws_boot_config"]
    assert data["runcmd"] == [
        ["systemctl", "enable", "--now", "ideation-lifecycle.service"],
        ["python3", "/usr/local/lib/ideation/boot.py", "--config", "/etc/ideation/boot.json"],
    ]
    unit = files["/etc/systemd/system/ideation-lifecycle.service"]["content"]
    assert "boot.py --config /etc/ideation/boot.json --watch\n" in unit
    # Only where releases are kept: nothing a secret could hide in.
    assert set(variables["_aws_boot_config"]) <= {
        "environment",
        "name_prefix",
        "release_parameter",
        "artifacts_bucket",
        "endpoint_url",
    }


def test_user_data_over_ec2s_limit_is_refused_with_its_size():
    incompressible = "".join(f"{i:x}{i * 7919 % 65521:x}" for i in range(6000))
    with pytest.raises(
        AnsibleFilterError,
        match=rf"ideation.platform.user_data: user data is "
        rf"\d+ bytes compressed, over EC2's limit of {USER_DATA_LIMIT}",
    ):
        user_data(incompressible)


def test_empty_user_data_is_refused():
    with pytest.raises(AnsibleFilterError, match="must be a non-empty text"):
        user_data("  ")
