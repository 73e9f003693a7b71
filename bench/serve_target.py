"""A lab target for the serve benchmark that costs next to nothing per connection, so the
exporters, not the target, are what is measured: TCP port 22 accepts and closes, port 80
answers every request with a short 200 and closes (a thread each: a blocking accept loop, and
one selector for every HTTP connection at once).  The lab's own services (asyncio, one process for
every port of a node) serve a few thousand connections a second and would set the pace.

    python -m bench.serve_target      (in the lab node; stopped by a signal)
"""

from __future__ import annotations

import selectors
import socket
import threading

RESPONSE = (
    b"HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 3\r\n"
    b"Connection: close\r\n\r\nok\n"
)


def _listener(port: int) -> socket.socket:
    sock = socket.socket(socket.AF_INET6, socket.SOCK_STREAM)
    sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    sock.setsockopt(socket.IPPROTO_IPV6, socket.IPV6_V6ONLY, 0)
    sock.bind(("::", port))
    sock.listen(4096)
    return sock


def _tcp(sock: socket.socket) -> None:
    while True:
        conn, _ = sock.accept()
        conn.close()


def _http(sock: socket.socket) -> None:
    """Every connection at once on one selector: a slow client never holds up the others."""
    selector = selectors.DefaultSelector()
    sock.setblocking(False)
    selector.register(sock, selectors.EVENT_READ)
    heads: dict[socket.socket, bytes] = {}
    while True:
        for key, _ in selector.select():
            conn = key.fileobj
            assert isinstance(conn, socket.socket)
            if conn is sock:
                while True:
                    try:
                        new, _ = sock.accept()
                    except BlockingIOError:
                        break
                    new.setblocking(False)
                    heads[new] = b""
                    selector.register(new, selectors.EVENT_READ)
                continue
            try:
                chunk = conn.recv(4096)
            except BlockingIOError:
                continue
            except OSError:
                chunk = b""
            data = heads[conn] + chunk
            if chunk and b"\r\n\r\n" not in data:
                heads[conn] = data
                continue
            if chunk:
                try:
                    conn.send(RESPONSE)  # far smaller than any socket buffer
                except OSError:
                    pass
            selector.unregister(conn)
            del heads[conn]
            conn.close()


def main() -> None:
    tcp, http = _listener(22), _listener(80)
    threading.Thread(target=_tcp, args=(tcp,), daemon=True).start()
    print("ready", flush=True)
    _http(http)


if __name__ == "__main__":
    main()
