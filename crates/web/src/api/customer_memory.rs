//! Customer memory over the API (issue 3): search, the profile (read and change),
//! preferences with provenance ("remember this"), notes, flags, the timeline, and rendering a
//! personalised message. Every route is scoped to the caller's tenant: another tenant's
//! customer id answers 404, exactly like a missing one.

use crate::auth::{ApiStaff, require};
use crate::error::{ApiError, ApiJson, ApiPath, ApiQuery, ErrorBody};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use concierge_app::customers::{ContactInput, CustomerError, ProfilePatch, Remember};
use concierge_domain::personalize::Escape;
use concierge_domain::{CustomerId, Permission};
use concierge_store::memory::{
    ContactRow, CustomerProfile, FlagRow, HouseholdLink, NoteRow, PrefChange, PreferenceRow,
    TimelineItem,
};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

use super::customers::CustomerOut;

impl From<CustomerError> for ApiError {
    fn from(e: CustomerError) -> Self {
        match e {
            CustomerError::Invalid(m) => ApiError::invalid(m),
            CustomerError::NotFound => ApiError::not_found("customer"),
            CustomerError::Store(s) => s.into(),
        }
    }
}

#[derive(Deserialize, IntoParams)]
pub struct CustomerQuery {
    /// An email address to look up (exact, normalised).
    pub email: Option<String>,
    /// Text to search for: part of a name (any script; case- and accent-insensitive for
    /// Latin), an email address, a phone number or an external id.
    pub q: Option<String>,
    /// Most results (1-200, default 50).
    pub limit: Option<i64>,
}

/// Finds customers by `q` (name, email, phone, external id) or `email`; without either, the
/// first customers by name.
#[utoipa::path(get, path = "/api/v1/customers", tag = "customers", params(CustomerQuery),
    responses((status = 200, body = Vec<CustomerOut>), (status = 422, body = ErrorBody)))]
pub async fn list_customers(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiQuery(q): ApiQuery<CustomerQuery>,
) -> Result<ApiJson<Vec<CustomerOut>>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let limit = q.limit.unwrap_or(50);
    if !(1..=200).contains(&limit) {
        return Err(ApiError::invalid("limit must be 1-200"));
    }
    let mut out = Vec::new();
    if let Some(email) = q.email {
        // The same normalised lookup inbound mail uses; an address that is not one finds
        // nobody.
        if let Ok(keys) = concierge_app::identity::ContactKeys::parse(Some(&email), None, None)
            && let Some(id) = s.app.find_customer(user.tenant_id, &keys).await?
            && let Some(c) = s.app.store.customer(user.tenant_id, id).await?
        {
            out.push(CustomerOut::from(c));
        }
    } else if let Some(text) = q.q {
        for c in s.app.search_customers(user.tenant_id, &text, limit).await? {
            out.push(CustomerOut::from(c));
        }
    } else {
        for c in s.app.store.list_customers(user.tenant_id, limit).await? {
            out.push(CustomerOut::from(c));
        }
    }
    Ok(ApiJson(out))
}

#[derive(Serialize, ToSchema)]
pub struct ContactOut {
    pub id: i64,
    /// email, phone or address.
    pub kind: String,
    /// As written.
    pub value: String,
    /// Lower-cased email, E.164 phone.
    pub normalized: String,
    pub primary: bool,
    pub verified: bool,
}

