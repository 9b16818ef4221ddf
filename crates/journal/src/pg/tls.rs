//! TLS to the PostgreSQL journal, as libpq's `sslmode` describes it.
//!
//! tokio-postgres understands `sslmode=disable|prefer|require` only and
//! knows no `sslrootcert`; this module takes `sslmode` and `sslrootcert`
//! out of the URL, hands the driver the rest, and builds the rustls client
//! (ring provider) that checks what the mode asks for:
//!
//! - `disable`: no TLS.
//! - `prefer` (the default) and `require`: TLS (`prefer` falls back to
//!   plain TCP when the server has no TLS); the server's certificate is not
//!   checked unless `sslrootcert` is given, as libpq does: encryption
//!   against a passive eavesdropper, not against an impostor.
//! - `verify-ca`: TLS, the certificate chain checked against the roots,
//!   the host name not.
//! - `verify-full`: TLS, the chain and the host name checked.
//!
//! The roots are `sslrootcert`'s PEM file when given (`sslrootcert=system`
//! means the platform's, as in libpq), else the platform's
//! (rustls-native-certs), else webpki-roots' copy of Mozilla's.

use std::fmt;
use std::path::PathBuf;
use std::sync::Arc;

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::client::{WebPkiServerVerifier, verify_server_cert_signed_by_trust_anchor};
use rustls::crypto::WebPkiSupportedAlgorithms;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::server::ParsedCertificate;
use rustls::{ClientConfig, DigitallySignedStruct, RootCertStore, SignatureScheme};
use tokio_postgres::config::SslMode;
use tokio_postgres_rustls::MakeRustlsConnect;

/// What `sslmode` asks for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Mode {
    /// No TLS.
    Disable,
    /// TLS if the server offers it, else plain TCP.
    Prefer,
    /// TLS or no connection.
    Require,
    /// TLS, the chain checked against the roots.
    VerifyCa,
    /// TLS, the chain and the host name checked.
    VerifyFull,
}

impl Mode {
    fn parse(value: &str) -> Option<Self> {
        Some(match value {
            "disable" => Self::Disable,
            "prefer" => Self::Prefer,
            "require" => Self::Require,
            "verify-ca" => Self::VerifyCa,
            "verify-full" => Self::VerifyFull,
            _ => return None,
        })
    }

    fn name(self) -> &'static str {
        match self {
            Self::Disable => "disable",
            Self::Prefer => "prefer",
            Self::Require => "require",
            Self::VerifyCa => "verify-ca",
            Self::VerifyFull => "verify-full",
        }
    }

    /// What the driver is told: it only needs to know whether TLS may be
    /// skipped.
    pub(crate) fn driver(self) -> SslMode {
        match self {
            Self::Disable => SslMode::Disable,
            Self::Prefer => SslMode::Prefer,
            Self::Require | Self::VerifyCa | Self::VerifyFull => SslMode::Require,
        }
    }
}

/// Where the trusted roots come from.
#[derive(Debug, Clone, PartialEq, Eq)]
enum Roots {
    /// `sslrootcert=PATH`: the CA certificates in that PEM file.
    File(PathBuf),
    /// The platform's (`sslrootcert=system`, or verification without
    /// `sslrootcert`), else webpki-roots.
    System,
}

/// The TLS half of a journal URL.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct Tls {
    /// The mode asked for (`prefer` when the URL names none).
    pub(crate) mode: Mode,
    /// `sslrootcert`, if given.
    roots: Option<Roots>,
}

impl fmt::Display for Tls {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "sslmode={}", self.mode.name())?;
        match (&self.roots, self.verifies()) {
            (_, false) => Ok(()),
            (Some(Roots::File(p)), true) => write!(f, ", trusting the CAs in {}", p.display()),
            (_, true) => write!(f, ", trusting the system's CAs"),
        }
    }
}

