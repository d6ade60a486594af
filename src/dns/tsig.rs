//! TSIG (RFC 8945) with hmac-sha256: checking a signed request, signing
//! responses (one, or every message of a zone transfer) and NOTIFYs.
//!
//! Owns the wire form of the TSIG record and the digests. A request's TSIG is
//! found by a bounded walk of its sections (it must be the last additional
//! record, its names uncompressed); nothing here panics on a broken packet. MACs
//! are compared by `ring::hmac::verify` (constant time). The clock is the
//! caller's: every function takes the time as Unix seconds.

use ring::hmac;

use crate::dns::wire::{self, HEADER_BYTES, NameBuf};

pub const TYPE_TSIG: u16 = 250;
const CLASS_ANY: u16 = 255;
/// `hmac-sha256.` in wire form.
const ALGORITHM: &[u8] = b"\x0bhmac-sha256\x00";
/// Seconds of clock difference accepted (RFC 8945 §10 recommends 300).
pub const FUDGE_SECS: u16 = 300;
/// Bytes of an hmac-sha256 MAC.
const MAC_BYTES: usize = 32;

pub const RCODE_NOTAUTH: u8 = 9;
pub const ERROR_BADSIG: u16 = 16;
pub const ERROR_BADKEY: u16 = 17;
pub const ERROR_BADTIME: u16 = 18;

/// A shared secret and the name both sides know it by.
pub struct Key {
    /// Lower-case wire name.
    name: Box<[u8]>,
    secret: hmac::Key,
}

impl std::fmt::Debug for Key {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&wire::name_to_string(&self.name))
    }
}

impl Key {
    /// `name`: lower-case wire form; `secret`: the decoded key bytes.
    pub fn new(name: Box<[u8]>, secret: &[u8]) -> Self {
        Self {
            name,
            secret: hmac::Key::new(hmac::HMAC_SHA256, secret),
        }
    }

    pub fn name(&self) -> &[u8] {
        &self.name
    }
}

/// The TSIG record of a request, as read.
#[derive(Debug, Clone)]
pub struct Signature {
    /// Where the TSIG record starts in the packet.
    start: usize,
    pub key_name: NameBuf,
    algorithm: NameBuf,
    pub time: u64,
    fudge: u16,
    pub mac: Vec<u8>,
    original_id: u16,
    error: u16,
    other: Vec<u8>,
}

/// What a request's TSIG says.
#[derive(Debug)]
pub enum Checked {
    /// No TSIG record.
    Unsigned,
    /// Sections that do not parse, or a TSIG that is not the last record.
    Malformed,
    /// Signed with `key`, MAC and time right: the MAC signs the response.
    Valid(Signature),
    /// Signed, but not acceptably: answer NOTAUTH with this TSIG error.
    Refused(Signature, u16),
}

/// Finds and checks the TSIG of `packet` against `key` at `now` (Unix seconds).
pub fn check(packet: &[u8], key: &Key, now: u64) -> Checked {
    verify(packet, key, None, now)
}

/// True when `response` is signed with `key`, chained from the MAC of the
/// request it answers (RFC 8945 §5.3), at a time within its fudge of `now`: a
/// response to a signed request that is unsigned, carries a TSIG error, or
/// does not verify is not an answer (§5.2, §5.3.2).
pub fn check_response(response: &[u8], key: &Key, request_mac: &[u8], now: u64) -> bool {
    matches!(
        verify(response, key, Some(request_mac), now),
        Checked::Valid(signature) if signature.error == 0
    )
}

/// [`check`], the digest starting with `prior` (length and MAC) when given.
fn verify(packet: &[u8], key: &Key, prior: Option<&[u8]>, now: u64) -> Checked {
    let signature = match find(packet) {
        Ok(Some(signature)) => signature,
        Ok(None) => return Checked::Unsigned,
        Err(()) => return Checked::Malformed,
    };
    if signature.key_name.as_bytes() != key.name() || signature.algorithm.as_bytes() != ALGORITHM {
        return Checked::Refused(signature, ERROR_BADKEY);
    }
    if signature.mac.len() != MAC_BYTES {
        return Checked::Refused(signature, ERROR_BADSIG);
    }
    let Some(unsigned) = packet.get(..signature.start) else {
        return Checked::Malformed;
    };
    let mut signed = Vec::with_capacity(unsigned.len() + 128);
    if let Some(prior) = prior {
        signed.extend_from_slice(&(prior.len() as u16).to_be_bytes());
        signed.extend_from_slice(prior);
    }
    signed.extend_from_slice(&signature.original_id.to_be_bytes());
    signed.extend_from_slice(&unsigned[2..10]);
    let arcount = u16::from_be_bytes([unsigned[10], unsigned[11]]).saturating_sub(1);
    signed.extend_from_slice(&arcount.to_be_bytes());
    signed.extend_from_slice(&unsigned[HEADER_BYTES..]);
    let mut context = Digest(&mut signed);
    variables(
        &mut context,
        key,
        signature.time,
        signature.fudge,
        signature.error,
        &signature.other,
    );
    // Constant time: ring computes the MAC of `signed` and compares.
    if hmac::verify(&key.secret, &signed, &signature.mac).is_err() {
        return Checked::Refused(signature, ERROR_BADSIG);
    }
    if now.abs_diff(signature.time) > u64::from(signature.fudge) {
        return Checked::Refused(signature, ERROR_BADTIME);
    }
    Checked::Valid(signature)
}

