#!/usr/bin/env python3
"""The certs role's cost, side by side with certbot in the same run (issue 10).

Usage: tests/bench/certs.py     (after `cargo build --release`; tests/run.sh has
                                 fetched Pebble and made certbot's venv)

All on loopback, as tests/certs.rs: Pebble 2.10 (target/pebble, from
tests/ca/fetch-pebble.sh) validates through lanseal A (router: DNS, zone
home.test, the certs role), which forwards auth.test to lanseal B (the
delegate). Measured:
  - lanseal: from A's start to a deployed certificate for home.test and
    *.home.test (A's own log line, and the wall clock), A's CPU time (every thread's
    schedstat) and VmRSS/VmHWM after it, against the VmRSS of the same
    config without [acme]/[[cert]] (the DNS role alone);
  - certbot 5.8 with certbot-dns-acmedns (target/acme-clients), for the same
    two names under another base domain through the same delegate: wall time
    and maximum RSS (/usr/bin/time -v, python's resource module as fallback).
Every number is printed with the ratio lanseal/certbot.
"""

import json
import os
import resource
import shutil
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request

ROOT = os.path.abspath(os.path.join(os.path.dirname(__file__), "..", ".."))
BIN = os.environ.get("BIN", os.path.join(ROOT, "target/release/lanseal"))
CERTBOT = os.path.join(ROOT, "target/acme-clients/bin/certbot")
TIMEOUT = 120


def free_port():
    while True:
        udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
        udp.bind(("127.0.0.1", 0))
        port = udp.getsockname()[1]
        tcp = socket.socket()
        try:
            tcp.bind(("127.0.0.1", port))
            return port
        except OSError:
            continue
        finally:
            tcp.close()
            udp.close()


def wait_for(predicate, what, timeout=TIMEOUT):
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        value = predicate()
        if value:
            return value
        time.sleep(0.02)
    sys.exit(f"certs.py: timed out waiting for {what}")


def log_line(path, needle):
    try:
        with open(path, encoding="utf-8", errors="replace") as f:
            return next((l for l in f if needle in l), None)
    except FileNotFoundError:
        return None


def status(pid, key):
    with open(f"/proc/{pid}/status") as f:
        for line in f:
            if line.startswith(key + ":"):
                return int(line.split()[1])
    return 0


def cpu_ms(pid):
    """CPU time of every thread, from schedstat (nanoseconds; /proc/PID/stat
    counts in 10 ms ticks, too coarse here)."""
    total = 0
    for task in os.listdir(f"/proc/{pid}/task"):
        try:
            with open(f"/proc/{pid}/task/{task}/schedstat") as f:
                total += int(f.read().split()[0])
        except (FileNotFoundError, ProcessLookupError):
            pass
    return total / 1e6


def start(args, log, env=None):
    out = open(log, "w")
    return subprocess.Popen(args, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
                            env=env)


def main():
    if not os.path.exists(BIN):
        sys.exit(f"certs.py: {BIN} missing: run `cargo build --release` first")
    pebble_bin = subprocess.run([os.path.join(ROOT, "tests/ca/fetch-pebble.sh")], check=True,
                                capture_output=True, text=True).stdout.strip()
    work = tempfile.mkdtemp(prefix="lanseal-bench-certs-")
    procs = []
    try:
        run(work, procs, os.path.join(ROOT, pebble_bin))
    finally:
        for p in procs:
            p.kill()
            p.wait()
        shutil.rmtree(work, ignore_errors=True)


