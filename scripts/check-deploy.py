#!/usr/bin/env python3
"""Checks that compose, the Dockerfile, k8s and the binaries agree.

The binaries are the truth: each service under services/ is `oms-<name>`,
and its `--help` lists every variable it reads with its default, its own
port among them (`OMS_<NAME>_ADDR`). Against that, for every service:
- deploy/Dockerfile exposes its port and sets only variables a binary reads;
- deploy/docker-compose.yml has a service of that name running the binary,
  listening on 0.0.0.0:<port>, health-checked on that port about the gRPC
  service its proto declares, with only variables the binary reads and its
  peers at <peer>:<port>;
- each k8s overlay has its Deployment (command, port, probes, variables),
  Service, HorizontalPodAutoscaler and NetworkPolicy, and its address in
  oms-config; its NetworkPolicy lets it call the peers compose gives it,
  and each of them lets it in.
Prints each disagreement and exits 1 if there is any.
"""

import json
import re
import shutil
import subprocess
import sys
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ["dev", "prod"]
problems = []


def check(ok, message):
    if not ok:
        problems.append(message)


def run(*command):
    return subprocess.run(command, cwd=ROOT, check=True, capture_output=True, text=True).stdout


def build_binaries():
    """Builds every binary; returns {name: path}."""
    out = run("cargo", "build", "--bins", "--locked", "--message-format=json-render-diagnostics")
    messages = [json.loads(line) for line in out.splitlines() if line.startswith("{")]
    return {Path(m["executable"]).name: m["executable"] for m in messages if m.get("executable")}


def variables(binary):
    """{name: default} of the variables `binary --help` lists ("" when unset)."""
    pattern = r"^  ([A-Z][A-Z0-9_]+)(?:=(\S+)| \(unset\))$"
    return {m[1]: m[2] or "" for m in re.finditer(pattern, run(binary, "--help"), re.M)}


def health_name(name):
    """The gRPC service proto/oms/<name>/v1 declares, as grpc.health.v1 names it."""
    proto = "".join(p.read_text() for p in (ROOT / f"proto/oms/{name}/v1").glob("*.proto"))
    package = re.search(r"^package ([\w.]+);", proto, re.M)
    service = re.search(rf"^service ({name.capitalize()}Service) {{", proto, re.M)
    return f"{package[1]}.{service[1]}" if package and service else None


def app_names(selectors):
    """The services of the suite that NetworkPolicy peers select (app.kubernetes.io/name=oms-<name>)."""
    labels = (s.get("podSelector", {}).get("matchLabels", {}).get("app.kubernetes.io/name", "") for s in selectors)
    return {label.removeprefix("oms-") for label in labels if label.startswith("oms-")}


def compose_config():
    plugin = shutil.which("docker") and subprocess.run(
        ["docker", "compose", "version"], capture_output=True).returncode == 0
    compose = ["docker", "compose"] if plugin else ["docker-compose"]
    return json.loads(run(*compose, "-f", "deploy/docker-compose.yml", "config", "--format", "json"))


def check_dockerfile(ports, read_anywhere):
    text = (ROOT / "deploy/Dockerfile").read_text().replace("\\\n", " ")
    exposed = set()
    for low, high in re.findall(r"^EXPOSE (\d+)(?:-(\d+))?", text, re.M):
        exposed |= set(range(int(low), int(high or low) + 1))
    env = dict(re.findall(r"\b(OMS_[A-Z_]+)=(\S+)", text))
    for var in env:
        check(var in read_anywhere, f"Dockerfile: ENV {var} is read by no binary")
    for name, port in ports.items():
        check(port in exposed, f"Dockerfile: {name}'s port {port} is not exposed")
        addr = f"OMS_{name.upper()}_ADDR"
        check(env.get(addr) == f"0.0.0.0:{port}", f"Dockerfile: {addr} is not 0.0.0.0:{port}")


def check_compose(ports, read_by):
    """Returns {service: the peers compose gives it}."""
    services = compose_config()["services"]
    peers = {}
    for name, port in ports.items():
        where = f"compose {name}"
        service = services.get(name)
        if service is None:
            problems.append(f"{where}: missing")
            continue
        env = service.get("environment", {})
        for var in env:
            check(var in read_by[name], f"{where}: {var} is not read by oms-{name}")
        check(service.get("command") == [f"/usr/local/bin/oms-{name}"], f"{where}: command is not oms-{name}")
        check(env.get("OMS_LISTEN_ADDR") == f"0.0.0.0:{port}", f"{where}: OMS_LISTEN_ADDR is not 0.0.0.0:{port}")
        check(any(p["target"] == port for p in service.get("ports", [])), f"{where}: port {port} not published")
        health = service.get("healthcheck", {}).get("test", [])
        check(f"127.0.0.1:{port}" in health and health_name(name) in health,
              f"{where}: the health check does not ask 127.0.0.1:{port} about {health_name(name)}")
        postgres = service.get("depends_on", {}).get("postgres", {})
        check(postgres.get("condition") == "service_healthy", f"{where}: does not wait for a healthy postgres")
        peers[name] = {peer for peer in ports if peer != name and f"OMS_{peer.upper()}_ADDR" in env}
        for peer in peers[name]:
            value = env[f"OMS_{peer.upper()}_ADDR"]
            check(value == f"{peer}:{ports[peer]}", f"{where}: {peer} is at {value}, not {peer}:{ports[peer]}")
    return peers


