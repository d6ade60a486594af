//! When to renew a certificate: pure functions of the certificate's dates, the CA's
//! ARI window (RFC 9773), the failures so far, the clock and a random number, all
//! passed in. No I/O, no clock reading, no state: the scheduler that owns the
//! certificate's timer reads the clock, draws the randomness (`random_u64`) and keeps
//! what it picked, so a restart resumes the same plan.
//!
//! Every time is unix seconds (`i64`); every input may be absurd (a 1970 clock, a
//! malformed window, a certificate that expired before it began) and no function
//! panics or overflows on any value: sums are taken in `i128` or saturate.

use std::fmt;

use ring::rand::{SecureRandom, SystemRandom};

/// One hour, in seconds.
pub const HOUR_SECS: i64 = 3_600;
/// One day, in seconds.
pub const DAY_SECS: i64 = 86_400;

/// When the binary was built (unix seconds): `build.rs` takes SOURCE_DATE_EPOCH if
/// set, else the earlier of the HEAD commit's time and the build machine's clock,
/// else that clock. A lower bound on the real time whenever the binary runs.
pub const BUILD_UNIX: i64 = match parse_unix_secs(env!("LANSEAL_BUILD_UNIX")) {
    Some(secs) => secs,
    None => -1,
};
// 0 is allowed (SOURCE_DATE_EPOCH=0: the clock check then passes any clock).
const _: () = assert!(
    BUILD_UNIX >= 0,
    "build.rs must set LANSEAL_BUILD_UNIX to decimal unix seconds"
);

/// How far before `BUILD_UNIX` the clock may read and still be believed: a build
/// machine whose clock ran a little ahead, or time zones confused in a
/// SOURCE_DATE_EPOCH, must not stop renewals.
pub const CLOCK_SLACK_SECS: i64 = DAY_SECS;
/// While the clock is implausible, look again this often: NTP usually sets a
/// router's clock within a minute of boot.
pub const CLOCK_RECHECK_SECS: i64 = 60;

/// Without ARI, renew when this fraction (1/N) of the lifetime remains.
pub const LIFETIME_REMAINING_DIVISOR: i64 = 3;
/// Renewal jitter is at most 1/N of the lifetime...
pub const JITTER_LIFETIME_DIVISOR: i64 = 20;
/// ...and at most this long.
pub const JITTER_MAX_SECS: i64 = DAY_SECS;

/// The wait after the first failed attempt; each further failure doubles it...
pub const BACKOFF_FIRST_SECS: i64 = HOUR_SECS;
/// ...up to this, so a router that was offline for a week retries daily.
pub const BACKOFF_MAX_SECS: i64 = DAY_SECS;
/// A backoff gets up to 1/N of itself added, so routers that failed together (a CA
/// outage) do not retry together.
pub const BACKOFF_JITTER_DIVISOR: i64 = 10;

/// An ARI Retry-After below this is raised to it (RFC 9773 §4.3: clamp to a
/// reasonable range; a CA asking for minutes would keep a router busy).
pub const RETRY_AFTER_MIN_SECS: i64 = HOUR_SECS;
/// An ARI Retry-After above this is lowered to it, so a revocation announced
/// through ARI is seen within a day.
pub const RETRY_AFTER_MAX_SECS: i64 = DAY_SECS;

/// Decimal digits to seconds at compile time; None for anything else (empty, a
/// sign, a non-digit, a value past `i64::MAX`).
const fn parse_unix_secs(text: &str) -> Option<i64> {
    let bytes = text.as_bytes();
    if bytes.is_empty() {
        return None;
    }
    let mut value: i64 = 0;
    let mut index = 0;
    while index < bytes.len() {
        let byte = bytes[index];
        if !byte.is_ascii_digit() {
            return None;
        }
        let Some(shifted) = value.checked_mul(10) else {
            return None;
        };
        let Some(sum) = shifted.checked_add((byte - b'0') as i64) else {
            return None;
        };
        value = sum;
        index += 1;
    }
    Some(value)
}

/// Whether the clock can be believed: routers without an RTC boot in 1970 and keep
/// that time until NTP answers. No renewal decision is made before this is true.
pub fn clock_plausible(now_unix: i64) -> bool {
    now_unix >= BUILD_UNIX.saturating_sub(CLOCK_SLACK_SECS)
}

