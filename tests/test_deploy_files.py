"""The reference deployment (docs/deploy.md): docker-compose.yml, configs/docker,
configs/nginx, configs/prometheus and configs/k8s.

The structure is checked with PyYAML and plain text. Where the tools are installed,
`docker-compose config` (or `docker compose config`) validates the compose file, and
nginx checks its configs and runs configs/nginx/proxy.conf in front of two fake
replicas to show the retry policy and the headers. Nothing here needs a Docker daemon.
"""

from __future__ import annotations

import http.client
import http.server
import json
import re
import shutil
import socket
import subprocess
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest
import yaml

from gateway.settings import ENVIRONMENT, Settings
from tests.conftest import free_port
from tests.nginx import (
    PROXY_CONF,
    minimal_config,
    nginx_binary,
    nginx_command,
    nginx_version,
    temp_paths,
)

ROOT = Path(__file__).resolve().parents[1]
COMPOSE = ROOT / "docker-compose.yml"
DOCKERFILE = ROOT / "configs/docker/Dockerfile"
DOCKERFILE_GPU = ROOT / "configs/docker/Dockerfile.gpu"
DOCKERIGNORE = ROOT / ".dockerignore"
NGINX_CONF = ROOT / "configs/nginx/nginx.conf"
PROMETHEUS = ROOT / "configs/prometheus/prometheus.yml"
K8S = ROOT / "configs/k8s/gateway.yaml"
DEPLOY_DOC = ROOT / "docs/deploy.md"
ALIAS = "replica"  # the one name nginx and Prometheus know the replicas by


def compose() -> dict[str, Any]:
    data = yaml.safe_load(COMPOSE.read_text())
    assert isinstance(data, dict)
    return data


def replicas(data: dict[str, Any]) -> dict[str, dict[str, Any]]:
    """The gateway services: those carrying the `replica` network alias."""
    found = {}
    for name, service in data["services"].items():
        networks = service.get("networks") or {}
        aliases = (networks.get("default") or {}).get("aliases", []) if networks else []
        if ALIAS in aliases:
            found[name] = service
    return found


# --- docker-compose.yml ---------------------------------------------------------------


def test_compose_has_the_stack() -> None:
    data = compose()
    services = data["services"]
    assert {"nginx", "gateway", "redis", "prometheus"} <= set(services)
    assert services["nginx"]["image"].startswith("nginx:")
    assert "8080:80" in services["nginx"]["ports"]
    assert services["redis"]["image"].startswith("redis:7")
    assert "--appendonly" in services["redis"]["command"]
    assert any(str(v).endswith(":/data") for v in services["redis"]["volumes"])
    assert services["prometheus"]["image"].startswith("prom/prometheus")
    gateway = services["gateway"]
    assert "profiles" not in gateway
    assert gateway["build"] == {"context": ".", "dockerfile": "configs/docker/Dockerfile"}
    assert gateway["deploy"]["replicas"] == 2
    assert gateway["depends_on"]["redis"]["condition"] == "service_healthy"
    assert "healthcheck" in services["redis"]


def test_replicas_are_scalable_and_share_one_name() -> None:
    found = replicas(compose())
    assert "gateway" in found
    for name, service in found.items():
        assert "container_name" not in service, f"{name}: a container_name cannot scale"
        assert "ports" not in service, f"{name}: replicas publish no host port (nginx does)"
        redis_url = service["environment"]["GATEWAY_REDIS_URL"]
        assert redis_url.startswith("redis://redis:6379/"), name


def test_gpu_profile_pins_one_gpu_per_replica() -> None:
    found = replicas(compose())
    gpu = {name: s for name, s in found.items() if s.get("profiles")}
    assert any("gpu" in s["profiles"] for s in gpu.values()), "no service in the gpu profile"
    devices_seen = []
    for name, service in gpu.items():
        assert service["build"]["dockerfile"] == "configs/docker/Dockerfile.gpu", name
        assert service["environment"]["GATEWAY_PROVIDER"] == "cuda", name
        (device,) = service["deploy"]["resources"]["reservations"]["devices"]
        assert device["driver"] == "nvidia", name
        assert "gpu" in device["capabilities"], name
        assert len(device["device_ids"]) == 1, f"{name}: one GPU per replica"
        devices_seen += device["device_ids"]
    assert len(devices_seen) == len(set(devices_seen)), "two replicas pinned to one GPU"


