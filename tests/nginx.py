"""A real nginx on loopback in front of gateway replicas, with configs/nginx/proxy.conf
(the compose stack's proxy settings) inside a minimal http block."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[1]
PROXY_CONF = ROOT / "configs/nginx/proxy.conf"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def nginx_binary() -> str:
    nginx = shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return nginx


def nginx_version(nginx: str) -> tuple[int, ...]:
    output = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", output)
    assert match, output
    return tuple(int(part) for part in match.groups())


def temp_paths(directory: Path) -> str:
    return "".join(f'    {kind}_temp_path "{directory / kind}";\n' for kind in TEMP_PATHS)


def minimal_config(directory: Path, upstream_ports: list[int], port: int) -> str:
    """The smallest http block around proxy.conf: an `upstream gateway` and a server."""
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=0;\n" for p in upstream_ports)
    return (
        "daemon off;\nmaster_process off;\n"
        f'pid "{directory / "nginx.pid"}";\nerror_log "{directory / "error.log"}" info;\n'
        "events { worker_connections 64; }\n"
        "http {\n"
        f'    access_log "{directory / "access.log"}";\n'
        f"{temp_paths(directory)}"
        "    upstream gateway {\n"
        f"{servers}"
        "        keepalive 16;\n"
        "        keepalive_timeout 60s;\n"
        "    }\n"
        "    server {\n"
        f"        listen 127.0.0.1:{port};\n"
        f'        include "{PROXY_CONF}";\n'
        "    }\n"
        "}\n"
    )


def nginx_command(nginx: str, directory: Path) -> list[str]:
    """nginx with its prefix, error log (-e: 1.19.5+) and config in `directory`."""
    command = [nginx, "-p", str(directory), "-c", str(directory / "nginx.conf")]
    if nginx_version(nginx) >= (1, 19, 5):
        command += ["-e", str(directory / "error.log")]  # not /var/log/nginx, even at start
    return command
