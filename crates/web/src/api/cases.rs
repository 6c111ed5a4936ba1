//! Cases over the API (issue 4): create (for an existing customer or one found or created
//! by email), read with messages, change, list by saved view with capped counts and keyset
//! pages, reply on the channel of origin, internal notes, transfer between teams, assign,
//! merge, macros, presence, attachments; and the rules behind them (teams, service-level
//! policies, calendars, escalation rules, triggers, macros, reply templates).
//!
//! Every route is scoped to the caller's tenant: another tenant's case answers 404 exactly
//! like a missing one. Internal notes and internal events appear only on staff routes; no
//! route here is reachable by a customer.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::{HeaderValue, StatusCode, header};
use axum::response::{IntoResponse, Response};
use base64::Engine;
use concierge_app::cases::{
    CaseDetail, CaseError, CasePatch, CustomerRef, NewCaseInput, ReplyInput, View,
};
use concierge_domain::followup::{CheckInRule, FollowUpRule};
use concierge_domain::rules::{Macro, Trigger};
use concierge_domain::sla::{Calendar, CalendarSpec, EscalationRule, Policy};
use concierge_domain::{CaseId, Permission};
use concierge_store::cases::NewAttachment;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

impl From<CaseError> for ApiError {
    fn from(e: CaseError) -> Self {
        match e {
            CaseError::Invalid(m) => ApiError::invalid(m),
            CaseError::NotFound(what) => ApiError::not_found(what),
            CaseError::State(m) => ApiError::new(StatusCode::CONFLICT, "invalid_state", m),
            CaseError::Store(s) => s.into(),
        }
    }
}

/// A case as the API shows it (JSON of the case row plus what belongs to it).
#[derive(Serialize, ToSchema)]
pub struct CaseOut {
    pub id: i64,
    /// The per-tenant number people quote (`#1234`).
    pub number: i64,
    pub subject: String,
    /// question, complaint, request, return, follow_up, or a tenant's own kind.
    pub kind: String,
    /// Where it came in: email, web, portal, phone, visit, letter, chat, api.
    pub channel: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub priority: String,
    /// The internal status (see `customer_label` for what the customer sees).
    pub status: String,
    pub customer_label: Option<String>,
    /// `customer_label` in every interface language, by language tag (`en`, `zh-CN`, `ko`).
    pub customer_labels: std::collections::BTreeMap<&'static str, String>,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub tags: Vec<String>,
    pub order_id: Option<i64>,
    /// The closed case this one follows up.
    pub parent_case_id: Option<i64>,
    /// Set when this case was merged into another.
    pub merged_into: Option<i64>,
    pub first_response_at: Option<i64>,
    /// When the earliest running target is due (epoch ms).
    pub next_due_at: Option<i64>,
    pub created_at: i64,
    pub updated_at: i64,
    pub solved_at: Option<i64>,
    pub closed_at: Option<i64>,
    /// Send it back with a change to refuse the change if someone else changed the case.
    pub version: i64,
    pub tier: Option<String>,
    /// The tenant's own fields (text, numbers, true/false).
    #[schema(value_type = Object)]
    pub custom_fields: serde_json::Value,
    /// The statuses the case may move to now.
    pub allowed_statuses: Vec<String>,
    #[schema(value_type = Vec<Object>)]
    pub messages: Vec<serde_json::Value>,
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<serde_json::Value>,
    /// Service-level targets with their state (running, at_risk, breached, paused, met).
    #[schema(value_type = Vec<Object>)]
    pub targets: Vec<serde_json::Value>,
    /// The case's path between teams.
    #[schema(value_type = Vec<Object>)]
    pub handoffs: Vec<serde_json::Value>,
    /// Other staff viewing or replying now.
    #[schema(value_type = Vec<Object>)]
    pub presence: Vec<serde_json::Value>,
}

fn values<T: Serialize>(v: &[T]) -> Vec<serde_json::Value> {
    v.iter()
        .filter_map(|x| serde_json::to_value(x).ok())
        .collect()
}

impl From<CaseDetail> for CaseOut {
    fn from(d: CaseDetail) -> Self {
        let customer_label = d.customer_label(concierge_domain::Locale::En).to_string();
        let c = d.case;
        CaseOut {
            id: c.id,
            number: c.number,
            subject: c.subject,
            kind: c.kind,
            channel: c.channel,
            customer_id: c.customer_id,
            customer_name: c.customer_name,
            priority: c.priority,
            status: c.status,
            customer_label: Some(customer_label),
            customer_labels: d.customer_labels,
            owner_id: c.owner_id,
            owner_name: c.owner_name,
            team_id: c.team_id,
            team_name: c.team_name,
            tags: c.tags,
            order_id: c.order_id,
            parent_case_id: c.parent_case_id,
            merged_into: c.merged_into,
            first_response_at: c.first_response_at,
            next_due_at: c.next_due_at,
            created_at: c.created_at,
            updated_at: c.updated_at,
            solved_at: c.solved_at,
            closed_at: c.closed_at,
            version: c.version,
            tier: d.tier,
            custom_fields: c.custom_fields,
            allowed_statuses: d.allowed_statuses,
            messages: values(&d.messages),
            events: values(&d.events),
            targets: values(&d.targets),
            handoffs: values(&d.handoffs),
            presence: values(&d.presence),
        }
    }
}

