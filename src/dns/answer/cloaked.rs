//! CNAME cloaking: a tracker served under a site's own name
//! (`metrics.shop.example CNAME shop.tracking-vendor.net`) escapes a list that
//! names only the vendor, because the question never names it. This module
//! owns the check of the upstream part of an answer: every CNAME target in its
//! answer section is asked of the lists with `cname_inspection` on
//! (`Blocklists::check_cname`), and the first one blocked makes the whole
//! answer that list's block answer for the name the upstream answered — the
//! question, or where a local CNAME chain left local data.
//!
//! What the client gets follows Pi-hole and AdGuard Home. Pi-hole's deep CNAME
//! inspection (`dns.CNAMEdeepInspect`, on by default; FTL's `FTL_CNAME`, called
//! for each CNAME of a reply) blocks the whole query with its blocking mode's
//! reply for the queried name; AdGuard Home's `filterDNSResponse` checks each
//! CNAME target (and address) of the answer section and replaces the response
//! with its blocking mode's message for the request. So here: the list's
//! `answer` (NXDOMAIN, NODATA, or 0.0.0.0/::) for the question name, the
//! upstream's chain dropped, counted as a blocked query of the list that holds
//! the target (and in its `cname_blocked`). The SOA of a negative answer is
//! owned by the question name itself, not by the vendor's entry: an SOA that
//! is no ancestor of the question is out of bailiwick, which a downstream
//! resolver may drop, and then it would not cache the negative answer.
//!
//! An allowed question (an allow entry at it or above it) is answered as the
//! upstream says, CNAMEs and all: allowing the name the owner sees is the way
//! out of a false positive. An allowed target is not blocked either, and a
//! list with `cname_inspection = false` blocks only the names asked for.
//!
//! The cache keeps the upstream's answer, not the blocked one, and the check
//! runs at every replay: a list reloaded or an allow entry added takes effect
//! at the next query, without a cache flush, and one entry serves every list
//! setting. That costs nothing for answers without a CNAME (the entry's flag,
//! `cache::Hit::cname`) nor without an inspecting list; an answer with a
//! CNAME costs a walk of its answer section and, per target, the probes a
//! question costs. The question's own verdict is taken once, where it is
//! checked for a block (`blocked::Screened`). Measured (`cname_inspection_cost`
//! in `answer`'s tests, release, one list of 100 000 names, CPU time per
//! cached answer, three runs each, the same test on the commit before this
//! module in brackets): an A answer 390–460 ns without the list [427–433]
//! and 545–625 ns with it [556–577]; a CNAME chain to an unlisted name
//! 403–415 ns without the list [428–441] and 930–950 ns with it [600–607]:
//! the inspection costs about 340 ns per answer with a CNAME, and nothing
//! measurable for the others. Never allocates.

use crate::dns::answer::blocked::write_blocked;
use crate::dns::answer::message::{self, Message};
use crate::dns::answer::{Answerer, Outcome};
use crate::dns::blocklist::Blocked;
use crate::dns::cache::Hit;
use crate::dns::wire::{self, NAME_BYTES_MAX, Query, TYPE_CNAME};

impl Answerer {
    /// A cache hit for `name` (not allowed: the caller screened it) replayed
    /// into `message` from `start`: when its CNAME chain reaches a blocked name,
    /// the replay is cut off and the block answer for `name` written instead.
    /// `None` (nothing changed) for a hit without a CNAME, at the cost of one
    /// flag.
    pub(super) fn uncloak<'d>(
        &'d self,
        hit: Hit,
        name: &'d [u8],
        start: usize,
        query: &'d Query,
        message: &mut Message<'_, 'd>,
    ) -> Option<Outcome> {
        if !hit.cname {
            return None;
        }
        let blocked = self.cloaked(message.out, start, hit.answers)?;
        let answer = blocked.answer;
        message.out.truncate(start);
        Some(write_blocked(answer, name, 0, query, message))
    }

    /// An upstream answer to the question that the cache did not keep, about to
    /// be relayed: when its CNAME chain reaches a blocked name, the block answer
    /// for the question is written into `response` (which holds the header and
    /// the question) instead, and its outcome and counts returned.
    pub(super) fn uncloak_relayed(
        &self,
        answer: &[u8],
        query: &Query,
        response: &mut Vec<u8>,
    ) -> Option<(Outcome, [u16; 2])> {
        let name = query.name.as_bytes();
        if !self.blocklists.inspects_cnames() || self.blocklists.is_allowed(name) {
            return None;
        }
        let answers = u16::from_be_bytes([*answer.get(6)?, *answer.get(7)?]);
        let blocked = self.cloaked(answer, query.question_end, answers)?;
        let mode = blocked.answer;
        let mut names = message::no_names();
        let mut message = Message::new(response, &mut names, query);
        let outcome = write_blocked(mode, name, 0, query, &mut message);
        Some((outcome, message.counts))
    }

    /// The list that blocks a CNAME target among the `answers` records from
    /// `start` in `message` (whose compression pointers aim backwards, as the
    /// cache's replays and the records it copies expanded do), counted there;
    /// `None` when no inspecting list does. The caller has made sure the name
    /// these records answer is not allowed. A malformed record ends the walk.
    pub(super) fn cloaked(
        &self,
        message: &[u8],
        start: usize,
        answers: u16,
    ) -> Option<Blocked<'_>> {
        let lists = &*self.blocklists;
        if !lists.inspects_cnames() {
            return None;
        }
        let mut target = [0u8; NAME_BYTES_MAX];
        for record in wire::records(message, start).take(usize::from(answers)) {
            let record = record?;
            if record.rtype != TYPE_CNAME {
                continue;
            }
            let data_at = record.end - record.data.len();
            let Some(length) = wire::read_name_lower(message, data_at, &mut target) else {
                continue;
            };
            if let Some(blocked) = lists.check_cname(&target[..length]) {
                return Some(blocked);
            }
        }
        None
    }
}
