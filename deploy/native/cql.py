#!/usr/bin/env python3
"""Tiny dependency-free CQL (native protocol v4) client used by cassandra.sh.

    cql.py HOST PORT [STATEMENT...]

Connects, sends STARTUP, then runs each statement (consistency ONE) and prints
result rows as tab-separated text. With no statement it only checks that the
server completes the handshake (readiness probe). Exit code 0 on success,
1 on a server error, 2 when the server cannot be reached.
"""
import socket
import struct
import sys

OP_ERROR, OP_STARTUP, OP_READY, OP_AUTHENTICATE, OP_QUERY, OP_RESULT = 0x00, 0x01, 0x02, 0x03, 0x07, 0x08
TEXT_TYPES = {0x0001, 0x000D}  # ascii, varchar/text


class CqlError(Exception):
    pass


class Reader:
    def __init__(self, data):
        self.data, self.pos = data, 0

    def take(self, n):
        chunk = self.data[self.pos:self.pos + n]
        self.pos += n
        return chunk

    def int(self):
        return struct.unpack(">i", self.take(4))[0]

    def short(self):
        return struct.unpack(">H", self.take(2))[0]

    def string(self):
        return self.take(self.short()).decode("utf-8", "replace")

    def bytes(self):
        n = self.int()
        return None if n < 0 else self.take(n)

    def option(self):
        type_id = self.short()
        if type_id == 0x0000:
            self.string()
        elif type_id in (0x0020, 0x0022):
            self.option()
        elif type_id == 0x0021:
            self.option()
            self.option()
        elif type_id == 0x0030:
            self.string()
            self.string()
            for _ in range(self.short()):
                self.string()
                self.option()
        elif type_id == 0x0031:
            for _ in range(self.short()):
                self.option()
        return type_id


class Connection:
    def __init__(self, host, port, timeout=10.0):
        self.sock = socket.create_connection((host, port), timeout=timeout)
        self.stream = 0

    def _recv_exact(self, n):
        buf = b""
        while len(buf) < n:
            chunk = self.sock.recv(n - len(buf))
            if not chunk:
                raise ConnectionError("connection closed by server")
            buf += chunk
        return buf

    def request(self, opcode, body):
        self.stream = (self.stream + 1) % 32768
        self.sock.sendall(struct.pack(">BBhBi", 0x04, 0, self.stream, opcode, len(body)) + body)
        header = self._recv_exact(9)
        _version, _flags, _stream, op, length = struct.unpack(">BBhBi", header)
        payload = Reader(self._recv_exact(length))
        if op == OP_ERROR:
            code = payload.int()
            raise CqlError("server error 0x%04x: %s" % (code, payload.string()))
        return op, payload

    def startup(self):
        body = struct.pack(">H", 1)
        for s in ("CQL_VERSION", "3.0.0"):
            raw = s.encode()
            body += struct.pack(">H", len(raw)) + raw
        op, _ = self.request(OP_STARTUP, body)
        if op == OP_AUTHENTICATE:
            raise CqlError("server requires authentication (not supported by cql.py)")
        if op != OP_READY:
            raise CqlError("unexpected opcode 0x%02x after STARTUP" % op)

    def query(self, statement):
        raw = statement.encode()
        body = struct.pack(">i", len(raw)) + raw + struct.pack(">HB", 0x0001, 0)
        op, r = self.request(OP_QUERY, body)
        if op != OP_RESULT:
            raise CqlError("unexpected opcode 0x%02x after QUERY" % op)
        kind = r.int()
        if kind != 0x0002:
            return None
        flags, ncols = r.int(), r.int()
        if flags & 0x0002:
            r.bytes()
        types = []
        if not flags & 0x0004:
            if flags & 0x0001:
                r.string()
                r.string()
            for _ in range(ncols):
                if not flags & 0x0001:
                    r.string()
                    r.string()
                r.string()
                types.append(r.option())
        rows = []
        for _ in range(r.int()):
            row = []
            for i in range(ncols):
                value = r.bytes()
                if value is None:
                    row.append("null")
                elif i < len(types) and types[i] in TEXT_TYPES:
                    row.append(value.decode("utf-8", "replace"))
                else:
                    row.append("0x" + value.hex())
            rows.append(row)
        return rows


def main(argv):
    if len(argv) < 3:
        sys.stderr.write(__doc__)
        return 2
    host, port, statements = argv[1], int(argv[2]), argv[3:]
    try:
        conn = Connection(host, port)
        conn.startup()
    except (OSError, ConnectionError, CqlError, struct.error) as exc:
        sys.stderr.write("cql.py: cannot connect to %s:%s: %s\n" % (host, port, exc))
        return 2
    try:
        for statement in statements:
            rows = conn.query(statement)
            for row in rows or []:
                print("\t".join(row))
    except (CqlError, OSError, struct.error) as exc:
        sys.stderr.write("cql.py: %s\n" % exc)
        return 1
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv))
