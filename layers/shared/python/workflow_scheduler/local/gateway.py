"""The local API Gateway: HTTP requests in, REST proxy events to the functions' handlers, proxy results out.

It behaves like the deployed REST API where a difference would hide a bug (10 MiB request limit, strict
proxy results, 502 when a function fails) and serves at the root, the way a custom domain does (no stage in
the URL). Local-only endpoints (the engine stub) are mounted beside the routes.
"""

from __future__ import annotations

import base64
import binascii
import json
import logging
import socket
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http import HTTPStatus
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any
from urllib.parse import urlsplit

from workflow_scheduler.local.apigw import rest_event
from workflow_scheduler.local.invoke import LocalContext
from workflow_scheduler.local.routes import Route, find

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit for REST APIs
INTEGRATION_TIMEOUT_SECONDS = 29  # API Gateway answers 504 after this; locally we only warn
_DRAIN_SECONDS = 5.0
_HOP_BY_HOP = {"connection", "content-length", "keep-alive", "transfer-encoding"}

log = logging.getLogger("local.gateway")

LambdaHandler = Callable[[dict[str, Any], Any], Any]


@dataclass(frozen=True)
class LocalRequest:
    method: str
    path: str  # as sent: percent-encoded, without the query
    query: str
    headers: dict[str, str]
    body: bytes | None
    client_ip: str = "127.0.0.1"

    def header(self, name: str) -> str | None:
        lowered = name.lower()
        return next((value for key, value in self.headers.items() if key.lower() == lowered), None)


@dataclass
class LocalResponse:
    status: int
    body: bytes = b""
    headers: list[tuple[str, str]] = field(default_factory=list)
    target: str = "gateway"  # who answered, for the access log


# A local endpoint beside the routes: its answer, or None when the request is not for it.
Mount = Callable[[LocalRequest], LocalResponse | None]


def json_response(status: HTTPStatus, payload: Any, target: str) -> LocalResponse:
    return LocalResponse(status.value, json.dumps(payload).encode(), [("Content-Type", "application/json")], target)


def error_response(status: HTTPStatus, code: str, message: str) -> LocalResponse:
    return json_response(status, {"error": code, "message": message}, "gateway")


class InvalidProxyResult(ValueError):
    """A result API Gateway cannot turn into a response (it answers 502 "Internal server error")."""


def proxy_response(result: Any) -> LocalResponse:
    """The HTTP response API Gateway makes of a Lambda proxy integration's result."""
    if not isinstance(result, dict):
        raise InvalidProxyResult(f"the result is a {type(result).__name__}, not an object")
    status = result.get("statusCode")
    if isinstance(status, str) and status.isdigit():
        status = int(status)
    if not isinstance(status, int) or isinstance(status, bool) or not 100 <= status <= 599:
        raise InvalidProxyResult(f"statusCode {status!r} is not an HTTP status")
    body = result.get("body")
    if body is not None and not isinstance(body, str):
        raise InvalidProxyResult(f"body is a {type(body).__name__}, not a string")
    try:
        data = base64.b64decode(body or "", validate=True) if result.get("isBase64Encoded") else (body or "").encode()
    except binascii.Error as exc:
        raise InvalidProxyResult(f"isBase64Encoded is true but the body is not base64 ({exc})") from exc
    # API Gateway merges both header maps; multiValueHeaders wins for a name present in both.
    merged: dict[str, tuple[str, list[str]]] = {}
    for name, value in (result.get("headers") or {}).items():
        merged[name.lower()] = (name, [str(value)])
    for name, values in (result.get("multiValueHeaders") or {}).items():
        merged[name.lower()] = (name, [str(v) for v in values])
    merged.setdefault("content-type", ("Content-Type", ["application/json"]))  # API Gateway's default
    headers = [(name, value) for key, (name, values) in merged.items() if key not in _HOP_BY_HOP for value in values]
    return LocalResponse(status, data, headers)


