//! The product's data rules that every layer shares: what kinds of chats and
//! messages exist, and how a member's read mark moves. The rules in `chat`
//! decide with them and the store applies them inside its write batch, so
//! they live here, below both, once.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use crate::id::UserId;
use crate::timestamp::Timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ChatKind {
    Private,
    Group,
}

/// What an account may do on the server.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, utoipa::ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Member,
    /// Runs the server: the admin API and console. The first account is one.
    Admin,
}

/// Who may create an account (`REGISTRATION`, or the admin's setting).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, clap::ValueEnum)]
#[serde(rename_all = "lowercase")]
pub enum Registration {
    /// Anyone who can receive a code may create an account.
    Open,
    /// Only numbers the admin invited (or holding a group's invite link),
    /// plus existing users.
    Invite,
    /// Existing users only.
    Closed,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum MessageKind {
    Text,
    Image,
    File,
    Voice,
}

/// Where one member has read up to in one chat. Marks only move forward,
/// and never past the chat's newest message.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReadMark {
    /// Everything up to this `seq` has been read.
    pub seq: u64,
    /// When `seq` last moved (the joining time until then).
    pub at: Timestamp,
    /// How many of the member's own messages lie above `seq`: they never
    /// count as unread, and keeping the count here makes `unreadCount` O(1).
    pub own_above: u64,
}

impl ReadMark {
    /// The mark of a member who joins at `at` with everything up to `seq` read.
    pub fn joining(at: Timestamp, seq: u64) -> Self {
        Self {
            seq,
            at,
            own_above: 0,
        }
    }

    /// Where a read up to `seq` moves the mark in a chat whose newest
    /// message is `last_seq`: clamped to it, and `None` unless that is
    /// forward.
    pub fn advanced(&self, seq: u64, last_seq: u64) -> Option<u64> {
        let target = seq.min(last_seq);
        (target > self.seq).then_some(target)
    }

    /// Moves the mark to `target` (from `advanced`) at `at`, with
    /// `own_above` of the member's own messages still above it.
    pub fn move_to(&mut self, target: u64, at: Timestamp, own_above: u64) {
        debug_assert!(target >= self.seq, "read marks only move forward");
        self.seq = target;
        self.at = at;
        self.own_above = own_above;
    }

    /// The member sent a message: it lies above the mark but is not unread.
    pub fn sent_own(&mut self) {
        self.own_above += 1;
    }

    /// Whether the message `seq` counts as read.
    pub fn covers(&self, seq: u64) -> bool {
        self.seq >= seq
    }

    /// Messages above the mark that others sent, in a chat whose newest
    /// message is `last_seq`.
    pub fn unread(&self, last_seq: u64) -> u64 {
        last_seq
            .saturating_sub(self.seq)
            .saturating_sub(self.own_above)
    }
}

/// Where one member's devices have received up to in one chat. A read
/// mark implies delivery, so the delivered `seq` is the larger of the two.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct DeliveryMark {
    pub seq: u64,
    pub at: Timestamp,
}

/// Most distinct emoji on one message.
pub const MAX_REACTIONS: usize = 20;
/// Most pinned messages in one chat.
pub const MAX_PINS: usize = 50;

/// Why a change to a message is not allowed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Not the sender (or, for deleting in a group, not an admin either).
    Forbidden,
    EditWindowClosed,
    /// The message was deleted for everyone: it changes no more.
    MessageDeleted,
    TooManyReactions,
    TooManyPins,
    /// A private chat whose two people block one another, one way or both.
    Blocked,
}

/// How long after sending a sender may still edit, or delete for
/// everyone; `None` is no limit (`EDIT_WINDOW=0`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ChangeWindows {
    pub edit: Option<Duration>,
    pub delete: Option<Duration>,
}

impl ChangeWindows {
    /// Only the sender edits, and only within the edit window.
    pub fn may_edit(
        &self,
        sender: UserId,
        actor: UserId,
        sent: Timestamp,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        if sender != actor {
            return Err(Refusal::Forbidden);
        }
        if !within(self.edit, sent, now) {
            return Err(Refusal::EditWindowClosed);
        }
        Ok(())
    }

