//! NOTIFY (RFC 1996) to the secondaries of the public zone and of the
//! transferred router zones: signed, coalesced, retried, and answered only by
//! an answer signed with the key (see the parent module's doc).

use super::*;

const OPCODE_NOTIFY: u16 = 4;
/// After a NOTIFY, the changes within this window are sent as one at its end.
pub const NOTIFY_COALESCE: Duration = Duration::from_millis(100);
/// NOTIFYs sent to one secondary for one serial before giving up.
pub const NOTIFY_ATTEMPTS: usize = 4;
/// How long each NOTIFY waits for its answer.
const NOTIFY_TIMEOUT: Duration = Duration::from_millis(1000);

/// The public zone's NOTIFY task: after each change (coalesced over
/// `NOTIFY_COALESCE`), one signed NOTIFY to every secondary, retried until it
/// answers.
pub async fn notify_secondaries(transfer: Arc<Transfer>, counters: Arc<Counters>) {
    let mut last = transfer.dynamic.serial();
    let mut rounds: Vec<tokio::task::AbortHandle> = Vec::new();
    let mut sent: Option<tokio::time::Instant> = None;
    loop {
        transfer.dynamic.changed().await;
        coalesce(sent).await;
        let serial = transfer.dynamic.serial();
        if serial == last {
            continue;
        }
        last = serial;
        sent = Some(tokio::time::Instant::now());
        // A newer serial replaces a round still retrying.
        for round in rounds.drain(..) {
            round.abort();
        }
        for &secondary in &transfer.secondaries {
            let transfer = transfer.clone();
            rounds.push(spawn_notify(
                counters.clone(),
                secondary,
                serial,
                async move { notify(&transfer.key, transfer.dynamic.apex(), secondary).await },
            ));
        }
    }
}

/// The router zones' NOTIFY task: at start and after each new service
/// (coalesced over `NOTIFY_COALESCE`), every transferred zone whose serial is
/// not the one last notified is notified to its secondaries; a newer serial
/// replaces a round still retrying, and a zone no longer transferred stops.
pub async fn notify_zones(current: Arc<Current>, counters: Arc<Counters>) {
    // Per zone: its apex, the serial notified and the round's tasks.
    type Notified = (Box<[u8]>, u32, Vec<tokio::task::AbortHandle>);
    let mut notified: Vec<Notified> = Vec::new();
    let mut sent: Option<tokio::time::Instant> = None;
    loop {
        let service = current.load();
        let mut next: Vec<Notified> = Vec::new();
        for (apex, secondaries) in service.zone_transfers.iter().flat_map(|t| &t.zones) {
            let Some(serial) = service.answerer.zone_at(apex).and_then(Zone::serial) else {
                continue;
            };
            let old = notified.iter().position(|(a, _, _)| a == apex);
            if let Some(old) = old.map(|at| notified.swap_remove(at)) {
                if old.1 == serial {
                    next.push(old);
                    continue;
                }
                old.2.iter().for_each(tokio::task::AbortHandle::abort);
            }
            let Some(transfers) = service.zone_transfers.clone() else {
                continue;
            };
            let rounds = secondaries.iter().map(|&secondary| {
                let (key, apex) = (transfers.key.clone(), apex.clone());
                spawn_notify(counters.clone(), secondary, serial, async move {
                    notify(&key, &apex, secondary).await
                })
            });
            next.push((apex.clone(), serial, rounds.collect()));
            sent = Some(tokio::time::Instant::now());
        }
        for (_, _, rounds) in notified.drain(..) {
            rounds.iter().for_each(tokio::task::AbortHandle::abort);
        }
        notified = next;
        drop(service);
        current.changed().await;
        coalesce(sent).await;
    }
}

/// Waits out `NOTIFY_COALESCE` after the last NOTIFY `sent`: a change after a
/// quiet spell is notified at once, and the changes that follow within the
/// window go out together at its end.
async fn coalesce(sent: Option<tokio::time::Instant>) {
    if let Some(sent) = sent {
        tokio::time::sleep_until(sent + NOTIFY_COALESCE).await;
    }
}

/// Runs one NOTIFY round to `secondary` and counts how it ended.
fn spawn_notify(
    counters: Arc<Counters>,
    secondary: SocketAddr,
    serial: u32,
    round: impl Future<Output = io::Result<()>> + Send + 'static,
) -> tokio::task::AbortHandle {
    let task = tokio::spawn(async move {
        let counter = match round.await {
            Ok(()) => &counters.process.notify_answered,
            Err(e) => {
                log::warn!("NOTIFY to {secondary} (serial {serial}): {e}");
                &counters.process.notify_failed
            }
        };
        counter.fetch_add(1, Relaxed);
    });
    task.abort_handle()
}

