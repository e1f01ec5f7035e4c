//! Indices written before rstore switched tantivy's term dictionary from an FST to sorted
//! string tables (cheaper to build for the many unique terms of logs) cannot have their terms
//! read any more; their stored documents can. On open, such an index is rebuilt from them beside
//! the old one and swapped in, in steps a crash can interrupt anywhere.

use std::path::Path;

use tantivy::schema::Value as _;
use tantivy::{IndexWriter, TantivyDocument};

use super::{build_doc, next_seq_no, schema};
use crate::error::{tv, EsError};
use crate::json::Json;
use crate::mapping::Mapping;

/// Written into an index's `tantivy` folder once its terms are in the current format.
const MARKER: &str = "rstore-terms-sstable";

/// In a rebuilt index's `tantivy` folder: the next sequence number of the old index (whose
/// deleted documents, gone from the rebuilt one, had taken some).
pub(super) const SEQ_FLOOR: &str = "rstore-seq-no-floor";

/// Marks a new index's folder as being in the current format.
pub(super) fn mark(tantivy_dir: &Path) -> Result<(), EsError> {
    std::fs::write(tantivy_dir.join(MARKER), b"").map_err(tv)
}

/// Brings `<dir>/tantivy` to the current format when it is not (after finishing or undoing an
/// interrupted upgrade). `mapping` types the rebuilt documents as it typed the old ones.
pub(super) fn upgrade_if_needed(name: &str, dir: &Path, mapping: &Mapping) -> Result<(), EsError> {
    let (cur, new, old) = (
        dir.join("tantivy"),
        dir.join("tantivy.new"),
        dir.join("tantivy.old"),
    );
    if new.join(MARKER).exists() {
        // Interrupted after the rebuild was complete: finish the swap.
        if cur.exists() {
            std::fs::rename(&cur, &old).map_err(tv)?;
        }
        std::fs::rename(&new, &cur).map_err(tv)?;
    } else if new.exists() {
        std::fs::remove_dir_all(&new).map_err(tv)?;
    }
    if old.exists() {
        std::fs::remove_dir_all(&old).map_err(tv)?;
    }
    let has_index = cur.join("meta.json").exists();
    if !has_index || cur.join(MARKER).exists() {
        return Ok(());
    }
    let started = std::time::Instant::now();
    let (docs, next_seq_no) = rebuild(&cur, &new, mapping)?;
    std::fs::write(new.join(SEQ_FLOOR), next_seq_no.to_string()).map_err(tv)?;
    mark(&new)?;
    std::fs::rename(&cur, &old).map_err(tv)?;
    std::fs::rename(&new, &cur).map_err(tv)?;
    std::fs::remove_dir_all(&old).map_err(tv)?;
    tracing::warn!(
        index = name,
        docs,
        ms = started.elapsed().as_millis() as u64,
        "index rebuilt in the current term dictionary format"
    );
    Ok(())
}

/// Every live document of the index in `from`, indexed anew into `to` with the same commit
/// payload (the log position it covers). Returns the number of documents and the old index's
/// next sequence number.
fn rebuild(from: &Path, to: &Path, mapping: &Mapping) -> Result<(u64, u64), EsError> {
    let old = tantivy::Index::open_in_dir(from).map_err(tv)?;
    let payload = old.load_metas().map_err(tv)?.payload;
    let os = old.schema();
    let field = |n: &str| os.get_field(n).ok();
    let (Some(id_f), Some(src_f), Some(ver_f)) =
        (field("_id"), field("_source"), field("_version"))
    else {
        return Err(EsError::internal(format!(
            "{}: not an rstore index",
            from.display()
        )));
    };
    let seq_f = field("_seq_no");
    std::fs::create_dir_all(to).map_err(tv)?;
    let (schema, f) = schema();
    let index = tantivy::Index::create_in_dir(to, schema).map_err(tv)?;
    let mut w: IndexWriter<super::doc::Doc> =
        index.writer_with_num_threads(1, 50_000_000).map_err(tv)?;
    let searcher = old.reader().map_err(tv)?.searcher();
    let mut n = 0u64;
    let next_seq_no = next_seq_no(&searcher);
    for seg in searcher.segment_readers() {
        let store = seg.get_store_reader(4).map_err(tv)?;
        for doc in store.iter::<TantivyDocument>(seg.alive_bitset()) {
            let doc = doc.map_err(tv)?;
            let text = |fl| doc.get_first(fl).and_then(|v| v.as_str()).unwrap_or("");
            let number = |fl| doc.get_first(fl).and_then(|v| v.as_u64());
            let (id, raw) = (text(id_f), text(src_f));
            let source = Json::parse(raw.as_bytes()).unwrap_or(Json::Null);
            // A document its mapping refused would not have been stored in the first place;
            // should one fail now, its stored source is kept (searchable by id) all the same.
            let src: std::sync::Arc<str> = raw.into();
            let (mut d, _) = build_doc(&f, mapping, id, &source, raw, src.clone())
                .or_else(|_| build_doc(&f, &Mapping::new(), id, &Json::Null, raw, src))?;
            d.stamp(number(ver_f).unwrap_or(1), seq_f.and_then(number));
            w.add_document(d).map_err(tv)?;
            n += 1;
        }
    }
    let mut c = w.prepare_commit().map_err(tv)?;
    if let Some(p) = payload {
        c.set_payload(&p);
    }
    c.commit().map_err(tv)?;
    w.wait_merging_threads().map_err(tv)?;
    Ok((n, next_seq_no))
}
