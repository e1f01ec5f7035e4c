//! Property: printing a parsed config and parsing it again gives the same text (parse ∘ print is stable),
//! over configs generated from the grammar.

use proptest::prelude::*;
use rstash_config::{parse, print, Source};

fn ident() -> impl Strategy<Value = String> {
    "[a-z][a-z0-9_]{1,6}".prop_filter("keywords", |s| {
        !["if", "else", "and", "or", "xor", "nand", "in", "not"].contains(&s.as_str())
    })
}

fn string_lit() -> impl Strategy<Value = String> {
    prop_oneof![
        "[a-zA-Z0-9 %{}\\[\\]:.,=>/-]{0,10}".prop_map(|s| format!("\"{s}\"")),
        "[a-zA-Z0-9 \"]{0,10}".prop_map(|s| format!("'{s}'")),
    ]
}

fn number() -> impl Strategy<Value = String> {
    prop_oneof!["-?[1-9][0-9]{0,5}", "-?[0-9]{1,3}\\.[0-9]{1,3}"]
}

fn value() -> impl Strategy<Value = String> {
    let leaf = prop_oneof![string_lit(), number(), ident()];
    leaf.prop_recursive(3, 16, 4, |inner| {
        prop_oneof![
            proptest::collection::vec(inner.clone(), 0..4)
                .prop_map(|v| format!("[{}]", v.join(", "))),
            proptest::collection::vec((string_lit(), inner.clone()), 0..3).prop_map(|v| {
                // Distinct keys: duplicates are an error by design.
                let mut seen = std::collections::HashSet::new();
                let body: Vec<String> = v
                    .into_iter()
                    .filter(|(k, _)| seen.insert(k[1..k.len() - 1].to_string()))
                    .map(|(k, v)| format!("{k} => {v}"))
                    .collect();
                format!("{{ {} }}", body.join(" "))
            }),
        ]
    })
}

fn plugin() -> impl Strategy<Value = String> {
    (ident(), proptest::collection::vec((ident(), value()), 0..4)).prop_map(|(n, attrs)| {
        format!(
            "{n} {{ {} }}",
            attrs
                .into_iter()
                .map(|(k, v)| format!("{k} => {v}"))
                .collect::<Vec<_>>()
                .join("\n")
        )
    })
}

fn rvalue() -> impl Strategy<Value = String> {
    prop_oneof![
        "(\\[[a-z@]{1,5}\\]){1,3}",
        string_lit(),
        number(),
        "/[a-z.*+]{1,6}/",
        // Two or more items: `["x"]` is a selector by the grammar, not an array.
        proptest::collection::vec("\"[a-z ]{0,5}\"", 2..4)
            .prop_map(|v| format!("[{}]", v.join(", ")))
    ]
}

fn condition() -> impl Strategy<Value = String> {
    let atom = prop_oneof![
        rvalue(),
        (
            rvalue(),
            prop_oneof![
                Just("=="),
                Just("!="),
                Just("<"),
                Just(">="),
                Just("in"),
                Just("not in")
            ],
            rvalue()
        )
            .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
        ("(\\[[a-z]{1,5}\\]){1,2}", "/[a-z]{1,4}/").prop_map(|(a, r)| format!("{a} =~ {r}")),
        "(\\[[a-z]{1,5}\\]){1,2}".prop_map(|s| format!("!{s}")),
    ];
    atom.prop_recursive(2, 8, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop_oneof![Just("and"), Just("or")],
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.clone().prop_map(|c| format!("({c})")),
            inner.prop_map(|c| format!("!({c})")),
        ]
    })
}

fn statement() -> impl Strategy<Value = String> {
    let leaf = plugin();
    leaf.prop_recursive(2, 8, 3, |inner| {
        (
            condition(),
            proptest::collection::vec(inner.clone(), 0..3),
            proptest::option::of(proptest::collection::vec(inner, 0..2)),
        )
            .prop_map(|(c, body, other)| {
                let mut s = format!("if {c} {{ {} }}", body.join("\n"));
                if let Some(o) = other {
                    s.push_str(&format!(" else {{ {} }}", o.join("\n")));
                }
                s
            })
    })
}

fn config() -> impl Strategy<Value = String> {
    proptest::collection::vec(
        (
            prop_oneof![Just("input"), Just("filter"), Just("output")],
            proptest::collection::vec(statement(), 0..3),
        ),
        1..4,
    )
    .prop_map(|secs| {
        secs.into_iter()
            .map(|(k, b)| format!("{k} {{\n{}\n}}\n# comment\n", b.join("\n")))
            .collect()
    })
}

proptest! {
    #![proptest_config(ProptestConfig::with_cases(300))]

    #[test]
    fn print_parse_is_stable(text in config()) {
        let ast = parse(&Source::from_string("gen", &text)).map_err(|e| TestCaseError::fail(format!("{e}\n{text}")))?;
        let printed = print(&ast);
        let again = parse(&Source::from_string("printed", &printed)).map_err(|e| TestCaseError::fail(format!("{e}\n{printed}")))?;
        prop_assert_eq!(print(&again), printed);
    }

    #[test]
    fn arbitrary_text_never_panics(text in "\\PC{0,80}") {
        let _ = parse(&Source::from_string("x", &text));
    }
}

/// Nesting far beyond any real config is an error at its position, not a stack overflow; the
/// parse runs on a small thread stack so that an unbounded recursion would show here.
#[test]
fn deep_nesting_is_an_error_not_a_crash() {
    let n = 50_000;
    let cases = [
        format!(
            "filter {{ mutate {{ x => {}1{} }} }}",
            "[".repeat(n),
            "]".repeat(n)
        ),
        format!(
            "filter {{ mutate {{ x => {} }} }}",
            "{ \"a\" => ".repeat(n) + &"}".repeat(n)
        ),
        format!("filter {{ {} }}", "if [a] { ".repeat(n) + &"}".repeat(n)),
        format!(
            "filter {{ if {}[a]{} {{ }} }}",
            "(".repeat(n),
            ")".repeat(n)
        ),
        format!("filter {{ if {}[a] {{ }} }}", "!(".repeat(n)),
    ];
    for text in cases {
        let err = std::thread::Builder::new()
            .stack_size(1 << 20)
            .spawn(move || {
                parse(&Source::from_string("deep.conf", &text))
                    .map(|_| ())
                    .map_err(|e| e.to_string())
            })
            .unwrap()
            .join()
            .expect("the parser overflowed its stack");
        let err = err.expect_err("50,000 levels must be refused");
        assert!(err.starts_with("deep.conf:1:"), "{err}");
        assert!(err.contains("nested more than 100 levels deep"), "{err}");
    }
    // Real configs nest a few levels: 30 are fine.
    let ok = format!("filter {{ {} }}", "if [a] { ".repeat(30) + &"}".repeat(30));
    assert!(parse(&Source::from_string("ok.conf", &ok)).is_ok());
}
