"""The Docker topology files parse and agree with each other and with the service.

There is no Docker engine in the test environment: these checks read the files and hold
them against the service's own CLI, settings and metrics.
"""

from __future__ import annotations

import json
import re
import shlex
from pathlib import Path
from typing import Any

import pytest
import yaml  # type: ignore[import-untyped]
from fastapi.testclient import TestClient
from prometheus_client.parser import text_string_to_metric_families

from adapters.mqtt.broker import SERVICE_USER
from vpp.cli import build_parser
from vpp.config import Settings
from vpp.kit.leadership import AlwaysLeader

DOCKER = Path(__file__).resolve().parents[2] / "docker"
VARIABLE = re.compile(r"\$\{(\w+)(?::\?[^}]*)?\}")
API_REPLICAS = ("api-1", "api-2")
SCHEDULERS = ("scheduler-1", "scheduler-2")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    text = (DOCKER / "compose.yaml").read_text()
    parsed: dict[str, Any] = yaml.safe_load(text)
    return parsed


def services(compose: dict[str, Any]) -> dict[str, dict[str, Any]]:
    result: dict[str, dict[str, Any]] = compose["services"]
    return result


def interpolate(value: str) -> str:
    """Compose's ${VAR:?message} with a stand-in secret (``$$`` is a literal ``$``)."""
    return VARIABLE.sub(lambda m: f"secret-{m.group(1).lower()}", value).replace("$$", "$")


def vpp_environment(service: dict[str, Any]) -> dict[str, str]:
    return {key: interpolate(str(value)) for key, value in service["environment"].items()}


def test_compose_has_the_production_topology(compose: dict[str, Any]) -> None:
    assert set(services(compose)) == {
        "postgres",
        "mosquitto-passwd",
        "mosquitto",
        "migrate",
        "market",
        *API_REPLICAS,
        *SCHEDULERS,
        "prometheus",
        "grafana",
    }
    assert services(compose)["postgres"]["image"].startswith("postgres:15")


def test_every_vpp_command_is_one_the_cli_accepts(compose: dict[str, Any]) -> None:
    parser = build_parser()
    commands = {}
    for name, service in services(compose).items():
        if service.get("image") != "vpp:latest":
            continue
        argv = [interpolate(str(word)) for word in service["command"]]
        commands[name] = parser.parse_args(argv)
    assert commands["migrate"].func.__name__ == "cmd_db_upgrade"
    assert commands["market"].participant == ["vpp=secret-market_token"]
    for name in API_REPLICAS:
        assert commands[name].func.__name__ == "cmd_serve"
        assert commands[name].no_scheduler is True
    for name in SCHEDULERS:
        assert commands[name].func.__name__ == "cmd_scheduler"


def test_replicas_and_schedulers_wait_for_the_migration(compose: dict[str, Any]) -> None:
    for name in (*API_REPLICAS, *SCHEDULERS):
        depends = services(compose)[name]["depends_on"]
        assert depends["migrate"] == {"condition": "service_completed_successfully"}
    assert services(compose)["migrate"]["depends_on"]["postgres"] == {
        "condition": "service_healthy"
    }


def test_the_environment_is_valid_production_settings(
    compose: dict[str, Any], monkeypatch: pytest.MonkeyPatch
) -> None:
    client_ids = set()
    for name in (*API_REPLICAS, *SCHEDULERS, "migrate"):
        env = vpp_environment(services(compose)[name])
        for key in list(Settings.model_fields):
            monkeypatch.delenv(f"VPP_{key.upper()}", raising=False)
        for key, value in env.items():
            monkeypatch.setenv(key, value)
        settings = Settings()
        assert settings.environment == "production"
        assert settings.database_url == (
            "postgresql+psycopg://vpp:secret-postgres_password@postgres:5432/vpp"
        )
        assert settings.market == "http"
        assert settings.market_config["url"] == "http://market:8100"
        assert settings.market_config["token"] == "secret-market_token"
        mqtt = settings.adapter_config["mqtt"]
        assert (mqtt["host"], mqtt["username"]) == ("mosquitto", SERVICE_USER)
        assert mqtt["password"] == "secret-mqtt_service_password"
        if name in SCHEDULERS:
            assert settings.dispatch_enabled is True
            client_ids.add(mqtt["client_id"])
    # Two broker clients with one id would evict each other.
    assert client_ids == {"vpp-scheduler-1", "vpp-scheduler-2"}


def test_every_secret_is_listed_in_the_env_example(compose: dict[str, Any]) -> None:
    text = (DOCKER / "compose.yaml").read_text()
    needed = set(VARIABLE.findall(text))
    example = (DOCKER / ".env.example").read_text()
    listed = {line.split("=", 1)[0] for line in example.splitlines() if "=" in line}
    assert (
        needed
        == listed
        == {
            "POSTGRES_PASSWORD",
            "MQTT_SERVICE_PASSWORD",
            "MARKET_TOKEN",
            "GRAFANA_ADMIN_PASSWORD",
        }
    )


