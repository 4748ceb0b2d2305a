#!/usr/bin/env python3
"""Checks that compose, the Dockerfile, k8s and the binaries agree.

The binaries are the truth: each service under services/ is `oms-<name>`,
and its `--help` lists every variable it reads with its default, its own
port among them (`OMS_<NAME>_ADDR`); `omsctl certs` writes the files of
mutual TLS, `ca.pem` and `<principal>.pem`/`.key` for every principal.
Against that, for every service:
- deploy/Dockerfile exposes its port and the k8s health port, and sets only
  variables a binary reads;
- deploy/docker-compose.yml has a service of that name running the binary,
  listening on 0.0.0.0:<port>, health-checked on that port about the gRPC
  service its proto declares, with only variables the binary reads and its
  peers at <peer>:<port>; over mutual TLS with its own certificate from the
  volume that the one-shot `certs` service fills with `omsctl certs`;
- each k8s overlay has its Deployment (command, ports, probes on the
  plaintext health port of OMS_HEALTH_ADDR, variables, mutual TLS from its
  own Secret oms-<name>-tls, the token keys from the ConfigMap oms-jwt),
  Service, HorizontalPodAutoscaler and NetworkPolicy, and its address in
  oms-config; its NetworkPolicy lets it call the peers compose gives it,
  each of them lets it in, and a policy lets the kubelet reach its health
  port;
- each overlay with the optional cert-manager component has a Certificate
  per service for the Secret its Deployment mounts (its URI SAN, its DNS
  names in the overlay's namespace, server and client auth), and one per
  client principal. cert-manager's kinds are not in the Kubernetes schemas
  `make k8s` validates against, so they are checked here instead.
Prints each disagreement and exits 1 if there is any.
"""

import json
import os
import re
import shutil
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

ROOT = Path(__file__).resolve().parent.parent
OVERLAYS = ["dev", "prod"]
CERT_MANAGER = "k8s/components/cert-manager"
# Where each Deployment mounts its Secret oms-<name>-tls (cert-manager's
# layout), and the variable that names each file.
TLS_FILES = {"OMS_TLS_CERT": "tls.crt", "OMS_TLS_KEY": "tls.key", "OMS_TLS_CA": "ca.crt"}
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


def principals(omsctl):
    """The principals `omsctl certs` makes a certificate for, from the files it writes."""
    with tempfile.TemporaryDirectory() as out:
        run(omsctl, "certs", "--out", out)
        files = {p.name for p in Path(out).iterdir()}
    check("ca.pem" in files, "omsctl certs: wrote no ca.pem")
    names = {f.removesuffix(".pem") for f in files if f.endswith(".pem") and f != "ca.pem"}
    for name in names:
        check(f"{name}.key" in files, f"omsctl certs: wrote {name}.pem without {name}.key")
    return names


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


def check_dockerfile(ports, read_anywhere, health_ports):
    text = (ROOT / "deploy/Dockerfile").read_text().replace("\\\n", " ")
    exposed = set()
    for exposes in re.findall(r"^EXPOSE (.+)$", text, re.M):
        for low, high in re.findall(r"\b(\d+)(?:-(\d+))?(?:/tcp)?\b", exposes):
            exposed |= set(range(int(low), int(high or low) + 1))
    env = dict(re.findall(r"\b(OMS_[A-Z_]+)=(\S+)", text))
    for var in env:
        check(var in read_anywhere, f"Dockerfile: ENV {var} is read by no binary")
    for name, port in ports.items():
        check(port in exposed, f"Dockerfile: {name}'s port {port} is not exposed")
        addr = f"OMS_{name.upper()}_ADDR"
        check(env.get(addr) == f"0.0.0.0:{port}", f"Dockerfile: {addr} is not 0.0.0.0:{port}")
    for port in health_ports:
        check(port in exposed, f"Dockerfile: the health port {port} (k8s OMS_HEALTH_ADDR) is not exposed")


def check_compose_certs(services):
    """The folder where the `certs` service writes `omsctl certs` into its volume: (volume, folder)."""
    certs = services.get("certs")
    if certs is None:
        problems.append("compose certs: missing (the one-shot omsctl certs)")
        return None
    command = certs.get("command") or []
    out = command[command.index("--out") + 1] if "--out" in command[:-1] else None
    check(command[:2] == ["/usr/local/bin/omsctl", "certs"] and out,
          "compose certs: does not run omsctl certs --out <folder>")
    volume = next((v["source"] for v in certs.get("volumes", []) if v.get("type") == "volume" and v["target"] == out), None)
    check(volume is not None, f"compose certs: writes to {out}, where no volume is mounted")
    return volume


def check_compose_tls(where, name, service, env, volume):
    check(env.get("OMS_TLS") == "mutual", f"{where}: OMS_TLS is not mutual")
    dirs = {v["target"] for v in service.get("volumes", []) if v.get("source") == volume}
    for var, file in (("OMS_TLS_CERT", f"{name}.pem"), ("OMS_TLS_KEY", f"{name}.key"), ("OMS_TLS_CA", "ca.pem")):
        check(any(env.get(var) == f"{d}/{file}" for d in dirs),
              f"{where}: {var} is not {file} in the volume {volume} (omsctl certs)")
    certs = service.get("depends_on", {}).get("certs", {})
    check(certs.get("condition") == "service_completed_successfully",
          f"{where}: does not wait for the certs service to finish")