/// Decodes `%XX` escapes (a path in a URL's query may carry them).
fn percent_decode(s: &str) -> String {
    let bytes = s.as_bytes();
    let mut out = Vec::with_capacity(bytes.len());
    let mut i = 0;
    while i < bytes.len() {
        if bytes[i] == b'%'
            && let Some(hex) = s.get(i + 1..i + 3)
            && let Ok(b) = u8::from_str_radix(hex, 16)
        {
            out.push(b);
            i += 3;
        } else {
            out.push(if bytes[i] == b'+' { b' ' } else { bytes[i] });
            i += 1;
        }
    }
    String::from_utf8_lossy(&out).into_owned()
}

/// Takes `sslmode` and `sslrootcert` out of a `postgres://` URL: returns
/// the URL for the driver and the TLS settings. The error names the
/// offending parameter only (never the URL, which may hold a password).
pub(crate) fn split(url: &str) -> Result<(String, Tls), String> {
    let mut tls = Tls {
        mode: Mode::Prefer,
        roots: None,
    };
    let Some(q) = url.find('?') else {
        return Ok((url.to_owned(), tls));
    };
    let (base, query) = (&url[..q], &url[q + 1..]);
    let mut kept = Vec::new();
    for kv in query.split('&').filter(|kv| !kv.is_empty()) {
        let (k, v) = kv.split_once('=').unwrap_or((kv, ""));
        match k {
            "sslmode" => {
                let v = percent_decode(v);
                tls.mode = Mode::parse(&v).ok_or_else(|| {
                    format!(
                        "sslmode={v} is not supported: use disable, prefer, require, verify-ca \
                         or verify-full"
                    )
                })?;
            }
            "sslrootcert" => {
                let v = percent_decode(v);
                tls.roots = Some(match v.as_str() {
                    "" => return Err("sslrootcert= names no file".into()),
                    "system" => Roots::System,
                    _ => Roots::File(PathBuf::from(v)),
                });
            }
            _ => kept.push(kv),
        }
    }
    let driver = if kept.is_empty() {
        base.to_owned()
    } else {
        format!("{base}?{}", kept.join("&"))
    };
    Ok((driver, tls))
}

impl Tls {
    /// What a failed connection's message gains: the TLS asked for, and
    /// what a certificate error means in these terms.
    pub(crate) fn explain(&self, cause: &str) -> String {
        let hint = if cause.contains("UnknownIssuer") {
            ": the server's certificate is not signed by a trusted CA"
        } else if cause.contains("NotValidForName") || cause.contains("not valid for name") {
            ": the server's certificate does not name the host connected to"
        } else if cause.contains("Expired") {
            ": the server's certificate has expired"
        } else {
            ""
        };
        format!("{self}{hint}")
    }

    /// Whether the server's certificate chain is checked.
    fn verifies(&self) -> bool {
        matches!(self.mode, Mode::VerifyCa | Mode::VerifyFull) || self.roots.is_some()
    }

    /// The driver's TLS connector for these settings. Reads the roots
    /// (when the mode verifies); the error says which file or store failed.
    pub(crate) fn connector(&self) -> Result<MakeRustlsConnect, String> {
        let provider = Arc::new(rustls::crypto::ring::default_provider());
        let builder = ClientConfig::builder_with_provider(Arc::clone(&provider))
            .with_safe_default_protocol_versions()
            .map_err(|e| format!("TLS setup: {e}"))?;
        // With `disable` the connector is never used: the driver does not
        // start TLS.
        let algorithms = provider.signature_verification_algorithms;
        let config = if self.mode == Mode::Disable || !self.verifies() {
            builder
                .dangerous()
                .with_custom_certificate_verifier(Arc::new(Lenient {
                    roots: None,
                    algorithms,
                }))
                .with_no_client_auth()
        } else {
            let roots = Arc::new(self.load_roots()?);
            if self.mode == Mode::VerifyFull {
                let webpki = WebPkiServerVerifier::builder_with_provider(roots, provider)
                    .build()
                    .map_err(|e| format!("TLS setup: {e}"))?;
                builder.with_webpki_verifier(webpki).with_no_client_auth()
            } else {
                builder
                    .dangerous()
                    .with_custom_certificate_verifier(Arc::new(Lenient {
                        roots: Some(roots),
                        algorithms,
                    }))
                    .with_no_client_auth()
            }
        };
        Ok(MakeRustlsConnect::new(config))
    }

