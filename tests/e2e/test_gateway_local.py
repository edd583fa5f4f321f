"""The local gateway refuses what a careless or hostile client sends with JSON 4xx, and keeps serving.

Raw sockets, because an HTTP library would not send these requests: unknown methods, oversized request lines and
headers, malformed request lines, bodies framed in ways that cannot be trusted (bad chunk sizes, truncated chunks,
missing CRLFs, Content-Length and Transfer-Encoding together, a Content-Length that lies) and bodies over API
Gateway's 10 MiB however they are sent. Before the hardening, http.server answered several of these with its HTML
error page (501, 414, 431, 400, 505), read a negative chunk size as "to the end of the stream", and crashed the
handler on a non-ASCII Content-Length.
"""

from __future__ import annotations

import json
import socket
from dataclasses import dataclass
from typing import IO

import pytest
import requests

from tests.e2e.local_system import LocalSystem

pytestmark = pytest.mark.e2e

MiB = 1024 * 1024


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: bytes

    def error(self) -> dict[str, str]:
        """The JSON error body, checked for the project's shape."""
        assert self.headers.get("content-type", "").startswith("application/json"), (self.status, self.body[:200])
        payload = json.loads(self.body)
        assert isinstance(payload, dict) and set(payload) >= {"error", "message"}, payload
        assert isinstance(payload["error"], str) and isinstance(payload["message"], str) and payload["message"]
        return payload


def connect(system: LocalSystem) -> socket.socket:
    host, port = system.base_url.removeprefix("http://").rsplit(":", 1)
    sock = socket.create_connection((host, int(port)), timeout=20)
    return sock


def read_answer(stream: IO[bytes]) -> Answer:
    """One HTTP/1.x response from the stream (interim 1xx answers skipped)."""
    while True:
        status_line = stream.readline()
        assert status_line.startswith(b"HTTP/1."), f"not an HTTP response: {status_line[:200]!r}"
        status = int(status_line.split()[1])
        headers: dict[str, str] = {}
        while (line := stream.readline()) not in (b"\r\n", b"\n", b""):
            name, _, value = line.decode("latin-1").partition(":")
            headers[name.strip().lower()] = value.strip()
        if status >= 200:
            break
    body = stream.read(int(headers.get("content-length", "0")))
    return Answer(status, headers, body)


def exchange(system: LocalSystem, data: bytes, *, half_close: bool = True) -> Answer:
    """Send ``data`` as is (then say we are done sending, unless told not to) and read the answer."""
    with connect(system) as sock:
        sock.sendall(data)
        if half_close:
            sock.shutdown(socket.SHUT_WR)
        with sock.makefile("rb") as stream:
            return read_answer(stream)


def assert_still_serving(system: LocalSystem) -> None:
    assert requests.get(f"{system.base_url}/health", timeout=10).status_code == 200


def chunked(path: str, body: bytes, *headers: str) -> bytes:
    head = f"POST {path} HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n" + "".join(f"{h}\r\n" for h in headers)
    return head.encode() + b"\r\n" + body