/// A case in a queue (without its thread).
#[derive(Serialize, ToSchema)]
pub struct CaseSummary {
    pub id: i64,
    pub number: i64,
    pub subject: String,
    pub kind: String,
    pub channel: String,
    pub customer_id: i64,
    pub customer_name: String,
    pub priority: String,
    pub status: String,
    pub owner_id: Option<i64>,
    pub owner_name: Option<String>,
    pub team_id: Option<i64>,
    pub team_name: Option<String>,
    pub tags: Vec<String>,
    pub next_due_at: Option<i64>,
    pub updated_at: i64,
    pub version: i64,
}

impl From<concierge_store::cases::CaseRow> for CaseSummary {
    fn from(c: concierge_store::cases::CaseRow) -> Self {
        CaseSummary {
            id: c.id,
            number: c.number,
            subject: c.subject,
            kind: c.kind,
            channel: c.channel,
            customer_id: c.customer_id,
            customer_name: c.customer_name,
            priority: c.priority,
            status: c.status,
            owner_id: c.owner_id,
            owner_name: c.owner_name,
            team_id: c.team_id,
            team_name: c.team_name,
            tags: c.tags,
            next_due_at: c.next_due_at,
            updated_at: c.updated_at,
            version: c.version,
        }
    }
}

/// The customer of a new case.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CustomerIn {
    pub email: String,
    pub name: Option<String>,
}

/// A file sent inline with a message.
#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AttachmentIn {
    pub filename: String,
    pub content_type: Option<String>,
    /// The bytes, base64 (standard alphabet).
    pub data_base64: String,
}

