//! An IMAP client for polling a mailbox (async-imap over tokio, TLS by rustls with the
//! webpki roots plus any configured private CA, [`crate::tls::ExtraRoots`]): connect
//! (implicit TLS, STARTTLS, or plain text for tests on localhost), log in, select a folder,
//! list the UIDs past a checkpoint, fetch one message's raw bytes without setting `\Seen`
//! (`BODY.PEEK[]`), and only when the caller says so mark it `\Seen` or move it to another
//! folder.
//!
//! It stores nothing: the caller keeps the UIDVALIDITY/UID checkpoint and decides when a
//! message counts as committed. Every network step has a timeout so a silent server cannot
//! stall the poller, and every error says which server and which step failed.

use crate::TlsMode;
use crate::tls::{ExtraRoots, handshake_error};
use async_imap::types::{Flag, Uid};
use async_imap::{Client, Session};
use futures_util::TryStreamExt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::TlsConnector;
use tokio_rustls::client::TlsStream;
use tokio_rustls::rustls;

/// Where and how to reach a mailbox.
#[derive(Clone, PartialEq, Eq)]
pub struct ImapConfig {
    pub host: String,
    pub port: u16,
    pub tls: TlsMode,
    pub username: String,
    pub password: String,
    /// The folder to read (usually `INBOX`).
    pub folder: String,
    /// Limit for each network step (connect, log in, one command).
    pub timeout: Duration,
    /// CA certificates trusted besides the webpki roots (a private CA).
    pub extra_roots: ExtraRoots,
}

impl std::fmt::Debug for ImapConfig {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("ImapConfig")
            .field("host", &self.host)
            .field("port", &self.port)
            .field("tls", &self.tls)
            .field("username", &self.username)
            .field("password", &"(hidden)")
            .field("folder", &self.folder)
            .field("extra_roots", &self.extra_roots)
            .finish()
    }
}

/// Why talking to the IMAP server failed. The message names the server and the step.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum ImapError {
    /// The server could not be reached (DNS, refused, timed out).
    #[error("cannot connect to {0}")]
    Connect(String),
    /// The TLS handshake failed (wrong port, bad certificate, server without TLS).
    #[error("TLS with {0}")]
    Tls(String),
    /// The server refused the user name or password.
    #[error("sign-in refused by {0}; check the user name and password")]
    Auth(String),
    /// The folder does not exist or cannot be opened.
    #[error("cannot open the folder: {0}")]
    Folder(String),
    /// Any other protocol failure (connection lost, unexpected answer, timeout).
    #[error("{0}")]
    Protocol(String),
}

/// The plain or TLS connection under the IMAP client.
#[derive(Debug)]
pub enum ImapStream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
}