REFUSED: dict[str, tuple[bytes, int, str]] = {
    # request line
    "garbage request line": (b"GARBAGE\r\n\r\n", 400, "bad_request"),
    "bad HTTP version": (b"GET /health HTTP/9.x\r\n\r\n", 400, "bad_request"),
    "HTTP/2 request line": (b"GET /health HTTP/2.0\r\n\r\n", 400, "bad_request"),
    "HTTP/0.9 request line": (b"GET /health\r\n\r\n", 400, "bad_request"),
    "URI over 10 KiB": (b"GET /" + b"a" * 11_000 + b" HTTP/1.1\r\n\r\n", 414, "uri_too_long"),
    "URI over http.server's 64 KiB": (b"GET /" + b"a" * 70_000 + b" HTTP/1.1\r\n\r\n", 414, "uri_too_long"),
    # headers
    "headers over 10 KiB": (b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 11_000 + b"\r\n\r\n", 431, "headers_too_large"),
    "header line over 64 KiB": (b"GET /health HTTP/1.1\r\nX-Big: " + b"b" * 70_000 + b"\r\n\r\n", 431, ""),
    "over 100 header fields": (
        b"GET /health HTTP/1.1\r\n" + b"".join(b"X-%d: 1\r\n" % i for i in range(120)) + b"\r\n",
        431,
        "headers_too_large",
    ),
    # Content-Length
    "Content-Length not a number": (b"POST /nope HTTP/1.1\r\nContent-Length: abc\r\n\r\n", 400, "bad_request"),
    "negative Content-Length": (b"POST /nope HTTP/1.1\r\nContent-Length: -1\r\n\r\n", 400, "bad_request"),
    "non-ASCII digit in Content-Length": (b"POST /nope HTTP/1.1\r\nContent-Length: \xb2\r\n\r\n", 400, "bad_request"),
    "two Content-Lengths that differ": (
        b"POST /nope HTTP/1.1\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nxx",
        400,
        "bad_request",
    ),
    "Content-Length over 10 MiB": (
        b"POST /nope HTTP/1.1\r\nContent-Length: %d\r\n\r\n" % (10 * MiB + 1),
        413,
        "payload_too_large",
    ),
    "Content-Length longer than the body": (b"POST /nope HTTP/1.1\r\nContent-Length: 100\r\n\r\nshort", 400, ""),
    "Content-Length and Transfer-Encoding": (
        b"POST /nope HTTP/1.1\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\n",
        400,
        "bad_request",
    ),
    # Transfer-Encoding and chunks
    "Transfer-Encoding other than chunked": (
        b"POST /nope HTTP/1.1\r\nTransfer-Encoding: gzip, chunked\r\n\r\n0\r\n\r\n",
        400,
        "bad_request",
    ),
    "Transfer-Encoding xchunked": (b"POST /nope HTTP/1.1\r\nTransfer-Encoding: xchunked\r\n\r\n", 400, "bad_request"),
    "chunk size not hexadecimal": (chunked("/nope", b"zz\r\nhello\r\n0\r\n\r\n"), 400, "bad_request"),
    "negative chunk size": (chunked("/nope", b"-5\r\nhello\r\n0\r\n\r\n"), 400, "bad_request"),
    "chunk size with 0x": (chunked("/nope", b"0x5\r\nhello\r\n0\r\n\r\n"), 400, "bad_request"),
    "chunk size with an underscore": (chunked("/nope", b"1_0\r\n" + b"a" * 16 + b"\r\n0\r\n\r\n"), 400, ""),
    "chunk size over 10 MiB": (chunked("/nope", b"1000000\r\n"), 413, "payload_too_large"),
    "chunk size line over 4 KiB": (chunked("/nope", b"5;" + b"e" * 5000 + b"\r\nhello\r\n0\r\n\r\n"), 400, ""),
    "chunk without its CRLF": (chunked("/nope", b"5\r\nhelloXX0\r\n\r\n"), 400, "bad_request"),
    "truncated chunk": (chunked("/nope", b"a\r\nhel"), 400, "bad_request"),
    "no last chunk": (chunked("/nope", b"5\r\nhello\r\n"), 400, "bad_request"),
    "endless trailer fields": (
        chunked("/nope", b"0\r\n" + b"".join(b"X-T%d: 1\r\n" % i for i in range(200)) + b"\r\n"),
        400,
        "bad_request",
    ),
    # methods
    "TRACE on a route": (b"TRACE /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),
    "PROPFIND on a webhook": (b"PROPFIND /webhook/some/hook HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),
    "lower-case method": (b"get /health HTTP/1.1\r\nHost: x\r\n\r\n", 405, "method_not_allowed"),
    "unknown method off the routes": (b"BREW /coffee HTTP/1.1\r\nHost: x\r\n\r\n", 404, "not_found"),
}


@pytest.mark.parametrize(("data", "status", "code"), list(REFUSED.values()), ids=list(REFUSED))
def test_malformed_requests_are_json_client_errors(system: LocalSystem, data: bytes, status: int, code: str) -> None:
    answer = exchange(system, data)
    assert answer.status == status, answer
    error = answer.error()
    if code:
        assert error["error"] == code, error
    assert b"<html" not in answer.body.lower()
    assert_still_serving(system)


def test_an_unknown_method_on_a_route_lists_the_allowed_ones(system: LocalSystem) -> None:
    health = exchange(system, b"TRACE /health HTTP/1.1\r\nHost: x\r\n\r\n")
    assert (health.status, health.headers["allow"]) == (405, "GET")
    webhook = exchange(system, b"PROPFIND /webhook/a HTTP/1.1\r\nHost: x\r\n\r\n")
    assert webhook.headers["allow"] == "DELETE, GET, HEAD, OPTIONS, PATCH, POST, PUT"


def test_refusals_do_not_echo_the_request_line(system: LocalSystem) -> None:
    answer = exchange(system, b"GET /secret-token-in-the-path HTTP/7\r\n\r\n")
    assert answer.status == 400
    assert b"secret-token" not in answer.body


def test_bytes_after_a_content_length_are_the_next_request(system: LocalSystem) -> None:
    """A Content-Length shorter than what is sent: the rest is read as a request of its own, and refused."""
    with connect(system) as sock:
        sock.sendall(b"POST /nope HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGARBAGE\r\n\r\n")
        with sock.makefile("rb") as stream:
            first, second = read_answer(stream), read_answer(stream)
    assert first.status == 404 and first.error()["error"] == "not_found"
    assert second.status == 400 and second.error()["error"] == "bad_request"
    assert_still_serving(system)


def test_a_large_body_announced_with_expect_100_continue_is_refused_before_it_is_sent(system: LocalSystem) -> None:
    with connect(system) as sock:
        head = b"POST /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: %d\r\n\r\n" % (11 * MiB)
        sock.sendall(head)
        with sock.makefile("rb") as stream:
            status_line = stream.readline()
    assert status_line.split()[1] == b"413", status_line  # no 100 Continue first
    assert_still_serving(system)


def test_a_chunked_body_over_10_mib_after_100_continue_is_refused(system: LocalSystem) -> None:
    with connect(system) as sock, sock.makefile("rb") as stream:
        sock.sendall(chunked("/nope", b"", "Expect: 100-continue"))
        assert stream.readline().split()[1] == b"100"
        assert stream.readline() == b"\r\n"
        chunk = b"%x\r\n" % MiB + b"x" * MiB + b"\r\n"
        try:
            for _ in range(11):
                sock.sendall(chunk)
        except OSError:  # refused and closed while we were still sending
            pass
        answer = read_answer(stream)
    assert answer.status == 413 and answer.error()["error"] == "payload_too_large"
    assert_still_serving(system)


def test_a_small_body_after_100_continue_is_served(system: LocalSystem) -> None:
    with connect(system) as sock, sock.makefile("rb") as stream:
        sock.sendall(b"POST /nope HTTP/1.1\r\nHost: x\r\nExpect: 100-continue\r\nContent-Length: 2\r\n\r\n")
        assert stream.readline().split()[1] == b"100"
        assert stream.readline() == b"\r\n"
        sock.sendall(b"{}")
        answer = read_answer(stream)
    assert answer.status == 404 and answer.error()["error"] == "not_found"


def test_a_well_formed_chunked_body_with_extensions_and_trailers_is_served(system: LocalSystem) -> None:
    body = b"2;name=value\r\n{}\r\n0\r\nX-Trailer: 1\r\n\r\n"
    answer = exchange(system, chunked("/nope", body, "Connection: close"))
    assert answer.status == 404 and answer.error()["error"] == "not_found"
