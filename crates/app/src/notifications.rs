//! Staff notifications (issue 7 item 2): assignments and escalations are written by the case
//! use cases; here @mentions in internal notes become notifications for the staff members
//! they name (`domain::mention`), and a user reads their own notifications, counts the
//! unread ones and marks them read (one, or all). A user only ever touches their own: another
//! user's notification id is "not found".

use crate::App;
use crate::cases::CaseError;
use concierge_domain::TenantId;
use concierge_domain::mention;
use concierge_store::UserRow;
use concierge_store::cases::{CaseRow, NewNotification, NotificationRow};

type Result<T, E = CaseError> = std::result::Result<T, E>;

/// Most notifications listed at once.
pub const NOTIFICATIONS_MAX: i64 = 200;

/// How many characters of the note a mention notification quotes.
const EXCERPT_CHARS: usize = 140;

impl App {
    /// The notifications for the staff members an internal note on `case` mentions (active
    /// users of the tenant; the author is not told about their own note).
    pub(crate) async fn mention_notifications(
        &self,
        tenant: TenantId,
        author: Option<&UserRow>,
        case: &CaseRow,
        body: &str,
    ) -> Result<Vec<NewNotification>> {
        let words = mention::mentions(body);
        if words.is_empty() {
            return Ok(Vec::new());
        }
        let users = self.store.list_users(tenant).await?;
        let by = author.map_or("Someone", |u| u.display_name.as_str());
        let mut excerpt: String = body.chars().take(EXCERPT_CHARS).collect();
        if body.chars().nth(EXCERPT_CHARS).is_some() {
            excerpt.push('…');
        }
        let excerpt = excerpt.split_whitespace().collect::<Vec<_>>().join(" ");
        Ok(users
            .iter()
            .filter(|u| u.active && author.is_none_or(|a| a.id != u.id))
            .filter(|u| {
                words
                    .iter()
                    .any(|w| mention::names(w, &u.email, &u.display_name))
            })
            .map(|u| NewNotification {
                user_id: u.id.0,
                kind: "mention".into(),
                body: format!(
                    "{by} mentioned you on case #{} ({}): {excerpt}",
                    case.number, case.subject
                ),
            })
            .collect())
    }

    /// A user's notifications, newest first, and how many are unread.
    pub async fn my_notifications(&self, user: &UserRow) -> Result<(Vec<NotificationRow>, i64)> {
        let list = self
            .store
            .notifications(user.tenant_id, user.id.0, NOTIFICATIONS_MAX)
            .await?;
        let unread = self
            .store
            .unread_notifications(user.tenant_id, user.id.0)
            .await?;
        Ok((list, unread))
    }

    /// How many of a user's notifications are unread.
    pub async fn unread_notifications(&self, user: &UserRow) -> Result<i64> {
        Ok(self
            .store
            .unread_notifications(user.tenant_id, user.id.0)
            .await?)
    }

    /// Marks one of the user's own notifications read (again is fine).
    pub async fn mark_notification_read(&self, user: &UserRow, id: i64) -> Result<()> {
        if self
            .store
            .mark_notification_read(user.tenant_id, user.id.0, id, self.now())
            .await?
        {
            Ok(())
        } else {
            Err(CaseError::NotFound("notification"))
        }
    }

    /// Marks every unread notification of the user read; returns how many.
    pub async fn mark_all_notifications_read(&self, user: &UserRow) -> Result<u64> {
        Ok(self
            .store
            .mark_all_notifications_read(user.tenant_id, user.id.0, self.now())
            .await?)
    }
}
