"""Builds reflection answers in protobuf's own descriptor pool (Debian's python3-protobuf, the C++
implementation), which refuses what protobufjs lets through: a missing import, a type name that
does not resolve, a misplaced map_entry.

stdin: {"answers": [{"label": str, "files": [base64 FileDescriptorProto, ...]}]}
stdout: {"implementation": str, "answers": {label: {"error": str} | {"files": [...], "services": {name: [method, ...]}, "messages": n}}}
Each answer is built alone, in a fresh pool: it must hold every file it imports.
"""
import base64
import json
import sys

from google.protobuf import descriptor_pb2, descriptor_pool
from google.protobuf.internal import api_implementation


def build(files):
    protos = {}
    for data in files:
        proto = descriptor_pb2.FileDescriptorProto.FromString(base64.b64decode(data))
        protos[proto.name] = (proto, base64.b64decode(data))
    pool = descriptor_pool.DescriptorPool()
    added = set()

    def add(name, chain):
        if name in added:
            return
        if name not in protos:
            raise LookupError(f"{chain[-1]} imports {name}, which the answer lacks")
        for dep in protos[name][0].dependency:
            add(dep, chain + [name])
        pool.AddSerializedFile(protos[name][1])
        added.add(name)

    for name in protos:
        add(name, [name])

    services = {}
    messages = 0

    def walk(message):
        nonlocal messages
        messages += 1
        for field in message.fields:
            # Touch every field's type: an unresolved one fails here at the latest.
            _ = (field.message_type, field.enum_type, field.type)
        for nested in message.nested_types:
            walk(nested)

    for name in protos:
        fd = pool.FindFileByName(name)
        for message in fd.message_types_by_name.values():
            walk(message)
        for service in fd.services_by_name.values():
            services[service.full_name] = [
                f"{m.name}({m.input_type.full_name}) {m.output_type.full_name}" for m in service.methods
            ]
    return {"files": sorted(protos), "services": services, "messages": messages}


def main():
    request = json.load(sys.stdin)
    out = {}
    for answer in request["answers"]:
        try:
            out[answer["label"]] = build(answer["files"])
        except Exception as e:  # noqa: BLE001 - every refusal is reported, per answer
            out[answer["label"]] = {"error": f"{type(e).__name__}: {e}"}
    json.dump({"implementation": api_implementation.Type(), "answers": out}, sys.stdout)


main()
