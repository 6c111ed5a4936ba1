//! The JSON API under `/api/v1`. Every route is registered through `utoipa-axum`, so the
//! OpenAPI document at `/api/openapi.json` lists exactly the routes that exist.

mod analytics;
pub mod cases;
mod customer_memory;
mod customers;
mod people;
mod search;

use crate::state::AppState;
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
    OpenApiRouter::with_openapi(ApiDoc::openapi())
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
        .routes(routes!(cases::tasks))
        .routes(routes!(cases::list_teams, cases::create_team))
        .routes(routes!(cases::set_member))
        .routes(routes!(cases::list_rules, cases::create_rule))
        .routes(routes!(cases::delete_rule))
        .routes(routes!(cases::list_templates, cases::create_template))
        .split_for_parts()
}
