//! One-time codes: making them, hashing them, and judging an attempt. Pure
//! functions of their inputs (time included), so the rules are tested without
//! a clock or a store.

use hmac::{Hmac, Mac};
use rand::Rng;
use sha2::Sha256;
use subtle::ConstantTimeEq;

use crate::store::{OtpRecord, WrongCodesRecord};
use crate::timestamp::Timestamp;

/// Wrong codes allowed before the code locks.
pub const MAX_ATTEMPTS: u32 = 5;

/// Wrong codes a number may take per window, across all its codes: plenty
/// for typing mistakes, and guessing one code in a million at this pace
/// takes years. The price: anyone who knows a number can use them up and
/// keep its owner from logging in on a new device for a day.
pub const MAX_WRONG_PER_WINDOW: u32 = 15;

/// How long a number's wrong codes count against it.
pub const WRONG_CODE_WINDOW: std::time::Duration = std::time::Duration::from_secs(24 * 60 * 60);

/// A code, the record that remembers it, and nothing else.
pub struct Issued {
    pub code: String,
    pub record: OtpRecord,
}

/// Makes a fresh 6-digit code from the operating system's CSPRNG.
pub fn issue(key: &[u8; 32], phone: &str, now: Timestamp, lifetime: std::time::Duration) -> Issued {
    let code = format!("{:06}", rand::rng().random_range(0..1_000_000u32));
    let record = OtpRecord {
        code_hash: hash(key, phone, &code),
        issued_at: now,
        expires_at: now.plus(lifetime),
        failed_attempts: 0,
        used: false,
    };
    Issued { code, record }
}

/// A live code that no one knows, for a number that may not log in: its
/// hash is random, so no code matches it, yet it expires and counts wrong
/// attempts like a real one, and the answers cannot tell such numbers apart.
pub fn decoy(now: Timestamp, lifetime: std::time::Duration) -> OtpRecord {
    OtpRecord {
        code_hash: rand::random(),
        issued_at: now,
        expires_at: now.plus(lifetime),
        failed_attempts: 0,
        used: false,
    }
}

/// A 6-digit code has only a million values, so it is stored as an HMAC under
/// the server's key rather than a bare hash that could be brute-forced.
fn hash(key: &[u8; 32], phone: &str, code: &str) -> [u8; 32] {
    // HMAC takes keys of any length; 32 bytes cannot be rejected.
    let mut mac = Hmac::<Sha256>::new_from_slice(key).expect("HMAC accepts any key length");
    mac.update(phone.as_bytes());
    mac.update(b"\0");
    mac.update(code.as_bytes());
    mac.finalize().into_bytes().into()
}

/// What an attempt to use a code comes to.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Verdict {
    Accepted,
    /// Wrong code; `attempts_left` more wrong codes are allowed.
    Wrong {
        attempts_left: u32,
    },
    Locked,
    Expired,
    /// No code, or one already used.
    Unknown,
}

/// Judges `code` against `record`, the live code of a number whose wrong
/// codes so far are `tally`, and returns the record as it must be stored
/// afterwards (attempts counted, or the code spent). A wrong code must also
/// be counted in the tally (`counted`).
pub fn verify(
    key: &[u8; 32],
    phone: &str,
    record: Option<&OtpRecord>,
    tally: Option<&WrongCodesRecord>,
    code: &str,
    now: Timestamp,
) -> (Verdict, Option<OtpRecord>) {
    let Some(record) = record else {
        return (Verdict::Unknown, None);
    };
    if record.used {
        return (Verdict::Unknown, None);
    }
    if record.failed_attempts >= MAX_ATTEMPTS || wrong_codes_left(tally, now) == 0 {
        return (Verdict::Locked, None);
    }
    if now >= record.expires_at {
        return (Verdict::Expired, None);
    }
    let matches: bool = hash(key, phone, code).ct_eq(&record.code_hash).into();
    let mut updated = record.clone();
    if matches {
        updated.used = true;
        (Verdict::Accepted, Some(updated))
    } else {
        updated.failed_attempts += 1;
        let code_left = MAX_ATTEMPTS - updated.failed_attempts;
        let number_left = wrong_codes_left(Some(&counted(tally, now)), now);
        (
            Verdict::Wrong {
                attempts_left: code_left.min(number_left),
            },
            Some(updated),
        )
    }
}

