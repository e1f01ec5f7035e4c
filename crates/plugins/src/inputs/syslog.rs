//! `syslog`: RFC 3164 messages on TCP (one per line) and UDP (one per datagram) on the same port,
//! parsed as Logstash's syslog input does: grok `<%{POSINT:priority}>%{SYSLOGLINE}` overwriting
//! `message`, priority split into facility and severity (with labels), the date filter on
//! `timestamp`; a line that does not parse is tagged `_grokparsefailure_sysloginput` and gets
//! priority 13. Beyond Logstash, RFC 5424 lines are parsed into the same fields (plus `msgid`,
//! `structured_data`) instead of failing.

use rstash_pipeline::{opt, Options, Ty};
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use rstash_config::{ast, parse, ConfigError, Source};
use rstash_event::{Event, FieldRef, Value};
use rstash_pipeline::{Args, Ecs, FilterNode, Input, InputContext, PluginError};
use tokio::io::{AsyncBufReadExt, AsyncReadExt};
use tracing::{info, warn};

use super::udp::{bind_udp, stamp_sender};

const FACILITIES: [&str; 24] = [
    "kernel",
    "user-level",
    "mail",
    "system",
    "security/authorization",
    "syslogd",
    "line printer",
    "network news",
    "UUCP",
    "clock",
    "security/authorization",
    "FTP",
    "NTP",
    "log audit",
    "log alert",
    "clock",
    "local0",
    "local1",
    "local2",
    "local3",
    "local4",
    "local5",
    "local6",
    "local7",
];
const SEVERITIES: [&str; 8] = [
    "Emergency",
    "Alert",
    "Critical",
    "Error",
    "Warning",
    "Notice",
    "Informational",
    "Debug",
];
const FAILURE: &str = "_grokparsefailure_sysloginput";

struct Parser {
    grok: FilterNode,
    date: FilterNode,
    use_labels: bool,
    facility_labels: Vec<String>,
    severity_labels: Vec<String>,
    ecs: Ecs,
}

pub struct Syslog {
    addr: String,
    parser: Arc<Parser>,
}

/// The grok and date filters the input runs, built like any filter from config text.
fn internal_filter(args: &Args, text: &str) -> Result<FilterNode, ConfigError> {
    let src = Source::from_string("syslog input", &format!("filter {{ {text} }}"));
    let cfg = parse(&src)?;
    let Some(ast::Statement::Plugin(p)) = cfg.sections.first().and_then(|s| s.body.first()) else {
        return Err(args.error("syslog input: internal filter missing"));
    };
    args.registry.build_filter(p, &src, args.settings)
}

fn quoted(s: &str) -> String {
    format!("\"{}\"", s.replace('\\', "\\\\").replace('"', "\\\""))
}

pub const OPTIONS: Options = &[&[
    opt("port", Ty::Number).default("514"),
    opt("host", Ty::Str).default("0.0.0.0"),
    opt("grok_pattern", Ty::Str).default("<%{POSINT:priority}>%{SYSLOGLINE}"),
    opt("timezone", Ty::Str),
    opt("locale", Ty::Str),
    opt("use_labels", Ty::Boolean).default("true"),
    opt("facility_labels", Ty::Array),
    opt("severity_labels", Ty::Array),
]];

