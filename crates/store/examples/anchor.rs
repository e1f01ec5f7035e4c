//! The engine's own limit, for bench/e2e: tantivy alone indexing the same pre-parsed documents
//! rstore gets, in rstore's schema shape (id, stored source, version, one JSON field for text
//! and one for keywords and numbers), with 1 or 2 writer threads, committing every second as
//! rstore's refresh does. Prints `docs seconds`.
//! Usage: anchor DOCS.ndjson THREADS

use std::io::BufRead;
use std::time::Instant;

use serde_json::Value;
use tantivy::schema::{
    IndexRecordOption, JsonObjectOptions, Schema, TextFieldIndexing, TextOptions, FAST, STORED,
    STRING,
};
use tantivy::TantivyDocument;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let args: Vec<String> = std::env::args().collect();
    let (path, threads) = match args.as_slice() {
        [_, p, t] => (p.clone(), t.parse::<usize>()?),
        _ => return Err("usage: anchor DOCS.ndjson THREADS".into()),
    };
    let mut b = Schema::builder();
    let id = b.add_text_field("_id", STRING | STORED);
    let source = b.add_text_field("_source", TextOptions::default().set_stored());
    let version = b.add_u64_field("_version", FAST | STORED);
    let text = b.add_json_field(
        "text",
        JsonObjectOptions::default().set_indexing_options(
            TextFieldIndexing::default()
                .set_tokenizer("default")
                .set_index_option(IndexRecordOption::WithFreqsAndPositions),
        ),
    );
    let kw = b.add_json_field(
        "kw",
        JsonObjectOptions::default()
            .set_indexing_options(TextFieldIndexing::default().set_tokenizer("raw"))
            .set_fast("raw"),
    );
    let schema = b.build();
    // Pre-parsed: reading the file and parsing JSON stay outside the timed part.
    let mut docs = Vec::new();
    let file = std::io::BufReader::new(std::fs::File::open(&path)?);
    for (i, line) in file.lines().enumerate() {
        let line = line?;
        let v: Value = serde_json::from_str(&line)?;
        let strings: serde_json::Map<String, Value> = v
            .as_object()
            .map(|o| {
                o.iter()
                    .filter(|(_, x)| x.is_string())
                    .map(|(k, x)| (k.clone(), x.clone()))
                    .collect()
            })
            .unwrap_or_default();
        let mut d = TantivyDocument::default();
        d.add_text(id, format!("doc{i}"));
        d.add_text(source, &line);
        d.add_u64(version, 1);
        d.add_field_value(text, &Value::Object(strings));
        d.add_field_value(kw, &v);
        docs.push(d);
    }
    let dir = tempfile::tempdir()?;
    let index = tantivy::Index::create_in_dir(dir.path(), schema)?;
    let mut writer: tantivy::IndexWriter =
        index.writer_with_num_threads(threads, 64_000_000 * threads)?;
    let n = docs.len();
    let start = Instant::now();
    let mut last_commit = Instant::now();
    for d in docs {
        writer.add_document(d)?;
        if last_commit.elapsed().as_secs() >= 1 {
            writer.commit()?;
            last_commit = Instant::now();
        }
    }
    writer.commit()?;
    println!("{n} {:.3}", start.elapsed().as_secs_f64());
    Ok(())
}
