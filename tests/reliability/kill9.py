#!/usr/bin/env python3
"""The kill -9 case of tests/reliability/faults.sh: RUNS runs of lanseal (dns,
api, delegate) on one state_dir, killed with SIGKILL at a random moment while a
client adds and deletes runtime records and updates a delegate TXT value.

After every kill the next start must open the store, and what was acknowledged
must be there: every record whose add got its 201 (and whose delete did not
get its 2xx) is served, no record whose delete was acknowledged is, and the
last acknowledged TXT value is served over DNS. A request in flight at the kill
may have landed or not: its record is then allowed either way, and the model
takes what the restart serves. Standard library only; dig for DNS.

Usage: kill9.py DIR RUNS   (ports and binary from the environment, as
faults.sh exports them). Prints one line per run and "RESULT …" at the end.
"""
import http.client
import json
import os
import random
import secrets
import signal
import subprocess
import sys
import threading
import time

DIR, RUNS = sys.argv[1], int(sys.argv[2])
BIN = os.environ["LANSEAL_BIN"]
ADDR = os.environ["ADDR"]
DNS_PORT = int(os.environ["DNS_PORT"])
API_PORT = int(os.environ["API_PORT"])
DELEGATE_PORT = int(os.environ["DELEGATE_PORT"])
START_TIMEOUT_S = 30
KILL_AFTER_S = (0.3, 2.0)
RECORDS_KEPT_MAX = 40
rng = random.Random(int(os.environ.get("FAULT_SEED", "13")))
STATE = os.path.join(DIR, "state")
os.makedirs(STATE, exist_ok=True)
CONFIG = os.path.join(DIR, "lanseal.toml")
with open(CONFIG, "w") as f:
    f.write(f"""log_level = "info"
state_dir = "{STATE}"
[dns]
listen = ["{ADDR}:{DNS_PORT}"]
threads = 1
rate_limit_qps = 0
resolv_file = ""
[api]
listen = "{ADDR}:{API_PORT}"
[delegate]
zone = "acme.test"
ns = ["ns1.acme.test."]
ns_addresses = ["192.0.2.53"]
api_listen = "{ADDR}:{DELEGATE_PORT}"
registration = "open"
# Each update comes "from" its own address (X-Forwarded-For), so the API's
# per-client update limit does not refuse a fast client.
trusted_proxies = ["{ADDR}/32"]
[[zone]]
name = "kill.test"
mode = "authoritative"
records = ["@ TXT \\"zone\\""]
""")


def fail(message, log=None):
    print(f"FAIL: {message}")
    if log:
        with open(log) as f:
            print("".join(f.readlines()[-30:]))
    sys.exit(1)


def request(port, method, path, body=None, headers=None, timeout=10):
    """One request on a fresh connection: (status, parsed JSON or None)."""
    connection = http.client.HTTPConnection(ADDR, port, timeout=timeout)
    try:
        data = json.dumps(body).encode() if body is not None else None
        all_headers = {"Content-Type": "application/json", **(headers or {})}
        connection.request(method, path, body=data, headers=all_headers)
        response = connection.getresponse()
        text = response.read()
        try:
            return response.status, json.loads(text) if text else None
        except ValueError:
            return response.status, None
    finally:
        connection.close()


def dig(name, rtype):
    out = subprocess.run(["dig", f"@{ADDR}", "-p", str(DNS_PORT), "+short", "+time=3",
                          "+tries=1", name, rtype], capture_output=True, text=True)
    return out.stdout.split("\n")


def start(run):
    log = os.path.join(DIR, f"run-{run}.log")
    process = subprocess.Popen([BIN, "run", "-c", CONFIG], stdout=subprocess.DEVNULL,
                               stderr=open(log, "w"))
    deadline = time.monotonic() + START_TIMEOUT_S
    while True:
        if process.poll() is not None:
            fail(f"run {run}: lanseal exited with {process.returncode} at start", log)
        with open(log) as f:
            text = f.read()
        if "listening on" in text and os.path.exists(os.path.join(STATE, "api.token")):
            try:
                token = open(os.path.join(STATE, "api.token")).read().strip()
                status, _ = request(API_PORT, "GET", "/api/v1/status",
                                    headers={"Authorization": f"Bearer {token}"})
                if status == 200:
                    return process, log, token
            except OSError:
                pass
        if time.monotonic() > deadline:
            fail(f"run {run}: lanseal did not start in {START_TIMEOUT_S} s", log)
        time.sleep(0.05)


class Model:
    """What the client was told. `present`: name -> id, acked added and not
    acked deleted; `deleted`: names whose delete was acked; `unsure`: names
    whose last request got no answer (the kill came first)."""

    def __init__(self):
        self.present, self.deleted, self.unsure = {}, set(), {}
        self.txt_acked = None
        self.lock = threading.Lock()
        self.next = 0
        self.acked_adds = self.acked_deletes = self.acked_updates = 0
        self.refused = []


