#!/usr/bin/env python3
"""mkcorpus.py: (re)generate the seed inputs of tests/fuzz/corpus/.

A developer tool, not run by `make check` or CI: the seeds it writes are
checked in.  It writes only public bytes (protocol messages, config text,
certificates); the keys it needs for the certificate seeds are made by the
openssl command in a temporary directory that is removed at the end.
Regression inputs (crashes found and fixed) live next to the seeds under
names starting with "regress-" and are never touched by this script.

    python3 tests/fuzz/mkcorpus.py          # from the source root
    python3 tests/fuzz/mkcorpus.py router replay   # only these harnesses
"""
import base64
import hashlib
import json
import os
import shutil
import struct
import subprocess
import sys
import tempfile

ROOT = os.path.dirname(os.path.abspath(__file__))
CORPUS = os.path.join(ROOT, "corpus")


def out(harness, name, data):
    d = os.path.join(CORPUS, harness)
    os.makedirs(d, exist_ok=True)
    if isinstance(data, str):
        data = data.encode()
    with open(os.path.join(d, "seed-" + name), "wb") as f:
        f.write(data)


def str16(b):
    if isinstance(b, str):
        b = b.encode()
    return struct.pack(">H", len(b)) + b


def str32(b):
    return struct.pack(">I", len(b)) + b


NONCE = bytes(range(32))
KEX = bytes(range(0x40, 0x60))
SID = bytes(range(0xa0, 0xb0))
IV = bytes(range(16))
SIG = bytes((i * 7) & 0xff for i in range(256))


def frame(t, payload, magic=b"SC", version=1):
    return magic + bytes([version, t]) + struct.pack(">I", len(payload)) + payload


def ch(cert, lo=1, hi=1):
    return bytes([lo, hi]) + NONCE + KEX + str16(cert)


def sh_core(cert):
    return bytes([1]) + NONCE + SID + KEX + str16(cert)


def record(seq, ts, ct):
    return struct.pack(">QQ", seq, ts) + IV + str32(ct) + str16(SIG)


def register():
    return str16("alice") + str16("alice@example.org") + \
        str16("correct horse") + KEX


def login():
    return str16("alice") + str16("correct horse") + KEX


def auth_ok():
    return struct.pack(">Q", 42) + str16("alice") + KEX


def chat(text):
    return str16(text.encode())


def receipt(role=2):
    return bytes([role]) + struct.pack(">QQ", 1, 9) + bytes(32) + \
        bytes(range(32)) + str16(SIG)


def send(ref=7, env=b"\x01envelope"):
    return struct.pack(">I", ref) + str32(env)


def sent(code=0, msg_id=99, reason=""):
    return struct.pack(">IHQ", 7, code, msg_id) + str16(reason)


def deliver(msg_id=99, env=b"\x01envelope"):
    return struct.pack(">Q", msg_id) + str32(env)


def ack(msg_id=99, state=1):
    return struct.pack(">QB", msg_id, state)


def status(msg_id=99, user="bob", state=2):
    return struct.pack(">Q", msg_id) + str16(user) + bytes([state])


def request(op=1, arg="#room"):
    return struct.pack(">IB", 7, op) + str16(arg)


def reply(items):
    b = struct.pack(">IBHH", 7, 1, 0, len(items))
    for name, data in items:
        b += str16(name) + str16(data)
    return b


def error(code, reason):
    return struct.pack(">H", code) + str16(reason)


# ---- certificates (openssl command, keys in a temporary directory) ----