pub fn build(args: &mut Args) -> Result<Box<dyn Input>, ConfigError> {
    let port = args.int("port", 514)?;
    if !(0..=65535).contains(&port) {
        return Err(args.error_at("port", "port must be 0-65535"));
    }
    let host = args.string_or("host", "0.0.0.0")?;
    let ecs = args.ecs()?;
    let pattern = args.string_or("grok_pattern", "<%{POSINT:priority}>%{SYSLOGLINE}")?;
    let tz = args
        .string("timezone")?
        .map(|t| format!("timezone => {}", quoted(&t)))
        .unwrap_or_default();
    let locale = args
        .string("locale")?
        .map(|l| format!("locale => {}", quoted(&l)))
        .unwrap_or_default();
    let grok = internal_filter(
        args,
        &format!(
            r#"grok {{ match => {{ "message" => {} }} overwrite => "message" tag_on_failure => ["{FAILURE}"] ecs_compatibility => "disabled" }}"#,
            quoted(&pattern)
        ),
    )
    .map_err(|e| args.error_at("grok_pattern", e.to_string()))?;
    let date = internal_filter(
        args,
        &format!(r#"date {{ match => ["timestamp", "MMM  d HH:mm:ss", "MMM dd HH:mm:ss", "ISO8601"] {tz} {locale} }}"#),
    )
    .map_err(|e| args.error(e.to_string()))?;
    let labels =
        |args: &mut Args, name: &str, default: &[&str]| -> Result<Vec<String>, ConfigError> {
            Ok(if args.has(name) {
                args.strings(name)?
            } else {
                default.iter().map(|s| s.to_string()).collect()
            })
        };
    let parser = Parser {
        grok,
        date,
        use_labels: args.bool("use_labels", true)?,
        facility_labels: labels(args, "facility_labels", &FACILITIES)?,
        severity_labels: labels(args, "severity_labels", &SEVERITIES)?,
        ecs,
    };
    Ok(Box::new(Syslog {
        addr: format!("{host}:{port}"),
        parser: Arc::new(parser),
    }))
}

/// `<PRI>1 TIMESTAMP HOST APP PROCID MSGID [SD] MSG`: the fields, or None if not RFC 5424.
fn rfc5424(line: &str) -> Option<Vec<(&'static str, String)>> {
    let rest = line.strip_prefix('<')?;
    let (pri, rest) = rest.split_once('>')?;
    if pri.is_empty() || pri.len() > 3 || !pri.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    let rest = rest.strip_prefix("1 ")?;
    let mut parts = rest.splitn(5, ' ');
    let ts = parts.next()?;
    let host = parts.next()?;
    let app = parts.next()?;
    let procid = parts.next()?;
    let rest = parts.next()?;
    let (msgid, rest) = rest.split_once(' ').unwrap_or((rest, ""));
    let (sd, msg) = if let Some(r) = rest.strip_prefix("- ") {
        ("-".to_string(), r)
    } else if rest == "-" {
        ("-".to_string(), "")
    } else if rest.starts_with('[') {
        // Structured data: [id k="v" ...][...]; `]` may be escaped inside values.
        let b = rest.as_bytes();
        let (mut i, mut depth, mut esc) = (0, 0, false);
        while i < b.len() {
            match b[i] {
                _ if esc => esc = false,
                b'\\' => esc = true,
                b'[' => depth += 1,
                b']' => {
                    depth -= 1;
                    if depth == 0 && b.get(i + 1) != Some(&b'[') {
                        i += 1;
                        break;
                    }
                }
                _ => {}
            }
            i += 1;
        }
        (rest[..i].to_string(), rest[i..].trim_start_matches(' '))
    } else {
        return None;
    };
    let mut out = vec![
        ("priority", pri.to_string()),
        ("message", msg.trim_start_matches('\u{feff}').to_string()),
    ];
    for (k, v) in [
        ("timestamp", ts),
        ("logsource", host),
        ("program", app),
        ("pid", procid),
        ("msgid", msgid),
    ] {
        if v != "-" {
            out.push((k, v.to_string()));
        }
    }
    if sd != "-" {
        out.push(("structured_data", sd));
    }
    Some(out)
}

impl Parser {
    fn event(&self, line: &str, peer: SocketAddr) -> Event {
        let mut e = Event::with_message(line);
        stamp_sender(&mut e, peer, self.ecs);
        let mut scratch = Vec::new();
        self.grok.run(&mut e, &mut scratch);
        let mut parsed = !e.has_tag(FAILURE);
        if !parsed {
            if let Some(fields) = rfc5424(line) {
                e.with_tags(|t| t.retain(|x| x.as_str() != Some(FAILURE)));
                if matches!(e.data().get("tags"), Some(Value::Array(a)) if a.is_empty()) {
                    e.data_mut().shift_remove("tags");
                }
                for (k, v) in fields {
                    e.data_mut().insert(k.into(), Value::String(v.into()));
                }
                parsed = true;
            }
        }
        let priority = if parsed {
            e.get(&FieldRef::key("priority"))
                .and_then(|v| match v {
                    Value::String(s) => s.parse::<i64>().ok(),
                    Value::Int(i) => Some(*i),
                    _ => None,
                })
                .unwrap_or(13)
        } else {
            13
        };
        let (facility, severity) = (priority >> 3, priority & 7);
        for (k, v) in [
            ("priority", priority),
            ("severity", severity),
            ("facility", facility),
        ] {
            e.data_mut().insert(k.into(), Value::Int(v));
        }
        if parsed {
            self.date.run(&mut e, &mut scratch);
        }
        if self.use_labels {
            if let Some(l) = self.facility_labels.get(facility as usize) {
                e.data_mut()
                    .insert("facility_label".into(), Value::String(l.as_str().into()));
            }
            if let Some(l) = self.severity_labels.get(severity as usize) {
                e.data_mut()
                    .insert("severity_label".into(), Value::String(l.as_str().into()));
            }
        }
        e
    }
}

impl Input for Syslog {
    fn run(&mut self, ctx: &InputContext) -> Result<(), PluginError> {
        let rt = rstash_net::runtime("syslog-input", 2)?;
        rt.block_on(async {
            let listener = tokio::net::TcpListener::bind(&self.addr)
                .await
                .map_err(|e| {
                    PluginError(format!(
                        "syslog input cannot listen on tcp {}: {e}",
                        self.addr
                    ))
                })?;
            let udp = bind_udp(&self.addr, None)
                .and_then(tokio::net::UdpSocket::from_std)
                .map_err(|e| {
                    PluginError(format!(
                        "syslog input cannot listen on udp {}: {e}",
                        self.addr
                    ))
                })?;
            info!("syslog input listening on tcp and udp {}", self.addr);
            let udp_task = tokio::spawn(udp_loop(udp, ctx.clone(), self.parser.clone()));
            let mut tick = tokio::time::interval(Duration::from_millis(200));
            loop {
                tokio::select! {
                    a = listener.accept() => {
                        let Ok((sock, peer)) = a else { continue };
                        let (ctx, parser) = (ctx.clone(), self.parser.clone());
                        tokio::spawn(async move {
                            if let Err(e) = tcp_conn(sock, peer, ctx, parser).await {
                                warn!("syslog connection from {peer}: {e}");
                            }
                        });
                    }
                    _ = tick.tick() => if ctx.is_stopping() { break; }
                }
            }
            let _ = udp_task.await;
            Ok(())
        })
    }
}

async fn push(ctx: &InputContext, events: Vec<Event>) -> bool {
    let c = ctx.clone();
    matches!(
        tokio::task::spawn_blocking(move || c.push_all(events)).await,
        Ok(Ok(()))
    )
}

/// Longest line kept from a TCP peer; the rest of such a line is dropped.
const MAX_LINE: usize = 1 << 20;

async fn tcp_conn(
    sock: tokio::net::TcpStream,
    peer: SocketAddr,
    ctx: InputContext,
    parser: Arc<Parser>,
) -> std::io::Result<()> {
    let mut r = tokio::io::BufReader::new(sock);
    let mut buf = Vec::new();
    loop {
        buf.clear();
        let n = (&mut r)
            .take(MAX_LINE as u64)
            .read_until(b'\n', &mut buf)
            .await?;
        if n == 0 {
            return Ok(());
        }
        if buf.last() != Some(&b'\n') && n == MAX_LINE {
            // Oversized: skip to the end of the line.
            let mut skip = Vec::new();
            r.read_until(b'\n', &mut skip).await?;
        }
        let text = String::from_utf8_lossy(&buf);
        let line = text.trim_end_matches(['\n', '\r']);
        if line.is_empty() {
            continue;
        }
        if !push(&ctx, vec![parser.event(line, peer)]).await {
            return Ok(());
        }
    }
}

async fn udp_loop(sock: tokio::net::UdpSocket, ctx: InputContext, parser: Arc<Parser>) {
    let mut buf = vec![0u8; 65536];
    let mut tick = tokio::time::interval(Duration::from_millis(200));
    loop {
        tokio::select! {
            r = sock.recv_from(&mut buf) => {
                let Ok((n, peer)) = r else { continue };
                let text = String::from_utf8_lossy(&buf[..n]);
                let events: Vec<Event> = text
                    .split('\n')
                    .map(|l| l.trim_end_matches('\r'))
                    .filter(|l| !l.is_empty())
                    .map(|l| parser.event(l, peer))
                    .collect();
                if !events.is_empty() && !push(&ctx, events).await {
                    return;
                }
            }
            _ = tick.tick() => if ctx.is_stopping() { return; }
        }
    }
}

#[cfg(test)]
mod fuzz {
    use proptest::prelude::*;

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(500))]

        /// Datagrams are anyone's: the RFC 5424 reader takes any text, and what it finds is
        /// a piece of that text.
        #[test]
        fn rfc5424_takes_any_line(
            line in "\\PC{0,100}|<[0-9]{1,4}>1 [-a-z0-9:. ]{0,30}(\\[[a-z =\"\\\\\\]\\[]{0,20}\\]){0,3}[ -~]{0,20}",
        ) {
            if let Some(fields) = super::rfc5424(&line) {
                for (_, v) in fields {
                    prop_assert!(line.contains(v.as_str()), "{:?} not in {:?}", v, line);
                }
            }
        }
    }
}
