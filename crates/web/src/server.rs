//! Assembles the router (routes, middleware, limits) and runs the server with graceful
//! shutdown, alongside the background worker.

use crate::i18n::I18n;
use crate::state::AppState;
use crate::{api, assets, console, ops, portal, portal_cases, portal_self};
use axum::Router;
use axum::extract::DefaultBodyLimit;
use axum::http::{HeaderName, StatusCode};
use axum::middleware;
use axum::routing::{get, post};
use concierge_app::App;
use metrics_exporter_prometheus::{PrometheusBuilder, PrometheusHandle};
use std::net::SocketAddr;
use std::sync::{Arc, OnceLock};
use std::time::Duration;
use tokio::net::TcpListener;
use tower_http::catch_panic::CatchPanicLayer;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

fn metrics_handle() -> Result<PrometheusHandle, String> {
    // The recorder is process-global: install it once, even when several servers start at the
    // same moment in one process (tests do), and hand every server the same handle.
    static HANDLE: OnceLock<Result<PrometheusHandle, String>> = OnceLock::new();
    HANDLE
        .get_or_init(|| {
            PrometheusBuilder::new()
                .install_recorder()
                .map_err(|e| format!("cannot install the metrics recorder: {e}"))
        })
        .clone()
}

/// Builds the application state: resolves the default tenant and renders the API document.
pub async fn build_state(app: App, base_url: String) -> anyhow::Result<AppState> {
    let now = app.now();
    let tenant = app
        .store
        .ensure_tenant(
            &app.config.tenant.default_slug,
            &app.config.tenant.default_name,
            now,
        )
        .await?;
    let (_, openapi) = api::router();
    let openapi_json = openapi.to_pretty_json()?;
    let search = {
        let a = app.clone();
        match tokio::task::spawn_blocking(move || concierge_app::search::open_index(&a)).await? {
            Ok(i) => Some(Arc::new(i)),
            Err(e) => {
                tracing::warn!(error = %e, "search index unavailable");
                None
            }
        }
    };
    Ok(AppState {
        search,
        app,
        i18n: Arc::new(I18n::load().map_err(anyhow::Error::msg)?),
        metrics: metrics_handle().map_err(anyhow::Error::msg)?,
        openapi_json: Arc::new(openapi_json),
        default_tenant: tenant.id,
        base_url,
    })
}

