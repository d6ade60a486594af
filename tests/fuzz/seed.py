#!/usr/bin/env python3
"""Writes the seed inputs of tests/fuzz/corpus/ (run from anywhere; needs dig,
kdig and curl; talks to loopback only). The fuzzers grow the corpus from here.

- dns_answer: queries exactly as dig and kdig send them (captured on a loopback
  UDP socket that echoes them back), for the names of the fixture config
  (src/fuzzing/fixture.rs), each with a control byte and an upstream answer
  (the input layout is in src/fuzzing/dns.rs).
- http_api, http_delegate: requests exactly as curl sends them (captured on a
  loopback TCP socket), alone, pipelined, chunked, with Expect: 100-continue.
- delegate_body: acme-dns bodies as certbot, lego and acme.sh send them.
- config_toml, config_uci: the project's own config files (etc/, src/config/,
  tests/uci/, openwrt/).
- dns_xfr: AXFR, IXFR and SOA requests signed with the harness's key at its
  clock (src/fuzzing/xfr.rs), unsigned ones, and answers to its NOTIFY, each
  after the byte that says which.
"""

import hashlib
import hmac
import os
import socket
import struct
import subprocess
import sys

ROOT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "corpus")
TOKEN = "fuzz-token-0123456789abcdef"
USER = "c36f50e8-4632-44f0-83fe-e070fb9e4d9a"
KEY = "ModYGGTPvOjyV3b2nVZpJvSUhHFjK3DpTPWgQYaA"
SUBDOMAIN = "8e5700ea-a4bf-4ae2-9f8d-23b1ac05ca0d"
TXT = "LHDhK3oGRvkiefQnx7OOczTY5Tic_xZ6HcMOc_gmtoM"


def write(target, name, data):
    os.makedirs(os.path.join(ROOT, target), exist_ok=True)
    with open(os.path.join(ROOT, target, name), "wb") as f:
        f.write(data)


def capture_udp(command):
    """The datagram `command` (given the port) sends, echoed back with QR set."""
    sock = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    sock.bind(("127.0.0.1", 0))
    port = sock.getsockname()[1]
    sock.settimeout(5)
    proc = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    data, peer = sock.recvfrom(65535)
    reply = bytearray(data)
    reply[2] |= 0x80
    sock.sendto(bytes(reply), peer)
    proc.wait(timeout=10)
    sock.close()
    return data


def capture_tcp(command):
    """The bytes `command` (given the port) sends on one connection."""
    listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
    listener.bind(("127.0.0.1", 0))
    listener.listen(1)
    port = listener.getsockname()[1]
    proc = subprocess.Popen(command(port), stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    conn, _ = listener.accept()
    conn.settimeout(0.5)
    data = b""
    continued = False
    while True:
        try:
            chunk = conn.recv(65536)
        except socket.timeout:
            break
        if not chunk:
            break
        data += chunk
        if not continued and b"\r\n\r\n" in data and b"expect: 100-continue" in data.lower():
            conn.sendall(b"HTTP/1.1 100 Continue\r\n\r\n")
            continued = True
    conn.sendall(b"HTTP/1.1 200 OK\r\nContent-Length: 0\r\nConnection: close\r\n\r\n")
    conn.close()
    proc.wait(timeout=10)
    listener.close()
    return data


def name_wire(name):
    out = b""
    for label in name.rstrip(".").split("."):
        out += bytes([len(label)]) + label.encode()
    return out + b"\x00"


def record(owner, rtype, ttl, rdata):
    return owner + struct.pack(">HHIH", rtype, 1, ttl, len(rdata)) + rdata


A, NS, CNAME, SOA, TXT_TYPE, AAAA = 1, 2, 5, 6, 16, 28
AT_QUESTION = b"\xc0\x0c"


def framed(flags, counts, records):
    """The framed upstream part: flags, answer/authority/additional counts, records."""
    return struct.pack(">HHHH", flags, *counts) + b"".join(records)


SOA_RDATA = name_wire("ns.example.org") + name_wire("hostmaster.example.org") + struct.pack(">IIIII", 1, 3600, 600, 86400, 300)
UPSTREAM = {
    "a": framed(0x8180, (1, 0, 0), [record(AT_QUESTION, A, 300, bytes([93, 184, 216, 34]))]),
    "aaaa": framed(0x8180, (1, 0, 0), [record(AT_QUESTION, AAAA, 300, bytes(15) + b"\x01")]),
    "cname": framed(0x8180, (2, 0, 0), [
        record(AT_QUESTION, CNAME, 300, name_wire("cdn.example.org")),
        record(name_wire("cdn.example.org"), A, 60, bytes([192, 0, 2, 7])),
    ]),
    "nxdomain": framed(0x8183, (0, 1, 0), [record(AT_QUESTION, SOA, 900, SOA_RDATA)]),
    "nodata": framed(0x8180, (0, 1, 0), [record(AT_QUESTION, SOA, 900, SOA_RDATA)]),
    "rebind": framed(0x8180, (1, 0, 0), [record(AT_QUESTION, A, 300, bytes([192, 168, 1, 1]))]),
    "servfail": framed(0x8182, (0, 0, 0), []),
    "truncated": framed(0x8380, (0, 0, 0), []),
    "opt": framed(0x8180, (1, 0, 1), [
        record(AT_QUESTION, A, 300, bytes([198, 51, 100, 1])),
        b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0),
    ]),
    "txt": framed(0x8180, (1, 0, 0), [record(AT_QUESTION, TXT_TYPE, 30, b"\x05hello")]),
}