/// True when `packet` ends with a TSIG record.
pub fn is_signed(packet: &[u8]) -> bool {
    matches!(find(packet), Ok(Some(_)))
}

/// `packet` without its TSIG record (ARCOUNT lowered), for the answer path.
pub fn strip(packet: &[u8], signature: &Signature) -> Option<Vec<u8>> {
    let mut unsigned = packet.get(..signature.start)?.to_vec();
    let arcount = u16::from_be_bytes([*unsigned.get(10)?, *unsigned.get(11)?]);
    unsigned[10..12].copy_from_slice(&arcount.checked_sub(1)?.to_be_bytes());
    Some(unsigned)
}

/// Signs the finished `message` (its header counts final, no TSIG yet) and
/// appends the TSIG record; returns the MAC, which the next message of the
/// same stream chains from.
///
/// `prior`: the request's MAC for the first response to it (RFC 8945 §5.3),
/// the previous message's MAC for a later message of a transfer (§5.3.1: then
/// only the timers are signed), `None` for a request (a NOTIFY).
pub fn sign(
    message: &mut Vec<u8>,
    key: &Key,
    prior: Option<&[u8]>,
    later: bool,
    now: u64,
) -> Vec<u8> {
    let mut context = hmac::Context::with_key(&key.secret);
    if let Some(prior) = prior {
        context.update(&(prior.len() as u16).to_be_bytes());
        context.update(prior);
    }
    context.update(message);
    if later {
        context.update(&time48(now));
        context.update(&FUDGE_SECS.to_be_bytes());
    } else {
        variables(&mut context, key, now, FUDGE_SECS, 0, &[]);
    }
    let mac = context.sign().as_ref().to_vec();
    append(message, key, now, &mac, 0, &[]);
    mac
}

/// Appends the TSIG of a NOTAUTH answer to a refused signature: unsigned for
/// BADKEY and BADSIG (RFC 8945 §5.3.2), signed with the server's time as other
/// data for BADTIME.
pub fn refuse(message: &mut Vec<u8>, key: &Key, signature: &Signature, error: u16, now: u64) {
    if error == ERROR_BADTIME {
        let other = time48(now);
        let mut context = hmac::Context::with_key(&key.secret);
        context.update(&(signature.mac.len() as u16).to_be_bytes());
        context.update(&signature.mac);
        context.update(message);
        variables(&mut context, key, signature.time, FUDGE_SECS, error, &other);
        let mac = context.sign();
        append_as(
            message,
            signature.key_name.as_bytes(),
            signature.time,
            mac.as_ref(),
            error,
            &other,
        );
    } else {
        append_as(
            message,
            signature.key_name.as_bytes(),
            signature.time,
            &[],
            error,
            &[],
        );
    }
}

/// The TSIG variables of the digest (RFC 8945 §4.3.3).
fn variables(context: &mut impl Sink, key: &Key, time: u64, fudge: u16, error: u16, other: &[u8]) {
    context.update(key.name());
    context.update(&CLASS_ANY.to_be_bytes());
    context.update(&0u32.to_be_bytes());
    context.update(ALGORITHM);
    context.update(&time48(time));
    context.update(&fudge.to_be_bytes());
    context.update(&error.to_be_bytes());
    context.update(&(other.len() as u16).to_be_bytes());
    context.update(other);
}

/// Where digest input goes: an HMAC context, or bytes to verify.
trait Sink {
    fn update(&mut self, bytes: &[u8]);
}

impl Sink for hmac::Context {
    fn update(&mut self, bytes: &[u8]) {
        hmac::Context::update(self, bytes);
    }
}

struct Digest<'a>(&'a mut Vec<u8>);

