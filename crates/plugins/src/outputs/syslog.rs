//! `syslog`: one RFC 3164 or RFC 5424 line per event to a syslog server over UDP or TCP, as
//! Logstash's output writes it: `<PRI>MMM dd HH:mm:ss host app[procid]: message` or
//! `<PRI>1 timestamp host app procid msgid sd message`, newline-terminated. Over TCP (or TLS,
//! `ssl-tcp`, the server unchecked unless `ssl_verify`, as Logstash's) a failed
//! write reconnects every `reconnect_interval` seconds and resends (nothing dropped); over UDP,
//! which has no acknowledgement, a send error is ignored, as Logstash does.

use rstash_pipeline::{opt, Options, Ty};
use std::io::Write;
use std::net::{TcpStream, UdpSocket};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use tokio_rustls::rustls::{ClientConfig, ClientConnection, StreamOwned};

use rstash_config::ConfigError;
use rstash_event::{Event, Template};
use rstash_pipeline::{Args, Codec, Output, PluginError};
use tracing::warn;

use crate::filters::syslog_pri::SEVERITIES;

/// Logstash's label table, positions as codes. It lacks two of RFC 5424's facilities (cron,
/// authpriv), so `local0` is 14 where the RFC says 16: kept, to send what Logstash sends.
const FACILITIES: [&str; 22] = [
    "kernel",
    "user-level",
    "mail",
    "daemon",
    "security/authorization",
    "syslogd",
    "line printer",
    "network news",
    "uucp",
    "clock",
    "ftp",
    "ntp",
    "log audit",
    "log alert",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];

enum Conn {
    Udp(UdpSocket),
    Tcp(TcpStream),
    Tls(Box<StreamOwned<ClientConnection, TcpStream>>),
}

/// Where Debian keeps the system's trusted CAs (Logstash's plugin adds the system's to
/// `ssl_cacert`).
const SYSTEM_CAS: &str = "/etc/ssl/certs/ca-certificates.crt";

pub struct SyslogOut {
    host: String,
    port: u16,
    udp: bool,
    tls: Option<Arc<ClientConfig>>,
    reconnect: Duration,
    rfc3164: bool,
    use_labels: bool,
    facility: Template,
    severity: Template,
    priority: Template,
    sourcehost: Template,
    appname: Template,
    procid: Template,
    msgid: Template,
    structured_data: Option<Template>,
    /// The payload: `message` unless a codec other than the default plain one is given.
    message: Template,
    codec: Option<Box<dyn Codec>>,
    /// The timestamp as the chosen RFC writes it.
    stamp: Template,
    conn: Option<Conn>,
    buf: Vec<u8>,
}

