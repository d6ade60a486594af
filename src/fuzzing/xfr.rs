//! `dns_xfr`: a message into the zone transfer path of `dns::xfr` and
//! `dns::tsig`, with a fixed key and clock.
//!
//! The first byte chooses what the rest is: even, a request over TCP (what
//! [`crate::dns::xfr::wants`] takes, its question, the IXFR serial, the OPT
//! walk, [`crate::dns::tsig::check`], the refusals, and for a request that
//! checks the first signed message of its transfer); odd, the answer to a
//! NOTIFY (`notify_answered`: the id, the opcode, the TSIG chained from the
//! NOTIFY's MAC). The seeds (tests/fuzz/seed.py) are signed with [`SECRET`]
//! at [`NOW`], so mutations start from requests and answers that check.

use crate::dns::tsig::{self, Checked, Key};
use crate::dns::xfr::{self, Packer, Question};

/// The key both sides share in the seeds: `xfr.`, these 32 bytes.
pub const SECRET: &[u8] = b"fuzz-xfr-secret-0123456789abcdef";
/// The clock of every check (the seeds' TSIG time).
pub const NOW: u64 = 1_800_000_000;
/// The NOTIFY the answers answer: zone `home.test.`, this id, signed at `NOW`.
pub const NOTIFY_ID: u16 = 0x1234;
const APEX: &[u8] = b"\x04home\x04test\x00";

pub fn dns_xfr(data: &[u8]) {
    let key = Key::new(b"\x03xfr\x00".to_vec().into(), SECRET);
    let Some((&mode, message)) = data.split_first() else {
        return;
    };
    if mode & 1 == 1 {
        let (_, mac) = xfr::notify_message(&key, APEX, NOTIFY_ID, NOW);
        let answered = xfr::notify_answered(message, NOTIFY_ID, &key, &mac, NOW);
        // The same answer chained from another NOTIFY's MAC is no answer.
        let (_, other) = xfr::notify_message(&key, APEX, NOTIFY_ID ^ 1, NOW);
        assert!(
            !(answered && tsig::check_response(message, &key, &other, NOW)),
            "an answer verifies against two requests"
        );
        return;
    }
    request(message, &key);
}

/// What the TCP path does with `request` before it sends a record.
fn request(request: &[u8], key: &Key) {
    let wanted = xfr::wants(request, true);
    let _ = xfr::wants(request, false);
    let question = Question::parse(request);
    let _ = xfr::ixfr_serial(request);
    let refused = xfr::refusal(request, 5);
    assert!(
        refused.len() == 12 && refused[2] & 0x80 != 0,
        "a refusal is a header"
    );
    if let Some(question) = &question {
        let _ = xfr::has_opt(request, question.end);
        let reply = question.reply(request, 5);
        assert!(
            reply.len() >= 12 && reply[2] & 0x80 != 0,
            "a reply is a response"
        );
    }
    let signature = match tsig::check(request, key, NOW) {
        Checked::Valid(signature) => signature,
        Checked::Refused(signature, error) => {
            // The NOTAUTH answer to it is well-formed.
            if let Some(question) = &question {
                let mut reply = question.reply(request, tsig::RCODE_NOTAUTH);
                tsig::refuse(&mut reply, key, &signature, error, NOW);
                assert!(tsig::is_signed(&reply), "a NOTAUTH without its TSIG");
            }
            return;
        }
        Checked::Unsigned | Checked::Malformed => return,
    };
    assert!(wanted, "a signed request not taken by the transfer path");
    let unsigned = tsig::strip(request, &signature).expect("a valid request strips");
    assert!(
        !matches!(tsig::check(&unsigned, key, NOW), Checked::Valid(_)),
        "still valid without its TSIG"
    );
    // The first message of its transfer verifies at the secondary: chained
    // from the request's MAC (RFC 8945 §5.3).
    let Some(question) = question else {
        return;
    };
    let mut packer = Packer::new(key, request, &question, signature.mac.clone(), NOW);
    let soa = b"\x02ns\x00\x02hm\x00\x00\x00\x00\x05\x00\x00\x0e\x10\x00\x00\x02\x58\x00\x01\x51\x80\x00\x00\x01\x2c";
    let _ = packer.push(question.name.as_bytes(), 6, 300, soa);
    let first = packer.finish();
    assert!(
        tsig::check_response(&first, key, &signature.mac, NOW),
        "the transfer's first message does not verify"
    );
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;

    /// The seeds reach what they are for: the signed requests check with the
    /// key at the clock (so the fuzzer starts past the MAC), the signed
    /// answer answers the NOTIFY, the others do not.
    #[test]
    fn signed_seeds_check() {
        let key = Key::new(b"\x03xfr\x00".to_vec().into(), SECRET);
        let corpus =
            std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fuzz/corpus/dns_xfr");
        let read = |name: &str| std::fs::read(corpus.join(name)).unwrap()[1..].to_vec();
        for name in ["axfr", "axfr_opt", "ixfr", "soa"] {
            let signed = read(&format!("request_{name}_signed"));
            assert!(
                matches!(tsig::check(&signed, &key, NOW), Checked::Valid(_)),
                "{name}"
            );
        }
        assert_eq!(xfr::ixfr_serial(&read("request_ixfr_signed")), Some(5));
        let (_, mac) = xfr::notify_message(&key, APEX, NOTIFY_ID, NOW);
        let answered = |name: &str| xfr::notify_answered(&read(name), NOTIFY_ID, &key, &mac, NOW);
        assert!(answered("notify_answer_signed"));
        assert!(!answered("notify_answer_unsigned"));
        assert!(!answered("notify_answer_unchained"));
    }
}
