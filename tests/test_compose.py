"""Static checks for compose.yaml and the ClickHouse config it mounts (no Docker engine needed)."""

from __future__ import annotations

import copy
import re
import xml.etree.ElementTree as ET
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

import pytest
import yaml

ROOT = Path(__file__).resolve().parents[1]
COMPOSE_PATH = ROOT / "compose.yaml"

CH_NODES = ("clickhouse-1", "clickhouse-2")
KEEPER = "clickhouse-keeper"
VIGIL_ROLES = {"vigil-receiver": "receiver", "vigil-query": "query"}
# Not implemented yet (no alerts role, no Redis use); fail if compose.yaml advertises them again.
UNIMPLEMENTED_SERVICES = {"vigil-alerts", "redis"}
PORT_RE = re.compile(r"^(\d{1,3}(\.\d{1,3}){3}:)?\d{1,5}:\d{1,5}(/(tcp|udp))?$")


@pytest.fixture(scope="module")
def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE_PATH.read_text())
    assert isinstance(data, dict) and isinstance(data.get("services"), dict)
    return data


@pytest.fixture(scope="module")
def services(compose: dict[str, Any]) -> dict[str, Any]:
    return compose["services"]


# ----------------------------------------------------------------------------- helpers
def mounts(service: dict[str, Any]) -> list[tuple[str, str, str]]:
    """(kind, source, target) for each volume entry; kind is 'bind' or 'volume'."""
    out = []
    for v in service.get("volumes", []):
        if isinstance(v, dict):
            out.append((v.get("type", "volume"), str(v.get("source", "")), str(v["target"])))
            continue
        parts = str(v).split(":")
        if len(parts) == 1:  # anonymous volume
            out.append(("volume", "", parts[0]))
            continue
        src, dst = parts[0], parts[1]
        kind = "bind" if src.startswith((".", "/", "~", "$")) else "volume"
        out.append((kind, src, dst))
    return out


def missing_host_paths(compose: dict[str, Any], root: Path) -> list[str]:
    """Relative bind-mount sources that do not exist under ``root``."""
    missing = []
    for name, svc in compose["services"].items():
        for kind, src, _ in mounts(svc):
            if kind == "bind" and src.startswith(".") and not (root / src).exists():
                missing.append(f"{name}: {src}")
    return missing


def host_file(service: dict[str, Any], target: str) -> Path:
    for kind, src, dst in mounts(service):
        if kind == "bind" and dst == target:
            return (ROOT / src).resolve()
    raise AssertionError(f"nothing mounted at {target}")


def xml_mounts(service: dict[str, Any]) -> list[ET.Element]:
    roots = []
    for kind, src, _ in mounts(service):
        if kind == "bind" and src.endswith(".xml"):
            roots.append(ET.parse(ROOT / src).getroot())
    return roots


def find_one(roots: list[ET.Element], path: str) -> ET.Element:
    found = [el for r in roots for el in r.findall(path)]
    assert len(found) == 1, f"expected exactly one <{path}> across mounted config, got {len(found)}"
    return found[0]


def depends_on(service: dict[str, Any]) -> dict[str, dict[str, Any]]:
    dep = service.get("depends_on", {})
    if isinstance(dep, list):
        return {d: {} for d in dep}
    return dep


def healthcheck_cmd(service: dict[str, Any]) -> str:
    hc = service.get("healthcheck")
    assert hc and not hc.get("disable"), "no healthcheck"
    test = hc["test"]
    return test if isinstance(test, str) else " ".join(test)


# ----------------------------------------------------------------------------- structure
def test_expected_services(services: dict[str, Any]) -> None:
    expected = {*CH_NODES, KEEPER, "postgres", *VIGIL_ROLES}
    assert set(services) == expected, f"missing: {expected - set(services)}, extra: {set(services) - expected}"
    assert not UNIMPLEMENTED_SERVICES & set(services)