    fn load_roots(&self) -> Result<RootCertStore, String> {
        let mut store = RootCertStore::empty();
        if let Some(Roots::File(path)) = &self.roots {
            let shown = path.display();
            let certs = CertificateDer::pem_file_iter(path)
                .map_err(|e| format!("sslrootcert {shown}: {e}"))?
                .collect::<Result<Vec<_>, _>>()
                .map_err(|e| format!("sslrootcert {shown}: {e}"))?;
            let (added, _) = store.add_parsable_certificates(certs);
            if added == 0 {
                return Err(format!(
                    "sslrootcert {shown}: no usable CA certificate in the file (PEM expected)"
                ));
            }
            return Ok(store);
        }
        let native = rustls_native_certs::load_native_certs();
        let (added, _) = store.add_parsable_certificates(native.certs);
        if added == 0 {
            tracing::debug!(
                errors = native.errors.len(),
                "no platform CA certificates; trusting webpki-roots"
            );
            store.extend(webpki_roots::TLS_SERVER_ROOTS.iter().cloned());
        }
        Ok(store)
    }
}

/// The modes webpki's own verifier does not fit, which never compare the
/// host name:
/// - without `roots`, libpq's `sslmode=require` (and `prefer`) when no root
///   certificate is given: the connection is encrypted, but any
///   certificate the server presents is accepted, so it protects against
///   eavesdropping and not against an impostor in the middle;
/// - with `roots`, `sslmode=verify-ca` (or `prefer`/`require` with
///   `sslrootcert`): the chain must lead to one of the roots.
///
/// Either way the handshake's signatures are checked against the presented
/// certificate. `verify-full` never comes here.
#[derive(Debug)]
struct Lenient {
    roots: Option<Arc<RootCertStore>>,
    algorithms: WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Lenient {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp_response: &[u8],
        now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if let Some(roots) = &self.roots {
            let cert = ParsedCertificate::try_from(end_entity)?;
            verify_server_cert_signed_by_trust_anchor(
                &cert,
                roots,
                intermediates,
                now,
                self.algorithms.all,
            )?;
        }
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.algorithms)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.algorithms)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.algorithms.supported_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::{Mode, Roots, split};
    use std::path::PathBuf;

    #[test]
    fn ssl_parameters_are_taken_out_of_the_url() {
        let (url, tls) =
            split("postgres://u:pw@h:5/db?sslmode=verify-full&sslrootcert=/a%20b/ca.pem").unwrap();
        assert_eq!(url, "postgres://u:pw@h:5/db");
        assert_eq!(tls.mode, Mode::VerifyFull);
        assert_eq!(tls.roots, Some(Roots::File(PathBuf::from("/a b/ca.pem"))));
        assert_eq!(
            tls.to_string(),
            "sslmode=verify-full, trusting the CAs in /a b/ca.pem"
        );

        let (url, tls) =
            split("postgres://h/db?connect_timeout=5&sslmode=require&application_name=x").unwrap();
        assert_eq!(url, "postgres://h/db?connect_timeout=5&application_name=x");
        assert_eq!(tls.mode, Mode::Require);
        assert_eq!(tls.roots, None);
        assert_eq!(tls.to_string(), "sslmode=require");

        let (url, tls) = split("postgres://h/db").unwrap();
        assert_eq!(url, "postgres://h/db");
        assert_eq!(tls.mode, Mode::Prefer);

        let (_, tls) = split("postgres://h/db?sslmode=verify-ca&sslrootcert=system").unwrap();
        assert_eq!(tls.roots, Some(Roots::System));
        assert_eq!(
            tls.to_string(),
            "sslmode=verify-ca, trusting the system's CAs"
        );
    }

    #[test]
    fn unknown_modes_are_refused_without_the_url() {
        let e = split("postgres://u:secret@h/db?sslmode=allow").unwrap_err();
        assert!(e.contains("sslmode=allow"), "{e}");
        assert!(!e.contains("secret"), "{e}");
    }
}
