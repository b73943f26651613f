#!/usr/bin/python3
"""Compiles legwise's public protos as an outside Python client would (Debian's grpc_tools, the
files exactly as they are in proto/), imports the generated modules next to grpcio, and checks
that nothing generated lands in (and shadows) grpcio's own `grpc` package or protobuf's `google`.

Our protos import googleapis' google/api/annotations.proto (the HTTP mapping). A client gets it
from googleapis (pip's googleapis-common-protos ships it; Debian 12 packages no Python build of it),
so this compiles the verbatim copy in proto/third_party the same way: `google.api` only, beside
protobuf's `google.protobuf` in the same namespace package.

usage: compile_protos.py REPO_DIR    exit 0 when all of that holds.
"""
import importlib
import os
import sys
import tempfile

from grpc_tools import protoc


def main():
    repo = sys.argv[1]
    root = os.path.join(repo, "proto")
    protos = []
    for d, _, files in os.walk(os.path.join(root, "legwise")):
        protos += [os.path.join(d, f) for f in files if f.endswith(".proto")]
    if not protos:
        sys.exit("no protos found")
    googleapis = os.path.join(root, "third_party")
    protos += [os.path.join(googleapis, "google", "api", f)
               for f in ("http.proto", "annotations.proto")]
    with tempfile.TemporaryDirectory() as out:
        # grpc_tools ships the well-known types (google/protobuf/*.proto) with its own include path.
        wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        # googleapis' root first: protoc names a file after the first root that holds it.
        args = ["protoc", f"-I{googleapis}", f"-I{root}", f"--python_out={out}",
                f"--grpc_python_out={out}"]
        if os.path.isdir(wkt):
            args.append(f"-I{wkt}")
        args.append("-I/usr/include")
        rc = protoc.main(args + protos)
        if rc != 0:
            sys.exit(f"protoc failed ({rc})")
        top = sorted(os.listdir(out))
        if top != ["google", "legwise"] or os.listdir(os.path.join(out, "google")) != ["api"]:
            sys.exit(f"generated top-level packages {top}, want only 'legwise' and 'google.api'")
        sys.path.insert(0, out)
        import grpc  # grpcio itself must still be the one imported
        if not hasattr(grpc, "insecure_channel"):
            sys.exit("grpc is shadowed")
        from google.protobuf import descriptor_pb2  # protobuf's own google package still loads
        del descriptor_pb2
        for svc in ("content", "triage", "reminder"):
            pb2 = importlib.import_module(f"legwise.{svc}.v1.{svc}_pb2")
            stubs = importlib.import_module(f"legwise.{svc}.v1.{svc}_pb2_grpc")
            name = f"{svc.capitalize()}ServiceStub"
            if not hasattr(stubs, name):
                sys.exit(f"{name} missing")
            opts = pb2.DESCRIPTOR.GetOptions()
            for field in ("java_package", "go_package", "swift_prefix", "objc_class_prefix",
                          "csharp_namespace"):
                if not opts.HasField(field):
                    sys.exit(f"{svc}.proto has no {field}")
    print("ok")
    return 0


if __name__ == "__main__":
    sys.exit(main())