fn attachments(s: &AppState, list: &[AttachmentIn]) -> Result<Vec<NewAttachment>, ApiError> {
    if list.len() > concierge_app::attachments::MAX_ATTACHMENTS {
        return Err(ApiError::invalid(format!(
            "at most {} attachments per message",
            concierge_app::attachments::MAX_ATTACHMENTS
        )));
    }
    list.iter()
        .map(|a| {
            let bytes = base64::engine::general_purpose::STANDARD
                .decode(a.data_base64.as_bytes())
                .map_err(|_| {
                    ApiError::invalid(format!(
                        "the data of attachment {} is not base64",
                        concierge_domain::customer::preview(&a.filename, 40)
                    ))
                })?;
            concierge_app::attachments::store(
                &s.app,
                &a.filename,
                a.content_type.as_deref().unwrap_or(""),
                &bytes,
            )
            .map_err(|e| match e {
                concierge_app::attachments::AttachmentError::Invalid(m) => ApiError::invalid(m),
                other => {
                    tracing::error!(error = %other, "attachment storage failed");
                    ApiError::new(
                        StatusCode::INSUFFICIENT_STORAGE,
                        "storage_failed",
                        "the attachment could not be stored; nothing was changed, try again later",
                    )
                }
            })
        })
        .collect()
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NewCaseIn {
    pub subject: String,
    /// The customer's request, as they put it.
    pub body: String,
    /// email, web, portal, phone, visit, letter, chat or api (default api).
    pub channel: Option<String>,
    pub kind: Option<String>,
    /// low, normal (default), high, urgent.
    pub priority: Option<String>,
    /// An existing customer; or give `customer`.
    pub customer_id: Option<i64>,
    /// Found by email, or created.
    pub customer: Option<CustomerIn>,
    pub team_id: Option<i64>,
    pub owner_id: Option<i64>,
    #[serde(default)]
    pub tags: Vec<String>,
    pub order_id: Option<i64>,
    /// The tenant's own fields: names of a-z, 0-9, _ and -; text, numbers or true/false.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    #[serde(default)]
    pub attachments: Vec<AttachmentIn>,
}

/// Opens a case. The owner is picked by the team's strategy (or a manager for an abusive
/// customer) and the targets by the customer's tier, the priority and the channel.
#[utoipa::path(post, path = "/api/v1/cases", tag = "cases", request_body = NewCaseIn,
    responses((status = 201, body = CaseOut), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_case(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(b): ApiJson<NewCaseIn>,
) -> Result<(StatusCode, ApiJson<CaseOut>), ApiError> {
    require(&user, Permission::WorkCases)?;
    let customer = match (b.customer_id, b.customer) {
        (Some(id), None) => CustomerRef::Id(id),
        (None, Some(c)) => CustomerRef::Email {
            email: c.email,
            name: c.name,
        },
        _ => {
            return Err(ApiError::invalid(
                "give either customer_id or customer {email, name}",
            ));
        }
    };
    let input = NewCaseInput {
        subject: b.subject,
        body: b.body,
        channel: b.channel.unwrap_or_else(|| "api".into()),
        kind: b.kind,
        priority: b.priority,
        customer,
        team_id: b.team_id,
        owner_id: b.owner_id,
        tags: b.tags,
        order_id: b.order_id,
        parent_case_id: None,
        attachments: attachments(&s, &b.attachments)?,
    };
    if let Some(cf) = &b.custom_fields {
        concierge_app::cases::merge_custom_fields(&serde_json::json!({}), cf)?;
    }
    let mut d = s
        .app
        .create_case(
            user.tenant_id,
            concierge_app::cases::Actor::User(&user),
            &input,
        )
        .await?;
    if let Some(cf) = b.custom_fields.filter(|cf| !cf.is_empty()) {
        d = s
            .app
            .update_case(
                user.tenant_id,
                &user,
                CaseId(d.case.id),
                &CasePatch {
                    custom_fields: Some(cf),
                    ..CasePatch::default()
                },
            )
            .await?;
    }
    Ok((StatusCode::CREATED, ApiJson(CaseOut::from(d))))
}

#[derive(Deserialize, IntoParams)]
pub struct ListParams {
    /// mine, unassigned, breaching, handoff, open (default) or done.
    pub view: Option<String>,
    /// From `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// 1-100, default 50.
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct QueueOut {
    pub view: String,
    /// How many cases the view holds, counted up to 1000.
    pub count: i64,
    /// True when there are more than `count`.
    pub count_capped: bool,
    pub cases: Vec<CaseSummary>,
    pub next_cursor: Option<String>,
}

/// Lists a saved view, newest change first (breaching: soonest due first).
#[utoipa::path(get, path = "/api/v1/cases", tag = "cases", params(ListParams),
    responses((status = 200, body = QueueOut), (status = 422, body = ErrorBody)))]
pub async fn list_cases(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(p): ApiQuery<ListParams>,
) -> Result<ApiJson<QueueOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let view = View::parse(p.view.as_deref().unwrap_or("open"))?;
    let limit = p.limit.unwrap_or(50);
    if !(1..=100).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1-100"));
    }
    let page = s
        .app
        .queue(user.tenant_id, &user, view, p.cursor.as_deref(), limit)
        .await?;
    Ok(ApiJson(QueueOut {
        view: view.as_str().into(),
        count: page.count,
        count_capped: page.count_capped,
        cases: page.cases.into_iter().map(CaseSummary::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Serialize, ToSchema)]
pub struct QueueCount {
    pub view: String,
    pub count: i64,
    pub count_capped: bool,
}

/// Every saved view with its count (counted up to 1000).
#[utoipa::path(get, path = "/api/v1/queues", tag = "cases",
    responses((status = 200, body = Vec<QueueCount>)))]
pub async fn queues(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<Vec<QueueCount>>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let counts = s.app.queue_counts(user.tenant_id, &user).await?;
    Ok(ApiJson(
        counts
            .into_iter()
            .map(|(v, n, capped)| QueueCount {
                view: v.as_str().into(),
                count: n,
                count_capped: capped,
            })
            .collect(),
    ))
}

/// A case with its messages (internal notes included), events, targets, path and presence.
#[utoipa::path(get, path = "/api/v1/cases/{id}", tag = "cases",
    params(("id" = i64, Path, description = "case id")),
    responses((status = 200, body = CaseOut), (status = 404, body = ErrorBody)))]
