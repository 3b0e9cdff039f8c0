//! STIX patterning (spec 2.1 section 9): a hand-written lexer and recursive-descent
//! parser for indicator patterns whose `pattern_type` is `stix`.
//!
//! Precedence, loosest first: `FOLLOWEDBY`, `OR`, `AND` between observation
//! expressions; qualifiers (`WITHIN n SECONDS`, `REPEATS n TIMES`,
//! `START t'…' STOP t'…'`) bind to the observation expression before them; inside
//! `[...]`, `OR` is looser than `AND`. Beyond the grammar the parser checks that:
//! `WITHIN`/`REPEATS` counts are positive, `STOP` is later than `START`, a qualifier
//! kind is not repeated on one observation expression, and hash constants compared
//! with `hashes.'<algorithm>'` have that algorithm's form.

mod lexer;
mod parser;

use std::fmt;

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

/// Parses and checks a STIX pattern.
pub fn parse(pattern: &str) -> Result<(), PatternError> {
    let tokens = lexer::lex(pattern)?;
    parser::Parser::new(&tokens).pattern()
}

#[cfg(test)]
mod tests {
    use super::parse;

    fn err(p: &str) -> String {
        parse(p).expect_err(p).to_string()
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
            "invalid object type 'File' (lowercase letters, digits and hyphens) at column 2"
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
}
