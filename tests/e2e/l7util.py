# SPDX-License-Identifier: GPL-2.0 OR BSD-2-Clause
"""l7util.py - what the L7 suites' Python clients share. The suites run
them as `python3 -c` from the repository's root with PYTHONPATH=tests/e2e."""
import socket
import threading


def read_head(s):
    """Read from s up to the end of a head: (head, the bytes after it), or
    None if the peer closed first."""
    buf = b""
    while b"\r\n\r\n" not in buf:
        b = s.recv(65536)
        if not b:
            return None
        buf += b
    return tuple(buf.split(b"\r\n\r\n", 1))


def recv_all(s, got=b""):
    """got and what s gives until the peer closes."""
    got = bytearray(got)
    while True:
        b = s.recv(262144)
        if not b:
            return bytes(got)
        got += b


def echo_through(s, data, got=b""):
    """Send data on s in 64 KiB writes, then a FIN, while reading until
    EOF; got: what already arrived. Returns everything that came back."""
    def send():
        v = memoryview(data)
        for i in range(0, len(data), 65536):
            s.sendall(v[i:i + 65536])
        s.shutdown(socket.SHUT_WR)

    t = threading.Thread(target=send)
    t.start()
    got = recv_all(s, got)
    t.join()
    return got


def exchange(addr, port, req, timeout=5):
    """Connect to addr:port, send req, read until the peer closes: what it
    answered."""
    s = socket.create_connection((addr, port), timeout=timeout)
    s.sendall(req)
    got = recv_all(s)
    s.close()
    return got


def echo_back(c):
    """Send back every byte c receives; at its EOF, a FIN."""
    while True:
        b = c.recv(262144)
        if not b:
            break
        c.sendall(b)
    c.shutdown(socket.SHUT_WR)
