//! Codes sent and not yet used, in this server's memory only, for the
//! admin console (`GET /api/admin/codes`): a LAN admin reads them there
//! instead of in the log. The database keeps only their hashes.

use std::collections::HashMap;
use std::sync::Mutex;

use crate::timestamp::Timestamp;

/// A code waiting to be used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct WaitingCode {
    pub phone: String,
    pub code: String,
    pub expires_at: Timestamp,
    /// Who asked for it.
    pub ip: Option<String>,
    pub user_agent: Option<String>,
}

/// At most this many codes are remembered; past it the soonest to expire
/// is forgotten (it still works; it just is not listed).
const MOST_REMEMBERED: usize = 1000;

#[derive(Debug, Default)]
pub struct WaitingCodes {
    by_phone: Mutex<HashMap<String, WaitingCode>>,
}

impl WaitingCodes {
    /// Remembers `code`, replacing the number's earlier one as the store does.
    pub fn remember(&self, code: WaitingCode) {
        let mut codes = self.lock();
        let now = Timestamp::now();
        codes.retain(|_, waiting| waiting.expires_at > now);
        if codes.len() >= MOST_REMEMBERED
            && !codes.contains_key(&code.phone)
            && let Some(soonest) = codes
                .values()
                .min_by_key(|waiting| waiting.expires_at)
                .map(|waiting| waiting.phone.clone())
        {
            codes.remove(&soonest);
        }
        codes.insert(code.phone.clone(), code);
    }

    /// Forgets the number's code: used, withdrawn or replaced by a decoy.
    pub fn forget(&self, phone: &str) {
        self.lock().remove(phone);
    }

    /// The codes still valid, soonest to expire first.
    pub fn list(&self) -> Vec<WaitingCode> {
        let now = Timestamp::now();
        let mut codes: Vec<WaitingCode> = self
            .lock()
            .values()
            .filter(|waiting| waiting.expires_at > now)
            .cloned()
            .collect();
        codes.sort_by_key(|waiting| waiting.expires_at);
        codes
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, HashMap<String, WaitingCode>> {
        self.by_phone
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    fn code(phone: &str, code: &str, seconds: u64) -> WaitingCode {
        WaitingCode {
            phone: phone.into(),
            code: code.into(),
            expires_at: Timestamp::now().plus(Duration::from_secs(seconds)),
            ip: None,
            user_agent: None,
        }
    }

    #[test]
    fn a_new_code_replaces_the_numbers_old_one_and_a_used_one_is_forgotten() {
        let waiting = WaitingCodes::default();
        waiting.remember(code("+621", "111111", 60));
        waiting.remember(code("+622", "222222", 30));
        waiting.remember(code("+621", "333333", 90));
        let listed: Vec<_> = waiting.list().into_iter().map(|c| c.code).collect();
        assert_eq!(listed, ["222222", "333333"]);
        waiting.forget("+622");
        assert_eq!(waiting.list().len(), 1);
    }

    #[test]
    fn expired_codes_are_not_listed() {
        let waiting = WaitingCodes::default();
        waiting.remember(WaitingCode {
            expires_at: Timestamp::now(),
            ..code("+621", "111111", 0)
        });
        assert!(waiting.list().is_empty());
    }
}
