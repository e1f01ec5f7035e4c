//! TLS for servers (beats/tcp inputs) and clients (tcp output, the shipper) with rustls, from
//! PEM files as Logstash and Filebeat take them.

use std::path::Path;
use std::sync::Arc;

use rustls::server::WebPkiClientVerifier;
use rustls::RootCertStore;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use thiserror::Error;
pub use tokio_rustls::{TlsAcceptor, TlsConnector};

#[derive(Debug, Error)]
#[error("{0}")]
pub struct TlsError(pub String);

/// `ssl_client_authentication`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClientAuth {
    None,
    Optional,
    Required,
}

impl ClientAuth {
    pub fn parse(s: &str) -> Option<ClientAuth> {
        match s {
            "none" => Some(ClientAuth::None),
            "optional" => Some(ClientAuth::Optional),
            "required" => Some(ClientAuth::Required),
            _ => None,
        }
    }
}

fn provider() -> Arc<rustls::crypto::CryptoProvider> {
    Arc::new(rustls::crypto::ring::default_provider())
}

pub fn load_certs(path: &Path) -> Result<Vec<CertificateDer<'static>>, TlsError> {
    let certs: Vec<_> = CertificateDer::pem_file_iter(path)
        .map_err(|e| {
            TlsError(format!(
                "cannot read certificates from {}: {e}",
                path.display()
            ))
        })?
        .collect::<Result<_, _>>()
        .map_err(|e| TlsError(format!("bad certificate in {}: {e}", path.display())))?;
    if certs.is_empty() {
        return Err(TlsError(format!(
            "no certificate found in {}",
            path.display()
        )));
    }
    Ok(certs)
}

pub fn load_key(path: &Path) -> Result<PrivateKeyDer<'static>, TlsError> {
    PrivateKeyDer::from_pem_file(path).map_err(|e| {
        TlsError(format!(
            "cannot read a private key from {}: {e}",
            path.display()
        ))
    })
}

fn roots(cas: &[impl AsRef<Path>]) -> Result<RootCertStore, TlsError> {
    let mut roots = RootCertStore::empty();
    for ca in cas {
        for c in load_certs(ca.as_ref())? {
            roots.add(c).map_err(|e| {
                TlsError(format!(
                    "bad CA certificate in {}: {e}",
                    ca.as_ref().display()
                ))
            })?;
        }
    }
    Ok(roots)
}

/// A server's TLS: its certificate and key, and the CAs that client certificates must chain to.
pub fn server(
    cert: &Path,
    key: &Path,
    cas: &[impl AsRef<Path>],
    auth: ClientAuth,
) -> Result<TlsAcceptor, TlsError> {
    let builder = rustls::ServerConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?;
    let builder = match auth {
        ClientAuth::None => builder.with_no_client_auth(),
        _ => {
            if cas.is_empty() {
                return Err(TlsError(
                    "client authentication needs ssl_certificate_authorities".into(),
                ));
            }
            let v = WebPkiClientVerifier::builder_with_provider(Arc::new(roots(cas)?), provider());
            let v = if auth == ClientAuth::Optional {
                v.allow_unauthenticated()
            } else {
                v
            };
            builder.with_client_cert_verifier(v.build().map_err(|e| TlsError(e.to_string()))?)
        }
    };
    let config = builder
        .with_single_cert(load_certs(cert)?, load_key(key)?)
        .map_err(|e| TlsError(e.to_string()))?;
    Ok(TlsAcceptor::from(Arc::new(config)))
}

/// A client's TLS: trusted CAs and an optional client certificate.
pub fn client(
    cas: &[impl AsRef<Path>],
    identity: Option<(&Path, &Path)>,
) -> Result<TlsConnector, TlsError> {
    client_config(ServerCheck::Cas(cas, &[], false), identity).map(TlsConnector::from)
}

/// How a client checks the server's certificate.
pub enum ServerCheck<'a, P: AsRef<Path>> {
    /// Chained to one of these CAs and not revoked by these CRLs (the whole chain checked
    /// against them when the flag is set, else only the server's own certificate).
    Cas(&'a [P], &'a [P], bool),
    /// Not at all: what Logstash's plugins do with `ssl_verify => false`.
    Unchecked,
}

