//! Configuration: documented defaults, then `concierge.toml`, then `CONCIERGE_*` environment
//! variables, then flags. `concierge config --print-defaults` prints [`DEFAULTS_TOML`], and a
//! test keeps that text and [`Config::default`] in agreement.

use figment::Figment;
use figment::providers::{Env, Format, Serialized, Toml};
use serde::{Deserialize, Serialize};
use std::path::{Path, PathBuf};

/// The documented default configuration, as printed by `concierge config --print-defaults`.
pub const DEFAULTS_TOML: &str = include_str!("defaults.toml");

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
#[derive(Default)]
pub struct Config {
    pub server: ServerConfig,
    pub storage: StorageConfig,
    pub tenant: TenantConfig,
    pub auth: AuthConfig,
    pub jobs: JobsConfig,
    pub mail: MailConfig,
    pub secrets: SecretsConfig,
    pub log: LogConfig,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct ServerConfig {
    pub listen: String,
    pub public_url: String,
    pub max_body_bytes: usize,
    pub request_timeout_secs: u64,
    pub shutdown_grace_secs: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct StorageConfig {
    pub data_dir: PathBuf,
    pub database_url: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct TenantConfig {
    pub default_slug: String,
    pub default_name: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct AuthConfig {
    pub session_idle_minutes: i64,
    pub customer_link_minutes: i64,
    pub sign_in_window_secs: i64,
    pub max_failures_per_account: i64,
    pub max_failures_per_address: i64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct JobsConfig {
    pub enabled: bool,
    pub poll_interval_ms: u64,
    pub lease_secs: i64,
    pub node_name: String,
}

#[derive(Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct MailConfig {
    pub outbox_dir: String,
    pub from: String,
    pub smtp_host: String,
    pub smtp_port: u16,
    pub smtp_tls: String,
    pub smtp_username: String,
    pub smtp_password: String,
    /// How long one worker may hold an inbound mail it is processing before another worker
    /// (a retried delivery) takes it over.
    pub processing_lease_secs: u64,
    /// A PEM file of CA certificates trusted for IMAP and SMTP besides the webpki roots.
    pub tls_ca_file: String,
}

/// The key that encrypts secrets stored in the database (mailbox passwords).
#[derive(Clone, PartialEq, Serialize, Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub struct SecretsConfig {
    /// The key itself, base64 of 32 bytes (`CONCIERGE_SECRET_KEY`); wins over `key_file`.
    pub key: String,
    /// A file holding the key; empty: `secrets.key` in the data directory.
    pub key_file: String,
}

/// The SMTP password is never printed (logs, panics).
impl std::fmt::Debug for MailConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("MailConfig")
            .field("outbox_dir", &self.outbox_dir)
            .field("from", &self.from)
            .field("smtp_host", &self.smtp_host)
            .field("smtp_port", &self.smtp_port)
            .field("smtp_tls", &self.smtp_tls)
            .field("smtp_username", &self.smtp_username)
            .field(
                "smtp_password",
                &if self.smtp_password.is_empty() {
                    ""
                } else {
                    "(hidden)"
                },
            )
            .field("processing_lease_secs", &self.processing_lease_secs)
            .field("tls_ca_file", &self.tls_ca_file)
            .finish()
    }
}

impl std::fmt::Debug for SecretsConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("SecretsConfig")
            .field("key", &if self.key.is_empty() { "" } else { "(hidden)" })
            .field("key_file", &self.key_file)
            .finish()
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct LogConfig {
    pub format: String,
    pub level: String,
}

impl Default for ServerConfig {
    fn default() -> Self {
        ServerConfig {
            listen: "127.0.0.1:8080".into(),
            public_url: String::new(),
            max_body_bytes: 2 * 1024 * 1024,
            request_timeout_secs: 30,
            shutdown_grace_secs: 10,
        }
    }
}

impl Default for StorageConfig {
    fn default() -> Self {
        StorageConfig {
            data_dir: PathBuf::from("./concierge-data"),
            database_url: String::new(),
        }
    }
}

impl Default for TenantConfig {
    fn default() -> Self {
        TenantConfig {
            default_slug: "default".into(),
            default_name: "Concierge".into(),
        }
    }
}

impl Default for AuthConfig {
    fn default() -> Self {
        AuthConfig {
            session_idle_minutes: 720,
            customer_link_minutes: 30,
            sign_in_window_secs: 900,
            max_failures_per_account: 5,
            max_failures_per_address: 20,
        }
    }
}

impl Default for JobsConfig {
    fn default() -> Self {
        JobsConfig {
            enabled: true,
            poll_interval_ms: 500,
            lease_secs: 300,
            node_name: String::new(),
        }
    }
}

impl Default for MailConfig {
    fn default() -> Self {
        MailConfig {
            outbox_dir: String::new(),
            from: "Concierge <concierge@localhost>".into(),
            smtp_host: String::new(),
            smtp_port: 587,
            smtp_tls: "starttls".into(),
            smtp_username: String::new(),
            smtp_password: String::new(),
            processing_lease_secs: 300,
            tls_ca_file: String::new(),
        }
    }
}

impl Default for LogConfig {
    fn default() -> Self {
        LogConfig {
            format: "text".into(),
            level: "info,sqlx=error".into(),
        }
    }
}

/// Values given on the command line; `None` leaves the lower layers' value.
#[derive(Debug, Clone, Default)]
pub struct Overrides {
    pub data_dir: Option<PathBuf>,
    pub database_url: Option<String>,
    pub listen: Option<String>,
}

impl Config {
    /// Loads defaults → file → environment → overrides. `file` of `None` reads
    /// `./concierge.toml` when present. Unknown keys are an error naming the key.
    pub fn load(file: Option<&Path>, overrides: &Overrides) -> Result<Config, String> {
        let mut fig = Figment::from(Serialized::defaults(Config::default()));
        match file {
            Some(p) => {
                if !p.exists() {
                    return Err(format!("configuration file {} does not exist", p.display()));
                }
                fig = fig.merge(Toml::file(p));
            }
            None => {
                if Path::new("concierge.toml").exists() {
                    fig = fig.merge(Toml::file("concierge.toml"));
                }
            }
        }
        fig = fig.merge(Env::prefixed("CONCIERGE_").split("__").filter(|k| {
            // Variables that are not settings (e.g. CONCIERGE_CONFIG, CONCIERGE_BIN).
            k.as_str().contains("__") || k.as_str().contains('.')
        }));
        let mut cfg: Config = fig
            .extract()
            .map_err(|e| format!("invalid configuration: {e}"))?;
        // The short name for the secret key, besides CONCIERGE_SECRETS__KEY.
        if let Ok(k) = std::env::var("CONCIERGE_SECRET_KEY")
            && !k.trim().is_empty()
        {
            cfg.secrets.key = k;
        }
        if let Some(d) = &overrides.data_dir {
            cfg.storage.data_dir = d.clone();
        }
        if let Some(u) = &overrides.database_url {
            cfg.storage.database_url = u.clone();
        }
        if let Some(l) = &overrides.listen {
            cfg.server.listen = l.clone();
        }
        Ok(cfg)
    }

