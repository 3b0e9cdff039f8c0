//! Tokens of the STIX patterning language, read one at a time on demand (the
//! parser never holds more than the current token), each with its 1-based
//! column in characters. Iterative: nothing here recurses.

use std::borrow::Cow;

use base64::Engine;

use super::{PatternError, excerpt};
use crate::stix::types::parse_timestamp;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Op {
    Eq,
    Neq,
    Lt,
    Le,
    Gt,
    Ge,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kw {
    And,
    Or,
    Not,
    FollowedBy,
    Like,
    Matches,
    IsSuperset,
    IsSubset,
    Exists,
    In,
    Start,
    Stop,
    Seconds,
    Within,
    Repeats,
    Times,
}

#[derive(Debug, Clone, PartialEq)]
pub enum Tok<'a> {
    LBrack,
    RBrack,
    LParen,
    RParen,
    Colon,
    Dot,
    Comma,
    Star,
    Op(Op),
    Kw(Kw),
    Ident(&'a str),
    /// A quoted string, unescaped.
    Str(Cow<'a, str>),
    /// Integer; `signed` when written with a leading `+` or `-`.
    Int {
        value: i128,
        signed: bool,
    },
    Float(f64),
    Bool(bool),
    /// A `t'...'` constant that parsed as a STIX timestamp.
    Timestamp(Cow<'a, str>),
    Hex,
    Binary,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token<'a> {
    pub tok: Tok<'a>,
    /// 1-based column of the token's first character.
    pub column: usize,
    /// Byte offsets of the token in the pattern.
    pub start: usize,
    pub end: usize,
}

impl Token<'_> {
    /// How the token reads in an error message.
    pub fn describe(&self) -> String {
        match &self.tok {
            Tok::LBrack => "'['".into(),
            Tok::RBrack => "']'".into(),
            Tok::LParen => "'('".into(),
            Tok::RParen => "')'".into(),
            Tok::Colon => "':'".into(),
            Tok::Dot => "'.'".into(),
            Tok::Comma => "','".into(),
            Tok::Star => "'*'".into(),
            Tok::Op(op) => format!(
                "'{}'",
                match op {
                    Op::Eq => "=",
                    Op::Neq => "!=",
                    Op::Lt => "<",
                    Op::Le => "<=",
                    Op::Gt => ">",
                    Op::Ge => ">=",
                }
            ),
            Tok::Kw(k) => format!("'{}'", keyword_text(*k)),
            Tok::Ident(s) => format!("identifier '{}'", excerpt(s)),
            Tok::Str(s) => format!("string '{}'", excerpt(s)),
            Tok::Int { value, .. } => format!("number {value}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Bool(b) => format!("'{b}'"),
            Tok::Timestamp(s) => format!("timestamp t'{}'", excerpt(s)),
            Tok::Hex => "hex constant".into(),
            Tok::Binary => "binary constant".into(),
            Tok::Eof => "end of pattern".into(),
        }
    }
}

pub fn keyword_text(k: Kw) -> &'static str {
    match k {
        Kw::And => "AND",
        Kw::Or => "OR",
        Kw::Not => "NOT",
        Kw::FollowedBy => "FOLLOWEDBY",
        Kw::Like => "LIKE",
        Kw::Matches => "MATCHES",
        Kw::IsSuperset => "ISSUPERSET",
        Kw::IsSubset => "ISSUBSET",
        Kw::Exists => "EXISTS",
        Kw::In => "IN",
        Kw::Start => "START",
        Kw::Stop => "STOP",
        Kw::Seconds => "SECONDS",
        Kw::Within => "WITHIN",
        Kw::Repeats => "REPEATS",
        Kw::Times => "TIMES",
    }
}

fn keyword(s: &str) -> Option<Tok<'static>> {
    Some(match s {
        "AND" => Tok::Kw(Kw::And),
        "OR" => Tok::Kw(Kw::Or),
        "NOT" => Tok::Kw(Kw::Not),
        "FOLLOWEDBY" => Tok::Kw(Kw::FollowedBy),
        "LIKE" => Tok::Kw(Kw::Like),
        "MATCHES" => Tok::Kw(Kw::Matches),
        "ISSUPERSET" => Tok::Kw(Kw::IsSuperset),
        "ISSUBSET" => Tok::Kw(Kw::IsSubset),
        "EXISTS" => Tok::Kw(Kw::Exists),
        "IN" => Tok::Kw(Kw::In),
        "START" => Tok::Kw(Kw::Start),
        "STOP" => Tok::Kw(Kw::Stop),
        "SECONDS" => Tok::Kw(Kw::Seconds),
        "WITHIN" => Tok::Kw(Kw::Within),
        "REPEATS" => Tok::Kw(Kw::Repeats),
        "TIMES" => Tok::Kw(Kw::Times),
        "true" => Tok::Bool(true),
        "false" => Tok::Bool(false),
        _ => return None,
    })
}

fn error(column: usize, message: impl Into<String>) -> PatternError {
    PatternError {
        column,
        message: message.into(),
    }
}

/// A cursor over the pattern text: a byte offset and the 1-based column (in
/// characters) it corresponds to.
pub struct Lexer<'a> {
    src: &'a str,
    pos: usize,
    column: usize,
}

