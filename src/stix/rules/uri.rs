//! RFC 3986 URIs (section 3): `scheme ":" hier-part ["?" query] ["#" fragment]`.
//! Relative references are not URIs; characters outside the URI repertoire must be
//! percent-encoded. Used for `url.value`, `artifact.url` and
//! `external_references[].url`.

use super::addresses::is_ipv6_address;

fn is_unreserved(c: u8) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_' | b'~')
}

fn is_sub_delim(c: u8) -> bool {
    matches!(
        c,
        b'!' | b'$' | b'&' | b'\'' | b'(' | b')' | b'*' | b'+' | b',' | b';' | b'='
    )
}

/// True when every byte of `s` is allowed by `allowed` or starts a well-formed
/// percent-encoding (`%` and two hexadecimal digits).
fn all_chars(s: &[u8], allowed: impl Fn(u8) -> bool) -> bool {
    let mut i = 0;
    while i < s.len() {
        let c = s[i];
        if c == b'%' {
            if !(s.get(i + 1).is_some_and(u8::is_ascii_hexdigit)
                && s.get(i + 2).is_some_and(u8::is_ascii_hexdigit))
            {
                return false;
            }
            i += 3;
        } else if allowed(c) {
            i += 1;
        } else {
            return false;
        }
    }
    true
}

/// `pchar` = unreserved / pct-encoded / sub-delims / ":" / "@".
fn is_pchar(c: u8) -> bool {
    is_unreserved(c) || is_sub_delim(c) || c == b':' || c == b'@'
}

/// A path: segments of `pchar` separated by slashes.
fn is_path(s: &[u8]) -> bool {
    all_chars(s, |c| is_pchar(c) || c == b'/')
}

/// `authority = [ userinfo "@" ] host [ ":" port ]`.
fn is_authority(s: &[u8]) -> bool {
    let (userinfo, hostport) = match s.iter().rposition(|&c| c == b'@') {
        Some(at) => (&s[..at], &s[at + 1..]),
        None => (&s[..0], s),
    };
    if !all_chars(userinfo, |c| {
        is_unreserved(c) || is_sub_delim(c) || c == b':'
    }) {
        return false;
    }
    let (host_ok, port) = if hostport.first() == Some(&b'[') {
        let Some(close) = hostport.iter().position(|&c| c == b']') else {
            return false;
        };
        let literal = &hostport[1..close];
        let ok = std::str::from_utf8(literal).is_ok_and(is_ip_literal);
        (ok, &hostport[close + 1..])
    } else {
        match hostport.iter().position(|&c| c == b':') {
            Some(colon) => (reg_name(&hostport[..colon]), &hostport[colon..]),
            None => (reg_name(hostport), &hostport[hostport.len()..]),
        }
    };
    host_ok && (port.is_empty() || (port[0] == b':' && port[1..].iter().all(u8::is_ascii_digit)))
}

/// `reg-name`, which also covers `IPv4address`.
fn reg_name(s: &[u8]) -> bool {
    all_chars(s, |c| is_unreserved(c) || is_sub_delim(c))
}

/// The inside of `[...]`: an IPv6 address or `IPvFuture` (`v` HEX+ `.` chars+).
fn is_ip_literal(s: &str) -> bool {
    if let Some(future) = s.strip_prefix(['v', 'V']) {
        let Some((version, rest)) = future.split_once('.') else {
            return false;
        };
        return !version.is_empty()
            && version.bytes().all(|c| c.is_ascii_hexdigit())
            && !rest.is_empty()
            && rest
                .bytes()
                .all(|c| is_unreserved(c) || is_sub_delim(c) || c == b':');
    }
    is_ipv6_address(s)
}

/// True when `s` is a URI per RFC 3986 section 3 (an absolute URI with a scheme,
/// optionally with a fragment).
pub fn is_uri(s: &str) -> bool {
    let b = s.as_bytes();
    let Some(colon) = b.iter().position(|&c| c == b':') else {
        return false;
    };
    let scheme = &b[..colon];
    if scheme.is_empty()
        || !scheme[0].is_ascii_alphabetic()
        || !scheme
            .iter()
            .all(|&c| c.is_ascii_alphanumeric() || matches!(c, b'+' | b'-' | b'.'))
    {
        return false;
    }
    let mut rest = &b[colon + 1..];
    if let Some(hash) = rest.iter().position(|&c| c == b'#') {
        if !all_chars(&rest[hash + 1..], |c| is_pchar(c) || c == b'/' || c == b'?') {
            return false;
        }
        rest = &rest[..hash];
    }
    if let Some(q) = rest.iter().position(|&c| c == b'?') {
        if !all_chars(&rest[q + 1..], |c| is_pchar(c) || c == b'/' || c == b'?') {
            return false;
        }
        rest = &rest[..q];
    }
    match rest.strip_prefix(b"//") {
        Some(after) => {
            let end = after.iter().position(|&c| c == b'/').unwrap_or(after.len());
            is_authority(&after[..end]) && is_path(&after[end..])
        }
        None => is_path(rest),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uris() {
        for ok in [
            "http://ais-relay.example/nmea/feed?station=NLRTM",
            "https://attack.mitre.org/techniques/T1566/001/",
            "https://user:pw@example.com:8443/a%20b?x=1&y=2#frag",
            "ftp://ftp.example.com/pub/file.txt",
            "file:///etc/hosts",
            "mailto:soc@harbour-crc.example",
            "urn:oasis:names:specification:docbook:dtd:xml:4.1.2",
            "http://[2001:db8::7]/c=GB?objectClass?one",
            "http://[v7.fe80::1-en1]/",
            "tel:+1-816-555-1212",
            "http://192.0.2.16:80/",
            "news:comp.infosystems.www.servers.unix",
            "http://example.com",
            "x:",
        ] {
            assert!(is_uri(ok), "{ok}");
        }
        for bad in [
            "",
            "not a url",
            "example.com/path",
            "//example.com/path",
            "/relative/path",
            ":no-scheme",
            "1http://example.com",
            "ht tp://example.com",
            "http://exa mple.com/",
            "http://example.com/a b",
            "http://example.com/%zz",
            "http://example.com/%2",
            "http://example.com/%",
            "http://example.com:80a/",
            "http://[2001:db8:::1]/",
            "http://[2001:db8::1/",
            "http://example.com/#a#b",
            "http://example.com/<script>",
            "http://example.com/ü",
            "http://ex{ample.com/",
            "http://a@b@c/",
        ] {
            assert!(!is_uri(bad), "{bad}");
        }
    }
}
