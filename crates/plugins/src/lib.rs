//! The plugins. Each is one file: an options struct built from `Args`, and the plugin trait.
//! Adding one means adding its file and its line in `registry()`.

pub mod amqp_link;
pub mod bus;
pub mod codecs;
pub mod filters;
pub mod http_client;
pub mod inputs;
pub mod memcached_link;
pub mod mssql_link;
pub mod outputs;
pub mod redis_link;
pub mod ruby_marshal;
pub mod s3_link;
pub mod sql_link;

use rstash_pipeline::Registry;

#[rustfmt::skip] // one line per plugin
pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.codec("plain", codecs::plain::OPTIONS, codecs::plain::build)
        .codec("line", codecs::line::OPTIONS, codecs::line::build)
        .codec("json", codecs::json::OPTIONS, codecs::json::build)
        .codec("msgpack", codecs::msgpack::OPTIONS, codecs::msgpack::build)
        .codec("edn", codecs::edn::OPTIONS, codecs::edn::build)
        .codec("json_lines", codecs::json::LINES_OPTIONS, codecs::json::build_lines)
        .codec("rubydebug", codecs::rubydebug::OPTIONS, codecs::rubydebug::build)
        .codec("dots", codecs::dots::OPTIONS, codecs::dots::build)
        .codec("es_bulk", codecs::es_bulk::OPTIONS, codecs::es_bulk::build)
        .codec("multiline", codecs::multiline::OPTIONS, codecs::multiline::build)
        .codec("cef", codecs::cef::OPTIONS, codecs::cef::build);
    r.input("stdin", inputs::stdin::OPTIONS, inputs::stdin::build)
        .input("generator", inputs::generator::OPTIONS, inputs::generator::build)
        .input("beats", inputs::beats::OPTIONS, inputs::beats::build)
        .input("tcp", inputs::tcp::OPTIONS, inputs::tcp::build)
        .input("file", inputs::file::OPTIONS, inputs::file::build)
        .input("udp", inputs::udp::OPTIONS, inputs::udp::build)
        .input("syslog", inputs::syslog::OPTIONS, inputs::syslog::build)
        .input("heartbeat", inputs::heartbeat::OPTIONS, inputs::heartbeat::build)
        .input("exec", inputs::exec::OPTIONS, inputs::exec::build)
        .input("http", inputs::http::OPTIONS, inputs::http::build)
        .input("redis", inputs::redis::OPTIONS, inputs::redis::build)
        .input("rabbitmq", inputs::rabbitmq::OPTIONS, inputs::rabbitmq::build)
        .input("s3", inputs::s3::OPTIONS, inputs::s3::build)
        .input("jdbc", inputs::jdbc::OPTIONS, inputs::jdbc::build)
        .input("kafka", inputs::kafka::OPTIONS, inputs::kafka::build)
        .input("pipeline", inputs::pipeline::OPTIONS, inputs::pipeline::build)
        .input("dead_letter_queue", inputs::dead_letter_queue::OPTIONS, inputs::dead_letter_queue::build);
    r.filter("mutate", filters::mutate::OPTIONS, filters::mutate::build)
        .filter("json", filters::json::OPTIONS, filters::json::build)
        .filter("date", filters::date::OPTIONS, filters::date::build)
        .filter("drop", filters::drop::OPTIONS, filters::drop::build)
        .filter("grok", filters::grok::OPTIONS, filters::grok::build)
        .filter("sleep", filters::sleep::OPTIONS, filters::sleep::build)
        .filter("kv", filters::kv::OPTIONS, filters::kv::build)
        .filter("dissect", filters::dissect::OPTIONS, filters::dissect::build)
        .filter("csv", filters::csv::OPTIONS, filters::csv::build)
        .filter("split", filters::split::OPTIONS, filters::split::build)
        .filter("clone", filters::clone::OPTIONS, filters::clone::build)
        .filter("fingerprint", filters::fingerprint::OPTIONS, filters::fingerprint::build)
        .filter("translate", filters::translate::OPTIONS, filters::translate::build)
        .filter("truncate", filters::truncate::OPTIONS, filters::truncate::build)
        .filter("urldecode", filters::urldecode::OPTIONS, filters::urldecode::build)
        .filter("uuid", filters::uuid::OPTIONS, filters::uuid::build)
        .filter("prune", filters::prune::OPTIONS, filters::prune::build)
        .filter("throttle", filters::throttle::OPTIONS, filters::throttle::build)
        .filter("aggregate", filters::aggregate::OPTIONS, filters::aggregate::build)
        .filter("ruby", filters::ruby::OPTIONS, filters::ruby::build)
        .filter("geoip", filters::geoip::OPTIONS, filters::geoip::build)
        .filter("useragent", filters::useragent::OPTIONS, filters::useragent::build)
        .filter("syslog_pri", filters::syslog_pri::OPTIONS, filters::syslog_pri::build)
        .filter("http", filters::http::OPTIONS, filters::http::build)
        .filter("memcached", filters::memcached::OPTIONS, filters::memcached::build)
        .filter("dns", filters::dns::OPTIONS, filters::dns::build)
        .filter("elasticsearch", filters::elasticsearch::OPTIONS, filters::elasticsearch::build)
        .filter("jdbc_streaming", filters::jdbc_streaming::OPTIONS, filters::jdbc_streaming::build);
    r.output("stdout", outputs::stdout::OPTIONS, outputs::stdout::build)
        .output("file", outputs::file::OPTIONS, outputs::file::build)
        .output("null", outputs::null::OPTIONS, outputs::null::build)
        .output("syslog", outputs::syslog::OPTIONS, outputs::syslog::build)
        .output("tcp", outputs::tcp::OPTIONS, outputs::tcp::build)
        .output("udp", outputs::udp::OPTIONS, outputs::udp::build)
        .output("http", outputs::http::OPTIONS, outputs::http::build)
        .output("redis", outputs::redis::OPTIONS, outputs::redis::build)
        .output("rabbitmq", outputs::rabbitmq::OPTIONS, outputs::rabbitmq::build)
        .output("s3", outputs::s3::OPTIONS, outputs::s3::build)
        .output("kafka", outputs::kafka::OPTIONS, outputs::kafka::build)
        .output("elasticsearch", outputs::elasticsearch::OPTIONS, outputs::elasticsearch::build)
        .output("opensearch", outputs::elasticsearch::OPENSEARCH_OPTIONS, outputs::elasticsearch::build_opensearch)
        .output("pipeline", outputs::pipeline::OPTIONS, outputs::pipeline::build);
    r
}
