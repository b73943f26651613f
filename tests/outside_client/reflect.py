#!/usr/bin/python3
"""An outside reflection client (Debian's python3-grpcio and grpc_tools), as grpcurl and `buf curl`
use reflection: lists the services over grpc.reflection.<VERSION> and fetches each expected
service's file descriptor by symbol. The reflection proto is compiled as Debian's grpc-proto ships
it (/usr/share/grpc-proto), into a descriptor set: no generated module can shadow grpcio's `grpc`.

usage: reflect.py HOST:PORT VERSION SERVICE... [--ca PEM] [--authorization VALUE]
VERSION is v1 or v1alpha. Exit 0 when every SERVICE is listed and its descriptor can be fetched;
1 when one is missing; 2 when the call fails (its status code name is printed on stdout).
"""
import argparse
import os
import sys
import tempfile

from google.protobuf import descriptor_pb2, descriptor_pool, message_factory
from grpc_tools import protoc
import grpc

GRPC_PROTO = "/usr/share/grpc-proto"


def messages(version):
    with tempfile.TemporaryDirectory() as tmp:
        out = os.path.join(tmp, "set.pb")
        rc = protoc.main(["protoc", f"-I{GRPC_PROTO}", "--include_imports",
                          f"--descriptor_set_out={out}",
                          f"{GRPC_PROTO}/grpc/reflection/{version}/reflection.proto"])
        if rc != 0:
            sys.exit("protoc failed")
        fds = descriptor_pb2.FileDescriptorSet()
        with open(out, "rb") as f:
            fds.ParseFromString(f.read())
    pool = descriptor_pool.DescriptorPool()
    for fd in fds.file:
        pool.Add(fd)
    factory = message_factory.MessageFactory(pool)
    pkg = f"grpc.reflection.{version}"
    req = factory.GetPrototype(pool.FindMessageTypeByName(f"{pkg}.ServerReflectionRequest"))
    resp = factory.GetPrototype(pool.FindMessageTypeByName(f"{pkg}.ServerReflectionResponse"))
    return req, resp


def main():
    p = argparse.ArgumentParser()
    p.add_argument("target")
    p.add_argument("version", choices=["v1", "v1alpha"])
    p.add_argument("services", nargs="+")
    p.add_argument("--ca", default="")
    p.add_argument("--authorization", default="")
    a = p.parse_args()
    Req, Resp = messages(a.version)
    if a.ca:
        with open(a.ca, "rb") as f:
            channel = grpc.secure_channel(a.target, grpc.ssl_channel_credentials(f.read()))
    else:
        channel = grpc.insecure_channel(a.target)
    call = channel.stream_stream(
        f"/grpc.reflection.{a.version}.ServerReflection/ServerReflectionInfo",
        request_serializer=Req.SerializeToString, response_deserializer=Resp.FromString)
    requests = [Req(list_services="*")] + [Req(file_containing_symbol=s) for s in a.services]
    metadata = [("authorization", a.authorization)] if a.authorization else None
    try:
        responses = list(call(iter(requests), timeout=10, metadata=metadata))
    except grpc.RpcError as e:
        print(e.code().name)
        return 2
    listed = {s.name for s in responses[0].list_services_response.service}
    print(" ".join(sorted(listed)))
    ok = True
    for service, r in zip(a.services, responses[1:]):
        if service not in listed:
            print(f"not listed: {service}", file=sys.stderr)
            ok = False
        if not r.file_descriptor_response.file_descriptor_proto:
            print(f"no descriptor for {service}: {r.error_response.error_message}", file=sys.stderr)
            ok = False
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