def check_compose(ports, read_by):
    """Returns {service: the peers compose gives it}."""
    services = compose_config()["services"]
    volume = check_compose_certs(services)
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
        check_compose_tls(where, name, service, env, volume)
        postgres = service.get("depends_on", {}).get("postgres", {})
        check(postgres.get("condition") == "service_healthy", f"{where}: does not wait for a healthy postgres")
        peers[name] = {peer for peer in ports if peer != name and f"OMS_{peer.upper()}_ADDR" in env}
        for peer in peers[name]:
            value = env[f"OMS_{peer.upper()}_ADDR"]
            check(value == f"{peer}:{ports[peer]}", f"{where}: {peer} is at {value}, not {peer}:{ports[peer]}")
    return peers


def mounted(deployment, container, path):
    """(kind, name, key) of the Secret or ConfigMap key mounted as the file `path`, or None."""
    folder, _, file = (path or "").rpartition("/")
    volumes = {v["name"]: v for v in deployment["spec"]["template"]["spec"].get("volumes", [])}
    for mount in container.get("volumeMounts", []):
        volume = volumes.get(mount["name"], {})
        if mount["mountPath"].rstrip("/") != folder or "subPath" in mount:
            continue
        for kind, field, name_field in (("Secret", "secret", "secretName"), ("ConfigMap", "configMap", "name")):
            if field in volume:
                source = volume[field]
                items = {i["path"]: i["key"] for i in source.get("items", [])}
                key = items.get(file) if items else file
                return (kind, source.get(name_field), key) if key else None
    return None


def check_deployment(where, deployment, name, port, read_by, config):
    """Returns the port of the plaintext health port, or None."""
    container = deployment["spec"]["template"]["spec"]["containers"][0]
    env = {e["name"]: e.get("value") for e in container.get("env", [])}
    for var in env:
        check(var in read_by[name], f"{where}: {var} is not read by oms-{name}")
    check(container.get("command") == [f"/usr/local/bin/oms-{name}"], f"{where}: command is not oms-{name}")
    check(env.get("OMS_LISTEN_ADDR") == f"0.0.0.0:{port}", f"{where}: OMS_LISTEN_ADDR is not 0.0.0.0:{port}")
    # The kubelet's gRPC probes speak plaintext only: under mutual TLS they
    # ask the health port, which serves grpc.health.v1 alone.
    health = re.fullmatch(r"0\.0\.0\.0:(\d+)", env.get("OMS_HEALTH_ADDR") or "")
    health_port = int(health[1]) if health else None
    check(health_port not in (None, port), f"{where}: OMS_HEALTH_ADDR is not 0.0.0.0:<a port of its own>")
    check([p["containerPort"] for p in container["ports"]] == [port, health_port],
          f"{where}: containerPorts are not {port} (gRPC) and {health_port} (health)")
    probes = {p: container.get(p, {}).get("grpc", {}) for p in ("startupProbe", "readinessProbe", "livenessProbe")}
    for probe, grpc in probes.items():
        check(grpc.get("port") == health_port, f"{where}: {probe} is not on the health port {health_port}")
    ready = probes["readinessProbe"].get("service")
    check(ready == health_name(name), f"{where}: readiness asks about {ready}, not {health_name(name)}")
    check("service" not in probes["livenessProbe"], f"{where}: liveness asks about a service name")
    settings = {**config, **env}
    check(settings.get("OMS_TLS") == "mutual", f"{where}: OMS_TLS is not mutual")
    for var, key in TLS_FILES.items():
        source = mounted(deployment, container, settings.get(var))
        check(source == ("Secret", f"oms-{name}-tls", key),
              f"{where}: {var} is not {key} of the Secret oms-{name}-tls mounted in the container")
    if "OMS_JWT_KEYS" in settings:
        source = mounted(deployment, container, settings["OMS_JWT_KEYS"])
        check(source == ("ConfigMap", "oms-jwt", "jwks.json"),
              f"{where}: OMS_JWT_KEYS is not jwks.json of the ConfigMap oms-jwt mounted in the container")
    return health_port


def lets_in_on(policies, labels, port):
    """Whether a NetworkPolicy selecting a pod with `labels` lets anyone reach `port`."""
    for policy in policies.values():
        selected = policy["spec"].get("podSelector", {}).get("matchLabels", {})
        if not selected.items() <= labels.items():
            continue
        for rule in policy["spec"].get("ingress", []):
            if "from" not in rule and any(p.get("port") == port for p in rule.get("ports", [])):
                return True
    return False