/// The whole HTTP application.
pub fn build_router(state: AppState) -> Router {
    let (api_router, _) = api::router();
    let x_request_id = HeaderName::from_static("x-request-id");
    let body_limit = state.app.config.server.max_body_bytes;
    let timeout = Duration::from_secs(state.app.config.server.request_timeout_secs.max(1));
    Router::new()
        .merge(api_router)
        .route("/api/openapi.json", get(ops::openapi))
        .route("/api/docs", get(ops::docs))
        .route("/healthz", get(ops::healthz))
        .route("/readyz", get(ops::readyz))
        .route("/metrics", get(ops::metrics))
        .route("/static/{*path}", get(assets::serve))
        .route("/favicon.ico", get(assets::favicon))
        .route("/", get(console::home))
        .route("/sign-in", get(console::sign_in_page).post(console::sign_in))
        .route("/sign-out", post(console::sign_out))
        .route("/lang", post(console::switch_lang))
        .route(
            "/settings/password",
            get(console::password_page).post(console::change_password),
        )
        .route(
            "/settings/tokens",
            get(console::tokens_page).post(console::tokens_post),
        )
        .route("/admin/users", get(console::users_page).post(console::users_post))
        .route("/dashboard", get(console::dashboard))
        .route(
            "/customers",
            get(console::customers_page).post(console::customers_post),
        )
        .route("/imports", get(console::imports_page).post(console::imports_post))
        .route("/customers/duplicates", get(console::duplicates_page))
        .route("/customers/duplicates/dismiss", post(console::dismiss_post))
        .route("/customers/merges/{id}/undo", post(console::undo_post))
        .route("/customers/{id}/merge", post(console::customer_merge_post))
        .route("/customers/{id}/export", get(console::export_get))
        .route(
            "/customers/{id}/erase",
            get(console::erase_page).post(console::erase_post),
        )
        .route("/customers/{id}", get(console::customer_page))
        .route("/customers/{id}/preferences", post(console::remember_post))
        .route("/customers/{id}/notes", post(console::note_post))
        .route("/customers/{id}/flags", post(console::flag_post))
        .route("/cases", get(console::queue_page).post(console::create_case_post))
        .route("/tasks", get(console::tasks_page))
        .route("/tasks/{id}/complete", post(console::task_complete_post))
        .route("/scorecards", get(console::scorecards_page))
        .route("/scorecards/nps", post(console::nps_settings_post))
        .route("/cases/{id}", get(console::case_page))
        .route("/cases/{id}/presence", get(console::presence))
        .route("/cases/{id}/letters/{message_id}", get(console::letter))
        .route("/cases/{id}/reply", post(console::reply_post))
        .route("/cases/{id}/update", post(console::update_post))
        .route("/cases/{id}/transfer", post(console::transfer_post))
        .route("/cases/{id}/merge", post(console::merge_post))
        .route("/cases/{id}/macro", post(console::macro_post))
        .route("/admin/teams", get(console::teams_page).post(console::teams_post))
        .route("/admin/teams/members", post(console::members_post))
        .route("/admin/targets", get(console::targets_page).post(console::policy_post))
        .route("/admin/targets/calendar", post(console::calendar_post))
        .route("/admin/targets/{id}/delete", post(console::target_delete_post))
        .route("/admin/triggers", get(console::triggers_page).post(console::triggers_post))
        .route("/admin/triggers/{id}/delete", post(console::trigger_delete_post))
        .route("/admin/templates", get(console::templates_page).post(console::templates_post))
        .route("/admin/macros", post(console::macros_post))
        .route("/admin/macros/{id}/delete", post(console::macro_delete_post))
        .route("/admin/mailboxes", get(console::mailboxes_page).post(console::mailboxes_post))
        .route("/admin/mailboxes/{id}/poll", post(console::mailbox_poll_post))
        .route("/admin/mailboxes/{id}/delete", post(console::mailbox_delete_post))
        .route("/portal", get(portal_cases::home))
        .route("/portal/cases", post(portal_cases::new_post))
        .route("/portal/cases/new", get(portal_cases::new_page))
        .route("/portal/cases/{id}", get(portal_cases::case_page))
        .route("/portal/cases/{id}/reply", post(portal_cases::reply_post))
        .route("/portal/cases/{id}/close", post(portal_cases::close_post))
        .route("/portal/cases/{id}/rate", post(portal_cases::rate_post))
        .route(
            "/portal/cases/{id}/attachments/{attachment}",
            get(portal_cases::attachment),
        )
        .route(
            "/portal/settings",
            get(portal_cases::settings_page).post(portal_cases::settings_post),
        )
        .route(
            "/survey/{token}",
            get(portal_cases::survey_page).post(portal_cases::survey_post),
        )
        .route(
            "/portal/profile",
            get(portal_self::profile_page).post(portal_self::profile_post),
        )
        .route("/portal/preferences", post(portal_self::preferences_post))
        .route(
            "/portal/sign-in",
            get(portal_self::sign_in_page).post(portal_self::sign_in_post),
        )
        .route(
            "/nps/{token}",
            get(portal_self::nps_page).post(portal_self::nps_post),
        )
        .route("/notifications", get(console::notifications_page))
        .route("/notifications/count", get(console::notifications_count))
        .route(
            "/notifications/read-all",
            post(console::notifications_read_all_post),
        )
        .route(
            "/notifications/{id}/read",
            post(console::notification_read_post),
        )
        .route("/portal/auth/{token}", get(portal::link_page).post(portal::redeem))
        .route("/portal/sign-out", post(portal::sign_out))
        .route("/portal/signed-out", get(portal::signed_out))
        .fallback(ops::not_found)
        .method_not_allowed_fallback(ops::method_not_allowed)
        .layer(middleware::from_fn_with_state(
            state.clone(),
            crate::auth::resolve,
        ))
        .layer(DefaultBodyLimit::max(body_limit))
        .layer(middleware::from_fn(ops::track))
        .layer(middleware::from_fn(ops::security_headers))
        .layer(TimeoutLayer::with_status_code(
            StatusCode::SERVICE_UNAVAILABLE,
            timeout,
        ))
        .layer(CatchPanicLayer::new())
        .layer(PropagateRequestIdLayer::new(x_request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(
            |req: &axum::http::Request<axum::body::Body>| {
                let id = req
                    .headers()
                    .get("x-request-id")
                    .and_then(|v| v.to_str().ok())
                    .unwrap_or("-");
                tracing::info_span!("request", method = %req.method(), path = %req.uri().path(), request_id = %id)
            },
        ))
        .layer(SetRequestIdLayer::new(x_request_id, MakeRequestUuid))
        .with_state(state)
}

/// Serves on `listener` until `shutdown` resolves, then drains requests in flight. Runs the
/// background worker in the same process when jobs are enabled.
pub async fn serve(
    app: App,
    listener: TcpListener,
    shutdown: impl std::future::Future<Output = ()> + Send + 'static,
) -> anyhow::Result<()> {
    let addr = listener.local_addr()?;
    let base_url = if app.config.server.public_url.is_empty() {
        format!("http://{addr}")
    } else {
        app.config.server.public_url.clone()
    };
    let state_base_url = base_url.clone();
    let state = build_state(app.clone(), base_url).await?;
    let search = state.search.clone();
    let router = build_router(state);
    let (stop_tx, stop_rx) = tokio::sync::watch::channel(false);
    // This node's search index follows the database's change log (every node has its own).
    let follower = search.map(|index| {
        tokio::spawn(concierge_app::search::run_follower(
            app.clone(),
            index,
            stop_rx.clone(),
        ))
    });
    let worker = if app.config.jobs.enabled {
        let w = concierge_app::jobs::Worker::standard();
        // Links in mail written by jobs point at the address this server really listens on.
        let mut cfg = (*app.config).clone();
        cfg.server.public_url = state_base_url.clone();
        let job_app = app.with_config(cfg);
        Some(tokio::spawn(w.run(job_app, stop_rx.clone())))
    } else {
        None
    };
    let mut http_stop = stop_rx.clone();
    tokio::spawn(async move {
        shutdown.await;
        let _ = stop_tx.send(true);
    });
    axum::serve(
        listener,
        router.into_make_service_with_connect_info::<SocketAddr>(),
    )
    .with_graceful_shutdown(async move {
        let _ = http_stop.wait_for(|v| *v).await;
    })
    .await?;
    if let Some(w) = worker {
        let _ = w.await;
    }
    if let Some(f) = follower {
        let _ = f.await;
    }
    Ok(())
}