# (seed name, query command arguments after `dig @127.0.0.1 -p PORT`, control byte, upstream)
QUERIES = [
    ("local-a", ["a.home.test", "A"], 0, None),
    ("local-aaaa-tcp", ["a.home.test", "AAAA"], 1, None),
    ("cname-chain", ["www.home.test", "A"], 0, None),
    ("wildcard-cname", ["x.w.home.test", "A"], 0, None),
    ("wildcard-aaaa", ["deep.foo.wild.home.test", "AAAA"], 0, None),
    ("chain-leaves", ["out.home.test", "A"], 0, "cname"),
    ("chain-far", ["far.home.test", "AAAA"], 0, "aaaa"),
    ("cname-loop", ["loop1.home.test", "A"], 0, None),
    ("mx", ["home.test", "MX"], 0, None),
    ("txt", ["t.home.test", "TXT"], 0, None),
    ("srv", ["_http._tcp.home.test", "SRV"], 0, None),
    ("caa", ["home.test", "CAA"], 0, None),
    ("any", ["home.test", "ANY", "+notcp"], 1, None),
    ("soa", ["home.test", "SOA"], 0, None),
    ("empty-non-terminal", ["ent.sub.home.test", "A"], 0, None),
    ("nxdomain-local", ["nothing.home.test", "A"], 0, None),
    ("ip-name", ["192-168-1-5.home.test", "A"], 0, None),
    ("ip-name-v6", ["fd00--5.home.test", "AAAA"], 0, None),
    ("truncated-many", ["many.home.test", "A", "+bufsize=512", "+noedns"], 0, None),
    ("runtime-record", ["runtime.home.test", "A"], 0, None),
    ("lease", ["laptop.lan", "A"], 0, None),
    ("lease-v6", ["phone.lan", "AAAA"], 0, None),
    ("hosts", ["nas.home.test", "A"], 0, None),
    ("ptr-zone", ["-x", "192.168.1.10"], 0, None),
    ("ptr-lease", ["-x", "192.168.1.50"], 0, None),
    ("ptr-private-ent", ["1.0.10.in-addr.arpa", "PTR"], 0, None),
    ("ptr-v6", ["-x", "fd00::10"], 0, None),
    ("ptr-public", ["-x", "93.184.216.34"], 0, "nxdomain"),
    ("overlay-local", ["local.example.net", "A"], 0, None),
    ("overlay-forward", ["other.example.net", "A"], 0, "a"),
    ("overlay-chain", ["elsewhere.example.net", "A"], 0, "a"),
    ("forward-a", ["www.example.org", "A"], 0, "a"),
    ("forward-cname", ["www.example.org", "A"], 0, "cname"),
    ("forward-nxdomain", ["nope.example.org", "A"], 0, "nxdomain"),
    ("forward-nodata", ["www.example.org", "AAAA"], 0, "nodata"),
    ("forward-rebind", ["evil.example.org", "A"], 0, "rebind"),
    ("forward-rebind-allowed", ["x.rebind-ok.test", "A"], 0, "rebind"),
    ("forward-servfail", ["www.example.org", "A"], 0, "servfail"),
    ("forward-truncated", ["www.example.org", "A"], 0, "truncated"),
    ("forward-opt", ["www.example.org", "A", "+dnssec"], 0, "opt"),
    ("forward-txt-tcp", ["www.example.org", "TXT"], 1, "txt"),
    ("forward-unanswered", ["www.example.org", "A"], 0x10, None),
    ("route", ["host.corp.test", "A"], 0, "a"),
    ("single-label", ["printer", "A"], 0, "a"),
    ("delegate-txt", [SUBDOMAIN + ".auth.test", "TXT"], 4, None),
    ("delegate-dmarc", ["_dmarc." + SUBDOMAIN + ".auth.test", "TXT"], 4, None),
    ("delegate-soa", ["auth.test", "SOA", "+norec"], 4, None),
    ("delegate-refused", ["a.home.test", "A"], 4, None),
    ("axfr", ["home.test", "A"], 0, None),
    ("edns-version", ["a.home.test", "A", "+edns=1"], 0, None),
    ("dnssec-ok", ["a.home.test", "A", "+dnssec", "+bufsize=4096"], 0, None),
    ("no-rd", ["a.home.test", "A", "+norec", "+nocookie"], 0, None),
    ("chaos", ["version.bind", "TXT", "CH"], 0, None),
    ("opcode-status", ["a.home.test", "A", "+opcode=status"], 0, None),
    ("slip", ["a.home.test", "A"], 2, None),
    ("raw-upstream", ["www.example.org", "A"], 8, None),
]


