//! Property tests for the pattern parser (run by `cargo test`, so by CI):
//!
//! - arbitrary strings and soups of pattern tokens never panic, and an error
//!   always points into the pattern;
//! - well-formed patterns generated from the grammar always parse;
//! - well-formed patterns with one random mutation never panic.
//!
//! Every case is parsed on a thread with a small stack (256 KiB), so a
//! recursion that the nesting bound does not cover aborts the run instead of
//! passing on the default stack.
//!
//! Reproducing a failure: each property prints the seed it ran with
//! (`PROPTEST_RNG_SEED=…`), shown with the failure; run
//! `PROPTEST_RNG_SEED=<seed> cargo test --lib stix::pattern::fuzz` to run the
//! same cases again. A failing case is also saved under
//! `proptest-regressions/stix/pattern/fuzz.txt`; commit that file, and every
//! later run tries the saved cases first. `PROPTEST_CASES=N` runs more cases
//! than the CI budget (for a longer local fuzzing session).

use std::hash::{BuildHasher, RandomState};

use base64::Engine;
use proptest::prelude::*;
use proptest::sample::Index;
use proptest::test_runner::{Config, FileFailurePersistence, RngSeed, TestRunner};

use super::MAX_NESTING;
use super::tests::parse_on_small_stack;

/// A runner for `cases` cases (unless `PROPTEST_CASES` says otherwise), with
/// its seed printed and failures persisted next to the sources.
fn runner(cases: u32) -> TestRunner {
    // Config::default() honours PROPTEST_CASES, PROPTEST_RNG_SEED and friends.
    let mut config = Config {
        source_file: Some(file!()),
        failure_persistence: Some(Box::new(FileFailurePersistence::SourceParallel(
            "proptest-regressions",
        ))),
        ..Config::default()
    };
    if std::env::var_os("PROPTEST_CASES").is_none() {
        config.cases = cases;
    }
    if config.rng_seed == RngSeed::Random {
        config.rng_seed = RngSeed::Fixed(RandomState::new().hash_one(std::process::id()));
    }
    eprintln!(
        "PROPTEST_RNG_SEED={} PROPTEST_CASES={}",
        config.rng_seed, config.cases
    );
    TestRunner::new(config)
}

/// Runs one property; a failure panics with proptest's report (the minimal
/// failing input).
fn check<S: Strategy>(
    cases: u32,
    strategy: S,
    test: impl Fn(S::Value) -> Result<(), TestCaseError>,
) {
    if let Err(report) = runner(cases).run(&strategy, test) {
        panic!("{report}");
    }
}

/// The parser's answer must be an error inside the pattern, or success.
fn check_answer(pattern: String) -> Result<(), TestCaseError> {
    let end = pattern.chars().count() + 1;
    if let Err(e) = parse_on_small_stack(pattern) {
        prop_assert!(
            (1..=end).contains(&e.column),
            "column {} outside 1..={end}: {e}",
            e.column
        );
        prop_assert!(!e.message.is_empty());
    }
    Ok(())
}

/// Pieces of pattern text, valid and broken, for token soups and mutations.
const FRAGMENTS: &[&str] = &[
    "[",
    "]",
    "(",
    ")",
    ":",
    ".",
    ",",
    "*",
    "=",
    "==",
    "!=",
    "<>",
    "<",
    "<=",
    ">",
    ">=",
    " ",
    "AND",
    "OR",
    "NOT",
    "FOLLOWEDBY",
    "LIKE",
    "MATCHES",
    "ISSUBSET",
    "ISSUPERSET",
    "EXISTS",
    "IN",
    "START",
    "STOP",
    "WITHIN",
    "SECONDS",
    "REPEATS",
    "TIMES",
    "true",
    "false",
    "file",
    "ipv4-addr",
    "x-acme-vessel",
    "name",
    "hashes",
    "x_ref",
    "values",
    "extensions",
    "'SHA-256'",
    "'MD5'",
    "'a'",
    "''",
    "'",
    "\\",
    "\\'",
    "t'2024-01-01T00:00:00Z'",
    "t'2024-13-01T00:00:00Z'",
    "h'ab'",
    "h'abc'",
    "b'AA=='",
    "b'*'",
    "0",
    "1",
    "-1",
    "+2.5",
    ".5",
    "1.",
    "99999999999999999999999999999999999999999",
    "[*]",
    "[0]",
    "é",
    "\u{0}",
    "\n",
    "((((((((((((((((",
    "[[[[[[[[",
    "))))))))",
];

fn fragment() -> impl Strategy<Value = String> {
    prop::sample::select(FRAGMENTS).prop_map(str::to_owned)
}

#[test]
fn arbitrary_text_never_panics() {
    let text = prop_oneof![any::<String>(), "[\\[\\]():.,*='a-z0-9 _-]{0,300}"];
    check(1024, text, check_answer);
}

#[test]
fn token_soups_never_panic() {
    let soup = (prop::collection::vec(fragment(), 0..200), any::<bool>())
        .prop_map(|(pieces, spaced)| pieces.join(if spaced { " " } else { "" }));
    check(1024, soup, check_answer);
}