pub async fn get_case(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<CaseOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let d = s.app.case_detail(user.tenant_id, CaseId(id), true).await?;
    Ok(ApiJson(CaseOut::from(d)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CasePatchIn {
    pub subject: Option<String>,
    /// A status the workflow allows from the current one.
    pub status: Option<String>,
    pub priority: Option<String>,
    pub kind: Option<String>,
    /// A user id; `null` unassigns (managers and admins may reassign others' cases).
    #[serde(default, with = "serde_with_double_option")]
    #[schema(value_type = Option<i64>)]
    pub owner_id: Option<Option<i64>>,
    #[serde(default)]
    pub add_tags: Vec<String>,
    #[serde(default)]
    pub remove_tags: Vec<String>,
    /// Custom fields to set; `null` removes one; fields not named are kept.
    #[schema(value_type = Option<Object>)]
    pub custom_fields: Option<serde_json::Map<String, serde_json::Value>>,
    /// The version you read; a change made since is refused with 409.
    pub version: Option<i64>,
}

/// `Option<Option<T>>` from JSON: absent → `None`, `null` → `Some(None)`.
mod serde_with_double_option {
    use serde::{Deserialize, Deserializer};
    pub fn deserialize<'de, D, T>(d: D) -> Result<Option<Option<T>>, D::Error>
    where
        D: Deserializer<'de>,
        T: Deserialize<'de>,
    {
        Option::<T>::deserialize(d).map(Some)
    }
}

/// Changes a case: status (as the workflow allows), priority, kind, subject, owner, tags.
#[utoipa::path(patch, path = "/api/v1/cases/{id}", tag = "cases", request_body = CasePatchIn,
    params(("id" = i64, Path, description = "case id")),
    responses((status = 200, body = CaseOut), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn patch_case(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<CasePatchIn>,
) -> Result<ApiJson<CaseOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    if let Some(owner) = b.owner_id {
        let current = s
            .app
            .store
            .case(user.tenant_id, CaseId(id))
            .await?
            .ok_or_else(|| ApiError::not_found("case"))?;
        // Agents may take a case or give up their own; moving others' cases is for managers.
        let own_move = owner == Some(user.id.0) && current.owner_id.is_none()
            || current.owner_id == Some(user.id.0);
        if !own_move {
            require(&user, Permission::ReassignCases)?;
        }
    }
    let patch = CasePatch {
        subject: b.subject,
        status: b.status,
        priority: b.priority,
        kind: b.kind,
        owner_id: b.owner_id,
        add_tags: b.add_tags,
        remove_tags: b.remove_tags,
        custom_fields: b.custom_fields,
        version: b.version,
    };
    let d = s
        .app
        .update_case(user.tenant_id, &user, CaseId(id), &patch)
        .await?;
    Ok(ApiJson(CaseOut::from(d)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MessageIn {
    /// The text (may be empty when `template_id` is given).
    #[serde(default)]
    pub body: String,
    /// An internal note, never shown to the customer.
    #[serde(default)]
    pub internal: bool,
    /// email, portal, letter_page, call_task, visit or chat; default: the channel of origin's.
    pub route: Option<String>,
    /// A reply template, filled in from the customer's profile.
    pub template_id: Option<i64>,
    /// A status to set with the reply (e.g. pending or solved).
    pub status: Option<String>,
    #[serde(default)]
    pub attachments: Vec<AttachmentIn>,
}

/// Adds a public reply (delivered on the channel of origin unless `route` says otherwise)
/// or an internal note.
#[utoipa::path(post, path = "/api/v1/cases/{id}/messages", tag = "cases", request_body = MessageIn,
    params(("id" = i64, Path, description = "case id")),
    responses((status = 201, body = CaseOut), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn add_message(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MessageIn>,
) -> Result<(StatusCode, ApiJson<CaseOut>), ApiError> {
    require(&user, Permission::WorkCases)?;
    if s.app
        .store
        .case(user.tenant_id, CaseId(id))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("case"));
    }
    let input = ReplyInput {
        body: b.body,
        internal: b.internal,
        route: b.route,
        template_id: b.template_id,
        status: b.status,
        attachments: attachments(&s, &b.attachments)?,
    };
    let d = s
        .app
        .reply(user.tenant_id, &user, CaseId(id), &input)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(CaseOut::from(d))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TransferIn {
    pub team_id: i64,
    /// Why the case goes to that team (shown on the case's path).
    pub reason: String,
}

/// Hands the case to another team with a reason; the hand-off gets its own internal target.
#[utoipa::path(post, path = "/api/v1/cases/{id}/transfer", tag = "cases", request_body = TransferIn,
    params(("id" = i64, Path, description = "case id")),
    responses((status = 200, body = CaseOut), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn transfer(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<TransferIn>,
) -> Result<ApiJson<CaseOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let d = s
        .app
        .transfer_case(user.tenant_id, &user, CaseId(id), b.team_id, &b.reason)
        .await?;
    Ok(ApiJson(CaseOut::from(d)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AssignIn {
    /// A user of this tenant; or leave out and set `auto`.
    pub owner_id: Option<i64>,
    /// Pick by the team's strategy (least-loaded for manual teams).
    #[serde(default)]
    pub auto: bool,
}

/// Assigns the case to a person, or automatically within its team.
#[utoipa::path(post, path = "/api/v1/cases/{id}/assign", tag = "cases", request_body = AssignIn,
    params(("id" = i64, Path, description = "case id")),
    responses((status = 200, body = CaseOut), (status = 403, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn assign(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<AssignIn>,
) -> Result<ApiJson<CaseOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let d = match (b.owner_id, b.auto) {
        (None, true) => s.app.auto_assign(user.tenant_id, &user, CaseId(id)).await?,
        (Some(o), false) => {
            if o != user.id.0 {
                require(&user, Permission::ReassignCases)?;
            }
            s.app
                .update_case(
                    user.tenant_id,
                    &user,
                    CaseId(id),
                    &CasePatch {
                        owner_id: Some(Some(o)),
                        ..CasePatch::default()
                    },
                )
                .await?
        }
        _ => return Err(ApiError::invalid("give either owner_id or auto: true")),
    };
    Ok(ApiJson(CaseOut::from(d)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MergeIn {
    /// The case this one is merged into.
    pub into: i64,
}

/// Merges this case into another: this one is closed and points there; both keep history.
#[utoipa::path(post, path = "/api/v1/cases/{id}/merge", tag = "cases", request_body = MergeIn,
    params(("id" = i64, Path, description = "case id")),
    responses((status = 200, body = CaseOut), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn merge(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MergeIn>,
) -> Result<ApiJson<CaseOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let d = s
        .app
        .merge_cases(user.tenant_id, &user, CaseId(id), CaseId(b.into))
        .await?;
    Ok(ApiJson(CaseOut::from(d)))
}

/// Applies a macro: its actions, then its reply.
#[utoipa::path(post, path = "/api/v1/cases/{id}/macros/{macro_id}", tag = "cases",
    params(("id" = i64, Path, description = "case id"), ("macro_id" = i64, Path, description = "macro id")),
    responses((status = 200, body = CaseOut), (status = 404, body = ErrorBody),
              (status = 409, body = ErrorBody)))]
pub async fn apply_macro(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath((id, macro_id)): ApiPath<(i64, i64)>,
) -> Result<ApiJson<CaseOut>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let d = s
        .app
        .apply_macro(user.tenant_id, &user, CaseId(id), macro_id)
        .await?;
    Ok(ApiJson(CaseOut::from(d)))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PresenceIn {
    /// True while writing a reply.
    #[serde(default)]
    pub replying: bool,
}

#[derive(Serialize, ToSchema)]
pub struct PresenceOut {
    pub user_id: i64,
    pub name: String,
    /// viewing or replying.
    pub mode: String,
    pub seen_at: i64,
}

/// Says "I am on this case" and returns who else is (collision detection).
#[utoipa::path(post, path = "/api/v1/cases/{id}/presence", tag = "cases", request_body = PresenceIn,
    params(("id" = i64, Path, description = "case id")),
    responses((status = 200, body = Vec<PresenceOut>), (status = 404, body = ErrorBody)))]
pub async fn presence(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<PresenceIn>,
) -> Result<ApiJson<Vec<PresenceOut>>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let others = s
        .app
        .case_presence(user.tenant_id, &user, CaseId(id), b.replying)
        .await?;
    Ok(ApiJson(
        others
            .into_iter()
            .map(|p| PresenceOut {
                user_id: p.user_id,
                name: p.name,
                mode: p.mode,
                seen_at: p.seen_at,
            })
            .collect(),
    ))
}

/// Downloads an attachment. Always as a download (`Content-Disposition: attachment`,
/// `nosniff`); active types (HTML, SVG, scripts) as `application/octet-stream`.
#[utoipa::path(get, path = "/api/v1/attachments/{id}", tag = "cases",
    params(("id" = i64, Path, description = "attachment id")),
    responses((status = 200, description = "the file"), (status = 404, body = ErrorBody)))]
pub async fn download_attachment(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<Response, ApiError> {
    require(&user, Permission::WorkCases)?;
    let (a, _visibility) = s
        .app
        .store
        .attachment(user.tenant_id, id)
        .await?
        .ok_or_else(|| ApiError::not_found("attachment"))?;
    attachment_response(&s, &a)
}

/// The download answer for an attachment row (shared with the console and the portal).
pub fn attachment_response(
    s: &AppState,
    a: &concierge_store::cases::AttachmentRow,
) -> Result<Response, ApiError> {
    let bytes = concierge_app::attachments::read(&s.app, &a.sha256).map_err(|e| {
        tracing::error!(error = %e, attachment = a.id, "attachment bytes missing");
        ApiError::not_found("attachment")
    })?;
    let dangerous = concierge_mail::sanitize::is_dangerous_filename(&a.filename, &a.content_type);
    let ct = if dangerous || a.content_type.starts_with("text/") {
        "application/octet-stream".to_string()
    } else {
        a.content_type.clone()
    };
    let ascii: String = a
        .filename
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._-".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    let encoded: String = a
        .filename
        .bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"._-".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect();
    let disposition = format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}");
    let mut resp = bytes.into_response();
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_str(&ct)
            .unwrap_or_else(|_| HeaderValue::from_static("application/octet-stream")),
    );
    h.insert(
        header::CONTENT_DISPOSITION,
        HeaderValue::from_str(&disposition)
            .unwrap_or_else(|_| HeaderValue::from_static("attachment")),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static("default-src 'none'; sandbox"),
    );
    Ok(resp)
}

// ---- teams ----

#[derive(Serialize, ToSchema)]
pub struct TeamOut {
    pub id: i64,
    pub name: String,
    pub manager_id: Option<i64>,
    /// manual, round_robin or least_loaded.
    pub assignment: String,
    /// The internal target for taking up a case handed to this team.
    pub handoff_mins: Option<i64>,
}

impl From<concierge_store::cases::TeamRow> for TeamOut {
    fn from(t: concierge_store::cases::TeamRow) -> Self {
        TeamOut {
            id: t.id,
            name: t.name,
            manager_id: t.manager_id,
            assignment: t.assignment,
            handoff_mins: t.handoff_mins,
        }
    }
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TeamIn {
    pub name: String,
    pub manager_id: Option<i64>,
    pub assignment: Option<String>,
    pub handoff_mins: Option<i64>,
}

/// The tenant's teams.
#[utoipa::path(get, path = "/api/v1/teams", tag = "teams",
    responses((status = 200, body = Vec<TeamOut>)))]
pub async fn list_teams(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<Vec<TeamOut>>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let teams = s.app.store.teams(user.tenant_id).await?;
    Ok(ApiJson(teams.into_iter().map(TeamOut::from).collect()))
}

/// Creates a team (department).
#[utoipa::path(post, path = "/api/v1/teams", tag = "teams", request_body = TeamIn,
    responses((status = 201, body = TeamOut), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_team(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(b): ApiJson<TeamIn>,
) -> Result<(StatusCode, ApiJson<TeamOut>), ApiError> {
    require(&user, Permission::ManageUsers)?;
    let name = b.name.trim();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid("a team name must be 1-100 characters"));
    }
    let strategy =
        concierge_domain::case::Strategy::parse(b.assignment.as_deref().unwrap_or("manual"))
            .map_err(|e| ApiError::invalid(e.to_string()))?;
    if let Some(m) = b.handoff_mins
        && !(1..=525_600).contains(&m)
    {
        return Err(ApiError::invalid("handoff_mins must be 1-525600"));
    }
    if let Some(m) = b.manager_id
        && s.app
            .store
            .user_by_id(user.tenant_id, concierge_domain::UserId(m))
            .await?
            .is_none()
    {
        return Err(ApiError::not_found("manager"));
    }
    let t = s
        .app
        .store
        .create_team(
            user.tenant_id,
            name,
            b.manager_id,
            strategy.as_str(),
            b.handoff_mins,
            s.app.now(),
        )
        .await?;
    Ok((StatusCode::CREATED, ApiJson(TeamOut::from(t))))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct MemberIn {
    pub user_id: i64,
    /// Most open cases by automatic assignment (none: no limit).
    pub cap: Option<i64>,
    /// On shift and taking cases (default true).
    pub available: Option<bool>,
}

#[derive(Serialize, ToSchema)]
pub struct MemberOut {
    pub user_id: i64,
    pub name: String,
    pub cap: Option<i64>,
    pub available: bool,
    pub open_cases: i64,
}

/// Adds a member to a team, or changes their cap and availability; returns the members.
#[utoipa::path(post, path = "/api/v1/teams/{id}/members", tag = "teams", request_body = MemberIn,
    params(("id" = i64, Path, description = "team id")),
    responses((status = 200, body = Vec<MemberOut>), (status = 404, body = ErrorBody)))]
pub async fn set_member(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(b): ApiJson<MemberIn>,
) -> Result<ApiJson<Vec<MemberOut>>, ApiError> {
    require(&user, Permission::ManageUsers)?;
    if let Some(c) = b.cap
        && !(0..=10_000).contains(&c)
    {
        return Err(ApiError::invalid("cap must be 0-10000"));
    }
    if s.app.store.team(user.tenant_id, id).await?.is_none() {
        return Err(ApiError::not_found("team"));
    }
    if s.app
        .store
        .user_by_id(user.tenant_id, concierge_domain::UserId(b.user_id))
        .await?
        .is_none()
    {
        return Err(ApiError::not_found("user"));
    }
    s.app
        .store
        .set_team_member(
            user.tenant_id,
            id,
            b.user_id,
            b.cap,
            b.available.unwrap_or(true),
        )
        .await?;
    let workflow = s.app.workflow(user.tenant_id).await?;
    let open = concierge_app::cases::open_statuses(&workflow);
    let refs: Vec<&str> = open.iter().map(String::as_str).collect();
    let members = s.app.store.team_members(user.tenant_id, id, &refs).await?;
    Ok(ApiJson(
        members
            .into_iter()
            .map(|m| MemberOut {
                user_id: m.user_id,
                name: m.name,
                cap: m.cap,
                available: m.available,
                open_cases: m.open_cases,
            })
            .collect(),
    ))
}

// ---- rules: policies, calendar, escalations, triggers, macros, templates ----

#[derive(Serialize, ToSchema)]
pub struct DefinitionOut {
    pub id: i64,
    pub name: String,
    pub event: Option<String>,
    /// The definition as JSON.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
    pub position: i64,
    pub active: bool,
}

#[derive(Deserialize, IntoParams)]
pub struct KindParam {
    /// sla_policy, calendar, escalation_rule, trigger, macro, followup or checkin.
    pub kind: String,
}

const DEFINITION_KINDS: [&str; 7] = [
    "sla_policy",
    "calendar",
    "escalation_rule",
    "trigger",
    "macro",
    "followup",
    "checkin",
];

const KINDS_HINT: &str =
    "kind must be sla_policy, calendar, escalation_rule, trigger, macro, followup or checkin";

/// The tenant's definitions of one kind.
#[utoipa::path(get, path = "/api/v1/rules", tag = "rules", params(KindParam),
    responses((status = 200, body = Vec<DefinitionOut>), (status = 422, body = ErrorBody)))]
