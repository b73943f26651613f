#!/usr/bin/python3
"""Sends raw bytes as a gRPC request (Debian's python3-grpcio, no generated code) and prints the
status code name the server answered, e.g. INVALID_ARGUMENT.

usage: raw_call.py HOST:PORT /package.Service/Method BODY_HEX [--stream | --bidi]
                   [--authorization VALUE] [--ca PEM_FILE]
With --stream the method is server-streaming, with --bidi bidirectional (one request is sent): the
responses are read until the status arrives. With --ca the channel is TLS, trusting that CA.
"""
import argparse
import sys

import grpc


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("method")
    p.add_argument("body_hex")
    p.add_argument("--stream", action="store_true")
    p.add_argument("--bidi", action="store_true")
    p.add_argument("--ca", default="")
    p.add_argument("--authorization", default="")
    a = p.parse_args()
    body = bytes.fromhex(a.body_hex)
    metadata = [("authorization", a.authorization)] if a.authorization else None
    if a.ca:
        with open(a.ca, "rb") as f:
            channel = grpc.secure_channel(a.target, grpc.ssl_channel_credentials(f.read()))
    else:
        channel = grpc.insecure_channel(a.target)
    with channel:
        try:
            if a.bidi:
                for _ in channel.stream_stream(a.method)(iter([body]), timeout=10,
                                                         metadata=metadata):
                    pass
            elif a.stream:
                for _ in channel.unary_stream(a.method)(body, timeout=10, metadata=metadata):
                    pass
            else:
                channel.unary_unary(a.method)(body, timeout=10, metadata=metadata)
            print("OK")
        except grpc.RpcError as e:
            print(e.code().name)
    sys.stdout.flush()


if __name__ == "__main__":
    main()
