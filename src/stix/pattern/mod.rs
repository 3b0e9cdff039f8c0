//! STIX patterning (spec 2.1 section 9): a hand-written lexer and recursive-descent
//! parser for indicator patterns whose `pattern_type` is `stix`.
//!
//! Precedence, loosest first: `FOLLOWEDBY`, `OR`, `AND` between observation
//! expressions; qualifiers (`WITHIN n SECONDS`, `REPEATS n TIMES`,
//! `START t'…' STOP t'…'`) bind to the observation expression before them; inside
//! `[...]`, `OR` is looser than `AND`. Beyond the grammar the parser checks that:
//! `WITHIN`/`REPEATS` counts are positive, `STOP` is later than `START`, a qualifier
//! kind is not repeated on one observation expression, hash constants compared
//! with `hashes.'<algorithm>'` have that algorithm's form, and object paths use
//! valid names (below).
//!
//! # Object paths
//!
//! In `type:component(.component | [index])*` the object type follows the STIX
//! type-name rule (3 to 250 characters of a-z, 0-9 and `-`, starting with a
//! letter), and every component in a property-name position follows the
//! property-name rule (3 to 250 characters of a-z, 0-9 and `_`, starting with a
//! letter; `id` is allowed). A component is in a property-name position when it
//! is the first one, or it follows a reference (`…_ref`, or `…_refs[i]`), an
//! extension name (`extensions.'<name>'`), or a property the specification
//! defines as an embedded object or a list of them (`x509_v3_extensions`,
//! `optional_header`, `body_multipart[i]`, `values[i]`, `alternate_data_streams[i]`,
//! `sections[i]`). Every other component may be a dictionary key (`hashes.'SHA-256'`,
//! `request_header.'Accept'`) and is not checked; list indexes are `[n]` or `[*]`.
//!
//! # Bounds
//!
//! Hostile patterns cost time and memory in proportion to their length, and a
//! bounded amount of stack:
//! - Groups (`(` and `[` between observation expressions, `(` between
//!   comparisons) nest at most [`MAX_NESTING`] levels; a deeper pattern is
//!   refused ("pattern nests deeper than 128 levels at column N"). Opening a
//!   group is the only place the parser recurses, and the lexer and the checks
//!   do not recurse at all.
//! - Tokens are read one at a time as the parser needs them; nothing but the
//!   current token is held, and no tree is built.
//! - Each token costs constant work (no lists searched or copied per level).
//!
//! `benches/pattern.rs` measures the cost per KB at 1 KB, 100 KB and 1 MB.

mod lexer;
mod parser;

use std::fmt;

/// How deeply groups may nest in a pattern. Real patterns nest a few levels
/// (128 is also how deep `serde_json` lets JSON nest). The parser recurses once
/// per level, at about 1 KiB of stack per level unoptimised and far less
/// optimised, so a pattern at the bound fits easily in the 2 MiB a Rust thread
/// gets by default; the tests parse on a 256 KiB stack.
pub const MAX_NESTING: usize = 128;

/// A pattern error: what is wrong and the 1-based column (in characters) where.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PatternError {
    pub column: usize,
    pub message: String,
}

impl fmt::Display for PatternError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{} at column {}", self.message, self.column)
    }
}

impl std::error::Error for PatternError {}

/// Pattern text quoted in an error message, cut to a readable length (a hostile
/// pattern's 1 MB string is not echoed back whole).
fn excerpt(text: &str) -> std::borrow::Cow<'_, str> {
    const KEEP: usize = 64;
    match text.char_indices().nth(KEEP) {
        Some((end, _)) => format!("{}…", &text[..end]).into(),
        None => text.into(),
    }
}

/// Parses and checks a STIX pattern.
pub fn parse(pattern: &str) -> Result<(), PatternError> {
    parser::Parser::new(pattern)?.pattern()
}

#[cfg(test)]
mod fuzz;

#[cfg(test)]
mod tests {
    use super::{MAX_NESTING, PatternError, parse};

    fn err(p: &str) -> String {
        parse(p).expect_err(p).to_string()
    }

    /// Stack size for tests that must not depend on the default 2 MiB test
    /// thread: unbounded recursion overflows it (and aborts the test run)
    /// long before a hostile pattern's end.
    pub(super) const SMALL_STACK: usize = 256 * 1024;

    /// Parses on a thread with a deliberately small stack.
    pub(super) fn parse_on_small_stack(pattern: String) -> Result<(), PatternError> {
        std::thread::Builder::new()
            .stack_size(SMALL_STACK)
            .spawn(move || parse(&pattern))
            .expect("spawn a parser thread")
            .join()
            .expect("the parser thread panicked")
    }

