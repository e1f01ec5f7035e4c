//! Float to text, the two ways Logstash prints them: Java `Double.toString` (JSON, sprintf) and
//! JRuby `Float#to_s` (rubydebug, mutate convert/join). Both start from the shortest round-trip digits.
//! And back: Ruby's lenient `String#to_i`/`to_f`, which plugins apply to text.

/// Shortest digits of |x| and the scientific exponent E, so |x| = d.ddd × 10^E.
fn digits(x: f64) -> (String, i32) {
    let s = format!("{:e}", x.abs());
    let (mant, exp) = s.split_once('e').unwrap_or((&s, "0"));
    (mant.replace('.', ""), exp.parse().unwrap_or(0))
}

fn special(x: f64) -> Option<String> {
    if x.is_nan() {
        Some("NaN".into())
    } else if x.is_infinite() {
        Some(if x > 0.0 { "Infinity" } else { "-Infinity" }.into())
    } else if x == 0.0 {
        Some(if x.is_sign_negative() { "-0.0" } else { "0.0" }.into())
    } else {
        None
    }
}

fn fixed(sign: &str, d: &str, e: i32) -> String {
    let mut out = String::from(sign);
    if e < 0 {
        out.push_str("0.");
        out.extend(std::iter::repeat_n('0', (-e - 1) as usize));
        out.push_str(d);
    } else {
        let int_len = e as usize + 1;
        if d.len() <= int_len {
            out.push_str(d);
            out.extend(std::iter::repeat_n('0', int_len - d.len()));
            out.push_str(".0");
        } else {
            out.push_str(&d[..int_len]);
            out.push('.');
            out.push_str(&d[int_len..]);
        }
    }
    out
}

fn mantissa(d: &str) -> String {
    let frac = if d.len() > 1 { &d[1..] } else { "0" };
    format!("{}.{}", &d[..1], frac)
}

/// Java `Double.toString`: fixed for 1e-3 <= |x| < 1e7, else `1.0E20` / `1.0E-4`.
pub fn java_double(x: f64) -> String {
    if let Some(s) = special(x) {
        return s;
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let (d, e) = digits(x);
    if (-3..7).contains(&e) {
        fixed(sign, &d, e)
    } else {
        format!("{sign}{}E{e}", mantissa(&d))
    }
}

/// JRuby `Float#to_s`: fixed for -4 <= E < 20, else `1.0e+20` / `1.5e-05`.
pub fn ruby_float(x: f64) -> String {
    if let Some(s) = special(x) {
        return s;
    }
    let sign = if x < 0.0 { "-" } else { "" };
    let (d, e) = digits(x);
    if (-4..20).contains(&e) {
        fixed(sign, &d, e)
    } else {
        let es = if e < 0 { '-' } else { '+' };
        format!("{sign}{}e{es}{:02}", mantissa(&d), e.abs())
    }
}

/// Ruby `String#to_i` on the text: optional sign, digits (with `_`), stop at the first other char.
pub fn ruby_to_i(s: &str) -> i64 {
    let t = s.trim_start();
    let (neg, body) = match t.as_bytes().first() {
        Some(b'-') => (true, &t[1..]),
        Some(b'+') => (false, &t[1..]),
        _ => (false, t),
    };
    let digits: String = body
        .chars()
        .take_while(|c| c.is_ascii_digit() || *c == '_')
        .filter(|c| *c != '_')
        .collect();
    let v: i64 = digits.parse().unwrap_or(0);
    if neg {
        -v
    } else {
        v
    }
}

/// Ruby `String#to_f`: the longest numeric prefix, else 0.0.
pub fn ruby_to_f(s: &str) -> f64 {
    let t = s.trim_start();
    let b = t.as_bytes();
    let mut i = 0;
    if matches!(b.first(), Some(b'-' | b'+')) {
        i = 1;
    }
    while i < b.len() && b[i].is_ascii_digit() {
        i += 1;
    }
    if i < b.len() && b[i] == b'.' && b.get(i + 1).is_some_and(u8::is_ascii_digit) {
        i += 1;
        while i < b.len() && b[i].is_ascii_digit() {
            i += 1;
        }
    }
    if i < b.len() && (b[i] == b'e' || b[i] == b'E') {
        let mut j = i + 1;
        if matches!(b.get(j), Some(b'-' | b'+')) {
            j += 1;
        }
        if b.get(j).is_some_and(u8::is_ascii_digit) {
            while j < b.len() && b[j].is_ascii_digit() {
                j += 1;
            }
            i = j;
        }
    }
    t[..i].parse().unwrap_or(0.0)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn java_rule() {
        for (x, s) in [
            (1.0, "1.0"),
            (0.5, "0.5"),
            (12345678.9, "1.23456789E7"),
            (1e20, "1.0E20"),
            (0.0001, "1.0E-4"),
            (1e7, "1.0E7"),
            (9999999.0, "9999999.0"),
            (0.001, "0.001"),
            (1234567.0, "1234567.0"),
            (-2.5, "-2.5"),
            (1e15, "1.0E15"),
        ] {
            assert_eq!(java_double(x), s, "{x}");
        }
        assert_eq!(java_double(f64::NAN), "NaN");
    }

    #[test]
    fn ruby_rule() {
        for (x, s) in [
            (1.0, "1.0"),
            (1e20, "1.0e+20"),
            (1.5e-5, "1.5e-05"),
            (1e-5, "1.0e-05"),
            (100.0, "100.0"),
            (0.0001, "0.0001"),
            (1e15, "1000000000000000.0"),
            (1e16, "10000000000000000.0"),
            (-0.0, "-0.0"),
            (2.25, "2.25"),
        ] {
            assert_eq!(ruby_float(x), s, "{x}");
        }
    }
}