pub async fn list_rules(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(p): ApiQuery<KindParam>,
) -> Result<ApiJson<Vec<DefinitionOut>>, ApiError> {
    require(&user, Permission::WorkCases)?;
    if !DEFINITION_KINDS.contains(&p.kind.as_str()) {
        return Err(ApiError::invalid(KINDS_HINT));
    }
    let rows = s.app.store.definitions(user.tenant_id, &p.kind).await?;
    Ok(ApiJson(
        rows.into_iter()
            .map(|r| DefinitionOut {
                id: r.id,
                name: r.name,
                event: r.event,
                spec: serde_json::from_str(&r.spec).unwrap_or(serde_json::Value::Null),
                position: r.position,
                active: r.active,
            })
            .collect(),
    ))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct DefinitionIn {
    /// sla_policy, calendar, escalation_rule, trigger, macro, followup or checkin.
    pub kind: String,
    /// The definition: a policy `{name, tier, priority, channel, first_response_mins,
    /// next_response_mins, resolution_mins}`; a calendar `{time_zone, hours: {"mon":
    /// ["09:00-18:00"]}, holidays: ["2026-12-25"]}`; an escalation rule `{target, percent,
    /// level, actions: [{"type": "notify_owner"}]}`; a trigger `{name, event, conditions:
    /// [{"op": ...}], actions: [{"action": ...}], position, active}`; a macro `{name,
    /// actions, reply_template}`; a follow-up after a solve `{name, kinds: ["complaint"], tiers:
    /// ["Platinum"], days, channel: "call"}` (first match wins, in position order); a
    /// check-in `{name, tier, every_days, channel}`. Follow-up and check-in rules replace the
    /// defaults (complaints: 3 days for Platinum/Gold, else 7; check-ins Platinum every 30
    /// days, Gold every 90) once a tenant has any.
    #[schema(value_type = Object)]
    pub spec: serde_json::Value,
}

/// Validates and stores a definition; the rules take effect on the next action.
#[utoipa::path(post, path = "/api/v1/rules", tag = "rules", request_body = DefinitionIn,
    responses((status = 201, body = DefinitionOut), (status = 422, body = ErrorBody)))]
