"""nginx for the tests: the benchmarks' helpers, skipping where nginx is not installed."""

from __future__ import annotations

import pytest

from benchmarks.nginx import (
    PROXY_CONF,
    find_nginx,
    minimal_config,
    nginx_command,
    nginx_version,
    temp_paths,
)

__all__ = [
    "PROXY_CONF",
    "minimal_config",
    "nginx_binary",
    "nginx_command",
    "nginx_version",
    "temp_paths",
]


def nginx_binary() -> str:
    nginx = find_nginx()
    if nginx is None:
        pytest.skip("nginx is not installed (apt-get install nginx)")
    return nginx
