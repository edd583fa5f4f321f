"""A TCP proxy on loopback that can drop its connections, for tests of a connection lost half way (IMAP)."""

from __future__ import annotations

import contextlib
import socket
import threading

HOST = "127.0.0.1"
CHUNK = 4096


class TcpProxy:
    """Forwards every connection to ``target_port``. ``drop_after(n)`` closes the connections once ``n`` more
    bytes have gone from the server to the client (0: at once)."""

    def __init__(self, target_port: int) -> None:
        self._target = (HOST, target_port)
        self._listener = socket.create_server((HOST, 0))
        self.port: int = self._listener.getsockname()[1]
        self._lock = threading.Lock()
        self._sockets: list[socket.socket] = []
        self._budget: int | None = None
        self._closed = False
        threading.Thread(target=self._accept, name="tcp-proxy", daemon=True).start()

    def _accept(self) -> None:
        while True:
            try:
                client, _ = self._listener.accept()
            except OSError:
                return
            upstream = socket.create_connection(self._target)
            with self._lock:
                self._sockets += [client, upstream]
            threading.Thread(target=self._pump, args=(client, upstream, False), daemon=True).start()
            threading.Thread(target=self._pump, args=(upstream, client, True), daemon=True).start()

    def _pump(self, source: socket.socket, sink: socket.socket, from_server: bool) -> None:
        while True:
            try:
                data = source.recv(CHUNK)
            except OSError:
                data = b""
            if not data:
                break
            if from_server:
                with self._lock:
                    if self._budget is not None:
                        data = data[: self._budget]
                        self._budget -= len(data)
                        exhausted = self._budget <= 0
                    else:
                        exhausted = False
                if data:
                    with contextlib.suppress(OSError):
                        sink.sendall(data)
                if exhausted:
                    self.drop()
                    return
            else:
                try:
                    sink.sendall(data)
                except OSError:
                    break
        for sock in (source, sink):
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)

    def drop_after(self, server_bytes: int) -> None:
        with self._lock:
            self._budget = server_bytes
        if server_bytes <= 0:
            self.drop()

    def drop(self) -> None:
        """Close every open connection (new ones are still accepted)."""
        with self._lock:
            sockets, self._sockets, self._budget = self._sockets, [], None
        for sock in sockets:
            with contextlib.suppress(OSError):
                sock.shutdown(socket.SHUT_RDWR)
            sock.close()

    def close(self) -> None:
        self._listener.close()
        self.drop()