pub async fn create_rule(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(b): ApiJson<DefinitionIn>,
) -> Result<(StatusCode, ApiJson<DefinitionOut>), ApiError> {
    require(&user, Permission::ManageRules)?;
    let bad = |e: serde_json::Error| ApiError::invalid(format!("the {} is malformed: {e}", b.kind));
    let mut event = None;
    let mut position = 0;
    let (name, spec) = match b.kind.as_str() {
        "sla_policy" => {
            let mut p: Policy = serde_json::from_value(with_id(&b.spec)).map_err(bad)?;
            p.id = 0;
            p.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
            (p.name.clone(), serde_json::to_string(&p))
        }
        "calendar" => {
            let c: CalendarSpec = serde_json::from_value(b.spec.clone()).map_err(bad)?;
            let tz = jiff::tz::TimeZone::get(&c.time_zone).map_err(|_| {
                ApiError::invalid(format!(
                    "{} is not a time zone (use an IANA name such as Asia/Shanghai)",
                    concierge_domain::customer::preview(&c.time_zone, 40)
                ))
            })?;
            Calendar::new(tz, &c).map_err(|e| ApiError::invalid(e.to_string()))?;
            // One business-hours calendar per tenant: a new one replaces the old.
            for old in s.app.store.definitions(user.tenant_id, "calendar").await? {
                s.app
                    .store
                    .delete_definition(user.tenant_id, "calendar", old.id)
                    .await?;
            }
            (c.time_zone.clone(), serde_json::to_string(&c))
        }
        "escalation_rule" => {
            let mut r: EscalationRule = serde_json::from_value(with_id(&b.spec)).map_err(bad)?;
            r.id = 0;
            r.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
            position = i64::from(r.percent);
            (
                format!("{} at {}%", r.target.as_str(), r.percent),
                serde_json::to_string(&r),
            )
        }
        "trigger" => {
            let mut t: Trigger = serde_json::from_value(with_id(&b.spec)).map_err(bad)?;
            t.id = 0;
            t.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
            let rules = s.app.case_rules(user.tenant_id).await?;
            t.check_statuses(&rules.workflow)
                .map_err(|e| ApiError::invalid(e.to_string()))?;
            event = Some(t.event.as_str().to_string());
            position = i64::from(t.position);
            (t.name.clone(), serde_json::to_string(&t))
        }
        "macro" => {
            let mut m: Macro = serde_json::from_value(with_id(&b.spec)).map_err(bad)?;
            m.id = 0;
            m.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
            (m.name.clone(), serde_json::to_string(&m))
        }
        "followup" => {
            let mut r: FollowUpRule = serde_json::from_value(with_id(&b.spec)).map_err(bad)?;
            r.id = 0;
            r.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
            (r.name.clone(), serde_json::to_string(&r))
        }
        "checkin" => {
            let mut r: CheckInRule = serde_json::from_value(with_id(&b.spec)).map_err(bad)?;
            r.id = 0;
            r.validate().map_err(|e| ApiError::invalid(e.to_string()))?;
            (r.name.clone(), serde_json::to_string(&r))
        }
        _ => return Err(ApiError::invalid(KINDS_HINT)),
    };
    let spec = spec.map_err(|e| ApiError::invalid(e.to_string()))?;
    let id = s
        .app
        .store
        .add_definition(
            user.tenant_id,
            &b.kind,
            &name,
            event.as_deref(),
            &spec,
            position,
            s.app.now(),
        )
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(DefinitionOut {
            id,
            name,
            event,
            spec: serde_json::from_str(&spec).unwrap_or(serde_json::Value::Null),
            position,
            active: true,
        }),
    ))
}