def deploy_texts() -> list[Path]:
    return [COMPOSE, DOCKERFILE, DOCKERFILE_GPU, K8S, DEPLOY_DOC, NGINX_CONF, PROXY_CONF]


@pytest.mark.parametrize("path", deploy_texts(), ids=lambda p: str(p.relative_to(ROOT)))
def test_gateway_variables_exist(path: Path) -> None:
    """Every GATEWAY_* name in the deployment files (keys, ${...}, comments) is a setting."""
    names = set(re.findall(r"\bGATEWAY_[A-Z0-9_]*[A-Z0-9]", path.read_text()))
    unknown = sorted(names - set(ENVIRONMENT))
    assert not unknown, f"{path.name}: not in gateway.settings.ENVIRONMENT: {unknown}"


def test_compose_environment_is_valid_settings() -> None:
    """The compose environment, defaults substituted, is accepted by Settings."""
    for name, service in replicas(compose()).items():
        env = {
            key: re.sub(r"\$\{[A-Z0-9_]+:-([^}]*)\}", r"\1", str(value))
            for key, value in service["environment"].items()
        }
        settings = Settings.from_env(env)
        assert settings.redis_url, name
        assert settings.keep_alive > nginx_upstream_keepalive_timeout()


def test_compose_files_exist() -> None:
    data = compose()
    for service in data["services"].values():
        build = service.get("build")
        if build:
            assert (ROOT / build["context"] / build["dockerfile"]).is_file()
        for volume in service.get("volumes", []):
            source = str(volume).split(":", 1)[0]
            if source.startswith("./"):
                assert (ROOT / source).is_file(), f"{source} is mounted but missing"
    nginx_mounts = [str(v).split(":")[0] for v in data["services"]["nginx"]["volumes"]]
    assert "./configs/nginx/nginx.conf" in nginx_mounts
    assert "./configs/nginx/proxy.conf" in nginx_mounts
    prometheus_mounts = [str(v).split(":")[0] for v in data["services"]["prometheus"]["volumes"]]
    assert "./configs/prometheus/prometheus.yml" in prometheus_mounts


def compose_command() -> list[str] | None:
    docker = shutil.which("docker")
    if docker:
        probe = subprocess.run(
            [docker, "compose", "version"], capture_output=True, timeout=60, check=False
        )
        if probe.returncode == 0:
            return [docker, "compose"]
    legacy = shutil.which("docker-compose")
    return [legacy] if legacy else None


