"""A TCP relay that delays every chunk by a fixed time in each direction; run as a script.

Used by ``_netns_probe.py`` when the kernel has no ``netem`` qdisc (``tc qdisc add ... netem``
answers "Specified qdisc kind is unknown"). ``python _delay_proxy.py LISTEN_ADDR PORT TARGET_ADDR
TARGET_PORT DELAY_MS`` prints ``ready`` once it listens and runs until its stdin closes. Data keeps
its order; chunks are pipelined, so one request/answer exchange costs 2 x DELAY_MS more, as a
link with that one-way latency would (the TCP handshake itself is not delayed: both clients make
exactly one connection, so it cancels out). Own process: its threads never compete with the
timed client for the GIL. Loopback addresses only.
"""

from __future__ import annotations

import ipaddress
import queue
import socket
import sys
import threading
import time

_CHUNK = 1 << 16


def _pump(source: socket.socket, target: socket.socket, delay: float) -> None:
    pending: queue.Queue[tuple[float, bytes]] = queue.Queue()

    def writer() -> None:
        try:
            while True:
                due, data = pending.get()
                wait = due - time.monotonic()
                if wait > 0:
                    time.sleep(wait)
                if not data:
                    target.shutdown(socket.SHUT_WR)
                    return
                target.sendall(data)
        except OSError:
            return

    threading.Thread(target=writer, daemon=True).start()
    try:
        while True:
            data = source.recv(_CHUNK)
            pending.put((time.monotonic() + delay, data))
            if not data:
                return
    except OSError:
        pending.put((0.0, b''))


def _serve(client: socket.socket, target: tuple[str, int], delay: float) -> None:
    upstream = socket.create_connection(target, timeout=10)
    upstream.settimeout(None)
    for sock in (client, upstream):
        sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    threading.Thread(target=_pump, args=(client, upstream, delay), daemon=True).start()
    threading.Thread(target=_pump, args=(upstream, client, delay), daemon=True).start()


def main() -> int:
    listen_addr, port, target_addr, target_port, delay_ms = sys.argv[1:6]
    for address in (listen_addr, target_addr):
        if not ipaddress.ip_address(address).is_loopback:
            raise SystemExit(f"{address} is not a loopback address")
    delay = int(delay_ms) / 1000
    listener = socket.socket()
    listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
    listener.bind((listen_addr, int(port)))
    listener.listen(64)

    def accept() -> None:
        while True:
            client, _peer = listener.accept()
            _serve(client, (target_addr, int(target_port)), delay)

    threading.Thread(target=accept, daemon=True).start()
    print('ready', flush=True)
    sys.stdin.read()  # until the parent closes stdin (or dies)
    return 0


if __name__ == '__main__':
    sys.exit(main())
