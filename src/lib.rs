//! # lanseal — architecture map
//!
//! lanseal is one small static binary for home routers and single-board computers.
//! Today it has one role, `dns`: the resolver the LAN asks, answering from local
//! zones the owner defines. Later roles (`certs`, `api`, `delegate`) plug into the
//! same process as further config sections and modules; this map grows with them.
//!
//! ## Bird's-eye view
//!
//! ```text
//!  config file ──▶ config (raw TOML ─▶ resolved Config) ──▶ dns::zone::Zones (built once)
//!                                                               │ Arc
//!  LAN ─UDP/TCP─▶ dns::server (N blocking UDP threads, each with its own
//!                 SO_REUSEPORT socket; one tokio thread for all TCP)
//!                                                        ─▶ dns::answer::Answerer
//!                                                        ─▶ dns::wire (parse, write)
//!  signals ─────▶ daemon (sigwait on the main thread)
//! ```
//!
//! ## The path of a DNS query
//!
//! 1. `dns::server::serve_udp` receives a datagram into a reused buffer (TCP: one
//!    tokio task per connection reads a length-prefixed message).
//! 2. `dns::answer::Answerer::answer` asks `dns::wire::Query::parse` for a typed
//!    query: the header, one question lower-cased into a fixed buffer with its label
//!    offsets, and the EDNS OPT. Anything else becomes a silent drop (too short, a
//!    response) or FORMERR/NOTIMP.
//! 3. `resolve` finds the most specific local zone by one hash probe per label of
//!    the name, then the name's node in that zone by one more. A miss looks for the
//!    closest encloser's wildcard (RFC 4592), again by hash. CNAMEs are followed
//!    through local data, at most `CNAME_HOPS_MAX` hops.
//! 4. Record sets are stored pre-encoded (type, class, TTL, length, data), so the
//!    answer is written by copying, with owner names compressed against the question
//!    (which also echoes the client's letter case). NXDOMAIN and NODATA carry the
//!    zone's SOA with TTL min(SOA TTL, minimum) (RFC 2308).
//! 5. The response is cut to the question with TC=1 if it exceeds the client's UDP
//!    limit (512 without EDNS, at most our advertised 1232), and sent from the same
//!    thread with a blocking `send_to`. No allocation, task, event-loop wake-up or
//!    channel per query: two system calls.
//!
//! ## Code map
//!
//! - `main.rs` — the CLI: arguments, config loading, exit codes. Nothing else.
//! - [`config`] — two stages: `raw` (serde image of the TOML with spans, unknown keys
//!   rejected) and [`config::Config`] (defaults applied, everything validated,
//!   zones test-built). Invariant: a `Config` that exists is valid; every error
//!   carries file, line and what was expected.
//! - [`dns::wire`] — every byte-level read and write of DNS messages. Invariant: no
//!   panic and no allocation on any input.
//! - [`dns::record`] — one zone-file record line to wire data, at load time.
//! - [`dns::zone`] — zones as hash tables keyed by lower-case wire names, record sets
//!   pre-encoded, empty non-terminals present, PTRs synthesized from A/AAAA.
//!   Invariant: immutable once built; lookups never scan.
//! - [`dns::answer`] — DNS semantics (RCODEs, flags, NXDOMAIN vs NODATA, wildcards,
//!   CNAME chains, ANY per RFC 8482, EDNS, truncation), writing into a reused buffer.
//! - [`dns::server`] — sockets and threads; TCP connection and idle limits.
//! - [`daemon`] — start-up order, stderr logging, signals.
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
//! free of allocation. `hickory-proto` stays for names (IDNA, escapes, validation)
//! when loading data, and serves as the client in the tests.
//!
//! ## Cross-cutting concerns
//!
//! - **Start-up order**: parse and validate config (exit 2 on error, nothing
//!   started) → build zones → bind every socket (exit 1 if one fails) → block
//!   signals → start DNS threads → log `listening on ADDR` → wait for signals.
//! - **Limits**: every bound is a named constant or config key with its unit:
//!   `tcp_connections_max`, `tcp_idle_timeout_ms`, `CNAME_HOPS_MAX`,
//!   `ZONE_RECORDS_MAX`, `UDP_REQUEST_BYTES_MAX`, `EDNS_PAYLOAD_BYTES`.
//! - **Errors**: config errors are [`config::ConfigError`] (exit 2); run-time
//!   failures are [`daemon::RunError`] (exit 1); a bad packet becomes an RCODE or a
//!   drop in `dns::answer`, never an error value that escapes.
//! - **Testing**: pure logic has table tests beside it; `tests/` starts the real
//!   binary on ephemeral loopback ports and queries it with hickory-proto's message
//!   codec and with `dig`; `tests/bench/dns.sh` compares CPU per query and memory
//!   with dnsmasq and unbound in the same run; `cross/smoke.sh` runs the static
//!   binary of each router architecture under qemu.

pub mod config;
pub mod counters;
pub mod daemon;
pub mod dns;
pub mod watch;