impl Sink for Digest<'_> {
    fn update(&mut self, bytes: &[u8]) {
        self.0.extend_from_slice(bytes);
    }
}

fn time48(time: u64) -> [u8; 6] {
    let bytes = time.to_be_bytes();
    [bytes[2], bytes[3], bytes[4], bytes[5], bytes[6], bytes[7]]
}

fn append(message: &mut Vec<u8>, key: &Key, time: u64, mac: &[u8], error: u16, other: &[u8]) {
    append_as(message, key.name(), time, mac, error, other);
}

/// Appends a TSIG record owned by `name` and raises ARCOUNT.
fn append_as(message: &mut Vec<u8>, name: &[u8], time: u64, mac: &[u8], error: u16, other: &[u8]) {
    if message.len() < HEADER_BYTES {
        return;
    }
    let id = [message[0], message[1]];
    message.extend_from_slice(name);
    message.extend_from_slice(&TYPE_TSIG.to_be_bytes());
    message.extend_from_slice(&CLASS_ANY.to_be_bytes());
    message.extend_from_slice(&0u32.to_be_bytes());
    let rdlen = ALGORITHM.len() + 6 + 2 + 2 + mac.len() + 2 + 2 + 2 + other.len();
    message.extend_from_slice(&(rdlen as u16).to_be_bytes());
    message.extend_from_slice(ALGORITHM);
    message.extend_from_slice(&time48(time));
    message.extend_from_slice(&FUDGE_SECS.to_be_bytes());
    message.extend_from_slice(&(mac.len() as u16).to_be_bytes());
    message.extend_from_slice(mac);
    message.extend_from_slice(&id);
    message.extend_from_slice(&error.to_be_bytes());
    message.extend_from_slice(&(other.len() as u16).to_be_bytes());
    message.extend_from_slice(other);
    let arcount = u16::from_be_bytes([message[10], message[11]]).saturating_add(1);
    message[10..12].copy_from_slice(&arcount.to_be_bytes());
}

/// The TSIG record of `packet`: `Ok(None)` when it has none, `Err` when the
/// sections do not parse or a TSIG is anywhere but last.
fn find(packet: &[u8]) -> Result<Option<Signature>, ()> {
    let header = packet.get(..HEADER_BYTES).ok_or(())?;
    let count = |i: usize| usize::from(u16::from_be_bytes([header[4 + 2 * i], header[5 + 2 * i]]));
    let mut pos = HEADER_BYTES;
    for _ in 0..count(0) {
        pos = wire::skip_name(packet, pos).ok_or(())? + 4;
    }
    pos = wire::skip_records(packet, pos, count(1) + count(2)).ok_or(())?;
    let additional = count(3);
    for index in 0..additional {
        let start = pos;
        let after_name = wire::skip_name(packet, pos).ok_or(())?;
        let fixed = packet.get(after_name..after_name + 10).ok_or(())?;
        let rtype = u16::from_be_bytes([fixed[0], fixed[1]]);
        let rdlen = usize::from(u16::from_be_bytes([fixed[8], fixed[9]]));
        let class = u16::from_be_bytes([fixed[2], fixed[3]]);
        let ttl = &fixed[4..8];
        let rdata_at = after_name + 10;
        let rdata = packet.get(rdata_at..rdata_at + rdlen).ok_or(())?;
        pos = rdata_at + rdlen;
        if rtype != TYPE_TSIG {
            continue;
        }
        // Class ANY and TTL 0 are signed as constants: anything else is broken.
        if index + 1 != additional || pos != packet.len() || class != CLASS_ANY || ttl != [0; 4] {
            return Err(());
        }
        let mut key_name = NameBuf::empty();
        key_name.parse(packet, start).ok_or(())?;
        return parse_rdata(rdata, start, key_name).map(Some);
    }
    Ok(None)
}