def dns_seeds():
    for seed, args, control, upstream in QUERIES:
        query = capture_udp(lambda port: ["dig", "@127.0.0.1", "-p", str(port), "+tries=1", "+time=2", *args])
        tail = UPSTREAM.get(upstream, b"") if upstream else b""
        if seed == "axfr":
            # dig sends AXFR over TCP only: the same question with type 252.
            at = 12 + len(name_wire(args[0]))
            query = query[:at] + struct.pack(">H", 252) + query[at + 2:]
        if seed == "raw-upstream":
            # A whole upstream message: the query itself, answered.
            answer = bytearray(query)
            answer[2] |= 0x80
            tail = bytes(answer) + UPSTREAM["a"][8:]
        write("dns_answer", seed, bytes([control]) + struct.pack(">H", len(query)) + query + tail)
    for seed, args in [("kdig-a", ["a.home.test", "A"]), ("kdig-nsid", ["home.test", "SOA", "+nsid", "+padding"])]:
        query = capture_udp(lambda port: ["kdig", "@127.0.0.1", "-p", str(port), "+retry=0", "+timeout=2", *args])
        write("dns_answer", seed, b"\x00" + struct.pack(">H", len(query)) + query)


def curl(port, path, *args):
    return ["curl", "-s", "-o", "/dev/null", "--max-time", "5", *args, f"http://127.0.0.1:{port}{path}"]


