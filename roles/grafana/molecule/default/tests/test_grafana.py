"""Grafana's role without Grafana (it cannot run here): the user, directories, grafana.ini and
the provisioning files are what they should be; every dashboard parses, its data sources are
provisioned ones, its queries parse and read metrics that exist; bad inputs fail with the role's
messages and change nothing.

The dashboard checks are generic (molecule/shared/ideation_dashboards.py): every dashboard file,
every data source file and type; the metrics that exist are in metrics.yml beside this
file.
"""

from __future__ import annotations

import configparser
import hashlib
import json
import os
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml
from ideation_dashboards import problems, promql_rule_file
from ideation_testinfra import default_ipv4

testinfra_hosts = ["grafana-solo"]
SCENARIO = Path(os.environ["MOLECULE_SCENARIO_DIRECTORY"])
ROLE = SCENARIO.parents[1]
ROLE_DASHBOARDS = ROLE / "files" / "dashboards"
CATALOGUE = yaml.safe_load((SCENARIO / "tests" / "metrics.yml").read_text())
VARS = yaml.safe_load((SCENARIO / "molecule.yml").read_text())["provisioner"]["inventory"][
    "group_vars"
]["monitoring"]
PROVISIONING = "/etc/grafana/provisioning"
DASHBOARDS_DIR = "/var/lib/grafana/dashboards/ideation"  # the role's default
DATASOURCE_TYPES = {"prometheus", "cloudwatch"}


def _modes(host, *paths: str) -> dict[str, tuple[str, str, int, str]]:
    """(owner, group, mode, sha256 or "dir") of each path, in one command on the host."""
    script = (
        'for p in "$@"; do if [ -d "$p" ]; then s=dir; else s=$(sha256sum < "$p" | cut -c1-64); '
        'fi; echo "$(stat -c "%n %U %G %a" "$p") $s"; done'
    )
    result = host.run(f"sh -c '{script}' modes {' '.join(paths)}")
    assert result.rc == 0, result.stderr
    found = {}
    for line in result.stdout.splitlines():
        path, user, group, mode, digest = line.split()
        found[path] = (user, group, int(mode, 8), digest)
    return found


def _yaml_files(host, directory: str) -> dict[str, dict]:
    listing = host.run(f"find {directory} -maxdepth 1 -type f -name '*.y*ml'")
    assert listing.rc == 0, listing.stderr
    return {
        path: yaml.safe_load(host.file(path).content_string)
        for path in sorted(listing.stdout.split())
    }


@pytest.fixture(scope="module")
def datasources(host) -> list[dict]:
    """Every provisioned data source, of every file."""
    files = _yaml_files(host, f"{PROVISIONING}/datasources")
    assert files, "no data source file"
    found = []
    for path, content in files.items():
        assert content["apiVersion"] == 1, path
        found.extend(content["datasources"])
    return found


@pytest.fixture(scope="module")
def dashboards(host) -> dict[str, dict]:
    """Every installed dashboard, parsed, by file name."""
    listing = host.run(f"find {DASHBOARDS_DIR} -maxdepth 1 -type f -name '*.json'")
    assert listing.rc == 0, listing.stderr
    return {
        Path(path).name: json.loads(host.file(path).content_string)
        for path in sorted(listing.stdout.split())
    }


@pytest.fixture(scope="module")
def evidence(host) -> dict:
    return json.loads(host.file("/var/tmp/grafana-molecule.json").content_string)


def test_grafana_user_and_group_exist_as_the_package_makes_them(host):
    user = host.user("grafana")
    assert user.exists and user.group == "grafana"
    assert user.uid < 1000 and host.group("grafana").gid < 1000, "system user and group"
    assert (user.home, user.shell) == ("/usr/share/grafana", "/bin/false")
    assert not host.file("/usr/share/grafana").exists, "the role made no home directory"


def test_directories_belong_to_root_and_grafanas_group(host):
    directories = ["/etc/grafana", PROVISIONING, f"{PROVISIONING}/datasources",
                   f"{PROVISIONING}/dashboards", f"{PROVISIONING}/plugins",
                   f"{PROVISIONING}/alerting", DASHBOARDS_DIR]  # fmt: skip
    modes = _modes(host, *directories)
    assert modes == {path: ("root", "grafana", 0o755, "dir") for path in directories}


