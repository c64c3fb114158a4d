//! The settings an admin may change while the server runs: who may sign
//! up, which numbers may, and how long messages may be edited and deleted.
//! They are kept in the database and read from memory by every request. A
//! setting given in the environment or on the command line wins, and shows
//! in the admin console as locked.

use std::sync::{Arc, RwLock};
use std::time::Duration;

use crate::config::{Config, check_prefix};
use crate::domain::{ChangeWindows, Registration};
use crate::error::{Error, Result};
use crate::store::{SettingsRecord, Store, ops};

/// The edit and delete windows when nobody set them.
pub const DEFAULT_WINDOW: Duration = Duration::from_secs(2 * 24 * 3600);
/// The longest window an admin may set (ten years); `0` means no limit.
pub const MAX_WINDOW_SECS: u64 = 3650 * 24 * 3600;

/// The settings in force.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RuntimeSettings {
    pub registration: Registration,
    /// Numbers must start with one of these; empty: any number.
    pub allowed_prefixes: Vec<String>,
    /// Zero: no limit.
    pub edit_window: Duration,
    pub delete_window: Duration,
}

impl RuntimeSettings {
    pub fn windows(&self) -> ChangeWindows {
        let window = |duration: Duration| (!duration.is_zero()).then_some(duration);
        ChangeWindows {
            edit: window(self.edit_window),
            delete: window(self.delete_window),
        }
    }

    /// Whether `phone` (E.164) may sign up or log in at all.
    pub fn allows_number(&self, phone: &str) -> bool {
        self.allowed_prefixes.is_empty()
            || self
                .allowed_prefixes
                .iter()
                .any(|prefix| phone.starts_with(prefix.as_str()))
    }

    /// Each value from the environment if it set one, else from what the
    /// admin kept, else the default: the one rule of which value wins.
    fn resolve(fixed: &SettingsRecord, kept: &SettingsRecord) -> Self {
        let window = |fixed: Option<u64>, kept: Option<u64>| {
            fixed.or(kept).map_or(DEFAULT_WINDOW, Duration::from_secs)
        };
        Self {
            registration: fixed
                .registration
                .or(kept.registration)
                .unwrap_or(Registration::Open),
            allowed_prefixes: fixed
                .allowed_prefixes
                .clone()
                .or_else(|| kept.allowed_prefixes.clone())
                .unwrap_or_default(),
            edit_window: window(fixed.edit_window_secs, kept.edit_window_secs),
            delete_window: window(fixed.delete_window_secs, kept.delete_window_secs),
        }
    }
}

/// Which settings the environment or command line fixed.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Locks {
    pub registration: bool,
    pub allowed_prefixes: bool,
    pub edit_window: bool,
    pub delete_window: bool,
}

/// A change an admin asks for; `None` leaves a setting as it is.
#[derive(Debug, Clone, Default)]
pub struct SettingsChange {
    pub registration: Option<Registration>,
    pub allowed_prefixes: Option<Vec<String>>,
    pub edit_window_secs: Option<u64>,
    pub delete_window_secs: Option<u64>,
}

/// The settings in force, shared by every service; cheap to clone.
#[derive(Clone)]
pub struct LiveSettings {
    inner: Arc<Inner>,
}

impl std::fmt::Debug for LiveSettings {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_tuple("LiveSettings")
            .field(&self.current())
            .finish()
    }
}

struct Inner {
    /// What the environment and command line set.
    fixed: SettingsRecord,
    current: RwLock<Arc<RuntimeSettings>>,
    /// One change at a time, so memory ends as the last commit left it.
    changing: tokio::sync::Mutex<()>,
}

impl LiveSettings {
    /// The settings from `config`, over what the admin kept in `store`.
    pub fn load(config: &Config, store: &Store) -> Result<Self> {
        let kept = crate::store::Query::settings(&store.read()?)?;
        Ok(Self::new(fixed_by(config), &kept))
    }

    /// The settings from `config` alone (tools that run without a server).
    pub fn from_config(config: &Config) -> Self {
        Self::new(fixed_by(config), &SettingsRecord::default())
    }

    /// Settings nobody may change: demo data, tests.
    pub fn fixed(settings: RuntimeSettings) -> Self {
        let fixed = SettingsRecord {
            registration: Some(settings.registration),
            allowed_prefixes: Some(settings.allowed_prefixes),
            edit_window_secs: Some(settings.edit_window.as_secs()),
            delete_window_secs: Some(settings.delete_window.as_secs()),
        };
        Self::new(fixed, &SettingsRecord::default())
    }

    fn new(fixed: SettingsRecord, kept: &SettingsRecord) -> Self {
        let current = RuntimeSettings::resolve(&fixed, kept);
        Self {
            inner: Arc::new(Inner {
                fixed,
                current: RwLock::new(Arc::new(current)),
                changing: tokio::sync::Mutex::new(()),
            }),
        }
    }

    pub fn current(&self) -> Arc<RuntimeSettings> {
        Arc::clone(
            &self
                .inner
                .current
                .read()
                .unwrap_or_else(std::sync::PoisonError::into_inner),
        )
    }

    pub fn locks(&self) -> Locks {
        let fixed = &self.inner.fixed;
        Locks {
            registration: fixed.registration.is_some(),
            allowed_prefixes: fixed.allowed_prefixes.is_some(),
            edit_window: fixed.edit_window_secs.is_some(),
            delete_window: fixed.delete_window_secs.is_some(),
        }
    }

