//! Config compatibility: realistic pipelines using the everyday plugins (file, syslog, udp,
//! tcp, http, heartbeat, exec, redis; kv, dissect, csv, split, clone, fingerprint, translate,
//! truncate, urldecode, uuid, prune, throttle, geoip, useragent, dns, memcached, http,
//! elasticsearch, jdbc_streaming, syslog_pri, ruby, aggregate; multiline, es_bulk and cef codecs; http, redis, udp,
//! tcp, opensearch, rabbitmq, s3 outputs; rabbitmq and s3 inputs), written with the
//! option styles users write (conditionals, `${VAR:default}`, arrays of hashes, old-style array
//! pairs, kafka), all pass `rstash -t`; mistakes in them fail with file:line:col and the reason.

use std::path::Path;
use std::process::Command;

/// rstash with these arguments, from tests/data: success, stdout, stderr.
fn rstash(args: &[&str]) -> (bool, String, String) {
    let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
        .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"))
        .env_remove("SYSLOG_PORT")
        .args(args)
        .output()
        .expect("run rstash");
    (
        out.status.success(),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

/// `rstash -t` with these arguments.
fn check(args: &[&str]) -> (bool, String, String) {
    rstash(&[&["-t"], args].concat())
}

#[test]
fn realistic_configs_pass_the_check() {
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/compat");
    let mut n = 0;
    for entry in std::fs::read_dir(&dir).unwrap() {
        let p = entry.unwrap().path();
        if p.extension().and_then(|e| e.to_str()) != Some("conf") {
            continue;
        }
        let name = format!("compat/{}", p.file_name().unwrap().to_string_lossy());
        let (ok, stdout, stderr) = check(&["-f", &name]);
        // Built without the ruby feature, configs using Ruby are refused, saying why.
        if cfg!(not(feature = "ruby")) && name.contains("ruby") {
            assert!(
                !ok && stderr.contains("built without ruby"),
                "{name}: {stderr}"
            );
            continue;
        }
        assert!(ok, "{name}: {stderr}");
        assert_eq!(stdout.trim(), "Configuration OK", "{name}");
        n += 1;
    }
    assert!(n >= 4, "only {n} configs");
}

#[test]
fn mistakes_in_plugin_options_are_located() {
    let cases: &[(&str, &str)] = &[
        (r#"filter { kv { transform_key => "camel" } }"#, "1:15: option `transform_key` must be one of uppercase, lowercase, capitalize, got `camel`"),
        (r#"filter { dissect { mapping => { "message" => "%{a}%{b}" } } }"#, "1:20: dissect pattern `%{a}%{b}`: fields `a` and `b` have no delimiter between them"),
        (r#"filter { csv { quote_char => "ab" } }"#, "1:16: `quote_char` must be one character"),
        (r#"filter { fingerprint { method => "CRC32" } }"#, "1:24: option `method` must be one of SHA1, SHA256, SHA384, SHA512, MD5, MURMUR3, IPV4_NETWORK, UUID, PUNCTUATION, got `CRC32`"),
        (r#"filter { translate { source => "a" regex => true dictionary => { "(" => "x" } } }"#, "dictionary key `(` is not a regex"),
        (r#"filter { throttle { key => "%{host}" } }"#, "1:10: throttle filter needs `before_count` or `after_count`"),
        (r#"filter { prune { whitelist_names => ["("] } }"#, "1:18: `(` is not a regex"),
        (r#"filter { aggregate { code => "map['n'] = 1" } }"#, "1:10: aggregate filter needs `task_id`"),
        (r#"output { rabbitmq { host => "h" exchange => "x" } }"#, "1:10: rabbitmq output needs `exchange_type`"),
        (r#"output { rabbitmq { host => "h" exchange => "x" exchange_type => "bogus" } }"#, "option `exchange_type` must be one of fanout, direct, topic"),
        (r#"input { rabbitmq { queue => "q" } }"#, "1:9: rabbitmq input needs `host`"),
        (r#"input { rabbitmq { host => "h" exchange_type => "topic" } }"#, "`exchange_type` needs `exchange`"),
        (r#"input { rabbitmq { host => "h" metadata_enabled => "all" } }"#, "option `metadata_enabled` must be one of none, basic, extended"),
        (r#"filter { truncate { length_bytes => 0 } }"#, "1:10: truncate filter needs `length_bytes`"),
        (r#"input { file { path => "logs/*.log" } }"#, "1:16: File paths must be absolute"),
        (r#"input { file { path => "/x" start_position => "middle" } }"#, "option `start_position` must be one of beginning, end"),
        (r#"input { exec { command => "ls" } }"#, "1:9: exec input needs `interval` (seconds) or `schedule` (cron)"),
        (r#"input { exec { command => "ls" schedule => "every minute" } }"#, "is not a cron schedule"),
        (r#"input { http { port => 8080 user => "u" } }"#, "set both `user` and `password`"),
        (r#"input { redis { key => "k" } }"#, "1:9: redis input needs `data_type` (one of list, channel, pattern_channel)"),
        (r#"input { redis { data_type => "set" key => "k" } }"#, "option `data_type` must be one of list, channel, pattern_channel"),
        (r#"output { http { url => "http://x" http_method => "fetch" } }"#, "option `http_method` must be one of put, post, patch, delete, get, head, got `fetch`"),
        (r#"output { redis { data_type => "list" } }"#, "redis output needs `key` (string)"),
        (r#"output { udp { host => "h" } }"#, "udp output needs `port`"),
        (r#"input { syslog { port => 99999 } }"#, "port must be 0-65535"),
        (r#"filter { kv { field_splitt => "&" } }"#, "1:15: unknown option `field_splitt` for filter plugin `kv`"),
        (r#"input { kafka { auto_offset_reset => "smallest" } }"#, "1:17: auto_offset_reset must be earliest, latest or none, got `smallest`"),
        (r#"output { elasticsearch { dlq_custom_codes => ["403", "teapot"] } }"#, "1:26: `teapot` is not an HTTP status"),
        (r#"output { kafka { bootstrap_servers => "k:9092" } }"#, "kafka output needs `topic_id`"),
        (r#"output { kafka { topic_id => "t" compression_type => "brotli" } }"#, "option `compression_type` must be one of none, gzip, snappy, lz4, zstd"),
        (r#"filter { geoip { source => "client_ip" ecs_compatibility => v8 } }"#, "needs a `target` when `source` is not an `ip` sub-field"),
        (r#"filter { dns { reverse => ["ip"] nameserver => { search => ["x"] } } }"#, "the `nameserver` hash must include `address`"),
        (r#"filter { dns { resolve => ["h"] nameserver => "dns.example" } }"#, "`dns.example` is not an IP address"),
        (r#"filter { memcached { ttl => -1 get => { "k" => "f" } } }"#, "'ttl' option cannot be negative"),
        (r#"filter { jdbc_streaming { jdbc_connection_string => "jdbc:sqlite:/x.db" statement => "select 1" } }"#, "jdbc_streaming filter needs `target`"),
        (r#"filter { jdbc_streaming { jdbc_connection_string => "postgres://db/x" statement => "s" target => "t" } }"#, "is not a jdbc:postgresql://, jdbc:mysql://, jdbc:mariadb://, jdbc:sqlserver:// or jdbc:sqlite: connection string"),
        (r#"filter { elasticsearch { index => "x" } }"#, "needs exactly one of `query` and `query_template`"),
        (r#"filter { http { url => "http://x" verb => "FETCH" } }"#, "option `verb` must be one of GET, HEAD, PATCH, DELETE, POST, PUT"),
        (r#"filter { http { url => "http://x" ecs_compatibility => v1 } }"#, "needs `target_body`"),
        (r#"input { stdin { codec => multiline { pattern => "^\s" } } }"#, "multiline codec needs `what`"),
        (r#"input { stdin { codec => multiline { pattern => "%{NOPE}" what => "next" } } }"#, "NOPE"),
        (r#"output { opensearch { auth_type => { type => "aws_iam" } } }"#, "AWS IAM request signing is not built in"),
        (r#"input { s3 { prefix => "logs/" } }"#, "1:9: s3 input needs `bucket`"),
        (r#"input { s3 { bucket => "b" exclude_pattern => "(" } }"#, "1:28: bad regular expression"),
        (r#"input { s3 { bucket => "b" role_arn => "arn:aws:iam::1:role/x" } }"#, "role_arn needs AWS STS"),
        (r#"output { s3 { bucket => "b" prefix => "a^b" } }"#, "Prefix must not contains: ^`><"),
        (r#"output { s3 { bucket => "b" size_file => 0 time_file => 0 } }"#, "at least one of time_file or size_file"),
        (r#"output { s3 { bucket => "b" rotation_strategy => "size" size_file => 0 } }"#, "`size_file` need to be greater than 0"),
        (r#"output { s3 { bucket => "b" canned_acl => "public_read" } }"#, "option `canned_acl` must be one of private, public-read"),
        (r#"input { stdin { codec => cef { device => "router" } } }"#, "option `device` must be one of observer, host"),
        (r#"input { stdin { codec => cef { default_timezone => "Mars/Olympus" } } }"#, "Mars/Olympus"),
    ];
    let mut bad = Vec::new();
    for (cfg, want) in cases {
        // Filters and outputs need an input to be a pipeline: one on a line of its own.
        let (cfg, want) = if cfg.starts_with("input") {
            (cfg.to_string(), want.to_string())
        } else {
            let want = match want.strip_prefix("1:") {
                Some(rest) => format!("2:{rest}"),
                None => want.to_string(),
            };
            (format!("input {{ generator {{}} }}\n{cfg}"), want)
        };
        let (ok, _, stderr) = check(&["-e", &cfg]);
        if ok || !stderr.contains(&want) || stderr.contains("panicked") {
            bad.push(format!("{cfg}\n want: {want}\n got: {stderr}"));
        }
    }
    assert!(bad.is_empty(), "{}", bad.join("\n"));
}

/// As Logstash's `-t`, which checks options but does not run `register`: files, databases and
/// scripts a plugin opens at start are not needed to pass the check (CI images lack them). Each
/// is a warning located at its option after which `Configuration OK` still follows; a real start refuses.
#[test]
fn missing_runtime_files_are_warnings_for_the_check_and_refusals_at_start() {
    let cases: &[(&str, &str, &str)] = &[
        (
            r#"translate { source => "a" dictionary_path => "compat/none.csv" }"#,
            "dictionary_path",
            "compat/none.csv",
        ),
        (
            r#"geoip { source => "ip" database => "/nonexistent.mmdb" }"#,
            "database",
            "cannot open /nonexistent.mmdb: no such file",
        ),
        (
            r#"useragent { source => "a" regexes => "/nonexistent.yaml" }"#,
            "regexes",
            "cannot read /nonexistent.yaml",
        ),
        (
            r#"elasticsearch { query => "a:b" query_template => "/x.json" }"#,
            "query_template",
            "cannot read /x.json",
        ),
        (
            r#"grok { patterns_dir => ["/nonexistent/patterns"] match => { "message" => "%{MINE:x}" } }"#,
            "patterns_dir",
            "no patterns_dir /nonexistent/patterns",
        ),
        // A JDBC driver rstash lacks is a missing driver jar to Logstash: found at start.
        (
            r#"jdbc_streaming { jdbc_connection_string => "jdbc:oracle:thin:@db:1521/ORCL" statement => "select 1 from dual" target => "t" }"#,
            "jdbc_connection_string",
            "no `oracle` driver in rstash",
        ),
    ];
    for (filter, option, want) in cases {
        // Located at the option, on the filter's line (`filter { ` is 9 columns).
        let at = format!("2:{}", 10 + filter.find(option).unwrap());
        let cfg = format!("input {{ generator {{ count => 1 }} }}\nfilter {{ {filter} }}\noutput {{ stdout {{}} }}");
        let (ok, stdout, stderr) = check(&["-e", &cfg]);
        assert!(ok, "{filter}: {stderr}");
        assert_eq!(stdout.trim(), "Configuration OK", "{filter}");
        let line = stderr
            .lines()
            .find(|l| l.starts_with("warning: config string:"))
            .unwrap_or_else(|| panic!("{filter}: no warning in {stderr}"));
        assert!(
            line.contains(&format!("config string:{at}: ")),
            "{filter}: {line}"
        );
        assert!(line.contains(want), "{filter}: {line}");
        assert!(
            line.ends_with("the pipeline will refuse to start until this is fixed"),
            "{line}"
        );
        // Started for real, the same pipeline is refused with the same reason.
        let out = Command::new(env!("CARGO_BIN_EXE_rstash"))
            .current_dir(Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data"))
            .args(["-e", &cfg])
            .output()
            .expect("run rstash");
        let err = String::from_utf8_lossy(&out.stderr);
        assert!(!out.status.success(), "{filter}: started");
        assert!(err.contains(want), "{filter}: {err}");
        assert!(out.stdout.is_empty(), "{filter}: an event went out");
    }
    // The multiline codec's grok patterns_dir, the same way.
    let (ok, stdout, stderr) = check(&[
        "-e",
        r#"input { stdin { codec => multiline { patterns_dir => ["/nonexistent/patterns"] pattern => "^%{MINE}" what => "previous" } } } output { stdout {} }"#,
    ]);
    assert!(ok && stdout.trim() == "Configuration OK", "{stderr}");
    assert!(
        stderr.contains("warning: config string:1:")
            && stderr.contains("no patterns_dir /nonexistent/patterns"),
        "{stderr}"
    );
    // A real mistake next to a missing file is still an error, not a warning.
    let (ok, _, stderr) = check(&[
        "-e",
        r#"input { stdin {} } filter { geoip { source => "ip" database => "/x.mmdb" fields => ["city"] } } output { stdout {} }"#,
    ]);
    assert!(
        !ok && stderr.contains("illegal field value city"),
        "{stderr}"
    );
}

/// Options are checked against each plugin's declaration, as Logstash validates its `config`
/// lines: an option read only on another branch is still known, and still type-checked.
#[test]
fn declared_options_are_known_on_every_branch() {
    let accepted = [
        // Every plugin takes ecs_compatibility, as Logstash's base plugin class has it.
        (
            r#"input { generator { count => 1 } } filter { kv { ecs_compatibility => disabled } }"#,
            "",
        ),
        // TLS off: the certificate options are not read, but they are the input's options.
        (
            r#"input { beats { port => 5044 ssl_enabled => false ssl_certificate => "/nope.crt" ssl_key => "/nope.key" } }"#,
            "",
        ),
        (
            r#"input { generator { count => 1 } } filter { translate { field => "message" dictionary => { "a" => "b" } } }"#,
            "option `field` of filter plugin `translate` is deprecated: use source",
        ),
        (
            r#"input { generator { count => 1 } } output { elasticsearch { manage_template => false } }"#,
            "option `manage_template` of output plugin `elasticsearch` has no effect in rstash",
        ),
    ];
    for (cfg, warning) in accepted {
        let (ok, stdout, stderr) = check(&["-e", cfg]);
        assert!(ok && stdout.contains("Configuration OK"), "{cfg}\n{stderr}");
        assert!(
            stderr.contains(warning),
            "{cfg}\n want: {warning}\n got: {stderr}"
        );
    }
    let refused = [
        (
            r#"input { beats { port => 5044 ssl_certificate_authorities => { "a" => "b" } } }"#,
            "1:30: option `ssl_certificate_authorities` of input `beats` must be an array, got a hash",
        ),
        (
            r#"input { tcp { port => 5000 ssl_key => ["a", "b"] } }"#,
            "1:28: option `ssl_key` of input `tcp` must be a path, got an array",
        ),
        (
            r#"input { beats { host => "127.0.0.1" } }"#,
            "1:9: beats input needs `port` (number)",
        ),
    ];
    for (cfg, want) in refused {
        let (ok, _, stderr) = check(&["-e", cfg]);
        assert!(
            !ok && stderr.contains(want),
            "{cfg}\n want: {want}\n got: {stderr}"
        );
    }
}

/// `--list-plugins` names every plugin; `--describe-plugin` prints every option each declares,
/// its own and those common to its kind.
#[test]
fn every_plugin_describes_its_options() {
    let (ok, list, _) = rstash(&["--list-plugins"]);
    assert!(ok);
    let plugins = rstash_plugins::registry().plugins();
    assert!(plugins.len() > 60, "{}", plugins.len());
    for (kind, name, declared) in plugins {
        let line = list
            .lines()
            .find(|l| l.starts_with(&format!("{kind}s: ")))
            .unwrap_or("");
        assert!(
            line.split([' ', ',']).any(|n| n == name),
            "{kind} {name} not listed:\n{list}"
        );
        let (ok, table, stderr) = rstash(&["--describe-plugin", &format!("{kind}/{name}")]);
        assert!(ok, "{kind}/{name}: {stderr}");
        let rows: Vec<&str> = table
            .lines()
            .filter_map(|l| l.split_whitespace().next())
            .collect();
        let common = rstash_pipeline::options::common(kind);
        for o in declared.iter().flat_map(|t| t.iter()).chain(common) {
            assert!(
                rows.contains(&o.name),
                "{kind}/{name}: `{}` missing:\n{table}",
                o.name
            );
        }
    }
    let (ok, both, _) = rstash(&["--describe-plugin", "tcp"]);
    assert!(
        ok && both.contains("input plugin `tcp`") && both.contains("output plugin `tcp`"),
        "{both}"
    );
    let (ok, gem, _) = rstash(&["--describe-plugin", "logstash-filter-grok"]);
    assert!(
        ok && gem.contains("filter plugin `grok`") && gem.contains("break_on_match"),
        "{gem}"
    );
    let (ok, _, err) = rstash(&["--describe-plugin", "grokk"]);
    assert!(!ok && err.contains("no plugin `grokk`"), "{err}");
}
