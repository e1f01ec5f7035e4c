//! Aggregations through tantivy's Elasticsearch-compatible aggregation module (terms,
//! date_histogram, histogram, range, avg/min/max/sum/value_count/stats, ...), merged across the
//! indices a pattern names.

use std::sync::Arc;

use serde_json::Value;
use tantivy::aggregation::agg_req::Aggregations;
use tantivy::aggregation::intermediate_agg_result::IntermediateAggregationResults;
use tantivy::aggregation::{
    AggContextParams, AggregationLimitsGuard, DistributedAggregationCollector,
};

use crate::dsl::{self, aggs_to_tantivy};
use crate::index::{EsError, Index};

fn bad(e: impl std::fmt::Display) -> EsError {
    EsError::bad_request("x_content_parse_exception", format!("aggregations: {e}"))
}

pub fn run(indices: &[Arc<Index>], query: &Value, aggs: &Value) -> Result<Value, EsError> {
    let req: Aggregations = serde_json::from_value(aggs_to_tantivy(aggs)).map_err(bad)?;
    let mut merged: Option<IntermediateAggregationResults> = None;
    for idx in indices {
        let q = idx.with_mapping(|m| dsl::build(idx, m, query))?;
        let ctx = AggContextParams::new(
            AggregationLimitsGuard::default(),
            idx.tantivy().tokenizers().clone(),
        );
        let collector = DistributedAggregationCollector::from_aggs(req.clone(), ctx);
        let r = idx.searcher().search(&q, &collector).map_err(bad)?;
        match &mut merged {
            Some(m) => m.merge_fruits(r).map_err(bad)?,
            None => merged = Some(r),
        }
    }
    let merged = merged.unwrap_or_default();
    let result = merged
        .into_final_result(req, AggregationLimitsGuard::default())
        .map_err(bad)?;
    let mut v = serde_json::to_value(result).map_err(EsError::internal)?;
    es_shapes(&mut v);
    Ok(v)
}

/// Elasticsearch's shapes where tantivy's differ: date bucket keys are integer milliseconds and
/// their `key_as_string` carries milliseconds.
fn es_shapes(v: &mut Value) {
    match v {
        Value::Object(o) => {
            if let Some(Value::String(s)) = o.get("key_as_string") {
                if let Ok(t) = s.parse::<jiff::Timestamp>() {
                    let fixed = t.strftime("%Y-%m-%dT%H:%M:%S%.3fZ").to_string();
                    o.insert("key_as_string".into(), Value::String(fixed));
                    if let Some(k) = o.get("key").and_then(Value::as_f64) {
                        o.insert("key".into(), Value::from(k as i64));
                    }
                }
            }
            for x in o.values_mut() {
                es_shapes(x);
            }
        }
        Value::Array(a) => a.iter_mut().for_each(es_shapes),
        _ => {}
    }
}
