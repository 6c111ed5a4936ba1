//! Which servers TLS trusts, for IMAP and SMTP alike: the Mozilla roots (webpki-roots) plus any
//! private CA an operator adds (`[mail] tls_ca_file`, PEM). Also turns a failed handshake into
//! a message that says what is wrong with the certificate and what to do about it.

use std::sync::Arc;
use tokio_rustls::rustls;
use tokio_rustls::rustls::pki_types::CertificateDer;
use tokio_rustls::rustls::pki_types::pem::PemObject;

/// Root certificates trusted in addition to the webpki roots (none by default).
#[derive(Clone, Default, PartialEq, Eq)]
pub struct ExtraRoots {
    certs: Arc<Vec<CertificateDer<'static>>>,
}

impl std::fmt::Debug for ExtraRoots {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "ExtraRoots({} certificates)", self.certs.len())
    }
}

impl ExtraRoots {
    /// No extra roots: only the webpki roots are trusted.
    pub fn none() -> ExtraRoots {
        ExtraRoots::default()
    }

    /// The certificates of a PEM text (one or more `BEGIN CERTIFICATE` blocks); an error when
    /// there is none or one does not parse.
    pub fn from_pem(pem: &[u8]) -> Result<ExtraRoots, String> {
        let certs = CertificateDer::pem_slice_iter(pem)
            .collect::<Result<Vec<_>, _>>()
            .map_err(|e| format!("not a PEM certificate list: {e}"))?;
        if certs.is_empty() {
            return Err("it holds no PEM certificate (-----BEGIN CERTIFICATE-----)".into());
        }
        // Each one must be usable as a trust anchor.
        let mut store = rustls::RootCertStore::empty();
        for (i, c) in certs.iter().enumerate() {
            store
                .add(c.clone())
                .map_err(|e| format!("certificate {} cannot be a root: {e}", i + 1))?;
        }
        Ok(ExtraRoots {
            certs: Arc::new(certs),
        })
    }

    /// Reads a PEM file of CA certificates; the error names the file.
    pub fn from_pem_file(path: &std::path::Path) -> Result<ExtraRoots, String> {
        let pem = std::fs::read(path)
            .map_err(|e| format!("cannot read the CA file {}: {e}", path.display()))?;
        ExtraRoots::from_pem(&pem).map_err(|e| format!("the CA file {}: {e}", path.display()))
    }

    /// How many certificates are added.
    pub fn len(&self) -> usize {
        self.certs.len()
    }

    /// True when only the webpki roots are trusted.
    pub fn is_empty(&self) -> bool {
        self.certs.is_empty()
    }

    /// The webpki roots plus these.
    pub fn root_store(&self) -> rustls::RootCertStore {
        let mut store = rustls::RootCertStore {
            roots: webpki_roots::TLS_SERVER_ROOTS.to_vec(),
        };
        // Checked in `from_pem`; `add` cannot fail here.
        let _ = store.add_parsable_certificates(self.certs.iter().cloned());
        store
    }

    /// The same roots for lettre's SMTP transport.
    pub(crate) fn lettre_parameters(
        &self,
        host: &str,
    ) -> Result<lettre::transport::smtp::client::TlsParameters, String> {
        use lettre::transport::smtp::client::{Certificate, CertificateStore, TlsParameters};
        let mut b = TlsParameters::builder(host.to_string())
            .certificate_store(CertificateStore::WebpkiRoots);
        for c in self.certs.iter() {
            let cert = Certificate::from_der(c.to_vec()).map_err(|e| e.to_string())?;
            b = b.add_root_certificate(cert);
        }
        b.build_rustls().map_err(|e| e.to_string())
    }
}

/// Explains a failed certificate check: what rustls found, and the fix when it is a private CA.
pub fn explain_certificate_error(what: &str) -> String {
    let lower = what.to_ascii_lowercase();
    if lower.contains("unknownissuer") || lower.contains("unknown issuer") {
        format!(
            "the server's certificate is not trusted ({what}); if it is signed by a private \
             CA, add that CA's certificate with [mail] tls_ca_file"
        )
    } else if lower.contains("notvalidforname") || lower.contains("not valid for name") {
        format!("the server's certificate does not name the host connected to ({what})")
    } else if lower.contains("expired") || lower.contains("notvalidyet") {
        format!("the server's certificate is outside its validity period ({what})")
    } else if lower.contains("certificate") {
        format!("the server's certificate was refused ({what})")
    } else {
        what.to_string()
    }
}

/// The text of an I/O error from a TLS handshake, with the certificate problem explained.
pub(crate) fn handshake_error(e: &std::io::Error) -> String {
    match e.get_ref().and_then(|i| i.downcast_ref::<rustls::Error>()) {
        Some(rustls::Error::InvalidCertificate(c)) => {
            explain_certificate_error(&format!("invalid peer certificate: {c:?}"))
        }
        Some(other) => other.to_string(),
        None => e.to_string(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pem_without_certificates_is_refused_with_the_reason() {
        let err = ExtraRoots::from_pem(b"hello").unwrap_err();
        assert!(err.contains("no PEM certificate"), "{err}");
        let err =
            ExtraRoots::from_pem_file(std::path::Path::new("/nonexistent/ca.pem")).unwrap_err();
        assert!(err.contains("/nonexistent/ca.pem"), "{err}");
        assert!(ExtraRoots::none().is_empty());
        assert!(ExtraRoots::none().root_store().len() > 50);
    }

    #[test]
    fn an_unknown_issuer_says_how_to_trust_a_private_ca() {
        let m = explain_certificate_error("invalid peer certificate: UnknownIssuer");
        assert!(
            m.contains("not trusted") && m.contains("tls_ca_file"),
            "{m}"
        );
    }
}
