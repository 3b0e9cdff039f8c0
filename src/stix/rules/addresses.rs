//! Syntax of the address values cyber-observable objects carry: IPv4 and IPv6
//! addresses and CIDR blocks, (internationalized) domain names and e-mail
//! addresses. Pure parsers; `observables` applies them.

/// A dotted-quad IPv4 address: four decimal octets 0-255 without leading zeros
/// (a leading zero reads as octal to some resolvers, so it is ambiguous).
pub fn is_ipv4_address(s: &str) -> bool {
    let mut octets = 0;
    for part in s.split('.') {
        octets += 1;
        if octets > 4 || !is_decimal_at_most(part, 255) {
            return false;
        }
    }
    octets == 4
}

/// A decimal number without sign or leading zero, not above `max`.
fn is_decimal_at_most(s: &str, max: u32) -> bool {
    let b = s.as_bytes();
    if b.is_empty() || b.len() > 3 || !b.iter().all(u8::is_ascii_digit) {
        return false;
    }
    if b.len() > 1 && b[0] == b'0' {
        return false;
    }
    b.iter().fold(0u32, |n, c| n * 10 + u32::from(c - b'0')) <= max
}

/// An IPv4 address or CIDR block (`address/prefix`, prefix 0-32): the value of
/// `ipv4-addr` (spec 2.1 section 6.8).
pub fn is_ipv4_value(s: &str) -> bool {
    match s.split_once('/') {
        Some((address, prefix)) => is_ipv4_address(address) && is_decimal_at_most(prefix, 32),
        None => is_ipv4_address(s),
    }
}

/// Counts the 16-bit groups of a run of `h16` separated by `:`; the last piece may be
/// a dotted IPv4 address (two groups) when `ipv4_tail` is set. `None` when malformed.
fn count_groups(s: &str, ipv4_tail: bool) -> Option<usize> {
    if s.is_empty() {
        return Some(0);
    }
    let mut groups = 0;
    let mut pieces = s.split(':').peekable();
    while let Some(piece) = pieces.next() {
        let last = pieces.peek().is_none();
        if last && ipv4_tail && piece.contains('.') {
            if !is_ipv4_address(piece) {
                return None;
            }
            groups += 2;
        } else if (1..=4).contains(&piece.len()) && piece.bytes().all(|c| c.is_ascii_hexdigit()) {
            groups += 1;
        } else {
            return None;
        }
    }
    Some(groups)
}

/// An IPv6 address in one of the text forms of RFC 4291 section 2.2: eight groups
/// of one to four hexadecimal digits, at most one `::` standing for one or more
/// zero groups, and optionally the last 32 bits as a dotted IPv4 address.
pub fn is_ipv6_address(s: &str) -> bool {
    if s.len() > 45 {
        return false;
    }
    match s.split_once("::") {
        Some((head, tail)) => {
            if tail.contains("::") {
                return false;
            }
            match (count_groups(head, false), count_groups(tail, true)) {
                (Some(h), Some(t)) => h + t <= 7,
                _ => false,
            }
        }
        None => count_groups(s, true) == Some(8),
    }
}

/// An IPv6 address or CIDR block (prefix 0-128): the value of `ipv6-addr`
/// (spec 2.1 section 6.9).
pub fn is_ipv6_value(s: &str) -> bool {
    match s.split_once('/') {
        Some((address, prefix)) => is_ipv6_address(address) && is_decimal_at_most(prefix, 128),
        None => is_ipv6_address(s),
    }
}

/// A domain name as `domain-name` requires (spec 2.1 section 6.4: RFC 1034, with
/// internationalized labels per RFC 5890): labels of letters, digits and hyphens
/// (no leading or trailing hyphen, no `--` in the third and fourth position except
/// in `xn--` labels), 1 to 63 octets each and 253 in all once converted to ASCII; no
/// spaces, no empty labels; one trailing dot (the root) is allowed. Unicode labels
/// are processed by UTS 46 (the `idna` crate), which also checks A-labels.
pub fn is_domain_name(s: &str) -> bool {
    let name = s.strip_suffix('.').unwrap_or(s);
    if name.is_empty() {
        return false;
    }
    idna::uts46::Uts46::new()
        .to_ascii(
            name.as_bytes(),
            idna::uts46::AsciiDenyList::STD3,
            idna::uts46::Hyphens::Check,
            idna::uts46::DnsLength::Verify,
        )
        .is_ok()
}

/// RFC 5322 `atext`, widened to any non-ASCII character as RFC 6532 allows.
fn is_atext(c: char) -> bool {
    c.is_ascii_alphanumeric() || "!#$%&'*+-/=?^_`{|}~".contains(c) || !c.is_ascii()
}

/// `dot-atom-text`: runs of `atext` separated by single dots.
fn is_dot_atom(s: &str) -> bool {
    !s.is_empty()
        && s.split('.')
            .all(|atom| !atom.is_empty() && atom.chars().all(is_atext))
}

/// Parses a `quoted-string` at the start of `s` and returns what follows it.
fn quoted_string(s: &str) -> Option<&str> {
    let mut chars = s.char_indices();
    if chars.next()?.1 != '"' {
        return None;
    }
    while let Some((i, c)) = chars.next() {
        match c {
            '"' => return Some(&s[i + 1..]),
            '\\' => {
                // quoted-pair: a backslash and a visible character or white space.
                let (_, next) = chars.next()?;
                if next.is_ascii_control() && next != '\t' {
                    return None;
                }
            }
            // qtext and the white space folding allows (no line breaks).
            c if c == ' ' || c == '\t' || (c.is_ascii_graphic() || !c.is_ascii()) => {}
            _ => return None,
        }
    }
    None
}