/// A 64-bit number from the operating system's CSPRNG (ring's `SystemRandom`), for
/// jitter. None if the kernel's source failed, which Linux does not do once booted
/// (getrandom blocks until seeded). Jitter is not a secret: the scheduler then goes
/// on with 0 (no jitter) and logs it; a CSPRNG failure is no reason to stop renewing.
pub fn random_u64() -> Option<u64> {
    let mut bytes = [0u8; 8];
    SystemRandom::new().fill(&mut bytes).ok()?;
    Some(u64::from_le_bytes(bytes))
}

/// A uniformly distributed offset in `[0, span)` drawn from `random` (the high half
/// of random × span: no division, no overflow, bias below span / 2^64).
/// `span` is at most 2^64.
fn uniform_below(random: u64, span: u128) -> u128 {
    (u128::from(random) * span) >> 64
}

/// `value` clamped into `[low, high]` (low ≤ high) and back to i64.
fn clamp_to_i64(value: i128, low: i64, high: i64) -> i64 {
    // Both bounds are i64, so the clamped value is too.
    value.clamp(i128::from(low), i128::from(high)) as i64
}

/// RFC 9773 §4.2: a uniformly random point of the suggested window `[start, end)`
/// chosen by `random`. A window that has ended (end ≤ now) means now. Inside the
/// window (start < now < end) the point is drawn from what remains, `[now, end)`,
/// so a client that restarts mid-window does not renew at once.
///
/// A zero-width window (start = end) is that instant (or now, if past). A malformed
/// window (start > end) is taken as the single instant `end`, the earlier of the
/// two, so the renewal is never later than the CA asked; the caller should log it.
///
/// Pick once per ARI response and keep the result: picking again at every wake-up
/// from `[now, end)` would drift towards the window's end.
pub fn ari_pick(start: i64, end: i64, now: i64, random: u64) -> i64 {
    if start >= end || end <= now {
        return start.min(end).max(now);
    }
    let low = start.max(now);
    // low < end, both i64: the span is in (0, 2^64).
    let span = (i128::from(end) - i128::from(low)) as u128;
    let offset = uniform_below(random, span);
    // low + offset < end.
    clamp_to_i64(i128::from(low) + offset as i128, low, end)
}

/// Which rule `renew_at` applies: `renew_before_days` when it is set and shorter
/// than the lifetime; otherwise one third of the lifetime (a `renew_before_days`
/// as long as the lifetime, say 30 days on a 6-day certificate, would renew at
/// once, forever).
pub fn renew_rule(not_before: i64, not_after: i64, renew_before_days: u32) -> Reason {
    let lifetime = i128::from(not_after) - i128::from(not_before);
    let before = i128::from(renew_before_days) * i128::from(DAY_SECS);
    if renew_before_days > 0 && before < lifetime {
        Reason::RenewBeforeDays
    } else {
        Reason::LifetimeThird
    }
}

/// When to renew without ARI: `renew_before_days` before `not_after` if set (see
/// `renew_rule`), else when one third of the lifetime (not_after − not_before)
/// remains. Then jitter: up to 1/20 of the lifetime (at most a day) earlier,
/// chosen by `random`, never before `not_before`. A 90-day certificate renews 30
/// days before it expires (up to a day earlier); a 6-day one 4 days after issue
/// (up to 7.2 hours earlier). A certificate whose `not_after` is not after its
/// `not_before` is due at the earlier of the two.
pub fn renew_at(not_before: i64, not_after: i64, renew_before_days: u32, random: u64) -> i64 {
    let lifetime = i128::from(not_after) - i128::from(not_before);
    if lifetime <= 0 {
        return not_before.min(not_after);
    }
    let remaining = match renew_rule(not_before, not_after, renew_before_days) {
        Reason::RenewBeforeDays => i128::from(renew_before_days) * i128::from(DAY_SECS),
        _ => lifetime / i128::from(LIFETIME_REMAINING_DIVISOR),
    };
    let jitter_max =
        (lifetime / i128::from(JITTER_LIFETIME_DIVISOR)).min(i128::from(JITTER_MAX_SECS));
    // jitter_max < 2^63, so jitter_max + 1 fits the span.
    let jitter = uniform_below(random, (jitter_max + 1) as u128) as i128;
    clamp_to_i64(
        i128::from(not_after) - remaining - jitter,
        not_before,
        not_after,
    )
}

