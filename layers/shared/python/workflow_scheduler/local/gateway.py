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
import re
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
from workflow_scheduler.local.routes import ANY, Route, find

MAX_REQUEST_BYTES = 10 * 1024 * 1024  # API Gateway's payload limit for REST APIs
MAX_HEADER_BYTES = 10240  # API Gateway's limit on the request line plus the header fields (REST APIs)
INTEGRATION_TIMEOUT_SECONDS = 29  # API Gateway answers 504 after this; locally we only warn
API_GATEWAY_METHODS = ("DELETE", "GET", "HEAD", "OPTIONS", "PATCH", "POST", "PUT")  # what ANY means there
_DRAIN_SECONDS = 5.0
_BODY_READ_SECONDS = 30.0  # a client that stops sending its body mid-way hears 408 after this
_MAX_CHUNK_LINE = 4096  # a chunk-size line with its extensions, or a trailer field
_MAX_TRAILERS = 64
_CHUNK_SIZE_LINE = re.compile(rb"([0-9A-Fa-f]{1,8})[ \t]*(;[^\r\n]*)?\r?\n")
_DECIMAL = re.compile(r"[0-9]+")
# The error code of each refusal the HTTP layer makes before a request reaches a route.
_ERROR_CODES = {
    HTTPStatus.BAD_REQUEST: "bad_request",
    HTTPStatus.REQUEST_TIMEOUT: "request_timeout",
    HTTPStatus.REQUEST_ENTITY_TOO_LARGE: "payload_too_large",
    HTTPStatus.REQUEST_URI_TOO_LONG: "uri_too_long",
    HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE: "headers_too_large",
}
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
        self._mounts = list(mounts)
        self._domain_name = domain_name
        # One invocation at a time per function, as one Lambda instance of it would (in AWS each function has
        # its own instances): a slow deploy does not hold up a webhook. Mounted endpoints take no lock, so a
        # function may call them.
        self._locks: dict[str, threading.Lock] = {}
        self._locks_guard = threading.Lock()

    def mount(self, endpoint: Mount) -> None:
        """Serve another local endpoint beside the routes (one that needs a function's lock, say)."""
        self._mounts.append(endpoint)

    def function_lock(self, function: str) -> threading.Lock:
        """Held while ``function`` runs; the other local event sources (dispatch poller, scheduler) take it too."""
        with self._locks_guard:
            return self._locks.setdefault(function, threading.Lock())

    def handle(self, request: LocalRequest) -> LocalResponse:
        if request.method not in API_GATEWAY_METHODS:
            return self._unknown_method(request)
        for mount in self._mounts:
            response = mount(request)
            if response is not None:
                return response
        found = find(self._routes, request.method, request.path)
        if found is None:
            # API Gateway's own answer is 403 "Missing Authentication Token"; the stack's gateway responses
            # (infra_cdk/functions/api.py) turn it into this 404 in the project's error shape.
            return error_response(HTTPStatus.NOT_FOUND, "not_found", "no route matches the request")
        route, params = found
        missing = [name for name in route.required_headers if request.header(name) is None]
        if missing:  # checked by API Gateway's request validator, before the function runs
            message = f"Missing required request parameters: [{', '.join(missing)}]"
            return error_response(HTTPStatus.BAD_REQUEST, "bad_request", message)
        return self._invoke(route, params, request)

    def _unknown_method(self, request: LocalRequest) -> LocalResponse:
        """405 for a method API Gateway has no integration for (TRACE, PROPFIND, ...), 404 off the routes."""
        allowed = {
            method
            for route in self._routes
            if route.path_parameters(request.path) is not None
            for method in (API_GATEWAY_METHODS if route.method == ANY else (route.method,))
        }
        if not allowed:
            return error_response(HTTPStatus.NOT_FOUND, "not_found", "no route matches the request")
        response = error_response(
            HTTPStatus.METHOD_NOT_ALLOWED, "method_not_allowed", f"the method {request.method!r} is not supported"
        )
        response.headers.append(("Allow", ", ".join(sorted(allowed))))
        return response

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
        with self.function_lock(route.function):
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


class _Refused(Exception):
    """The request cannot be served: the gateway answers it with this and closes the connection."""

    def __init__(self, response: LocalResponse) -> None:
        super().__init__(response.status)
        self.response = response