/// The NOTIFY of zone `apex` with `id`, signed with `key` at `now`, and its MAC.
pub(crate) fn notify_message(key: &Key, apex: &[u8], id: u16, now: u64) -> (Vec<u8>, Vec<u8>) {
    let mut message = Vec::new();
    let flags = (OPCODE_NOTIFY << 11) | FLAG_AA;
    wire::write_header(&mut message, id, flags, [1, 0, 0, 0]);
    message.extend_from_slice(apex);
    message.extend_from_slice(&TYPE_SOA.to_be_bytes());
    message.extend_from_slice(&CLASS_IN.to_be_bytes());
    let mac = tsig::sign(&mut message, key, None, false, now);
    (message, mac)
}

/// True when `response` is the answer to NOTIFY `id` that [`notify`] takes:
/// signed with `key`, chained from `mac`, at a time within its fudge of `now`.
pub(crate) fn notify_answered(response: &[u8], id: u16, key: &Key, mac: &[u8], now: u64) -> bool {
    is_notify_answer(response, id) && tsig::check_response(response, key, mac, now)
}

/// Sends one NOTIFY of zone `apex`, signed with `key`, to `secondary` until it
/// answers (the secondary asks for the serial itself). Only an answer signed
/// with the key, chained from this NOTIFY's MAC (RFC 8945 §5.3), counts: one
/// unsigned or signed wrongly is ignored like a lost one. The socket is
/// connected, so the kernel drops datagrams from any other address.
async fn notify(key: &Key, apex: &[u8], secondary: SocketAddr) -> io::Result<()> {
    let local: SocketAddr = if secondary.is_ipv4() {
        SocketAddr::from(([0, 0, 0, 0], 0))
    } else {
        SocketAddr::from(([0u16; 8], 0))
    };
    let socket = tokio::net::UdpSocket::bind(local).await?;
    socket.connect(secondary).await?;
    let mut id = [0u8; 2];
    ring::rand::SecureRandom::fill(&ring::rand::SystemRandom::new(), &mut id)
        .map_err(|_| io::Error::other("no randomness"))?;
    let id = u16::from_be_bytes(id);
    let (message, mac) = notify_message(key, apex, id, crate::clock::unix_seconds());
    let mut buffer = [0u8; 1024];
    let mut badly_signed = false;
    for _ in 0..NOTIFY_ATTEMPTS {
        log::debug!("NOTIFY to {secondary}: sent");
        socket.send(&message).await?;
        let deadline = tokio::time::Instant::now() + NOTIFY_TIMEOUT;
        loop {
            let received = tokio::time::timeout_at(deadline, socket.recv(&mut buffer)).await;
            let Ok(received) = received else {
                break;
            };
            let Ok(len) = received else {
                // An ICMP refusal: wait out the attempt, then send again.
                tokio::time::sleep_until(deadline).await;
                break;
            };
            let response = &buffer[..len];
            if !is_notify_answer(response, id) {
                continue;
            }
            let now = crate::clock::unix_seconds();
            if !notify_answered(response, id, key, &mac, now) {
                log::debug!("NOTIFY to {secondary}: answer unsigned or badly signed, ignored");
                badly_signed = true;
                continue;
            }
            log::debug!("NOTIFY to {secondary}: answered");
            let rcode = response[3] & 0x0f;
            if rcode != 0 {
                return Err(io::Error::other(format!("answered RCODE {rcode}")));
            }
            return Ok(());
        }
    }
    if badly_signed {
        return Err(io::Error::other(
            "no answer signed with the key (unsigned or bad TSIG)",
        ));
    }
    Err(io::Error::new(io::ErrorKind::TimedOut, "no answer"))
}

