//! The s3 input and output against moto's S3 server (from PyPI, run under `unshare -n` with
//! rstash beside it), with boto3, the AWS SDK for Python, on the other side: objects read once
//! across a restart (sincedb), gzipped and CloudFront objects, backups and deletion; rotation by
//! size with Logstash's object names, gzip encoding and storage class; files a kill -9 left
//! behind uploaded on restart (restore), time rotation; multipart uploads; and the bucket check
//! that refuses to start against a bucket we cannot write.

mod common;

use std::collections::BTreeSet;
use std::path::Path;

use common::{log_tails, peers, run_in_netns};
use serde_json::Value;

fn conf(d: &Path, name: &str, text: &str) {
    std::fs::write(d.join(name), text).unwrap();
}

#[test]
fn s3_input_and_output_against_moto() {
    let dir = tempfile::tempdir().unwrap();
    let d = dir.path();
    let data = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/data/s3");
    let venv = peers().join("venv/bin");
    let aws = r#"endpoint => "http://127.0.0.1:4566" access_key_id => "AKIDRSTASH" secret_access_key => "rstash-secret" region => "us-east-1""#;
    let copy = r#"filter { mutate { copy => { "[@metadata][s3]" => "s3" } } }"#;
    conf(
        d,
        "input1.conf",
        &format!(
            r#"input {{ s3 {{ bucket => "logs" prefix => "app/" {aws} interval => 1 exclude_pattern => "\.tmp$"
                 sincedb_path => "{d}/sincedb1" temporary_directory => "{d}/tmp-in" backup_to_dir => "{d}/backup"
                 include_object_properties => true }} }}
               {copy}
               output {{ file {{ path => "{d}/in.json" codec => json_lines }} }}"#,
            d = d.display()
        ),
    );
    conf(
        d,
        "input2.conf",
        &format!(
            r#"input {{ s3 {{ bucket => "logs" prefix => "app/" {aws} watch_for_new_files => false exclude_pattern => "\.tmp$"
                 sincedb_path => "{d}/sincedb2" temporary_directory => "{d}/tmp-in"
                 delete => true backup_to_bucket => "archive" backup_add_prefix => "done/" codec => json }} }}
               output {{ file {{ path => "{d}/in2.json" codec => json_lines }} }}"#,
            d = d.display()
        ),
    );
    conf(
        d,
        "output1.conf",
        &format!(
            r#"input {{ generator {{ count => 500 type => "x" }} }}
               output {{ s3 {{ bucket => "out" {aws} prefix => "logs/%{{type}}/" size_file => 500 encoding => "gzip"
                 tags => ["a", "b"] storage_class => "STANDARD_IA" temporary_directory => "{d}/tmp-out1" codec => json_lines }} }}"#,
            d = d.display()
        ),
    );
    for (name, time_file) in [("output2.conf", 60.0), ("output3.conf", 0.05)] {
        conf(
            d,
            name,
            &format!(
                r#"input {{ tcp {{ port => 5140 host => "127.0.0.1" }} }}
                   output {{ s3 {{ bucket => "out" {aws} prefix => "crash" size_file => 100000000 time_file => {time_file}
                     temporary_directory => "{d}/tmp-out2" codec => json_lines }} }}"#,
                d = d.display()
            ),
        );
    }
    conf(
        d,
        "output4.conf",
        &format!(
            r#"input {{ generator {{ count => 7000 message => "{big}" }} }}
               output {{ s3 {{ bucket => "out" {aws} prefix => "big" size_file => 100000000 upload_multipart_threshold => 5242880
                 temporary_directory => "{d}/tmp-out4" codec => json_lines }} }}"#,
            big = "x".repeat(1000),
            d = d.display()
        ),
    );
    conf(
        d,
        "output5.conf",
        &format!(
            r#"input {{ generator {{ count => 1 }} }}
               output {{ s3 {{ bucket => "missing" {aws} temporary_directory => "{d}/tmp-out5" }} }}"#,
            d = d.display()
        ),
    );
    let script = format!(
        r#"set -u
ip link set lo up
cd {d}
export HOME={d}
{venv}/moto_server -H 127.0.0.1 -p 4566 > moto.log 2>&1 &
for i in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/4566) 2>/dev/null && break; sleep 0.1; done
s3() {{ {venv}/python {data}/s3.py 4566 "$@"; }}
lines() {{ cat "$@" 2>/dev/null | wc -l; }}
wait_lines() {{ local f=$1 n=$2 end=$((SECONDS + 90)); while [ $SECONDS -lt $end ]; do [ "$(lines $f)" -ge "$n" ] && return 0; sleep 0.2; done; echo "TIMEOUT waiting for $n lines in $f"; }}
s3 mkbucket logs; s3 mkbucket out
printf 'one\ntwo\nthree\n' > a.log; s3 put logs app/a.log a.log
printf 'gz-one\r\ngz-two\n' > b.log; s3 put logs app/b.log.gz b.log --gzip
printf '#Version: 1.0\n#Fields: date time c-ip\n2026-11-26 10:00:00 10.0.0.1\n' > cf.log; s3 put logs app/cf.log cf.log
printf 'skip\n' > skip.tmp; s3 put logs app/skip.tmp skip.tmp
printf 'other\n' > c.log; s3 put logs other/c.log c.log

