"""The workflow engine's execute call (docs/architecture.md, "Engine call"): a ``Deliverer`` over HTTP.

2xx is delivered; 408, 429, 5xx, timeouts and connection errors are worth another try; any other 4xx is the
engine refusing the firing for good.
"""

from __future__ import annotations

import json
import time
from datetime import UTC, datetime
from email.utils import parsedate_to_datetime
from http import HTTPStatus
from typing import Any
from urllib.parse import quote

import requests
from requests.adapters import HTTPAdapter

from workflow_scheduler.domain.delivery import Delivery, DeliveryResult
from workflow_scheduler.domain.firing import TriggerEvent

MAX_ERROR_CHARS = 1000
_TRANSIENT_4XX = frozenset({HTTPStatus.REQUEST_TIMEOUT, HTTPStatus.TOO_MANY_REQUESTS})


def engine_session(pool_size: int) -> requests.Session:
    """A session for the engine calls of concurrent workers: one pooled connection per worker, no own retries."""
    session = requests.Session()
    adapter = HTTPAdapter(pool_connections=1, pool_maxsize=pool_size, max_retries=0)
    session.mount("http://", adapter)
    session.mount("https://", adapter)
    return session


class EngineDeliverer:
    def __init__(
        self,
        base_url: str,
        session: requests.Session,
        *,
        connect_timeout: float,
        read_timeout: float,
    ) -> None:
        self._base_url = base_url.rstrip("/")
        self._session = session
        self._timeout = (connect_timeout, read_timeout)

    def deliver(self, event: TriggerEvent) -> Delivery:
        url = f"{self._base_url}/v1/workflows/{quote(event.workflow_id, safe='')}/execute"
        started = time.monotonic()
        try:
            response = self._session.post(
                url,
                json=event.engine_body(),
                headers={"Idempotency-Key": event.execution_id},
                timeout=self._timeout,
                allow_redirects=False,  # a redirected POST would become a GET
            )
        except requests.Timeout:
            error = f"the engine did not answer within {self._timeout[1]:g} s"
            return Delivery(DeliveryResult.RETRY, _elapsed_ms(started), error=error)
        except requests.RequestException as exc:
            error = f"cannot reach the engine: {type(exc).__name__}"
            return Delivery(DeliveryResult.RETRY, _elapsed_ms(started), error=error)
        latency_ms = _elapsed_ms(started)
        status = response.status_code
        if 200 <= status < 300:
            return Delivery(DeliveryResult.DELIVERED, latency_ms, status, detail=_answer(response))
        error = f"the engine answered {status}: {_message(response)}"
        if 400 <= status < 500 and status not in _TRANSIENT_4XX:
            return Delivery(DeliveryResult.REJECTED, latency_ms, status, error=error)
        # 408, 429, 5xx, and anything unexpected (1xx, 3xx: a wrong URL) is retried, then parked for a person.
        retry_after = parse_retry_after(response.headers.get("Retry-After"))
        return Delivery(DeliveryResult.RETRY, latency_ms, status, error=error, retry_after_seconds=retry_after)


def parse_retry_after(value: str | None, now: datetime | None = None) -> float | None:
    """Seconds from a ``Retry-After`` header: delay-seconds or an HTTP date; None when absent or unreadable."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return float(value)
    try:
        when = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if when.tzinfo is None:
        return None
    return max(0.0, (when - (now or datetime.now(UTC))).total_seconds())


def _elapsed_ms(started: float) -> int:
    return round((time.monotonic() - started) * 1000)


def _answer(response: requests.Response) -> dict[str, Any]:
    """The engine's JSON answer (it answers 202 with the execution id); other bodies are kept as short text."""
    try:
        body = response.json()
    except ValueError:
        return {"text": response.text[:MAX_ERROR_CHARS]} if response.text else {}
    return body if isinstance(body, dict) else {"answer": body}


def _message(response: requests.Response) -> str:
    """What the engine said went wrong: its JSON ``message`` or ``error``, else the body, truncated."""
    text = response.text.strip()
    try:
        body = json.loads(text)
    except ValueError:
        body = None
    if isinstance(body, dict):
        said = body.get("message") or body.get("error")
        if isinstance(said, str):
            text = said
    return (text or response.reason or "no message")[:MAX_ERROR_CHARS]