def openssl(*args, cwd):
    subprocess.run(["openssl", *args], cwd=cwd, check=True,
                   stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def make_certs():
    tmp = tempfile.mkdtemp(prefix="sc-mkcorpus.")
    certs = {}
    try:
        def key(name, spec="rsa:2048"):
            alg, _, bits = spec.partition(":")
            if alg == "rsa":
                openssl("genpkey", "-algorithm", "RSA", "-pkeyopt",
                        "rsa_keygen_bits:" + bits, "-out", name, cwd=tmp)
            else:
                openssl("genpkey", "-algorithm", "EC", "-pkeyopt",
                        "ec_paramgen_curve:P-256", "-out", name, cwd=tmp)

        def ext(name, text):
            with open(os.path.join(tmp, name), "w") as f:
                f.write(text)

        key("ca.key")
        ext("ca.ext", "basicConstraints=critical,CA:TRUE,pathlen:0\n"
            "keyUsage=critical,keyCertSign,cRLSign\n"
            "subjectKeyIdentifier=hash\n")
        openssl("req", "-x509", "-new", "-key", "ca.key", "-subj",
                "/CN=SecureChat Fuzz CA", "-days", "3650", "-sha256",
                "-extensions", "v3_ca", "-addext",
                "basicConstraints=critical,CA:TRUE,pathlen:0",
                "-addext", "keyUsage=critical,keyCertSign,cRLSign",
                "-out", "ca.pem", "-outform", "PEM", cwd=tmp)

        def leaf(name, cn, extfile_text, keyspec="rsa:2048", days="365",
                 serial=None, start=None, selfsign=False):
            key(name + ".key", keyspec)
            ext(name + ".ext", extfile_text)
            openssl("req", "-new", "-key", name + ".key", "-subj",
                    "/CN=" + cn, "-out", name + ".csr", cwd=tmp)
            args = ["x509", "-req", "-in", name + ".csr", "-sha256",
                    "-extfile", name + ".ext", "-outform", "DER",
                    "-out", name + ".der"]
            if selfsign:
                args += ["-signkey", name + ".key"]
            else:
                args += ["-CA", "ca.pem", "-CAkey", "ca.key"]
            if serial:
                args += ["-set_serial", serial]
            elif not selfsign:
                args += ["-CAcreateserial"]
            if days.startswith("-"):
                # Expired: valid from 10 days ago until yesterday.
                args += ["-not_before", start or "20200101000000Z",
                         "-not_after", "20200102000000Z"]
            else:
                args += ["-days", days]
            openssl(*args, cwd=tmp)
            with open(os.path.join(tmp, name + ".der"), "rb") as f:
                certs[name] = f.read()

        client = ("basicConstraints=critical,CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\n"
                  "extendedKeyUsage=clientAuth\n"
                  "subjectKeyIdentifier=hash\n"
                  "authorityKeyIdentifier=keyid\n")
        server = ("basicConstraints=critical,CA:FALSE\n"
                  "keyUsage=critical,digitalSignature\n"
                  "extendedKeyUsage=serverAuth\n"
                  "subjectAltName=DNS:localhost,IP:127.0.0.1\n"
                  "subjectKeyIdentifier=hash\n"
                  "authorityKeyIdentifier=keyid\n")
        leaf("client", "alice", client)
        leaf("server", "localhost", server)
        leaf("revoked", "mallory", client, serial="0x0BADC0DE")
        leaf("selfsigned", "eve", client, selfsign=True)
        leaf("cnonly", "localhost", client.replace("clientAuth",
             "serverAuth,clientAuth"))
        leaf("ec", "bob", client, keyspec="ec")
        leaf("weak", "carol", client, keyspec="rsa:1024")
        leaf("wildcard", "*.example.org",
             server.replace("DNS:localhost", "DNS:*.example.org,"
                            "DNS:l*host,email:a@b.c,URI:https://x/"))
        leaf("leafca", "dave", "basicConstraints=critical,CA:TRUE\n"
             "keyUsage=critical,keyCertSign,digitalSignature\n")
        leaf("noext", "erin", "")
        try:
            leaf("expired", "frank", client, days="-1")
        except subprocess.CalledProcessError:
            pass    # openssl before 3.4 has no -not_before for x509
        openssl("x509", "-in", "ca.pem", "-outform", "DER", "-out",
                "ca.der", cwd=tmp)
        with open(os.path.join(tmp, "ca.der"), "rb") as f:
            certs["ca"] = f.read()
        with open(os.path.join(tmp, "ca.pem"), "rb") as f:
            certs["ca.pem"] = f.read()
        # A CRL revoking the "revoked" leaf, PEM and DER.
        ext("ca.cnf", "[ca]\ndefault_ca=d\n[d]\ndatabase=index.txt\n"
            "crlnumber=crlnumber\ndefault_md=sha256\n"
            "default_crl_days=30\n")
        with open(os.path.join(tmp, "index.txt"), "w") as f:
            f.write("R\t300101000000Z\t240101000000Z\t0BADC0DE\tunknown"
                    "\t/CN=mallory\n")
        ext("crlnumber", "01\n")
        openssl("ca", "-config", "ca.cnf", "-gencrl", "-keyfile", "ca.key",
                "-cert", "ca.pem", "-out", "crl.pem", cwd=tmp)
        openssl("crl", "-in", "crl.pem", "-outform", "DER", "-out",
                "crl.der", cwd=tmp)
        for n in ("crl.pem", "crl.der"):
            with open(os.path.join(tmp, n), "rb") as f:
                certs[n] = f.read()
    finally:
        shutil.rmtree(tmp)
    return certs


def main():
    certs = make_certs()
    cert = certs["client"]

    # ---- proto: selector byte (enum fz_parser) + payload ----
    FZ = dict(error=0, ch=1, sh=2, sh_core=3, cf=4, record=5, register=6,
              login=7, auth_ok=8, chat=9, receipt=10, valid=11, send=12,
              sent=13, deliver=14, ack=15, status=16, request=17, reply=18)
    p = {
        "error": error(1, "malformed CLIENT_HELLO"),
        "error-escape": error(3, "\x1b[2Jbad\x00sig"),
        "ch": ch(cert),
        "ch-range": ch(cert, 1, 9),
        "sh": sh_core(certs["server"]) + str16(SIG),
        "sh_core": sh_core(certs["server"]),
        "cf": str16(SIG),
        "record": record(1, 1700000000000, bytes(48)),
        "register": register(),
        "login": login(),
        "auth_ok": auth_ok(),
        "chat": chat("hello, w\u00f6rld\t\u2713 \U0001f600"),
        "receipt": receipt(),
        "valid": "alice@example.org".encode(),
        "send": send(),
        "sent": sent(),
        "sent-refused": sent(15, 0, "no such user"),
        "deliver": deliver(),
        "ack": ack(),
        "status": status(),
        "request": request(),
        "request-who": request(4, ""),
        "reply": reply([("alice", cert), ("bob", b"")]),
    }
    for k, v in p.items():
        out("proto", k, bytes([FZ[k.split("-")[0]]]) + v)
    out("proto", "valid-utf8", bytes([FZ["valid"]]) +
        "\u00e9\u0800\ud7ff\ue000\U00010000\U0010ffff".encode("utf-8",
                                                             "surrogatepass"))
    out("proto", "valid-bad-utf8", bytes([FZ["valid"]]) +
        b"\xc0\x80\xed\xa0\x80\xf4\x90\x80\x80\xc2\x85")

    # ---- frame: byte streams ----
    stream = frame(1, ch(cert)) + frame(2, sh_core(certs["server"]) +
                                        str16(SIG)) + frame(3, str16(SIG))
    out("frame", "handshake", stream)
    out("frame", "records", frame(0x21, record(1, 1, bytes(96))) +
        frame(0x22, record(1, 2, bytes(80))) +
        frame(0x30, record(2, 3, bytes(32))) +
        frame(0x31, record(3, 4, bytes(144))) +
        frame(0x32, record(3, 5, bytes(144))))
    out("frame", "bodies", frame(0x20, register()) + frame(0x21, login()) +
        frame(0x22, auth_ok()) + frame(0x30, chat("hi")) +
        frame(0x31, receipt(1)) + frame(0x32, receipt(2)))
    out("frame", "messaging", frame(0x40, send()) + frame(0x41, sent()) +
        frame(0x42, deliver()) + frame(0x43, ack()) +
        frame(0x44, status()) + frame(0x45, request()) +
        frame(0x46, reply([("alice", cert)])) +
        frame(0x40, record(4, 4, bytes(64))))
    out("frame", "error", frame(0x7f, error(9, "frame too large")))
    out("frame", "empty-payloads", frame(0x30, b"") + frame(0x7f, b""))
    out("frame", "bad-magic", frame(1, b"x", magic=b"SX"))
    out("frame", "bad-version", frame(1, b"x", version=2))
    out("frame", "too-large", b"SC\x01\x30" + struct.pack(">I", 65537))
    out("frame", "bad-type", b"SC\x01\x04\x00\x00\x00\x00")
    out("frame", "truncated", frame(0x30, chat("hello"))[:-2])

    # ---- cert: flags byte + DER ----
    # flags: 1 re-sign, 2 CRL, 4 server / 8 client purpose, 0x10 name,
    # 0x20 the name is 127.0.0.1
    for name, flags in (("client", 0x0b), ("server", 0x15), ("server", 0x35),
                        ("revoked", 0x0b), ("selfsigned", 0x08),
                        ("cnonly", 0x15), ("ec", 0x09), ("weak", 0x09),
                        ("wildcard", 0x15), ("leafca", 0x09),
                        ("noext", 0x01), ("expired", 0x09), ("ca", 0x00),
                        ("client", 0x08)):
        if name in certs:
            out("cert", "%s-%02x" % (name, flags), bytes([flags]) +
                certs[name])
    # 0x40: files for the loaders.
    out("cert", "file-ca-pem", b"\x40" + certs["ca.pem"])
    out("cert", "file-two-pem", b"\x40" + certs["ca.pem"] + certs["ca.pem"])
    out("cert", "file-der", b"\x40" + certs["server"])
    out("cert", "file-crl-pem", b"\x40" + certs["crl.pem"])
    out("cert", "file-crl-der", b"\x40" + certs["crl.der"])

    # ---- conf ----
    with open(os.path.join(ROOT, "..", "..", "etc", "securechatd.conf")) as f:
        out("conf", "example", f.read())
    minimal = "ca /etc/sc/ca.pem\ncert /etc/sc/server.pem\nkey /etc/sc/k\n"
    out("conf", "minimal", minimal)
    out("conf", "full", minimal + "\n".join([
        "listen 127.0.0.1:9000", "listen [::1]:9001", "listen 9002",
        "listen *:9003", "crl none", "server_name chat.example.org",
        "db_config \"/etc/securechat/db conf\"", "worker_user w",
        "keyd_user k", "authd_user a", "jail /var/empty",
        "keyd_path /usr/libexec/keyd", "authd_path /usr/libexec/authd",
        "transcript_dir /t", "receipt_dir /r", "audit_log /a",
        "max_sessions 100", "max_startups 5:50:20", "max_per_source 3",
        "handshake_timeout 1m", "idle_timeout 2h", "stale_window 30s",
        "drain_timeout 0", "registration no", "scrypt_n_log2 14",
        "scrypt_r 8", "scrypt_p 2", "auth_max_failures 3",
        "auth_failure_window 900", "log_facility local3",
        "  # comment", "\t", "stale_window 10 # again"]) + "\r\n")
    out("conf", "twice", minimal + "ca /x\n")
    out("conf", "scrypt-mem", minimal + "scrypt_n_log2 24\nscrypt_r 32\n")

    # ---- dbconf ----
    with open(os.path.join(ROOT, "..", "..", "etc", "db.conf.sample")) as f:
        out("dbconf", "sample", f.read())
    out("dbconf", "socket", "socket = /run/mysqld/mysqld.sock\n"
        "user=u\ndatabase = d\npassword = \" with blanks \"\n")
    out("dbconf", "both", "host = h\nsocket = /s\nuser = u\ndatabase = d\n")
    out("dbconf", "port", "host = h\nport = 65536\nuser = u\ndatabase = d\n")

    # ---- transcript: lines and files ----
    def tline(seq, ts, d, t, ctlen, siglen=256):
        ivct = IV + bytes((i * 13) & 0xff for i in range(ctlen))
        return "%d|%d|%s|%d|%s|%s|%s\n" % (
            seq, ts, d, t, base64.b64encode(ivct).decode(),
            base64.b64encode(SIG[:siglen]).decode(),
            hashlib.sha256(cert).hexdigest())
    out("transcript", "line-c2s", tline(1, 1700000000000, "c2s", 0x21, 96))
    out("transcript", "line-s2c", tline(1, 1700000000001, "s2c", 0x22, 80))
    out("transcript", "line-pad", tline(2, 2, "c2s", 0x30, 32, 255))
    out("transcript", "file",
        tline(1, 1, "c2s", 0x21, 96) + tline(1, 2, "s2c", 0x22, 80) +
        tline(2, 3, "c2s", 0x30, 32) + tline(2, 4, "s2c", 0x30, 48) +
        tline(3, 5, "c2s", 0x31, 144) + tline(3, 6, "s2c", 0x32, 144))
    out("transcript", "file-gap",
        tline(1, 1, "c2s", 0x21, 96) + tline(3, 2, "c2s", 0x30, 32))

    # ---- receipt JSON ----
    rec = {
        "format": "securechat-receipt-v1",
        "session_id": SID.hex(),
        "role": "server",
        "first_seq": 1,
        "last_seq": 9,
        "transcript_sha256": hashlib.sha256(b"t").hexdigest(),
        "peer_fingerprint": hashlib.sha256(cert).hexdigest(),
        "signer_fingerprint": hashlib.sha256(b"s").hexdigest().upper(),
        "sig": base64.b64encode(SIG).decode(),
    }
    out("receipt", "server", json.dumps(rec, indent=2) + "\n")
    rec["role"] = "client"
    out("receipt", "client", json.dumps(rec))
    rec["extra"] = 1
    out("receipt", "extra", json.dumps(rec))
    del rec["extra"]
    rec["first_seq"] = 10
    out("receipt", "range", json.dumps(rec))
    out("receipt", "dup", '{"role":"client","role":"server"}')

    # ---- authd: selector + raw datagram (host-order IPC header) ----
    def ipc(t, body, ident=1, version=1, flags=0, ln=None):
        return struct.pack("<BBHII", version, flags, t, ident,
                           len(body) if ln is None else ln) + body
    reg = str16("Alice") + str16("alice@example.org") + \
        str16("correct horse") + bytes(32)
    log = str16("alice") + str16("pw\x00with nul") + bytes(32)
    out("authd", "register", b"\x00" + ipc(0x10, reg))
    out("authd", "login", b"\x00" + ipc(0x11, log))
    out("authd", "login-sql", b"\x00" + ipc(0x11, str16("a' OR 1=1 --") +
                                             str16("x") + bytes(32)))
    out("authd", "unknown", b"\x00" + ipc(0x12, b""))
    out("authd", "bad-len", b"\x00" + ipc(0x11, log, ln=3))
    out("authd", "new-channel", b"\x81" + ipc(1, struct.pack(">Q", 7) +
                                              str16("192.0.2.7")))
    out("authd", "new-channel-nofd", b"\x01" + ipc(1, struct.pack(">Q", 7) +
                                                   str16("192.0.2.7")))
    out("authd", "result-ok", b"\x42" + ipc(0x12, struct.pack(">HQ", 0, 42) +
                                            str16("alice")))
    out("authd", "result-noncanon", b"\x42" + ipc(0x12, struct.pack(
        ">HQ", 0, 42) + str16("alIce\x00")))
    out("authd", "result-fail", b"\x42" + ipc(0x12, struct.pack(">HQ", 6, 0) +
                                              str16("")))
    out("authd", "result-wrong-id", b"\x02" + ipc(0x12, struct.pack(
        ">HQ", 0, 42) + str16("alice"), ident=0xdeadbeef))

    # ---- record: steps of (u8 op, u8 type, u16 length, data) ----
    def step(op, t, d):
        return bytes([op, t]) + struct.pack(">H", len(d)) + d
    out("record", "sealed", step(0, 0x20, register()) +
        step(0, 0x21, login()) + step(4, 0x30, chat("hello")) +
        step(0, 0x31, receipt(1)))
    out("record", "sealed-bad-type", step(0, 0x22, auth_ok()))
    out("record", "sealed-messaging", step(0, 0x40, send()) +
        step(0, 0x43, ack()) + step(0, 0x45, request()) +
        step(0, 0x45, request(7, "")))
    signed = struct.pack(">Q", 0) + IV + bytes(range(48))
    out("record", "signed", step(1 | 4, 0x30, signed) +
        step(1, 0x30, signed) + step(1 | 8, 0x30, signed) +
        step(1 | 12, 0x30, signed))
    out("record", "signed-stale", step(1 | 4, 0x30, struct.pack(
        ">Q", 10 ** 9) + IV + bytes(32)))
    out("record", "raw", step(2, 0x30, record(1, 1, bytes(32))) +
        step(2, 0x21, b"\x00" * 40))

    # ---- keyd: start state + (u16 length, raw datagram)* ----
    def dg(t, body, ident=1):
        m = ipc(t, body, ident)
        return struct.pack(">H", len(m)) + m
    kcert = b"SecureChat fuzz: keyd's certificate\x00"
    kch = ch(cert)
    ksh = bytes([1]) + b"N" * 32 + b"S" * 16 + KEX + str16(kcert)

    def srec(t, seq, ctlen):
        # ts 0: the harness reads it as "keyd's clock + 0".
        return bytes([t]) + struct.pack(">QQ", seq, 0) + IV + \
            str32(bytes(ctlen))
    rcpt = struct.pack(">QQ", 1, 3) + bytes(32) + bytes(range(32))
    out("keyd", "session", b"\x00" + dg(0x10, b"") +
        dg(0x12, str32(kch) + str32(ksh), 2) +
        dg(0x14, srec(0x22, 1, 80), 3) + dg(0x14, srec(0x30, 2, 32), 4) +
        dg(0x16, rcpt, 5) + dg(0x14, srec(0x32, 3, 144), 6))
    out("keyd", "handshake", b"\x01" + dg(0x12, str32(kch) + str32(ksh)))
    out("keyd", "auth-ok", b"\x02" + dg(0x14, srec(0x22, 1, 80)))
    out("keyd", "chat", b"\x03" + dg(0x14, srec(0x30, 2, 4112)))
    out("keyd", "receipt", b"\x03" + dg(0x16, rcpt))
    out("keyd", "closed", b"\x04" + dg(0x14, srec(0x30, 3, 32)))
    out("keyd", "c2s-type", b"\x03" + dg(0x14, srec(0x21, 2, 32)))
    out("keyd", "nonce-twice", b"\x00" + dg(0x10, b"") + dg(0x10, b""))
    # ---- envelope: mode byte; 1 = edits of the harness's own envelope ----
    out("envelope", "pristine", b"\x01")
    out("envelope", "edits", b"\x01" + struct.pack(">HB", 3, 0x41) +
        struct.pack(">HB", 400, 0) + struct.pack(">HB", 65535, 0xff))
    # A raw envelope (signed by a CA the harness does not trust) comes
    # from a built harness: `make fuzz` first, BUILD as for make.
    fuzz = os.path.join(ROOT, "..", "..",
                        os.environ.get("BUILD", "build") + "-fuzz",
                        "fuzz_envelope")
    if os.access(fuzz, os.X_OK):
        dump = os.path.join(CORPUS, "envelope", "seed-raw")
        env = dict(os.environ, SC_FUZZ_ENVELOPE_DUMP=dump)
        subprocess.run([fuzz, "-runs=0"], env=env, check=True,
                       stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    router_seeds()
    replay_seeds()
    return 0


def ipc_raw(t, body, ident=1, version=1):
    """One IPC datagram as a process sends it (host-order header)."""
    return struct.pack("<BBHII", version, 0, t, ident, len(body)) + body


def router_seeds():
    """router: steps of op byte [+ u16 length + raw datagram]."""
    def ctl(t, body, slot=None):
        op = 0 if slot is None else 4 | slot << 3
        m = ipc_raw(t, body, 0)
        return bytes([op]) + struct.pack(">H", len(m)) + m

    def wrk(slot, t, body, ident=1, raw=None):
        m = ipc_raw(t, body, ident) if raw is None else raw
        return bytes([1 | slot << 3]) + struct.pack(">H", len(m)) + m

    def hangup(slot):
        return bytes([2 | slot << 3])

    def new(serial, slot):
        return ctl(1, struct.pack(">Q", serial) +
                   str16("192.0.2.%d:4000" % serial), slot)

    def bind(serial, user, acct=None):
        return ctl(3, struct.pack(">QQ", serial, acct or serial) +
                   str16(user))

    def route(env, msg_id=5):
        return struct.pack(">Q", msg_id) + str32(env)

    def status(orig, state, msg_id=5):
        return struct.pack(">Q", msg_id) + str16(orig) + bytes([state])

    # A real envelope from alice to bob (fuzz_envelope's raw seed).
    with open(os.path.join(CORPUS, "envelope", "seed-raw"), "rb") as f:
        env = f.read()[1:]
    out("router", "session",
        new(1, 0) + new(2, 1) + new(3, 2) + bind(1, "alice") +
        bind(2, "bob") + bind(3, "bob") + wrk(0, 0x10, route(env), 7) +
        wrk(1, 0x14, status("alice", 1)) + wrk(2, 0x14, status("alice", 2)) +
        wrk(0, 0x16, b"", 8) + hangup(1) + wrk(2, 0x16, b"", 9) + b"\x03")
    out("router", "before-bind", new(1, 0) + wrk(0, 0x16, b""))
    out("router", "sender-mismatch", new(1, 0) + bind(1, "bob") +
        wrk(0, 0x10, route(env)))
    out("router", "route-truncated", new(1, 0) + bind(1, "alice") +
        wrk(0, 0x10, route(env[:len(env) // 2])))
    out("router", "bind-twice", new(1, 0) + bind(1, "alice") +
        bind(1, "alice") + bind(1, "carol") + bind(9, "dave"))
    out("router", "dup-serial", new(1, 0) + new(1, 1) + bind(1, "alice") +
        wrk(0, 0x16, b""))
    out("router", "too-many", b"".join(new(s, s - 1) for s in range(1, 6)))
    out("router", "ctl-malformed",
        ctl(1, struct.pack(">Q", 1) + str16("no descriptor")) +
        ctl(1, struct.pack(">Q", 2), 0) + ctl(1, struct.pack(">Q", 3) +
                                              str16("a\x00b"), 1) +
        ctl(3, struct.pack(">QQ", 3, 3) + str16("carol"), 2) +
        ctl(9, b"") + bind(3, "Not A Name") + bind(3, ""))
    out("router", "worker-malformed", new(1, 0) + bind(1, "alice") +
        wrk(0, 0, b"", raw=ipc_raw(0x16, b"", 1, version=2)) +
        new(2, 1) + bind(2, "bob") +
        wrk(1, 0, b"", raw=ipc_raw(0x16, b"xy")[:-1]))
    out("router", "status-bad", new(1, 0) + bind(1, "alice") +
        wrk(0, 0x14, status("bob", 3)))
    out("router", "status-name", new(1, 0) + bind(1, "alice") +
        wrk(0, 0x14, status("b\x00b", 1)))
    out("router", "who-body", new(1, 0) + bind(1, "alice") +
        wrk(0, 0x16, b"x"))
    out("router", "unknown-request", new(1, 0) + bind(1, "alice") +
        wrk(0, 0x11, b""))


def replay_seeds():
    """replay: the state file, byte for byte."""
    out("replay", "one", "alice|bob|1700000000000\n")
    out("replay", "rooms", "alice|#room|5\nbob|#room|7\n"
        "carol|alice|9223372036854775807\nbob|bob|1\n")
    out("replay", "empty", "")
    out("replay", "dup", "alice|bob|1\nalice|bob|2\n")
    out("replay", "leading-zero", "alice|bob|01\n")
    out("replay", "zero", "alice|bob|0\n")
    out("replay", "too-big", "alice|bob|9223372036854775808\n")
    out("replay", "no-newline", "alice|bob|1")
    out("replay", "nul", "alice|bob|1\n\x00")
    out("replay", "extra-bar", "alice|bob|1|2\n")
    out("replay", "long-name", "a" * 33 + "|bob|1\n")
    out("replay", "bad-conv", "alice|#|1\nalice|Bob|1\n")


ONLY = {"router": router_seeds, "replay": replay_seeds}

if __name__ == "__main__":
    # `mkcorpus.py router replay`: only those seeds (no new certificates).
    if len(sys.argv) > 1:
        for name in sys.argv[1:]:
            ONLY[name]()
        sys.exit(0)
    sys.exit(main())
