//! Filebeat's event: `@timestamp`, `@metadata`, `log.offset`, `log.file.path`, `message`,
//! `input.type`, then tags, fields, input processors, the builtin `agent`/`ecs`/`host` fields
//! (never overwriting), and global processors, in Filebeat's order.

use std::path::Path;

use rstash_tail::multiline::Message;
use serde_json::{json, Map, Value};

use crate::fields::{self, Fields};
use crate::input::{InputConfig, JsonParser};
use crate::processors::{self, Outcome, Processor};

/// The Filebeat version whose event and wire shapes rbeat reproduces.
pub const BEAT_VERSION: &str = "8.1.3";
pub const ECS_VERSION: &str = "8.0.0";

pub struct Agent {
    pub id: String,
    pub ephemeral_id: String,
    pub name: String,
}

impl Agent {
    /// The agent id persists in `<path.data>/meta.json`, as Filebeat's does.
    pub fn load(data: &Path) -> Agent {
        let meta = data.join("meta.json");
        let id = std::fs::read_to_string(&meta)
            .ok()
            .and_then(|t| serde_json::from_str::<Value>(&t).ok())
            .and_then(|v| v.get("uuid").and_then(Value::as_str).map(str::to_string))
            .unwrap_or_else(|| {
                let id = uuid::Uuid::new_v4().to_string();
                let first = jiff::Timestamp::now().to_string();
                let _ = std::fs::create_dir_all(data);
                let _ =
                    std::fs::write(&meta, json!({"uuid": id, "first_start": first}).to_string());
                id
            });
        Agent {
            id,
            ephemeral_id: uuid::Uuid::new_v4().to_string(),
            name: gethostname::gethostname().to_string_lossy().into_owned(),
        }
    }
}

pub struct Builder {
    builtins: Fields,
    /// The builtins as JSON text without braces, for the fast path.
    builtins_json: String,
    metadata: Value,
    global_tags: Vec<String>,
    global_fields: Fields,
    global_fields_under_root: bool,
    global_processors: Vec<Processor>,
}

impl Builder {
    pub fn new(
        agent: &Agent,
        beat_index: &str,
        global_tags: Vec<String>,
        global_fields: Fields,
        global_fields_under_root: bool,
        global_processors: Vec<Processor>,
    ) -> Builder {
        let builtins = json!({
            "ecs": {"version": ECS_VERSION},
            "host": {"name": agent.name},
            "agent": {
                "id": agent.id,
                "name": agent.name,
                "type": "filebeat",
                "version": BEAT_VERSION,
                "ephemeral_id": agent.ephemeral_id,
            },
        });
        let builtins_json = builtins.to_string();
        Builder {
            builtins_json: builtins_json[1..builtins_json.len() - 1].to_string(),
            builtins: builtins.as_object().cloned().unwrap_or_default(),
            metadata: json!({"beat": beat_index, "type": "_doc", "version": BEAT_VERSION}),
            global_tags,
            global_fields,
            global_fields_under_root,
            global_processors,
        }
    }

    /// The event for one message of a file, or None when a processor dropped it.
    pub fn build(&self, input: &InputConfig, path: &str, msg: &Message) -> Option<Fields> {
        // A container line's own time, as Filebeat takes it; otherwise the time it was read.
        let time = msg
            .container
            .as_ref()
            .map_or_else(jiff::Timestamp::now, |c| c.time);
        let mut log = json!({"offset": msg.offset, "file": {"path": path}});
        let mut flags = Vec::new();
        if msg.lines > 1 {
            flags.push(json!("multiline"));
        }
        if msg.truncated {
            flags.push(json!("truncated"));
        }
        if !flags.is_empty() {
            log["flags"] = Value::Array(flags);
        }
        let mut e = self.start(time, log);
        let text = String::from_utf8_lossy(&msg.bytes).into_owned();
        match &input.json {
            Some(j) => decode_json(&mut e, j, text),
            None => {
                e.insert("message".into(), Value::String(text));
            }
        }
        if let Some(c) = &msg.container {
            e.insert("stream".into(), Value::String(c.stream.clone()));
            if let Some(attrs) = &c.attrs {
                e.insert("docker".into(), json!({ "attrs": attrs }));
            }
        }
        self.finish(input, e)
    }

