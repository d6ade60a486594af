//! # lanseal — architecture map
//!
//! lanseal is one small static binary for home routers and single-board computers.
//! It has three roles so far. `dns`: the resolver the LAN asks, answering from local
//! zones the owner defines, IP-embedded names and the LAN's lease and hosts names,
//! and forwarding everything else to upstream resolvers through an answer cache,
//! to the clients its ACL admits and within their rate limits. `delegate`: on a
//! small public server, an acme-dns-compatible ACME-challenge delegate — an HTTP
//! API with scoped keys and the authoritative zone its TXT records live in.
//! `certs`: the router's own LAN certificates, obtained from an ACME CA and
//! renewed forever, proven through a delegate (dns-01 behind one CNAME the owner
//! adds once) or a persistent record (dns-persist-01), and the delegate's own API
//! certificate. `api`: the local JSON API, Prometheus metrics and a small web
//! page, the backend of LuCI, scripts and a browser. Every role reaches what
//! runs through one [`control::Control`] handle and one [`store::Shared`] store.
//!
//! ## Bird's-eye view
//!
//! ```text
//!  config file ─▶ config (raw TOML ─▶ resolved Config) ─┐
//!  lease/hosts files ─▶ dns::hosts ──────────────────────┼─▶ control::State ─▶ dns::service::Service
//!  blocklist files ─▶ dns::blocklist ────────────────────┤
//!  interfaces (getifaddrs) ─▶ local subnets for the ACL ─┘   (published; threads pick it up)
//!  roles (api, certs, SIGHUP, watcher) ─▶ control::Control ─┘ (runtime records, cache flush, stats)
//!                                                                        │
//!  LAN ─UDP/TCP─▶ dns::server (N blocking UDP threads, each with its own │
//!                 SO_REUSEPORT socket; one tokio thread for all TCP)     ▼
//!                 ─▶ ACL ─▶ rate limit ─▶ dns::answer::Answerer ─▶ dns::wire
//!                                          │ Step::Forward(Pending): not local, not cached
//!                                          ▼
//!                 dns::forward::Forwarder (I/O thread) ─▶ dns::client ─UDP/TCP/TLS─▶ upstreams
//!                                          └─▶ cache ─▶ Answerer::complete writes the response
//!  signals ─────▶ daemon (sigwait: SIGHUP reload, SIGUSR1 counters, SIGTERM)
//!  inotify + netlink ─▶ watch (a thread asleep in poll until a file or address changes)
//!  LAN/LuCI ─HTTP─▶ http (own thread) ─▶ api (token) ─▶ control (records, flush, stats,
//!                                          renewals), store (runtime records), certs status
//!  internet ─HTTP(S)─▶ http (own thread, bounded workers) ─▶ delegate::api ─▶ store (SQLite)
//!                                                               └─▶ dns::dynamic (in memory)
//!    or, feature `postgres`: delegate::api ─▶ store::postgres ─TCP─▶ PostgreSQL ─NOTIFY─▶
//!    delegate::sync (own thread, LISTEN; every node) ─▶ dns::dynamic
//!  internet ─DNS─▶ dns::server ─▶ answer(public): the delegate zone only, to anyone
//!  secondaries ─TCP─▶ dns::server ─▶ dns::xfr (TSIG: dns::tsig) ─AXFR─▶ them
//!  dns::dynamic serial set ─▶ dns::xfr NOTIFY task (I/O thread) ─UDP─▶ secondaries
//!  control publishes (reload, runtime record) ─▶ dns::xfr router-zone NOTIFY task ─UDP─▶ theirs
//!  certs thread (own current-thread runtime, one attempt at a time):
//!    schedule ─▶ order: check (dnscheck: CNAME, CAA; the directory) ─▶ pending
//!    (acmedns update, or own zone via control; TXT seen at the authoritative
//!    servers) ─▶ ready ─▶ issued (key: fresh key + CSR) ─▶ deploy (one set) ─▶ hooks
//!    └─ certs::http (hyper HTTP/1.1 + rustls) ─HTTPS─▶ ACME CA, delegate API
//! ```
//!
//! ## The path of a DNS query
//!
//! 1. `dns::server::serve_udp` receives the datagrams waiting (`dns::udp`:
//!    into reused buffers, one `recvfrom` at a time while the load is light, up
//!    to eight per `recvmmsg` under load; the answers leave in one `sendmmsg`,
//!    or `sendto` for one) (TCP: one tokio task per connection reads a length-prefixed
//!    message). For each batch it reads the
//!    current [`dns::service::Service`] through its `View` (one atomic load), drops
//!    clients the ACL refuses and, over `rate_limit_qps`, drops or "slips" (an
//!    empty TC=1 answer); each outcome bumps a per-thread counter.
//! 2. `dns::answer::Answerer::answer` asks `dns::wire::Query::parse` for a typed
//!    query: the header, one question lower-cased into a fixed buffer with its label
//!    offsets, and the EDNS OPT. Anything else becomes a silent drop (too short, a
//!    response) or FORMERR/NOTIMP.
//! 3. `resolve` first asks the lease/hosts table (one hash probe, skipped when it
//!    is empty), then finds the most specific local zone by one hash probe per
//!    label as long as some apex (skipped where no apex has that length), then the name's node by one more. A miss tries an IP-embedded name
//!    (`dns::ipname`, only one label below an `ip_names` zone), then the closest
//!    encloser's wildcard (RFC 4592), again by hash. CNAMEs are followed through
//!    local data, at most `CNAME_HOPS_MAX` hops.
//! 4. Record sets are stored pre-encoded (type, class, TTL, length, data), so the
//!    answer is written by copying, with owner names compressed against the question
//!    (which also echoes the client's letter case). NXDOMAIN and NODATA carry the
//!    zone's SOA with TTL min(SOA TTL, minimum) (RFC 2308).
//! 5. The response is cut to the question with TC=1 if it exceeds the client's UDP
//!    limit (512 without EDNS, at most our advertised 1232), and sent from the same
//!    thread with a blocking `send_to`. No allocation, task, event-loop wake-up or
//!    channel per query: two system calls.
//! 6. A name that is not ours (outside every zone, undefined in an overlay zone,
//!    or where a local CNAME chain leaves local data) is first checked against
//!    the blocklists (`dns::blocklist`: one hash probe per label per list; a
//!    blocked name gets its list's answer, `answer::blocked`), then looked up in
//!    `dns::cache` (one hash, one shard lock, one copy, TTLs patched) and answered
//!    from there by the same writer; a cached answer whose answer section has a
//!    CNAME (a flag in the entry) has its targets checked against the lists
//!    too, and one that reaches a listed name gets that list's answer for the
//!    question (`answer::cloaked`, CNAME cloaking). On a miss the answerer returns
//!    `Step::Forward(Pending)`: the query as parsed in step 2, the response written
//!    so far and the name to ask. The UDP thread hands it to the I/O thread through
//!    a bounded channel and goes back to its socket; `dns::forward` asks the
//!    upstreams through `dns::client` (merging identical questions), applies
//!    rebinding protection, stores the checked answer in the cache, and
//!    `Answerer::complete` writes the client's response from there (with the
//!    same CNAME check, also for an answer relayed uncached). The request is
//!    parsed once.
//!
//! ## Code map
//!
//! - `main.rs` — the CLI: arguments, config loading, exit codes. Nothing else.
//! - [`config`] — two stages: `raw` (serde image of the TOML with spans, unknown keys
//!   rejected) and [`config::Config`] (defaults applied, everything validated,
//!   zones built once and kept for the daemon). One file per section: `[dns]` in
//!   `config::dns`, `[[zone]]` in `config::zone` (`[zone.mail]` turned into record
//!   lines by `config::mail`), `[delegate]` in `config::delegate`, `[acme]` and
//!   `[[cert]]` in `config::acme` (`tls = "acme"` adds the delegate API's own
//!   certificate as one more), `[[blocklist]]` in `config::blocklist` (the
//!   sections only: list files are data, read by the daemon); address forms in
//!   `config::address`, offsets to lines in `config::lines`. The delegate's zone
//!   records are the delegate's, `delegate::zone::spec`. [`config::uci`] turns an
//!   OpenWrt `/etc/config/lanseal` into this TOML (`lanseal config from-uci`, by
//!   `openwrt/UCI.md`; its key types are checked against `raw` by a test), checks
//!   it with `Config::parse` and tells any error at the UCI line.
//!   Invariant: a `Config` that exists is valid; every error carries file, line and
//!   what was expected.
//! - [`dns::wire`] — every byte-level read and write of DNS messages. Invariant: no
//!   panic and no allocation on any input.
//! - [`dns::record`] — one zone-file record line to wire data, at load time.
//! - [`dns::name`] — presentation-form names (escapes, origin) to lower-case wire,
//!   at load time; ASCII only (IDNA names in their `xn--` form).
//! - [`dns::zone`] — each zone one arena (names relative to the apex, record sets
//!   as type, TTL and per-record data) indexed by an open-addressing table of u32
//!   offsets with hash tags; A/AAAA addresses as sorted (address, node) pairs from
//!   which PTRs are answered; empty non-terminals present; about 50 bytes per
//!   simple record; `zone_records_max` across all zones. `zone::file` reads a
//!   zone's master file (`file`: RFC 1035 §5, `$ORIGIN`, `$TTL`, `$INCLUDE` when
//!   allowed, parentheses) line by line, each entry through `record::parse`,
//!   handing the builder one record at a time with its file and line. Invariant:
//!   immutable once built; lookups never scan.
//! - [`dns::ipname`] — `192-168-1-10.<zone>` ⇄ 192.168.1.10; one meaning per label.
//! - [`dns::hosts`] — dnsmasq lease files and hosts files as A/AAAA/PTR record sets
//!   under `lease_domain`; bounded (`HOST_NAMES_MAX`), rebuilt whole on change.
//! - [`dns::blocklist`] — `[[blocklist]]` files (hosts, domain, adblock and
//!   dnsmasq lines, told apart per line; junk skipped and counted) as one set
//!   per list: `set` an arena of names packed six bits a character
//!   (`packed`) and an open-addressing table of `u32` offsets with one-byte
//!   fingerprints (no allocation per name; 20 bytes a name of 17 characters),
//!   hashed label by label from the right so a name and
//!   its parents cost one pass and one probe each; the most specific entry of
//!   any list wins, allow over block; `check_cname` asks the same of a
//!   CNAME target for the lists with `cname_inspection`. A list whose files
//!   did not change is kept; one whose file cannot be read keeps its previous
//!   version; the control swaps the whole value. Blocked queries are counted per list in
//!   per-thread slots. Invariant: local zones, leases and hosts win over
//!   every list (the check sits where names leave local data).
//! - [`dns::answer`] — the one owner of a query's life: `answer` the policy
//!   (request kinds, RCODEs, flags, the public zone, EDNS versions, `Pending`
//!   and `complete` for the part the upstreams answer), `resolve` which data
//!   answers (hosts, zones, IP names, dynamic records, wildcards, CNAME chains,
//!   reverse zones, blocklists, cache), `blocked` a blocked name's answer
//!   (NXDOMAIN or NODATA with a small SOA, or 0.0.0.0/::), `cloaked` the
//!   CNAME chains of upstream answers checked against the lists at every
//!   replay and relay (the cache keeps the upstream's answer, so a reload or
//!   an allow entry applies at once), `message` the writer (compression,
//!   truncation, OPT with the client's DO bit). Writes into a reused buffer;
//!   no allocation for a local answer.
//! - [`dns::dynamic`] — records a role changes at run time (the delegate's TXT
//!   values), one label per owner plus a template every owner gets; read under a
//!   read lock, no allocation. `dns` imports no role: roles feed it. It holds
//!   the zone's SOA serial too (the role's store keeps it), which the answer
//!   path writes into the static SOA and whose change wakes the NOTIFY task; a
//!   change (`commit`) sets records and serial at once and journals the
//!   difference (`JOURNAL_ENTRIES_MAX`) for IXFR.
//! - [`dns::xfr`] — the public zone to its configured `secondaries`: AXFR over
//!   TCP, IXFR from `dns::dynamic`'s journal (the whole zone when it does not
//!   reach back, the SOA alone when up to date), every message TSIG-signed; anyone else, unsigned or wrongly signed, refused and
//!   counted; signed SOA checks answered and signed (over UDP too, as BIND
//!   asks). NOTIFY (`xfr::notify`) after each change, at once after a quiet
//!   spell and at most once per `NOTIFY_COALESCE`, retried `NOTIFY_ATTEMPTS`
//!   times, only an answer signed with the key counting; `XFR_AT_ONCE_MAX` transfers at
//!   once. Over UDP, transfers stay REFUSED. The same for router zones with
//!   `[[zone]] secondaries` (`ZoneTransfers`, in the service; `[dns]`'s key):
//!   AXFR streamed node by node from the zone, IXFR answered AXFR-style, a
//!   NOTIFY task woken by each publication; `Serials` (`xfr::serials`) gives their synthesized
//!   SOAs a serial that rises with the content only, kept in the state dir.
//! - [`dns::tsig`] — TSIG hmac-sha256 (RFC 8945): a bounded walk to the last
//!   record, constant-time MAC check (ring), signing of answers, transfer
//!   streams and NOTIFYs.
//! - [`dns::reverse`] — the private ranges' reverse zones served locally (RFC
//!   6303): SOA in negative answers, empty non-terminals by a sorted index.
//! - [`dns::cache`] — upstream answers as wire bytes with TTL offsets, 16 shards,
//!   bounded by entries and bytes: `cache::scan` checks a response and says what
//!   may be kept and for how long (and whether its answer has a CNAME),
//!   `cache::table` keeps it (sampled-LRU eviction, replay with TTLs
//!   patched), `cache::prefetch` queues a hit in the last tenth
//!   of its TTL for the I/O thread to ask again (one per entry, a flag bit;
//!   `PREFETCH_INFLIGHT_MAX`). Invariant: every stored compression pointer was
//!   checked to aim backwards inside the stored part.
//! - [`dns::client`] — the one DNS client: random ID and port, answer/question
//!   matching, TCP on TC=1, DNS over TLS padded; the forwarder uses it, and so do
//!   the certs role's CNAME/CAA/TXT checks (`certs::dnscheck`, RD=0 to a zone's
//!   own servers).
//! - [`dns::forward`] — a question to a checked answer in the cache: `upstream`
//!   (routes, SRTT-ordered failover), `merge` (identical questions in flight asked
//!   once, cancellation-safe), `rebind` (rebinding protection), `resolv`
//!   (resolv.conf), serve-stale, `INFLIGHT_MAX`, prefetches (only below
//!   `PREFETCH_FORWARDER_LOAD_MAX` questions upstream: clients first).
//! - [`dns::acl`] — who may ask: CIDR lists per address family, `local` from the
//!   interfaces.
//! - [`dns::ratelimit`] — per-client token buckets in a fixed-size sharded table
//!   (eviction, never growth).
//! - [`dns::service`] — the immutable bundle a query consults and its publication:
//!   a generation number per publish, an `Arc` per thread.
//! - [`dns::server`] — sockets and threads: blocking UDP threads, and one I/O
//!   thread (tokio `current_thread`) for TCP clients and upstream queries; TCP
//!   connection and idle limits, and `rate_limit_qps` over TCP in a table of its
//!   own (a UDP client slipped TC=1 can still retry over TCP): over the limit a
//!   query is dropped, and `TCP_RATE_LIMIT_DROPS_MAX` in a row close the
//!   connection. Each UDP socket asks for `UDP_RECEIVE_BUFFER_BYTES` of receive
//!   buffer, so a stall of the thread queues queries instead of dropping them.
//!   TCP hands transfers to `dns::xfr` (refused unless the zone has
//!   secondaries), and signed queries when secondaries are configured; UDP a
//!   secondary's signed queries; the I/O thread runs the NOTIFY tasks.
//! - [`dns::udp`] — batched UDP I/O on libc's `recvmmsg`/`sendmmsg` (nix's
//!   wrappers cost 1 500 instructions a batch, half an answer's): `recvfrom`
//!   and `sendto` while queries come one at a time (a `recvmmsg` asking for
//!   more tries, and fails, a second receive each time), a probe every 16
//!   receives, eight while a queue is found.
//! - [`watch`] — inotify on the lease/hosts/blocklist directories and a netlink route socket;
//!   zero CPU while nothing changes.
//! - [`counters`] — per-thread, single-writer counters (no atomic read-modify-write
//!   on the hot path; `usize`, since 32-bit MIPS has no 64-bit atomics).
//! - [`delegate`] — the delegate role: `api` (register/update/health exactly as
//!   acme-dns answers them, one file per endpoint; `client` finds the client
//!   behind trusted proxies in every `X-Forwarded-For` line; `limits` bounds
//!   registrations per client, per IPv6 /48 and altogether, and updates per
//!   client, before any bcrypt), `zone` (each account's TXT values fed to a
//!   `dns::dynamic` table whose template is the anti-spam records, published
//!   under the store's lock after every committed update), `creds` (UUIDs, keys, bcrypt, validation); `delegate::Prepared`
//!   loads the accounts from the store and binds the API before any thread
//!   starts (and with `secondaries` reads the TSIG key and makes the
//!   `dns::xfr::Transfer`); `zone::spec` writes the zone's static records.
//!   Invariants: the store commits before the API answers, DNS publishes in
//!   commit order, and every committed change raises the SOA serial (kept in
//!   the store, so it never goes back across restarts). With a store several
//!   nodes share (feature `postgres`), `sync` is the node's one publisher: a
//!   LISTEN thread that applies every node's changes in commit order (poll
//!   every 4 s as the fallback, reload after a reconnect), and `limits` is
//!   checked again in the store, summed over the nodes.
//! - [`api`] — the local API role: `mod` the routes (404, 405 with `Allow`),
//!   the bearer token (`secret`, constant time) and the error shape
//!   `{"error", "detail"}`; `dns` status, statistics, runtime records (checked
//!   by `Control`, kept in the store under the control's lock, so both change
//!   or neither; served again at start-up before the DNS threads) and cache
//!   flush; `certs` the certificates (`certs::cli::Status`, serialized), setup
//!   records, renewals through `Control`, key download (off by default,
//!   logged) and the delegate's report; `metrics` the Prometheus exposition;
//!   `page` the embedded HTML page (certificates, blocklists, records,
//!   statistics) with a CSP of its inline blocks' hashes;
//!   `client` the API from this host's command line (`lanseal api`, used by
//!   OpenWrt's rpcd plugin, and `certs status|renew` when a daemon runs).
//!   Runs on its own `http` server (16 connections, 16 KiB bodies, 2 workers).
//! - [`secret`] — token files (read, or created 0600) and the constant-time
//!   bearer check, for the API's token and the delegate's admin token; the
//!   delegate's TSIG key file (0600 required).
//! - [`store`] — the one SQLite file of every role: the daemon opens it once
//!   (when a role needs it) and hands each role a clone of `store::Shared` (the
//!   `Store` behind one mutex). `schema` migrates by `user_version` (version 2
//!   added the certs and local-API tables, version 3 the certs role's schedule
//!   columns, version 4 the delegate zone's SOA serial, version 5 the limits
//!   several delegate nodes share); one file per table group (`accounts`, `certs`, `runtime`).
//!   `delegate` puts the delegate's data behind one type, `DelegateStore`:
//!   this file, or `postgres` (feature `postgres`, `[store] backend =
//!   "postgres"`): the same migrations in PostgreSQL's dialect for several
//!   delegate API nodes, per-node state staying in SQLite. Its client is the
//!   `postgres` crate (the sync face of tokio-postgres: pure Rust with SCRAM,
//!   on the tokio already linked, and the API's workers block anyway); router
//!   builds leave the feature out and link none of it.
//!   Rollback journal with `synchronous = FULL`, one transaction per write, 0600
//!   in a 0700 directory; never on the DNS path. A certificate's row is written
//!   only when it changed (flash wear).
//! - [`certs`] — the certs role: `mod` the scheduler thread (due times, renewals
//!   asked through `Control` or by `lanseal certs renew` as a store flag, a
//!   `certs.lock` that tells the CLI a daemon runs); `cli` the commands
//!   (`lanseal certs status|setup|renew|import-lego|export-lego`; status and
//!   renew ask the running daemon's local API when it serves one), and the
//!   `Status` and `SetupRecord` the API shows;
//!   `order` the attempt as one type per state (`Checked` → `Pending` → `Ready`
//!   → `Issued`); `schedule` pure timing (ARI pick, a third of the lifetime or
//!   `renew_before_days`, jitter, backoff 1 h to 1 day, clock plausibility
//!   against the build time from build.rs); `http` the role's one HTTP client
//!   (hyper HTTP/1.1 on tokio-rustls, bundled roots plus `ca_bundle`, bounded,
//!   no redirects), also instant-acme's transport; `acmedns` the delegate's API
//!   (register, update) and lego's storage file; `dnscheck` and `caa` the checks
//!   (CNAME, the RFC 8659 climb with RFC 8657 parameters, TXT at the
//!   authoritative servers, found by discovery or `check_resolvers`); `key`
//!   fresh keys and CSRs; `x509` a panic-free DER reader (validity, serial, AKI,
//!   SANs); `deploy` the certbot layout as one set (hidden set directories, one
//!   `current` symlink renamed), OpenWrt links, hooks in their own process group
//!   with a timeout. Invariants: only an issued certificate is deployed, so a
//!   failed attempt never touches the working set (a failed deploy removes what
//!   it wrote; an attempt checks `dir` has room before it orders); no decision
//!   while the clock is earlier than the build.
//! - [`http`] — a bounded HTTP/1.1 server on hyper's HTTP/1 connection (the
//!   codec `certs::http` already brings): `server` (one tokio thread, a
//!   blocking worker pool of one per core but one, every HTTP thread at nice 10
//!   so DNS threads preempt bcrypt), `slots` (at most 64 connections, 8 per
//!   client, the oldest idle one evicted to make room), `connection` (hyper's
//!   settings and the service: header and body sizes exact, chunked bodies
//!   within the bound, repeated headers kept, the lingering close), `watch`
//!   (idle, reading, handling, writing: the slot's idle or busy mark, the idle
//!   and request timeouts), `tls` (rustls through a `CertificateSlot` whose
//!   certificate is replaced without a restart), `limits` (every limit hit
//!   counted in `Counters`, logged at most once a minute).
//! - [`clock`] — every clock reading: wall seconds, and one monotonic clock shared
//!   by all threads.
//! - [`control`] — the one control handle: `State` (the pieces a `Service` is
//!   built from) behind a lock, and `Control`, the only way to change it: publish,
//!   runtime records (checked like config records, applied at once), cache flush
//!   (all or one name), stats, renewal requests to the certs role, reloads and
//!   watched changes. Invariant: a change that fails to build changes nothing.
//! - [`daemon`] — process life: the start-up order below, the pidfile,
//!   `--daemon`, signals (SIGHUP reload and log reopening, SIGUSR1 counters,
//!   SIGTERM/SIGINT: `Control::stop` makes every DNS thread drop new queries,
//!   the upstream questions already taken are answered within 5 s, the store
//!   is held so no write is cut short, exit 0), the watcher thread; every
//!   change goes through `control`.
//! - [`privileges`] — becoming `user` after binding: ownership of the state
//!   directory, then setgroups/setgid/setuid with the result checked. Invariant:
//!   runs while the process has one thread, and never falls back to root.
//! - [`log`] — the stderr logger (`lanseal[LEVEL] message`); the level is `log`'s
//!   global maximum, changed by a reload.
//! - `fuzzing` — the entry points of the cargo-fuzz targets in `tests/fuzz/`
//!   (a query into the answer path and the forwarder's completion, the TOML
//!   and UCI config parsers, one HTTP connection with the API's or the
//!   delegate's handler, acme-dns bodies), built from a fixture config as the
//!   daemon builds its state. Only with the `fuzzing` feature and in unit tests
//!   (which replay the checked-in corpus): no shipped binary has it.
//!
//! ## Start-up order
//!
//! `daemon::run`, in this order, each step for a reason:
//!
//! 1. The config is parsed (`main.rs`): an error exits 2 before anything binds.
//!    Then SIGTERM, SIGINT, SIGHUP and SIGUSR1 are blocked: every thread
//!    inherits the mask (only the main thread's `sigwait` sees them), and a
//!    SIGTERM during start-up waits for it and stops gracefully.
//! 2. Every socket is bound: DNS (UDP and TCP, one `SO_REUSEPORT` socket per
//!    thread), the delegate's API, the local API — while the process may still
//!    bind ports under 1024 and can still report a failure to whoever started
//!    it.
//! 3. `--daemon` detaches (the `daemonize` crate: two forks and a new session),
//!    while the process has one thread and no open store: SQLite must not
//!    cross a fork.
//! 4. `--pidfile` is written with the serving process's id and locked.
//! 5. The state: the store opened (its directory created 0700, the file
//!    0600), the API's token and the delegate's admin token read or created,
//!    TLS keys read — still as root if started as root, since they may be
//!    readable by root alone.
//! 6. Privileges are dropped (`privileges::apply`): the state directory and
//!    store are handed to `user` first (the issue's order puts the state
//!    directory after the drop; an unprivileged user could then not create it
//!    under /etc, so it is created just before and chowned), then
//!    setgroups/setgid/setuid, checked. A PostgreSQL store (its URL file read
//!    in 5) is connected to and loaded after the drop: a host name's lookup
//!    starts a thread, and the drop refuses to run beside one.
//! 7. The runtimes and threads start: DNS, watcher, delegate, API, certs.
//! 8. The main thread waits for signals (`sigwait`; the mask was set before
//!    any thread existed, so only it sees them).
//!
//! ## Why not tiny_http
//!
//! The design named tiny_http for the HTTP side. Its TLS support is built on an
//! older rustls than the one DNS over TLS uses, which would have put two TLS
//! stacks in a binary that must fit 16 MB of flash. `http` is hyper's HTTP/1
//! server (in the binary anyway for the certs role's client) on the tokio and
//! rustls already here, with bounds tiny_http did not have (slow clients,
//! header size, connections per client). It replaced our own request parser
//! (issue 11) for +49 972 bytes on mipsel (5 133 020 → 5 182 992, stripped:
//! the server half of hyper's HTTP/1 codec; instant-acme had brought only the
//! client half), after one connection type for plain and TLS streams halved
//! the first version's +80 516. The local API role with its 18 KB page then
//! brought mipsel to 5 372 604 bytes (`tests/bench/api.py` measures its CPU per
//! request and memory).
//!
//! ## Why instant-acme without its HTTP client, and what the certs role costs
//!
//! The design named instant-acme; it is used for the protocol (JWS, nonces,
//! orders, ARI). Its `hyper-rustls` feature was left off: that client verifies
//! through rustls-platform-verifier (routers have no CA store, so the builder
//! fails there) and brings HTTP/2. `certs::http` is instant-acme's transport
//! instead: hyper's HTTP/1.1 client connection on the rustls already in the tree,
//! with webpki-roots and `ca_bundle`, and the same client calls the delegate's
//! API. ring cannot make RSA keys, so `rsa` 0.10 does (keys only; ring signs):
//! +206 912 bytes on x86_64 (0.9 would be +130 304 but is 10–15 times slower to
//! generate keys, which on a MIPS router means minutes). instant-acme 0.8 has no
//! type for dns-persist-01: its `ChallengeType::Unknown` carries the name and the
//! challenge is answered like any other (POST `{}`); the issuer domain name comes
//! from the directory's `caaIdentities`, because instant-acme drops the
//! challenge's `issuer-domain-names` (Pebble 2.10 sends the same list).
//!
//! Measured on mipsel (stripped, `cross/build.sh`): 3 921 820 → 5 131 020 bytes
//! with the role (+1 209 200). By `cargo bloat` symbols (estimates under fat
//! LTO): the role's own code 248 KB, hyper/http 162 KB, rsa and crypto-bigint
//! 135 KB, instant-acme 84 KB, rcgen/yasna/pem/time 83 KB, and 307 KB more in
//! crates already here (serde_json, tokio, std generics) for what the role calls.
//!
//! ## Why not hickory-server's `Server`
//!
//! The design started from hickory-server's `Server` with our own `RequestHandler`.
//! Reading its 0.26.3 source showed three things we could not accept: its TCP
//! accept loop has no connection bound (a slow-loris client set grows without
//! limit); every UDP datagram costs a spawned task, an `Arc` clone, a `Vec` of
//! lower-cased queries and a channel hop to a sender task; and a `ResponseHandler`
//! only takes a `MessageResponse` that is encoded record by record on every
//! response, so answers kept as ready bytes cannot be sent as they are. A receive,
//! answer and send loop of our own (blocking UDP threads, tokio only for TCP) is shorter than the adapter would
//! have been, bounds TCP, drops silently where we choose, and keeps the hot path
//! free of allocation. `hickory-proto` first stayed for names when loading data;
//! its IDNA support pulls `idna` and `url` (about 100 KB of a MIPS binary, over
//! issue 12's size budget), so `dns::name` parses names and hickory-proto is only
//! the tests' client and message parser (a dev-dependency).
//!
//! ## Cross-cutting concerns
//!
//! - **Start-up order**: parse and validate config (exit 2 on error, nothing
//!   started) → block signals → build zones → bind every DNS socket (exit 1 if one fails) → open
//!   the store (when a role needs it) → prepare the delegate (load its accounts,
//!   read the TLS key, bind the API) → drop privileges to `user` (chown the state
//!   directory and store, setgroups, setgid, setuid, verified; exit 1 if any step
//!   fails; refused once a thread exists) → read lease/hosts
//!   files and interfaces (as `user`, as every reload will) → start DNS threads
//!   and the watcher → log `listening on ADDR` → start the delegate API → start
//!   the certs thread (it takes `certs.lock`) → wait for signals.
//! - **Change at run time**: nothing a query reads is ever mutated. SIGHUP, a lease
//!   file, an interface change or a role's request (through `control::Control`)
//!   builds a new `Service` from `control::State` and publishes it; threads switch at their next query and the old one is freed
//!   when the last thread lets go. A rejected reload changes nothing.
//! - **Limits**: every bound is a named constant or config key with its unit:
//!   `tcp_connections_max`, `tcp_idle_timeout_ms`, `rate_limit_qps`,
//!   `CNAME_HOPS_MAX`, `zone_records_max`, `UDP_REQUEST_BYTES_MAX`,
//!   `EDNS_PAYLOAD_BYTES`, `HOST_NAMES_MAX`, `RATE_LIMIT_CLIENTS_MAX`,
//!   `TCP_RATE_LIMIT_CLIENTS_MAX`, `TCP_RATE_LIMIT_DROPS_MAX`,
//!   `cache_entries_max`, `cache_bytes_max`, `INFLIGHT_MAX`, `QUEUE_MAX`,
//!   `PREFETCH_INFLIGHT_MAX`, `RUNTIME_RECORDS_MAX`, `BLOCKLISTS_MAX`, `names_max`,
//!   the HTTP and delegate limits in `http::limits` and
//!   `delegate::api::limits`.
//! - **Errors**: config errors are [`config::ConfigError`] (exit 2); run-time
//!   failures are [`daemon::RunError`] (exit 1, a failed privilege drop among
//!   them); a role's refused request is a [`control::ControlError`]; a bad packet
//!   becomes an RCODE or a drop in `dns::answer`, never an error value that
//!   escapes.
//! - **Testing**: pure logic has table tests beside it; `tests/` starts the real
//!   binary on ephemeral loopback ports and queries it with hickory-proto's message
//!   codec and with `dig`, with a second lanseal as the upstream (fakes only where
//!   no real server can behave so: a spoofing or a deliberately slow upstream);
//!   `tests/regress.rs` holds regression tests named after their issue;
//!   `tests/bench/dns.sh` compares CPU per query and memory with dnsmasq and
//!   unbound in the same run; `cross/smoke.sh` runs the static binary of each
//!   router architecture under qemu; `tests/reliability/fuzz.sh` runs every
//!   fuzz target for a bounded time from the checked-in corpus.

pub mod api;
pub mod certs;
pub mod clock;
pub mod config;
pub mod control;
pub mod counters;
pub mod daemon;
pub mod delegate;
pub mod dns;
#[cfg(any(test, feature = "fuzzing"))]
#[doc(hidden)]
pub mod fuzzing;
pub mod http;
pub mod log;
pub mod privileges;
pub mod secret;
pub mod store;
pub mod watch;
