//! The DNS role: wire format, local zones, the answer path and the server loops.
//! Data flows one way: `server` receives bytes, `answer` turns them into a response
//! using `zone` data built from `record` lines, and `wire` does every byte-level read
//! and write.

pub mod acl;
pub mod answer;
pub mod blocklist;
pub mod cache;
pub mod client;
pub mod dot;
pub mod dynamic;
pub mod forward;
pub mod hosts;
pub mod ipname;
pub mod name;
pub mod ratelimit;
pub mod record;
pub mod reverse;
pub mod server;
pub mod service;
pub mod tsig;
pub mod udp;
pub mod wire;
pub mod xfr;
pub mod zone;
