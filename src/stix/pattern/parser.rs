//! Recursive-descent parser over the token stream, with the checks the grammar
//! alone does not make (see the module documentation).
//!
//! Nothing is built: the parser only decides whether the pattern is valid, so
//! the binary operators of one level (`FOLLOWEDBY`, `OR`, `AND` between
//! observation expressions; `OR`, `AND` inside `[...]`) are read by one loop
//! each; their precedence does not change which patterns are valid.
//!
//! Recursion happens only where a group opens: `(` or `[` between observation
//! expressions, `(` between comparisons. Every opening goes through
//! [`Parser::open`], which refuses the pattern past [`MAX_NESTING`] levels, so
//! the stack in use is bounded whatever the input. Every step consumes a token
//! or fails, and the work per token is constant, so the cost is linear in the
//! pattern's length.

use std::borrow::Cow;

use super::lexer::{Kw, Lexer, Op, Tok, Token, keyword_text};
use super::{MAX_NESTING, PatternError, excerpt};
use crate::stix::types::{is_property_name, is_type_name, parse_timestamp};

type Result<T> = std::result::Result<T, PatternError>;

pub struct Parser<'a> {
    lexer: Lexer<'a>,
    /// The next token, not yet consumed.
    current: Token<'a>,
    /// Groups (`(` or `[`) open around the current token.
    depth: usize,
}

fn error(column: usize, message: impl Into<String>) -> PatternError {
    PatternError {
        column,
        message: message.into(),
    }
}

/// What a group encloses.
#[derive(Clone, Copy)]
enum Group {
    /// `[...]`: comparisons.
    Brackets,
    /// `(...)` between observation expressions.
    Observations,
    /// `(...)` between comparisons.
    Comparisons,
}

/// Which qualifier kinds were applied directly to one observation expression.
#[derive(Default)]
struct Qualifiers {
    within: bool,
    repeats: bool,
    start_stop: bool,
}

/// Properties whose value is one embedded object (its keys are property names).
const EMBEDDED_OBJECTS: &[&str] = &["x509_v3_extensions", "optional_header"];

/// Properties whose value is a list of embedded objects.
const OBJECT_LISTS: &[&str] = &[
    "body_multipart",
    "values",
    "alternate_data_streams",
    "sections",
];

/// What the next component of an object path is, judged from the ones before it.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Next {
    /// A property name (checked against the naming rule).
    Property,
    /// The name of an extension, a key of `extensions`; the component after it
    /// is a property of that extension.
    ExtensionName,
    /// A list index, after which comes a property of the listed objects.
    ObjectIndex,
    /// Anything else: a dictionary key, or below one (not checked).
    Free,
}

/// The parts of an object path that the checks after it need.
struct ObjectPath<'a> {
    /// Byte offsets of the path in the pattern.
    start: usize,
    end: usize,
    /// Property name or key that ends the path, if it does not end with an index.
    last: Option<Cow<'a, str>>,
    /// Whether the component before `last` is `hashes`.
    in_hashes: bool,
}

/// STIX object type names in patterns: 3 to 250 characters of a-z, 0-9 and
/// hyphens, starting with a letter (and no leading, trailing or double hyphen).
fn is_object_type_name(t: &str) -> bool {
    (3..=250).contains(&t.len()) && t.as_bytes()[0].is_ascii_lowercase() && is_type_name(t)
}

impl<'a> Parser<'a> {
    pub fn new(pattern: &'a str) -> Result<Self> {
        let mut lexer = Lexer::new(pattern);
        let current = lexer.next_token()?;
        Ok(Parser {
            lexer,
            current,
            depth: 0,
        })
    }

