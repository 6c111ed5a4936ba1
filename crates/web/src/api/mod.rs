//! The JSON API under `/api/v1`. Every route is registered through `utoipa-axum`, so the
//! OpenAPI document at `/api/openapi.json` lists exactly the routes that exist.

mod analytics;
pub mod cases;
mod customer_memory;
mod customers;
mod identity;
mod imports;
mod mail;
mod mailboxes;
mod notifications;
mod people;
mod search;
pub mod tasks;

use crate::state::AppState;
pub use identity::download as download_json;
use utoipa::openapi::security::{ApiKey, ApiKeyValue, HttpAuthScheme, HttpBuilder, SecurityScheme};
use utoipa::{Modify, OpenApi};
use utoipa_axum::router::OpenApiRouter;
use utoipa_axum::routes;

#[derive(OpenApi)]
#[openapi(
    info(
        title = "Concierge API",
        description = "Customer service that remembers. Authenticate with an API token: \
                       `Authorization: Bearer cnc_...` (create one under Settings → API tokens \
                       or with `concierge token create`). Errors are \
                       `{\"error\":{\"code\":\"...\",\"message\":\"...\"}}`."
    ),
    modifiers(&Security),
    security(("bearer" = [])),
    components(schemas(crate::error::ErrorBody))
)]
struct ApiDoc;

struct Security;

impl Modify for Security {
    fn modify(&self, openapi: &mut utoipa::openapi::OpenApi) {
        let components = openapi.components.get_or_insert_with(Default::default);
        components.add_security_scheme(
            "bearer",
            SecurityScheme::Http(HttpBuilder::new().scheme(HttpAuthScheme::Bearer).build()),
        );
        components.add_security_scheme(
            "session",
            SecurityScheme::ApiKey(ApiKey::Cookie(ApiKeyValue::new(
                crate::auth::SESSION_COOKIE,
            ))),
        );
    }
}

/// The API router and its OpenAPI document.
pub fn router() -> (axum::Router<AppState>, utoipa::openapi::OpenApi) {
    let (router, doc) = OpenApiRouter::with_openapi(ApiDoc::openapi())
        .routes(routes!(people::me))
        .routes(routes!(people::list_tokens, people::create_token))
        .routes(routes!(people::revoke_token))
        .routes(routes!(people::list_users, people::create_user))
        .routes(routes!(
            customers::create_customer,
            customer_memory::list_customers
        ))
        .routes(routes!(
            customer_memory::get_customer,
            customer_memory::patch_customer
        ))
        .routes(routes!(customers::send_portal_link))
        .routes(routes!(identity::duplicates))
        .routes(routes!(identity::dismiss))
        .routes(routes!(identity::merge))
        .routes(routes!(identity::undo))
        .routes(routes!(identity::merges))
        .routes(routes!(identity::export))
        .routes(routes!(identity::erase))
        .routes(routes!(
            customer_memory::list_preferences,
            customer_memory::record_preference
        ))
        .routes(routes!(
            customer_memory::list_notes,
            customer_memory::add_note
        ))
        .routes(routes!(
            customer_memory::list_flags,
            customer_memory::set_flag
        ))
        .routes(routes!(customer_memory::timeline))
        .routes(routes!(customer_memory::render))
        .routes(routes!(analytics::pareto))
        .routes(routes!(analytics::segments))
        .routes(routes!(analytics::tiers))
        .routes(routes!(analytics::clv))
        .routes(routes!(analytics::churn))
        .routes(routes!(analytics::replenishment_due))
        .routes(routes!(analytics::customer_analytics))
        .routes(routes!(search::search))
        .routes(routes!(cases::create_case, cases::list_cases))
        .routes(routes!(cases::get_case, cases::patch_case))
        .routes(routes!(cases::add_message))
        .routes(routes!(cases::transfer))
        .routes(routes!(cases::assign))
        .routes(routes!(cases::merge))
        .routes(routes!(cases::apply_macro))
        .routes(routes!(cases::presence))
        .routes(routes!(cases::queues))
        .routes(routes!(cases::download_attachment))
        .routes(routes!(tasks::list_tasks))
        .routes(routes!(tasks::complete_task))
        .routes(routes!(tasks::scorecards))
        .routes(routes!(cases::list_teams, cases::create_team))
        .routes(routes!(cases::set_member))
        .routes(routes!(cases::list_rules, cases::create_rule))
        .routes(routes!(cases::delete_rule))
        .routes(routes!(cases::list_templates, cases::create_template))
        .routes(routes!(mail::inbound))
        .routes(routes!(
            mail::get_acknowledgement,
            mail::put_acknowledgement
        ))
        .routes(routes!(
            mailboxes::list_mailboxes,
            mailboxes::create_mailbox
        ))
        .routes(routes!(
            mailboxes::get_mailbox,
            mailboxes::put_mailbox,
            mailboxes::delete_mailbox
        ))
        .routes(routes!(mailboxes::poll_mailbox))
        .routes(routes!(imports::import_orders))
        .routes(routes!(imports::import_customers))
        .routes(routes!(notifications::list_notifications))
        .routes(routes!(notifications::read_notification))
        .routes(routes!(notifications::read_all_notifications))
        .routes(routes!(
            notifications::get_nps_settings,
            notifications::put_nps_settings
        ))
        .split_for_parts();
    let mut doc = doc;
    describe_responses(&mut doc);
    (router, doc)
}

/// OpenAPI requires a description on every response; routes that did not write one get the
/// status code's meaning, so the document validates.
fn describe_responses(doc: &mut utoipa::openapi::OpenApi) {
    for item in doc.paths.paths.values_mut() {
        for op in [
            &mut item.get,
            &mut item.put,
            &mut item.post,
            &mut item.delete,
            &mut item.patch,
            &mut item.head,
            &mut item.options,
            &mut item.trace,
        ]
        .into_iter()
        .flatten()
        {
            for (status, resp) in op.responses.responses.iter_mut() {
                if let utoipa::openapi::RefOr::T(r) = resp
                    && r.description.is_empty()
                {
                    r.description = status_text(status).to_string();
                }
            }
        }
    }
}

fn status_text(status: &str) -> &'static str {
    match status {
        "200" => "OK",
        "201" => "Created",
        "202" => "Accepted",
        "204" => "No content",
        "400" => "The request is malformed",
        "401" => "Not signed in",
        "403" => "Your role does not allow this",
        "404" => "Not found (or not in your tenant)",
        "409" => "Conflicts with the current state",
        "413" => "Too large",
        "415" => "Wrong content type",
        "422" => "Invalid fields",
        "503" => "Unavailable; try again later",
        _ => "See the error body",
    }
}