def test_no_redis_or_alerts_references(compose: dict[str, Any]) -> None:
    assert "redis-data" not in (compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        assert not UNIMPLEMENTED_SERVICES & set(depends_on(svc)), f"{name}: depends on {depends_on(svc)}"
        env = svc.get("environment") or {}
        keys = env if isinstance(env, dict) else [str(e).split("=", 1)[0] for e in env]
        assert "VIGIL_REDIS_URL" not in keys, name
        cmd = svc.get("command") or []
        cmd = cmd if isinstance(cmd, str) else " ".join(cmd)
        assert "--role alerts" not in cmd, name


def test_every_service_has_pinned_image_and_no_build(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        image = svc.get("image")
        assert isinstance(image, str) and image, f"{name}: no image"
        assert "build" not in svc, f"{name}: build needs a Dockerfile, which the repo does not have"
        assert ":" in image and not image.endswith(":latest"), f"{name}: pin a tag, got {image}"
    for node in CH_NODES:
        assert services[node]["image"].startswith("clickhouse/clickhouse-server:")
    assert services[KEEPER]["image"].startswith("clickhouse/clickhouse-keeper:")
    assert services["postgres"]["image"] == "postgres:17"


def test_healthchecks(services: dict[str, Any]) -> None:
    for node in CH_NODES:
        cmd = healthcheck_cmd(services[node])
        assert "8123/ping" in cmd or "SELECT 1" in cmd, cmd
    assert "/ready" in healthcheck_cmd(services[KEEPER]) or "ruok" in healthcheck_cmd(services[KEEPER])
    assert "pg_isready" in healthcheck_cmd(services["postgres"])


def test_depends_on_targets_exist_and_are_healthchecked(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for target, opts in depends_on(svc).items():
            assert target in services, f"{name} depends on unknown service {target}"
            assert target != name
            if opts.get("condition") == "service_healthy":
                assert "healthcheck" in services[target], f"{name} waits on {target} (no healthcheck)"
    for name in VIGIL_ROLES:
        deps = depends_on(services[name])
        for target in (*CH_NODES, "postgres"):
            assert deps.get(target, {}).get("condition") == "service_healthy", f"{name} -> {target}"
    for node in CH_NODES:
        assert depends_on(services[node])[KEEPER]["condition"] == "service_healthy"


def test_mounted_host_paths_exist(compose: dict[str, Any]) -> None:
    assert missing_host_paths(compose, ROOT) == []


def test_missing_mount_is_detected(compose: dict[str, Any]) -> None:
    broken = copy.deepcopy(compose)
    broken["services"]["clickhouse-1"]["volumes"].append("./deploy/clickhouse/nope.xml:/etc/x.xml:ro")
    assert missing_host_paths(broken, ROOT) == ["clickhouse-1: ./deploy/clickhouse/nope.xml"]


def test_named_volumes_are_declared(compose: dict[str, Any]) -> None:
    declared = set(compose.get("volumes") or {})
    for name, svc in compose["services"].items():
        for kind, src, _ in mounts(svc):
            if kind == "volume" and src:
                assert src in declared, f"{name}: volume {src} not declared at top level"


def test_ports_are_quoted_host_container_strings(services: dict[str, Any]) -> None:
    for name, svc in services.items():
        for p in svc.get("ports", []):
            assert isinstance(p, str) and PORT_RE.match(p), f"{name}: port {p!r} must be like '4317:4317'"
    host_ports = [p.rsplit(":", 1)[0] for svc in services.values() for p in svc.get("ports", [])]
    assert len(host_ports) == len(set(host_ports)), f"host port published twice: {host_ports}"
    assert {"4317:4317", "4318:4318"} <= set(services["vigil-receiver"]["ports"])
    assert "3001:3001" in services["vigil-query"]["ports"]


# ----------------------------------------------------------------------------- vigil processes
def test_vigil_services_share_anchor_and_run_their_role(services: dict[str, Any]) -> None:
    text = COMPOSE_PATH.read_text()
    assert re.search(r"^x-vigil: &vigil$", text, re.M), "shared x-vigil anchor"
    assert len(re.findall(r"^\s+<<: \*vigil$", text, re.M)) == len(VIGIL_ROLES)
    for name, role in VIGIL_ROLES.items():
        svc = services[name]
        assert svc["image"] == "python:3.11-slim"
        assert any(kind == "bind" and src == "." and dst == "/app" for kind, src, dst in mounts(svc))
        entry = " ".join(svc.get("entrypoint", []))
        cmd = svc["command"] if isinstance(svc["command"], str) else " ".join(svc["command"])
        assert "pip install" in entry + cmd
        assert re.search(rf"vigil serve .*--role {role}\b", cmd), cmd
        assert "--host 0.0.0.0" in cmd


def test_vigil_environment_points_at_cluster(services: dict[str, Any]) -> None:
    ch_env = services["clickhouse-1"]["environment"]
    pg_env = services["postgres"]["environment"]
    for name in VIGIL_ROLES:
        env = services[name]["environment"]
        assert env["VIGIL_CLICKHOUSE_CLUSTER"] == "vigil"
        ch = urlsplit(env["VIGIL_CLICKHOUSE_URL"])
        assert (ch.scheme, ch.hostname, ch.port, ch.path) == ("http", "clickhouse-1", 8123, "/default")
        assert ch.hostname in services
        # compare raw userinfo: the password is a `${VAR:-default}` interpolation on both sides
        user, _, pw = ch.netloc.rsplit("@", 1)[0].partition(":")
        assert (user, pw) == (ch_env["CLICKHOUSE_USER"], ch_env["CLICKHOUSE_PASSWORD"])
        pg = urlsplit(env["VIGIL_POSTGRES_URL"])
        assert (pg.scheme, pg.hostname, pg.port, pg.path) == ("postgresql", "postgres", 5432, "/vigil")
        user, _, pw = pg.netloc.rsplit("@", 1)[0].partition(":")
        assert (user, pw) == (pg_env["POSTGRES_USER"], pg_env["POSTGRES_PASSWORD"])
        assert pg_env["POSTGRES_DB"] == "vigil"


# ----------------------------------------------------------------------------- clickhouse
def test_clickhouse_nodes_env_and_ulimits(services: dict[str, Any]) -> None:
    for node in CH_NODES:
        svc = services[node]
        env = svc["environment"]
        assert env["CLICKHOUSE_USER"] and env["CLICKHOUSE_PASSWORD"]
        assert str(env["CLICKHOUSE_DEFAULT_ACCESS_MANAGEMENT"]) == "1"
        nofile = svc["ulimits"]["nofile"]
        assert int(nofile["soft"]) >= 262144 and int(nofile["hard"]) >= 262144
        assert svc.get("hostname", node) == node


def test_clickhouse_xml_defines_vigil_cluster(services: dict[str, Any]) -> None:
    replicas_seen = []
    for node in CH_NODES:
        svc = services[node]
        roots = xml_mounts(svc)
        assert roots, f"{node}: no XML config mounted"
        for _kind, src, dst in mounts(svc):
            if src.endswith(".xml"):
                assert dst.startswith("/etc/clickhouse-server/config.d/"), dst
        for r in roots:
            assert r.tag == "clickhouse"

        cluster = find_one(roots, "remote_servers/vigil")
        shards = cluster.findall("shard")
        assert len(shards) == 1
        replicas = shards[0].findall("replica")
        assert len(replicas) == 2
        hosts = [r.findtext("host") for r in replicas]
        assert sorted(hosts) == sorted(CH_NODES), hosts
        assert all(r.findtext("port") == "9000" for r in replicas)
        assert shards[0].findtext("internal_replication") == "true"
        secret = cluster.find("secret")
        if secret is not None and secret.get("from_env"):
            assert secret.get("from_env") in svc["environment"], "cluster secret env var not set"

        zk_nodes = find_one(roots, "zookeeper").findall("node")
        assert zk_nodes and all(n.findtext("host") in services for n in zk_nodes)
        assert {n.findtext("host") for n in zk_nodes} == {KEEPER}

        macros = find_one(roots, "macros")
        assert macros.findtext("cluster") == "vigil"
        assert macros.findtext("shard") == "01"
        assert macros.findtext("replica") == node
        replicas_seen.append(macros.findtext("replica"))
        assert find_one(roots, "interserver_http_host").text == node
    assert len(set(replicas_seen)) == len(CH_NODES), "each node needs its own {replica} macro"


def test_keeper_config(services: dict[str, Any]) -> None:
    svc = services[KEEPER]
    cfg = host_file(svc, "/etc/clickhouse-keeper/keeper_config.xml")
    root = ET.parse(cfg).getroot()
    ks = root.find("keeper_server")
    assert ks is not None
    servers = ks.findall("raft_configuration/server")
    assert [s.findtext("hostname") for s in servers] == [svc.get("hostname", KEEPER)]
    assert ks.findtext("server_id") == servers[0].findtext("id")
    tcp_port = ks.findtext("tcp_port")
    ch_roots = xml_mounts(services[CH_NODES[0]])
    assert {n.findtext("port") for n in find_one(ch_roots, "zookeeper").findall("node")} == {tcp_port}
    http_port = ks.findtext("http_control/port")
    if "/ready" in healthcheck_cmd(svc):
        assert http_port and f":{http_port}/ready" in healthcheck_cmd(svc)
