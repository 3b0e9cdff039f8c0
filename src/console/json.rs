//! Pretty-printing a stored object's JSON text as it was posted: keys keep
//! their order and numbers their spelling (re-serialising through
//! `serde_json::Value` would sort keys and reformat numbers). A single pass
//! over the text with no recursion; indentation stops growing at
//! [`MAX_INDENT`] levels and the output at [`MAX_OUTPUT`] bytes (the rest is
//! appended as stored), so hostile nesting cannot blow it up.

use maud::{Markup, html};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Class {
    Plain,
    Key,
    Str,
    Num,
    Lit,
}

/// Deeper levels are indented like this one.
pub const MAX_INDENT: usize = 16;
/// Past this many bytes of output the rest of the text is appended as is.
pub const MAX_OUTPUT: usize = 4 << 20;

struct Runs {
    runs: Vec<(Class, String)>,
    len: usize,
}

impl Runs {
    fn push(&mut self, class: Class, s: &str) {
        self.len += s.len();
        match self.runs.last_mut() {
            Some((c, text)) if *c == class && class == Class::Plain => text.push_str(s),
            _ => self.runs.push((class, s.to_string())),
        }
    }

    fn newline(&mut self, depth: usize) {
        let mut s = String::with_capacity(1 + MAX_INDENT * 2);
        s.push('\n');
        for _ in 0..depth.min(MAX_INDENT) {
            s.push_str("  ");
        }
        self.push(Class::Plain, &s);
    }
}

/// The pretty text as runs of one class each.
pub fn pretty(text: &str) -> Vec<(Class, String)> {
    let mut out = Runs {
        runs: Vec::new(),
        len: 0,
    };
    let bytes = text.as_bytes();
    let next_significant = |from: usize| {
        bytes[from..]
            .iter()
            .position(|b| !b.is_ascii_whitespace())
            .map(|p| from + p)
    };
    let mut depth = 0usize;
    let mut i = 0;
    while i < bytes.len() {
        if out.len > MAX_OUTPUT {
            out.push(Class::Plain, &text[i..]);
            break;
        }
        let b = bytes[i];
        match b {
            b' ' | b'\t' | b'\n' | b'\r' => i += 1,
            b'{' | b'[' => {
                let close = if b == b'{' { b'}' } else { b']' };
                match next_significant(i + 1) {
                    Some(j) if bytes[j] == close => {
                        out.push(Class::Plain, if b == b'{' { "{}" } else { "[]" });
                        i = j + 1;
                    }
                    _ => {
                        out.push(Class::Plain, &text[i..i + 1]);
                        depth += 1;
                        out.newline(depth);
                        i += 1;
                    }
                }
            }
            b'}' | b']' => {
                depth = depth.saturating_sub(1);
                out.newline(depth);
                out.push(Class::Plain, &text[i..i + 1]);
                i += 1;
            }
            b',' => {
                out.push(Class::Plain, ",");
                out.newline(depth);
                i += 1;
            }
            b':' => {
                out.push(Class::Plain, ": ");
                i += 1;
            }
            b'"' => {
                let mut j = i + 1;
                while j < bytes.len() {
                    match bytes[j] {
                        b'\\' => j += 2,
                        b'"' => break,
                        _ => j += 1,
                    }
                }
                let end = (j + 1).min(bytes.len());
                let is_key = next_significant(end).is_some_and(|k| bytes[k] == b':');
                let class = if is_key { Class::Key } else { Class::Str };
                out.push(class, &text[i..end]);
                i = end;
            }
            _ => {
                // A number or literal: up to the next delimiter (always an
                // ASCII byte, so the cut is on a character boundary).
                let mut j = i + 1;
                while j < bytes.len()
                    && !matches!(
                        bytes[j],
                        b',' | b'}'
                            | b']'
                            | b':'
                            | b' '
                            | b'\t'
                            | b'\n'
                            | b'\r'
                            | b'"'
                            | b'{'
                            | b'['
                    )
                {
                    j += 1;
                }
                let class = if b == b'-' || b.is_ascii_digit() {
                    Class::Num
                } else {
                    Class::Lit
                };
                out.push(class, &text[i..j]);
                i = j;
            }
        }
    }
    out.runs
}

/// Objects larger than this are shown as stored, cut short.
pub const MAX_PRETTY: usize = 1 << 20;

pub fn render(text: &str) -> Markup {
    if text.len() > MAX_PRETTY {
        let mut cut = MAX_PRETTY;
        while !text.is_char_boundary(cut) {
            cut -= 1;
        }
        return html! {
            p.note { "This object is " (text.len()) " bytes; the first MiB is shown as stored. \
                      Fetch it whole through TAXII." }
            pre.json { (&text[..cut]) }
        };
    }
    html! {
        pre.json {
            @for (class, run) in pretty(text) {
                @match class {
                    Class::Plain => (run),
                    Class::Key => span.k { (run) },
                    Class::Str => span.s { (run) },
                    Class::Num => span.n { (run) },
                    Class::Lit => span.l { (run) },
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn plain(text: &str) -> String {
        pretty(text).into_iter().map(|(_, s)| s).collect()
    }

    #[test]
    fn keeps_key_order_and_number_spelling() {
        let text = r#"{"type":"indicator","id":"indicator--1","confidence":70,"x":1.50,"labels":["a","b"],"empty":{},"none":[],"ok":true}"#;
        let expected = "{\n  \"type\": \"indicator\",\n  \"id\": \"indicator--1\",\n  \"confidence\": 70,\n  \"x\": 1.50,\n  \"labels\": [\n    \"a\",\n    \"b\"\n  ],\n  \"empty\": {},\n  \"none\": [],\n  \"ok\": true\n}";
        assert_eq!(plain(text), expected);
        let value: serde_json::Value = serde_json::from_str(&plain(text)).unwrap();
        assert_eq!(
            value,
            serde_json::from_str::<serde_json::Value>(text).unwrap()
        );
    }

    #[test]
    fn strings_with_quotes_braces_and_escapes_stay_whole() {
        let text = r#"{"name":"a \"quoted\" {brace}, [x]: y \\","k":"v"}"#;
        let runs = pretty(text);
        assert!(runs.contains(&(
            Class::Str,
            r#""a \"quoted\" {brace}, [x]: y \\""#.to_string()
        )));
        assert!(runs.contains(&(Class::Key, r#""k""#.to_string())));
    }

    #[test]
    fn markup_escapes_content() {
        let html = render(r#"{"name":"<script>alert(1)</script>"}"#).into_string();
        assert!(!html.contains("<script>"), "{html}");
        assert!(html.contains("&lt;script&gt;"));
    }

    #[test]
    fn deep_nesting_is_bounded() {
        let text = format!("{}1{}", "[".repeat(100_000), "]".repeat(100_000));
        let out = plain(&text);
        assert!(out.len() <= MAX_OUTPUT + text.len(), "{}", out.len());
        assert!(out.contains(&format!("\n{}[", "  ".repeat(MAX_INDENT))));
        assert!(!out.contains(&"  ".repeat(MAX_INDENT + 1)));
    }
}