    fn peek(&self) -> &Token<'a> {
        &self.current
    }

    /// Consumes the current token and reads the next one.
    fn advance(&mut self) -> Result<Token<'a>> {
        let next = self.lexer.next_token()?;
        Ok(std::mem::replace(&mut self.current, next))
    }

    /// Consumes the current token, which the caller has already looked at.
    fn skip(&mut self) -> Result<()> {
        self.advance().map(drop)
    }

    fn at_kw(&self, kw: Kw) -> bool {
        self.current.tok == Tok::Kw(kw)
    }

    fn expect_kw(&mut self, kw: Kw) -> Result<Token<'a>> {
        if self.at_kw(kw) {
            self.advance()
        } else {
            Err(error(
                self.current.column,
                format!(
                    "expected {}, found {}",
                    keyword_text(kw),
                    self.current.describe()
                ),
            ))
        }
    }

    /// Enters a group opened at `column`, refusing to nest past [`MAX_NESTING`].
    fn open(&mut self, column: usize) -> Result<()> {
        if self.depth >= MAX_NESTING {
            return Err(error(
                column,
                format!("pattern nests deeper than {MAX_NESTING} levels"),
            ));
        }
        self.depth += 1;
        Ok(())
    }

    /// Leaves the group opened at `column`; the current token must close it.
    fn close(&mut self, column: usize, group: Group) -> Result<()> {
        let t = &self.current;
        let closed = match group {
            Group::Brackets => t.tok == Tok::RBrack,
            Group::Observations | Group::Comparisons => t.tok == Tok::RParen,
        };
        if !closed {
            return Err(match (&t.tok, group) {
                (Tok::Eof, Group::Brackets) => error(column, "unbalanced '['"),
                (Tok::Eof, _) | (Tok::RBrack, Group::Comparisons) => {
                    error(column, "unbalanced '('")
                }
                (_, Group::Brackets) => error(
                    t.column,
                    format!("expected ']' or a boolean operator, found {}", t.describe()),
                ),
                _ => error(t.column, format!("expected ')', found {}", t.describe())),
            });
        }
        self.skip()?;
        self.depth -= 1;
        Ok(())
    }

    pub fn pattern(&mut self) -> Result<()> {
        if self.current.tok == Tok::Eof {
            return Err(error(1, "empty pattern"));
        }
        self.observations()?;
        let t = self.peek();
        match t.tok {
            Tok::Eof => Ok(()),
            Tok::RBrack => Err(error(t.column, "unbalanced ']'")),
            Tok::RParen => Err(error(t.column, "unbalanced ')'")),
            _ => Err(error(
                t.column,
                format!(
                    "expected AND, OR, FOLLOWEDBY or a qualifier, found {}",
                    t.describe()
                ),
            )),
        }
    }

    /// Observation expressions joined by `FOLLOWEDBY`, `OR` and `AND`.
    fn observations(&mut self) -> Result<()> {
        loop {
            let simple = self.obs_primary()?;
            self.qualifiers(simple)?;
            if !(self.at_kw(Kw::FollowedBy) || self.at_kw(Kw::Or) || self.at_kw(Kw::And)) {
                return Ok(());
            }
            self.skip()?;
        }
    }

    /// The qualifiers after an observation expression (`simple` when it was a
    /// `[...]`). Kept out of the recursive functions, so its large frame is not
    /// repeated per nesting level.
    fn qualifiers(&mut self, simple: bool) -> Result<()> {
        // A qualifier kind may only be applied once directly to a simple `[...]`.
        let mut seen = Qualifiers::default();
        loop {
            let t = self.peek();
            let (flag, name) = match t.tok {
                Tok::Kw(Kw::Within) => (&mut seen.within, "WITHIN"),
                Tok::Kw(Kw::Repeats) => (&mut seen.repeats, "REPEATS"),
                Tok::Kw(Kw::Start) => (&mut seen.start_stop, "START/STOP"),
                _ => return Ok(()),
            };
            if simple && *flag {
                return Err(error(
                    t.column,
                    format!("{name} applied twice to the same observation expression"),
                ));
            }
            *flag = true;
            let qualifier = self.advance()?;
            match qualifier.tok {
                Tok::Kw(Kw::Within) => {
                    let n = self.advance()?;
                    let positive = match n.tok {
                        Tok::Int { value, .. } => value > 0,
                        Tok::Float(f) => f > 0.0,
                        _ => {
                            return Err(error(
                                n.column,
                                format!("WITHIN needs a number of seconds, found {}", n.describe()),
                            ));
                        }
                    };
                    if !positive {
                        return Err(error(n.column, "WITHIN needs a positive number of seconds"));
                    }
                    self.expect_kw(Kw::Seconds)?;
                }
                Tok::Kw(Kw::Repeats) => {
                    let n = self.advance()?;
                    match n.tok {
                        Tok::Int { value, .. } if value > 0 => {}
                        Tok::Int { .. } | Tok::Float(_) => {
                            return Err(error(n.column, "REPEATS needs a positive integer"));
                        }
                        _ => {
                            return Err(error(
                                n.column,
                                format!("REPEATS needs an integer, found {}", n.describe()),
                            ));
                        }
                    }
                    self.expect_kw(Kw::Times)?;
                }
                _ => {
                    let start = self.timestamp("START")?;
                    self.expect_kw(Kw::Stop)?;
                    let stop_col = self.peek().column;
                    let stop = self.timestamp("STOP")?;
                    if stop <= start {
                        return Err(error(stop_col, "STOP must be later than START"));
                    }
                }
            }
        }
    }

    fn timestamp(&mut self, after: &str) -> Result<crate::stix::types::Instant> {
        let t = self.advance()?;
        match &t.tok {
            Tok::Timestamp(s) => parse_timestamp(s)
                .map(|ts| ts.instant)
                .map_err(|why| error(t.column, format!("invalid timestamp ({why})"))),
            _ => Err(error(
                t.column,
                format!("{after} needs a t'...' timestamp, found {}", t.describe()),
            )),
        }
    }

    /// Returns true when the expression was a simple `[...]`.
    fn obs_primary(&mut self) -> Result<bool> {
        let column = self.current.column;
        let simple = match self.current.tok {
            Tok::LBrack => true,
            Tok::LParen => false,
            _ => return Err(self.not_an_observation()),
        };
        self.open(column)?;
        self.skip()?;
        if simple {
            self.comparisons()?;
        } else {
            self.observations()?;
        }
        self.close(
            column,
            if simple {
                Group::Brackets
            } else {
                Group::Observations
            },
        )?;
        Ok(simple)
    }

    fn not_an_observation(&self) -> PatternError {
        let t = &self.current;
        match t.tok {
            Tok::RBrack => error(t.column, "unbalanced ']'"),
            Tok::Eof => error(
                t.column,
                "expected an observation expression, found end of pattern",
            ),
            _ => error(
                t.column,
                format!(
                    "expected '[' or '(' to start an observation expression, found {}",
                    t.describe()
                ),
            ),
        }
    }

    /// Comparisons joined by `OR` and `AND`. Comparisons joined by AND may name
    /// different object types: STIX 2.1 (unlike 2.0) does not forbid it, and the
    /// reference tools accept it.
    fn comparisons(&mut self) -> Result<()> {
        loop {
            self.prop_test()?;
            if !(self.at_kw(Kw::Or) || self.at_kw(Kw::And)) {
                return Ok(());
            }
            self.skip()?;
        }
    }

    fn prop_test(&mut self) -> Result<()> {
        match self.current.tok {
            Tok::LParen => {
                let column = self.current.column;
                self.open(column)?;
                self.skip()?;
                self.comparisons()?;
                self.close(column, Group::Comparisons)
            }
            Tok::Kw(Kw::Exists) => {
                self.skip()?;
                self.object_path().map(drop)
            }
            _ => self.comparison(),
        }
    }

    /// `path [NOT] operator constant`.
    fn comparison(&mut self) -> Result<()> {
        let path = self.object_path()?;
        if self.at_kw(Kw::Not) {
            self.skip()?;
        }
        let op = self.advance()?;
        match op.tok {
            Tok::Op(Op::Eq | Op::Neq) => {
                let value = self.constant(true)?;
                check_hash(&path, &value)
            }
            Tok::Op(_) => self.constant(false).map(drop),
            Tok::Kw(Kw::In) => self.set(),
            Tok::Kw(k @ (Kw::Like | Kw::Matches | Kw::IsSubset | Kw::IsSuperset)) => {
                let v = self.advance()?;
                if matches!(v.tok, Tok::Str(_)) {
                    Ok(())
                } else {
                    Err(error(
                        v.column,
                        format!(
                            "{} needs a string constant, found {}",
                            keyword_text(k),
                            v.describe()
                        ),
                    ))
                }
            }
            _ => Err(error(
                op.column,
                format!(
                    "expected a comparison operator after {}, found {}",
                    excerpt(self.lexer.text(path.start, path.end)),
                    op.describe()
                ),
            )),
        }
    }

    fn constant(&mut self, allow_bool: bool) -> Result<Token<'a>> {
        let t = self.advance()?;
        match t.tok {
            Tok::Str(_)
            | Tok::Int { .. }
            | Tok::Float(_)
            | Tok::Timestamp(_)
            | Tok::Hex
            | Tok::Binary => Ok(t),
            Tok::Bool(_) if allow_bool => Ok(t),
            Tok::Bool(_) => Err(error(
                t.column,
                format!(
                    "expected an orderable constant (not a boolean), found {}",
                    t.describe()
                ),
            )),
            _ => Err(error(
                t.column,
                format!("expected a constant, found {}", t.describe()),
            )),
        }
    }

    fn set(&mut self) -> Result<()> {
        let open = self.advance()?;
        if open.tok != Tok::LParen {
            return Err(error(
                open.column,
                format!("IN needs a parenthesised list, found {}", open.describe()),
            ));
        }
        if self.current.tok == Tok::RParen {
            self.skip()?;
            return Ok(());
        }
        loop {
            self.constant(true)?;
            let t = self.advance()?;
            match t.tok {
                Tok::Comma => continue,
                Tok::RParen => return Ok(()),
                Tok::Eof => return Err(error(open.column, "unbalanced '('")),
                _ => {
                    return Err(error(
                        t.column,
                        format!("expected ',' or ')' in the IN list, found {}", t.describe()),
                    ));
                }
            }
        }
    }

    /// `type:first(.component | [index])*`. Checks the object type and every
    /// component in a property-name position (see [`Next`]); dictionary keys
    /// are free-form.
    fn object_path(&mut self) -> Result<ObjectPath<'a>> {
        let t = self.advance()?;
        let Tok::Ident(object_type) = t.tok else {
            return Err(error(
                t.column,
                format!(
                    "expected an object path (type:property), found {}",
                    t.describe()
                ),
            ));
        };
        if !is_object_type_name(object_type) {
            return Err(error(
                t.column,
                format!(
                    "invalid object type '{}' (3 to 250 characters of a-z, 0-9 and '-', starting with a letter)",
                    excerpt(object_type)
                ),
            ));
        }
        let colon = self.advance()?;
        if colon.tok != Tok::Colon {
            return Err(error(
                colon.column,
                format!(
                    "expected ':' after object type '{}', found {}",
                    excerpt(object_type),
                    colon.describe()
                ),
            ));
        }
        let mut path = ObjectPath {
            start: t.start,
            end: t.end,
            last: None,
            in_hashes: false,
        };
        let mut next = Next::Property;
        loop {
            let (name, end) = self.component(next)?;
            path.end = end;
            path.in_hashes = path.last.as_deref() == Some("hashes");
            next = match next {
                Next::Property if name == "extensions" => Next::ExtensionName,
                Next::Property if name.ends_with("_ref") || EMBEDDED_OBJECTS.contains(&&*name) => {
                    Next::Property
                }
                Next::Property if name.ends_with("_refs") || OBJECT_LISTS.contains(&&*name) => {
                    Next::ObjectIndex
                }
                Next::ExtensionName => Next::Property,
                _ => Next::Free,
            };
            path.last = Some(name);
            // Indexes, then a `.` before the next component or the end of the path.
            loop {
                match self.current.tok {
                    Tok::Dot => {
                        self.skip()?;
                        break;
                    }
                    Tok::LBrack => {
                        path.end = self.list_index()?;
                        path.last = None;
                        path.in_hashes = false;
                        next = if next == Next::ObjectIndex {
                            Next::Property
                        } else {
                            Next::Free
                        };
                    }
                    _ => return Ok(path),
                }
            }
        }
    }

    /// `[n]` or `[*]` after a path component; returns the byte offset after it.
    fn list_index(&mut self) -> Result<usize> {
        let open = self.advance()?;
        let index = self.advance()?;
        match index.tok {
            Tok::Int { .. } | Tok::Star => {}
            _ => {
                return Err(error(
                    index.column,
                    format!("expected a list index or '*', found {}", index.describe()),
                ));
            }
        }
        let close = self.advance()?;
        match close.tok {
            Tok::RBrack => Ok(close.end),
            Tok::Eof => Err(error(open.column, "unbalanced '['")),
            _ => Err(error(
                close.column,
                format!(
                    "expected ']' after the list index, found {}",
                    close.describe()
                ),
            )),
        }
    }

    /// One path component: an identifier or a quoted name, and the byte offset
    /// after it.
    fn component(&mut self, position: Next) -> Result<(Cow<'a, str>, usize)> {
        let t = self.advance()?;
        let name = match t.tok {
            Tok::Ident(s) if s.contains('-') => {
                return Err(error(
                    t.column,
                    format!(
                        "path component '{}' contains '-' and must be quoted",
                        excerpt(s)
                    ),
                ));
            }
            Tok::Ident(s) => Cow::Borrowed(s),
            Tok::Str(s) => s,
            _ => {
                return Err(error(
                    t.column,
                    format!("expected a property name, found {}", t.describe()),
                ));
            }
        };
        if position == Next::Property && !is_property_name(&name) {
            return Err(error(
                t.column,
                format!(
                    "invalid property name '{}' (3 to 250 characters of a-z, 0-9 and _, starting with a letter)",
                    excerpt(&name)
                ),
            ));
        }
        Ok((name, t.end))
    }
}

/// Checks `hashes.'ALGO' = '...'` constants for the vocabulary algorithms.
fn check_hash(path: &ObjectPath<'_>, value: &Token<'_>) -> Result<()> {
    let (true, Some(algo), Tok::Str(v)) = (path.in_hashes, &path.last, &value.tok) else {
        return Ok(());
    };
    let normalised: String = algo
        .chars()
        .filter(|c| *c != '-')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let len = match normalised.as_str() {
        "MD5" => 32,
        "SHA1" => 40,
        "SHA256" | "SHA3256" => 64,
        "SHA512" | "SHA3512" => 128,
        _ => return Ok(()),
    };
    if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(error(
            value.column,
            format!("'{}' is not a valid {} hash", excerpt(v), excerpt(algo)),
        ));
    }
    Ok(())
}
