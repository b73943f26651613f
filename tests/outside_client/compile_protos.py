#!/usr/bin/python3
"""Compiles legwise's public protos as an outside Python client would (Debian's grpc_tools, the
files exactly as they are in proto/), imports the generated modules next to grpcio, and checks
that nothing generated lands in (and shadows) grpcio's own `grpc` package or googleapis' `google`.

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
    with tempfile.TemporaryDirectory() as out:
        # grpc_tools ships the well-known types (google/protobuf/*.proto) with its own include path.
        wkt = os.path.join(os.path.dirname(protoc.__file__), "_proto")
        args = ["protoc", f"-I{root}", f"--python_out={out}", f"--grpc_python_out={out}"]
        if os.path.isdir(wkt):
            args.append(f"-I{wkt}")
        args.append("-I/usr/include")
        rc = protoc.main(args + protos)
        if rc != 0:
            sys.exit(f"protoc failed ({rc})")
        top = sorted(os.listdir(out))
        if top != ["legwise"]:
            sys.exit(f"generated top-level packages {top}, want only 'legwise'")
        sys.path.insert(0, out)
        import grpc  # grpcio itself must still be the one imported
        if not hasattr(grpc, "insecure_channel"):
            sys.exit("grpc is shadowed")
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
