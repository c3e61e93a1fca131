"""API keys: where they come from, and whether one may use a model.

Keys come from a YAML file (`configs/keys.yaml`, or GATEWAY_KEYS_FILE), which holds
only their SHA-256 digests (`gateway keys create` makes a key and its entry):

    keys:
      - name: mobile-app          # unique; stands for the key in logs and task ownership
        key_hash: sha256:9f86...  # hex digest of the secret
        models: ["*"]             # model ids, or "*" for all (the default)
        rate_limit: 10            # optional: requests per second (GATEWAY_RATE_LIMIT)
        burst: 20                 # optional: requests at once above the rate
        concurrency_limit: 4      # optional: requests in progress (GATEWAY_CONCURRENCY_LIMIT)

and from GATEWAY_API_KEYS (comma-separated secrets, access to every model). Keys are
random tokens, so one fast digest is enough (no salt or stretching needed: there is no
dictionary to attack). A presented key is digested and compared with every stored
digest in constant time; keys are never logged or echoed, their `name` is.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import re
import secrets
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import yaml

from gateway import context
from gateway.errors import ConfigError, Forbidden, Unauthorized
from gateway.limits import Limits

log = logging.getLogger(__name__)

DEMO_KEY_NAME = "local-demo"
HASH_PREFIX = "sha256:"
DIGEST = re.compile(r"sha256:[0-9a-f]{64}")
NAME = re.compile(r"[A-Za-z0-9][A-Za-z0-9_.-]{0,63}")


def digest(secret: str) -> bytes:
    return hashlib.sha256(secret.encode()).digest()


def key_hash(secret: str) -> str:
    """The `key_hash` of a key as the keys file stores it."""
    return HASH_PREFIX + digest(secret).hex()


def new_key() -> str:
    """A fresh random key (256 bits)."""
    return "gw_" + secrets.token_urlsafe(32)


@dataclass(frozen=True)
class ApiKey:
    name: str
    digest: bytes
    models: frozenset[str] = frozenset({"*"})
    limits: Limits | None = None  # None: the gateway's defaults

    def allows(self, model_id: str) -> bool:
        return "*" in self.models or model_id in self.models


def _parse_key(raw: Any, index: int, source: Path) -> ApiKey:
    where = f"{source}: keys[{index}]"
    if not isinstance(raw, Mapping):
        raise ConfigError(f"{where}: expected a mapping with name, key_hash and models")
    if "key" in raw:
        raise ConfigError(
            f"{where}: plain 'key' is not accepted; store its digest as key_hash "
            "(`gateway keys hash` prints it, `gateway keys create` makes a new key)"
        )
    name, hashed = raw.get("name"), raw.get("key_hash")
    if not isinstance(name, str) or not NAME.fullmatch(name):
        raise ConfigError(f"{where}: field 'name': required, letters, digits, '_.-' (<= 64)")
    if not isinstance(hashed, str) or not DIGEST.fullmatch(hashed):
        raise ConfigError(f"{where}: field 'key_hash': expected sha256:<64 hex digits>")
    models = raw.get("models", ["*"])
    if not isinstance(models, list) or not all(isinstance(m, str) for m in models):
        raise ConfigError(f"{where}: field 'models': expected a list of model ids")
    digest_ = bytes.fromhex(hashed.removeprefix(HASH_PREFIX))
    return ApiKey(name, digest_, frozenset(models), _parse_limits(raw, where))


def _parse_limits(raw: Mapping[str, Any], where: str) -> Limits | None:
    """The key's own limits, when its entry sets any (the unset ones are unlimited)."""
    fields = {"rate_limit": "rate", "burst": "burst", "concurrency_limit": "concurrency"}
    values: dict[str, Any] = {}
    for name, attribute in fields.items():
        value = raw.get(name)
        if value is None:
            continue
        integral = attribute != "rate"
        kinds = int if integral else int | float
        if isinstance(value, bool) or not isinstance(value, kinds) or value < 0:
            kind = "an integer" if integral else "a number"
            raise ConfigError(f"{where}: field '{name}': expected {kind} >= 0")
        values[attribute] = value if integral else float(value)
    return Limits(**values) if values else None


def read_keys_file(path: Path) -> list[ApiKey]:
    try:
        document = yaml.safe_load(path.read_text()) or {}
    except yaml.YAMLError as exc:
        raise ConfigError(f"keys file {path} is not valid YAML: {exc}") from None
    if not isinstance(document, Mapping) or not isinstance(document.get("keys") or [], list):
        raise ConfigError(f"keys file {path}: expected a top-level 'keys:' list")
    return [_parse_key(raw, i, path) for i, raw in enumerate(document.get("keys") or [])]


def load_keys(path: Path | None, env_keys: str = "") -> list[ApiKey]:
    """Keys from the YAML file (if any) and from GATEWAY_API_KEYS; names are unique."""
    keys = read_keys_file(path) if path is not None and path.is_file() else []
    secrets_ = [s.strip() for s in env_keys.split(",") if s.strip()]
    keys += [ApiKey(f"env-{i}", digest(secret)) for i, secret in enumerate(secrets_)]
    names = [key.name for key in keys]
    duplicates = sorted({name for name in names if names.count(name) > 1})
    if duplicates:
        raise ConfigError(f"API key names must be unique; repeated: {', '.join(duplicates)}")
    return keys


class KeyStore:
    """Checks a presented key against every configured key, in constant time."""

    def __init__(self, keys: list[ApiKey]) -> None:
        self._keys = list(keys)

    def __len__(self) -> int:
        return len(self._keys)

    def __iter__(self) -> Iterator[ApiKey]:
        return iter(self._keys)

    @property
    def demo_key_active(self) -> bool:
        return any(key.name == DEMO_KEY_NAME for key in self._keys)

    def identify(self, presented: str | None) -> ApiKey:
        """The key matching `presented`; Unauthorized when there is none."""
        if not presented:
            raise Unauthorized("This method requires an API key: pass ?api_key= or a Bearer token")
        candidate = digest(presented)
        found = None
        for key in self._keys:  # no early exit: the time does not depend on which
            if hmac.compare_digest(key.digest, candidate):
                found = key
        if found is None:
            raise Unauthorized("User is not authorized to access this resource")
        context.note_client(found.name)  # its name, for the access log
        return found

    def authorize(self, presented: str | None, model_id: str) -> ApiKey:
        key = self.identify(presented)
        if not key.allows(model_id):
            raise Forbidden(f"This API key does not have access to model '{model_id}'")
        return key


def append_key(path: Path, name: str, secret: str, models: list[str]) -> None:
    """Add a key's entry to the keys file (created if missing), keeping its comments."""
    existing = read_keys_file(path) if path.is_file() else []
    if any(key.name == name for key in existing):
        raise ConfigError(f"{path}: a key named {name!r} already exists")
    entry = {"name": name, "key_hash": key_hash(secret), "models": models}
    text = path.read_text() if path.is_file() else ""
    if not re.search(r"^keys:", text, re.MULTILINE):
        text = text.rstrip("\n") + ("\n" if text else "") + "keys:\n"
    elif not text.endswith("\n"):
        text += "\n"
    line = "  - " + yaml.safe_dump(entry, default_flow_style=True, sort_keys=False).strip()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text + line + "\n")
    read_keys_file(path)  # the file still parses, with the new entry
