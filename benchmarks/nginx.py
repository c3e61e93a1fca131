"""A real nginx on loopback in front of gateway replicas: configs/nginx/proxy.conf (the
compose stack's proxy settings) inside a minimal http block, in a directory of its own.
Used by benchmarks/replicas.py and the topology tests."""

from __future__ import annotations

import re
import shutil
import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
PROXY_CONF = ROOT / "configs/nginx/proxy.conf"
TEMP_PATHS = ("client_body", "proxy", "fastcgi", "uwsgi", "scgi")


def find_nginx() -> str | None:
    return shutil.which("nginx") or next(
        (p for p in ("/usr/sbin/nginx", "/usr/local/sbin/nginx") if Path(p).is_file()), None
    )


def nginx_version(nginx: str) -> tuple[int, ...]:
    output = subprocess.run([nginx, "-v"], capture_output=True, text=True, check=False).stderr
    match = re.search(r"nginx/(\d+)\.(\d+)\.(\d+)", output)
    if match is None:
        raise RuntimeError(f"{nginx} -v said {output!r}")
    return tuple(int(part) for part in match.groups())


def temp_paths(directory: Path) -> str:
    return "".join(f'    {kind}_temp_path "{directory / kind}";\n' for kind in TEMP_PATHS)


def minimal_config(
    directory: Path, upstream_ports: list[int], port: int, access_log: bool = True
) -> str:
    """The smallest http block around proxy.conf: an `upstream gateway` and a server."""
    servers = "".join(f"        server 127.0.0.1:{p} max_fails=0;\n" for p in upstream_ports)
    log = f'"{directory / "access.log"}"' if access_log else "off"
    return (
        "daemon off;\nmaster_process off;\n"
        f'pid "{directory / "nginx.pid"}";\nerror_log "{directory / "error.log"}" info;\n'
        "events { worker_connections 64; }\n"
        "http {\n"
        f"    access_log {log};\n"
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