def records_client(model, token, stop):
    headers = {"Authorization": f"Bearer {token}"}
    while not stop.is_set():
        with model.lock:
            delete = len(model.present) >= RECORDS_KEPT_MAX or (model.present and rng.random() < 0.4)
            if delete:
                name = rng.choice(sorted(model.present))
                id_ = model.present[name]
            else:
                model.next += 1
                name, id_ = f"k{model.next}", None
            model.unsure[name] = id_
        try:
            if delete:
                status, body = request(API_PORT, "DELETE", f"/api/v1/dns/records/{id_}", headers=headers)
            else:
                record = f"{name} 60 A 198.18.6.{model.next % 250 + 1}"
                status, body = request(API_PORT, "POST", "/api/v1/dns/records",
                                       {"zone": "kill.test", "record": record}, headers)
        except OSError:
            return  # killed: this request's name stays unsure
        with model.lock:
            del model.unsure[name]
            if delete and 200 <= status < 300:
                model.present.pop(name, None)
                model.deleted.add(name)
                model.acked_deletes += 1
            elif not delete and status == 201:
                model.present[name] = body["id"]
                model.acked_adds += 1
            else:
                model.refused.append((name, status, body))


def delegate_client(model, account, stop):
    while not stop.is_set():
        txt = secrets.token_urlsafe(32)[:43]
        client = f"198.18.{rng.randint(0, 255)}.{rng.randint(1, 254)}"
        headers = {"X-Api-User": account["username"], "X-Api-Key": account["password"],
                   "X-Forwarded-For": client}
        try:
            status, body = request(DELEGATE_PORT, "POST", "/update",
                                   {"subdomain": account["subdomain"], "txt": txt}, headers)
        except OSError:
            return
        with model.lock:
            if status == 200:
                model.txt_acked = txt
                model.acked_updates += 1
            else:
                model.refused.append(("update", status, body))


def check(run, model, token, account, log):
    """The acked state is served; unsure names are settled by what is."""
    status, body = request(API_PORT, "GET", "/api/v1/dns/records",
                           headers={"Authorization": f"Bearer {token}"})
    if status != 200:
        fail(f"run {run}: GET records {status} {body}", log)
    served = {r["record"].split()[0]: r["id"] for r in body["records"] if r.get("source") == "runtime"}
    for name, id_ in model.present.items():
        if name not in model.unsure and served.get(name) != id_:
            fail(f"run {run}: acked record {name} (id {id_}) lost; served {sorted(served)}", log)
    for name in model.deleted:
        if name not in model.unsure and name in served:
            fail(f"run {run}: record {name} served after its acked delete", log)
    for name in served:
        if name not in model.present and name not in model.unsure:
            fail(f"run {run}: record {name} served, never acked and not in flight", log)
    for name in list(model.unsure):
        if name in served:
            model.present[name] = served[name]
            model.deleted.discard(name)
        else:
            model.present.pop(name, None)
    model.unsure.clear()
    if model.present:
        name = rng.choice(sorted(model.present))
        if not [line for line in dig(f"{name}.kill.test", "A") if line]:
            fail(f"run {run}: {name}.kill.test listed but not answered over DNS", log)
    if model.txt_acked is not None:
        values = dig(account["fulldomain"], "TXT")
        if f'"{model.txt_acked}"' not in values:
            fail(f"run {run}: the last acked TXT {model.txt_acked} is not served: {values}", log)
    with open(log) as f:
        for line in f:
            if "[ERROR]" in line or ("store" in line and "WARN" in line):
                fail(f"run {run}: {line.strip()}", log)


def main():
    model = Model()
    account = None
    started = time.monotonic()
    kill_delays = []
    for run in range(1, RUNS + 1):
        process, log, token = start(run)
        if account is None:
            status, account = request(DELEGATE_PORT, "POST", "/register", {})
            if status != 201 or not account:
                fail(f"registration: {status} {account}", log)
        check(run, model, token, account, log)
        stop = threading.Event()
        threads = [threading.Thread(target=records_client, args=(model, token, stop)),
                   threading.Thread(target=delegate_client, args=(model, account, stop))]
        for thread in threads:
            thread.start()
        delay = rng.uniform(*KILL_AFTER_S)
        kill_delays.append(delay)
        time.sleep(delay)
        process.send_signal(signal.SIGKILL)
        process.wait()
        stop.set()
        for thread in threads:
            thread.join(timeout=15)
        print(f"run {run}: killed after {delay:.2f} s; {len(model.present)} records acked, "
              f"{len(model.unsure)} in flight, TXT acked {model.txt_acked}", flush=True)
    process, log, token = start(RUNS + 1)
    check(RUNS + 1, model, token, account, log)
    process.send_signal(signal.SIGTERM)
    process.wait()
    refused = [r for r in model.refused if r[1] != 429]
    if refused:
        fail(f"requests refused without a kill: {refused[:5]}")
    print(f"RESULT {RUNS} SIGKILLs (after {min(kill_delays):.2f} to {max(kill_delays):.2f} s), "
          f"the store opened {RUNS + 1} times; {model.acked_adds} adds, {model.acked_deletes} deletes "
          f"and {model.acked_updates} delegate updates acked, none lost; "
          f"{len(model.refused)} refused (429); {time.monotonic() - started:.0f} s in all")


main()