/// How long to wait after `failures` failed attempts in a row: 1 h after the first,
/// doubling (2 h, 4 h, 8 h, 16 h), capped at 1 day, plus up to 10% of that chosen by
/// `random` (so at most 1.1 days). No failure, no wait.
pub fn backoff_secs(failures: u32, random: u64) -> i64 {
    if failures == 0 {
        return 0;
    }
    // 2^5 h already exceeds the cap; stop doubling before the shift overflows.
    let doublings = (failures - 1).min(5);
    let base = (BACKOFF_FIRST_SECS << doublings).min(BACKOFF_MAX_SECS);
    let jitter_max = base / BACKOFF_JITTER_DIVISOR;
    // jitter_max ≥ 0 and small: the offset fits i64.
    base + uniform_below(random, (jitter_max + 1) as u128) as i64
}

/// An ARI response's Retry-After clamped to [1 h, 1 day] (RFC 9773 §4.3 advises
/// clients to clamp it to a reasonable range).
pub fn clamp_retry_after_secs(secs: i64) -> i64 {
    secs.clamp(RETRY_AFTER_MIN_SECS, RETRY_AFTER_MAX_SECS)
}

/// Why the scheduler wakes a certificate's timer; shown by `certs status`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Reason {
    /// The time picked in the CA's ARI window (`ari_pick`): renew.
    AriWindow,
    /// One third of the lifetime left (`renew_at` without `renew_before_days`): renew.
    LifetimeThird,
    /// `renew_before_days` before expiry (`renew_at`): renew.
    RenewBeforeDays,
    /// The backoff after a failed attempt has run out: try again.
    FailureBackoff,
    /// The clock reads earlier than the build: look at it again, decide nothing.
    ClockImplausible,
    /// The ARI Retry-After has passed: fetch the renewal window again.
    AriRecheck,
}

