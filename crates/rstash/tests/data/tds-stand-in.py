"""A SQL Server stand-in speaking TDS 7.4 (no SQL Server runs here): PRELOGIN, the TLS handshake
carried in PRELOGIN packets (encrypt=false encrypts the login only, encrypt=true everything),
LOGIN7 checked against the expected user and password, and SQL batches answered with one table
of typed columns: `id > N` picks the rows, `OFFSET a ROWS FETCH NEXT b ROWS ONLY` pages them.
Every batch's text and each login are appended to a log, one JSON object per line.

usage: tds-stand-in.py PORTFILE LOG CERT KEY USER PASSWORD
"""
import datetime
import os
import json
import re
import socket
import ssl
import struct
import sys
import threading
import uuid

portfile, log_path, cert, key, want_user, want_password = sys.argv[1:7]

COLLATION = bytes([0x09, 0x04, 0xD0, 0x00, 0x34])
EPOCH = datetime.date(1, 1, 1)


def bvarchar(s):
    return bytes([len(s)]) + s.encode("utf-16-le")


def usvarchar(s):
    return struct.pack("<H", len(s)) + s.encode("utf-16-le")


def intn(n):
    return lambda v: b"\x00" if v is None else bytes([n]) + v.to_bytes(n, "little", signed=True)


def decimal2(v):
    if v is None:
        return b"\x00"
    cents = round(abs(v) * 100)
    return bytes([5, 1 if v >= 0 else 0]) + cents.to_bytes(4, "little")


def nvarchar(v):
    if v is None:
        return b"\xff\xff"
    b = v.encode("utf-16-le")
    return struct.pack("<H", len(b)) + b


def datetime2_3(v):
    t = datetime.datetime.fromisoformat(v)
    ms = ((t.hour * 60 + t.minute) * 60 + t.second) * 1000 + t.microsecond // 1000
    return bytes([7]) + ms.to_bytes(4, "little") + (t.date() - EPOCH).days.to_bytes(3, "little")


def date(v):
    return bytes([3]) + (datetime.date.fromisoformat(v) - EPOCH).days.to_bytes(3, "little")