def run(work, procs, pebble_bin):
    j = lambda *p: os.path.join(work, *p)
    # Pebble's listener certificate, from a throwaway CA.
    ssl = lambda *a: subprocess.run(["openssl", *a], cwd=work, check=True, capture_output=True)
    ssl("req", "-x509", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "ca.key", "-out", "ca.pem", "-days", "2", "-subj", "/CN=bench CA")
    ssl("req", "-newkey", "ec", "-pkeyopt", "ec_paramgen_curve:P-256", "-nodes",
        "-keyout", "server.key", "-out", "server.csr", "-subj", "/CN=127.0.0.1")
    with open(j("san.ext"), "w") as f:
        f.write("subjectAltName=IP:127.0.0.1\n")
    ssl("x509", "-req", "-in", "server.csr", "-CA", "ca.pem", "-CAkey", "ca.key",
        "-CAcreateserial", "-out", "server.pem", "-days", "2", "-extfile", "san.ext")

    # B, the delegate.
    b_dns, api_port = free_port(), free_port()
    api = f"http://127.0.0.1:{api_port}"
    os.makedirs(j("state-b"))
    with open(j("b.toml"), "w") as f:
        f.write(f'state_dir = "{j("state-b")}"\n[dns]\nlisten = ["127.0.0.1:{b_dns}"]\n'
                f'resolv_file = ""\n[delegate]\nzone = "auth.test"\n'
                f'api_listen = "127.0.0.1:{api_port}"\n')
    procs.append(start([BIN, "run", "-c", j("b.toml")], j("b.log")))
    wait_for(lambda: log_line(j("b.log"), "delegate API on"), "the delegate")

    # Pebble, validating through A.
    a_port = free_port()
    listen, management = free_port(), free_port()
    with open(j("pebble.json"), "w") as f:
        json.dump({"pebble": {
            "listenAddress": f"127.0.0.1:{listen}", "managementListenAddress": f"127.0.0.1:{management}",
            "certificate": j("server.pem"), "privateKey": j("server.key"),
            "httpPort": free_port(), "tlsPort": free_port(), "ocspResponderURL": "",
            "externalAccountBindingRequired": False,
            "profiles": {"default": {"description": "90 days", "validityPeriod": 7776000}}}}, f)
    env = {k: v for k, v in os.environ.items() if not k.startswith("PEBBLE_")}
    env.update(PEBBLE_VA_NOSLEEP="1", PEBBLE_WFE_NONCEREJECT="0", PEBBLE_AUTHZREUSE="0")
    procs.append(start([pebble_bin, "-config", j("pebble.json"), "-dnsserver", f"127.0.0.1:{a_port}"],
                       j("pebble.log"), env))
    wait_for(lambda: socket.socket().connect_ex(("127.0.0.1", listen)) == 0, "Pebble")
    directory = f"https://127.0.0.1:{listen}/dir"

    def a_config(records, certs=True):
        text = (f'state_dir = "{j("state-a")}"\n[dns]\nlisten = ["127.0.0.1:{a_port}"]\n'
                f'resolv_file = ""\nroutes = {{ "auth.test" = ["127.0.0.1:{b_dns}"] }}\n'
                f'[[zone]]\nname = "home.test"\nrecords = [{", ".join(json.dumps(r) for r in records)}]\n')
        if certs:
            text += (f'[acme]\ndirectory = "{directory}"\nca_bundle = "{j("ca.pem")}"\n'
                     f'check_resolvers = ["127.0.0.1:{a_port}"]\n'
                     f'[[cert]]\nname = "router"\ndomains = ["home.test", "*.home.test"]\n'
                     f'delegate = "{api}"\nprofile = "default"\n')
        with open(j("a.toml"), "w") as f:
            f.write(text)

    a_config([])
    setup = subprocess.run([BIN, "certs", "setup", "router", "-c", j("a.toml")], check=True,
                           capture_output=True, text=True).stdout
    records = [l.split("  ;")[0].strip() for l in setup.splitlines() if "CNAME" in l]

    # certbot's registration for cb.home.test, at the same delegate.
    with urllib.request.urlopen(urllib.request.Request(f"{api}/register", data=b"{}",
                                                       method="POST")) as r:
        account = json.load(r)
    records.append(f"_acme-challenge.cb.home.test. CNAME {account['fulldomain']}.")

    # The DNS role alone, for the baseline.
    a_config(records, certs=False)
    dns_only = start([BIN, "run", "-c", j("a.toml")], j("a-dns.log"))
    procs.append(dns_only)
    wait_for(lambda: log_line(j("a-dns.log"), "listening on"), "the DNS-only lanseal")
    time.sleep(1)
    baseline_rss = status(dns_only.pid, "VmRSS")
    baseline_anon = status(dns_only.pid, "RssAnon")
    dns_only.kill()
    dns_only.wait()

    # A with the certs role: start to deployed.
    a_config(records)
    started = time.monotonic()
    a = start([BIN, "run", "-c", j("a.toml")], j("a.log"))
    procs.append(a)
    line = wait_for(lambda: log_line(j("a.log"), "issued and deployed"), "lanseal's certificate")
    wall_ms = (time.monotonic() - started) * 1000
    time.sleep(1)
    lanseal = {"rss": status(a.pid, "VmRSS"), "hwm": status(a.pid, "VmHWM"), "cpu": cpu_ms(a.pid),
               "anon": status(a.pid, "RssAnon")}
    own_ms = line.split("deployed in ")[1].split(" ms")[0]

    # certbot, through the same delegate and A.
    registration = {"cb.home.test": {k: account[k] for k in
                                     ("username", "password", "fulldomain", "subdomain", "allowfrom")}}
    with open(j("acmedns.json"), "w") as f:
        json.dump(registration, f)
    with open(j("acmedns.ini"), "w") as f:
        f.write(f"dns_acmedns_api_url = {api}\ndns_acmedns_registration_file = {j('acmedns.json')}\n")
    os.chmod(j("acmedns.json"), 0o600)
    os.chmod(j("acmedns.ini"), 0o600)
    certbot = None
    if os.path.exists(CERTBOT):
        env = {k: v for k, v in os.environ.items() if "proxy" not in k.lower()}
        env.update(REQUESTS_CA_BUNDLE=j("ca.pem"), NO_PROXY="127.0.0.1,localhost")
        args = [CERTBOT, "certonly", "--non-interactive", "--agree-tos", "--no-eff-email",
                "-m", "bench@home.test", "--server", directory,
                "--config-dir", j("cb/config"), "--work-dir", j("cb/work"), "--logs-dir", j("cb/logs"),
                "-a", "dns-acmedns", "--dns-acmedns-credentials", j("acmedns.ini"),
                "--dns-acmedns-propagation-seconds", "0", "-d", "cb.home.test", "-d", "*.cb.home.test"]
        before = resource.getrusage(resource.RUSAGE_CHILDREN)
        started = time.monotonic()
        done = subprocess.run(args, env=env, capture_output=True, text=True, timeout=TIMEOUT)
        cb_ms = (time.monotonic() - started) * 1000
        after = resource.getrusage(resource.RUSAGE_CHILDREN)
        if done.returncode != 0:
            sys.exit(f"certs.py: certbot failed:\n{done.stdout}\n{done.stderr}")
        certbot = {"wall": cb_ms, "rss": after.ru_maxrss,
                   "cpu": ((after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)) * 1000}

    print(f"lanseal {BIN}")
    print(f"  start to deployed (wall):        {wall_ms:8.0f} ms   (its own attempt: {own_ms} ms)")
    print(f"  CPU, start to deployed + 1 s:    {lanseal['cpu']:8.1f} ms   (threads alive then)")
    print(f"  VmRSS DNS role alone:            {baseline_rss:8d} KiB")
    print(f"  VmRSS with certs, after deploy:  {lanseal['rss']:8d} KiB   (+{lanseal['rss'] - baseline_rss} KiB)")
    print(f"  VmHWM with certs:                {lanseal['hwm']:8d} KiB")
    print(f"  RssAnon (heap, stacks) alone / with certs: {baseline_anon} / {lanseal['anon']} KiB"
          f"   (+{lanseal['anon'] - baseline_anon} KiB; the rest is the binary's pages)")
    if certbot is None:
        print(f"certbot: {CERTBOT} missing (tests/run.sh makes it); no comparison")
        return
    print("certbot 5.8 + certbot-dns-acmedns, same names' shape, same CA and delegate")
    print(f"  wall:                            {certbot['wall']:8.0f} ms   lanseal/certbot {wall_ms / certbot['wall']:.2f}")
    print(f"  CPU:                             {certbot['cpu']:8.0f} ms   lanseal/certbot {lanseal['cpu'] / certbot['cpu']:.2f}")
    print(f"  max RSS:                         {certbot['rss']:8d} KiB   lanseal (VmHWM)/certbot {lanseal['hwm'] / certbot['rss']:.2f}")


if __name__ == "__main__":
    main()