def render_with_cert_manager(overlay):
    """The overlay rendered with the cert-manager component added to it, as
    k8s/README.md says to: a copy of the overlay whose kustomization lists
    the component (kustomize reads no absolute paths, hence a copy under
    target/)."""
    source = ROOT / "k8s/overlays" / overlay
    (ROOT / "target").mkdir(exist_ok=True)
    with tempfile.TemporaryDirectory(dir=ROOT / "target") as copy:
        shutil.copytree(source, copy, dirs_exist_ok=True)
        path = Path(copy) / "kustomization.yaml"
        kustomization = yaml.safe_load(path.read_text())
        moved = lambda entry: os.path.relpath(source / entry, copy) if entry.startswith("..") else entry
        kustomization["resources"] = [moved(entry) for entry in kustomization.get("resources", [])]
        kustomization["components"] = [moved(entry) for entry in kustomization.get("components", [])]
        kustomization["components"].append(os.path.relpath(ROOT / CERT_MANAGER, copy))
        path.write_text(yaml.safe_dump(kustomization))
        return [d for d in yaml.safe_load_all(run("kubectl", "kustomize", copy)) if d]


def check_certificates(overlay, deployments, principal_names):
    """The cert-manager component's Certificates, against the Deployments of `overlay`."""
    rendered = render_with_cert_manager(overlay)
    certificates = [d for d in rendered if d["kind"] == "Certificate" and d["apiVersion"].startswith("cert-manager.io/")]
    issuers = {d["metadata"]["name"] for d in rendered if d["kind"] == "Issuer"}
    by_secret = {c["spec"].get("secretName"): c for c in certificates}
    for name in sorted(principal_names):
        where = f"k8s {overlay} + cert-manager {name}"
        certificate = by_secret.get(f"oms-{name}-tls")
        if certificate is None:
            problems.append(f"{where}: no Certificate for the Secret oms-{name}-tls")
            continue
        spec = certificate["spec"]
        check(spec.get("uris") == [f"spiffe://oms/{name}"], f"{where}: its URI SANs are not [spiffe://oms/{name}]")
        issuer = spec.get("issuerRef", {})
        check(issuer.get("kind") == "ClusterIssuer" or issuer.get("name") in issuers,
              f"{where}: its issuer {issuer.get('name')} is not in the component")
        usages = set(spec.get("usages", []))
        deployment = deployments.get(name)
        if deployment is None:
            check("client auth" in usages, f"{where}: a client's certificate without client auth")
            continue
        namespace = deployment["metadata"].get("namespace")
        for dns in (name, f"{name}.{namespace}.svc"):
            check(dns in spec.get("dnsNames", []), f"{where}: its DNS SANs lack {dns}")
        check({"server auth", "client auth"} <= usages, f"{where}: its usages lack server auth or client auth")


def check_overlay(overlay, ports, read_by, read_anywhere, compose_peers, principal_names):
    """Returns the health ports of the overlay's Deployments."""


    rendered = yaml.safe_load_all(run("kubectl", "kustomize", f"k8s/overlays/{overlay}"))
    by_kind = {}
    for doc in filter(None, rendered):
        by_kind.setdefault(doc["kind"], {})[doc["metadata"]["name"]] = doc
    config = next((d["data"] for n, d in by_kind["ConfigMap"].items() if n.startswith("oms-config")), {})
    for var in config:
        check(var in read_anywhere, f"k8s {overlay}: oms-config sets {var}, which no binary reads")
    policies = by_kind.get("NetworkPolicy", {})
    health_ports = set()
    for name, port in ports.items():
        where = f"k8s {overlay} {name}"
        check((ROOT / "k8s/base" / name).is_dir(), f"k8s: no k8s/base/{name}/")
        check(config.get(f"OMS_{name.upper()}_ADDR") == f"{name}:{port}", f"{where}: oms-config has no {name}:{port}")
        kinds = ("Deployment", "Service", "HorizontalPodAutoscaler", "NetworkPolicy")
        deployment, service, hpa, policy = found = [by_kind.get(kind, {}).get(name) for kind in kinds]
        if not all(found):
            problems.append(f"{where}: no {', '.join(k for k, f in zip(kinds, found) if not f)}")
            continue
        health_port = check_deployment(where, deployment, name, port, read_by, config)
        health_ports.add(health_port)
        pod_labels = deployment["spec"]["template"]["metadata"]["labels"]
        check(lets_in_on(policies, pod_labels, health_port),
              f"{where}: no NetworkPolicy lets the kubelet reach its health port {health_port}")
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
    check_certificates(overlay, by_kind.get("Deployment", {}), principal_names)
    return health_ports - {None}


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
    made_for = principals(binaries["omsctl"])
    check(set(names) <= made_for, f"omsctl certs: makes no certificate for {sorted(set(names) - made_for)}")
    compose_peers = check_compose(ports, read_by)
    health_ports = set()
    for overlay in OVERLAYS:
        health_ports |= check_overlay(overlay, ports, read_by, read_anywhere, compose_peers, made_for)
    check_dockerfile(ports, read_anywhere, health_ports)
    for problem in problems:
        print(f"check-deploy: {problem}", file=sys.stderr)
    if problems:
        sys.exit(1)
    print(f"check-deploy: {len(names)} services agree in the binaries, the Dockerfile, compose and k8s")


if __name__ == "__main__":
    main()
