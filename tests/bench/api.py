#!/usr/bin/env python3
"""The local API's cost (issue 11): memory, CPU per request, runtime-record writes.

Usage: tests/bench/api.py     (after `cargo build --release`)

All on loopback. Two lanseal processes with the same DNS config (one zone of
1000 records), one with [api], one without; measured:
  - VmRSS and RssAnon of each after the API has served every kind of request
    (the API's memory is the difference);
  - the server's CPU time (utime + stime of every thread, /proc/PID/stat) per
    request over one keep-alive connection, for GET /api/v1/dns/stats,
    GET /metrics, GET /api/v1/dns/records, GET / (the page);
  - POST /api/v1/dns/records: wall time and server CPU per record added (each
    one a SQLite transaction with synchronous = FULL, and a zone rebuild), and
    DELETE likewise;
  - the page's bytes as served.
There is no counterpart in dnsmasq or unbound for a JSON API (unbound-control
speaks its own TLS protocol), so the figures are absolute; the RSS is also given
as a ratio of the DNS role's own.
"""

import http.client
import json
import os
import socket
import subprocess
import sys
import tempfile
import time

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("BIN", os.path.join(ROOT, "target/release/lanseal"))
REQUESTS = int(os.environ.get("REQUESTS", "2000"))
RECORDS = int(os.environ.get("RECORDS", "200"))
TICKS = os.sysconf("SC_CLK_TCK")


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def status_field(pid, field):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(field + ":"):
                return int(line.split()[1])
    return 0


def cpu_seconds(pid):
    with open(f"/proc/{pid}/stat") as f:
        fields = f.read().rsplit(")", 1)[1].split()
    return (int(fields[11]) + int(fields[12])) / TICKS


def start(directory, api_port):
    dns_port = free_port()
    records = ", ".join(f'"h{i} A 10.0.{i // 250}.{i % 250 + 1}"' for i in range(1000))
    config = (
        f'state_dir = "{directory}/state"\nlog_level = "warn"\n'
        f'[dns]\nlisten = ["127.0.0.1:{dns_port}"]\nresolv_file = ""\nthreads = 1\n'
        f'[[zone]]\nname = "home.example.com"\nrecords = [{records}]\n'
    )
    if api_port:
        config += f'[api]\nlisten = "127.0.0.1:{api_port}"\n'
    path = os.path.join(directory, "lanseal.toml")
    with open(path, "w") as f:
        f.write(config)
    process = subprocess.Popen([BIN, "run", "-c", path], stderr=subprocess.DEVNULL)
    deadline = time.monotonic() + 30
    while time.monotonic() < deadline:
        try:
            if api_port:
                socket.create_connection(("127.0.0.1", api_port), 0.2).close()
            else:
                time.sleep(0.5)
            return process
        except OSError:
            time.sleep(0.05)
    sys.exit("lanseal did not start")


def main():
    if not os.path.exists(BIN):
        sys.exit(f"{BIN} missing: cargo build --release")
    with tempfile.TemporaryDirectory() as plain_dir, tempfile.TemporaryDirectory() as api_dir:
        plain = start(plain_dir, None)
        port = free_port()
        server = start(api_dir, port)
        token = open(os.path.join(api_dir, "state/api.token")).read().strip()
        headers = {"Authorization": f"Bearer {token}", "Content-Type": "application/json"}
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)

        def call(method, path, body=None):
            connection.request(method, path, body=body, headers=headers)
            response = connection.getresponse()
            data = response.read()
            return response.status, data

        results = {}
        for path in ["/api/v1/dns/stats", "/metrics", "/api/v1/dns/records", "/"]:
            call("GET", path)
            before = cpu_seconds(server.pid)
            for _ in range(REQUESTS):
                status, data = call("GET", path)
                assert status == 200, (path, status, data[:200])
            used = cpu_seconds(server.pid) - before
            results[path] = (used / REQUESTS * 1e6, len(data))
        rss_reads = status_field(server.pid, "VmRSS"), status_field(server.pid, "RssAnon")
        ids = []
        before, started = cpu_seconds(server.pid), time.monotonic()
        for i in range(RECORDS):
            body = json.dumps({"zone": "home.example.com", "record": f"r{i} A 192.168.2.{i % 250 + 1}"})
            status, data = call("POST", "/api/v1/dns/records", body)
            assert status == 201, data
            ids.append(json.loads(data)["id"])
        add_wall = (time.monotonic() - started) / RECORDS * 1e3
        add_cpu = (cpu_seconds(server.pid) - before) / RECORDS * 1e3
        before, started = cpu_seconds(server.pid), time.monotonic()
        for record_id in ids:
            status, _ = call("DELETE", f"/api/v1/dns/records/{record_id}")
            assert status == 204
        delete_wall = (time.monotonic() - started) / RECORDS * 1e3
        delete_cpu = (cpu_seconds(server.pid) - before) / RECORDS * 1e3
        rss_plain, anon_plain = status_field(plain.pid, "VmRSS"), status_field(plain.pid, "RssAnon")
        rss_api, anon_api = status_field(server.pid, "VmRSS"), status_field(server.pid, "RssAnon")
        for process in (plain, server):
            process.terminate()
            process.wait()
    print(f"binary: {BIN} ({os.path.getsize(BIN)} bytes)")
    print(f"memory: DNS alone VmRSS {rss_plain} KiB (RssAnon {anon_plain} KiB); "
          f"with [api] VmRSS {rss_api} KiB (RssAnon {anon_api} KiB): "
          f"+{rss_api - rss_plain} KiB (x{rss_api / max(rss_plain, 1):.2f}), "
          f"RssAnon +{anon_api - anon_plain} KiB; after the reads alone: VmRSS {rss_reads[0]} KiB "
          f"(RssAnon {rss_reads[1]} KiB)")
    for path, (micros, size) in results.items():
        print(f"GET {path}: {micros:.0f} us CPU per request ({REQUESTS} on one connection), {size} bytes")
    print(f"POST /api/v1/dns/records: {add_wall:.2f} ms wall, {add_cpu:.2f} ms CPU per record "
          f"(zone of 1000 + up to {RECORDS} runtime records)")
    print(f"DELETE /api/v1/dns/records/ID: {delete_wall:.2f} ms wall, {delete_cpu:.2f} ms CPU per record")


if __name__ == "__main__":
    main()