impl From<ContactRow> for ContactOut {
    fn from(c: ContactRow) -> Self {
        ContactOut {
            id: c.id,
            kind: c.kind,
            value: c.value,
            normalized: c.normalized,
            primary: c.primary,
            verified: c.verified,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct HouseholdOut {
    pub id: i64,
    pub name: String,
    /// The customer's role in it (e.g. head, member).
    pub role: String,
    pub address: Option<String>,
    pub size: Option<i64>,
}

impl From<HouseholdLink> for HouseholdOut {
    fn from(h: HouseholdLink) -> Self {
        HouseholdOut {
            id: h.id,
            name: h.name,
            role: h.role,
            address: h.address,
            size: h.size,
        }
    }
}

/// A preference with its provenance.
#[derive(Serialize, ToSchema)]
pub struct PreferenceOut {
    pub id: i64,
    pub key: String,
    pub value: String,
    /// agent, customer, email, order or import.
    pub source: String,
    /// Where it was learned, if recorded (e.g. "check-in call").
    pub learned_from: Option<String>,
    /// The user who recorded it.
    pub recorded_by: Option<i64>,
    pub recorded_by_name: Option<String>,
    /// When it was learned (epoch ms).
    pub learned_at: i64,
    /// When it was last confirmed (epoch ms).
    pub confirmed_at: i64,
    /// Apply every time without asking.
    pub standing: bool,
    /// false for a superseded (historical) value.
    pub active: bool,
    pub superseded_at: Option<i64>,
    pub superseded_by: Option<i64>,
}

impl From<PreferenceRow> for PreferenceOut {
    fn from(p: PreferenceRow) -> Self {
        PreferenceOut {
            id: p.id,
            key: p.key,
            value: p.value,
            source: p.source,
            learned_from: p.learned_from,
            recorded_by: p.recorded_by,
            recorded_by_name: p.recorded_by_name,
            learned_at: p.learned_at,
            confirmed_at: p.confirmed_at,
            standing: p.standing,
            active: p.active,
            superseded_at: p.superseded_at,
            superseded_by: p.superseded_by,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct NoteOut {
    pub id: i64,
    pub body: String,
    pub pinned: bool,
    pub author_id: Option<i64>,
    pub author_name: Option<String>,
    pub created_at: i64,
}

impl From<NoteRow> for NoteOut {
    fn from(n: NoteRow) -> Self {
        NoteOut {
            id: n.id,
            body: n.body,
            pinned: n.pinned,
            author_id: n.author_id,
            author_name: n.author_name,
            created_at: n.created_at,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct FlagOut {
    pub id: i64,
    /// vip, abusive or fraud_suspect.
    pub flag: String,
    pub reason: String,
    pub set_by: Option<i64>,
    pub set_by_name: Option<String>,
    pub set_at: i64,
    pub cleared_by: Option<i64>,
    /// Set when the flag was cleared; such rows appear only with history.
    pub cleared_at: Option<i64>,
}

impl From<FlagRow> for FlagOut {
    fn from(f: FlagRow) -> Self {
        FlagOut {
            id: f.id,
            flag: f.flag,
            reason: f.reason,
            set_by: f.set_by,
            set_by_name: f.set_by_name,
            set_at: f.set_at,
            cleared_by: f.cleared_by,
            cleared_at: f.cleared_at,
        }
    }
}

/// A customer's whole profile: what is known, and where it came from.
#[derive(Serialize, ToSchema)]
pub struct ProfileOut {
    pub id: i64,
    pub name: String,
    /// The primary email address.
    pub email: Option<String>,
    /// The primary phone number (E.164).
    pub phone: Option<String>,
    pub external_id: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// YYYY-MM-DD.
    pub birthday: Option<String>,
    pub language: Option<String>,
    /// IANA time zone, e.g. Asia/Seoul.
    pub time_zone: Option<String>,
    /// email, phone, sms, letter, portal or visit.
    pub preferred_channel: Option<String>,
    pub created_at: i64,
    pub updated_at: i64,
    pub contacts: Vec<ContactOut>,
    pub households: Vec<HouseholdOut>,
    pub tags: Vec<String>,
    /// Current preferences with their provenance.
    pub preferences: Vec<PreferenceOut>,
    /// Flags set now.
    pub flags: Vec<FlagOut>,
    /// Pinned notes.
    pub pinned_notes: Vec<NoteOut>,
    /// Set when this customer was merged into another: read that one instead.
    pub merged_into: Option<i64>,
    /// Set (epoch ms) when this customer's personal data was erased.
    pub erased_at: Option<i64>,
}

async fn profile_out(
    s: &AppState,
    user: &concierge_store::UserRow,
    id: CustomerId,
) -> Result<ProfileOut, ApiError> {
    let tenant = user.tenant_id;
    let p: CustomerProfile = s.app.customer_profile(tenant, id).await?;
    let preferences = s.app.preferences(tenant, id, false).await?;
    let flags = s.app.customer_flags(tenant, id, false).await?;
    let notes = s.app.customer_notes(tenant, id).await?;
    let primary = |kind: &str| {
        p.contacts
            .iter()
            .find(|c| c.kind == kind && c.primary)
            .map(|c| {
                if kind == "phone" {
                    c.normalized.clone()
                } else {
                    c.value.clone()
                }
            })
    };
    Ok(ProfileOut {
        merged_into: p.merged_into,
        erased_at: p.erased_at,
        id: p.id.0,
        email: primary("email"),
        phone: primary("phone"),
        name: p.display_name,
        external_id: p.external_id,
        given_name: p.given_name,
        family_name: p.family_name,
        birthday: p.birthday,
        language: p.language,
        time_zone: p.time_zone,
        preferred_channel: p.preferred_channel,
        created_at: p.created_at,
        updated_at: p.updated_at,
        contacts: p.contacts.into_iter().map(ContactOut::from).collect(),
        households: p.households.into_iter().map(HouseholdOut::from).collect(),
        tags: p.tags,
        preferences: preferences.into_iter().map(PreferenceOut::from).collect(),
        flags: flags.into_iter().map(FlagOut::from).collect(),
        pinned_notes: notes
            .into_iter()
            .filter(|n| n.pinned)
            .map(NoteOut::from)
            .collect(),
    })
}

/// One customer's profile: contacts, households, tags, current preferences with provenance,
/// flags and pinned notes.
#[utoipa::path(get, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "customer id")),
    responses((status = 200, body = ProfileOut), (status = 404, body = ErrorBody)))]
pub async fn get_customer(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<ProfileOut>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    Ok(ApiJson(profile_out(&s, &user, CustomerId(id)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ContactIn {
    /// email, phone or address.
    pub kind: String,
    /// Phones: international form (+82 10 1234 5678), or national when the customer's
    /// language names a country (ko, zh, ja, en-US).
    pub value: String,
    #[serde(default)]
    pub primary: bool,
    #[serde(default)]
    pub verified: bool,
}

/// A change to a profile. A field left out (or null) stays as it is; an empty string clears
/// it. `contacts` and `tags`, when sent, replace the whole list.
#[derive(Deserialize, ToSchema, Default)]
#[serde(deny_unknown_fields)]
pub struct ProfilePatchIn {
    pub name: Option<String>,
    pub given_name: Option<String>,
    pub family_name: Option<String>,
    /// YYYY-MM-DD.
    pub birthday: Option<String>,
    /// A language tag such as en, zh-CN, ko.
    pub language: Option<String>,
    /// An IANA time zone such as Asia/Seoul.
    pub time_zone: Option<String>,
    /// email, phone, sms, letter, portal or visit.
    pub preferred_channel: Option<String>,
    pub contacts: Option<Vec<ContactIn>>,
    pub tags: Option<Vec<String>>,
}

/// Changes a customer's profile (names, birthday, language, time zone, preferred channel,
/// contacts, tags).
#[utoipa::path(patch, path = "/api/v1/customers/{id}", tag = "customers",
    params(("id" = i64, Path, description = "customer id")), request_body = ProfilePatchIn,
    responses((status = 200, body = ProfileOut), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn patch_customer(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<ProfilePatchIn>,
) -> Result<ApiJson<ProfileOut>, ApiError> {
    require(&user, Permission::WriteCustomers)?;
    let patch = ProfilePatch {
        name: body.name,
        given_name: body.given_name,
        family_name: body.family_name,
        birthday: body.birthday,
        language: body.language,
        time_zone: body.time_zone,
        preferred_channel: body.preferred_channel,
        contacts: body.contacts.map(|cs| {
            cs.into_iter()
                .map(|c| ContactInput {
                    kind: c.kind,
                    value: c.value,
                    primary: c.primary,
                    verified: c.verified,
                })
                .collect()
        }),
        tags: body.tags,
    };
    s.app.update_customer(&user, CustomerId(id), &patch).await?;
    Ok(ApiJson(profile_out(&s, &user, CustomerId(id)).await?))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PreferenceIn {
    /// 1-64 characters of a-z, 0-9, '.', '_', '-' (normalised to lower case), e.g. drink.
    pub key: String,
    /// 1-1,000 characters, e.g. tea.
    pub value: String,
    /// A standing instruction: apply every time without asking.
    #[serde(default)]
    pub standing: bool,
    /// agent (default), customer, email, order or import.
    pub source: Option<String>,
    /// Where it was learned, e.g. "check-in call" or "case #12".
    pub learned_from: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct PreferenceRecorded {
    /// created, changed (the old value is kept as history) or confirmed (same value).
    pub change: String,
    pub preference: PreferenceOut,
}

/// "Remember this": records a preference with who, when and where it was learned. A new
/// value supersedes the old one, which is kept as history. 201 when something new was
/// learned; 200 when the same value was confirmed.
#[utoipa::path(post, path = "/api/v1/customers/{id}/preferences", tag = "customers",
    params(("id" = i64, Path, description = "customer id")), request_body = PreferenceIn,
    responses((status = 201, body = PreferenceRecorded), (status = 200, body = PreferenceRecorded),
              (status = 404, body = ErrorBody), (status = 413, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn record_preference(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<PreferenceIn>,
) -> Result<(StatusCode, ApiJson<PreferenceRecorded>), ApiError> {
    require(&user, Permission::WriteCustomers)?;
    let (row, change) = s
        .app
        .remember(
            &user,
            CustomerId(id),
            &Remember {
                key: body.key,
                value: body.value,
                standing: body.standing,
                source: body.source,
                learned_from: body.learned_from,
            },
        )
        .await?;
    let status = if change == PrefChange::Confirmed {
        StatusCode::OK
    } else {
        StatusCode::CREATED
    };
    let change = match change {
        PrefChange::Created => "created",
        PrefChange::Changed => "changed",
        PrefChange::Confirmed => "confirmed",
    };
    Ok((
        status,
        ApiJson(PreferenceRecorded {
            change: change.into(),
            preference: row.into(),
        }),
    ))
}

#[derive(Deserialize, IntoParams)]
pub struct HistoryQuery {
    /// Also list superseded values (or cleared flags).
    #[serde(default)]
    pub history: bool,
}

/// A customer's preferences: the current ones, or with `history=true` every value ever
/// recorded (each key's current value first).
#[utoipa::path(get, path = "/api/v1/customers/{id}/preferences", tag = "customers",
    params(("id" = i64, Path, description = "customer id"), HistoryQuery),
    responses((status = 200, body = Vec<PreferenceOut>), (status = 404, body = ErrorBody)))]
pub async fn list_preferences(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<ApiJson<Vec<PreferenceOut>>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let rows = s
        .app
        .preferences(user.tenant_id, CustomerId(id), q.history)
        .await?;
    Ok(ApiJson(rows.into_iter().map(PreferenceOut::from).collect()))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct NoteIn {
    /// 1-10,000 characters.
    pub body: String,
    #[serde(default)]
    pub pinned: bool,
}

/// Adds a note about a customer.
#[utoipa::path(post, path = "/api/v1/customers/{id}/notes", tag = "customers",
    params(("id" = i64, Path, description = "customer id")), request_body = NoteIn,
    responses((status = 201, body = NoteOut), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn add_note(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<NoteIn>,
) -> Result<(StatusCode, ApiJson<NoteOut>), ApiError> {
    require(&user, Permission::WriteCustomers)?;
    let n = s
        .app
        .add_customer_note(&user, CustomerId(id), &body.body, body.pinned)
        .await?;
    Ok((StatusCode::CREATED, ApiJson(n.into())))
}

/// A customer's notes, pinned first, then newest first.
#[utoipa::path(get, path = "/api/v1/customers/{id}/notes", tag = "customers",
    params(("id" = i64, Path, description = "customer id")),
    responses((status = 200, body = Vec<NoteOut>), (status = 404, body = ErrorBody)))]
pub async fn list_notes(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
) -> Result<ApiJson<Vec<NoteOut>>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let notes = s.app.customer_notes(user.tenant_id, CustomerId(id)).await?;
    Ok(ApiJson(notes.into_iter().map(NoteOut::from).collect()))
}

fn default_true() -> bool {
    true
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct FlagIn {
    /// vip, abusive (route to a manager) or fraud_suspect.
    pub flag: String,
    /// true (default) sets the flag; false clears it.
    #[serde(default = "default_true")]
    pub set: bool,
    /// Why; required when setting.
    pub reason: Option<String>,
}

/// Sets or clears a flag on a customer. 201 with the flag when set (an already-set flag is
/// answered as it is); 200 with the cleared flag, or null if it was not set.
#[utoipa::path(post, path = "/api/v1/customers/{id}/flags", tag = "customers",
    params(("id" = i64, Path, description = "customer id")), request_body = FlagIn,
    responses((status = 201, body = FlagOut), (status = 200, body = FlagOut),
              (status = 404, body = ErrorBody), (status = 422, body = ErrorBody)))]
pub async fn set_flag(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<FlagIn>,
) -> Result<(StatusCode, ApiJson<Option<FlagOut>>), ApiError> {
    require(&user, Permission::WriteCustomers)?;
    let row = s
        .app
        .set_customer_flag(
            &user,
            CustomerId(id),
            &body.flag,
            body.set,
            body.reason.as_deref(),
        )
        .await?;
    let status = if body.set {
        StatusCode::CREATED
    } else {
        StatusCode::OK
    };
    Ok((status, ApiJson(row.map(FlagOut::from))))
}

/// A customer's flags: the ones set now, or with `history=true` also cleared ones.
#[utoipa::path(get, path = "/api/v1/customers/{id}/flags", tag = "customers",
    params(("id" = i64, Path, description = "customer id"), HistoryQuery),
    responses((status = 200, body = Vec<FlagOut>), (status = 404, body = ErrorBody)))]
pub async fn list_flags(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<HistoryQuery>,
) -> Result<ApiJson<Vec<FlagOut>>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let flags = s
        .app
        .customer_flags(user.tenant_id, CustomerId(id), q.history)
        .await?;
    Ok(ApiJson(flags.into_iter().map(FlagOut::from).collect()))
}

#[derive(Deserialize, IntoParams)]
pub struct TimelineQuery {
    /// Only this kind: preference, note, flag, profile, order, case, ...
    pub kind: Option<String>,
    /// The `next_cursor` of the previous page.
    pub cursor: Option<String>,
    /// Items per page (1-200, default 50).
    pub limit: Option<i64>,
}

#[derive(Serialize, ToSchema)]
pub struct TimelineItemOut {
    pub kind: String,
    /// Epoch ms.
    pub at: i64,
    /// The user who did it, if any.
    pub actor_id: Option<i64>,
    pub ref_kind: Option<String>,
    pub ref_id: Option<i64>,
    /// What happened, by kind (e.g. key/value/previous for a preference).
    #[schema(value_type = Object)]
    pub summary: serde_json::Value,
}

impl From<TimelineItem> for TimelineItemOut {
    fn from(i: TimelineItem) -> Self {
        TimelineItemOut {
            kind: i.kind,
            at: i.at,
            actor_id: i.actor_id,
            ref_kind: i.ref_kind,
            ref_id: i.ref_id,
            summary: i.summary,
        }
    }
}

#[derive(Serialize, ToSchema)]
pub struct TimelineOut {
    pub items: Vec<TimelineItemOut>,
    /// Pass as `cursor` for the next (older) page; null on the last page.
    pub next_cursor: Option<String>,
}

/// A customer's timeline, newest first: preference changes, notes, flags, profile changes,
/// orders and cases. Paginated by cursor.
#[utoipa::path(get, path = "/api/v1/customers/{id}/timeline", tag = "customers",
    params(("id" = i64, Path, description = "customer id"), TimelineQuery),
    responses((status = 200, body = TimelineOut), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn timeline(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiQuery(q): ApiQuery<TimelineQuery>,
) -> Result<ApiJson<TimelineOut>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let page = s
        .app
        .customer_timeline(
            user.tenant_id,
            CustomerId(id),
            q.kind.as_deref(),
            q.cursor.as_deref(),
            q.limit,
        )
        .await?;
    Ok(ApiJson(TimelineOut {
        items: page.items.into_iter().map(TimelineItemOut::from).collect(),
        next_cursor: page.next_cursor,
    }))
}

#[derive(Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct RenderIn {
    /// e.g. `Good morning {{customer.first_name}}, your {{pref.drink | "coffee"}} is on the way`.
    pub template: String,
    /// text (default) or html: how filled-in values are escaped.
    pub format: Option<String>,
}

#[derive(Serialize, ToSchema)]
pub struct RenderOut {
    pub output: String,
    /// Fields the profile had no value for (their fallback, or nothing, was used).
    pub missing: Vec<String>,
}

/// Renders a personalisation template with what the customer's profile knows (names, age,
/// household, tier, preferences). A missing value renders its fallback, never the placeholder.
#[utoipa::path(post, path = "/api/v1/customers/{id}/render", tag = "customers",
    params(("id" = i64, Path, description = "customer id")), request_body = RenderIn,
    responses((status = 200, body = RenderOut), (status = 404, body = ErrorBody),
              (status = 422, body = ErrorBody)))]
pub async fn render(
    State(s): State<AppState>,
    ApiStaff(user): ApiStaff,
    ApiPath(id): ApiPath<i64>,
    ApiJson(body): ApiJson<RenderIn>,
) -> Result<ApiJson<RenderOut>, ApiError> {
    require(&user, Permission::ReadCustomers)?;
    let escape = match body.format.as_deref().unwrap_or("text") {
        "text" => Escape::Text,
        "html" => Escape::Html,
        _ => return Err(ApiError::invalid("format must be text or html")),
    };
    let r = s
        .app
        .render_for_customer(user.tenant_id, CustomerId(id), &body.template, escape)
        .await?;
    Ok(ApiJson(RenderOut {
        output: r.output,
        missing: r.missing,
    }))
}