/// The spec with an `id` field (the domain types carry one; the store assigns it).
fn with_id(v: &serde_json::Value) -> serde_json::Value {
    let mut v = v.clone();
    if let Some(o) = v.as_object_mut() {
        o.entry("id").or_insert(serde_json::json!(0));
    }
    v
}

/// Deletes a definition.
#[utoipa::path(delete, path = "/api/v1/rules/{id}", tag = "rules", params(KindParam,
    ("id" = i64, Path, description = "definition id")),
    responses((status = 204), (status = 404, body = ErrorBody)))]
pub async fn delete_rule(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(p): ApiQuery<KindParam>,
) -> Result<StatusCode, ApiError> {
    require(&user, Permission::ManageRules)?;
    if s.app
        .store
        .delete_definition(user.tenant_id, &p.kind, id)
        .await?
    {
        Ok(StatusCode::NO_CONTENT)
    } else {
        Err(ApiError::not_found("rule"))
    }
}

#[derive(Serialize, ToSchema)]
pub struct TemplateOut {
    pub id: i64,
    pub name: String,
    /// With placeholders such as `{{customer.first_name}}` or `{{pref.drink|a drink}}`.
    pub body: String,
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct TemplateIn {
    pub name: String,
    pub body: String,
}

/// Reply templates.
#[utoipa::path(get, path = "/api/v1/templates", tag = "rules",
    responses((status = 200, body = Vec<TemplateOut>)))]