    /// The event for a message received from the network (`tcp`, `udp` inputs).
    pub fn build_received(&self, input: &InputConfig, from: &str, text: String) -> Option<Fields> {
        let mut fields = Map::new();
        fields.insert("message".into(), Value::String(text));
        self.build_read(input, from, jiff::Timestamp::now(), fields)
    }

    /// A received message whose own fields and time were read from it (the syslog input's).
    pub fn build_read(
        &self,
        input: &InputConfig,
        from: &str,
        time: jiff::Timestamp,
        fields: Map<String, Value>,
    ) -> Option<Fields> {
        let mut e = self.start(time, json!({"source": {"address": from}}));
        e.extend(fields);
        self.finish(input, e)
    }

    fn start(&self, time: jiff::Timestamp, log: Value) -> Fields {
        let mut e = Map::new();
        let ts = time.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        e.insert("@timestamp".into(), Value::String(ts));
        e.insert("@metadata".into(), self.metadata.clone());
        e.insert("log".into(), log);
        e
    }

    /// What every input's events get after their own fields: the input's type, tags, fields,
    /// processors, the agent's fields, the global processors.
    fn finish(&self, input: &InputConfig, mut e: Fields) -> Option<Fields> {
        e.insert("input".into(), json!({"type": input.type_name}));
        if !self.global_tags.is_empty() {
            fields::add_tags(&mut e, "tags", &self.global_tags);
        }
        if !input.tags.is_empty() {
            fields::add_tags(&mut e, "tags", &input.tags);
        }
        self.add_fields(&mut e, &self.global_fields, self.global_fields_under_root);
        self.add_fields(&mut e, &input.fields, input.fields_under_root);
        if processors::run_all(&input.processors, &mut e) == Outcome::Drop {
            return None;
        }
        for (k, v) in &self.builtins {
            match (e.get_mut(k), v) {
                (None, v) => {
                    e.insert(k.clone(), v.clone());
                }
                (Some(Value::Object(have)), Value::Object(add)) => {
                    for (ak, av) in add {
                        have.entry(ak.clone()).or_insert_with(|| av.clone());
                    }
                }
                _ => {}
            }
        }
        if processors::run_all(&self.global_processors, &mut e) == Outcome::Drop {
            return None;
        }
        Some(e)
    }