impl AsyncRead for ImapStream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for ImapStream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<std::io::Result<usize>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_flush(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        match self.get_mut() {
            ImapStream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            ImapStream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}

/// An open, signed-in session with one folder selected.
pub struct ImapMailbox {
    session: Session<ImapStream>,
    server: String,
    folder: String,
    timeout: Duration,
    uid_validity: u32,
    uid_next: Option<u32>,
    can_move: bool,
}

async fn within<T, E: std::fmt::Display>(
    timeout: Duration,
    what: &str,
    server: &str,
    fut: impl Future<Output = Result<T, E>>,
) -> Result<T, ImapError> {
    match tokio::time::timeout(timeout, fut).await {
        Ok(Ok(v)) => Ok(v),
        Ok(Err(e)) => Err(ImapError::Protocol(format!("{what} on {server}: {e}"))),
        Err(_) => Err(ImapError::Protocol(format!(
            "{what} on {server}: no answer within {} s",
            timeout.as_secs()
        ))),
    }
}

fn tls_connector(extra: &ExtraRoots) -> Result<TlsConnector, ImapError> {
    let roots = extra.root_store();
    let config = rustls::ClientConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .map_err(|e| ImapError::Tls(format!("setting up TLS: {e}")))?
    .with_root_certificates(roots)
    .with_no_client_auth();
    Ok(TlsConnector::from(Arc::new(config)))
}

async fn start_tls(
    tcp: TcpStream,
    host: &str,
    server: &str,
    timeout: Duration,
    extra: &ExtraRoots,
) -> Result<ImapStream, ImapError> {
    let name = rustls::pki_types::ServerName::try_from(host.to_string())
        .map_err(|e| ImapError::Tls(format!("{server}: '{host}' is not a valid name: {e}")))?;
    let tls = tls_connector(extra)?;
    match tokio::time::timeout(timeout, tls.connect(name, tcp)).await {
        Ok(Ok(s)) => Ok(ImapStream::Tls(Box::new(s))),
        Ok(Err(e)) => Err(ImapError::Tls(format!("{server}: {}", handshake_error(&e)))),
        Err(_) => Err(ImapError::Tls(format!(
            "{server}: no TLS handshake within {} s",
            timeout.as_secs()
        ))),
    }
}

async fn greeting(
    client: &mut Client<ImapStream>,
    server: &str,
    timeout: Duration,
) -> Result<(), ImapError> {
    match tokio::time::timeout(timeout, client.read_response()).await {
        Ok(Ok(Some(_))) => Ok(()),
        Ok(Ok(None)) => Err(ImapError::Connect(format!(
            "{server}: the server closed the connection without a greeting"
        ))),
        Ok(Err(e)) => Err(ImapError::Connect(format!(
            "{server}: reading the greeting: {e}"
        ))),
        Err(_) => Err(ImapError::Connect(format!(
            "{server}: no greeting within {} s (is this an IMAP port, and the right TLS mode?)",
            timeout.as_secs()
        ))),
    }
}

impl ImapMailbox {
    /// Connects, signs in and selects the folder.
    pub async fn open(cfg: &ImapConfig) -> Result<ImapMailbox, ImapError> {
        let server = format!("{}:{}", cfg.host, cfg.port);
        let timeout = cfg.timeout.max(Duration::from_secs(1));
        let tcp =
            match tokio::time::timeout(timeout, TcpStream::connect((cfg.host.as_str(), cfg.port)))
                .await
            {
                Ok(Ok(s)) => s,
                Ok(Err(e)) => return Err(ImapError::Connect(format!("{server}: {e}"))),
                Err(_) => {
                    return Err(ImapError::Connect(format!(
                        "{server}: no connection within {} s",
                        timeout.as_secs()
                    )));
                }
            };
        let client = match cfg.tls {
            TlsMode::Tls => {
                let mut c = Client::new(
                    start_tls(tcp, &cfg.host, &server, timeout, &cfg.extra_roots).await?,
                );
                greeting(&mut c, &server, timeout).await?;
                c
            }
            TlsMode::None => {
                let mut c = Client::new(ImapStream::Plain(tcp));
                greeting(&mut c, &server, timeout).await?;
                c
            }
            TlsMode::StartTls => {
                let mut c = Client::new(ImapStream::Plain(tcp));
                greeting(&mut c, &server, timeout).await?;
                within(
                    timeout,
                    "STARTTLS",
                    &server,
                    c.run_command_and_check_ok("STARTTLS", None),
                )
                .await
                .map_err(|e| ImapError::Tls(format!("the server refused STARTTLS: {e}")))?;
                let tcp = match c.into_inner() {
                    ImapStream::Plain(t) => t,
                    ImapStream::Tls(_) => {
                        return Err(ImapError::Tls(format!("{server}: already encrypted")));
                    }
                };
                Client::new(start_tls(tcp, &cfg.host, &server, timeout, &cfg.extra_roots).await?)
            }
        };
        let mut session =
            match tokio::time::timeout(timeout, client.login(&cfg.username, &cfg.password)).await {
                Ok(Ok(s)) => s,
                Ok(Err((async_imap::error::Error::No(msg), _))) => {
                    return Err(ImapError::Auth(format!("{server} ({})", msg.trim())));
                }
                Ok(Err((e, _))) => {
                    return Err(ImapError::Protocol(format!("signing in to {server}: {e}")));
                }
                Err(_) => {
                    return Err(ImapError::Protocol(format!(
                        "signing in to {server}: no answer within {} s",
                        timeout.as_secs()
                    )));
                }
            };
        let can_move = match within(timeout, "CAPABILITY", &server, session.capabilities()).await {
            Ok(c) => c.has_str("MOVE"),
            Err(_) => false,
        };
        let selected = match tokio::time::timeout(timeout, session.select(&cfg.folder)).await {
            Ok(Ok(m)) => m,
            Ok(Err(e)) => {
                return Err(ImapError::Folder(format!(
                    "'{}' on {server}: {e}",
                    cfg.folder
                )));
            }
            Err(_) => {
                return Err(ImapError::Folder(format!(
                    "'{}' on {server}: no answer within {} s",
                    cfg.folder,
                    timeout.as_secs()
                )));
            }
        };
        let Some(uid_validity) = selected.uid_validity else {
            return Err(ImapError::Folder(format!(
                "'{}' on {server}: the server gave no UIDVALIDITY",
                cfg.folder
            )));
        };
        Ok(ImapMailbox {
            session,
            server,
            folder: cfg.folder.clone(),
            timeout,
            uid_validity,
            uid_next: selected.uid_next,
            can_move,
        })
    }

    /// The selected folder's UIDVALIDITY: when it changes, earlier UIDs mean nothing.
    pub fn uid_validity(&self) -> u32 {
        self.uid_validity
    }

    /// The UID the next new message will get (UIDNEXT at selection), when the server said.
    pub fn uid_next(&self) -> Option<u32> {
        self.uid_next
    }

    /// UIDs greater than `after`, ascending; with `unseen_only`, only those without `\Seen`.
    pub async fn uids_after(
        &mut self,
        after: u32,
        unseen_only: bool,
    ) -> Result<Vec<u32>, ImapError> {
        let from = after.saturating_add(1);
        let query = if unseen_only {
            format!("UID {from}:* UNSEEN")
        } else {
            format!("UID {from}:*")
        };
        let set = within(
            self.timeout,
            "UID SEARCH",
            &self.server,
            self.session.uid_search(&query),
        )
        .await?;
        // `n:*` always matches the highest UID, even when it is below n.
        let mut uids: Vec<u32> = set.into_iter().filter(|u| *u > after).collect();
        uids.sort_unstable();
        Ok(uids)
    }

    /// The raw bytes of one message, without setting `\Seen`; `None` when it is gone.
    pub async fn fetch_raw(&mut self, uid: Uid) -> Result<Option<Vec<u8>>, ImapError> {
        let timeout = self.timeout;
        let server = self.server.clone();
        let fetches = within(timeout, "UID FETCH", &server, async {
            let stream = self
                .session
                .uid_fetch(uid.to_string(), "(UID BODY.PEEK[])")
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .or_else(|| fetches.first())
            .and_then(|f| f.body().map(<[u8]>::to_vec)))
    }

    /// Whether a message carries `\Seen`; `None` when it is not in the folder.
    pub async fn is_seen(&mut self, uid: Uid) -> Result<Option<bool>, ImapError> {
        let timeout = self.timeout;
        let server = self.server.clone();
        let fetches = within(timeout, "UID FETCH FLAGS", &server, async {
            let stream = self
                .session
                .uid_fetch(uid.to_string(), "(UID FLAGS)")
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(fetches
            .iter()
            .find(|f| f.uid == Some(uid))
            .map(|f| f.flags().any(|fl| fl == Flag::Seen)))
    }

    /// Marks a message `\Seen`.
    pub async fn mark_seen(&mut self, uid: Uid) -> Result<(), ImapError> {
        self.set_seen(uid, true).await
    }

    /// Sets or clears `\Seen` on a message.
    pub async fn set_seen(&mut self, uid: Uid, seen: bool) -> Result<(), ImapError> {
        let timeout = self.timeout;
        let server = self.server.clone();
        let change = if seen {
            "+FLAGS.SILENT (\\Seen)"
        } else {
            "-FLAGS.SILENT (\\Seen)"
        };
        within(timeout, "UID STORE \\Seen", &server, async {
            let stream = self.session.uid_store(uid.to_string(), change).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(())
    }

    /// Moves a message to `folder` (MOVE, or COPY + `\Deleted` + EXPUNGE where the server has
    /// no MOVE), marking it `\Seen` first so the copy arrives read.
    pub async fn move_to(&mut self, uid: Uid, folder: &str) -> Result<(), ImapError> {
        self.mark_seen(uid).await?;
        let timeout = self.timeout;
        let server = self.server.clone();
        let set = uid.to_string();
        if self.can_move {
            return within(
                timeout,
                "UID MOVE",
                &server,
                self.session.uid_mv(&set, folder),
            )
            .await
            .map_err(|e| ImapError::Folder(format!("moving to '{folder}': {e}")));
        }
        within(
            timeout,
            "UID COPY",
            &server,
            self.session.uid_copy(&set, folder),
        )
        .await
        .map_err(|e| ImapError::Folder(format!("copying to '{folder}': {e}")))?;
        within(timeout, "UID STORE +FLAGS (\\Deleted)", &server, async {
            let stream = self
                .session
                .uid_store(&set, "+FLAGS.SILENT (\\Deleted)")
                .await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        within(timeout, "UID EXPUNGE", &server, async {
            let stream = self.session.uid_expunge(&set).await?;
            stream.try_collect::<Vec<_>>().await
        })
        .await?;
        Ok(())
    }

    /// Appends a raw message to `folder` (used to deliver test mail, or to file a copy).
    pub async fn append(&mut self, folder: &str, raw: &[u8]) -> Result<(), ImapError> {
        let timeout = self.timeout;
        let server = self.server.clone();
        within(
            timeout,
            "APPEND",
            &server,
            self.session.append(folder, None, None, raw),
        )
        .await
    }

    /// Creates a folder (an error when it exists already).
    pub async fn create_folder(&mut self, folder: &str) -> Result<(), ImapError> {
        let timeout = self.timeout;
        let server = self.server.clone();
        within(timeout, "CREATE", &server, self.session.create(folder)).await
    }

    /// How many messages a folder holds (STATUS MESSAGES).
    pub async fn count(&mut self, folder: &str) -> Result<u32, ImapError> {
        let timeout = self.timeout;
        let server = self.server.clone();
        let m = within(
            timeout,
            "STATUS",
            &server,
            self.session.status(folder, "(MESSAGES)"),
        )
        .await?;
        Ok(m.exists)
    }

    /// The selected folder's name.
    pub fn folder(&self) -> &str {
        &self.folder
    }

    /// Signs out politely (errors are ignored: the work is done).
    pub async fn logout(mut self) {
        let _ = tokio::time::timeout(self.timeout, self.session.logout()).await;
    }
}
