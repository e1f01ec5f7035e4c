//! The HTTP client options Logstash's http plugins share (its `http_client` mixin):
//! timeouts, basic auth, CA certificates and verification. Used by the http output and filter.

use rstash_pipeline::{opt, Opt, Ty};
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

/// The options of the HTTP client shared by the http filter and output and the elasticsearch filter.
pub const OPTIONS: &[Opt] = &[
    opt("request_timeout", Ty::Number).default("60"),
    opt("connect_timeout", Ty::Number).default("10"),
    opt("socket_timeout", Ty::Number).default("10"),
    opt("automatic_retries", Ty::Number).default("1"),
    opt("user", Ty::Str),
    opt("password", Ty::Password),
    opt("ssl_certificate_authorities", Ty::Array).default("[]"),
    opt("cacert", Ty::Path).deprecated("use ssl_certificate_authorities"),
    opt("ssl_verification_mode", Ty::Choice(&["full", "none"])).default("full"),
    opt("keepalive", Ty::Boolean).ignored(POOL),
    opt("pool_max", Ty::Number).ignored(POOL),
    opt("pool_max_per_route", Ty::Number).ignored(POOL),
    opt("validate_after_inactivity", Ty::Number).ignored(POOL),
    opt("retry_non_idempotent", Ty::Boolean).ignored("requests are retried per automatic_retries"),
    opt("cookies", Ty::Boolean).ignored("no cookie store"),
    opt("follow_redirects", Ty::Boolean).ignored("redirects are not followed"),
];

const POOL: &str = "connections are pooled by the HTTP client";

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