#[test]
fn generated_valid_patterns_parse() {
    check(1024, pattern(), |p| {
        prop_assert_eq!(parse_on_small_stack(p.clone()), Ok(()), "{}", p);
        Ok(())
    });
}

/// One change to a valid pattern.
#[derive(Debug, Clone)]
enum Mutation {
    Delete(Index),
    Insert(Index, String),
    Replace(Index, String),
    /// Repeats the text between two positions.
    Duplicate(Index, Index),
    Truncate(Index),
}

fn mutation() -> impl Strategy<Value = Mutation> {
    prop_oneof![
        any::<Index>().prop_map(Mutation::Delete),
        (any::<Index>(), fragment()).prop_map(|(i, f)| Mutation::Insert(i, f)),
        (any::<Index>(), fragment()).prop_map(|(i, f)| Mutation::Replace(i, f)),
        (any::<Index>(), any::<Index>()).prop_map(|(a, b)| Mutation::Duplicate(a, b)),
        any::<Index>().prop_map(Mutation::Truncate),
    ]
}

fn mutate(pattern: &str, m: &Mutation) -> String {
    let chars: Vec<char> = pattern.chars().collect();
    let at = |i: &Index| i.index(chars.len() + 1);
    let text = |r: std::ops::Range<usize>| chars[r].iter().collect::<String>();
    match m {
        Mutation::Delete(i) if !chars.is_empty() => {
            let i = i.index(chars.len());
            text(0..i) + &text(i + 1..chars.len())
        }
        Mutation::Delete(_) => String::new(),
        Mutation::Insert(i, f) => text(0..at(i)) + f + &text(at(i)..chars.len()),
        Mutation::Replace(i, f) if !chars.is_empty() => {
            let i = i.index(chars.len());
            text(0..i) + f + &text(i + 1..chars.len())
        }
        Mutation::Replace(_, f) => f.clone(),
        Mutation::Duplicate(a, b) => {
            let (a, b) = (at(a).min(at(b)), at(a).max(at(b)));
            text(0..b) + &text(a..chars.len())
        }
        Mutation::Truncate(i) => text(0..at(i)),
    }
}

#[test]
fn mutated_valid_patterns_never_panic() {
    check(1024, (pattern(), mutation()), |(p, m)| {
        check_answer(mutate(&p, &m))
    });
}

// ---- A generator of well-formed patterns, from the grammar (spec 2.1 §9) ----

/// SCO types and custom ones; all follow the type-name rule.
fn object_type() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "file",
                "ipv4-addr",
                "ipv6-addr",
                "domain-name",
                "url",
                "email-message",
                "network-traffic",
                "process",
                "windows-registry-key",
                "x509-certificate",
                "user-account",
                "artifact",
                "software",
            ][..]
        )
        .prop_map(str::to_owned),
        "x-[a-z][a-z0-9]{0,6}(-[a-z0-9]{1,6}){0,2}",
    ]
}

/// A property name (never `true`/`false`, which read as booleans).
fn property() -> impl Strategy<Value = String> {
    prop_oneof![
        prop::sample::select(
            &[
                "name",
                "value",
                "size",
                "pid",
                "command_line",
                "x_acme_score"
            ][..]
        )
        .prop_map(str::to_owned),
        "[a-z][a-z0-9_]{2,20}".prop_filter("not a boolean", |s| s != "true" && s != "false"),
    ]
}

/// A quoted string body with `'` and `\` escaped.
fn quoted(body: &str) -> String {
    format!("'{}'", body.replace('\\', "\\\\").replace('\'', "\\'"))
}

fn string_constant() -> impl Strategy<Value = String> {
    "\\PC{0,16}".prop_map(|s| quoted(&s))
}

fn timestamp_text() -> impl Strategy<Value = String> {
    (
        1970u32..2100,
        1u32..=12,
        1u32..=28,
        0u32..24,
        0u32..60,
        0u32..60,
        prop::option::of(0u32..1_000_000),
    )
        .prop_map(|(y, mo, d, h, mi, s, frac)| {
            let frac = frac.map_or(String::new(), |f| format!(".{f:06}"));
            format!("{y:04}-{mo:02}-{d:02}T{h:02}:{mi:02}:{s:02}{frac}Z")
        })
}

/// Constants that may be ordered (`<`, `>=`, ...): no booleans.
fn orderable_constant() -> impl Strategy<Value = String> {
    prop_oneof![
        string_constant(),
        (any::<i64>(), any::<bool>()).prop_map(|(n, plus)| {
            if plus && n >= 0 {
                format!("+{n}")
            } else {
                n.to_string()
            }
        }),
        (any::<i32>(), 0u32..1000).prop_map(|(a, b)| format!("{a}.{b}")),
        timestamp_text().prop_map(|t| format!("t'{t}'")),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| {
            let hex: String = b.iter().map(|x| format!("{x:02x}")).collect();
            format!("h'{hex}'")
        }),
        prop::collection::vec(any::<u8>(), 0..12).prop_map(|b| {
            format!("b'{}'", base64::engine::general_purpose::STANDARD.encode(b))
        }),
    ]
}