def test_grafana_ini_is_safe_and_readable_by_grafana_only(host):
    ini = host.file("/etc/grafana/grafana.ini")
    assert (ini.user, ini.group, ini.mode) == ("root", "grafana", 0o640)
    parser = configparser.ConfigParser(interpolation=None)
    parser.read_string(ini.content_string)
    assert parser["server"]["http_addr"] == default_ipv4(host)
    assert parser["server"]["http_port"] == "3000"
    assert parser["paths"]["provisioning"] == PROVISIONING
    assert parser["security"]["admin_password"] == f'"""{VARS["grafana_admin_password"]}"""'
    assert parser["security"]["secret_key"] == f'"""{VARS["grafana_secret_key"]}"""'
    assert parser["security"]["cookie_secure"] == "true"
    assert parser["security"]["cookie_samesite"] == "strict"
    assert parser["auth.anonymous"]["enabled"] == "false"
    assert parser["users"]["allow_sign_up"] == "false"
    assert parser["analytics"]["reporting_enabled"] == "false"


def test_the_admin_password_is_remembered_as_a_keyed_hash_only(host):
    marker = host.file("/etc/grafana/.admin-password.sha256")
    assert (marker.user, marker.mode) == ("root", 0o600)
    keyed = f"{VARS['grafana_secret_key']}:{VARS['grafana_admin_password']}"
    assert marker.content_string.strip() == hashlib.sha256(keyed.encode()).hexdigest()
    assert VARS["grafana_admin_password"] not in marker.content_string


def test_datasources_are_valid_and_one_is_the_default(host, datasources):
    for path, (user, group, mode, _digest) in _modes(
        host, *_yaml_files(host, f"{PROVISIONING}/datasources")
    ).items():
        assert (user, group, mode) == ("root", "grafana", 0o640), path
    names = [source["name"] for source in datasources]
    uids = [source["uid"] for source in datasources]
    assert len(set(names)) == len(names) and len(set(uids)) == len(uids), datasources
    assert [source.get("isDefault", False) for source in datasources].count(True) == 1
    for source in datasources:
        assert source["type"] in DATASOURCE_TYPES, f"{source['name']}: no check for its type"
        assert source.get("editable", False) is False, source["name"]  # provisioned only


def test_prometheus_datasources_point_at_the_monitoring_hosts(host, datasources):
    prometheus = [source for source in datasources if source["type"] == "prometheus"]
    assert prometheus == [
        {
            "name": "Prometheus grafana-solo",
            "uid": "prometheus-grafana-solo",
            "type": "prometheus",
            "access": "proxy",
            "url": f"http://{default_ipv4(host)}:9090",
            "isDefault": True,
            "editable": False,
            "jsonData": {"httpMethod": "POST", "timeInterval": "2s"},
        }
    ]


def test_cloudwatch_datasources_name_a_region_and_no_key_in_clear(datasources):
    for source in (s for s in datasources if s["type"] == "cloudwatch"):
        data = source.get("jsonData", {})
        assert data.get("defaultRegion"), source["name"]
        assert data.get("authType") in {
            "default",
            "ec2_iam_role",
            "keys",
            "credentials",
            "arn",
            "grafana_assume_role",
        }, source["name"]
        assert "secretKey" not in data and "accessKey" not in data, source["name"]


def test_the_dashboard_provider_reads_the_dashboards_directory(host):
    files = _yaml_files(host, f"{PROVISIONING}/dashboards")
    providers = [p for content in files.values() for p in content["providers"]]
    assert providers == [
        {
            "name": "ideation",
            "folder": "Ideation",
            "type": "file",
            "disableDeletion": True,
            "allowUiUpdates": False,
            "updateIntervalSeconds": 30,
            "options": {"path": DASHBOARDS_DIR, "foldersFromFilesStructure": False},
        }
    ]


