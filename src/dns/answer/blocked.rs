//! The answer to a blocked name (`dns::blocklist`): called where a name leaves
//! local data (`resolve`'s `upstream` and `chase`), so zones, leases and hosts
//! names always win over a list, and for an upstream answer whose CNAME chain
//! reaches a listed name (`cloaked`). Never allocates.
//!
//! `nxdomain` and `nodata` carry an SOA in the authority section, as a locally
//! served empty zone would (RFC 6303's shape: MNAME the zone, RNAME
//! `nobody.invalid.`): its owner is the list's entry, so a client or a downstream
//! cache keeps the negative answer for [`BLOCK_TTL_SECS`] and for that name only
//! (RFC 2308 §5: a negative answer without SOA should not be cached at all, and
//! every retry would come back to us). `null` answers 0.0.0.0 or :: with the same
//! TTL, and NODATA with the SOA for other types.

use crate::dns::answer::message::Message;
use crate::dns::answer::{Answerer, Outcome};
use crate::dns::blocklist::{BLOCK_TTL_SECS, BlockAnswer, Verdict};
use crate::dns::wire::{
    CLASS_IN, HEADER_BYTES, Query, RCODE_NOERROR, RCODE_NXDOMAIN, RCODE_SERVFAIL,
};
use crate::dns::wire::{TYPE_A, TYPE_AAAA, TYPE_ANY, TYPE_SOA};

/// RNAME of the synthesized SOA: `nobody.invalid.` (RFC 6303 §3).
const SOA_RNAME: &[u8] = b"\x06nobody\x07invalid\x00";
/// SERIAL, REFRESH, RETRY, EXPIRE (RFC 6303's values), then MINIMUM: the TTL of
/// the negative answer.
const SOA_NUMBERS: [u32; 5] = [1, 3600, 1200, 604_800, BLOCK_TTL_SECS];
/// Compression pointers address the first 16 KiB of a message (14-bit offsets).
const POINTER_OFFSET_MAX: usize = 0x3FFF;

/// What the lists made of a name where it leaves local data.
pub(super) enum Screened {
    /// Blocked: its answer is written.
    Blocked(Outcome),
    /// An allow entry covers it: its upstream answer is not inspected for CNAME
    /// cloaking either (`cloaked`).
    Allowed,
    Unlisted,
}

impl Answerer {
    /// The lists' verdict on `name` (the question's name, or where a local CNAME
    /// chain leaves local data), with the configured answer written when a list
    /// blocks it. One pass over the name's labels.
    pub(super) fn screen<'d>(
        &'d self,
        name: &'d [u8],
        query: &'d Query,
        message: &mut Message<'_, 'd>,
    ) -> Screened {
        match self.blocklists.verdict(name) {
            Verdict::Blocked(blocked) => Screened::Blocked(write_blocked(
                blocked.answer,
                name,
                blocked.entry_start,
                query,
                message,
            )),
            Verdict::Allowed => Screened::Allowed,
            Verdict::Unlisted => Screened::Unlisted,
        }
    }
}

/// `answer` for a blocked `name` (the question's, or the end of a local CNAME
/// chain), whose matched entry starts at `entry_start` (the SOA's owner).
pub(super) fn write_blocked<'d>(
    answer: BlockAnswer,
    name: &'d [u8],
    entry_start: usize,
    query: &'d Query,
    message: &mut Message<'_, 'd>,
) -> Outcome {
    let null: Option<(u16, &[u8])> = match (answer, query.qtype) {
        (BlockAnswer::Null, TYPE_A | TYPE_ANY) => Some((TYPE_A, &[0; 4])),
        (BlockAnswer::Null, TYPE_AAAA) => Some((TYPE_AAAA, &[0; 16])),
        _ => None,
    };
    if let Some((rtype, rdata)) = null {
        message.write_raw(name, rtype, BLOCK_TTL_SECS, rdata);
        return Outcome::local(RCODE_NOERROR);
    }
    let rcode = match answer {
        BlockAnswer::Nxdomain => RCODE_NXDOMAIN,
        BlockAnswer::Nodata | BlockAnswer::Null => RCODE_NOERROR,
    };
    let Some(entry) = name.get(entry_start..) else {
        return Outcome::local(RCODE_SERVFAIL);
    };
    let in_question = std::ptr::eq(name, query.name.as_bytes());
    write_soa(message, entry, in_question.then_some(entry_start));
    Outcome::local(rcode)
}

/// The SOA of a blocked `entry` in the authority section. When the entry is part
/// of the question's name (`question_offset`: where in it), the owner is a
/// pointer there; otherwise (the end of a CNAME chain) it is written out. MNAME
/// points at the owner (or is written out too, past the pointers' reach).
fn write_soa(message: &mut Message<'_, '_>, entry: &[u8], question_offset: Option<usize>) {
    let out = &mut *message.out;
    let owner_at = question_offset.map_or(out.len(), |offset| HEADER_BYTES + offset);
    let pointer =
        (owner_at <= POINTER_OFFSET_MAX).then(|| (0xC000 | owner_at as u16).to_be_bytes());
    match (question_offset, pointer) {
        (Some(_), Some(pointer)) => out.extend_from_slice(&pointer),
        _ => out.extend_from_slice(entry),
    }
    let mname_bytes = pointer.map_or(entry.len(), |p| p.len());
    let length = mname_bytes + SOA_RNAME.len() + 4 * SOA_NUMBERS.len();
    out.extend_from_slice(&TYPE_SOA.to_be_bytes());
    out.extend_from_slice(&CLASS_IN.to_be_bytes());
    out.extend_from_slice(&BLOCK_TTL_SECS.to_be_bytes());
    out.extend_from_slice(&(length as u16).to_be_bytes());
    match pointer {
        Some(pointer) => out.extend_from_slice(&pointer),
        None => out.extend_from_slice(entry),
    }
    out.extend_from_slice(SOA_RNAME);
    for number in SOA_NUMBERS {
        out.extend_from_slice(&number.to_be_bytes());
    }
    message.counts[1] = message.counts[1].saturating_add(1);
}
