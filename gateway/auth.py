"""API keys: where they come from, and whether one may use a model.

Keys come from a YAML file (`configs/keys.yaml`, or GATEWAY_KEYS_FILE):

    keys:
      - name: local-demo          # shown in logs instead of the key itself
        key: ...                  # the secret
        models: ["*"]             # model ids, or "*" for all (the default)

and from GATEWAY_API_KEYS (comma-separated, access to every model). Keys are compared
in constant time and never logged; a key's `name` stands for it in messages.
"""

from __future__ import annotations

import hmac
import logging
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway.errors import ConfigError, Forbidden, Unauthorized

log = logging.getLogger(__name__)

DEMO_KEY_NAME = "local-demo"


@dataclass(frozen=True)
class ApiKey:
    name: str
    secret: str
    models: frozenset[str] = frozenset({"*"})

    def allows(self, model_id: str) -> bool:
        return "*" in self.models or model_id in self.models


def _parse_key(raw: Any, index: int, source: Path) -> ApiKey:
    if not isinstance(raw, Mapping) or not isinstance(raw.get("key"), str) or not raw["key"]:
        raise ConfigError(f"{source}: keys[{index}]: field 'key': required, a non-empty string")
    models = raw.get("models", ["*"])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"{source}: keys[{index}]: field 'models': expected a list of model ids")
    return ApiKey(str(raw.get("name", f"key-{index}")), raw["key"], frozenset(models))


def load_keys(path: Path | None, env_keys: str = "") -> list[ApiKey]:
    """Keys from the YAML file (if any) and from GATEWAY_API_KEYS."""
    keys: list[ApiKey] = []
    if path is not None and path.is_file():
        try:
            document = yaml.safe_load(path.read_text()) or {}
        except yaml.YAMLError as exc:
            raise ConfigError(f"keys file {path} is not valid YAML: {exc}") from None
        if not isinstance(document, Mapping) or not isinstance(document.get("keys", []), list):
            raise ConfigError(f"keys file {path}: expected a top-level 'keys:' list")
        keys += [_parse_key(raw, i, path) for i, raw in enumerate(document.get("keys", []))]
    secrets = [s.strip() for s in env_keys.split(",") if s.strip()]
    keys += [ApiKey(f"env-{i}", secret) for i, secret in enumerate(secrets)]
    return keys


class KeyStore:
    """Checks a presented key against every configured key, in constant time."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._keys = [(k, k.secret.encode()) for k in keys]

    def __len__(self) -> int:
        return len(self._keys)

    @property
    def demo_key_active(self) -> bool:
        return any(key.name == DEMO_KEY_NAME for key, _ in self._keys)

    def identify(self, presented: str | None) -> ApiKey:
        """The key matching `presented`; Unauthorized when there is none."""
        if not presented:
            raise Unauthorized("This method requires an API key: pass ?api_key= or a Bearer token")
        candidate = presented.encode()
        found = None
        for key, secret in self._keys:  # no early exit: the time does not depend on which
            if hmac.compare_digest(secret, candidate):
                found = key
        if found is None:
            raise Unauthorized("User is not authorized to access this resource")
        return found

    def authorize(self, presented: str | None, model_id: str) -> ApiKey:
        key = self.identify(presented)
        if not key.allows(model_id):
            raise Forbidden(f"This API key does not have access to model '{model_id}'")
        return key
