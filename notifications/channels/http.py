"""POST JSON over a shared httpx.Client and turn every failure into a DeliveryError."""

from __future__ import annotations

from typing import Any

import httpx

from domain.delivery import is_retryable_status
from notifications.channels.base import DeliveryError


def post_json(client: httpx.Client, url: str, *, content: bytes, headers: dict[str, str] | None = None,
              params: dict[str, str] | None = None) -> httpx.Response:
    """POST a JSON body; raise DeliveryError on a transport failure or a non-2xx status."""
    all_headers = {"Content-Type": "application/json; charset=utf-8", **(headers or {})}
    try:
        response = client.post(url, content=content, headers=all_headers, params=params)
    except httpx.TimeoutException as exc:
        raise DeliveryError(True, f"timeout: {type(exc).__name__}") from None
    except httpx.TransportError as exc:
        raise DeliveryError(True, f"connection failed: {type(exc).__name__}: {exc}") from None
    if not 200 <= response.status_code < 300:
        raise DeliveryError(is_retryable_status(response.status_code),
                            f"HTTP {response.status_code}: {response.text[:200]}")
    return response


def json_body(response: httpx.Response) -> dict[str, Any]:
    """The response's JSON object; a 200 that is not one is a (retryable) failure."""
    try:
        body = response.json()
    except ValueError:
        raise DeliveryError(True, f"HTTP {response.status_code}: not JSON: {response.text[:200]}") from None
    if not isinstance(body, dict):
        raise DeliveryError(True, f"HTTP {response.status_code}: unexpected JSON: {response.text[:200]}")
    return body