    /// The database URL in effect: the configured one, or SQLite in the data directory.
    pub fn database_url(&self) -> String {
        if self.storage.database_url.trim().is_empty() {
            concierge_store::Store::sqlite_url_for(&self.storage.data_dir)
        } else {
            self.storage.database_url.trim().to_string()
        }
    }

    /// Where outgoing mail files go.
    pub fn outbox_dir(&self) -> PathBuf {
        if self.mail.outbox_dir.is_empty() {
            self.storage.data_dir.join("outbox")
        } else {
            PathBuf::from(&self.mail.outbox_dir)
        }
    }

    /// The private CAs trusted for IMAP and SMTP (`[mail] tls_ca_file`), read now so a
    /// replaced file counts without a restart; none when the setting is empty.
    pub fn tls_extra_roots(&self) -> Result<concierge_mail::ExtraRoots, String> {
        let f = self.mail.tls_ca_file.trim();
        if f.is_empty() {
            return Ok(concierge_mail::ExtraRoots::none());
        }
        concierge_mail::ExtraRoots::from_pem_file(Path::new(f))
            .map_err(|e| format!("[mail] tls_ca_file: {e}"))
    }

    /// Whether cookies must be `Secure` (the public URL is https).
    pub fn secure_cookies(&self) -> bool {
        self.server.public_url.starts_with("https://")
    }

    /// The name this node uses in job records.
    pub fn node_name(&self) -> String {
        if self.jobs.node_name.is_empty() {
            let host = std::env::var("HOSTNAME").unwrap_or_else(|_| "node".into());
            format!("{host}-{}", std::process::id())
        } else {
            self.jobs.node_name.clone()
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn secrets_never_show_in_debug_output() {
        let mut c = Config::default();
        c.mail.smtp_password = "smtp-pw-hunter2".into();
        c.secrets.key = "k".repeat(64);
        let printed = format!("{c:?}");
        assert!(!printed.contains("hunter2"), "{printed}");
        assert!(!printed.contains(&"k".repeat(64)));
        assert!(printed.contains("(hidden)"));
    }

    #[test]
    fn documented_defaults_match_the_code() {
        let parsed: Config = toml::from_str(DEFAULTS_TOML).expect("defaults.toml parses");
        assert_eq!(parsed, Config::default());
    }

    #[test]
    fn every_setting_is_documented() {
        // Serialising the defaults must produce no key that the documented file lacks.
        let doc: toml::Table = toml::from_str(DEFAULTS_TOML).unwrap();
        let code: toml::Table =
            toml::from_str(&toml::to_string(&Config::default()).unwrap()).unwrap();
        for (section, keys) in &code {
            let keys = keys.as_table().unwrap();
            let dsec = doc.get(section).and_then(|v| v.as_table()).unwrap();
            for k in keys.keys() {
                assert!(dsec.contains_key(k), "{section}.{k} is not documented");
            }
        }
    }

    #[test]
    fn file_and_overrides_layer() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(
            &f,
            "[server]\nlisten = \"0.0.0.0:9000\"\n[jobs]\nenabled = false\n",
        )
        .unwrap();
        let cfg = Config::load(
            Some(&f),
            &Overrides {
                data_dir: Some("/tmp/x".into()),
                ..Default::default()
            },
        )
        .unwrap();
        assert_eq!(cfg.server.listen, "0.0.0.0:9000");
        assert!(!cfg.jobs.enabled);
        assert_eq!(cfg.storage.data_dir, PathBuf::from("/tmp/x"));
        assert!(cfg.database_url().starts_with("sqlite://"));
    }

    #[test]
    fn misspelt_keys_are_refused() {
        let dir = tempfile::tempdir().unwrap();
        let f = dir.path().join("c.toml");
        std::fs::write(&f, "[server]\nlisen = \"x\"\n").unwrap();
        let err = Config::load(Some(&f), &Overrides::default()).unwrap_err();
        assert!(err.contains("lisen"), "{err}");
    }
}
