"""A small HTTP proxy in front of the moto server that injects real faults on the wire.

botocore parses what it receives exactly as it would from R2 or S3: a ``503 SlowDown`` XML body,
a ``500 InternalError``, or a connection dropped without an answer. Moto itself cannot be told to
throttle, so this is the way to test the retry and classification paths end to end.
"""

from __future__ import annotations

import http.client
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Callable

SLOWDOWN = (503, "SlowDown", "Please reduce your request rate.")
INTERNAL = (500, "InternalError", "We encountered an internal error. Please try again.")


class FaultProxy:
    """Forwards to ``target_port``; ``fail(n, fault, match)`` makes the next n matching
    requests get ``fault`` (a (status, code, message) triple, or "drop" to close the socket)."""

    def __init__(self, target_port: int) -> None:
        self._closed = threading.Event()
        self.target_port = target_port
        self._lock = threading.Lock()
        self._faults: list[tuple[int, object, Callable[[str, str], bool]]] = []
        self.requests: list[tuple[str, str, int]] = []  # (method, path, status sent)
        proxy = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, *args) -> None:  # keep test output clean
                pass

            def _handle(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                body = self.rfile.read(length) if length else b""
                fault = proxy._take(self.command, self.path)
                if fault == "stall":  # no answer until the proxy closes: the client times out
                    proxy.requests.append((self.command, self.path, -1))
                    proxy._closed.wait()
                    self.close_connection = True
                    return
                if fault == "drop":
                    proxy.requests.append((self.command, self.path, 0))
                    self.close_connection = True
                    self.connection.close()
                    return
                if fault is not None:
                    status, code, message = fault  # type: ignore[misc]
                    xml = (f'<?xml version="1.0" encoding="UTF-8"?><Error><Code>{code}</Code>'
                           f"<Message>{message}</Message><RequestId>fault</RequestId></Error>"
                           ).encode()
                    proxy.requests.append((self.command, self.path, status))
                    self.send_response(status)
                    self.send_header("Content-Type", "application/xml")
                    self.send_header("Content-Length", str(len(xml)))
                    self.end_headers()
                    if self.command != "HEAD":
                        self.wfile.write(xml)
                    return
                conn = http.client.HTTPConnection("127.0.0.1", proxy.target_port, timeout=60)
                headers = {k: v for k, v in self.headers.items()
                           if k.lower() not in ("connection", "transfer-encoding")}
                conn.request(self.command, self.path, body=body or None, headers=headers)
                resp = conn.getresponse()
                data = resp.read()
                # recorded before answering, so a client that has its answer sees it counted
                proxy.requests.append((self.command, self.path, resp.status))
                self.send_response(resp.status)
                for k, v in resp.getheaders():
                    if k.lower() not in ("connection", "transfer-encoding", "content-length",
                                         "server", "date"):
                        self.send_header(k, v)
                if self.command == "HEAD":  # a HEAD has no body but tells the object's size
                    self.send_header("Content-Length", resp.getheader("Content-Length") or "0")
                else:
                    self.send_header("Content-Length", str(len(data)))
                self.end_headers()
                if self.command != "HEAD":
                    self.wfile.write(data)
                conn.close()

            do_GET = do_PUT = do_POST = do_DELETE = do_HEAD = _handle

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        self.url = f"http://127.0.0.1:{self.port}"
        self._thread = threading.Thread(target=self.server.serve_forever, daemon=True)
        self._thread.start()

    def fail(self, times: int, fault: object = SLOWDOWN,
             match: Callable[[str, str], bool] = lambda method, path: True) -> None:
        with self._lock:
            self._faults.append((times, fault, match))

    def _take(self, method: str, path: str) -> object:
        with self._lock:
            for i, (left, fault, match) in enumerate(self._faults):
                if left > 0 and match(method, path):
                    self._faults[i] = (left - 1, fault, match)
                    return fault
        return None

    def close(self) -> None:
        self._closed.set()
        self.server.shutdown()
        self.server.server_close()
