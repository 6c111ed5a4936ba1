//! Test support: a real Dovecot IMAP server (Debian's `dovecot-imapd`) started as an ordinary
//! process for one test, with a generated configuration in a temporary folder: plain text on
//! 127.0.0.1 at a free port, one user from a passwd file, maildir storage in the folder. It is
//! stopped and its folder removed when the value is dropped. [`Dovecot::start_tls`] serves TLS
//! instead (`ssl = required`: STARTTLS on the plain port, implicit TLS on a second one) with a
//! certificate from a throw-away CA that [`TestCa`] makes with the `openssl` command. Nothing
//! here is used outside tests.

use crate::{ExtraRoots, ImapConfig, TlsMode};
use std::io::Read;
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

/// The test user's name and password.
pub const USER: &str = "support";
pub const PASSWORD: &str = "s3cret-imap";

/// A running Dovecot for one test.
pub struct Dovecot {
    child: Child,
    dir: PathBuf,
    /// The IMAP port on 127.0.0.1 (offering STARTTLS when the server serves TLS).
    pub port: u16,
    /// The implicit-TLS (imaps) port, when the server serves TLS.
    pub tls_port: Option<u16>,
    /// The CA that signed the server's certificate, when it serves TLS.
    ca: Option<ExtraRoots>,
}

/// A throw-away certificate authority and a server certificate it signed for `127.0.0.1` and
/// `localhost` (ECDSA P-256, valid for three days), made with the `openssl` command in a
/// temporary folder that is removed when the value is dropped.
pub struct TestCa {
    dir: PathBuf,
}

const OPENSSL_CNF: &str = "[req]\n\
distinguished_name = dn\n\
prompt = no\n\
[dn]\n\
CN = unused\n\
[ca_ext]\n\
basicConstraints = critical,CA:TRUE\n\
keyUsage = critical,keyCertSign,cRLSign\n\
subjectKeyIdentifier = hash\n\
[server_ext]\n\
basicConstraints = critical,CA:FALSE\n\
keyUsage = critical,digitalSignature,keyEncipherment\n\
extendedKeyUsage = serverAuth\n\
subjectAltName = IP:127.0.0.1,DNS:localhost\n\
subjectKeyIdentifier = hash\n\
authorityKeyIdentifier = keyid\n";

fn unique_dir(prefix: &str) -> PathBuf {
    static COUNTER: AtomicUsize = AtomicUsize::new(0);
    let n = COUNTER.fetch_add(1, Ordering::Relaxed);
    let stamp = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos())
        .unwrap_or(0);
    std::env::temp_dir().join(format!("{prefix}-{}-{n}-{stamp}", std::process::id()))
}

impl TestCa {
    /// Makes the CA and the server certificate. Fails with what to do when `openssl` is
    /// missing, and with its output when a step fails.
    pub fn generate() -> Result<TestCa, String> {
        let ca = TestCa {
            dir: unique_dir("concierge-test-ca"),
        };
        let d = &ca.dir;
        std::fs::create_dir_all(d).map_err(|e| format!("creating {}: {e}", d.display()))?;
        std::fs::write(d.join("openssl.cnf"), OPENSSL_CNF)
            .map_err(|e| format!("writing openssl.cnf: {e}"))?;
        let ec = "-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes";
        let steps = [
            format!(
                "req -x509 -config openssl.cnf -extensions ca_ext {ec} -keyout ca.key \
                 -out ca.pem -days 3 -subj /CN=concierge-throw-away-test-ca"
            ),
            format!(
                "req -new -config openssl.cnf {ec} -keyout server.key -out server.csr \
                 -subj /CN=localhost"
            ),
            "x509 -req -in server.csr -CA ca.pem -CAkey ca.key -set_serial 2 -days 3 \
             -extfile openssl.cnf -extensions server_ext -out server.pem"
                .to_string(),
        ];
        for step in &steps {
            let args: Vec<&str> = step.split_whitespace().collect();
            let out = Command::new("openssl")
                .args(&args)
                .current_dir(d)
                .stdin(Stdio::null())
                .output()
                .map_err(|e| {
                    format!(
                        "running openssl: {e} (apt-get install openssl; scripts/test does this)"
                    )
                })?;
            if !out.status.success() {
                return Err(format!(
                    "openssl {} failed: {}",
                    args.join(" "),
                    String::from_utf8_lossy(&out.stderr)
                ));
            }
        }
        Ok(ca)
    }

    /// The CA certificate (PEM): what a client must trust.
    pub fn ca_pem(&self) -> PathBuf {
        self.dir.join("ca.pem")
    }

    /// The server's certificate (PEM), for 127.0.0.1 and localhost.
    pub fn cert_pem(&self) -> PathBuf {
        self.dir.join("server.pem")
    }

