//! The Prometheus text exposition format (version 0.0.4), written by hand: a handful of families.

use std::fmt::Write;

pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

#[derive(Default)]
pub struct Text {
    out: String,
}

#[derive(Clone, Copy)]
pub enum Kind {
    Counter,
    Gauge,
}

impl Text {
    /// Starts a metric family: its HELP and TYPE lines.
    pub fn family(&mut self, name: &str, kind: Kind, help: &str) -> &mut Self {
        let kind = match kind {
            Kind::Counter => "counter",
            Kind::Gauge => "gauge",
        };
        let help = help.replace('\\', "\\\\").replace('\n', "\\n");
        let _ = writeln!(self.out, "# HELP {name} {help}\n# TYPE {name} {kind}");
        self
    }

    pub fn sample(&mut self, name: &str, labels: &[(&str, &str)], value: f64) -> &mut Self {
        self.out.push_str(name);
        if !labels.is_empty() {
            self.out.push('{');
            for (i, (k, v)) in labels.iter().enumerate() {
                if i > 0 {
                    self.out.push(',');
                }
                let v = v
                    .replace('\\', "\\\\")
                    .replace('"', "\\\"")
                    .replace('\n', "\\n");
                let _ = write!(self.out, "{k}=\"{v}\"");
            }
            self.out.push('}');
        }
        if value.fract() == 0.0 && value.abs() < 1e15 {
            let _ = writeln!(self.out, " {}", value as i64);
        } else {
            let _ = writeln!(self.out, " {value}");
        }
        self
    }

    pub fn finish(self) -> String {
        self.out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn families_and_escaped_labels() {
        let mut t = Text::default();
        t.family("rstash_events_in_total", Kind::Counter, "Events read.")
            .sample("rstash_events_in_total", &[("pipeline", "a\"b\\c")], 12.0)
            .sample("rstash_events_in_total", &[], 0.5);
        assert_eq!(
            t.finish(),
            "# HELP rstash_events_in_total Events read.\n# TYPE rstash_events_in_total counter\n\
             rstash_events_in_total{pipeline=\"a\\\"b\\\\c\"} 12\nrstash_events_in_total 0.5\n"
        );
    }
}
