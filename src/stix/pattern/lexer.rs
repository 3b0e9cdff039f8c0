//! Tokens of the STIX patterning language, each with its 1-based column.

use base64::Engine;

use super::PatternError;
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
pub enum Tok {
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
    Ident(String),
    Str(String),
    /// Integer; `signed` when written with a leading `+` or `-`.
    Int {
        value: i128,
        signed: bool,
    },
    Float(f64),
    Bool(bool),
    Timestamp(String),
    Hex,
    Binary,
    Eof,
}

#[derive(Debug, Clone, PartialEq)]
pub struct Token {
    pub tok: Tok,
    pub column: usize,
}

impl Token {
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
            Tok::Ident(s) => format!("identifier '{s}'"),
            Tok::Str(s) => format!("string '{s}'"),
            Tok::Int { value, .. } => format!("number {value}"),
            Tok::Float(f) => format!("number {f}"),
            Tok::Bool(b) => format!("'{b}'"),
            Tok::Timestamp(s) => format!("timestamp t'{s}'"),
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

fn keyword(s: &str) -> Option<Tok> {
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

struct Lexer {
    chars: Vec<char>,
    pos: usize,
}

impl Lexer {
    fn peek(&self, ahead: usize) -> Option<char> {
        self.chars.get(self.pos + ahead).copied()
    }

    /// Reads a quoted body starting at the opening quote; returns the unescaped text.
    fn quoted(&mut self, start_column: usize) -> Result<String, PatternError> {
        self.pos += 1; // opening quote
        let mut out = String::new();
        loop {
            match self.peek(0) {
                None => return Err(error(start_column, "unterminated string literal")),
                Some('\'') => {
                    self.pos += 1;
                    return Ok(out);
                }
                Some('\\') => match self.peek(1) {
                    Some(c @ ('\'' | '\\')) => {
                        out.push(c);
                        self.pos += 2;
                    }
                    Some(c) => {
                        return Err(error(
                            self.pos + 1,
                            format!(
                                "invalid escape '\\{c}' in string (only \\' and \\\\ are allowed)"
                            ),
                        ));
                    }
                    None => return Err(error(start_column, "unterminated string literal")),
                },
                Some(c) => {
                    out.push(c);
                    self.pos += 1;
                }
            }
        }
    }

    fn number(&mut self, column: usize) -> Result<Tok, PatternError> {
        let start = self.pos;
        let signed = matches!(self.peek(0), Some('+' | '-'));
        if signed {
            self.pos += 1;
        }
        let digits_start = self.pos;
        while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
            self.pos += 1;
        }
        let int_digits = self.pos - digits_start;
        let mut is_float = false;
        if self.peek(0) == Some('.') && self.peek(1).is_some_and(|c| c.is_ascii_digit()) {
            is_float = true;
            self.pos += 1;
            while self.peek(0).is_some_and(|c| c.is_ascii_digit()) {
                self.pos += 1;
            }
        }
        let text: String = self.chars[start..self.pos].iter().collect();
        if int_digits == 0 && !is_float {
            return Err(error(column, format!("invalid number '{text}'")));
        }
        if is_float {
            text.parse::<f64>()
                .map(Tok::Float)
                .map_err(|_| error(column, format!("invalid number '{text}'")))
        } else {
            text.parse::<i128>()
                .map(|value| Tok::Int { value, signed })
                .map_err(|_| error(column, format!("integer '{text}' is out of range")))
        }
    }
}

/// Splits a pattern into tokens, ending with [`Tok::Eof`].
pub fn lex(pattern: &str) -> Result<Vec<Token>, PatternError> {
    let mut lx = Lexer {
        chars: pattern.chars().collect(),
        pos: 0,
    };
    let mut tokens = Vec::new();
    while let Some(c) = lx.peek(0) {
        let column = lx.pos + 1;
        let simple = match c {
            '[' => Some(Tok::LBrack),
            ']' => Some(Tok::RBrack),
            '(' => Some(Tok::LParen),
            ')' => Some(Tok::RParen),
            ':' => Some(Tok::Colon),
            '.' if !lx.peek(1).is_some_and(|c| c.is_ascii_digit()) => Some(Tok::Dot),
            ',' => Some(Tok::Comma),
            '*' => Some(Tok::Star),
            _ => None,
        };
        if let Some(tok) = simple {
            lx.pos += 1;
            tokens.push(Token { tok, column });
            continue;
        }
        if c.is_whitespace() {
            lx.pos += 1;
            continue;
        }
        let two: String = [c, lx.peek(1).unwrap_or(' ')].iter().collect();
        let op = match two.as_str() {
            "==" => Some((Op::Eq, 2)),
            "!=" | "<>" => Some((Op::Neq, 2)),
            "<=" => Some((Op::Le, 2)),
            ">=" => Some((Op::Ge, 2)),
            _ => match c {
                '=' => Some((Op::Eq, 1)),
                '<' => Some((Op::Lt, 1)),
                '>' => Some((Op::Gt, 1)),
                _ => None,
            },
        };
        if let Some((op, len)) = op {
            lx.pos += len;
            tokens.push(Token {
                tok: Tok::Op(op),
                column,
            });
            continue;
        }
        if c == '\'' {
            let s = lx.quoted(column)?;
            tokens.push(Token {
                tok: Tok::Str(s),
                column,
            });
            continue;
        }
        if c.is_ascii_digit()
            || c == '.'
            || ((c == '+' || c == '-')
                && lx.peek(1).is_some_and(|d| d.is_ascii_digit() || d == '.'))
        {
            let tok = lx.number(column)?;
            tokens.push(Token { tok, column });
            continue;
        }
        if c.is_ascii_alphabetic() || c == '_' {
            if matches!(c, 't' | 'h' | 'b') && lx.peek(1) == Some('\'') {
                lx.pos += 1;
                let body = lx.quoted(column)?;
                let tok = match c {
                    't' => match parse_timestamp(&body) {
                        Ok(_) => Tok::Timestamp(body),
                        Err(why) => {
                            return Err(error(
                                column,
                                format!("invalid timestamp constant ({why})"),
                            ));
                        }
                    },
                    'h' => {
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
                };
                tokens.push(Token { tok, column });
                continue;
            }
            let start = lx.pos;
            while lx
                .peek(0)
                .is_some_and(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
            {
                lx.pos += 1;
            }
            let word: String = lx.chars[start..lx.pos].iter().collect();
            let tok = keyword(&word).unwrap_or(Tok::Ident(word));
            tokens.push(Token { tok, column });
            continue;
        }
        return Err(error(column, format!("unexpected character '{c}'")));
    }
    tokens.push(Token {
        tok: Tok::Eof,
        column: lx.chars.len() + 1,
    });
    Ok(tokens)
}
