#!/usr/bin/python3
"""A minimal CRI client, playing the kubelet's part in the integration tests.

Usage: cri.py SOCKET METHOD REQUEST_JSON

Calls one method of the CRI RuntimeService (runtime.v1) on containerd's socket
and prints the response as one line of JSON. On a gRPC error, prints
`CODE: details` on stderr and exits 1.

There is no CRI client in Debian (crictl is not packaged), so this speaks the
protocol with python3-grpcio alone: the few messages the tests use are described
below with their field numbers from k8s.io/cri-api pkg/apis/runtime/v1/api.proto,
and the protobuf wire format is written and read by hand. Unknown fields in
responses are skipped.
"""

import json
import sys

import grpc

# message -> field -> (number, type). A type is a scalar ("string", "bytes",
# "bool", "uint", "int", "int32", "enum"), a message name, or "repeated X".
SCHEMA = {
    "VersionRequest": {"version": (1, "string")},
    "VersionResponse": {
        "version": (1, "string"),
        "runtime_name": (2, "string"),
        "runtime_version": (3, "string"),
        "runtime_api_version": (4, "string"),
    },
    "PodSandboxMetadata": {
        "name": (1, "string"),
        "uid": (2, "string"),
        "namespace": (3, "string"),
        "attempt": (4, "uint"),
    },
    # NamespaceMode: POD = 0, CONTAINER = 1, NODE = 2, TARGET = 3.
    "NamespaceOption": {"network": (1, "enum"), "pid": (2, "enum"), "ipc": (3, "enum")},
    "LinuxSandboxSecurityContext": {"namespace_options": (1, "NamespaceOption")},
    "LinuxPodSandboxConfig": {
        "cgroup_parent": (1, "string"),
        "security_context": (2, "LinuxSandboxSecurityContext"),
    },
    "PodSandboxConfig": {
        "metadata": (1, "PodSandboxMetadata"),
        "hostname": (2, "string"),
        "log_directory": (3, "string"),
        "linux": (8, "LinuxPodSandboxConfig"),
    },
    "RunPodSandboxRequest": {"config": (1, "PodSandboxConfig"), "runtime_handler": (2, "string")},
    "RunPodSandboxResponse": {"pod_sandbox_id": (1, "string")},
    "StopPodSandboxRequest": {"pod_sandbox_id": (1, "string")},
    "StopPodSandboxResponse": {},
    "RemovePodSandboxRequest": {"pod_sandbox_id": (1, "string")},
    "RemovePodSandboxResponse": {},
    "ContainerMetadata": {"name": (1, "string"), "attempt": (2, "uint")},
    "ImageSpec": {"image": (1, "string")},
    "ContainerConfig": {
        "metadata": (1, "ContainerMetadata"),
        "image": (2, "ImageSpec"),
        "command": (3, "repeated string"),
        "args": (4, "repeated string"),
        "working_dir": (5, "string"),
        "log_path": (11, "string"),
    },
    "CreateContainerRequest": {
        "pod_sandbox_id": (1, "string"),
        "config": (2, "ContainerConfig"),
        "sandbox_config": (3, "PodSandboxConfig"),
    },
    "CreateContainerResponse": {"container_id": (1, "string")},
    "StartContainerRequest": {"container_id": (1, "string")},
    "StartContainerResponse": {},
    "StopContainerRequest": {"container_id": (1, "string"), "timeout": (2, "int")},
    "StopContainerResponse": {},
    "RemoveContainerRequest": {"container_id": (1, "string")},
    "RemoveContainerResponse": {},
    "ContainerStatusRequest": {"container_id": (1, "string"), "verbose": (2, "bool")},
    # ContainerState: CREATED = 0, RUNNING = 1, EXITED = 2, UNKNOWN = 3.
    "ContainerStatus": {
        "id": (1, "string"),
        "state": (3, "enum"),
        "exit_code": (7, "int32"),
        "reason": (10, "string"),
        "message": (11, "string"),
        "log_path": (15, "string"),
    },
    "ContainerStatusResponse": {"status": (1, "ContainerStatus")},
    "ExecSyncRequest": {
        "container_id": (1, "string"),
        "cmd": (2, "repeated string"),
        "timeout": (3, "int"),
    },
    "ExecSyncResponse": {
        "stdout": (1, "bytes"),
        "stderr": (2, "bytes"),
        "exit_code": (3, "int32"),
    },
}

