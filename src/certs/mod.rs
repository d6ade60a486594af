//! The certs role: the router's LAN certificates, obtained and renewed through an
//! ACME-challenge delegate (dns-01) or dns-persist-01.

pub mod key;
pub mod schedule;
