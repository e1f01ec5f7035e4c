//! The plugins. Each is one file: an options struct built from `Args`, and the plugin trait.
//! Adding one means adding its file and its line in `registry()`.

pub mod amqp_link;
pub mod bus;
pub mod codecs;
pub mod filters;
pub mod http_client;
pub mod inputs;
pub mod memcached_link;
pub mod outputs;
pub mod redis_link;
pub mod ruby_marshal;
pub mod s3_link;
pub mod sql_link;

use rstash_pipeline::Registry;

pub fn registry() -> Registry {
    let mut r = Registry::default();
    r.codec("plain", codecs::plain::build)
        .codec("line", codecs::line::build)
        .codec("json", codecs::json::build)
        .codec("msgpack", codecs::msgpack::build)
        .codec("edn", codecs::edn::build)
        .codec("json_lines", codecs::json::build_lines)
        .codec("rubydebug", codecs::rubydebug::build)
        .codec("dots", codecs::dots::build)
        .codec("es_bulk", codecs::es_bulk::build)
        .codec("multiline", codecs::multiline::build)
        .codec("cef", codecs::cef::build);
    r.input("stdin", inputs::stdin::build)
        .input("generator", inputs::generator::build)
        .input("beats", inputs::beats::build)
        .input("tcp", inputs::tcp::build)
        .input("file", inputs::file::build)
        .input("udp", inputs::udp::build)
        .input("syslog", inputs::syslog::build)
        .input("heartbeat", inputs::heartbeat::build)
        .input("exec", inputs::exec::build)
        .input("http", inputs::http::build)
        .input("redis", inputs::redis::build)
        .input("rabbitmq", inputs::rabbitmq::build)
        .input("s3", inputs::s3::build)
        .input("jdbc", inputs::jdbc::build)
        .input("kafka", inputs::kafka::build)
        .input("pipeline", inputs::pipeline::build)
        .input("dead_letter_queue", inputs::dead_letter_queue::build);
    r.filter("mutate", filters::mutate::build)
        .filter("json", filters::json::build)
        .filter("date", filters::date::build)
        .filter("drop", filters::drop::build)
        .filter("grok", filters::grok::build)
        .filter("sleep", filters::sleep::build)
        .filter("kv", filters::kv::build)
        .filter("dissect", filters::dissect::build)
        .filter("csv", filters::csv::build)
        .filter("split", filters::split::build)
        .filter("clone", filters::clone::build)
        .filter("fingerprint", filters::fingerprint::build)
        .filter("translate", filters::translate::build)
        .filter("truncate", filters::truncate::build)
        .filter("urldecode", filters::urldecode::build)
        .filter("uuid", filters::uuid::build)
        .filter("prune", filters::prune::build)
        .filter("throttle", filters::throttle::build)
        .filter("aggregate", filters::aggregate::build)
        .filter("ruby", filters::ruby::build)
        .filter("geoip", filters::geoip::build)
        .filter("useragent", filters::useragent::build)
        .filter("syslog_pri", filters::syslog_pri::build)
        .filter("http", filters::http::build)
        .filter("memcached", filters::memcached::build)
        .filter("dns", filters::dns::build)
        .filter("elasticsearch", filters::elasticsearch::build)
        .filter("jdbc_streaming", filters::jdbc_streaming::build);
    r.output("stdout", outputs::stdout::build)
        .output("file", outputs::file::build)
        .output("null", outputs::null::build)
        .output("syslog", outputs::syslog::build)
        .output("tcp", outputs::tcp::build)
        .output("udp", outputs::udp::build)
        .output("http", outputs::http::build)
        .output("redis", outputs::redis::build)
        .output("rabbitmq", outputs::rabbitmq::build)
        .output("s3", outputs::s3::build)
        .output("kafka", outputs::kafka::build)
        .output("elasticsearch", outputs::elasticsearch::build)
        .output("opensearch", outputs::elasticsearch::build_opensearch)
        .output("pipeline", outputs::pipeline::build);
    r
}