/// An RFC 5322 `addr-spec` (`local-part@domain`): the local part a dot-atom or a
/// quoted string, the domain a dot-atom or a domain literal in brackets. Comments and
/// folded white space around the parts are not accepted; non-ASCII characters are
/// (RFC 6532). The value of `email-addr` (spec 2.1 section 6.5).
pub fn is_addr_spec(s: &str) -> bool {
    let domain = if s.starts_with('"') {
        match quoted_string(s).and_then(|rest| rest.strip_prefix('@')) {
            Some(domain) => domain,
            None => return false,
        }
    } else {
        match s.split_once('@') {
            Some((local, domain)) if is_dot_atom(local) => domain,
            _ => return false,
        }
    };
    if let Some(literal) = domain.strip_prefix('[') {
        let Some(inner) = literal.strip_suffix(']') else {
            return false;
        };
        // dtext: visible characters except brackets and backslash.
        inner
            .chars()
            .all(|c| (c.is_ascii_graphic() && !"[]\\".contains(c)) || !c.is_ascii())
    } else {
        is_dot_atom(domain)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ipv4() {
        for ok in [
            "0.0.0.0",
            "198.51.100.7",
            "255.255.255.255",
            "10.0.0.0/8",
            "0.0.0.0/0",
            "192.0.2.0/32",
        ] {
            assert!(is_ipv4_value(ok), "{ok}");
        }
        for bad in [
            "",
            "not-an-ip",
            "999.1.1.1",
            "256.0.0.1",
            "1.1.1",
            "1.1.1.1.1",
            "1.1.1.1/33",
            "1.1.1.1/",
            "1.1.1.1/08",
            "01.1.1.1",
            "1.1.1.-1",
            "1..1.1",
            "2001:db8::1",
            " 1.1.1.1",
            "1.1.1.1 ",
            "1.1.1.1/8/8",
        ] {
            assert!(!is_ipv4_value(bad), "{bad}");
        }
    }

    #[test]
    fn ipv6() {
        for ok in [
            "::",
            "::1",
            "1::",
            "2001:db8::1",
            "2001:DB8:0:0:8:800:200C:417A",
            "2001:db8:85a3::8a2e:370:7334",
            "1:2:3:4:5:6:7:8",
            "1:2:3:4:5:6:7::",
            "::2:3:4:5:6:7:8",
            "::ffff:192.0.2.128",
            "64:ff9b::192.0.2.33",
            "1:2:3:4:5:6:1.2.3.4",
            "2001:db8::/32",
            "::/0",
            "fe80::/128",
        ] {
            assert!(is_ipv6_value(ok), "{ok}");
        }
        for bad in [
            "",
            "2001:db8:::1",
            "1.2.3.4",
            "1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:8:9",
            "1:2:3:4:5:6:7:8::",
            "1::2::3",
            ":1:2:3:4:5:6:7",
            "1:2:3:4:5:6:7:",
            "12345::",
            "g::1",
            "::1.2.3.4.5",
            "1:2:3:4:5:6:7:1.2.3.4",
            "::1.2.3",
            "1.2.3.4::",
            "2001:db8::/129",
            "2001:db8::/",
            "fe80::1%eth0",
            ":::",
        ] {
            assert!(!is_ipv6_value(bad), "{bad}");
        }
    }

    #[test]
    fn domain_names() {
        for ok in [
            "example.com",
            "portcall-notices.example",
            "Example.COM",
            "a.b",
            "localhost",
            "example.com.",
            "münchen.de",
            "xn--mnchen-3ya.de",
            "1.2.3.4",
            "xn--bcher-kva.example",
        ] {
            assert!(is_domain_name(ok), "{ok}");
        }
        for bad in [
            "",
            ".",
            "a b.com",
            "a..b",
            ".example.com",
            "example.com..",
            "-a.com",
            "a-.com",
            "exa_mple.com",
            "ab--cd.example",
            "xn--a.com",
            "http://example.com",
            "example.com/",
            "a@b.com",
        ] {
            assert!(!is_domain_name(bad), "{bad}");
        }
        assert!(is_domain_name(&format!("{}.example", "a".repeat(63))));
        assert!(!is_domain_name(&format!("{}.example", "a".repeat(64))));
        let long = vec!["abcdefghi"; 26].join(".");
        assert!(long.len() > 253 && !is_domain_name(&long));
    }

    #[test]
    fn email_addresses() {
        for ok in [
            "harbourmaster@portcall-notices.example",
            "first.last+tag@example.com",
            "x@y",
            "\"john doe\"@example.com",
            "\"a\\\"b\"@example.com",
            "user@[192.0.2.1]",
            "user@[IPv6:2001:db8::1]",
            "jörg@müller.example",
            "!#$%&'*+-/=?^_`{|}~@example.com",
        ] {
            assert!(is_addr_spec(ok), "{ok}");
        }
        for bad in [
            "",
            "plainaddress",
            "@example.com",
            "user@",
            "user@@example.com",
            "user.@example.com",
            ".user@example.com",
            "us..er@example.com",
            "user name@example.com",
            "user@exa mple.com",
            "user@example..com",
            "\"unterminated@example.com",
            "\"x\"y@example.com",
            "user@[192.0.2.1",
            "a@b@c",
            "user@example.com.",
        ] {
            assert!(!is_addr_spec(bad), "{bad}");
        }
    }
}