/// True when `response` is an answer to NOTIFY `id` (its TSIG aside).
fn is_notify_answer(response: &[u8], id: u16) -> bool {
    response.len() >= HEADER_BYTES
        && response[..2] == id.to_be_bytes()
        && u16::from_be_bytes([response[2], response[3]]) & (FLAG_QR | 0x7800)
            == FLAG_QR | (OPCODE_NOTIFY << 11)
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;
    use crate::dns::xfr::tests::key;

    /// The NOTIFY rate: a change after a quiet spell is notified at once
    /// (well inside the window), and a burst of changes right after it goes
    /// out as one NOTIFY at the window's end.
    #[test]
    fn notify_goes_out_at_once_then_coalesces_a_burst() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let apex: Box<[u8]> = b"\x04auth\x04test\x00".to_vec().into();
            let dynamic = Arc::new(DynamicZone::new(apex, Vec::new()));
            dynamic.set_serial(1);
            let transfer = Arc::new(Transfer::new(
                vec![secondary.local_addr().unwrap()],
                key(b"secret one"),
                dynamic.clone(),
            ));
            let task = tokio::spawn(notify_secondaries(transfer, Arc::new(Counters::new(1))));
            tokio::task::yield_now().await;
            let mut buffer = [0u8; 512];
            let changed = tokio::time::Instant::now();
            dynamic.commit("a", Vec::new(), 2);
            let first = tokio::time::timeout(Duration::from_secs(2), secondary.recv(&mut buffer));
            assert!(first.await.is_ok(), "no NOTIFY");
            let waited = changed.elapsed();
            assert!(
                waited < NOTIFY_COALESCE,
                "the first NOTIFY waited {waited:?}"
            );
            // Ten changes over about 20 ms, each seen by the task.
            for serial in 3..13 {
                dynamic.commit("a", Vec::new(), serial);
                tokio::time::sleep(Duration::from_millis(2)).await;
            }
            let mut later = 0;
            let quiet = tokio::time::Instant::now() + 4 * NOTIFY_COALESCE;
            while let Ok(Ok(_)) = tokio::time::timeout_at(quiet, secondary.recv(&mut buffer)).await
            {
                later += 1;
            }
            // One at the window's end (two if the burst outlasted it).
            assert!(
                (1..=2).contains(&later),
                "10 changes in a burst: {later} NOTIFYs"
            );
            task.abort();
        });
    }

    /// A NOTIFY counts as answered only by an answer signed with the key and
    /// chained from the NOTIFY's MAC, from the secondary's own address: an
    /// answer from another port, an unsigned one and one signed with another
    /// key are each ignored (the NOTIFY waits on), and a secondary that only
    /// ever answers unsigned ends as failed.
    #[test]
    fn notify_answers_must_be_signed_and_from_the_secondary() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            let secondary = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let forger = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
            let address = secondary.local_addr().unwrap();
            let apex = b"\x04home\x04test\x00";
            let notifying =
                tokio::spawn(async move { notify(&key(b"secret one"), apex, address).await });
            let mut buffer = [0u8; 512];
            let (len, from) = secondary.recv_from(&mut buffer).await.unwrap();
            let request = buffer[..len].to_vec();
            let Checked::Valid(signature) =
                tsig::check(&request, &key(b"secret one"), crate::clock::unix_seconds())
            else {
                panic!("the NOTIFY is not signed with the key");
            };
            let answer = |secret: Option<&[u8]>| {
                let mut answer = tsig::strip(&request, &signature).unwrap();
                answer[2] |= 0x80;
                if let Some(secret) = secret {
                    let now = crate::clock::unix_seconds();
                    tsig::sign(&mut answer, &key(secret), Some(&signature.mac), false, now);
                }
                answer
            };
            forger
                .send_to(&answer(Some(b"secret one")), from)
                .await
                .unwrap();
            secondary.send_to(&answer(None), from).await.unwrap();
            secondary
                .send_to(&answer(Some(b"secret two")), from)
                .await
                .unwrap();
            tokio::time::sleep(Duration::from_millis(100)).await;
            assert!(!notifying.is_finished(), "a bad answer was taken");
            secondary
                .send_to(&answer(Some(b"secret one")), from)
                .await
                .unwrap();
            notifying.await.unwrap().unwrap();

            // Only unsigned answers: retried, then failed, saying why.
            let notifying =
                tokio::spawn(async move { notify(&key(b"secret one"), apex, address).await });
            for _ in 0..NOTIFY_ATTEMPTS {
                let (len, from) = secondary.recv_from(&mut buffer).await.unwrap();
                let mut unsigned = buffer[..len].to_vec();
                let Checked::Valid(signature) =
                    tsig::check(&unsigned, &key(b"secret one"), crate::clock::unix_seconds())
                else {
                    panic!("the NOTIFY is not signed with the key");
                };
                unsigned = tsig::strip(&unsigned, &signature).unwrap();
                unsigned[2] |= 0x80;
                secondary.send_to(&unsigned, from).await.unwrap();
            }
            let e = notifying.await.unwrap().unwrap_err();
            assert!(e.to_string().contains("unsigned or bad TSIG"), "{e}");
        });
    }
}