BEARER = ["-H", f"Authorization: Bearer {TOKEN}"]
API_REQUESTS = [
    ("page", "/", []),
    ("metrics", "/metrics", BEARER),
    ("status", "/api/v1/status", BEARER),
    ("status-no-token", "/api/v1/status", []),
    ("status-head", "/api/v1/status", BEARER + ["-I"]),
    ("dns-stats", "/api/v1/dns/stats", BEARER),
    ("records", "/api/v1/dns/records", BEARER),
    ("record-add", "/api/v1/dns/records", BEARER + ["-H", "Content-Type: application/json", "-d", '{"zone":"home.test","record":"new 60 A 192.168.1.77"}']),
    ("record-add-bad", "/api/v1/dns/records", BEARER + ["-d", '{"zone":"home.test","record":"new 60 A not-an-ip"}']),
    ("record-delete", "/api/v1/dns/records/1", BEARER + ["-X", "DELETE"]),
    ("flush", "/api/v1/dns/cache/flush", BEARER + ["-X", "POST"]),
    ("flush-name", "/api/v1/dns/cache/flush", BEARER + ["-d", '{"name":"www.example.org"}']),
    ("certs", "/api/v1/certs", BEARER),
    ("cert-setup", "/api/v1/certs/router/setup", BEARER),
    ("cert-renew", "/api/v1/certs/router/renew", BEARER + ["-X", "POST"]),
    ("delegate", "/api/v1/delegate", BEARER),
    ("keys", "/api/v1/keys/router", BEARER),
    ("wrong-method", "/api/v1/status", BEARER + ["-X", "PUT"]),
    ("unknown", "/api/v1/nothing?x=1", BEARER),
    ("chunked", "/api/v1/dns/records", BEARER + ["-H", "Transfer-Encoding: chunked", "-d", '{"zone":"home.test","record":"c 60 TXT \\"x\\""}']),
    ("expect-continue", "/api/v1/dns/records", BEARER + ["-H", "Expect: 100-continue", "-d", '{"zone":"home.test","record":"e 60 A 192.168.1.78"}']),
    ("http10", "/api/v1/status", BEARER + ["-0"]),
]
DELEGATE_REQUESTS = [
    ("health", "/health", []),
    ("health-head", "/health", ["-I"]),
    ("register", "/register", ["-X", "POST"]),
    ("register-allowfrom", "/register", ["-H", "Content-Type: application/json", "-d", '{"allowfrom":["192.0.2.0/24","[2001:db8::1]/64"]}']),
    ("register-bad", "/register", ["-d", '{"allowfrom":"nope"}']),
    ("update", "/update", ["-H", f"X-Api-User: {USER}", "-H", f"X-Api-Key: {KEY}", "-d", f'{{"subdomain":"{SUBDOMAIN}","txt":"{TXT}"}}']),
    ("update-forwarded", "/update", ["-H", "X-Forwarded-For: 10.1.2.3, 10.4.5.6", "-H", f"X-Api-User: {USER}", "-H", f"X-Api-Key: {KEY}", "-d", f'{{"SubDomain":"{SUBDOMAIN}","Txt":"{TXT}"}}']),
    ("update-bad-key", "/update", ["-H", f"X-Api-User: {USER}", "-H", "X-Api-Key: short", "-d", "{}"]),
    ("update-chunked", "/update", ["-H", "Transfer-Encoding: chunked", "-H", f"X-Api-User: {USER}", "-H", f"X-Api-Key: {KEY}", "-d", f'{{"subdomain":"{SUBDOMAIN}","txt":"{TXT}"}}']),
    ("wrong-method", "/register", ["-X", "GET"]),
    ("double-slash", "//register", ["-X", "POST", "--path-as-is"]),
    ("unknown", "/nothing", []),
]


def http_seeds():
    for target, requests in [("http_api", API_REQUESTS), ("http_delegate", DELEGATE_REQUESTS)]:
        captured = {}
        for seed, path, args in requests:
            captured[seed] = capture_tcp(lambda port: curl(port, path, *args))
            write(target, seed, captured[seed])
        # Pipelined: two requests in one write; then a broken head, an oversize one.
        first, second = list(captured.values())[:2]
        write(target, "pipelined", first + second)
        write(target, "bad-head", b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n")
        write(target, "too-large-length", b"POST /x HTTP/1.1\r\nHost: x\r\nContent-Length: 99999999\r\n\r\n")


def body_seeds():
    bodies = {
        "register-empty": b"\x00",
        "register-allowfrom": b'\x00{"allowfrom":["192.0.2.0/24","2001:db8::/32"]}',
        "register-case": b'\x00{"AllowFrom":[" [::1]/128 "]}',
        "register-null": b'\x00{"allowfrom":null}',
        "register-bad-cidr": b'\x00{"allowfrom":["192.0.2.1"]}',
        "update": f'\x01{{"subdomain":"{SUBDOMAIN}","txt":"{TXT}"}}'.encode(),
        "update-case": f'\x01{{"SubDomain":"{SUBDOMAIN.upper()}","Txt":"{TXT}"}}'.encode(),
        "update-bad-txt": f'\x01{{"subdomain":"{SUBDOMAIN}","txt":"short"}}'.encode(),
        "update-other-subdomain": f'\x01{{"subdomain":"other","txt":"{TXT}"}}'.encode(),
        "update-not-json": b"\x01subdomain=x&txt=y",
    }
    for name, body in bodies.items():
        write("delegate_body", name, body)


def config_seeds():
    top = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))
    files = {
        "config_toml": ["etc/lanseal.toml", "src/config/default.toml", "tests/uci/full.toml"],
        "config_uci": [
            "openwrt/lanseal/files/lanseal.config",
            *sorted("tests/uci/" + f for f in os.listdir(os.path.join(top, "tests/uci")) if f.endswith(".config")),
        ],
    }
    for target, paths in files.items():
        for path in paths:
            with open(os.path.join(top, path), "rb") as f:
                write(target, path.replace("/", "_"), f.read())


