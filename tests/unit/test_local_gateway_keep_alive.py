"""The local gateway answers a kept-alive connection as fast as a new one.

Each answer is two writes (headers, body). With Nagle's algorithm on, the body waits until the client acknowledges
the headers, and a client on a kept-alive connection delays that acknowledgement by 40 ms (Linux's delayed ACK):
every request of a session (schemathesis in ``make fuzz``, the dispatch function's calls to the engine stub) took
40 ms more than its work.
"""

from __future__ import annotations

import http.client
import time
from http import HTTPStatus

from workflow_scheduler.local.gateway import Gateway, GatewayServer, LocalRequest, LocalResponse, json_response

REQUESTS = 20
DELAYED_ACK_SECONDS = 0.04  # Linux's shortest delayed ACK


def answer(request: LocalRequest) -> LocalResponse | None:
    return json_response(HTTPStatus.OK, {"path": request.path}, "test") if request.path == "/fast" else None


def test_requests_on_a_kept_alive_connection_do_not_wait_for_delayed_acknowledgements() -> None:
    server = GatewayServer("127.0.0.1", 0)
    server.serve(Gateway([], {}, [answer], "127.0.0.1:8003"))
    connection = http.client.HTTPConnection("127.0.0.1", server.port, timeout=10)
    try:
        connection.request("GET", "/fast")
        assert connection.getresponse().read() == b'{"path": "/fast"}'
        started = time.monotonic()
        for _ in range(REQUESTS):
            connection.request("GET", "/fast")
            response = connection.getresponse()
            assert (response.status, response.read()) == (200, b'{"path": "/fast"}')
        elapsed = time.monotonic() - started
    finally:
        connection.close()
        server.close()
    # With Nagle's algorithm every request waits at least 40 ms; without, a request takes a few milliseconds.
    assert elapsed < REQUESTS * DELAYED_ACK_SECONDS / 2, f"{REQUESTS} requests took {elapsed:.2f} s"