/// `tally` with one more wrong code at `now`; once its window has passed,
/// a new window starts with this code.
pub fn counted(tally: Option<&WrongCodesRecord>, now: Timestamp) -> WrongCodesRecord {
    match tally {
        Some(tally) if in_window(tally, now) => WrongCodesRecord {
            window_start: tally.window_start,
            count: tally.count.saturating_add(1),
        },
        _ => WrongCodesRecord {
            window_start: now,
            count: 1,
        },
    }
}

/// How many more wrong codes the number may take in its window.
fn wrong_codes_left(tally: Option<&WrongCodesRecord>, now: Timestamp) -> u32 {
    match tally {
        Some(tally) if in_window(tally, now) => MAX_WRONG_PER_WINDOW.saturating_sub(tally.count),
        _ => MAX_WRONG_PER_WINDOW,
    }
}

fn in_window(tally: &WrongCodesRecord, now: Timestamp) -> bool {
    now < tally.window_start.plus(WRONG_CODE_WINDOW)
}

/// Seconds until another code may be sent to this number, if it must wait.
pub fn cooldown_left(
    record: Option<&OtpRecord>,
    cooldown: std::time::Duration,
    now: Timestamp,
) -> Option<u64> {
    let ready_at = record?.issued_at.plus(cooldown);
    (now < ready_at).then(|| now.seconds_until(ready_at))
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    const KEY: [u8; 32] = [7; 32];
    const PHONE: &str = "+6281234567890";

    fn fresh() -> Issued {
        issue(
            &KEY,
            PHONE,
            Timestamp::from_millis(1_000_000),
            Duration::from_secs(300),
        )
    }

    #[test]
    fn codes_are_six_digits_and_stored_only_as_a_hash() {
        let issued = fresh();
        assert_eq!(issued.code.len(), 6);
        assert!(issued.code.bytes().all(|b| b.is_ascii_digit()));
        assert_ne!(&issued.record.code_hash[..6], issued.code.as_bytes());
    }

    #[test]
    fn the_right_code_is_accepted_once() {
        let issued = fresh();
        let now = Timestamp::from_millis(1_001_000);
        let (verdict, stored) = verify(&KEY, PHONE, Some(&issued.record), None, &issued.code, now);
        assert_eq!(verdict, Verdict::Accepted);
        let (again, _) = verify(&KEY, PHONE, stored.as_ref(), None, &issued.code, now);
        assert_eq!(again, Verdict::Unknown);
    }

    #[test]
    fn a_code_is_bound_to_its_number() {
        let issued = fresh();
        let now = Timestamp::from_millis(1_001_000);
        let (verdict, _) = verify(
            &KEY,
            "+6289999999999",
            Some(&issued.record),
            None,
            &issued.code,
            now,
        );
        assert!(matches!(verdict, Verdict::Wrong { .. }));
    }

    #[test]
    fn five_wrong_codes_lock_even_the_right_one() {
        let issued = fresh();
        let now = Timestamp::from_millis(1_001_000);
        let wrong = if issued.code == "000000" {
            "111111"
        } else {
            "000000"
        };
        let mut record = issued.record;
        for expected_left in (0..MAX_ATTEMPTS).rev() {
            let (verdict, stored) = verify(&KEY, PHONE, Some(&record), None, wrong, now);
            assert_eq!(
                verdict,
                Verdict::Wrong {
                    attempts_left: expected_left
                }
            );
            record = stored.unwrap();
        }
        let (verdict, _) = verify(&KEY, PHONE, Some(&record), None, &issued.code, now);
        assert_eq!(verdict, Verdict::Locked);
    }

    #[test]
    fn an_expired_code_is_refused() {
        let issued = fresh();
        let later = Timestamp::from_millis(1_000_000 + 300_000);
        assert_eq!(
            verify(&KEY, PHONE, Some(&issued.record), None, &issued.code, later).0,
            Verdict::Expired
        );
    }

    #[test]
    fn cooldown_counts_down_from_the_last_send() {
        let issued = fresh();
        let cooldown = Duration::from_secs(30);
        assert_eq!(
            cooldown_left(
                Some(&issued.record),
                cooldown,
                Timestamp::from_millis(1_000_500)
            ),
            Some(30)
        );
        assert_eq!(
            cooldown_left(
                Some(&issued.record),
                cooldown,
                Timestamp::from_millis(1_029_001)
            ),
            Some(1)
        );
        assert_eq!(
            cooldown_left(
                Some(&issued.record),
                cooldown,
                Timestamp::from_millis(1_030_000)
            ),
            None
        );
        assert_eq!(
            cooldown_left(None, cooldown, Timestamp::from_millis(0)),
            None
        );
    }

    #[test]
    fn a_decoy_counts_wrong_codes_like_a_real_code_and_matches_none() {
        let now = Timestamp::from_millis(1_000_000);
        let mut record = decoy(now, Duration::from_secs(300));
        let later = Timestamp::from_millis(1_001_000);
        for expected_left in (0..MAX_ATTEMPTS).rev() {
            let code = format!("{expected_left:06}");
            let (verdict, stored) = verify(&KEY, PHONE, Some(&record), None, &code, later);
            assert_eq!(
                verdict,
                Verdict::Wrong {
                    attempts_left: expected_left
                }
            );
            record = stored.unwrap();
        }
        assert_eq!(
            verify(&KEY, PHONE, Some(&record), None, "123456", later).0,
            Verdict::Locked
        );
        let expired = decoy(now, Duration::from_secs(300));
        let after = Timestamp::from_millis(1_000_000 + 300_000);
        assert_eq!(
            verify(&KEY, PHONE, Some(&expired), None, "123456", after).0,
            Verdict::Expired
        );
    }

    #[test]
    fn fifteen_wrong_codes_in_a_window_lock_every_code_of_the_number_until_it_passes() {
        let start = Timestamp::from_millis(1_000_000);
        let mut tally = None;
        for _ in 0..MAX_WRONG_PER_WINDOW - 1 {
            tally = Some(counted(tally.as_ref(), start));
        }
        let issued = fresh();
        let wrong = if issued.code == "000000" {
            "111111"
        } else {
            "000000"
        };
        let now = Timestamp::from_millis(1_001_000);
        let (verdict, _) = verify(
            &KEY,
            PHONE,
            Some(&issued.record),
            tally.as_ref(),
            wrong,
            now,
        );
        assert_eq!(
            verdict,
            Verdict::Wrong { attempts_left: 0 },
            "the number's last"
        );
        tally = Some(counted(tally.as_ref(), now));
        assert_eq!(tally.unwrap().count, MAX_WRONG_PER_WINDOW);
        let right = verify(
            &KEY,
            PHONE,
            Some(&issued.record),
            tally.as_ref(),
            &issued.code,
            now,
        );
        assert_eq!(right.0, Verdict::Locked);
        let next_day = start.plus(WRONG_CODE_WINDOW);
        let record = issue(&KEY, PHONE, next_day, Duration::from_secs(300)).record;
        let (verdict, _) = verify(&KEY, PHONE, Some(&record), tally.as_ref(), wrong, next_day);
        assert_eq!(verdict, Verdict::Wrong { attempts_left: 4 });
        assert_eq!(counted(tally.as_ref(), next_day).count, 1, "a new window");
    }
}