def check_deployment(where, deployment, name, port, read_by):
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for var in env:
        check(var in read_by[name], f"{where}: {var} is not read by oms-{name}")
    check(container.get("command") == [f"/usr/local/bin/oms-{name}"], f"{where}: command is not oms-{name}")
    check([p["containerPort"] for p in container["ports"]] == [port], f"{where}: containerPort is not {port}")
    check(env.get("OMS_LISTEN_ADDR") == f"0.0.0.0:{port}", f"{where}: OMS_LISTEN_ADDR is not 0.0.0.0:{port}")
    probes = {p: container.get(p, {}).get("grpc", {}) for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    for probe, grpc in probes.items():
        check(grpc.get("port") == port, f"{where}: {probe} is not on {port}")
    ready = probes["readinessProbe"].get("service")
    check(ready == health_name(name), f"{where}: readiness asks about {ready}, not {health_name(name)}")
    check("service" not in probes["livenessProbe"], f"{where}: liveness asks about a service name")


def check_overlay(overlay, ports, read_by, read_anywhere, compose_peers):
    rendered = yaml.safe_load_all(run("kubectl", "kustomize", f"k8s/overlays/{overlay}"))
    by_kind = {}
    for doc in filter(None, rendered):
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    config = next((d["data"] for n, d in by_kind["ConfigMap"].items() if n.startswith("oms-config")), {})
    for var in config:
        check(var in read_anywhere, f"k8s {overlay}: oms-config sets {var}, which no binary reads")
    policies = by_kind.get("NetworkPolicy", {})
    for name, port in ports.items():
        where = f"k8s {overlay} {name}"
        check((ROOT / "k8s/base" / name).is_dir(), f"k8s: no k8s/base/{name}/")
        check(config.get(f"OMS_{name.upper()}_ADDR") == f"{name}:{port}", f"{where}: oms-config has no {name}:{port}")
        kinds = ("Deployment", "Service", "HorizontalPodAutoscaler", "NetworkPolicy")
        deployment, service, hpa, policy = found = [by_kind.get(kind, {}).get(name) for kind in kinds]
        if not all(found):
            problems.append(f"{where}: no {', '.join(k for k, f in zip(kinds, found) if not f)}")
            continue
        check_deployment(where, deployment, name, port, read_by)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        check(service["spec"]["selector"].items() <= pod_labels.items(), f"{where}: its Service selects no pod")
        check([p["port"] for p in service["spec"]["ports"]] == [port], f"{where}: its Service is not on {port}")
        check(hpa["spec"]["scaleTargetRef"]["name"] == name, f"{where}: its HorizontalPodAutoscaler scales another")
        calls = app_names(peer for rule in policy["spec"].get("egress", []) for peer in rule["to"])
        given = compose_peers.get(name, set())
        check(calls == given, f"{where}: its NetworkPolicy lets it call {sorted(calls)}, compose gives it {sorted(given)}")
        for peer in calls:
            ingress = policies.get(peer, {}).get("spec", {}).get("ingress", [])
            callers = app_names(source for rule in ingress for source in rule.get("from", []))
            check(name in callers, f"{where}: {peer}'s NetworkPolicy does not let it in")


def main():
    binaries = build_binaries()
    names = sorted(p.parent.name for p in (ROOT / "services").glob("*/Cargo.toml"))
    missing = [b for b in [f"oms-{n}" for n in names] + ["omsctl"] if b not in binaries]
    if missing:
        sys.exit(f"check-deploy: no binary {', '.join(missing)}")
    read_by = {name: variables(binaries[f"oms-{name}"]) for name in names}
    read_anywhere = set().union(*read_by.values())
    ports = {name: int(read_by[name][f"OMS_{name.upper()}_ADDR"].rsplit(":", 1)[1]) for name in names}
    # The compose health checks run omsctl's health command.
    run(binaries["omsctl"], "health", "--help")
    check_dockerfile(ports, read_anywhere)
    compose_peers = check_compose(ports, read_by)
    for overlay in OVERLAYS:
        check_overlay(overlay, ports, read_by, read_anywhere, compose_peers)
    for problem in problems:
        print(f"check-deploy: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check-deploy: {len(names)} services agree in the binaries, the Dockerfile, compose and k8s")


if __name__ == "__main__":
    main()