class Gateway:
    """Routes a request to a function (as a REST proxy event) or to a mounted local endpoint."""

    def __init__(
        self,
        routes: list[Route],
        handlers: dict[str, LambdaHandler],
        mounts: list[Mount],
        domain_name: str,
    ) -> None:
        self._routes = routes
        self._handlers = handlers
        self._mounts = mounts
        self._domain_name = domain_name
        # One invocation at a time, across functions: Powertools' Logger and Metrics are process-wide state
        # shared by every function here (in AWS each function has its own process), and a Lambda instance
        # handles one event at a time anyway. Mounted endpoints do not take it, so a function may call them.
        self._invoke_lock = threading.Lock()

    @property
    def invoke_lock(self) -> threading.Lock:
        """Held while a function runs; other local event sources (the dispatch poller) take it too."""
        return self._invoke_lock

    def handle(self, request: LocalRequest) -> LocalResponse:
        for mount in self._mounts:
            response = mount(request)
            if response is not None:
                return response
        found = find(self._routes, request.method, request.path)
        if found is None:
            # API Gateway's own answer is 403 "Missing Authentication Token"; the stack's gateway responses
            # (infra_cdk/features/api.py) turn it into this 404 in the project's error shape.
            return error_response(HTTPStatus.NOT_FOUND, "not_found", "no route matches the request")
        route, params = found
        missing = [name for name in route.required_headers if request.header(name) is None]
        if missing:  # checked by API Gateway's request validator, before the function runs
            message = f"Missing required request parameters: [{', '.join(missing)}]"
            return error_response(HTTPStatus.BAD_REQUEST, "bad_request", message)
        return self._invoke(route, params, request)

    def _invoke(self, route: Route, params: dict[str, str], request: LocalRequest) -> LocalResponse:
        headers = dict(request.headers)
        for name, value in (
            ("X-Forwarded-For", request.client_ip),
            ("X-Forwarded-Proto", "http"),
            ("X-Forwarded-Port", self._domain_name.rpartition(":")[2]),
        ):
            if request.header(name) is None:
                headers[name] = value
        event = rest_event(
            request.method,
            request.path,
            resource=route.resource,
            path_parameters=params,
            headers=headers,
            query=request.query,
            body=request.body,
            domain_name=self._domain_name,
            source_ip=request.client_ip,
        )
        event["requestContext"]["path"] = request.path  # served at the root, like a custom domain
        context = LocalContext(function_name=f"workflow-scheduler-{route.function}")
        with self._invoke_lock:
            started = time.monotonic()
            try:
                result = self._handlers[route.function](event, context)
                response = proxy_response(result)
            except InvalidProxyResult as exc:
                log.error("%s returned an invalid proxy result: %s", route.function, exc)
                message = f"the {route.function} function returned an invalid proxy result: {exc}"
                response = error_response(HTTPStatus.BAD_GATEWAY, "internal_error", message)
            except Exception:
                log.exception("%s failed", route.function)
                response = error_response(
                    HTTPStatus.BAD_GATEWAY, "internal_error", f"the {route.function} function failed; see its log"
                )
            elapsed = time.monotonic() - started
        if elapsed > INTEGRATION_TIMEOUT_SECONDS:
            log.warning("%s took %.1f s: API Gateway would have answered 504", route.function, elapsed)
        response.target = route.function
        return response


class _RequestTooLarge(Exception):
    pass


class _BadRequest(Exception):
    pass


