#!/usr/bin/python3
"""Calls methods a legwise server does not serve, as grpcurl and `buf curl` do when they probe
reflection, and as a scanner would: COUNT calls, each to a different made-up method name (long
ones, odd characters, names that look like ours). Debian's python3-grpcio, no generated code.

usage: unknown_methods.py HOST:PORT COUNT [--offset N]
Prints how many calls ended UNIMPLEMENTED; exit 0 when all of them did.
"""
import argparse
import sys

import grpc


def names(count, offset):
    shapes = [
        "/grpc.reflection.v2.ServerReflection/ServerReflectionInfo{}",
        "/legwise.triage.v1.TriageService/NoSuchMethod{}",
        "/probe{}.Service/Method",
        "/a/" + "x" * 200 + "{}",
        "/weird%ff\\\"quote{}/<tag>&amp;",
        "/{}",
    ]
    for i in range(offset, offset + count):
        yield shapes[i % len(shapes)].format(i)


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("count", type=int)
    p.add_argument("--offset", type=int, default=0)
    a = p.parse_args()
    unimplemented = 0
    with grpc.insecure_channel(a.target) as channel:
        for method in names(a.count, a.offset):
            call = channel.unary_unary(method)
            try:
                call(b"\x0a\x03abc", timeout=5)
            except grpc.RpcError as e:
                if e.code() == grpc.StatusCode.UNIMPLEMENTED:
                    unimplemented += 1
                else:
                    print(f"{method!r}: {e.code().name}", file=sys.stderr)
    print(unimplemented)
    return 0 if unimplemented == a.count else 1


if __name__ == "__main__":
    sys.exit(main())