XFR_KEY_NAME = b"\x03xfr\x00"
XFR_SECRET = b"fuzz-xfr-secret-0123456789abcdef"
XFR_NOW = 1_800_000_000
HMAC_SHA256 = b"\x0bhmac-sha256\x00"


def tsig_sign(message, prior=None, time=XFR_NOW, error=0):
    """`message` with a TSIG record (RFC 8945) appended; and the MAC."""
    variables = (XFR_KEY_NAME + struct.pack(">HI", 255, 0) + HMAC_SHA256
                 + time.to_bytes(6, "big") + struct.pack(">HHH", 300, error, 0))
    chained = b"" if prior is None else struct.pack(">H", len(prior)) + prior
    mac = hmac.new(XFR_SECRET, chained + message + variables, hashlib.sha256).digest()
    rdata = (HMAC_SHA256 + time.to_bytes(6, "big") + struct.pack(">HH", 300, len(mac)) + mac
             + message[:2] + struct.pack(">HH", error, 0))
    signed = bytearray(message + XFR_KEY_NAME + struct.pack(">HHIH", 250, 255, 0, len(rdata)) + rdata)
    arcount = struct.unpack(">H", signed[10:12])[0] + 1
    signed[10:12] = struct.pack(">H", arcount)
    return bytes(signed), mac


def xfr_seeds():
    apex = name_wire("home.test")
    soa = record(b"\xc0\x0c", SOA, 300, name_wire("ns.home.test") + name_wire("hm.home.test")
                 + struct.pack(">IIIII", 5, 3600, 600, 86400, 300))
    opt = b"\x00" + struct.pack(">HHIH", 41, 1232, 0, 0)

    def query(qtype, authority=b"", additional=b"", counts=(0, 0)):
        header = struct.pack(">HHHHHH", 0x4242, 0, 1, 0, counts[0], counts[1])
        return header + apex + struct.pack(">HH", qtype, 1) + authority + additional

    requests = {
        "axfr": query(252),
        "axfr_opt": query(252, additional=opt, counts=(0, 1)),
        "ixfr": query(251, authority=soa, counts=(1, 0)),
        "soa": query(SOA),
    }
    for name, message in requests.items():
        write("dns_xfr", f"request_{name}_unsigned", b"\x00" + message)
        write("dns_xfr", f"request_{name}_signed", b"\x00" + tsig_sign(message)[0])
    write("dns_xfr", "request_axfr_late", b"\x00" + tsig_sign(requests["axfr"], time=XFR_NOW + 3600)[0])
    # The harness's NOTIFY, and answers to it: signed rightly, unsigned, unchained.
    notify = struct.pack(">HHHHHH", 0x1234, (4 << 11) | 0x0400, 1, 0, 0, 0) + apex + struct.pack(">HH", SOA, 1)
    _, notify_mac = tsig_sign(notify)
    answer = bytearray(notify)
    answer[2] |= 0x80
    answer = bytes(answer)
    write("dns_xfr", "notify_answer_signed", b"\x01" + tsig_sign(answer, prior=notify_mac)[0])
    write("dns_xfr", "notify_answer_unsigned", b"\x01" + answer)
    write("dns_xfr", "notify_answer_unchained", b"\x01" + tsig_sign(answer)[0])


def main():
    xfr_seeds()
    config_seeds()
    dns_seeds()
    http_seeds()
    body_seeds()
    print(f"seeds written under {ROOT}", file=sys.stderr)


if __name__ == "__main__":
    main()