    /// For an input whose events need no processor, parser or field merging, the JSON text can
    /// be written directly, in the same key order `build` + JSON encoding give.
    pub fn fast(&self, input: &InputConfig) -> Option<Fast> {
        let simple = input.processors.is_empty()
            && self.global_processors.is_empty()
            && input.json.is_none()
            && input.container.is_none()
            && (!input.fields_under_root || input.fields.is_empty())
            && (!self.global_fields_under_root || self.global_fields.is_empty());
        if !simple {
            return None;
        }
        let mut suffix = format!(r#","input":{{"type":"{}"}}"#, input.type_name);
        let mut e = Map::new();
        if !self.global_tags.is_empty() {
            fields::add_tags(&mut e, "tags", &self.global_tags);
        }
        if !input.tags.is_empty() {
            fields::add_tags(&mut e, "tags", &input.tags);
        }
        self.add_fields(&mut e, &self.global_fields, false);
        self.add_fields(&mut e, &input.fields, false);
        for (k, v) in &e {
            suffix.push_str(&format!(",{}:{}", Value::String(k.clone()), v));
        }
        suffix.push(',');
        suffix.push_str(&self.builtins_json);
        suffix.push('}');
        Some(Fast {
            metadata: format!(r#"","@metadata":{},"log":{{"offset":"#, self.metadata),
            suffix,
        })
    }

    fn add_fields(&self, e: &mut Fields, add: &Fields, under_root: bool) {
        if add.is_empty() {
            return;
        }
        if under_root {
            fields::merge(e, add);
        } else {
            let mut f = match e.get("fields") {
                Some(Value::Object(m)) => m.clone(),
                _ => Map::new(),
            };
            fields::merge(&mut f, add);
            e.insert("fields".into(), Value::Object(f));
        }
    }
}

/// The `json` (log input) / `ndjson` (filestream) parser.
fn decode_json(e: &mut Fields, j: &JsonParser, text: String) {
    match serde_json::from_str::<Value>(&text) {
        Ok(Value::Object(obj)) => {
            let root = j.keys_under_root || j.target.as_deref() == Some("");
            if root {
                for (k, v) in obj {
                    if j.overwrite_keys || !e.contains_key(&k) || k == "message" {
                        e.insert(k, v);
                    }
                }
                if !e.contains_key("message") && j.message_key.is_none() {
                    // Filebeat keeps no message when the JSON has none.
                }
            } else {
                let target = j.target.clone().unwrap_or_else(|| "json".to_string());
                fields::put(e, &target, Value::Object(obj));
            }
        }
        Ok(_) | Err(_) => {
            if j.add_error_key {
                fields::put(
                    e,
                    "error.message",
                    Value::String("Error decoding JSON: not a JSON object".into()),
                );
                fields::put(e, "error.type", Value::String("json".into()));
            }
            e.insert("message".into(), Value::String(text));
        }
    }
}

/// Pre-rendered pieces of an input's events (see [`Builder::fast`]).
pub struct Fast {
    metadata: String,
    suffix: String,
}

impl Fast {
    /// The event's JSON; `path_json` is the file path already JSON-quoted.
    pub fn encode(&self, ts: &str, path_json: &str, msg: &Message) -> bytes::Bytes {
        let text = String::from_utf8_lossy(&msg.bytes);
        let mut out =
            Vec::with_capacity(self.suffix.len() + self.metadata.len() + text.len() + 128);
        out.extend_from_slice(br#"{"@timestamp":""#);
        out.extend_from_slice(ts.as_bytes());
        out.extend_from_slice(self.metadata.as_bytes());
        out.extend_from_slice(msg.offset.to_string().as_bytes());
        out.extend_from_slice(br#","file":{"path":"#);
        out.extend_from_slice(path_json.as_bytes());
        out.push(b'}');
        match (msg.lines > 1, msg.truncated) {
            (true, true) => out.extend_from_slice(br#","flags":["multiline","truncated"]"#),
            (true, false) => out.extend_from_slice(br#","flags":["multiline"]"#),
            (false, true) => out.extend_from_slice(br#","flags":["truncated"]"#),
            (false, false) => {}
        }
        out.extend_from_slice(br#"},"message":"#);
        let _ = serde_json::to_writer(&mut out, text.as_ref());
        out.extend_from_slice(self.suffix.as_bytes());
        bytes::Bytes::from(out)
    }
}

/// `@timestamp` text, formatted once per millisecond.
#[derive(Default)]
pub struct Clock {
    millis: i64,
    text: String,
}

impl Clock {
    pub fn now(&mut self) -> &str {
        let now = jiff::Timestamp::now();
        let ms = now.as_millisecond();
        if ms != self.millis || self.text.is_empty() {
            self.millis = ms;
            self.text = now.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
        }
        &self.text
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::input;

    #[test]
    fn fast_path_gives_the_same_json_as_the_general_one() {
        let v = crate::config::parse_yaml(
            "type: log\npaths: [/x/*.log]\nfields: {app: web, env: prod}\ntags: [t1]\n",
        )
        .unwrap();
        let input = input::parse("filebeat.inputs.0", &v).unwrap().unwrap();
        let agent = Agent {
            id: "id".into(),
            ephemeral_id: "eph".into(),
            name: "host1".into(),
        };
        let b = Builder::new(
            &agent,
            "filebeat",
            vec!["g".into()],
            Fields::new(),
            false,
            Vec::new(),
        );
        let msg = Message {
            offset: 42,
            end: 60,
            bytes: "say \"hi\"\tnow".as_bytes().to_vec(),
            lines: 2,
            truncated: false,
            container: None,
        };
        let mut slow = b.build(&input, "/x/a.log", &msg).unwrap();
        let ts = slow["@timestamp"].as_str().unwrap().to_string();
        let fast = b.fast(&input).unwrap().encode(&ts, "\"/x/a.log\"", &msg);
        slow.insert("@timestamp".into(), Value::String(ts));
        assert_eq!(
            String::from_utf8(fast.to_vec()).unwrap(),
            serde_json::to_string(&slow).unwrap()
        );
    }
}