    /// The server's private key (PEM).
    pub fn key_pem(&self) -> PathBuf {
        self.dir.join("server.key")
    }

    /// The CA as extra roots for a client.
    pub fn roots(&self) -> ExtraRoots {
        ExtraRoots::from_pem_file(&self.ca_pem()).unwrap_or_default()
    }
}

impl Drop for TestCa {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

fn find_binary() -> Option<PathBuf> {
    let mut dirs: Vec<PathBuf> = vec!["/usr/sbin".into(), "/usr/local/sbin".into()];
    if let Some(path) = std::env::var_os("PATH") {
        dirs.extend(std::env::split_paths(&path));
    }
    dirs.into_iter()
        .map(|d| d.join("dovecot"))
        .find(|p| p.is_file())
}

/// A user as /etc/passwd lists it: name, uid, gid.
type PasswdEntry = (String, u32, u32);

/// The current user's uid (from /proc) and the users of /etc/passwd.
fn users() -> std::io::Result<(u32, Vec<PasswdEntry>)> {
    let status = std::fs::read_to_string("/proc/self/status")?;
    let uid = status
        .lines()
        .find_map(|l| l.strip_prefix("Uid:"))
        .and_then(|l| l.split_whitespace().next())
        .and_then(|u| u.parse().ok())
        .unwrap_or(0);
    let passwd = std::fs::read_to_string("/etc/passwd")?;
    let list = passwd
        .lines()
        .filter_map(|l| {
            let f: Vec<&str> = l.split(':').collect();
            Some((
                f.first()?.to_string(),
                f.get(2)?.parse().ok()?,
                f.get(3)?.parse().ok()?,
            ))
        })
        .collect();
    Ok((uid, list))
}

fn free_port() -> std::io::Result<u16> {
    Ok(TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

impl Dovecot {
    /// Starts Dovecot (plain text only) and waits until it greets. Fails with what to do when
    /// `dovecot` is not installed or does not come up (its log is included).
    pub fn start() -> Result<Dovecot, String> {
        Dovecot::start_with(None)
    }

    /// Starts Dovecot serving TLS with `ca`'s server certificate: `ssl = required`, so the
    /// plain port offers STARTTLS and signs nobody in before it, and [`Dovecot::tls_port`]
    /// speaks implicit TLS (imaps).
    pub fn start_tls(ca: &TestCa) -> Result<Dovecot, String> {
        Dovecot::start_with(Some(ca))
    }

    fn start_with(tls: Option<&TestCa>) -> Result<Dovecot, String> {
        let binary = find_binary().ok_or(
            "dovecot is not installed: apt-get install dovecot-imapd (scripts/test does this)",
        )?;
        let (uid, list) = users().map_err(|e| format!("reading the user database: {e}"))?;
        let find = |name: &str| list.iter().find(|(n, _, _)| n == name).cloned();
        // Dovecot refuses to run its login and internal processes as root; Debian's package
        // has users for them.
        let (login_user, internal, mail_owner) = if uid == 0 {
            let internal = find("dovecot").ok_or("the 'dovecot' system user is missing")?;
            let login = find("dovenull").ok_or("the 'dovenull' system user is missing")?;
            (login.0, internal.clone(), internal)
        } else {
            let me = list
                .iter()
                .find(|(_, u, _)| *u == uid)
                .cloned()
                .ok_or("the current user is not in /etc/passwd")?;
            (me.0.clone(), me.clone(), me)
        };
        let internal_group = if uid == 0 {
            internal.0.clone()
        } else {
            // The primary group's name is not needed when we run as that user.
            String::new()
        };
        let dir = unique_dir("concierge-dovecot");
        let io = |e: std::io::Error| format!("preparing {}: {e}", dir.display());
        std::fs::create_dir_all(dir.join("mail")).map_err(io)?;
        std::fs::create_dir_all(dir.join("home")).map_err(io)?;
        {
            use std::os::unix::fs::PermissionsExt;
            std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o755)).map_err(io)?;
            if uid == 0 {
                for sub in ["mail", "home"] {
                    std::os::unix::fs::chown(dir.join(sub), Some(mail_owner.1), Some(mail_owner.2))
                        .map_err(io)?;
                }
            }
        }
        std::fs::write(
            dir.join("passwd"),
            format!("{USER}:{{PLAIN}}{PASSWORD}::::::\n"),
        )
        .map_err(io)?;
        let port = free_port().map_err(|e| format!("finding a free port: {e}"))?;
        let tls_port = match tls {
            Some(_) => Some(free_port().map_err(|e| format!("finding a free port: {e}"))?),
            None => None,
        };
        let ssl = match tls {
            None => "ssl = no\n".to_string(),
            Some(ca) => format!(
                "ssl = required\nssl_cert = <{}\nssl_key = <{}\nssl_min_protocol = TLSv1.2\n",
                ca.cert_pem().display(),
                ca.key_pem().display()
            ),
        };
        let imaps = match tls_port {
            None => "  inet_listener imaps {\n    port = 0\n  }\n".to_string(),
            Some(p) => format!(
                "  inet_listener imaps {{\n    address = 127.0.0.1\n    port = {p}\n    ssl = yes\n  }}\n"
            ),
        };
        let d = dir.display();
        let group_line = if internal_group.is_empty() {
            String::new()
        } else {
            format!("default_internal_group = {internal_group}\n")
        };
        let conf = format!(
            "protocols = imap\n\
             listen = 127.0.0.1\n\
             base_dir = {d}/run\n\
             state_dir = {d}/state\n\
             log_path = {d}/dovecot.log\n\
             {ssl}\
             disable_plaintext_auth = no\n\
             auth_mechanisms = plain login\n\
             default_internal_user = {internal}\n\
             {group_line}\
             default_login_user = {login_user}\n\
             first_valid_uid = 0\n\
             mail_location = maildir:{d}/mail/%u\n\
             passdb {{\n  driver = passwd-file\n  args = scheme=PLAIN {d}/passwd\n}}\n\
             userdb {{\n  driver = static\n  args = uid={muid} gid={mgid} home={d}/home/%u\n}}\n\
             service imap-login {{\n  chroot =\n  inet_listener imap {{\n    address = 127.0.0.1\n    port = {port}\n  }}\n{imaps}}}\n\
             service anvil {{\n  chroot =\n}}\n\
             protocol imap {{\n  mail_max_userip_connections = 100\n}}\n",
            internal = internal.0,
            muid = mail_owner.1,
            mgid = mail_owner.2,
        );
        let conf_path = dir.join("dovecot.conf");
        std::fs::write(&conf_path, conf).map_err(io)?;
        let child = Command::new(&binary)
            .arg("-F")
            .arg("-c")
            .arg(&conf_path)
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .map_err(|e| format!("starting {}: {e}", binary.display()))?;
        let mut d = Dovecot {
            child,
            dir,
            port,
            tls_port,
            ca: tls.map(TestCa::roots),
        };
        d.wait_ready()?;
        Ok(d)
    }

    fn wait_ready(&mut self) -> Result<(), String> {
        let deadline = Instant::now() + Duration::from_secs(20);
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                let mut err = String::new();
                if let Some(e) = self.child.stderr.as_mut() {
                    let _ = e.read_to_string(&mut err);
                }
                return Err(format!("dovecot exited ({status}): {err}\n{}", self.log()));
            }
            if let Ok(mut s) = TcpStream::connect(("127.0.0.1", self.port)) {
                let _ = s.set_read_timeout(Some(Duration::from_secs(2)));
                let mut buf = [0u8; 64];
                if let Ok(n) = s.read(&mut buf)
                    && buf[..n].starts_with(b"* OK")
                {
                    return Ok(());
                }
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "dovecot did not greet on port {}\n{}",
                    self.port,
                    self.log()
                ));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    /// What Dovecot logged (for failure messages).
    pub fn log(&self) -> String {
        std::fs::read_to_string(self.dir.join("dovecot.log")).unwrap_or_default()
    }

    /// The server's folder.
    pub fn dir(&self) -> &Path {
        &self.dir
    }

    /// A client configuration for the test user reading `folder`: plain text, or STARTTLS
    /// trusting the test CA when the server serves TLS.
    pub fn config(&self, folder: &str) -> ImapConfig {
        ImapConfig {
            host: "127.0.0.1".into(),
            port: self.port,
            tls: if self.ca.is_some() {
                TlsMode::StartTls
            } else {
                TlsMode::None
            },
            username: USER.into(),
            password: PASSWORD.into(),
            folder: folder.into(),
            timeout: Duration::from_secs(30),
            extra_roots: self.ca.clone().unwrap_or_default(),
        }
    }
}

impl Drop for Dovecot {
    fn drop(&mut self) {
        // SIGTERM lets the master stop its children; SIGKILL only if it does not.
        let _ = Command::new("kill")
            .arg("-TERM")
            .arg(self.child.id().to_string())
            .status();
        let deadline = Instant::now() + Duration::from_secs(5);
        while Instant::now() < deadline {
            if let Ok(Some(_)) = self.child.try_wait() {
                break;
            }
            std::thread::sleep(Duration::from_millis(20));
        }
        let _ = self.child.kill();
        let _ = self.child.wait();
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}
