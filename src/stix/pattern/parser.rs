//! Recursive-descent parser over the token list, with the checks the grammar alone
//! does not make (see the module documentation).

use super::PatternError;
use super::lexer::{Kw, Op, Tok, Token, keyword_text};
use crate::stix::types::{is_type_name, parse_timestamp};

type Result<T> = std::result::Result<T, PatternError>;

/// Object types named by a comparison expression; used for the AND rule.
type Types = Vec<String>;

pub struct Parser<'t> {
    tokens: &'t [Token],
    pos: usize,
}

fn error(column: usize, message: impl Into<String>) -> PatternError {
    PatternError {
        column,
        message: message.into(),
    }
}

/// Which qualifier kinds were applied directly to one observation expression.
#[derive(Default)]
struct Qualifiers {
    within: bool,
    repeats: bool,
    start_stop: bool,
}

impl<'t> Parser<'t> {
    pub fn new(tokens: &'t [Token]) -> Self {
        Parser { tokens, pos: 0 }
    }

    fn peek(&self) -> &'t Token {
        // The lexer always ends the list with Eof, and we never advance past it.
        &self.tokens[self.pos.min(self.tokens.len() - 1)]
    }

    fn advance(&mut self) -> &'t Token {
        let t = self.peek();
        if t.tok != Tok::Eof {
            self.pos += 1;
        }
        t
    }

    fn at_kw(&self, kw: Kw) -> bool {
        self.peek().tok == Tok::Kw(kw)
    }

    fn expect_kw(&mut self, kw: Kw) -> Result<&'t Token> {
        let t = self.peek();
        if t.tok == Tok::Kw(kw) {
            Ok(self.advance())
        } else {
            Err(error(
                t.column,
                format!("expected {}, found {}", keyword_text(kw), t.describe()),
            ))
        }
    }

    pub fn pattern(&mut self) -> Result<()> {
        if self.peek().tok == Tok::Eof {
            return Err(error(1, "empty pattern"));
        }
        self.followed_by()?;
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

    fn followed_by(&mut self) -> Result<()> {
        self.obs_or()?;
        while self.at_kw(Kw::FollowedBy) {
            self.advance();
            self.obs_or()?;
        }
        Ok(())
    }

    fn obs_or(&mut self) -> Result<()> {
        self.obs_and()?;
        while self.at_kw(Kw::Or) {
            self.advance();
            self.obs_and()?;
        }
        Ok(())
    }

    fn obs_and(&mut self) -> Result<()> {
        self.obs_qualified()?;
        while self.at_kw(Kw::And) {
            self.advance();
            self.obs_qualified()?;
        }
        Ok(())
    }

    fn obs_qualified(&mut self) -> Result<()> {
        let simple = self.obs_primary()?;
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
            self.advance();
            match t.tok {
                Tok::Kw(Kw::Within) => {
                    let n = self.advance();
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
                    let n = self.advance();
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
        let t = self.advance();
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
        let t = self.peek();
        match t.tok {
            Tok::LBrack => {
                self.advance();
                self.comparison_or()?;
                let close = self.peek();
                match close.tok {
                    Tok::RBrack => {
                        self.advance();
                        Ok(true)
                    }
                    Tok::Eof => Err(error(t.column, "unbalanced '['")),
                    _ => Err(error(
                        close.column,
                        format!(
                            "expected ']' or a boolean operator, found {}",
                            close.describe()
                        ),
                    )),
                }
            }
            Tok::LParen => {
                self.advance();
                self.followed_by()?;
                let close = self.peek();
                match close.tok {
                    Tok::RParen => {
                        self.advance();
                        Ok(false)
                    }
                    Tok::Eof => Err(error(t.column, "unbalanced '('")),
                    _ => Err(error(
                        close.column,
                        format!("expected ')', found {}", close.describe()),
                    )),
                }
            }
            Tok::RBrack => Err(error(t.column, "unbalanced ']'")),
            Tok::Eof => Err(error(
                t.column,
                "expected an observation expression, found end of pattern",
            )),
            _ => Err(error(
                t.column,
                format!(
                    "expected '[' or '(' to start an observation expression, found {}",
                    t.describe()
                ),
            )),
        }
    }

    fn comparison_or(&mut self) -> Result<Types> {
        let mut types = self.comparison_and()?;
        while self.at_kw(Kw::Or) {
            self.advance();
            for t in self.comparison_and()? {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
        }
        Ok(types)
    }

    /// Comparisons joined by AND may name different object types: STIX 2.1
    /// (unlike 2.0) does not forbid it, and the reference tools accept it.
    fn comparison_and(&mut self) -> Result<Types> {
        let mut types = self.prop_test()?;
        while self.at_kw(Kw::And) {
            self.advance();
            for t in self.prop_test()? {
                if !types.contains(&t) {
                    types.push(t);
                }
            }
        }
        Ok(types)
    }

    fn prop_test(&mut self) -> Result<Types> {
        let t = self.peek();
        match t.tok {
            Tok::LParen => {
                self.advance();
                let types = self.comparison_or()?;
                let close = self.peek();
                match close.tok {
                    Tok::RParen => {
                        self.advance();
                        Ok(types)
                    }
                    Tok::Eof | Tok::RBrack => Err(error(t.column, "unbalanced '('")),
                    _ => Err(error(
                        close.column,
                        format!("expected ')', found {}", close.describe()),
                    )),
                }
            }
            Tok::Kw(Kw::Exists) => {
                self.advance();
                let (object_type, _) = self.object_path()?;
                Ok(vec![object_type])
            }
            _ => {
                let (object_type, path) = self.object_path()?;
                let negated = self.at_kw(Kw::Not);
                if negated {
                    self.advance();
                }
                let op = self.advance();
                let what = format!("{object_type}:{}", path.join("."));
                match op.tok {
                    Tok::Op(Op::Eq | Op::Neq) => {
                        let value = self.constant(true)?;
                        self.check_hash(&path, value)?;
                    }
                    Tok::Op(_) => {
                        self.constant(false)?;
                    }
                    Tok::Kw(Kw::In) => self.set()?,
                    Tok::Kw(k @ (Kw::Like | Kw::Matches | Kw::IsSubset | Kw::IsSuperset)) => {
                        let v = self.advance();
                        if !matches!(v.tok, Tok::Str(_)) {
                            return Err(error(
                                v.column,
                                format!(
                                    "{} needs a string constant, found {}",
                                    keyword_text(k),
                                    v.describe()
                                ),
                            ));
                        }
                    }
                    _ => {
                        return Err(error(
                            op.column,
                            format!(
                                "expected a comparison operator after {what}, found {}",
                                op.describe()
                            ),
                        ));
                    }
                }
                Ok(vec![object_type])
            }
        }
    }

    /// Checks `hashes.'ALGO' = '...'` constants for the vocabulary algorithms.
    fn check_hash(&self, path: &[String], value: &Token) -> Result<()> {
        let (Some(algo), Tok::Str(v)) = (path.last(), &value.tok) else {
            return Ok(());
        };
        if path.len() < 2 || path[path.len() - 2] != "hashes" {
            return Ok(());
        }
        let len = match algo.to_ascii_uppercase().replace('-', "").as_str() {
            "MD5" => 32,
            "SHA1" => 40,
            "SHA256" | "SHA3256" => 64,
            "SHA512" | "SHA3512" => 128,
            _ => return Ok(()),
        };
        if v.len() != len || !v.bytes().all(|b| b.is_ascii_hexdigit()) {
            return Err(error(
                value.column,
                format!("'{v}' is not a valid {algo} hash"),
            ));
        }
        Ok(())
    }

    fn constant(&mut self, allow_bool: bool) -> Result<&'t Token> {
        let t = self.advance();
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
        let open = self.advance();
        if open.tok != Tok::LParen {
            return Err(error(
                open.column,
                format!("IN needs a parenthesised list, found {}", open.describe()),
            ));
        }
        if self.peek().tok == Tok::RParen {
            self.advance();
            return Ok(());
        }
        loop {
            self.constant(true)?;
            let t = self.advance();
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

    /// `type:first(.component | [index])*`; returns the type and the path components.
    fn object_path(&mut self) -> Result<(String, Vec<String>)> {
        let t = self.advance();
        let Tok::Ident(object_type) = &t.tok else {
            return Err(error(
                t.column,
                format!(
                    "expected an object path (type:property), found {}",
                    t.describe()
                ),
            ));
        };
        if !is_type_name(object_type) {
            return Err(error(
                t.column,
                format!(
                    "invalid object type '{object_type}' (lowercase letters, digits and hyphens)"
                ),
            ));
        }
        let colon = self.advance();
        if colon.tok != Tok::Colon {
            return Err(error(
                colon.column,
                format!(
                    "expected ':' after object type '{object_type}', found {}",
                    colon.describe()
                ),
            ));
        }
        let mut path = vec![self.component()?];
        loop {
            match self.peek().tok {
                Tok::Dot => {
                    self.advance();
                    path.push(self.component()?);
                }
                Tok::LBrack => {
                    let open = self.advance();
                    let index = self.advance();
                    match index.tok {
                        Tok::Int { .. } | Tok::Star => {}
                        _ => {
                            return Err(error(
                                index.column,
                                format!("expected a list index or '*', found {}", index.describe()),
                            ));
                        }
                    }
                    let close = self.advance();
                    if close.tok != Tok::RBrack {
                        return Err(if close.tok == Tok::Eof {
                            error(open.column, "unbalanced '['")
                        } else {
                            error(
                                close.column,
                                format!(
                                    "expected ']' after the list index, found {}",
                                    close.describe()
                                ),
                            )
                        });
                    }
                    path.push("[]".to_owned());
                }
                _ => return Ok((object_type.clone(), path)),
            }
        }
    }

    fn component(&mut self) -> Result<String> {
        let t = self.advance();
        match &t.tok {
            Tok::Ident(s) if s.contains('-') => Err(error(
                t.column,
                format!("path component '{s}' contains '-' and must be quoted"),
            )),
            Tok::Ident(s) | Tok::Str(s) => Ok(s.clone()),
            _ => Err(error(
                t.column,
                format!("expected a property name, found {}", t.describe()),
            )),
        }
    }
}