class _RequestHandler(BaseHTTPRequestHandler):
    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    server_version = "workflow-scheduler-local"
    timeout = 120  # idle keep-alive connections let go of their thread
    server: GatewayHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def do_GET(self) -> None:
        self._serve()

    do_POST = do_PUT = do_DELETE = do_PATCH = do_HEAD = do_OPTIONS = do_GET

    def handle_expect_100(self) -> bool:
        # A client that asks first (curl does for large bodies) hears "too large" before sending the body.
        if self._declared_length() > MAX_REQUEST_BYTES:
            self._started = time.monotonic()
            self._respond(self._too_large(), close=True)
            return False
        return super().handle_expect_100()

    def _serve(self) -> None:
        self._started = time.monotonic()
        try:
            body = self._read_body()
        except _RequestTooLarge:
            self._respond(self._too_large(), close=True)
            self._discard_rest()
            return
        except _BadRequest as exc:
            self._respond(error_response(HTTPStatus.BAD_REQUEST, "bad_request", str(exc)), close=True)
            return
        except (ConnectionError, TimeoutError):
            self.close_connection = True
            return
        url = urlsplit(self.path)
        request = LocalRequest(
            method=self.command,
            path=url.path or "/",
            query=url.query,
            headers=dict(self.headers.items()),
            body=body,
            client_ip=self.client_address[0],
        )
        self._respond(self.server.gateway.handle(request))

    def _declared_length(self) -> int:
        try:
            return int(self.headers.get("Content-Length", "0"))
        except ValueError:
            return 0

    def _too_large(self) -> LocalResponse:
        message = f"the request body exceeds API Gateway's limit of {MAX_REQUEST_BYTES} bytes"
        return error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", message)

    def _read_body(self) -> bytes | None:
        """The body (None when there is none, as API Gateway sends it); never reads past the limit."""
        if "chunked" in self.headers.get("Transfer-Encoding", "").lower():
            return self._read_chunked() or None
        raw_length = self.headers.get("Content-Length")
        if raw_length is None:
            return None
        if not raw_length.strip().isdigit():
            raise _BadRequest(f"invalid Content-Length {raw_length!r}")
        length = int(raw_length)
        if length > MAX_REQUEST_BYTES:
            raise _RequestTooLarge
        data = self.rfile.read(length)
        if len(data) < length:
            raise ConnectionError("the client closed the connection before sending the whole body")
        return data or None

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            line = self.rfile.readline(1024)
            try:
                size = int(line.split(b";", 1)[0].strip(), 16)
            except ValueError:
                raise _BadRequest("malformed chunked body") from None
            if size == 0:
                while self.rfile.readline(1024).strip():  # trailer fields, up to the blank line
                    pass
                return b"".join(chunks)
            total += size
            if total > MAX_REQUEST_BYTES:
                raise _RequestTooLarge
            chunks.append(self.rfile.read(size))
            self.rfile.readline(1024)

    def _discard_rest(self) -> None:
        """Read and drop what the client is still sending, for a while, before closing.

        Closing with unread data makes the kernel reset the connection, and a client still sending its body
        would see the reset instead of our 413 (nginx's "lingering close" does the same).
        """
        deadline = time.monotonic() + _DRAIN_SECONDS
        try:
            self.connection.settimeout(1.0)
            while time.monotonic() < deadline and self.rfile.read1(1 << 16):
                pass
        except OSError:
            pass

    def _respond(self, response: LocalResponse, close: bool = False) -> None:
        try:
            self.send_response(response.status)
            for name, value in response.headers:
                self.send_header(name, value)
            self.send_header("Content-Length", str(len(response.body)))
            if close:
                self.send_header("Connection", "close")
            self.end_headers()
            if self.command != "HEAD":
                self.wfile.write(response.body)
            self.wfile.flush()
        except (ConnectionError, TimeoutError):
            self.close_connection = True
        elapsed_ms = (time.monotonic() - self._started) * 1000
        path = urlsplit(self.path).path
        log.info("%s %s %d %.0f ms (%s)", self.command, path, response.status, elapsed_ms, response.target)

    def log_request(self, code: int | str = "-", size: int | str = "-") -> None:
        """Silenced: ``_respond`` writes one access-log line per request, with its duration."""

    def log_message(self, format: str, *args: Any) -> None:
        log.warning("%s: %s", self.address_string(), format % args)


class GatewayHTTPServer(ThreadingHTTPServer):
    daemon_threads = True  # an idle keep-alive connection must not delay the exit
    gateway: Gateway

    def handle_error(self, request: Any, client_address: Any) -> None:
        log.exception("error while serving %s", client_address[0])


class _GatewayHTTPServer6(GatewayHTTPServer):
    address_family = socket.AF_INET6


class GatewayServer:
    """The listening socket (bound at construction, so a busy port fails before anything else starts)."""

    def __init__(self, host: str, port: int) -> None:
        server_class = _GatewayHTTPServer6 if ":" in host else GatewayHTTPServer
        self._httpd = server_class((host, port), _RequestHandler)
        self._thread: threading.Thread | None = None

    @property
    def port(self) -> int:
        return int(self._httpd.server_address[1])

    def serve(self, gateway: Gateway) -> None:
        self._httpd.gateway = gateway
        self._thread = threading.Thread(target=self._httpd.serve_forever, name="gateway", daemon=True)
        self._thread.start()

    def close(self) -> None:
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
        self._httpd.server_close()
