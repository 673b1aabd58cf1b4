"""The Prometheus configuration the role renders for EC2 discovery passes promtool, and has the
jobs, labels and Alertmanager discovery the design asks for.

EC2 discovery cannot run in this project's tests (no EC2 API reachable from the monitoring
containers), so this is where its configuration is checked: rendered by Ansible with the role's
defaults, then `promtool check config` with the rendered rule file beside it.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml

CONFIG = "etc/prometheus/prometheus.yml.j2"
RULES = "etc/prometheus/rules/ideation.rules.yml.j2"
FACTS = {
    "inventory_hostname": "ip-10-0-10-7",
    "platform_environment": "prod",
    "platform_domain": "ideation.example.com",
    "platform_cache_domain": "cache.ideation.example.com",
    "aws_region": "us-east-1",
}


@pytest.fixture
def ec2_config(render_role_template, promtool, tmp_path) -> dict:
    text = render_role_template("prometheus", CONFIG, **FACTS)
    (tmp_path / "prometheus.yml").write_text(text)
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "ideation.rules.yml").write_text(
        render_role_template("prometheus", RULES, brackets=True, **FACTS)
    )
    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "1 rule files found" in result.stdout + result.stderr
    return yaml.safe_load(text)


def _jobs(config: dict) -> dict[str, dict]:
    return {job["job_name"]: job for job in config["scrape_configs"]}


def test_global_settings_follow_the_design(ec2_config):
    assert ec2_config["global"]["scrape_interval"] == "15s"
    labels = ec2_config["global"]["external_labels"]
    assert labels == {"environment": "prod", "replica": "ip-10-0-10-7"}


def test_every_tier_is_found_by_its_role_and_environment_tags(ec2_config):
    expected = {
        "node": (["nginx", "api", "celery", "monitoring", "bastion"], 9100),
        "nginx": (["nginx"], 9113),
        "nginx_log": (["nginx"], 3903),
        "pgbouncer": (["api", "celery"], 9127),
        "api": (["api"], 8000),
        "celery": (["celery"], 5555),
        "prometheus": (["monitoring"], 9090),
        "alertmanager": (["monitoring"], 9093),
    }
    jobs = _jobs(ec2_config)
    for name, (roles, port) in expected.items():
        (sd,) = jobs[name]["ec2_sd_configs"]
        assert sd["region"] == "us-east-1"
        assert sd["port"] == port
        filters = {f["name"]: f["values"] for f in sd["filters"]}
        assert filters == {
            "tag:Environment": ["prod"], "tag:Role": roles, "instance-state-name": ["running"],
        }  # fmt: skip
        relabels = {r["target_label"]: r["source_labels"] for r in jobs[name]["relabel_configs"]}
        assert relabels == {"role": ["__meta_ec2_tag_Role"], "host": ["__meta_ec2_instance_id"]}
    assert jobs["api"]["metrics_path"] == "/metrics"


def test_the_site_is_probed_through_the_local_blackbox_exporter(ec2_config):
    job = _jobs(ec2_config)["blackbox"]
    assert job["static_configs"] == [{"targets": ["https://ideation.example.com/health"]}]
    to_exporter = {"target_label": "__address__", "replacement": "127.0.0.1:9115"}
    assert to_exporter in job["relabel_configs"]


def test_redis_is_scraped_through_the_local_exporter(ec2_config):
    job = _jobs(ec2_config)["redis"]
    assert job["static_configs"][0]["targets"] == ["127.0.0.1:9121"]
    assert job["static_configs"][0]["labels"] == {"redis": "cache.ideation.example.com:6379"}


def test_alerts_reach_every_alertmanager_without_the_replica_label(ec2_config):
    alerting = ec2_config["alerting"]
    assert alerting["alert_relabel_configs"] == [{"action": "labeldrop", "regex": "replica"}]
    (managers,) = alerting["alertmanagers"]
    (sd,) = managers["ec2_sd_configs"]
    assert sd["port"] == 9093
    assert {"name": "tag:Role", "values": ["monitoring"]} in sd["filters"]


def test_a_moto_endpoint_and_basic_auth_render_valid_config(
    render_role_template, promtool, tmp_path: Path
):
    jobs = [{"name": "celery", "roles": ["celery"], "port": 5555, "metrics_path": "/metrics",
             "basic_auth_username": "prometheus", "basic_auth_password": "secret"}]  # fmt: skip
    text = render_role_template(
        "prometheus", CONFIG, prometheus_ec2_endpoint="http://127.0.0.1:5000",
        prometheus_scrape_jobs=jobs, prometheus_alert_rules_enabled=False, **FACTS,
    )  # fmt: skip
    (tmp_path / "prometheus.yml").write_text(text)
    result = promtool("check", "config", "prometheus.yml", cwd=tmp_path)
    assert result.returncode == 0, result.stdout + result.stderr
    (job,) = yaml.safe_load(text)["scrape_configs"][:1]
    assert job["ec2_sd_configs"][0]["endpoint"] == "http://127.0.0.1:5000"
    assert job["basic_auth"] == {
        "username": "prometheus", "password_file": "/etc/prometheus/secrets/celery.password",
    }  # fmt: skip
    assert "secret" not in text.replace("secrets/", "")


ROOT = Path(__file__).resolve().parents[2]
# Inventories that replace the role's job list (to add credentials) must keep every job of it.
JOB_OVERRIDES = [
    "inventories/prod/group_vars/all/site.yml",
    "inventories/dev/group_vars/all/twin.yml",
]


@pytest.mark.parametrize("path", JOB_OVERRIDES)
def test_inventories_that_override_the_jobs_keep_every_default_job(path: str):
    defaults = yaml.safe_load((ROOT / "roles/prometheus/defaults/main.yml").read_text())
    override = yaml.safe_load((ROOT / path).read_text()).get("prometheus_scrape_jobs")
    if override is None:
        pytest.skip(f"{path} keeps the role's jobs")

    def targets(jobs: list[dict]) -> set[tuple[str, tuple[str, ...], int]]:
        return {(job["name"], tuple(job["roles"]), job["port"]) for job in jobs}

    missing = targets(defaults["prometheus_scrape_jobs"]) - targets(override)
    assert not missing, f"{path} drops the role's jobs {sorted(missing)}"