@pytest.mark.parametrize("profiles", [[], ["gpu"], ["gpu", "gpu1"]], ids=str)
def test_compose_config_validates(profiles: list[str]) -> None:
    command = compose_command()
    if command is None:
        pytest.skip("neither `docker compose` nor `docker-compose` is installed")
    options = [arg for profile in profiles for arg in ("--profile", profile)]
    result = subprocess.run(
        [*command, "-f", str(COMPOSE), *options, "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=120,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


# --- Dockerfiles ----------------------------------------------------------------------


def instructions(path: Path) -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) pairs, continuation lines joined, comments dropped."""
    lines = [line for line in path.read_text().splitlines() if not line.lstrip().startswith("#")]
    joined = re.sub(r"\\\n\s*", " ", "\n".join(lines))
    found = []
    for line in joined.splitlines():
        if line.strip():
            keyword, _, rest = line.strip().partition(" ")
            found.append((keyword.upper(), rest.strip()))
    return found


@pytest.mark.parametrize("path", [DOCKERFILE, DOCKERFILE_GPU], ids=lambda p: p.name)
def test_dockerfile(path: Path) -> None:
    steps = instructions(path)
    final = steps[max(i for i, (k, _) in enumerate(steps) if k == "FROM") :]
    final_kinds = [k for k, _ in final]
    users = [args for kind, args in final if kind == "USER"]
    assert users, "no USER in the final stage"
    assert users[-1].split(":")[0] not in ("root", "0"), "runs as root"
    assert ("WORKDIR", "/app") in final
    assert ("EXPOSE", "9001") in final
    assert ("CMD", '["gateway", "serve"]') in final
    assert final_kinds.index("USER") < final_kinds.index("CMD")
    (healthcheck,) = [args for kind, args in final if kind == "HEALTHCHECK"]
    # Exec form: JSON that does not parse would silently run as a shell command.
    probe = json.loads(healthcheck[healthcheck.index("CMD [") + 4 :])
    assert probe[:2] == ["python", "-c"]
    assert "urllib.request" in probe[2]
    assert "/readyz" in probe[2]
    compile(probe[2], "HEALTHCHECK", "exec")
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    for kind, args in steps:
        if kind != "COPY" or args.startswith("--from"):
            continue
        *sources, _ = args.split()
        for source in sources:
            assert sorted(ROOT.glob(source)), f"COPY {source}: nothing in the repository"
            assert source.split("/")[0] not in ignored, f"{source} is in .dockerignore"


def test_gpu_dockerfile_base_and_onnxruntime() -> None:
    text = DOCKERFILE_GPU.read_text()
    (base,) = re.findall(r"^ARG BASE_IMAGE=(\S+)$", text, re.MULTILINE)
    assert base.startswith("nvidia/cuda:")
    assert "-cudnn-runtime-ubuntu" in base
    assert "pip uninstall -y onnxruntime onnxruntime-gpu" in text


def test_dockerignore_keeps_the_context_small() -> None:
    ignored = {line.strip().rstrip("/") for line in DOCKERIGNORE.read_text().splitlines()}
    assert {".git", ".venv*", "var", "tests", "benchmarks", "**/__pycache__"} <= ignored
    assert not {"gateway", "configs", "models", "pyproject.toml", "README.md"} & ignored


# --- nginx, Prometheus, Kubernetes: structure -----------------------------------------


def nginx_upstream_keepalive_timeout() -> float:
    block = re.search(r"upstream gateway \{(.*?)\}", NGINX_CONF.read_text(), re.DOTALL)
    assert block, "nginx.conf: no `upstream gateway`"
    (seconds,) = re.findall(r"keepalive_timeout (\d+)s;", block.group(1))
    return float(seconds)


def proxy_conf_mount_target() -> str:
    for volume in compose()["services"]["nginx"]["volumes"]:
        source, target = str(volume).split(":")[:2]
        if source == "./configs/nginx/proxy.conf":
            return target
    raise AssertionError("proxy.conf is not mounted into nginx")


def test_nginx_conf_structure() -> None:
    text = NGINX_CONF.read_text()
    assert f"include {proxy_conf_mount_target()};" in text
    assert re.search(r"^\s*resolver 127\.0\.0\.11\b", text, re.MULTILINE)
    assert f"server {ALIAS}:{Settings().port} resolve;" in text
    assert nginx_upstream_keepalive_timeout() < Settings().keep_alive
    proxy = PROXY_CONF.read_text()
    assert proxy.count("proxy_pass http://gateway;") == 2
    assert "client_max_body_size 30m;" in proxy
    assert Settings().max_body_bytes < 30 * 1024 * 1024


def test_prometheus_scrapes_every_replica() -> None:
    data = yaml.safe_load(PROMETHEUS.read_text())
    (job,) = [j for j in data["scrape_configs"] if j["job_name"] == "gateway"]
    assert job["metrics_path"] == "/metrics"
    (sd,) = job["dns_sd_configs"]
    assert sd["names"] == [ALIAS]
    assert sd["type"] == "A"
    assert sd["port"] == Settings().port


def test_k8s_manifest() -> None:
    deployment, service = yaml.safe_load_all(K8S.read_text())
    assert (deployment["kind"], service["kind"]) == ("Deployment", "Service")
    (container,) = deployment["spec"]["template"]["spec"]["containers"]
    assert container["readinessProbe"]["httpGet"]["path"] == "/readyz"
    assert container["livenessProbe"]["httpGet"]["path"] == "/healthz"
    assert container["ports"][0]["containerPort"] == Settings().port


# --- nginx, for real ------------------------------------------------------------------


def nginx_check(nginx: str, directory: Path, config: str) -> None:
    (directory / "nginx.conf").write_text(config)
    result = subprocess.run(
        [*nginx_command(nginx, directory), "-t"],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )
    assert result.returncode == 0, result.stderr


def test_nginx_accepts_proxy_conf(tmp_path: Path) -> None:
    nginx = nginx_binary()
    nginx_check(nginx, tmp_path, minimal_config(tmp_path, [9, 10], free_port()))


def test_nginx_accepts_the_compose_nginx_conf(tmp_path: Path) -> None:
    """nginx.conf as the compose stack mounts it, with proxy.conf at its real path and
    temporary files here. Before nginx 1.27.3, whose upstreams take `resolve`, the
    replica name is swapped for a loopback address."""
    nginx = nginx_binary()
    text = NGINX_CONF.read_text()
    rewrites = {
        f"include {proxy_conf_mount_target()};": f'include "{PROXY_CONF}";',
        "http {": "http {\n" + temp_paths(tmp_path),
    }
    if nginx_version(nginx) < (1, 27, 3):
        rewrites[f"server {ALIAS}:9001 resolve;"] = "server 127.0.0.1:9001;"
    for old, new in rewrites.items():
        assert old in text, f"nginx.conf no longer has {old!r}: update this test"
        text = text.replace(old, new, 1)
    text = f'pid "{tmp_path / "nginx.pid"}";\n' + text
    nginx_check(nginx, tmp_path, text)


@dataclass
class FakeReplica:
    """An HTTP/1.1 server answering every request with one status, recording them."""

    status: int
    seen: list[dict[str, Any]] = field(default_factory=list)
    server: http.server.ThreadingHTTPServer | None = None

    def start(self) -> int:
        replica = self

        class Handler(http.server.BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def answer(self) -> None:
                body = self.rfile.read(int(self.headers.get("Content-Length") or 0))
                replica.seen.append(
                    {
                        "method": self.command,
                        "path": self.path,
                        "version": self.request_version,
                        "headers": {k.lower(): v for k, v in self.headers.items()},
                        "body": len(body),
                        "client_port": self.client_address[1],
                    }
                )
                payload = json.dumps({"status": replica.status}).encode()
                self.send_response(replica.status)
                self.send_header("Content-Type", "application/json")
                self.send_header("Content-Length", str(len(payload)))
                self.end_headers()
                self.wfile.write(payload)

            do_GET = do_POST = answer  # noqa: N815 (http.server's names)

            def log_message(self, format: str, *args: Any) -> None:
                pass

        self.server = http.server.ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        threading.Thread(target=self.server.serve_forever, daemon=True).start()
        return int(self.server.server_address[1])

    def ids(self, path_part: str) -> set[str]:
        return {r["headers"]["x-request-id"] for r in self.seen if path_part in r["path"]}


@dataclass
class Stack:
    port: int
    down: FakeReplica  # answers 503 to everything: saturated, draining or dying
    up: FakeReplica

    def request(
        self, method: str, path: str, request_id: str | None = None, body: bytes = b""
    ) -> int:
        connection = http.client.HTTPConnection("127.0.0.1", self.port, timeout=30)
        headers = {"Host": "detect.example.test:8080"}
        if request_id:
            headers["X-Request-ID"] = request_id
        try:
            connection.request(method, path, body=body or None, headers=headers)
            response = connection.getresponse()
            response.read()
            return response.status
        finally:
            connection.close()


@pytest.fixture(scope="module")
def stack(tmp_path_factory: pytest.TempPathFactory) -> Iterator[Stack]:
    nginx = nginx_binary()
    directory = tmp_path_factory.mktemp("nginx")
    down, up = FakeReplica(503), FakeReplica(200)
    upstreams = [down.start(), up.start()]  # round robin: the first request goes to `down`
    process = None
    try:
        for _ in range(3):  # another process may take the free port first
            port = free_port()
            (directory / "nginx.conf").write_text(minimal_config(directory, upstreams, port))
            process = subprocess.Popen(
                nginx_command(nginx, directory),
                stdout=subprocess.DEVNULL,
                stderr=subprocess.DEVNULL,
            )
            if wait_for_port(port, process):
                break
            process.wait(timeout=10)
        else:
            pytest.fail("nginx did not start: " + (directory / "error.log").read_text())
        yield Stack(port, down, up)
    finally:
        if process is not None and process.poll() is None:
            process.terminate()
            process.wait(timeout=10)
        for replica in (down, up):
            if replica.server is not None:
                replica.server.shutdown()
                replica.server.server_close()


def wait_for_port(port: int, process: subprocess.Popen[bytes]) -> bool:
    deadline = time.monotonic() + 10
    while time.monotonic() < deadline and process.poll() is None:
        try:
            socket.create_connection(("127.0.0.1", port), timeout=0.2).close()
            return True
        except OSError:
            time.sleep(0.05)
    return False


def test_nginx_retries_inference_on_another_replica(stack: Stack) -> None:
    body = b"aGVsbG8=" * 1000
    statuses = [
        stack.request("POST", "/detect/shapes-detect/1?api_key=k", f"infer-{i}", body)
        for i in range(6)
    ]
    assert statuses == [200] * 6
    tried_down = stack.down.ids("/detect/")
    assert tried_down, "no request reached the failing replica: the check proves nothing"
    assert tried_down <= stack.up.ids("/detect/"), "a 503 was not retried on the other replica"
    # GET is idempotent on every route, /v0.7/recognition/ included.
    for i in range(4):
        assert stack.request("GET", "/v0.7/recognition/public/", f"specs-{i}") == 200


def test_nginx_never_resends_task_creation(stack: Stack) -> None:
    path = "/v0.7/recognition/public/shapes-detect-v1/inference"
    statuses = {f"task-{i}": stack.request("POST", path, f"task-{i}", b"{}") for i in range(6)}
    on_down, on_up = stack.down.ids("/inference"), stack.up.ids("/inference")
    assert on_down, "no task reached the failing replica: the check proves nothing"
    assert not on_down & on_up, "a task creation was sent to two replicas"
    for request_id, status in statuses.items():
        assert status == (503 if request_id in on_down else 200), request_id


def test_nginx_carries_large_bodies(stack: Stack) -> None:
    """A body of GATEWAY_MAX_BODY_BYTES passes whole, to each replica tried."""
    size = Settings().max_body_bytes
    for i in range(2):
        status = stack.request("POST", "/shapes-seg/1", f"large-{i}", b"A" * size)
        assert status == 200
    assert [r["body"] for r in stack.up.seen if r["path"] == "/shapes-seg/1"] == [size, size]
    assert all(r["body"] == size for r in stack.down.seen if r["path"] == "/shapes-seg/1")


def test_nginx_request_headers(stack: Stack) -> None:
    assert stack.request("POST", "/classify/shapes-cls/1", "client-chosen-id", b"x") == 200
    assert stack.request("POST", "/classify/shapes-cls/1", None, b"x") == 200
    seen = [r for r in stack.up.seen if r["path"] == "/classify/shapes-cls/1"]
    ids = [r["headers"]["x-request-id"] for r in seen]
    assert "client-chosen-id" in ids, "the client's X-Request-ID was not passed through"
    assert any(re.fullmatch(r"[0-9a-f]{32}", i) for i in ids), "no X-Request-ID was set"
    for record in seen:
        headers = record["headers"]
        assert headers["host"] == "detect.example.test"  # the route family label
        assert headers["x-forwarded-for"] == "127.0.0.1"
        assert headers["x-real-ip"] == "127.0.0.1"
        assert headers["x-forwarded-proto"] == "http"
        assert record["version"] == "HTTP/1.1"
        assert "close" not in headers.get("connection", "").lower()


def test_nginx_keeps_upstream_connections_alive(stack: Stack) -> None:
    before = len(stack.up.seen)
    for i in range(4):
        stack.request("GET", "/healthz", f"alive-{i}")
    ports = [r["client_port"] for r in stack.up.seen[before:]]
    assert len(ports) == 4
    assert len(set(ports)) < len(ports), "no upstream connection reused"


def test_nginx_keeps_metrics_private(stack: Stack) -> None:
    before = len(stack.down.seen) + len(stack.up.seen)
    assert stack.request("GET", "/metrics") == 404
    assert len(stack.down.seen) + len(stack.up.seen) == before