impl<'a> Lexer<'a> {
    pub fn new(src: &'a str) -> Self {
        Lexer {
            src,
            pos: 0,
            column: 1,
        }
    }

    fn byte(&self, ahead: usize) -> Option<u8> {
        self.src.as_bytes().get(self.pos + ahead).copied()
    }

    fn char(&self) -> Option<char> {
        self.src[self.pos..].chars().next()
    }

    /// Moves past `n` bytes of ASCII.
    fn skip_ascii(&mut self, n: usize) {
        self.pos += n;
        self.column += n;
    }

    fn skip_char(&mut self, c: char) {
        self.pos += c.len_utf8();
        self.column += 1;
    }

    /// Reads a quoted body starting at the opening quote; returns the unescaped
    /// text, borrowed when it has no escapes.
    fn quoted(&mut self, start_column: usize) -> Result<Cow<'a, str>, PatternError> {
        self.skip_ascii(1); // opening quote
        let body_start = self.pos;
        let mut owned: Option<String> = None;
        loop {
            match self.char() {
                None => return Err(error(start_column, "unterminated string literal")),
                Some('\'') => {
                    let text = match owned {
                        Some(s) => Cow::Owned(s),
                        None => Cow::Borrowed(&self.src[body_start..self.pos]),
                    };
                    self.skip_ascii(1);
                    return Ok(text);
                }
                Some('\\') => {
                    let escaped = match self.byte(1) {
                        Some(c @ (b'\'' | b'\\')) => c as char,
                        Some(_) => {
                            let c = self.src[self.pos + 1..].chars().next().unwrap_or('\\');
                            return Err(error(
                                self.column,
                                format!(
                                    "invalid escape '\\{c}' in string (only \\' and \\\\ are allowed)"
                                ),
                            ));
                        }
                        None => return Err(error(start_column, "unterminated string literal")),
                    };
                    owned
                        .get_or_insert_with(|| self.src[body_start..self.pos].to_owned())
                        .push(escaped);
                    self.skip_ascii(2);
                }
                Some(c) => {
                    if let Some(s) = owned.as_mut() {
                        s.push(c);
                    }
                    self.skip_char(c);
                }
            }
        }
    }

    fn number(&mut self, column: usize) -> Result<Tok<'a>, PatternError> {
        let start = self.pos;
        let signed = matches!(self.byte(0), Some(b'+' | b'-'));
        if signed {
            self.skip_ascii(1);
        }
        let digits_start = self.pos;
        while self.byte(0).is_some_and(|c| c.is_ascii_digit()) {
            self.skip_ascii(1);
        }
        let int_digits = self.pos - digits_start;
        let mut is_float = false;
        if self.byte(0) == Some(b'.') && self.byte(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.skip_ascii(1);
            while self.byte(0).is_some_and(|c| c.is_ascii_digit()) {
                self.skip_ascii(1);
            }
        }
        let text = &self.src[start..self.pos];
        if int_digits == 0 && !is_float {
            return Err(error(column, format!("invalid number '{}'", excerpt(text))));
        }
        if is_float {
            text.parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| error(column, format!("invalid number '{}'", excerpt(text))))
        } else {
            text.parse::<i128>()
                .map(|value| Tok::Int { value, signed })
                .map_err(|_| {
                    error(
                        column,
                        format!("integer '{}' is out of range", excerpt(text)),
                    )
                })
        }
    }

    /// A `t'...'`, `h'...'` or `b'...'` constant; `self.pos` is at the prefix letter.
    fn typed_constant(&mut self, prefix: u8, column: usize) -> Result<Tok<'a>, PatternError> {
        self.skip_ascii(1);
        let body = self.quoted(column)?;
        Ok(match prefix {
            b't' => match parse_timestamp(&body) {
                Ok(_) => Tok::Timestamp(body),
                Err(why) => {
                    return Err(error(column, format!("invalid timestamp constant ({why})")));
                }
            },
            b'h' => {
                if body.len() % 2 != 0 || !body.bytes().all(|b| b.is_ascii_hexdigit()) {
                    return Err(error(
                        column,
                        "invalid hex constant (an even number of hexadecimal digits is required)",
                    ));
                }
                Tok::Hex
            }
            _ => {
                if base64::engine::general_purpose::STANDARD
                    .decode(body.as_bytes())
                    .is_err()
                {
                    return Err(error(column, "invalid base64 constant"));
                }
                Tok::Binary
            }
        })
    }

    /// The next token; [`Tok::Eof`] at the end, and again on every later call.
    pub fn next_token(&mut self) -> Result<Token<'a>, PatternError> {
        while let Some(c) = self.char().filter(|c| c.is_whitespace()) {
            self.skip_char(c);
        }
        let column = self.column;
        let start = self.pos;
        let tok = self.scan(column)?;
        Ok(Token {
            tok,
            column,
            start,
            end: self.pos,
        })
    }

    /// Reads the token that starts at the current position (not whitespace).
    fn scan(&mut self, column: usize) -> Result<Tok<'a>, PatternError> {
        let Some(c) = self.char() else {
            return Ok(Tok::Eof);
        };
        let next = self.byte(1);
        let simple = match c {
            '[' => Some(Tok::LBrack),
            ']' => Some(Tok::RBrack),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ':' => Some(Tok::Colon),
            '.' if !next.is_some_and(|c| c.is_ascii_digit()) => Some(Tok::Dot),
            ',' => Some(Tok::Comma),
            '*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(tok) = simple {
            self.skip_ascii(1);
            return Ok(tok);
        }
        let op = match (c, next) {
            ('=', Some(b'=')) => Some((Op::Eq, 2)),
            ('!', Some(b'=')) | ('<', Some(b'>')) => Some((Op::Neq, 2)),
            ('<', Some(b'=')) => Some((Op::Le, 2)),
            ('>', Some(b'=')) => Some((Op::Ge, 2)),
            ('=', _) => Some((Op::Eq, 1)),
            ('<', _) => Some((Op::Lt, 1)),
            ('>', _) => Some((Op::Gt, 1)),
            _ => None,
        };
        if let Some((op, len)) = op {
            self.skip_ascii(len);
            return Ok(Tok::Op(op));
        }
        if c == '\'' {
            return Ok(Tok::Str(self.quoted(column)?));
        }
        if c.is_ascii_digit()
            || c == '.'
            || ((c == '+' || c == '-') && next.is_some_and(|d| d.is_ascii_digit() || d == b'.'))
        {
            return self.number(column);
        }
        if c.is_ascii_alphabetic() || c == '_' {
            if matches!(c, 't' | 'h' | 'b') && next == Some(b'\'') {
                return self.typed_constant(c as u8, column);
            }
            let start = self.pos;
            while self
                .byte(0)
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == b'_' || c == b'-')
            {
                self.skip_ascii(1);
            }
            let word = &self.src[start..self.pos];
            return Ok(keyword(word).unwrap_or(Tok::Ident(word)));
        }
        Err(error(column, format!("unexpected character '{c}'")))
    }

    /// The pattern text between two byte offsets taken from tokens.
    pub fn text(&self, start: usize, end: usize) -> &'a str {
        &self.src[start..end]
    }
}