def test_prometheus_scrapes_every_replica_and_scheduler(compose: dict[str, Any]) -> None:
    config = yaml.safe_load((DOCKER / "prometheus.yml").read_text())
    jobs = {job["job_name"]: job for job in config["scrape_configs"]}
    targets = {
        name: [t for group in job["static_configs"] for t in group["targets"]]
        for name, job in jobs.items()
    }
    assert targets == {
        "vpp-api": [f"{name}:8000" for name in API_REPLICAS],
        "vpp-scheduler": [f"{name}:9100" for name in SCHEDULERS],
    }
    parser = build_parser()
    for target in targets["vpp-api"] + targets["vpp-scheduler"]:
        host, port = target.split(":")
        args = parser.parse_args(services(compose)[host]["command"])
        served = args.port if args.func.__name__ == "cmd_serve" else args.metrics_port
        assert served == int(port), target
        if args.func.__name__ == "cmd_scheduler":
            assert args.metrics_host == "0.0.0.0"  # noqa: S104  (reachable by Prometheus)
    assert services(compose)["prometheus"]["volumes"] == [
        "./prometheus.yml:/etc/prometheus/prometheus.yml:ro"
    ]


def test_mosquitto_refuses_anonymous_clients_and_reads_the_written_passwords(
    compose: dict[str, Any],
) -> None:
    conf = dict(
        line.split(" ", 1)
        for line in (DOCKER / "mosquitto" / "mosquitto.conf").read_text().splitlines()
        if line and not line.startswith("#")
    )
    assert conf["allow_anonymous"] == "false"
    assert conf["password_file"] == "/mosquitto/auth/passwd"
    one_shot = services(compose)["mosquitto-passwd"]
    script = " ".join(one_shot["command"])
    assert f"mosquitto_passwd -c -b /mosquitto/auth/passwd {SERVICE_USER}" in script
    assert "mosquitto-auth:/mosquitto/auth" in one_shot["volumes"]
    broker = services(compose)["mosquitto"]
    assert "mosquitto-auth:/mosquitto/auth:ro" in broker["volumes"]
    assert broker["depends_on"]["mosquitto-passwd"] == {
        "condition": "service_completed_successfully"
    }
    acl = (DOCKER / "mosquitto" / "acl").read_text()
    assert f"\nuser {SERVICE_USER}\ntopic readwrite vpp/#\n" in acl


def test_dockerfile_installs_the_package_and_runs_unprivileged() -> None:
    lines = [
        line.strip()
        for line in (DOCKER / "Dockerfile").read_text().splitlines()
        if line.strip() and not line.startswith("#")
    ]
    froms = [line for line in lines if line.startswith("FROM ")]
    assert froms and all(re.match(r"FROM python:3\.1[1-9]-slim\b", line) for line in froms)
    copied = {shlex.split(line)[1] for line in lines if line.startswith("COPY ")}
    assert {"vpp", "adapters", "market", "migrations", "pyproject.toml"} <= copied
    users = [line.split()[1] for line in lines if line.startswith("USER ")]
    assert users == ["vpp"]
    assert lines.index(f"USER {users[0]}") > max(
        i for i, line in enumerate(lines) if line.startswith("RUN ")
    )
    assert 'ENTRYPOINT ["vpp"]' in lines


def exported_series(text: str) -> set[str]:
    names = set()
    for family in text_string_to_metric_families(text):
        if family.type == "counter":
            names.add(f"{family.name}_total")
        elif family.type == "histogram":
            names.update(f"{family.name}{s}" for s in ("_bucket", "_sum", "_count"))
        else:
            names.add(family.name)
    return names


def test_dashboard_panels_query_metrics_the_service_exports(client: TestClient) -> None:
    dashboard = json.loads((DOCKER / "grafana" / "vpp-dashboard.json").read_text())
    AlwaysLeader(client.app.state.metrics.registry)  # type: ignore[attr-defined]
    client.get("/healthz")
    exported = exported_series(client.get("/metrics").text)
    used = set()
    for panel in dashboard["panels"]:
        assert panel["targets"], panel["title"]
        for target in panel["targets"]:
            used.update(re.findall(r"\bvpp_[a-z_]+", target["expr"]))
    assert used, "no panel queries a vpp metric"
    assert used - exported == set()
    assert "vpp_scheduler_leader" in used
    ids = [panel["id"] for panel in dashboard["panels"]]
    assert len(ids) == len(set(ids))
    provisioned = yaml.safe_load(
        (DOCKER / "grafana" / "provisioning" / "datasources" / "prometheus.yaml").read_text()
    )
    assert provisioned["datasources"][0]["url"] == "http://prometheus:9090"