fn constant() -> impl Strategy<Value = String> {
    prop_oneof![
        4 => orderable_constant(),
        1 => any::<bool>().prop_map(|b| b.to_string()),
    ]
}

/// An object path of valid names, with list indexes.
fn object_path() -> impl Strategy<Value = String> {
    (
        object_type(),
        property(),
        prop::collection::vec(
            prop_oneof![
                property().prop_map(|p| format!(".{p}")),
                Just("[*]".to_owned()),
                (0u32..100).prop_map(|i| format!("[{i}]")),
            ],
            0..3,
        ),
    )
        .prop_map(|(t, first, rest)| format!("{t}:{first}{}", rest.concat()))
}

/// An object path with a valid comparison after it.
fn comparison() -> impl Strategy<Value = String> {
    let hash_path = (
        object_type(),
        prop::sample::select(
            &[
                ("MD5", 32usize),
                ("SHA-1", 40),
                ("SHA-256", 64),
                ("SHA3-512", 128),
                ("SSDEEP", 7),
                ("x-acme-hash", 3),
            ][..],
        ),
        any::<u64>(),
    )
        .prop_map(|(t, (algo, len), seed)| {
            let digits: String = (0..len)
                .map(|i| char::from(b"0123456789abcdef"[((seed >> (i % 60)) as usize + i) % 16]))
                .collect();
            format!("{t}:hashes.'{algo}' = '{digits}'")
        });
    let test = prop_oneof![
        (
            prop::sample::select(&["=", "!=", "==", "<>"][..]),
            constant()
        )
            .prop_map(|(op, c)| format!("{op} {c}")),
        (
            prop::sample::select(&["<", "<=", ">", ">="][..]),
            orderable_constant()
        )
            .prop_map(|(op, c)| format!("{op} {c}")),
        prop::collection::vec(constant(), 0..4).prop_map(|cs| format!("IN ({})", cs.join(", "))),
        (
            prop::sample::select(&["LIKE", "MATCHES", "ISSUBSET", "ISSUPERSET"][..]),
            string_constant(),
        )
            .prop_map(|(op, s)| format!("{op} {s}")),
    ];
    prop_oneof![
        4 => (object_path(), any::<bool>(), test).prop_map(|(p, not, t)| {
            format!("{p} {}{t}", if not { "NOT " } else { "" })
        }),
        1 => hash_path,
        1 => object_path().prop_map(|p| format!("EXISTS {p}")),
    ]
}

/// Comparisons joined by AND/OR, with parentheses.
fn comparison_expression() -> impl Strategy<Value = String> {
    comparison().prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(&["AND", "OR"][..]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            inner.prop_map(|e| format!("({e})")),
        ]
    })
}

/// Qualifiers, each kind at most once, in any order.
fn qualifiers() -> impl Strategy<Value = String> {
    let within = (1u32..100_000, prop::option::of(0u32..100)).prop_map(|(n, frac)| match frac {
        Some(f) => format!("WITHIN {n}.{f} SECONDS"),
        None => format!("WITHIN {n} SECONDS"),
    });
    let repeats = (1u32..1000).prop_map(|n| format!("REPEATS {n} TIMES"));
    let start_stop = (timestamp_text(), 1i32..5).prop_map(|(start, years)| {
        let year: i32 = start[..4].parse().unwrap_or(2000);
        format!(
            "START t'{start}' STOP t'{:04}{}'",
            year + years,
            &start[4..]
        )
    });
    (
        prop::option::of(within),
        prop::option::of(repeats),
        prop::option::of(start_stop),
        any::<Index>(),
    )
        .prop_map(|(w, r, s, rotate)| {
            let mut all: Vec<String> = [w, r, s].into_iter().flatten().collect();
            if !all.is_empty() {
                let n = rotate.index(all.len());
                all.rotate_left(n);
            }
            all.join(" ")
        })
}

/// Observation expressions joined by AND/OR/FOLLOWEDBY, parenthesised and
/// qualified, sometimes wrapped in many parentheses (within the bound).
fn pattern() -> impl Strategy<Value = String> {
    let simple = (comparison_expression(), qualifiers())
        .prop_map(|(c, q)| format!("[{c}] {q}").trim_end().to_owned());
    let expression = simple.prop_recursive(4, 24, 3, |inner| {
        prop_oneof![
            (
                inner.clone(),
                prop::sample::select(&["AND", "OR", "FOLLOWEDBY"][..]),
                inner.clone()
            )
                .prop_map(|(a, op, b)| format!("{a} {op} {b}")),
            (inner, qualifiers(), qualifiers())
                .prop_map(|(e, q1, q2)| format!("({e}) {q1} {q2}").trim_end().to_owned()),
        ]
    });
    // The recursion above nests at most 4 + 4 levels and the `[`; deep
    // wrapping stays within the bound.
    (expression, 0..MAX_NESTING - 16).prop_map(|(e, wrap)| {
        if wrap > 8 {
            format!("{}{e}{}", "(".repeat(wrap), ")".repeat(wrap))
        } else {
            e
        }
    })
}
