//! Ruby regexes from configs: translation to PCRE2, compilation and matching of any bytes.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let text = String::from_utf8_lossy(data);
    let (pattern, subject) = text.split_once('\n').unwrap_or((&text, ""));
    if let Ok(re) = rstash_regex::Regex::new(pattern) {
        let _ = re.is_match(subject);
        let _ = re.replace_all(subject, "<\\0\\1\\k<a>>");
    }
});
