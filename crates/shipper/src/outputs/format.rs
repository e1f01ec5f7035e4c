//! Beats' format strings, as outputs name indices and topics with them: text, `%{[field.path]}`
//! (also `%{[a][b]}`), and `%{+yyyy.MM.dd}` of the event's @timestamp.

use rstash_timefmt::Formatter;
use serde_json::Value;

use crate::fields::{self, Fields};

enum Part {
    Text(String),
    Field(String),
    Date(Formatter),
}

pub struct FormatString(Vec<Part>);

impl FormatString {
    pub fn parse(s: &str) -> Result<FormatString, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(i) = rest.find("%{") {
            if i > 0 {
                parts.push(Part::Text(rest[..i].to_string()));
            }
            let end = rest[i..]
                .find('}')
                .ok_or_else(|| format!("unclosed %{{ in `{s}`"))?
                + i;
            let inner = &rest[i + 2..end];
            if let Some(fmt) = inner.strip_prefix('+') {
                parts.push(Part::Date(
                    Formatter::joda(fmt).map_err(|e| format!("`{s}`: {e}"))?,
                ));
            } else {
                let field = inner
                    .trim_start_matches('[')
                    .trim_end_matches(']')
                    .replace("][", ".");
                parts.push(Part::Field(field));
            }
            rest = &rest[end + 1..];
        }
        if !rest.is_empty() {
            parts.push(Part::Text(rest.to_string()));
        }
        Ok(FormatString(parts))
    }

    /// The text for `e`; a missing field renders as nothing.
    pub fn render(&self, e: &Fields) -> String {
        let mut out = String::new();
        for p in &self.0 {
            match p {
                Part::Text(t) => out.push_str(t),
                Part::Field(f) => match fields::get(e, f) {
                    Some(Value::String(s)) => out.push_str(s),
                    Some(v) => out.push_str(&v.to_string()),
                    None => {}
                },
                Part::Date(fmt) => {
                    let ts = e
                        .get("@timestamp")
                        .and_then(Value::as_str)
                        .and_then(|t| t.parse::<jiff::Timestamp>().ok())
                        .unwrap_or_else(jiff::Timestamp::now);
                    fmt.format_utc(ts, &mut out);
                }
            }
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn fields_and_dates() {
        let f = FormatString::parse("filebeat-%{[agent.version]}-%{+yyyy.MM.dd}").unwrap();
        let e = json!({"@timestamp": "2026-11-25T10:00:00.000Z", "agent": {"version": "8.1.3"}});
        assert_eq!(
            f.render(e.as_object().unwrap()),
            "filebeat-8.1.3-2026.11.25"
        );
        let f = FormatString::parse("%{[fields][app]}-Logs").unwrap();
        let e = json!({"fields": {"app": "Web"}});
        assert_eq!(f.render(e.as_object().unwrap()), "Web-Logs");
        assert!(FormatString::parse("%{[oops]").is_err());
    }
}