pub const OPTIONS: Options = &[&[
    opt("host", Ty::Str).required(),
    opt("port", Ty::Number).required(),
    opt("protocol", Ty::Choice(&["udp", "tcp", "ssl-tcp"])).default("udp"),
    opt("rfc", Ty::Choice(&["rfc3164", "rfc5424"])).default("rfc3164"),
    opt("facility", Ty::Str).default("user-level"),
    opt("severity", Ty::Str).default("notice"),
    opt("priority", Ty::Str).default("%{syslog_pri}"),
    opt("use_labels", Ty::Boolean).default("true"),
    opt("sourcehost", Ty::Str).default("%{host}"),
    opt("appname", Ty::Str).default("LOGSTASH"),
    opt("procid", Ty::Str).default("-"),
    opt("msgid", Ty::Str).default("-"),
    opt("message", Ty::Str).default("%{message}"),
    opt("structured_data", Ty::Str).default(""),
    opt("reconnect_interval", Ty::Number).default("1"),
    opt("ssl_cert", Ty::Path),
    opt("ssl_key", Ty::Path),
    opt("ssl_key_passphrase", Ty::Password),
    opt("ssl_cacert", Ty::Path),
    opt("ssl_verify", Ty::Boolean).default("false"),
    opt("ssl_crl", Ty::Path),
    opt("ssl_crl_check_all", Ty::Boolean).default("false"),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Output>, ConfigError> {
    let Some(host) = args.string("host")? else {
        return Err(args.error("syslog output needs `host`"));
    };
    let port = u16::try_from(args.int("port", -1)?)
        .map_err(|_| args.error("syslog output needs `port` (0-65535)"))?;
    let protocol = args.choice("protocol", &["udp", "tcp", "ssl-tcp"], "udp")?;
    let tls = if protocol == "ssl-tcp" {
        Some(tls(args)?)
    } else {
        None
    };
    let rfc3164 = args.choice("rfc", &["rfc3164", "rfc5424"], "rfc3164")? == "rfc3164";
    let sd = args.string_or("structured_data", "")?;
    if rfc3164 && !sd.is_empty() {
        return Err(args.error_at(
            "structured_data",
            "Structured data is not supported for RFC3164",
        ));
    }
    let mut tpl = |name: &str, default: &str| -> Result<Template, ConfigError> {
        let s = args.string_or(name, default)?;
        args.make_template(name, &s)
    };
    let (facility, severity, priority) = (
        tpl("facility", "user-level")?,
        tpl("severity", "notice")?,
        tpl("priority", "%{syslog_pri}")?,
    );
    let (sourcehost, appname, procid, msgid, message) = (
        tpl("sourcehost", "%{host}")?,
        tpl("appname", "LOGSTASH")?,
        tpl("procid", "-")?,
        tpl("msgid", "-")?,
        tpl("message", "%{message}")?,
    );
    let structured_data = if sd.is_empty() {
        None
    } else {
        Some(args.make_template("structured_data", &sd)?)
    };
    let codec = if args.has("codec") {
        Some(args.codec("plain")?)
    } else {
        None
    };
    Ok(Box::new(SyslogOut {
        host,
        port,
        udp: protocol == "udp",
        tls,
        reconnect: Duration::from_secs(args.int("reconnect_interval", 1)?.max(1) as u64),
        rfc3164,
        use_labels: args.bool("use_labels", true)?,
        facility,
        severity,
        priority,
        sourcehost,
        appname,
        procid,
        msgid,
        structured_data,
        message,
        codec,
        stamp: args.make_template(
            "rfc",
            if rfc3164 {
                "%{+MMM dd HH:mm:ss}"
            } else {
                "%{+YYYY-MM-dd'T'HH:mm:ss.SSSZZ}"
            },
        )?,
        conn: None,
        buf: Vec::new(),
    }))
}

/// `ssl-tcp`: the client certificate (`ssl_cert`, `ssl_key`) and, with `ssl_verify`, the CAs
/// (`ssl_cacert`, a file or a directory, plus the system's) and CRLs the server is checked against.
fn tls(args: &mut Args) -> Result<Arc<ClientConfig>, ConfigError> {
    let (cert, key) = (args.string("ssl_cert")?, args.string("ssl_key")?);
    if args.string("ssl_key_passphrase")?.is_some() {
        return Err(args.error_at(
            "ssl_key_passphrase",
            "encrypted private keys are not supported yet; give `ssl_key` unencrypted",
        ));
    }
    let identity = match (&cert, &key) {
        (Some(c), Some(k)) => Some((PathBuf::from(c), PathBuf::from(k))),
        (None, None) => None,
        _ => return Err(args.error("syslog output: `ssl_cert` and `ssl_key` go together")),
    };
    let verify = args.bool("ssl_verify", false)?;
    let cacert = args.string("ssl_cacert")?;
    let crl = args.string("ssl_crl")?;
    let whole_chain = args.bool("ssl_crl_check_all", false)?;
    let mut cas: Vec<PathBuf> = Vec::new();
    if let (true, Some(c)) = (verify, &cacert) {
        let p = Path::new(c);
        if p.is_dir() {
            let entries = std::fs::read_dir(p)
                .map_err(|e| args.unavailable("ssl_cacert", format!("cannot read {c}: {e}")))?;
            cas.extend(entries.flatten().map(|e| e.path()).filter(|p| p.is_file()));
        } else {
            cas.push(p.to_path_buf());
        }
    }
    if verify && Path::new(SYSTEM_CAS).is_file() {
        cas.push(PathBuf::from(SYSTEM_CAS));
    }
    let crls: Vec<PathBuf> = crl.into_iter().map(PathBuf::from).collect();
    let check = if verify {
        rstash_net::ServerCheck::Cas(&cas, &crls, whole_chain)
    } else {
        rstash_net::ServerCheck::Unchecked
    };
    rstash_net::client_config(
        check,
        identity.as_ref().map(|(c, k)| (c.as_path(), k.as_path())),
    )
    .map_err(|e| args.unavailable("ssl_cert", format!("syslog output TLS: {e}")))
}

/// Ruby's `Integer(s)`: optional sign, `0x`/`0b`/`0o`/leading-`0` (octal) prefixes, underscores
/// between digits; None where Ruby raises.
fn ruby_integer(s: &str) -> Option<i64> {
    let t = s.trim();
    let (neg, t) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let lower = t.to_ascii_lowercase();
    let (radix, digits) = if let Some(d) = lower.strip_prefix("0x") {
        (16, d)
    } else if let Some(d) = lower.strip_prefix("0b") {
        (2, d)
    } else if let Some(d) = lower.strip_prefix("0o") {
        (8, d)
    } else if lower.len() > 1 && lower.starts_with('0') {
        (8, &lower[1..])
    } else {
        (10, lower.as_str())
    };
    if digits.is_empty()
        || digits.starts_with('_')
        || digits.ends_with('_')
        || digits.contains("__")
    {
        return None;
    }
    let n = i64::from_str_radix(&digits.replace('_', ""), radix).ok()?;
    Some(if neg { -n } else { n })
}

impl SyslogOut {
    fn priority(&self, e: &Event) -> i64 {
        if self.use_labels {
            let label = |t: &Template, all: &[&str], dflt: usize| {
                let v = t.render(e);
                all.iter().position(|l| *l == v).unwrap_or(dflt) as i64
            };
            label(&self.facility, &FACILITIES, 1) * 8 + label(&self.severity, &SEVERITIES, 5)
        } else {
            match ruby_integer(&self.priority.render(e)) {
                Some(p) if (0..=191).contains(&p) => p,
                _ => 13,
            }
        }
    }

    /// The syslog line of one event, newline included.
    fn line(&mut self, e: &Event) -> String {
        let payload = match &mut self.codec {
            Some(c) => {
                self.buf.clear();
                c.encode(e, &mut self.buf);
                String::from_utf8_lossy(&self.buf).into_owned()
            }
            None => self.message.render(e).into_owned(),
        };
        // Logstash's: trailing whitespace off, each line break written as the two characters `\n`.
        let message = payload
            .trim_end()
            .replace("\r\n", "\n")
            .replace('\n', "\\n");
        let (pri, ts, host, app, procid) = (
            self.priority(e),
            self.stamp.render(e),
            self.sourcehost.render(e),
            self.appname.render(e),
            self.procid.render(e),
        );
        if self.rfc3164 {
            format!("<{pri}>{ts} {host} {app}[{procid}]: {message}\n")
        } else {
            let msgid = self.msgid.render(e);
            let sd = self
                .structured_data
                .as_ref()
                .map_or(std::borrow::Cow::Borrowed("-"), |t| t.render(e));
            format!("<{pri}>1 {ts} {host} {app} {procid} {msgid} {sd} {message}\n")
        }
    }

    fn connect(&self) -> std::io::Result<Conn> {
        let (host, port) = (self.host.as_str(), self.port);
        if self.udp {
            let bind = if host.contains(':') {
                "[::]:0"
            } else {
                "0.0.0.0:0"
            };
            let s = UdpSocket::bind(bind)?;
            s.connect((host, port))?;
            return Ok(Conn::Udp(s));
        }
        let s = TcpStream::connect((host, port))?;
        s.set_nodelay(true)?;
        let Some(config) = &self.tls else {
            return Ok(Conn::Tcp(s));
        };
        let name = rstash_net::server_name(host).map_err(std::io::Error::other)?;
        let mut conn =
            ClientConnection::new(config.clone(), name).map_err(std::io::Error::other)?;
        let mut s = s;
        // The handshake now, so a refused certificate shows as a connection failure.
        while conn.is_handshaking() {
            conn.complete_io(&mut s)?;
        }
        Ok(Conn::Tls(Box::new(StreamOwned::new(conn, s))))
    }

    fn send(&mut self, line: &str) {
        loop {
            if self.conn.is_none() {
                match self.connect() {
                    Ok(c) => self.conn = Some(c),
                    Err(e) if self.udp => {
                        warn!("syslog output: udp {}:{}: {e}", self.host, self.port);
                        return;
                    }
                    Err(e) => {
                        warn!(
                            "syslog output cannot connect to {}:{}: {e}; retrying in {:?}",
                            self.host, self.port, self.reconnect
                        );
                        std::thread::sleep(self.reconnect);
                        continue;
                    }
                }
            }
            let r = match self.conn.as_mut() {
                Some(Conn::Udp(s)) => s.send(line.as_bytes()).map(|_| ()),
                Some(Conn::Tcp(s)) => s.write_all(line.as_bytes()),
                Some(Conn::Tls(s)) => s.write_all(line.as_bytes()).and_then(|()| s.flush()),
                None => continue,
            };
            match r {
                Ok(()) => return,
                // UDP is stateless: an error (ICMP port unreachable) is not retried.
                Err(_) if self.udp => return,
                Err(e) => {
                    warn!(
                        "syslog tcp output exception: closing, reconnecting and resending event ({}:{}: {e})",
                        self.host, self.port
                    );
                    self.conn = None;
                    std::thread::sleep(self.reconnect);
                }
            }
        }
    }
}

impl Output for SyslogOut {
    fn close(&mut self) -> Result<(), PluginError> {
        // A TLS peer is told the session ends, or it logs the close as an error.
        if let Some(Conn::Tls(s)) = self.conn.as_mut() {
            s.conn.send_close_notify();
            let _ = s.flush();
        }
        Ok(())
    }

    fn receive(&mut self, events: &[&Event]) -> Result<(), PluginError> {
        for e in events {
            let line = self.line(e);
            self.send(&line);
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::ruby_integer;

    #[test]
    fn integers_as_ruby_reads_them() {
        assert_eq!(ruby_integer(" 13 "), Some(13));
        assert_eq!(ruby_integer("0x1f"), Some(31));
        assert_eq!(ruby_integer("010"), Some(8));
        assert_eq!(ruby_integer("1_000"), Some(1000));
        assert_eq!(ruby_integer("-5"), Some(-5));
        assert_eq!(ruby_integer("%{syslog_pri}"), None);
        assert_eq!(ruby_integer("13abc"), None);
        assert_eq!(ruby_integer(""), None);
    }
}
