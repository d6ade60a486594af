//! Test support shared by the cache's tests: upstream responses built with
//! hickory-proto, and a question with its response to insert and replay.
#![allow(clippy::unwrap_used, clippy::expect_used)]

use std::net::Ipv4Addr;
use std::str::FromStr;

use hickory_proto::op::{Edns, Message, OpCode, Query, ResponseCode};
use hickory_proto::rr::rdata::{A, CNAME, NS, SOA};
use hickory_proto::rr::{Name, RData, Record, RecordType};

use super::{Cache, Hit};
use crate::dns::wire::{self, CLASS_IN, HEADER_BYTES};

pub(super) const NOW: u32 = 10_000;

pub(super) fn name(text: &str) -> Name {
    Name::from_str(text).unwrap()
}

pub(super) fn a(owner: &str, ttl: u32, ip: [u8; 4]) -> Record {
    Record::from_rdata(name(owner), ttl, RData::A(A(Ipv4Addr::from(ip))))
}

pub(super) fn cname(owner: &str, ttl: u32, target: &str) -> Record {
    Record::from_rdata(name(owner), ttl, RData::CNAME(CNAME(name(target))))
}

pub(super) fn soa(zone: &str, ttl: u32, minimum: u32) -> Record {
    let (mname, rname) = (name(&format!("ns.{zone}")), name(&format!("admin.{zone}")));
    let rdata = SOA::new(mname, rname, 1, 7200, 900, 86400, minimum);
    Record::from_rdata(name(zone), ttl, RData::SOA(rdata))
}

pub(super) fn message(qname: &str, qtype: RecordType, rcode: ResponseCode) -> Message {
    let mut m = Message::response(0x1234, OpCode::Query);
    m.metadata.response_code = rcode;
    m.metadata.recursion_desired = true;
    m.metadata.recursion_available = true;
    m.add_query(Query::query(name(qname), qtype));
    m
}

/// What upstreams send: two A records, an NS in authority, glue and EDNS in the
/// additional section; hickory compresses the owners against the question.
pub(super) fn a_response(qname: &str, ttl: u32) -> Message {
    let mut m = message(qname, RecordType::A, ResponseCode::NoError);
    m.add_answer(a(qname, ttl, [192, 0, 2, 1]));
    m.add_answer(a(qname, ttl + 50, [192, 0, 2, 2]));
    let ns = RData::NS(NS(name("ns1.example.com.")));
    m.add_authority(Record::from_rdata(name("example.com."), ttl + 100, ns));
    m.add_additional(a("ns1.example.com.", 3600, [192, 0, 2, 53]));
    m.set_edns(Edns::new());
    m
}

pub(super) fn nxdomain(qname: &str, soa_ttl: u32, minimum: u32) -> Message {
    let mut m = message(qname, RecordType::A, ResponseCode::NXDomain);
    m.add_authority(soa("example.com.", soa_ttl, minimum));
    m
}

/// A question and the upstream's response to it.
#[derive(Clone)]
pub(super) struct Case {
    pub(super) qname: Vec<u8>,
    pub(super) qtype: u16,
    pub(super) dnssec_ok: bool,
    pub(super) response: Vec<u8>,
}

impl Case {
    pub(super) fn of(message: &Message) -> Case {
        let query = &message.queries[0];
        Case {
            qname: wire_from_name(query.name()).unwrap(),
            qtype: u16::from(query.query_type()),
            dnssec_ok: false,
            response: message.to_vec().unwrap(),
        }
    }

    pub(super) fn question_end(&self) -> usize {
        HEADER_BYTES + self.qname.len() + 4
    }

    pub(super) fn insert(&self, cache: &Cache, now: u32) -> bool {
        self.insert_capped(cache, now, None)
    }

    pub(super) fn insert_capped(&self, cache: &Cache, now: u32, cap: Option<u32>) -> bool {
        let (name, qtype, response) = (&self.qname, self.qtype, &self.response);
        cache.insert(name, qtype, CLASS_IN, self.dnssec_ok, response, now, cap)
    }

    /// The header and question copied from the response (as the answer path
    /// writes them), the lookup, then the counts.
    pub(super) fn replay(
        &self,
        cache: &Cache,
        now: u32,
        allow_stale: bool,
    ) -> Option<(Hit, Vec<u8>)> {
        let mut out = self.response[..self.question_end()].to_vec();
        let (name, qtype, dnssec_ok) = (&self.qname, self.qtype, self.dnssec_ok);
        let hit = cache.lookup(name, qtype, CLASS_IN, dnssec_ok, now, allow_stale, &mut out)?;
        wire::set_counts(&mut out, hit.answers, hit.authorities, 0);
        Some((hit, out))
    }

    /// The TTLs of a fresh replay, as a client parses them.
    pub(super) fn ttls(&self, cache: &Cache, now: u32) -> Option<Vec<u32>> {
        let (_, out) = self.replay(cache, now, false)?;
        let m = Message::from_vec(&out).unwrap();
        Some(
            m.answers
                .iter()
                .chain(&m.authorities)
                .map(|r| r.ttl)
                .collect(),
        )
    }
}

/// Converts a presentation-format name to lower-case wire format. `None` for an
/// invalid name. Used when loading data, not on the hot path.
fn wire_from_name(name: &hickory_proto::rr::Name) -> Option<Vec<u8>> {
    let mut out = Vec::with_capacity(name.len() + 2);
    for label in name.iter() {
        let len = u8::try_from(label.len()).ok()?;
        if len == 0 || len > 63 {
            return None;
        }
        out.push(len);
        out.extend(label.iter().map(u8::to_ascii_lowercase));
    }
    out.push(0);
    (out.len() <= wire::NAME_BYTES_MAX).then_some(out)
}