    #[test]
    fn valid_patterns() {
        let ok = [
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            "[network-traffic:extensions.'http-request-ext'.request_header.'Accept' = 'text/html']",
            "[ipv4-addr:value = '198.51.100.7' OR ipv4-addr:value ISSUBSET '203.0.113.0/24']",
            "[email-message:from_ref.value MATCHES '^.+@portcall-notices\\\\.example$']",
            "[file:name LIKE 'BL_%.xlsm' AND file:size >= 1024] FOLLOWEDBY [process:command_line MATCHES 'powershell' ] WITHIN 600 SECONDS",
            "([domain-name:value = 'ais-relay.example'] OR [url:value = 'http://ais-relay.example/feed']) REPEATS 3 TIMES",
            "[x509-certificate:issuer = 'CN=Harbour CA'] START t'2024-01-01T00:00:00Z' STOP t'2024-02-01T00:00:00.000Z'",
            "[email-message:to_refs[*].value = 'ops@terminal.example' AND email-message:body_multipart[0].body_raw_ref.name = 'x']",
            "[windows-registry-key:key = 'HKEY_LOCAL_MACHINE\\\\System\\\\Run' AND windows-registry-key:values[*].name NOT LIKE 'x%']",
            "[file:size NOT IN (1, 2, 3) AND file:mime_type IN ('application/pdf', 'text/plain')]",
            "[artifact:payload_bin = b'aGVsbG8=' OR artifact:payload_bin = h'68656c6c6f']",
            "[process:pid = -1 OR process:pid > +4 OR process:x_score < 2.5 OR process:is_hidden = true]",
            "[file:name = 'it\\'s']",
            "[EXISTS user-account:account_login]",
            "[(file:name = 'a' OR file:name = 'b') AND file:size = 3]",
            "[file:name = 'a'] AND [ipv4-addr:value = '10.0.0.1'] OR [url:value = 'x']",
            "[file:name = 'a'] WITHIN 2.5 SECONDS REPEATS 2 TIMES",
        ];
        for p in ok {
            assert_eq!(parse(p), Ok(()), "{p}");
        }
    }

    #[test]
    fn unbalanced_brackets() {
        assert_eq!(err("[file:name = 'a.exe'"), "unbalanced '[' at column 1");
        assert_eq!(
            err("[file:name = 'a'] AND [file:size = 1"),
            "unbalanced '[' at column 23"
        );
        assert_eq!(err("[file:name = 'a']]"), "unbalanced ']' at column 18");
        assert_eq!(err("([file:name = 'a']"), "unbalanced '(' at column 1");
        assert_eq!(err("[(file:name = 'a']"), "unbalanced '(' at column 2");
    }

    #[test]
    fn syntax_errors_have_columns() {
        assert_eq!(err(""), "empty pattern at column 1");
        assert_eq!(
            err("file:name = 'a'"),
            "expected '[' or '(' to start an observation expression, found identifier 'file' at column 1"
        );
        assert_eq!(
            err("[file:name = 'a"),
            "unterminated string literal at column 14"
        );
        assert_eq!(
            err("[file:name 'a']"),
            "expected a comparison operator after file:name, found string 'a' at column 12"
        );
        assert_eq!(
            err("[file:name = ]"),
            "expected a constant, found ']' at column 14"
        );
        assert_eq!(
            err("[file:hashes.SHA-256 = 'a']"),
            "path component 'SHA-256' contains '-' and must be quoted at column 14"
        );
        assert_eq!(
            err("[file:name = 'a'] [file:name = 'b']"),
            "expected AND, OR, FOLLOWEDBY or a qualifier, found '[' at column 19"
        );
        assert_eq!(
            err("[file:name = 'a' and file:size = 1]"),
            "expected ']' or a boolean operator, found identifier 'and' at column 18"
        );
        assert_eq!(
            err("[file:name = 'a\\n']"),
            "invalid escape '\\n' in string (only \\' and \\\\ are allowed) at column 16"
        );
        assert_eq!(
            err("[file:size > true]"),
            "expected an orderable constant (not a boolean), found 'true' at column 14"
        );
        assert_eq!(
            err("[file:name LIKE 5]"),
            "LIKE needs a string constant, found number 5 at column 17"
        );
        assert_eq!(
            err("[File:name = 'a']"),
            "invalid object type 'File' (3 to 250 characters of a-z, 0-9 and '-', starting with a letter) at column 2"
        );
        assert_eq!(
            err("[file:name = 'a' ? ]"),
            "unexpected character '?' at column 18"
        );
    }

    #[test]
    fn constants() {
        assert_eq!(
            err("[file:mtime = t'2024-02-30T00:00:00Z']"),
            "invalid timestamp constant (has a day that does not exist in that month) at column 15"
        );
        assert_eq!(
            err("[artifact:payload_bin = h'abc']"),
            "invalid hex constant (an even number of hexadecimal digits is required) at column 25"
        );
        assert_eq!(
            err("[artifact:payload_bin = b'***']"),
            "invalid base64 constant at column 25"
        );
        assert_eq!(
            err("[file:hashes.MD5 = 'abc']"),
            "'abc' is not a valid MD5 hash at column 20"
        );
    }