impl fmt::Display for Reason {
    fn fmt(&self, formatter: &mut fmt::Formatter<'_>) -> fmt::Result {
        formatter.write_str(match self {
            Reason::AriWindow => "ARI window",
            Reason::LifetimeThird => "one third of lifetime left",
            Reason::RenewBeforeDays => "renew_before_days",
            Reason::FailureBackoff => "backoff after failure",
            Reason::ClockImplausible => "clock implausible",
            Reason::AriRecheck => "ARI re-check",
        })
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::expect_used)]

    use super::*;

    const T: i64 = 1_800_000_000; // 2027-01-15, after any build of this code

    /// Random inputs to sweep: the edges and a few thousand from a fixed xorshift.
    fn randoms() -> Vec<u64> {
        let mut values = vec![
            0,
            1,
            2,
            u64::MAX / 2,
            u64::MAX / 2 + 1,
            u64::MAX - 1,
            u64::MAX,
        ];
        let mut state: u64 = 0x9E37_79B9_7F4A_7C15;
        for _ in 0..4096 {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            values.push(state);
        }
        values
    }

    const EXTREMES: [i64; 9] = [
        i64::MIN,
        i64::MIN + 1,
        -DAY_SECS,
        -1,
        0,
        1,
        T,
        i64::MAX - 1,
        i64::MAX,
    ];

    #[test]
    fn parse_unix_secs_takes_digits_only() {
        assert_eq!(parse_unix_secs("0"), Some(0));
        assert_eq!(parse_unix_secs("1764590000"), Some(1_764_590_000));
        assert_eq!(parse_unix_secs("9223372036854775807"), Some(i64::MAX));
        for bad in [
            "",
            "-1",
            "+1",
            "12a",
            " 1",
            "1 ",
            "1.5",
            "9223372036854775808",
            "99999999999999999999",
        ] {
            assert_eq!(parse_unix_secs(bad), None, "{bad:?}");
        }
    }

    #[test]
    fn build_time_is_real() {
        // SOURCE_DATE_EPOCH exactly when set; otherwise a commit or clock time after
        // this code was written (2026), and never after the clock running the test
        // (give or take the slack).
        // Read at run time, as the scheduler does (not folded into a const check).
        let build_unix = std::hint::black_box(BUILD_UNIX);
        match option_env!("SOURCE_DATE_EPOCH") {
            Some(epoch) => assert_eq!(Some(build_unix), parse_unix_secs(epoch.trim())),
            None => assert!(build_unix >= 1_767_225_600, "{build_unix}"),
        }
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        assert!(BUILD_UNIX <= now + CLOCK_SLACK_SECS, "{BUILD_UNIX} > {now}");
    }

    #[test]
    fn clock_sanity() {
        assert!(!clock_plausible(0), "1970");
        assert!(!clock_plausible(3_600), "1970, an hour after boot");
        assert!(!clock_plausible(i64::MIN));
        assert!(!clock_plausible(-1));
        assert!(!clock_plausible(BUILD_UNIX - CLOCK_SLACK_SECS - 1));
        assert!(clock_plausible(BUILD_UNIX - CLOCK_SLACK_SECS));
        assert!(clock_plausible(BUILD_UNIX));
        assert!(clock_plausible(T));
        assert!(clock_plausible(i64::MAX));
        let now = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .expect("clock after 1970")
            .as_secs() as i64;
        assert!(clock_plausible(now), "this machine's clock");
    }

    #[test]
    fn random_u64_draws_from_the_system() {
        let first = random_u64().expect("system random");
        let second = random_u64().expect("system random");
        let third = random_u64().expect("system random");
        // Three equal 64-bit draws: probability 2^-128.
        assert!(first != second || second != third);
    }

    #[test]
    fn ari_past_window_is_now() {
        let (start, end) = (T - 10 * DAY_SECS, T - DAY_SECS);
        for random in randoms() {
            assert_eq!(ari_pick(start, end, T, random), T);
            assert_eq!(ari_pick(start, T, T, random), T, "ends exactly now");
        }
    }

    #[test]
    fn ari_future_window_is_uniform_inside() {
        let (start, end) = (T + DAY_SECS, T + 3 * DAY_SECS);
        assert_eq!(ari_pick(start, end, T, 0), start);
        assert_eq!(ari_pick(start, end, T, u64::MAX), end - 1);
        assert_eq!(
            ari_pick(start, end, T, 1 << 63),
            start + DAY_SECS,
            "half way"
        );
        assert_eq!(ari_pick(start, end, T, 1 << 62), start + DAY_SECS / 2);
        let mut previous = start;
        let mut sorted = randoms();
        sorted.sort_unstable();
        for random in sorted {
            let pick = ari_pick(start, end, T, random);
            assert!((start..end).contains(&pick), "{pick}");
            assert!(pick >= previous, "monotonic in random");
            previous = pick;
        }
        // The 4096 xorshift draws spread over the window: each quarter gets some.
        let mut quarters = [0usize; 4];
        for random in randoms() {
            let pick = ari_pick(start, end, T, random);
            quarters[((pick - start) / (DAY_SECS / 2)) as usize] += 1;
        }
        assert!(quarters.iter().all(|&count| count > 800), "{quarters:?}");
    }

    #[test]
    fn ari_current_window_draws_from_the_rest() {
        let (start, end) = (T - DAY_SECS, T + DAY_SECS);
        assert_eq!(ari_pick(start, end, T, 0), T);
        assert_eq!(ari_pick(start, end, T, u64::MAX), end - 1);
        assert_eq!(ari_pick(start, end, T, 1 << 63), T + DAY_SECS / 2);
        for random in randoms() {
            let pick = ari_pick(start, end, T, random);
            assert!((T..end).contains(&pick), "{pick}");
        }
        // Starting exactly now is the whole window.
        assert_eq!(ari_pick(T, end, T, 1 << 63), T + DAY_SECS / 2);
        // One second left: that second.
        assert_eq!(ari_pick(start, T + 1, T, u64::MAX), T);
    }

    #[test]
    fn ari_zero_width_window_is_its_instant() {
        for random in randoms() {
            assert_eq!(ari_pick(T + 60, T + 60, T, random), T + 60);
            assert_eq!(ari_pick(T - 60, T - 60, T, random), T);
            assert_eq!(ari_pick(T, T, T, random), T);
        }
    }

    #[test]
    fn ari_malformed_window_is_its_earlier_end() {
        for random in randoms() {
            // start > end: the earlier instant, end.
            assert_eq!(
                ari_pick(T + 2 * DAY_SECS, T + DAY_SECS, T, random),
                T + DAY_SECS
            );
            // ... or now if even that has passed.
            assert_eq!(ari_pick(T + DAY_SECS, T - DAY_SECS, T, random), T);
            assert_eq!(ari_pick(T - DAY_SECS, T - 2 * DAY_SECS, T, random), T);
        }
    }

    #[test]
    fn ari_extremes_do_not_overflow() {
        for random in [0, 1, u64::MAX / 2, u64::MAX] {
            for start in EXTREMES {
                for end in EXTREMES {
                    for now in EXTREMES {
                        let pick = ari_pick(start, end, now, random);
                        assert!(pick >= now, "{start} {end} {now} {random}: {pick}");
                        if start < end && now < end {
                            assert!(pick < end && pick >= start, "{start} {end} {now}: {pick}");
                        }
                    }
                }
            }
        }
        assert_eq!(ari_pick(i64::MIN, i64::MAX, i64::MIN, 0), i64::MIN);
        assert_eq!(
            ari_pick(i64::MIN, i64::MAX, i64::MIN, u64::MAX),
            i64::MAX - 1
        );
        assert_eq!(ari_pick(i64::MIN, i64::MAX, 0, u64::MAX), i64::MAX - 1);
    }

    #[test]
    fn renew_at_90_days_is_30_days_before_expiry_minus_up_to_a_day() {
        let (not_before, not_after) = (T, T + 90 * DAY_SECS);
        assert_eq!(renew_rule(not_before, not_after, 0), Reason::LifetimeThird);
        assert_eq!(renew_at(not_before, not_after, 0, 0), T + 60 * DAY_SECS);
        // 1/20 of 90 days is 4.5 days, bounded to one day.
        assert_eq!(
            renew_at(not_before, not_after, 0, u64::MAX),
            T + 59 * DAY_SECS
        );
        for random in randoms() {
            let at = renew_at(not_before, not_after, 0, random);
            assert!(
                (T + 59 * DAY_SECS..=T + 60 * DAY_SECS).contains(&at),
                "{random}: {at}"
            );
        }
    }

    #[test]
    fn renew_at_6_days_is_about_4_days_after_issue() {
        // Pebble's and Let's Encrypt's "shortlived" profile: 518400 s.
        let (not_before, not_after) = (T, T + 518_400);
        assert_eq!(renew_at(not_before, not_after, 0, 0), T + 4 * DAY_SECS);
        // Jitter up to 1/20 of 6 days: 25920 s (7.2 h).
        assert_eq!(
            renew_at(not_before, not_after, 0, u64::MAX),
            T + 4 * DAY_SECS - 25_920
        );
        for random in randoms() {
            let at = renew_at(not_before, not_after, 0, random);
            assert!(
                (T + 4 * DAY_SECS - 25_920..=T + 4 * DAY_SECS).contains(&at),
                "{random}: {at}"
            );
        }
    }

    #[test]
    fn renew_at_honours_renew_before_days() {
        let (not_before, not_after) = (T, T + 90 * DAY_SECS);
        assert_eq!(
            renew_rule(not_before, not_after, 10),
            Reason::RenewBeforeDays
        );
        assert_eq!(renew_at(not_before, not_after, 10, 0), T + 80 * DAY_SECS);
        assert_eq!(renew_at(not_before, not_after, 45, 0), T + 45 * DAY_SECS);
        assert_eq!(renew_at(not_before, not_after, 89, 0), T + DAY_SECS);
        // Jitter still applies, and never before not_before.
        assert_eq!(renew_at(not_before, not_after, 89, u64::MAX), T);
        for random in randoms() {
            let at = renew_at(not_before, not_after, 10, random);
            assert!(
                (T + 79 * DAY_SECS..=T + 80 * DAY_SECS).contains(&at),
                "{at}"
            );
        }
    }

    #[test]
    fn renew_before_days_not_shorter_than_the_lifetime_falls_back_to_a_third() {
        // 30 days on a 6-day certificate would renew at once, forever.
        let (not_before, not_after) = (T, T + 6 * DAY_SECS);
        for days in [6, 7, 30, u32::MAX] {
            assert_eq!(
                renew_rule(not_before, not_after, days),
                Reason::LifetimeThird
            );
            assert_eq!(renew_at(not_before, not_after, days, 0), T + 4 * DAY_SECS);
        }
        assert_eq!(
            renew_rule(not_before, not_after, 5),
            Reason::RenewBeforeDays
        );
        assert_eq!(renew_at(not_before, not_after, 5, 0), T + DAY_SECS);
    }

    #[test]
    fn renew_at_short_and_broken_lifetimes() {
        // Too short for any jitter.
        assert_eq!(renew_at(T, T + 19, 0, u64::MAX), T + 13);
        assert_eq!(renew_at(T, T + 1, 0, u64::MAX), T + 1);
        // Expired before it began, or zero lifetime: due at once.
        assert_eq!(renew_at(T, T, 0, 0), T);
        assert_eq!(renew_at(T, T - DAY_SECS, 0, 0), T - DAY_SECS);
        assert_eq!(renew_rule(T, T - DAY_SECS, 10), Reason::LifetimeThird);
    }

    #[test]
    fn renew_at_extremes_do_not_overflow() {
        for random in [0, u64::MAX / 3, u64::MAX] {
            for not_before in EXTREMES {
                for not_after in EXTREMES {
                    for days in [0, 1, 30, u32::MAX] {
                        let at = renew_at(not_before, not_after, days, random);
                        if not_after > not_before {
                            assert!(
                                (not_before..=not_after).contains(&at),
                                "{not_before} {not_after} {days}: {at}"
                            );
                        } else {
                            assert_eq!(at, not_after.min(not_before));
                        }
                    }
                }
            }
        }
        // The whole i64 range as a lifetime: a third of it before the end, less a day at most.
        let at = renew_at(i64::MIN, i64::MAX, 0, 0);
        assert_eq!(
            i128::from(at),
            i128::from(i64::MAX) - (i128::from(u64::MAX) / 3)
        );
    }

    #[test]
    fn backoff_doubles_from_an_hour_to_a_day() {
        assert_eq!(backoff_secs(0, 0), 0);
        assert_eq!(backoff_secs(0, u64::MAX), 0);
        let expected = [1, 2, 4, 8, 16, 24, 24, 24];
        for (failures, hours) in (1..).zip(expected) {
            assert_eq!(
                backoff_secs(failures, 0),
                hours * HOUR_SECS,
                "{failures} failures"
            );
        }
        for failures in [9, 31, 32, 33, 64, 1000, u32::MAX - 1, u32::MAX] {
            assert_eq!(backoff_secs(failures, 0), DAY_SECS, "{failures} failures");
        }
    }

    #[test]
    fn backoff_jitter_is_at_most_a_tenth() {
        for failures in [1, 2, 3, 5, 6, 7, u32::MAX] {
            let base = backoff_secs(failures, 0);
            assert_eq!(backoff_secs(failures, u64::MAX), base + base / 10);
            assert_eq!(backoff_secs(failures, 1 << 63), base + base / 20);
            for random in randoms() {
                let secs = backoff_secs(failures, random);
                assert!(
                    (base..=base + base / 10).contains(&secs),
                    "{failures} {random}: {secs}"
                );
            }
        }
        assert_eq!(backoff_secs(1, u64::MAX), 3_960);
        assert_eq!(backoff_secs(u32::MAX, u64::MAX), 95_040);
    }

    #[test]
    fn retry_after_is_clamped_to_an_hour_and_a_day() {
        let cases = [
            (i64::MIN, HOUR_SECS),
            (-1, HOUR_SECS),
            (0, HOUR_SECS),
            (60, HOUR_SECS),
            (HOUR_SECS - 1, HOUR_SECS),
            (HOUR_SECS, HOUR_SECS),
            (6 * HOUR_SECS, 6 * HOUR_SECS),
            (DAY_SECS, DAY_SECS),
            (DAY_SECS + 1, DAY_SECS),
            (i64::MAX, DAY_SECS),
        ];
        for (secs, clamped) in cases {
            assert_eq!(clamp_retry_after_secs(secs), clamped, "{secs}");
        }
    }

    #[test]
    fn reasons_read_as_status_text() {
        let cases = [
            (Reason::AriWindow, "ARI window"),
            (Reason::LifetimeThird, "one third of lifetime left"),
            (Reason::RenewBeforeDays, "renew_before_days"),
            (Reason::FailureBackoff, "backoff after failure"),
            (Reason::ClockImplausible, "clock implausible"),
            (Reason::AriRecheck, "ARI re-check"),
        ];
        for (reason, text) in cases {
            assert_eq!(reason.to_string(), text);
        }
    }
}
