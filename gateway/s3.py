"""`s3://bucket/key` images, read with boto3's standard credential chain.

GATEWAY_S3_ENDPOINT_URL points at an S3-compatible store (MinIO, moto, ...).
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

from gateway.errors import InvalidImage, PayloadTooLarge


def parse_s3_url(url: str) -> tuple[str, str]:
    parsed = urlparse(url)
    key = parsed.path.lstrip("/")
    if parsed.scheme != "s3" or not parsed.netloc or not key:
        raise InvalidImage(f"expected s3://bucket/key, got {url[:200]!r}")
    return parsed.netloc, key


def read_object(url: str, max_bytes: int, endpoint_url: str | None = None) -> bytes:
    """The object's bytes (blocking: call from a worker thread)."""
    import boto3
    from botocore.exceptions import BotoCoreError, ClientError

    bucket, key = parse_s3_url(url)
    client: Any = boto3.client("s3", endpoint_url=endpoint_url or None)
    try:
        response = client.get_object(Bucket=bucket, Key=key)
        if int(response.get("ContentLength", 0)) > max_bytes:
            raise PayloadTooLarge(f"the object {url[:200]} is over the limit of {max_bytes} bytes")
        data: bytes = response["Body"].read(max_bytes + 1)
    except ClientError as exc:
        code = exc.response.get("Error", {}).get("Code", "error")
        raise InvalidImage(f"could not read {url[:200]}: {code}") from None
    except BotoCoreError as exc:
        raise InvalidImage(f"could not read {url[:200]}: {exc}") from None
    if len(data) > max_bytes:
        raise PayloadTooLarge(f"the object {url[:200]} is over the limit of {max_bytes} bytes")
    return data