pub async fn list_templates(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
) -> Result<ApiJson<Vec<TemplateOut>>, ApiError> {
    require(&user, Permission::WorkCases)?;
    let list = s.app.store.templates(user.tenant_id).await?;
    Ok(ApiJson(
        list.into_iter()
            .map(|t| TemplateOut {
                id: t.id,
                name: t.name,
                body: t.body,
            })
            .collect(),
    ))
}

/// Adds a reply template (checked: placeholders must parse).
#[utoipa::path(post, path = "/api/v1/templates", tag = "rules", request_body = TemplateIn,
    responses((status = 201, body = TemplateOut), (status = 409, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn create_template(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiJson(b): ApiJson<TemplateIn>,
) -> Result<(StatusCode, ApiJson<TemplateOut>), ApiError> {
    require(&user, Permission::ManageRules)?;
    let name = b.name.trim().to_string();
    if name.is_empty() || name.chars().count() > 100 {
        return Err(ApiError::invalid(
            "a template name must be 1-100 characters",
        ));
    }
    concierge_domain::case::body(&b.body).map_err(|e| ApiError::invalid(e.to_string()))?;
    concierge_domain::personalize::Template::parse(&b.body)
        .map_err(|e| ApiError::invalid(e.to_string()))?;
    let id = s
        .app
        .store
        .add_template(user.tenant_id, &name, &b.body, s.app.now())
        .await?;
    Ok((
        StatusCode::CREATED,
        ApiJson(TemplateOut {
            id,
            name,
            body: b.body,
        }),
    ))
}