def test_every_dashboard_of_the_role_is_installed_unchanged(host, dashboards):
    shipped = {path.name: path for path in ROLE_DASHBOARDS.glob("*.json")}
    assert set(dashboards) == set(shipped), "installed and shipped dashboards differ"
    modes = _modes(host, *(f"{DASHBOARDS_DIR}/{name}" for name in shipped))
    for name, path in shipped.items():
        digest = hashlib.sha256(path.read_bytes()).hexdigest()
        assert modes[f"{DASHBOARDS_DIR}/{name}"] == ("root", "grafana", 0o644, digest), name


def test_dashboards_have_unique_uids_and_titles(dashboards):
    uids = [d["uid"] for d in dashboards.values()]
    titles = [d["title"] for d in dashboards.values()]
    assert len(set(uids)) == len(uids) and len(set(titles)) == len(titles)
    assert {"System Health", "API Performance", "Database Performance", "Business Metrics"} <= set(
        titles
    )


def test_every_query_uses_a_provisioned_datasource_and_metrics_that_exist(dashboards, datasources):
    found = {name: problems(d, datasources, CATALOGUE) for name, d in dashboards.items()}
    assert not {name: p for name, p in found.items() if p}


def test_every_promql_expression_parses(dashboards, datasources, tmp_path):
    promtool = os.environ.get("PROMTOOL") or shutil.which("promtool")
    assert promtool, "promtool not found on the controller (Debian's prometheus package)"
    rule_file = promql_rule_file(list(dashboards.values()), datasources)
    assert len(rule_file["groups"][0]["rules"]) >= 40
    path = tmp_path / "dashboards.rules.yml"
    path.write_text(yaml.safe_dump(rule_file))
    result = subprocess.run(
        [promtool, "check", "rules", str(path)],
        capture_output=True,
        text=True,
        check=False,
        timeout=60,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_dashboard_checks_can_fail(datasources):
    """A panel on a metric nothing exports, one on a data source nobody provisioned and a
    CloudWatch metric AWS does not have are each reported."""
    dashboard = {
        "templating": {
            "list": [
                {"name": "datasource", "type": "datasource", "query": "prometheus"},
                {"name": "cw", "type": "datasource", "query": "cloudwatch"},
            ]
        },
        "panels": [
            {
                "title": "typo",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "targets": [{"refId": "A", "expr": "rate(http_request_total[5m])"}],
            },
            {
                "title": "elsewhere",
                "datasource": {"type": "prometheus", "uid": "nobody"},
                "targets": [{"refId": "A", "expr": "up"}],
            },
            {
                "title": "rds",
                "datasource": {"type": "prometheus", "uid": "${datasource}"},
                "targets": [
                    {
                        "refId": "A",
                        "datasource": {"type": "cloudwatch", "uid": "cw-x"},
                        "namespace": "AWS/RDS",
                        "metricName": "CPUUtilisation",
                    }
                ],
            },
        ],
    }
    sources = [*datasources, {"name": "CW", "uid": "cw-x", "type": "cloudwatch"}]
    found = problems(dashboard, sources, CATALOGUE)
    assert any("'http_request_total' is not in the catalogue" in p for p in found), found
    assert any("'nobody' is not provisioned" in p for p in found), found
    assert any("'CPUUtilisation' is not in the catalogue" in p for p in found), found
    assert len(found) == 3, found


@pytest.mark.parametrize(
    ("case", "task", "message"),
    [
        (
            "short_secret_key",
            "Check that the administrator password and the secret key are set",
            "grafana_secret_key (at least 16) must come from the environment's secrets",
        ),
        ("unknown_samesite", None, "grafana_cookie_samesite"),
    ],
)
def test_a_bad_input_fails_with_the_roles_message(evidence, case, task, message):
    failure = evidence["failures"][case]
    if task:
        assert failure["task"] == task, failure
    assert failure["task"] != "The play should not get here", failure
    assert message in failure["msg"], failure


def test_a_refused_input_changed_no_file(evidence):
    assert evidence["before"] == evidence["after"]
    assert all(evidence["before"]), "a rendered file is missing"