fn parse_rdata(rdata: &[u8], start: usize, key_name: NameBuf) -> Result<Signature, ()> {
    let mut algorithm = NameBuf::empty();
    let mut pos = algorithm.parse(rdata, 0).ok_or(())?;
    let mut take = |n: usize| -> Result<&[u8], ()> {
        let bytes = rdata.get(pos..pos + n).ok_or(())?;
        pos += n;
        Ok(bytes)
    };
    let time = take(6)?.iter().fold(0u64, |t, &b| (t << 8) | u64::from(b));
    let u16_at = |b: &[u8]| u16::from_be_bytes([b[0], b[1]]);
    let fudge = u16_at(take(2)?);
    let mac_len = usize::from(u16_at(take(2)?));
    let mac = take(mac_len)?.to_vec();
    let original_id = u16_at(take(2)?);
    let error = u16_at(take(2)?);
    let other_len = usize::from(u16_at(take(2)?));
    let other = take(other_len)?.to_vec();
    Ok(Signature {
        start,
        key_name,
        algorithm,
        time,
        fudge,
        mac,
        original_id,
        error,
        other,
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn key(secret: &[u8]) -> Key {
        Key::new(b"\x03xfr\x00".to_vec().into(), secret)
    }

    fn query() -> Vec<u8> {
        let mut packet = Vec::new();
        wire::write_header(&mut packet, 0x1234, 0, [1, 0, 0, 0]);
        packet.extend_from_slice(b"\x04auth\x04test\x00\x00\xfc\x00\x01");
        packet
    }

    #[test]
    fn signed_request_checks_and_wrong_keys_do_not() {
        let mut packet = query();
        let mac = sign(&mut packet, &key(b"secret one"), None, false, 1000);
        assert_eq!(mac.len(), MAC_BYTES);
        match check(&packet, &key(b"secret one"), 1100) {
            Checked::Valid(signature) => {
                assert_eq!(signature.mac, mac);
                assert_eq!(strip(&packet, &signature).unwrap(), query());
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(
            check(&packet, &key(b"secret two"), 1000),
            Checked::Refused(_, ERROR_BADSIG)
        ));
        let other_name = Key::new(b"\x05other\x00".to_vec().into(), b"secret one");
        assert!(matches!(
            check(&packet, &other_name, 1000),
            Checked::Refused(_, ERROR_BADKEY)
        ));
        assert!(matches!(
            check(&packet, &key(b"secret one"), 2000),
            Checked::Refused(_, ERROR_BADTIME)
        ));
        assert!(matches!(check(&query(), &key(b"x"), 0), Checked::Unsigned));
    }

    /// A response verifies only when signed with the key and chained from the
    /// MAC of its own request: unsigned, another key, another request's MAC, a
    /// TSIG error or a stale time are each no answer.
    #[test]
    fn responses_verify_only_chained_from_their_request() {
        let secret = key(b"secret one");
        let mut request = query();
        let request_mac = sign(&mut request, &secret, None, false, 1000);
        let mut response = query();
        response[2] |= 0x80;
        let unsigned = response.clone();
        sign(&mut response, &secret, Some(&request_mac), false, 1001);
        assert!(check_response(&response, &secret, &request_mac, 1001));
        assert!(!check_response(&unsigned, &secret, &request_mac, 1001));
        assert!(!check_response(
            &response,
            &key(b"secret two"),
            &request_mac,
            1001
        ));
        assert!(!check_response(&response, &secret, &[0u8; MAC_BYTES], 1001));
        assert!(!check_response(&response, &secret, &request_mac, 5000));
        // Unchained (signed as a request): not an answer to this one.
        let mut unchained = unsigned.clone();
        sign(&mut unchained, &secret, None, false, 1001);
        assert!(!check_response(&unchained, &secret, &request_mac, 1001));
        // A NOTAUTH with BADSIG and no MAC (RFC 8945 §5.3.2).
        let mut refused = unsigned.clone();
        let Checked::Valid(signature) = check(&request, &secret, 1000) else {
            panic!("request does not check");
        };
        refuse(&mut refused, &secret, &signature, ERROR_BADSIG, 1001);
        assert!(!check_response(&refused, &secret, &request_mac, 1001));
        for at in 0..response.len() {
            let mut broken = response.clone();
            broken[at] ^= 0x41;
            let valid = check_response(&broken, &secret, &request_mac, 1001);
            assert_eq!(valid, at < 2, "byte {at}");
        }
    }

    /// Every prefix and every one-byte change of a signed request: no panic,
    /// and never valid.
    #[test]
    fn broken_requests_never_panic_nor_pass() {
        let secret = key(b"secret one");
        let mut packet = query();
        sign(&mut packet, &secret, None, false, 1000);
        for len in 0..packet.len() {
            assert!(!matches!(
                check(&packet[..len], &secret, 1000),
                Checked::Valid(_)
            ));
        }
        for at in 0..packet.len() {
            let mut broken = packet.clone();
            broken[at] ^= 0x41;
            let valid = matches!(check(&broken, &secret, 1000), Checked::Valid(_));
            // The ID may change on the way (RFC 8945 §4.3.1: the original ID is signed).
            assert_eq!(valid, at < 2, "byte {at}");
        }
    }
}
