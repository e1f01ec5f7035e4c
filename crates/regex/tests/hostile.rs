//! Hostile patterns and text: compiling any string either gives a regex or an error, and
//! matching, replacing and scanning any text with it never panics (a runaway match gives up).

use proptest::prelude::*;
use rstash_regex::Regex;

/// Pattern-ish strings: regex syntax characters, Onigmo constructs, names and escapes.
fn pattern() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        prop_oneof![
            Just("(".to_string()),
            Just(")".to_string()),
            Just("[".to_string()),
            Just("]".to_string()),
            Just("(?<n>".to_string()),
            Just("\\k<n>".to_string()),
            Just("\\g<n>".to_string()),
            Just("(?m)".to_string()),
            Just("\\h".to_string()),
            Just("[[:alpha:]]".to_string()),
            Just("(?=a)".to_string()),
            Just("(?<!b)".to_string()),
            Just("a+".to_string()),
            Just("*".to_string()),
            Just("\\".to_string()),
            "[a-zé.|^$?{}0-9,]{0,3}".prop_map(|s| s),
        ],
        0..12,
    )
    .prop_map(|parts| parts.concat())
}

proptest! {
    #[test]
    fn any_pattern_and_text_is_handled(p in pattern(), text in "[a-zé ()=\\\\\n]{0,40}", repl in "[a-z\\\\0-9&<>k]{0,8}") {
        if let Ok(re) = Regex::new(&p) {
            let _ = re.is_match(&text);
            let _ = re.replace_all(&text, &repl);
            let _ = re.for_each_match(&text, |c| {
                for i in 0..c.len() {
                    let _ = c.get(i);
                }
            });
        }
    }
}
