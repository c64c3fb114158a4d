//! Reporting a message to the server's admins, and their queue of reports.
//! A report keeps a copy of the message as it was, so a later edit or
//! deletion hides nothing from the admins.

use serde::Serialize;
use utoipa::ToSchema;

use crate::error::{Error, Result};
use crate::id::{ChatId, ReportId, UserId};
use crate::store::{ChatRecord, Query, ReportRecord, ops};
use crate::timestamp::Timestamp;

use super::views::{MessageView, UserView};
use super::{ChatService, chat_of};

/// Longest reason a reporter may give, in characters.
pub const REASON_MAX: usize = 500;
/// Reports one user may file per hour.
pub(super) const REPORTS_PER_HOUR: u32 = 30;
/// Most reports one page of the admins' queue holds.
pub const REPORTS_PAGE: usize = 50;

/// A report as the admins see it.
#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportView {
    pub id: ReportId,
    /// `null` if the reporter's account is gone.
    pub reporter: Option<UserView>,
    pub reason: Option<String>,
    /// The chat now; `name` is `null` for private chats.
    pub chat: ReportedChat,
    /// The message as it was when it was reported.
    pub message: MessageView,
    pub created_at: Timestamp,
}

#[derive(Debug, Clone, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ReportedChat {
    pub id: ChatId,
    #[serde(rename = "type")]
    #[schema(value_type = String, example = "group")]
    pub kind: &'static str,
    pub name: Option<String>,
}

impl ChatService {
    /// `reporter` reports message `seq` of `chat`, which they must be in.
    pub async fn report(
        &self,
        reporter: UserId,
        chat: ChatId,
        seq: u64,
        reason: Option<String>,
    ) -> Result<()> {
        let reason = reason
            .map(|reason| reason.trim().to_owned())
            .filter(|reason| !reason.is_empty());
        if reason
            .as_ref()
            .is_some_and(|reason| reason.chars().count() > REASON_MAX)
        {
            return Err(Error::validation(
                "reason",
                format!("at most {REASON_MAX} characters"),
            ));
        }
        let message = {
            let reader = self.store().read()?;
            chat_of(&reader, chat, reporter)?;
            if reader.is_hidden(reporter, chat, seq)? {
                return Err(Error::NotFound);
            }
            reader.message(chat, seq)?.ok_or(Error::NotFound)?
        };
        super::spend(&self.inner.reports_filed, reporter, 1)?;
        let report = ReportRecord {
            id: ReportId::generate(),
            reporter,
            reason,
            message,
            at: Timestamp::now(),
        };
        tracing::info!(report_id = %report.id, user_id = %reporter, chat_id = %chat, seq, "message reported");
        self.store().apply(ops::FileReport { report }).await?;
        Ok(())
    }

    /// The admins' queue, oldest first, after `after`; and the cursor of
    /// the next page, if there is one.
    pub fn reports(
        &self,
        admin: UserId,
        after: Option<ReportId>,
    ) -> Result<(Vec<ReportView>, Option<ReportId>)> {
        let reader = self.store().read()?;
        let mut records = reader.reports(after, REPORTS_PAGE + 1)?;
        let next = (records.len() > REPORTS_PAGE).then(|| records[REPORTS_PAGE - 1].id);
        records.truncate(REPORTS_PAGE);
        let views = records
            .iter()
            .map(|record| {
                let reporter = match reader.user(record.reporter)? {
                    Some(user) => Some(self.view_of(admin, &user)?),
                    None => None,
                };
                let chat = reader.chat(record.message.chat)?;
                Ok(ReportView {
                    id: record.id,
                    reporter,
                    reason: record.reason.clone(),
                    chat: reported_chat(record.message.chat, chat.as_ref()),
                    message: MessageView::new(&record.message, &[], None),
                    created_at: record.at,
                })
            })
            .collect::<Result<_>>()?;
        Ok((views, next))
    }

    /// Takes a report off the queue.
    pub async fn dismiss_report(&self, id: ReportId) -> Result<()> {
        if !self.store().apply(ops::DismissReport { id }).await? {
            return Err(Error::NotFound);
        }
        Ok(())
    }
}

fn reported_chat(id: ChatId, chat: Option<&ChatRecord>) -> ReportedChat {
    let view = chat.map(|chat| super::views::ChatView::new(chat, None, 0));
    ReportedChat {
        id,
        kind: view.as_ref().map_or("private", |view| view.kind),
        name: view.and_then(|view| view.name),
    }
}