    /// Checks `change` whole, keeps it, and puts it in force. A locked or
    /// invalid setting is `validation_failed`, and then nothing changes.
    pub async fn change(
        &self,
        store: &Store,
        change: SettingsChange,
    ) -> Result<Arc<RuntimeSettings>> {
        let record = self.checked(change)?;
        let _one_at_a_time = self.inner.changing.lock().await;
        let kept = store.apply(ops::ChangeSettings { change: record }).await?;
        let current = Arc::new(RuntimeSettings::resolve(&self.inner.fixed, &kept));
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = Arc::clone(&current);
        Ok(current)
    }

    /// Puts in force what the store keeps now: another node sharing the
    /// store may have changed it.
    pub async fn reload(&self, store: &Store) -> Result<()> {
        let _one_at_a_time = self.inner.changing.lock().await;
        let kept = crate::store::Query::settings(&store.read()?)?;
        let current = Arc::new(RuntimeSettings::resolve(&self.inner.fixed, &kept));
        *self
            .inner
            .current
            .write()
            .unwrap_or_else(std::sync::PoisonError::into_inner) = current;
        Ok(())
    }

    fn checked(&self, change: SettingsChange) -> Result<SettingsRecord> {
        let locks = self.locks();
        let mut problems = Vec::new();
        let mut locked = |asked: bool, locked: bool, field: &'static str, variable: &str| {
            if asked && locked {
                problems.push((
                    field,
                    format!("set by {variable} in the server's environment; change it there"),
                ));
            }
        };
        locked(
            change.registration.is_some(),
            locks.registration,
            "registration",
            "REGISTRATION",
        );
        locked(
            change.allowed_prefixes.is_some(),
            locks.allowed_prefixes,
            "allowedPhonePrefixes",
            "ALLOWED_PHONE_PREFIXES",
        );
        locked(
            change.edit_window_secs.is_some(),
            locks.edit_window,
            "editWindow",
            "EDIT_WINDOW",
        );
        locked(
            change.delete_window_secs.is_some(),
            locks.delete_window,
            "deleteWindow",
            "DELETE_WINDOW",
        );
        for prefix in change.allowed_prefixes.iter().flatten() {
            if let Err(problem) = check_prefix(prefix) {
                problems.push(("allowedPhonePrefixes", problem));
            }
        }
        for (field, secs) in [
            ("editWindow", change.edit_window_secs),
            ("deleteWindow", change.delete_window_secs),
        ] {
            if secs.is_some_and(|secs| secs > MAX_WINDOW_SECS) {
                problems.push((
                    field,
                    format!("at most {MAX_WINDOW_SECS} seconds (ten years); 0 means no limit"),
                ));
            }
        }
        if !problems.is_empty() {
            return Err(Error::Validation(
                problems
                    .into_iter()
                    .map(|(field, message)| crate::error::FieldError::new(field, message))
                    .collect(),
            ));
        }
        Ok(SettingsRecord {
            registration: change.registration,
            allowed_prefixes: change.allowed_prefixes,
            edit_window_secs: change.edit_window_secs,
            delete_window_secs: change.delete_window_secs,
        })
    }
}

fn fixed_by(config: &Config) -> SettingsRecord {
    SettingsRecord {
        registration: config.registration,
        allowed_prefixes: config.allowed_phone_prefixes.clone(),
        edit_window_secs: config.edit_window.map(|window| window.as_secs()),
        delete_window_secs: config.delete_window.map(|window| window.as_secs()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_environment_wins_over_what_the_admin_kept_which_wins_over_the_default() {
        let fixed = SettingsRecord {
            registration: Some(Registration::Closed),
            ..SettingsRecord::default()
        };
        let kept = SettingsRecord {
            registration: Some(Registration::Invite),
            edit_window_secs: Some(60),
            ..SettingsRecord::default()
        };
        let settings = RuntimeSettings::resolve(&fixed, &kept);
        assert_eq!(settings.registration, Registration::Closed);
        assert_eq!(settings.edit_window, Duration::from_secs(60));
        assert_eq!(settings.delete_window, DEFAULT_WINDOW);
        assert!(settings.allowed_prefixes.is_empty());
    }

    #[test]
    fn a_zero_window_means_no_limit() {
        let kept = SettingsRecord {
            edit_window_secs: Some(0),
            ..SettingsRecord::default()
        };
        let settings = RuntimeSettings::resolve(&SettingsRecord::default(), &kept);
        assert_eq!(settings.windows().edit, None);
        assert_eq!(settings.windows().delete, Some(DEFAULT_WINDOW));
    }

    #[test]
    fn prefixes_are_a_plus_and_digits() {
        assert!(check_prefix("+62").is_ok());
        for bad in ["62", "+", "+6a", "", "+1234567890123456"] {
            assert!(check_prefix(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn a_locked_setting_cannot_be_changed_and_nothing_else_changes_with_it() {
        let live = LiveSettings::new(
            SettingsRecord {
                registration: Some(Registration::Open),
                ..SettingsRecord::default()
            },
            &SettingsRecord::default(),
        );
        let change = SettingsChange {
            registration: Some(Registration::Closed),
            edit_window_secs: Some(10),
            ..SettingsChange::default()
        };
        let Err(Error::Validation(errors)) = live.checked(change) else {
            panic!("a locked setting must be refused");
        };
        assert_eq!(errors.len(), 1);
        assert!(live.locks().registration && !live.locks().edit_window);
    }
}