VARINT_TYPES = {"bool", "uint", "int", "int32", "enum"}


def varint(n):
    n &= (1 << 64) - 1  # negative ints are ten-byte two's complement
    out = bytearray()
    while True:
        low = n & 0x7F
        n >>= 7
        if n:
            out.append(low | 0x80)
        else:
            out.append(low)
            return bytes(out)


def encode(message, value):
    out = bytearray()
    fields = SCHEMA[message]
    for name, v in value.items():
        if name not in fields:
            raise SystemExit(f"cri.py: {message} has no field {name!r} here")
        number, typ = fields[name]
        items = v if typ.startswith("repeated ") else [v]
        typ = typ.removeprefix("repeated ")
        for item in items:
            if typ in VARINT_TYPES:
                out += varint(number << 3) + varint(int(item))
            else:
                if typ == "string":
                    data = item.encode()
                elif typ == "bytes":
                    data = item.encode() if isinstance(item, str) else bytes(item)
                else:
                    data = encode(typ, item)
                out += varint(number << 3 | 2) + varint(len(data)) + data
    return bytes(out)


def read_varint(buf, i):
    n = shift = 0
    while True:
        b = buf[i]
        i += 1
        n |= (b & 0x7F) << shift
        shift += 7
        if not b & 0x80:
            return n, i


def decode(message, buf):
    by_number = {number: (name, typ) for name, (number, typ) in SCHEMA[message].items()}
    out = {}
    i = 0
    while i < len(buf):
        key, i = read_varint(buf, i)
        number, wire = key >> 3, key & 7
        if wire == 0:
            raw, i = read_varint(buf, i)
        elif wire == 2:
            size, i = read_varint(buf, i)
            raw, i = buf[i:i + size], i + size
        elif wire == 1:
            raw, i = buf[i:i + 8], i + 8
        elif wire == 5:
            raw, i = buf[i:i + 4], i + 4
        else:
            raise SystemExit(f"cri.py: unexpected wire type {wire} in {message}")
        if number not in by_number:
            continue
        name, typ = by_number[number]
        repeated = typ.startswith("repeated ")
        typ = typ.removeprefix("repeated ")
        if typ in VARINT_TYPES:
            value = raw
            if typ in ("int", "int32") and value >= 1 << 63:
                value -= 1 << 64
            if typ == "bool":
                value = bool(value)
        elif typ == "string":
            value = raw.decode(errors="replace")
        elif typ == "bytes":
            value = raw.decode(errors="replace")
        else:
            value = decode(typ, raw)
        if repeated:
            out.setdefault(name, []).append(value)
        else:
            out[name] = value
    return out


def main():
    if len(sys.argv) != 4:
        raise SystemExit(__doc__)
    socket, method, request = sys.argv[1], sys.argv[2], json.loads(sys.argv[3])
    request_type, response_type = method + "Request", method + "Response"
    if request_type not in SCHEMA or response_type not in SCHEMA:
        raise SystemExit(f"cri.py: method {method} is not described here")
    with grpc.insecure_channel("unix://" + socket) as channel:
        call = channel.unary_unary(
            "/runtime.v1.RuntimeService/" + method,
            request_serializer=lambda b: b,
            response_deserializer=lambda b: b,
        )
        try:
            response = call(encode(request_type, request), timeout=120)
        except grpc.RpcError as e:
            print(f"{e.code().name}: {e.details()}", file=sys.stderr)
            sys.exit(1)
    print(json.dumps(decode(response_type, response)))


if __name__ == "__main__":
    main()