# The input, stopped and started again: only the object added in between is read.
{rstash} -f input1.conf 2>input1a.log & r=$!
wait_lines in.json 6; sleep 3
kill -TERM $r; wait $r; echo "input1a: $?"
{rstash} -f input1.conf 2>input1b.log & r=$!
sleep 2; printf 'dee\n' > d.log; s3 put logs app/d.log d.log
wait_lines in.json 7; sleep 5
kill -TERM $r; wait $r; echo "input1b: $?"
# Once more with delete and a backup bucket: reads everything once and ends.
timeout 120 {rstash} -f input2.conf 2>input2.log; echo "input2: $?"
s3 ls logs > logs-after.json; s3 ls archive > archive.json

# Size rotation with gzip and tags.
timeout 120 {rstash} -f output1.conf 2>output1.log; echo "output1: $?"
s3 ls out > out1.json
for k in $(python3 -c 'import json,sys; [print(o["key"]) for o in json.load(open("out1.json"))]'); do s3 cat out "$k" >> out1.lines; done

# kill -9 with events in the temporary files; the restart uploads them, then rotates by time.
{rstash} -f output2.conf 2>output2.log & r=$!
for i in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/5140) 2>/dev/null && break; sleep 0.1; done
seq 1 1000 > /dev/tcp/127.0.0.1/5140
wait_lines "tmp-out2/*/crash/*" 1000
kill -9 $r; wait $r 2>/dev/null
s3 ls out > out2-before.json
mkdir -p tmp-out2/notes; echo keep > tmp-out2/notes/x.txt
{rstash} -f output3.conf 2>output3.log & r=$!
for i in $(seq 600); do (exec 3<>/dev/tcp/127.0.0.1/5140) 2>/dev/null && break; sleep 0.1; done
seq 1001 1010 > /dev/tcp/127.0.0.1/5140
end=$((SECONDS + 60)); while [ $SECONDS -lt $end ]; do [ "$(s3 ls out | grep -o '"crash/' | wc -l)" -ge 2 ] && break; sleep 1; done
s3 ls out > out2.json
kill -TERM $r; wait $r; echo "output3: $?"
for k in $(python3 -c 'import json,sys; [print(o["key"]) for o in json.load(open("out2.json")) if o["key"].startswith("crash/")]'); do s3 cat out "$k" >> out2.lines; done

# Multipart above the threshold.
timeout 300 {rstash} -f output4.conf 2>output4.log; echo "output4: $?"
s3 ls out > out4.json
s3 cat out "$(python3 -c 'import json; print([o["key"] for o in json.load(open("out4.json")) if o["key"].startswith("big/")][0])')" > out4.lines

# A bucket we cannot write: refused at start.
timeout 60 {rstash} -f output5.conf 2>output5.log; echo "output5: $?"
kill %1
"#,
        d = d.display(),
        venv = venv.display(),
        data = data.display(),
        rstash = env!("CARGO_BIN_EXE_rstash"),
    );
    let (out, err) = run_in_netns(d, &script);
    let read = |f: &str| std::fs::read_to_string(d.join(f)).unwrap_or_default();
    let logs = || {
        let files = ["input1a.log", "input1b.log", "input2.log", "output1.log"];
        let more = ["output2.log", "output3.log", "output4.log", "moto.log"];
        log_tails(d, &[&files[..], &more[..]].concat())
    };
    assert!(!out.contains("TIMEOUT"), "{out}\n{err}\n{}", logs());
    for run in [
        "input1a: 0",
        "input1b: 0",
        "input2: 0",
        "output1: 0",
        "output3: 0",
        "output4: 0",
    ] {
        assert!(out.contains(run), "{run} expected in:\n{out}\n{}", logs());
    }

    // Input: each object once across the restart, lines as Logstash hands them to the codec.
    let events: Vec<Value> = read("in.json")
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let messages: BTreeSet<&str> = events
        .iter()
        .filter_map(|e| e["message"].as_str())
        .collect();
    let expected: BTreeSet<&str> = [
        "one\n",
        "two\n",
        "three\n",
        "gz-one",
        "gz-two",
        "2026-11-26 10:00:00 10.0.0.1\n",
        "dee\n",
    ]
    .into();
    assert_eq!(messages, expected, "{}", logs());
    assert_eq!(events.len(), 7, "nothing read twice: {events:?}");
    let cf = events
        .iter()
        .find(|e| e["message"] == "2026-11-26 10:00:00 10.0.0.1\n")
        .unwrap();
    assert_eq!(cf["cloudfront_version"], "1.0");
    assert_eq!(cf["cloudfront_fields"], "date time c-ip");
    let a = events.iter().find(|e| e["message"] == "one\n").unwrap();
    assert_eq!(a["s3"]["key"], "app/a.log");
    assert_eq!(a["s3"]["content_length"], 14);
    assert!(a["s3"]["etag"].as_str().unwrap().starts_with('"'));
    assert!(a["s3"]["last_modified"].is_string());
    let backed_up: BTreeSet<String> = std::fs::read_dir(d.join("backup"))
        .unwrap()
        .map(|e| e.unwrap().file_name().to_string_lossy().into_owned())
        .collect();
    assert_eq!(
        backed_up,
        ["a.log", "b.log.gz", "cf.log", "d.log"]
            .map(String::from)
            .into()
    );
    let since = read("sincedb1");
    assert!(
        since.len() == 23 && since.ends_with(" UTC"),
        "Ruby's Time#to_s: {since}"
    );

    // delete + backup_to_bucket: originals gone, copies under the prefix, the others kept.
    let keys = |f: &str| -> BTreeSet<String> {
        serde_json::from_str::<Vec<Value>>(&read(f))
            .unwrap_or_default()
            .iter()
            .map(|o| o["key"].as_str().unwrap().to_string())
            .collect()
    };
    assert_eq!(
        keys("logs-after.json"),
        ["app/skip.tmp", "other/c.log"].map(String::from).into()
    );
    assert_eq!(
        keys("archive.json"),
        [
            "done/app/a.log",
            "done/app/b.log.gz",
            "done/app/cf.log",
            "done/app/d.log"
        ]
        .map(String::from)
        .into()
    );
    // codec json on non-JSON lines: tagged, not lost.
    let in2 = read("in2.json");
    assert_eq!(in2.lines().count(), 7, "{in2}");
    assert!(in2.contains("_jsonparsefailure"));

    // Size rotation: several gzip parts, Logstash's names, every event once.
    let objects: Vec<Value> = serde_json::from_str(&read("out1.json")).unwrap();
    let name = regex::Regex::new(
        r"^logs/x/ls\.s3\.[0-9a-f-]{36}\.\d{4}-\d\d-\d\dT\d\d\.\d\d\.tag_a\.b\.part\d+\.txt\.gz$",
    )
    .unwrap();
    let rotated: Vec<&Value> = objects
        .iter()
        .filter(|o| o["key"].as_str().unwrap().starts_with("logs/"))
        .collect();
    assert!(rotated.len() > 2, "size_file 500 rotates: {objects:?}");
    for o in &rotated {
        assert!(name.is_match(o["key"].as_str().unwrap()), "{o}");
        assert_eq!(o["content_encoding"], "gzip");
        assert_eq!(o["storage_class"], "STANDARD_IA");
    }
    let seqs: BTreeSet<i64> = read("out1.lines")
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["sequence"]
                .as_i64()
                .unwrap()
        })
        .collect();
    assert_eq!(seqs, (0..500).collect(), "{}", logs());
    assert!(
        std::fs::read_dir(d.join("tmp-out1"))
            .unwrap()
            .next()
            .is_none(),
        "temporary files removed"
    );

    // Restore after kill -9, then time rotation.
    assert_eq!(
        keys("out2-before.json")
            .iter()
            .filter(|k| k.starts_with("crash/"))
            .count(),
        0
    );
    let crash = keys("out2.json")
        .iter()
        .filter(|k| k.starts_with("crash/"))
        .count();
    assert!(
        crash >= 2,
        "restored file and a time-rotated one: {}",
        read("out2.json")
    );
    let got: BTreeSet<String> = read("out2.lines")
        .lines()
        .map(|l| {
            serde_json::from_str::<Value>(l).unwrap()["message"]
                .as_str()
                .unwrap()
                .to_string()
        })
        .collect();
    let sent: BTreeSet<String> = (1..=1010).map(|n| n.to_string()).collect();
    assert_eq!(got, sent, "{}", logs());
    assert!(
        read("output3.log").contains("left by an earlier run"),
        "{}",
        logs()
    );
    assert!(
        d.join("tmp-out2/notes/x.txt").exists(),
        "restore leaves what is not its own"
    );
    assert!(!read("out2.json").contains("x.txt"));

    // Multipart: an S3 multipart ETag ends with the part count.
    let big: Vec<Value> = serde_json::from_str(&read("out4.json")).unwrap();
    let big = big
        .iter()
        .find(|o| o["key"].as_str().unwrap().starts_with("big/"))
        .unwrap();
    assert!(big["etag"].as_str().unwrap().ends_with("-2\""), "{big}");
    assert_eq!(read("out4.lines").lines().count(), 7000);

    // The bucket check.
    assert!(!out.contains("output5: 0"), "{out}");
    assert!(
        read("output5.log").contains("privileges to write to root bucket `missing`"),
        "{}",
        read("output5.log")
    );
}
