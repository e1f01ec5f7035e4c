//! Tokenising a date pattern: letters are fields, `'...'` is literal text, `''` is a quote.

use thiserror::Error;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Dialect {
    /// Joda-Time `DateTimeFormat.forPattern` (`%{+...}`, date filter).
    Joda,
    /// java.time `DateTimeFormatter.ofPattern` (`%{{...}}`).
    JavaTime,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Token {
    Lit(String),
    Field { letter: char, count: usize },
}

#[derive(Debug, Error, PartialEq, Eq)]
pub enum PatternError {
    #[error("Illegal pattern component: {0}")]
    IllegalComponent(String),
    #[error("Unterminated quote in pattern")]
    UnterminatedQuote,
}

const JODA_LETTERS: &str = "GCYxwEeyDMdaKhHkmsSzZ";
const JAVA_LETTERS: &str = "GuyDMLdQqYwWEecFahKkHmsSAnNVzOXxZ";

pub fn tokenize(pattern: &str, dialect: Dialect) -> Result<Vec<Token>, PatternError> {
    let allowed = match dialect {
        Dialect::Joda => JODA_LETTERS,
        Dialect::JavaTime => JAVA_LETTERS,
    };
    let chars: Vec<char> = pattern.chars().collect();
    let mut out = Vec::new();
    let mut lit = String::new();
    let mut i = 0;
    while i < chars.len() {
        let c = chars[i];
        if c == '\'' {
            if chars.get(i + 1) == Some(&'\'') {
                lit.push('\'');
                i += 2;
                continue;
            }
            i += 1;
            loop {
                match chars.get(i) {
                    None => return Err(PatternError::UnterminatedQuote),
                    Some('\'') if chars.get(i + 1) == Some(&'\'') => {
                        lit.push('\'');
                        i += 2;
                    }
                    Some('\'') => {
                        i += 1;
                        break;
                    }
                    Some(&ch) => {
                        lit.push(ch);
                        i += 1;
                    }
                }
            }
        } else if c.is_ascii_alphabetic() {
            if !allowed.contains(c) {
                return Err(PatternError::IllegalComponent(c.to_string()));
            }
            let mut n = 1;
            while chars.get(i + n) == Some(&c) {
                n += 1;
            }
            if !lit.is_empty() {
                out.push(Token::Lit(std::mem::take(&mut lit)));
            }
            out.push(Token::Field {
                letter: c,
                count: n,
            });
            i += n;
        } else if dialect == Dialect::JavaTime && (c == '[' || c == ']') {
            // Optional sections: always printed when formatting.
            i += 1;
        } else {
            lit.push(c);
            i += 1;
        }
    }
    if !lit.is_empty() {
        out.push(Token::Lit(lit));
    }
    Ok(out)
}

pub fn is_numeric(t: &Token) -> bool {
    match t {
        Token::Field { letter, count } => match letter {
            'M' | 'E' | 'a' | 'z' | 'Z' | 'G' => *letter == 'M' && *count < 3,
            _ => true,
        },
        Token::Lit(_) => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn quotes_and_fields() {
        let t = tokenize("yyyy-MM-dd'T'HH 'o''clock'", Dialect::Joda).unwrap();
        assert_eq!(
            t[0],
            Token::Field {
                letter: 'y',
                count: 4
            }
        );
        assert_eq!(t[1], Token::Lit("-".into()));
        assert_eq!(t[5], Token::Lit("T".into()));
        assert_eq!(t.last().unwrap(), &Token::Lit(" o'clock".into()));
    }

    #[test]
    fn illegal_letter() {
        assert_eq!(
            tokenize("yyyy-qq", Dialect::Joda),
            Err(PatternError::IllegalComponent("q".into()))
        );
        assert!(tokenize("'abc", Dialect::Joda).is_err());
    }
}