    #[test]
    fn semantic_checks() {
        // STIX 2.1 lets one observation expression compare several object types.
        assert!(parse("[file:name = 'a' AND url:value = 'b']").is_ok());
        assert_eq!(
            err("[file:name = 'a'] WITHIN 0 SECONDS"),
            "WITHIN needs a positive number of seconds at column 26"
        );
        assert_eq!(
            err("[file:name = 'a'] REPEATS 0 TIMES"),
            "REPEATS needs a positive integer at column 27"
        );
        assert_eq!(
            err("[file:name = 'a'] WITHIN 5 MINUTES"),
            "expected SECONDS, found identifier 'MINUTES' at column 28"
        );
        assert_eq!(
            err("[file:name = 'a'] START t'2024-02-01T00:00:00Z' STOP t'2024-01-01T00:00:00Z'"),
            "STOP must be later than START at column 54"
        );
        assert_eq!(
            err("[file:name = 'a'] REPEATS 2 TIMES REPEATS 3 TIMES"),
            "REPEATS applied twice to the same observation expression at column 35"
        );
    }

    /// `depth` observation-level parentheses around `[` and `depth` comparison-level
    /// ones inside it: `2 * depth + 1` nested groups.
    fn nested(depth: usize) -> String {
        format!(
            "{}[{}file:name = 'a'{}]{}",
            "(".repeat(depth),
            "(".repeat(depth),
            ")".repeat(depth),
            ")".repeat(depth)
        )
    }

    #[test]
    fn nesting_up_to_the_bound_is_valid() {
        // MAX_NESTING groups in all: the `[` plus parentheses on both levels.
        let half = (MAX_NESTING - 1) / 2;
        let mut p = nested(half);
        if (MAX_NESTING - 1) % 2 == 1 {
            p = format!("({p})");
        }
        assert_eq!(parse_on_small_stack(p), Ok(()));
        let observations = format!(
            "{}[file:name = 'a']{}",
            "(".repeat(MAX_NESTING - 1),
            ")".repeat(MAX_NESTING - 1)
        );
        assert_eq!(parse_on_small_stack(observations), Ok(()));
        let comparisons = format!(
            "[{}file:name = 'a'{}]",
            "(".repeat(MAX_NESTING - 1),
            ")".repeat(MAX_NESTING - 1)
        );
        assert_eq!(parse_on_small_stack(comparisons), Ok(()));
    }

