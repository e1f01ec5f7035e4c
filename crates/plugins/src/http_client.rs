//! The HTTP client options Logstash's http plugins share (its `http_client` mixin):
//! timeouts, basic auth, CA certificates and verification. Used by the http output and filter.

use std::time::Duration;

use rstash_config::ConfigError;
use rstash_pipeline::Args;
use ureq::tls::{Certificate, PemItem, RootCerts, TlsConfig};

pub struct HttpClient {
    pub agent: ureq::Agent,
    /// The `Authorization` header for `user`/`password`.
    pub auth: Option<String>,
    pub automatic_retries: u32,
}

impl HttpClient {
    pub fn from_args(args: &mut Args) -> Result<HttpClient, ConfigError> {
        let secs = |args: &mut Args, name: &str, default: i64| -> Result<Duration, ConfigError> {
            Ok(Duration::from_secs(args.int(name, default)?.max(1) as u64))
        };
        let request = secs(args, "request_timeout", 60)?;
        let connect = secs(args, "connect_timeout", 10)?;
        let socket = secs(args, "socket_timeout", 10)?;
        let mut tls = TlsConfig::builder();
        let cas: Vec<String> = args
            .strings("ssl_certificate_authorities")?
            .into_iter()
            .chain(args.string("cacert")?)
            .collect();
        if !cas.is_empty() {
            let mut certs: Vec<Certificate<'static>> = Vec::new();
            for ca in &cas {
                let pem = std::fs::read(ca).map_err(|e| {
                    args.unavailable(
                        "ssl_certificate_authorities",
                        format!("cannot read {ca}: {e}"),
                    )
                })?;
                certs.extend(ureq::tls::parse_pem(&pem).filter_map(|i| match i {
                    Ok(PemItem::Certificate(c)) => Some(c.to_owned()),
                    _ => None,
                }));
            }
            tls = tls.root_certs(RootCerts::new_with_certs(&certs));
        }
        let mode = args.choice("ssl_verification_mode", &["full", "none"], "full")?;
        tls = tls.disable_verification(mode == "none");
        // Connection-pool tuning has no counterpart here: accepted, as Logstash configs set it.
        for o in [
            "keepalive",
            "pool_max",
            "pool_max_per_route",
            "validate_after_inactivity",
            "retry_non_idempotent",
            "cookies",
            "follow_redirects",
        ] {
            args.raw(o);
        }
        let agent = ureq::Agent::config_builder()
            .timeout_global(Some(request))
            .timeout_connect(Some(connect))
            .timeout_recv_response(Some(socket))
            .timeout_recv_body(Some(socket))
            .http_status_as_error(false)
            .tls_config(tls.build())
            .build()
            .into();
        let auth = match (args.string("user")?, args.string("password")?) {
            (Some(u), Some(p)) => Some(format!(
                "Basic {}",
                rstash_net::base64(format!("{u}:{p}").as_bytes())
            )),
            _ => None,
        };
        Ok(HttpClient {
            agent,
            auth,
            automatic_retries: args.int("automatic_retries", 1)?.max(0) as u32,
        })
    }
}

/// An option listing HTTP statuses (`retryable_codes`, `retry_on_status`...), `default` when
/// not given.
pub fn statuses(args: &mut Args, name: &str, default: &[u16]) -> Result<Vec<u16>, ConfigError> {
    if !args.has(name) {
        return Ok(default.to_vec());
    }
    args.strings(name)?
        .iter()
        .map(|c| {
            c.trim()
                .parse::<u16>()
                .map_err(|_| args.error_at(name, format!("`{c}` is not an HTTP status")))
        })
        .collect()
}
