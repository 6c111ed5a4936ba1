//! The state every handler receives: the application, translations, the metrics handle,
//! the OpenAPI document and the default tenant.

use crate::i18n::I18n;
use concierge_app::App;
use concierge_domain::TenantId;
use metrics_exporter_prometheus::PrometheusHandle;
use std::sync::Arc;

#[derive(Clone)]
pub struct AppState {
    pub app: App,
    pub i18n: Arc<I18n>,
    pub metrics: PrometheusHandle,
    pub openapi_json: Arc<String>,
    pub default_tenant: TenantId,
    /// The address people use to reach this server, for links in mail.
    pub base_url: String,
    /// This node's full-text index (None when it could not be opened; search answers 503).
    pub search: Option<Arc<concierge_search::SearchIndex>>,
}

impl AppState {
    /// The tenant a host name addresses: `acme.example.com` → tenant `acme` when it exists,
    /// otherwise the default tenant. Reads only.
    pub async fn tenant_for_host(&self, host: Option<&str>) -> TenantId {
        if let Some(host) = host {
            let name = host.split(':').next().unwrap_or("");
            if name.matches('.').count() >= 1
                && let Some(label) = name.split('.').next()
                && concierge_domain::TenantSlug::parse(label).is_ok()
                && let Ok(Some(t)) = self
                    .app
                    .store
                    .tenant_by_slug(&label.to_ascii_lowercase())
                    .await
            {
                return t.id;
            }
        }
        self.default_tenant
    }
}
