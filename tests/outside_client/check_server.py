#!/usr/bin/python3
"""An outside client (Debian's python3-grpcio) checking a legwise server: health SERVING and the
service name visible through server reflection, with the service's descriptor fetchable by symbol.

usage: check_server.py HOST:PORT FULL_SERVICE_NAME [--sigterm-pid PID]
Exit 0 when both hold; 1 otherwise, with the reason on stderr.

With --sigterm-pid, the reflection stream is kept open while SIGTERM is sent to PID, and a second
request is sent on it afterwards: the in-flight call must still be answered and end with OK.
"""
import os
import signal
import sys
import time
import tempfile

from grpc_tools import protoc
import grpc

HERE = os.path.dirname(os.path.abspath(__file__))
REPO = os.path.dirname(os.path.dirname(HERE))


def generate(out_dir):
    # The generated modules go in a package of their own ("lwcheck"): under their proto paths they
    # would land inside the installed `grpc` package and not be importable.
    pkg = os.path.join(out_dir, "lwcheck")
    os.makedirs(pkg)
    # Debian's grpc-proto package: the protos as gRPC publishes them.
    for src in ("/usr/share/grpc-proto/grpc/health/v1/health.proto",
                "/usr/share/grpc-proto/grpc/reflection/v1alpha/reflection.proto"):
        dst = os.path.join(pkg, os.path.basename(src))
        with open(src) as f, open(dst, "w") as g:
            g.write(f.read())
        rc = protoc.main(["protoc", f"-I{out_dir}", f"--python_out={out_dir}",
                          f"--grpc_python_out={out_dir}", dst])
        if rc != 0:
            sys.exit(f"protoc failed for {src}")
    sys.path.insert(0, out_dir)


def main():
    addr, service = sys.argv[1], sys.argv[2]
    sigterm_pid = int(sys.argv[4]) if len(sys.argv) > 4 and sys.argv[3] == "--sigterm-pid" else 0
    with tempfile.TemporaryDirectory() as out:
        generate(out)
        from lwcheck import health_pb2, health_pb2_grpc
        from lwcheck import reflection_pb2, reflection_pb2_grpc

        channel = grpc.insecure_channel(addr)
        health = health_pb2_grpc.HealthStub(channel)
        for name in ("", service):
            resp = health.Check(health_pb2.HealthCheckRequest(service=name), timeout=5)
            if resp.status != health_pb2.HealthCheckResponse.SERVING:
                sys.exit(f"health '{name}' is {resp.status}, not SERVING")

        reflection = reflection_pb2_grpc.ServerReflectionStub(channel)
        first_answered = []

        def requests():
            yield reflection_pb2.ServerReflectionRequest(list_services="")
            if sigterm_pid:
                while not first_answered:
                    time.sleep(0.01)
                os.kill(sigterm_pid, signal.SIGTERM)
                time.sleep(0.5)  # the server is draining now
            yield reflection_pb2.ServerReflectionRequest(file_containing_symbol=service)

        responses = []
        for r in reflection.ServerReflectionInfo(requests(), timeout=10):
            responses.append(r)
            first_answered.append(True)
        if len(responses) != 2:
            sys.exit(f"expected 2 reflection answers, got {len(responses)}")
        names = [s.name for s in responses[0].list_services_response.service]
        if service not in names:
            sys.exit(f"{service} not listed by reflection: {names}")
        if not responses[1].file_descriptor_response.file_descriptor_proto:
            sys.exit(f"reflection has no descriptor for {service}")
        print(f"ok: {addr} SERVING, reflection lists {service} ({len(names)} services)"
              + (", in-flight stream completed after SIGTERM" if sigterm_pid else ""))


if __name__ == "__main__":
    main()