/// A client's TLS configuration, for blocking streams (`rustls::StreamOwned`) as for tokio's.
pub fn client_config<P: AsRef<Path>>(
    check: ServerCheck<'_, P>,
    identity: Option<(&Path, &Path)>,
) -> Result<Arc<rustls::ClientConfig>, TlsError> {
    let builder = rustls::ClientConfig::builder_with_provider(provider())
        .with_safe_default_protocol_versions()
        .map_err(|e| TlsError(e.to_string()))?;
    let builder = match check {
        ServerCheck::Cas(cas, [], _) => builder.with_root_certificates(roots(cas)?),
        ServerCheck::Cas(cas, crl_files, whole_chain) => {
            let mut crls = Vec::new();
            for f in crl_files {
                let path = f.as_ref();
                for c in rustls_pki_types::CertificateRevocationListDer::pem_file_iter(path)
                    .map_err(|e| {
                        TlsError(format!("cannot read CRLs from {}: {e}", path.display()))
                    })?
                {
                    crls.push(
                        c.map_err(|e| TlsError(format!("bad CRL in {}: {e}", path.display())))?,
                    );
                }
            }
            let v = rustls::client::WebPkiServerVerifier::builder_with_provider(
                Arc::new(roots(cas)?),
                provider(),
            )
            .with_crls(crls);
            let v = if whole_chain {
                v
            } else {
                v.only_check_end_entity_revocation()
            };
            builder
                .dangerous()
                .with_custom_certificate_verifier(v.build().map_err(|e| TlsError(e.to_string()))?)
        }
        ServerCheck::Unchecked => builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(Unchecked(provider()))),
    };
    let config = match identity {
        Some((cert, key)) => builder
            .with_client_auth_cert(load_certs(cert)?, load_key(key)?)
            .map_err(|e| TlsError(e.to_string()))?,
        None => builder.with_no_client_auth(),
    };
    Ok(Arc::new(config))
}

/// Accepts any server certificate; signatures are still checked, so the handshake is sound.
#[derive(Debug)]
struct Unchecked(Arc<rustls::crypto::CryptoProvider>);

impl rustls::client::danger::ServerCertVerifier for Unchecked {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: rustls_pki_types::UnixTime,
    ) -> Result<rustls::client::danger::ServerCertVerified, rustls::Error> {
        Ok(rustls::client::danger::ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &rustls::DigitallySignedStruct,
    ) -> Result<rustls::client::danger::HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(
            message,
            cert,
            dss,
            &self.0.signature_verification_algorithms,
        )
    }

    fn supported_verify_schemes(&self) -> Vec<rustls::SignatureScheme> {
        self.0.signature_verification_algorithms.supported_schemes()
    }
}

pub fn server_name(host: &str) -> Result<ServerName<'static>, TlsError> {
    ServerName::try_from(host.to_string())
        .map_err(|e| TlsError(format!("bad TLS server name `{host}`: {e}")))
}

/// A runtime for a network plugin: its own threads, so a busy input never starves the others.
pub fn runtime(name: &str, threads: usize) -> std::io::Result<tokio::runtime::Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(threads.max(1))
        .thread_name(name.to_string())
        .enable_all()
        .build()
}

/// The `Authorization` header for Elasticsearch: an API key wins over user and password.
pub fn es_authorization(
    user: Option<&str>,
    password: Option<&str>,
    api_key: Option<&str>,
) -> Option<String> {
    match (user, password, api_key) {
        (_, _, Some(key)) => Some(format!("ApiKey {}", base64(key.as_bytes()))),
        (Some(u), p, None) => Some(format!(
            "Basic {}",
            base64(format!("{u}:{}", p.unwrap_or_default()).as_bytes())
        )),
        _ => None,
    }
}

/// Standard base64 with padding: HTTP Basic and ApiKey credentials for Elasticsearch clients.
pub fn base64(data: &[u8]) -> String {
    const T: &[u8; 64] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";
    let mut out = String::with_capacity(data.len().div_ceil(3) * 4);
    for c in data.chunks(3) {
        let n = (c[0] as u32) << 16
            | (*c.get(1).unwrap_or(&0) as u32) << 8
            | *c.get(2).unwrap_or(&0) as u32;
        for i in 0..4 {
            if i <= c.len() {
                out.push(T[(n >> (18 - 6 * i) & 63) as usize] as char);
            } else {
                out.push('=');
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn builds_server_and_client_from_pem_files() {
        let dir = tempfile::tempdir().unwrap();
        let ca = rcgen::generate_simple_self_signed(vec!["localhost".into()]).unwrap();
        let cert = dir.path().join("c.pem");
        let key = dir.path().join("k.pem");
        std::fs::write(&cert, ca.cert.pem()).unwrap();
        std::fs::write(&key, ca.signing_key.serialize_pem()).unwrap();
        assert!(server(&cert, &key, &[&cert], ClientAuth::Required).is_ok());
        assert!(server(&cert, &key, &[] as &[&Path], ClientAuth::Required).is_err());
        assert!(client(&[&cert], None).is_ok());
        assert!(load_certs(&key).is_err());
    }
}