    /// The sender deletes for everyone within the delete window; a group's
    /// admin, any message at any time.
    pub fn may_delete(
        &self,
        sender: UserId,
        actor: UserId,
        group_admin: bool,
        sent: Timestamp,
        now: Timestamp,
    ) -> Result<(), Refusal> {
        if group_admin || (sender == actor && within(self.delete, sent, now)) {
            return Ok(());
        }
        Err(Refusal::Forbidden)
    }
}

fn within(window: Option<Duration>, sent: Timestamp, now: Timestamp) -> bool {
    window.is_none_or(|window| now <= sent.plus(window))
}

/// In a group only admins pin; in a private chat both people may.
pub fn may_pin(kind: ChatKind, admin: bool) -> Result<(), Refusal> {
    match kind {
        ChatKind::Group if !admin => Err(Refusal::Forbidden),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn windows_bound_the_sender_and_admins_may_always_delete() {
        let (sender, other) = (UserId::generate(), UserId::generate());
        let sent = Timestamp::from_millis(1_000_000);
        let windows = ChangeWindows {
            edit: Some(Duration::from_secs(60)),
            delete: Some(Duration::from_secs(60)),
        };
        let soon = sent.plus(Duration::from_secs(59));
        let late = sent.plus(Duration::from_secs(61));
        assert_eq!(windows.may_edit(sender, sender, sent, soon), Ok(()));
        assert_eq!(
            windows.may_edit(sender, sender, sent, late),
            Err(Refusal::EditWindowClosed)
        );
        assert_eq!(
            windows.may_edit(sender, other, sent, soon),
            Err(Refusal::Forbidden)
        );
        assert_eq!(
            windows.may_delete(sender, sender, false, sent, late),
            Err(Refusal::Forbidden)
        );
        assert_eq!(windows.may_delete(sender, other, true, sent, late), Ok(()));
        let open = ChangeWindows {
            edit: None,
            delete: None,
        };
        assert_eq!(
            open.may_edit(
                sender,
                sender,
                sent,
                late.plus(Duration::from_secs(1 << 30))
            ),
            Ok(())
        );
        assert_eq!(may_pin(ChatKind::Group, false), Err(Refusal::Forbidden));
        assert_eq!(may_pin(ChatKind::Private, false), Ok(()));
    }

    #[test]
    fn unread_leaves_out_what_is_read_and_ones_own() {
        let mark = ReadMark {
            seq: 3,
            at: Timestamp::from_millis(0),
            own_above: 2,
        };
        assert_eq!(mark.unread(10), 5);
        assert_eq!(mark.unread(3), 0);
        assert!(mark.covers(3) && !mark.covers(4));
    }

    mod properties {
        use super::super::*;
        use proptest::prelude::*;

        proptest! {
            /// Whatever marks arrive, in whatever order, while the chat
            /// grows: the mark never moves back, never passes the newest
            /// message, and lands on the clamped request when it moves.
            #[test]
            fn read_marks_only_move_forward(
                marks in prop::collection::vec((any::<u64>(), 0u64..1000), 0..50),
            ) {
                let mut mark = ReadMark::joining(Timestamp::from_millis(0), 0);
                let mut last_seq = 0u64;
                for (seq, grown) in marks {
                    last_seq += grown;
                    let before = mark.seq;
                    if let Some(target) = mark.advanced(seq, last_seq) {
                        mark.move_to(target, Timestamp::from_millis(1), 0);
                    }
                    prop_assert!(mark.seq >= before);
                    prop_assert!(mark.seq <= last_seq.max(before));
                    prop_assert_eq!(mark.seq, before.max(seq.min(last_seq)));
                }
            }

            /// The unread count never exceeds what lies above the mark, and
            /// a mark moved forward never raises it.
            #[test]
            fn unread_counts_only_what_lies_above_the_mark(
                seq in any::<u64>(),
                own_above in any::<u64>(),
                last_seq in any::<u64>(),
                forward in any::<u64>(),
            ) {
                let mark = ReadMark { seq, at: Timestamp::from_millis(0), own_above };
                let unread = mark.unread(last_seq);
                prop_assert!(unread <= last_seq.saturating_sub(seq));
                if let Some(target) = mark.advanced(seq.saturating_add(forward), last_seq) {
                    let mut moved = mark;
                    moved.move_to(target, Timestamp::from_millis(1), own_above);
                    prop_assert!(moved.unread(last_seq) <= unread);
                }
            }
        }
    }
}