def datetimeoffset_0(v):
    t = datetime.datetime.fromisoformat(v)
    off = int(t.utcoffset().total_seconds() // 60)
    u = t.astimezone(datetime.timezone.utc)
    secs = (u.hour * 60 + u.minute) * 60 + u.second
    return (bytes([8]) + secs.to_bytes(3, "little") + (u.date() - EPOCH).days.to_bytes(3, "little")
            + struct.pack("<h", off))


def legacy_datetime(v):
    t = datetime.datetime.fromisoformat(v)
    days = (t.date() - datetime.date(1900, 1, 1)).days
    ticks = round(((t.hour * 60 + t.minute) * 60 + t.second + t.microsecond / 1e6) * 300)
    return bytes([8]) + struct.pack("<iI", days, ticks)


COLUMNS = [  # name, TYPE_INFO, encoder
    ("id", bytes([0x26, 4]), intn(4)),
    ("qty", bytes([0x26, 2]), intn(2)),
    ("big", bytes([0x26, 8]), intn(8)),
    ("price", bytes([0x6A, 5, 10, 2]), decimal2),
    ("ratio", bytes([0x6D, 8]), lambda v: bytes([8]) + struct.pack("<d", v)),
    ("Paid", bytes([0x68, 1]), lambda v: bytes([1, 1 if v else 0])),
    ("customer", bytes([0xE7]) + struct.pack("<H", 40) + COLLATION, nvarchar),
    ("created", bytes([0x2A, 3]), datetime2_3),
    ("day", bytes([0x28]), date),
    ("at", bytes([0x2B, 0]), datetimeoffset_0),
    ("legacy", bytes([0x6F, 8]), legacy_datetime),
    ("guid", bytes([0x24, 16]), lambda v: bytes([16]) + uuid.UUID(v).bytes_le),
    ("note", bytes([0xE7]) + struct.pack("<H", 200) + COLLATION, nvarchar),
]
ROWS = [
    (1, 1, 9000000000, 12.5, 0.25, True, "ann", "2024-05-01 10:00:00", "2024-05-01",
     "2024-05-01 12:00:00+02:00", "2024-05-01 10:00:00.500", "6f9619ff-8b86-d011-b42d-00c04fc964ff", None),
    (2, 2, 1, 0.01, 1.5, False, "bob", "2024-05-02 11:30:00.123", "2024-05-02",
     "2024-05-02 11:30:00+00:00", "2024-05-02 00:00:00", "00000000-0000-0000-0000-000000000001", "x"),
    (3, 3, -5, -3.75, 0.0, True, "cy", "2024-05-03 00:00:00", "2024-05-03",
     "2024-05-03 00:00:00-05:00", "2024-05-03 00:00:00", "00000000-0000-0000-0000-000000000002", "y"),
]


def log(entry):
    with open(log_path, "a") as f:
        f.write(json.dumps(entry) + "\n")


def done(rows=0, error=False):
    return b"\xFD" + struct.pack("<HHQ", (0x0002 if error else 0) | 0x0010, 0xC1, rows)


class Chan:
    """The client's connection: raw TDS packets, or TDS packets inside TLS once encrypted."""

    def __init__(self, sock):
        self.sock, self.tls, self.buf = sock, None, b""

    def recv(self, n):
        while len(self.buf) < n:
            if self.tls:
                try:
                    self.buf += self.tls.read(65536)
                    continue
                except ssl.SSLWantReadError:
                    pass
            data = self.sock.recv(65536)
            if not data:
                raise EOFError
            if self.tls:
                self.inc.write(data)
            else:
                self.buf += data
        out, self.buf = self.buf[:n], self.buf[n:]
        return out

    def message(self):
        """A whole message (packets until end-of-message): its type and payload."""
        payload = b""
        while True:
            typ, status, length = struct.unpack(">BBH", self.recv(4))
            self.recv(4)
            payload += self.recv(length - 8)
            if status & 1:
                return typ, payload

    def send(self, typ, payload, raw=False):
        data = struct.pack(">BBHHBB", typ, 1, len(payload) + 8, 0, 1, 0) + payload
        if self.tls and not raw:
            self.tls.write(data)
            data = self.out.read()
        self.sock.sendall(data)

    def start_tls(self):
        ctx = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
        ctx.maximum_version = ssl.TLSVersion.TLSv1_2
        ctx.load_cert_chain(cert, key)
        self.inc, self.out = ssl.MemoryBIO(), ssl.MemoryBIO()
        tls = ctx.wrap_bio(self.inc, self.out, server_side=True)
        while True:
            try:
                tls.do_handshake()
                break
            except ssl.SSLWantReadError:
                if self.out.pending:
                    self.send(0x12, self.out.read(), raw=True)
                typ, payload = self.message()
                self.inc.write(payload)
        if self.out.pending:
            self.send(0x12, self.out.read(), raw=True)
        self.tls = tls


def prelogin_answer(client):
    # The client's ENCRYPTION option: OFF 0, ON 1, NOT_SUP 2, REQ 3.
    wanted, i = 2, 0
    while client[i] != 0xFF:
        tok, off, ln = struct.unpack(">BHH", client[i:i + 5])
        if tok == 1 and ln:
            wanted = client[off]
        i += 5
    answer = {0: 0, 1: 1, 2: 2, 3: 1}[wanted]
    opts = [(0, bytes([16, 0, 0x07, 0xD0, 0, 0])), (1, bytes([answer])), (2, b"\x00"),
            (3, b"\x00\x00\x00\x00"), (4, b"\x00")]
    head, data, off = b"", b"", 5 * len(opts) + 1
    for tok, val in opts:
        head += struct.pack(">BHH", tok, off + len(data), len(val))
        data += val
    return answer, head + b"\xFF" + data


def login7(payload):
    def text(at, password=False):
        ib, cch = struct.unpack("<HH", payload[at:at + 4])
        raw = bytearray(payload[ib:ib + 2 * cch])
        if password:
            for j, b in enumerate(raw):
                b ^= 0xA5
                raw[j] = ((b & 0x0F) << 4) | (b >> 4)
        return raw.decode("utf-16-le")

    return text(40), text(44, True), text(68)


def answer(sql):
    low = re.search(r"id\s*>\s*(-?\d+)", sql)
    rows = [r for r in ROWS if not low or r[0] > int(low.group(1))]
    page = re.search(r"OFFSET (\d+) ROWS FETCH NEXT (\d+) ROWS ONLY", sql)
    if page:
        a, b = int(page.group(1)), int(page.group(2))
        rows = rows[a:a + b]
    meta = b"\x81" + struct.pack("<H", len(COLUMNS)) + b"".join(
        struct.pack("<IH", 0, 1) + ti + bvarchar(name) for name, ti, _ in COLUMNS)
    body = b"".join(b"\xD1" + b"".join(enc(v) for (_, _, enc), v in zip(COLUMNS, r)) for r in rows)
    return meta + body + done(len(rows))


def serve(sock):
    chan = Chan(sock)
    try:
        _, payload = chan.message()
        level, reply = prelogin_answer(payload)
        chan.send(0x04, reply)
        if level != 2:
            chan.start_tls()
        _, payload = chan.message()
        user, password, database = login7(payload)
        log({"login": user, "database": database, "encrypted": level == 1, "login_encrypted": level != 2})
        if level == 0:
            chan.tls = None  # encrypt=false: only the login was encrypted
        if (user, password) != (want_user, want_password):
            msg = "Login failed for user '%s'." % user
            err = struct.pack("<iBB", 18456, 1, 14) + usvarchar(msg) + bvarchar("standin") + bvarchar("") + struct.pack("<i", 1)
            chan.send(0x04, b"\xAA" + struct.pack("<H", len(err)) + err + done(error=True))
            return
        ack = bytes([1]) + bytes.fromhex("74000004") + bvarchar("Microsoft SQL Server") + bytes([16, 0, 0, 0])
        chan.send(0x04, b"\xAD" + struct.pack("<H", len(ack)) + ack + done())
        while True:
            typ, payload = chan.message()
            if typ != 0x01:
                continue
            skip = struct.unpack("<I", payload[:4])[0]
            sql = payload[skip:].decode("utf-16-le")
            log({"sql": sql})
            chan.send(0x04, answer(sql))
    except (EOFError, ConnectionError, ssl.SSLError):
        pass
    finally:
        sock.close()


listener = socket.socket()
listener.bind(("127.0.0.1", 0))
listener.listen()
with open(portfile + ".tmp", "w") as f:
    f.write(str(listener.getsockname()[1]))
os.rename(portfile + ".tmp", portfile)
while True:
    conn, _ = listener.accept()
    threading.Thread(target=serve, args=(conn,), daemon=True).start()