def _bad_request(message: str) -> _Refused:
    return _Refused(error_response(HTTPStatus.BAD_REQUEST, "bad_request", message))


def _too_large() -> _Refused:
    message = f"the request body exceeds API Gateway's limit of {MAX_REQUEST_BYTES} bytes"
    return _Refused(error_response(HTTPStatus.REQUEST_ENTITY_TOO_LARGE, "payload_too_large", message))


class _RequestHandler(BaseHTTPRequestHandler):
    """Every answer is the gateway's JSON, also http.server's own refusals (its HTML error page never goes out)."""

    protocol_version = "HTTP/1.1"  # keep-alive; every response carries Content-Length
    # The headers and the body are two writes: with Nagle's algorithm the body waits for the client to acknowledge
    # the headers, which a client on a kept-alive connection delays by 40 ms (delayed ACK): 40 ms per request.
    disable_nagle_algorithm = True
    server_version = "workflow-scheduler-local"
    timeout = 120  # idle keep-alive connections let go of their thread
    server: GatewayHTTPServer

    def version_string(self) -> str:
        return self.server_version

    def handle_one_request(self) -> None:
        """One request, whatever its method: the gateway decides (http.server answers unknown ones with HTML 501)."""
        self._started = time.monotonic()
        self.command, self.path, self.request_version = "", "", "HTTP/1.1"  # what the access log shows on a refusal
        try:
            self.raw_requestline = self.rfile.readline(MAX_HEADER_BYTES + 1)
            if len(self.raw_requestline) > MAX_HEADER_BYTES:
                message = f"the request line exceeds API Gateway's limit of {MAX_HEADER_BYTES} bytes"
                self._refuse(error_response(HTTPStatus.REQUEST_URI_TOO_LONG, "uri_too_long", message))
                return
            if not self.raw_requestline:
                self.close_connection = True
                return
            if self.parse_request():
                self._serve()
        except TimeoutError:  # an idle keep-alive connection, or a client that stopped sending its headers
            self.close_connection = True
        except Exception:  # a bug of the gateway itself: still an answer in the project's shape
            log.exception("the local gateway failed on %s %s", self.command, urlsplit(self.path).path)
            self._refuse(error_response(HTTPStatus.INTERNAL_SERVER_ERROR, "internal_error", "the local gateway failed"))

    def parse_request(self) -> bool:
        if not super().parse_request():
            return False
        if self.request_version == "HTTP/0.9":  # a request line without a version
            self._refuse(error_response(HTTPStatus.BAD_REQUEST, "bad_request", "the request line has no HTTP version"))
            return False
        return True

    def send_error(self, code: int, message: str | None = None, explain: str | None = None) -> None:
        """http.server's refusals of a malformed request line or header block, as the gateway's JSON errors."""
        # HTTP/2 on an HTTP/1 connection (http.server's 505) is the client's mistake as much as a malformed line.
        status = HTTPStatus(code) if code in _ERROR_CODES else HTTPStatus.BAD_REQUEST
        text = (message or status.phrase).split(" (", 1)[0]  # its message, without the echo of the request line
        self._refuse(error_response(status, _ERROR_CODES[status], f"malformed request: {text}"))

    def handle_expect_100(self) -> bool:
        # A client that asks first (curl does for large bodies) hears a refusal before it sends the body.
        try:
            self._check_framing()
        except _Refused as refused:
            self._refuse(refused.response)
            return False
        return super().handle_expect_100()

    def _serve(self) -> None:
        try:
            self._check_framing()
            body = self._read_body()
        except _Refused as refused:
            self._refuse(refused.response)
            return
        except ConnectionError:
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

    def _check_framing(self) -> None:
        """Refuse what API Gateway refuses before the body: oversized headers, and a body it cannot delimit."""
        size = len(self.raw_requestline) + sum(len(name) + len(value) + 4 for name, value in self.headers.items())
        if size > MAX_HEADER_BYTES:
            message = f"the request line and headers exceed API Gateway's limit of {MAX_HEADER_BYTES} bytes"
            raise _Refused(error_response(HTTPStatus.REQUEST_HEADER_FIELDS_TOO_LARGE, "headers_too_large", message))
        lengths = self.headers.get_all("Content-Length") or []
        encodings = self.headers.get_all("Transfer-Encoding") or []
        # Both, or disagreeing lengths, could be read two ways (request smuggling): refused, never guessed.
        if lengths and encodings:
            raise _bad_request("a request must not carry both Content-Length and Transfer-Encoding")
        if encodings:
            codings = [coding.strip().lower() for coding in ",".join(encodings).split(",")]
            if codings != ["chunked"]:
                raise _bad_request("the only Transfer-Encoding supported is chunked")
        if lengths:
            if len(set(lengths)) > 1 or not all(_DECIMAL.fullmatch(value.strip()) for value in lengths):
                raise _bad_request("invalid Content-Length")
            if int(lengths[0]) > MAX_REQUEST_BYTES:
                raise _too_large()

    def _read_body(self) -> bytes | None:
        """The body (None when there is none, as API Gateway sends it); never reads past the limit."""
        length = self.headers.get("Content-Length")
        if length is None and self.headers.get("Transfer-Encoding") is None:
            return None
        self.connection.settimeout(_BODY_READ_SECONDS)
        try:
            data = self._read_chunked() if length is None else self._read_exactly(int(length))
        except TimeoutError:
            message = f"the request body did not arrive within {_BODY_READ_SECONDS:.0f} s"
            raise _Refused(error_response(HTTPStatus.REQUEST_TIMEOUT, "request_timeout", message)) from None
        finally:
            self.connection.settimeout(self.timeout)
        return data or None

    def _read_exactly(self, size: int) -> bytes:
        data = self.rfile.read(size)
        if len(data) < size:  # the client half-closed; a client that is gone never sees the answer
            raise _bad_request("the request body is shorter than its Content-Length")
        return data

    def _read_chunked(self) -> bytes:
        chunks: list[bytes] = []
        total = 0
        while True:
            match = _CHUNK_SIZE_LINE.fullmatch(self._read_line())
            if match is None:
                raise _bad_request("malformed chunked body: a chunk size must be hexadecimal digits")
            size = int(match[1], 16)
            if size == 0:
                break
            total += size
            if total > MAX_REQUEST_BYTES:
                raise _too_large()
            chunks.append(self._read_exactly(size))
            if self.rfile.readline(3) not in (b"\r\n", b"\n"):
                raise _bad_request("malformed chunked body: a chunk must end with CRLF")
        for _ in range(_MAX_TRAILERS):  # trailer fields, up to the blank line
            if self._read_line() in (b"\r\n", b"\n"):
                return b"".join(chunks)
        raise _bad_request("malformed chunked body: too many trailer fields")

    def _read_line(self) -> bytes:
        line = self.rfile.readline(_MAX_CHUNK_LINE + 1)
        if not line.endswith(b"\n"):
            raise _bad_request("malformed chunked body: a line is too long or the body ended early")
        return line

    def _refuse(self, response: LocalResponse) -> None:
        """Answer and close: what the client sends next cannot be told apart from this request's body."""
        self._respond(response, close=True)
        self._discard_rest()

    def _discard_rest(self) -> None:
        """Read and drop what the client is still sending, for a while, before closing.

        Closing with unread data makes the kernel reset the connection, and a client still sending its body
        would see the reset instead of our answer (nginx's "lingering close" does the same).
        """
        deadline = time.monotonic() + _DRAIN_SECONDS
        try:
            self.connection.settimeout(1.0)
            while time.monotonic() < deadline and self.rfile.read1(1 << 16):
                pass
        except OSError:
            pass

    def _respond(self, response: LocalResponse, close: bool = False) -> None:
        if self.request_version == "HTTP/0.9":  # http.server's default before it parsed a version: no status line
            self.request_version = "HTTP/1.0"
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
        except OSError:  # the client is gone
            self.close_connection = True
        elapsed_ms = (time.monotonic() - self._started) * 1000
        path = urlsplit(self.path).path
        log.info("%s %s %d %.0f ms (%s)", self.command or "-", path, response.status, elapsed_ms, response.target)

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
        """Stop accepting connections (again is a no-op); requests in flight are not waited for."""
        if self._thread is not None:
            self._httpd.shutdown()
            self._thread.join()
            self._thread = None
        self._httpd.server_close()