    #[test]
    fn nesting_past_the_bound_is_refused() {
        let too_deep = |column: usize| PatternError {
            column,
            message: format!("pattern nests deeper than {MAX_NESTING} levels"),
        };
        // Observation level: the group that opens level MAX_NESTING + 1.
        let observations = format!(
            "{}[file:name = 'a']{}",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert_eq!(
            parse_on_small_stack(observations),
            Err(too_deep(MAX_NESTING + 1))
        );
        // Comparison level.
        let comparisons = format!(
            "[{}file:name = 'a'{}]",
            "(".repeat(MAX_NESTING),
            ")".repeat(MAX_NESTING)
        );
        assert_eq!(
            parse_on_small_stack(comparisons),
            Err(too_deep(MAX_NESTING + 1))
        );
        // Both levels add up.
        let half = MAX_NESTING / 2;
        let both = nested(half);
        assert_eq!(parse_on_small_stack(both), Err(too_deep(MAX_NESTING + 1)));
        // After a valid first half, the count is of open groups, not of all groups.
        let sequence = format!("{} AND {}", nested(10), nested(half));
        assert!(parse_on_small_stack(sequence).is_err());
        let siblings = format!("{} AND {}", nested(10), nested(10));
        assert_eq!(parse_on_small_stack(siblings), Ok(()));
    }

    #[test]
    fn hostile_nesting_fails_fast_on_a_small_stack() {
        for n in [5_000, 10_000, 50_000] {
            let closed = format!("{}[file:name = 'a']{}", "(".repeat(n), ")".repeat(n));
            assert_eq!(
                parse_on_small_stack(closed).map_err(|e| e.column),
                Err(MAX_NESTING + 1),
                "{n} observation-level parentheses"
            );
            let inside = format!("[{}file:name = 'a'{}]", "(".repeat(n), ")".repeat(n));
            assert_eq!(
                parse_on_small_stack(inside).map_err(|e| e.column),
                Err(MAX_NESTING + 1),
                "{n} comparison-level parentheses"
            );
        }
        for unclosed in ["(".repeat(50_000), format!("[{}", "(".repeat(50_000))] {
            let e = parse_on_small_stack(unclosed).expect_err("unclosed");
            assert_eq!(
                e.to_string(),
                format!(
                    "pattern nests deeper than {MAX_NESTING} levels at column {}",
                    MAX_NESTING + 1
                )
            );
        }
        // Brackets cannot nest: the second `[` is refused where it stands.
        assert_eq!(
            parse_on_small_stack("[".repeat(50_000)).map_err(|e| e.column),
            Err(2)
        );
    }

    #[test]
    fn object_path_names() {
        assert_eq!(
            err("[ab:value = 'x']"),
            "invalid object type 'ab' (3 to 250 characters of a-z, 0-9 and '-', starting with a letter) at column 2"
        );
        assert_eq!(
            err("[file:x = 'a.exe']"),
            "invalid property name 'x' (3 to 250 characters of a-z, 0-9 and _, starting with a letter) at column 7"
        );
        assert_eq!(
            err("[ipv4-addr:Value = '198.51.100.7']"),
            "invalid property name 'Value' (3 to 250 characters of a-z, 0-9 and _, starting with a letter) at column 12"
        );
        for bad in [
            "[x-Acme-vessel:imo = '1']",
            "[_abc:name = 'a']",
            "[x--ab:name = 'a']",
            "[file:_name = 'a']",
            "[file:'Name' = 'a']",
            "[file:'file name' = 'a']",
            "[email-message:from_ref.Value = 'a']",
            "[email-message:to_refs[*].Value = 'a']",
            "[email-message:body_multipart[0].Body = 'a']",
            "[windows-registry-key:values[*].Name = 'a']",
            "[file:extensions.'ntfs-ext'.Sid = 'a']",
            "[file:extensions.'ntfs-ext'.alternate_data_streams[0].Name = 'a']",
            "[x509-certificate:x509_v3_extensions.Policy = 'a']",
            "[file:parent_directory_ref.ab = 'a']",
            "[EXISTS file:nm]",
        ] {
            assert!(err(bad).starts_with("invalid "), "{bad}: {}", err(bad));
        }
        let long_type = format!("[x-{}:name = 'a']", "a".repeat(249));
        assert!(parse(&long_type).is_err());
        let longest_type = format!("[x-{}:name = 'a']", "a".repeat(248));
        assert_eq!(parse(&longest_type), Ok(()));
        let long_property = format!("[file:x_{} = 'a']", "a".repeat(249));
        assert!(parse(&long_property).is_err());
        let longest_property = format!("[file:x_{} = 'a']", "a".repeat(248));
        assert_eq!(parse(&longest_property), Ok(()));
        for ok in [
            "[file:id = 'file--1d266876-22d5-58fd-9b00-48bca60ae9f3']",
            "[x-acme:x_acme_score > 3]",
            "[file:'name' = 'a']",
            "[file:hashes.MD5 = '5d41402abc4b2a76b9719d911017c592']",
            "[file:hashes.'SHA-256' = 'aec070645fe53ee3b3763059376134f058cc337247c978add178b6ccdfb0019f']",
            "[network-traffic:extensions.'http-request-ext'.request_header.'Accept' = 'text/html']",
            "[network-traffic:extensions.'http-request-ext'.request_header.Accept = 'text/html']",
            "[email-message:additional_header_fields.X_Mailer = 'x']",
            "[process:environment_variables.PATH = 'x']",
            "[file:extensions.'windows-pebinary-ext'.file_header_hashes.'SHA-1' = '3f786850e387550fdab836ed7e6dc881de23001b']",
            "[file:extensions.'ntfs-ext'.alternate_data_streams[0].hashes.MD5 = '5d41402abc4b2a76b9719d911017c592']",
            "[x-acme:x_items[0].Key = 'a']",
            "[x-acme:x_table.Row.Column = 'a']",
        ] {
            assert_eq!(parse(ok), Ok(()), "{ok}");
        }
    }

    #[test]
    fn long_text_is_cut_in_messages() {
        let long = "a".repeat(1_000_000);
        let message = err(&format!("[file:name '{long}']"));
        assert_eq!(
            message,
            format!(
                "expected a comparison operator after file:name, found string '{}…' at column 12",
                "a".repeat(64)
            )
        );
        let message = err(&format!("[file:{long} = 1]"));
        assert!(message.len() < 200, "{message}");
    }

    #[test]
    fn error_after_a_path_quotes_it() {
        assert_eq!(
            err("[file:hashes.'SHA-256' 'a']"),
            "expected a comparison operator after file:hashes.'SHA-256', found string 'a' at column 24"
        );
        assert_eq!(
            err("[windows-registry-key:values[*].name 5]"),
            "expected a comparison operator after windows-registry-key:values[*].name, found number 5 at column 38"
        );
    }
}
