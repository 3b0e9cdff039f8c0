//! CPE 2.3 formatted strings (NISTIR 7695, section 6.2), the form `software.cpe`
//! must take (spec 2.1 section 6.14):
//! `cpe:2.3:part:vendor:product:version:update:edition:language:sw_edition:target_sw:target_hw:other`.
//!
//! Every component is `*` (ANY), `-` (NA) or a value of letters, digits, `-`, `.`
//! and `_`, where any other printable character is quoted with a backslash; an
//! unquoted `*` may stand at either end and unquoted `?` runs may too. `part` is
//! `a`, `o` or `h`; `language` is a language code with an optional region.

/// Splits at the colons that are not quoted with a backslash into at most 11
/// components, and counts them all; `None` when a backslash ends the string.
fn components(s: &str) -> Option<([&str; 11], usize)> {
    let b = s.as_bytes();
    let mut out = [""; 11];
    let mut n = 0;
    let mut start = 0;
    let mut i = 0;
    while i < b.len() {
        match b[i] {
            b'\\' => {
                if i + 1 >= b.len() {
                    return None;
                }
                i += 2;
            }
            b':' => {
                if n < out.len() {
                    out[n] = &s[start..i];
                }
                n += 1;
                i += 1;
                start = i;
            }
            _ => i += 1,
        }
    }
    if n < out.len() {
        out[n] = &s[start..];
    }
    Some((out, n + 1))
}

/// An attribute value (`avstring`) or one of the logical values `*` and `-`.
fn is_value(v: &str) -> bool {
    if v == "*" || v == "-" {
        return true;
    }
    let b = v.as_bytes();
    // Leading wildcards: one `*` or a run of `?`.
    let mut i = 0;
    if b.first() == Some(&b'*') {
        i = 1;
    } else {
        while b.get(i) == Some(&b'?') {
            i += 1;
        }
    }
    let mut body = 0;
    while i < b.len() {
        match b[i] {
            c if c.is_ascii_alphanumeric() || matches!(c, b'-' | b'.' | b'_') => {
                i += 1;
                body += 1;
            }
            b'\\' => match b.get(i + 1) {
                Some(q) if q.is_ascii_graphic() && !q.is_ascii_alphanumeric() => {
                    i += 2;
                    body += 1;
                }
                _ => return false,
            },
            // Trailing wildcards end the value.
            b'*' => return body > 0 && i + 1 == b.len(),
            b'?' => return body > 0 && b[i..].iter().all(|&c| c == b'?'),
            _ => return false,
        }
    }
    body > 0
}

/// The language component: `*`, `-`, or a two- or three-letter code with an
/// optional region of two letters or three digits.
fn is_language(v: &str) -> bool {
    if v == "*" || v == "-" {
        return true;
    }
    let (lang, region) = match v.split_once("\\-").or_else(|| v.split_once('-')) {
        Some((l, r)) => (l, Some(r)),
        None => (v, None),
    };
    (2..=3).contains(&lang.len())
        && lang.bytes().all(|c| c.is_ascii_alphabetic())
        && region.is_none_or(|r| {
            (r.len() == 2 && r.bytes().all(|c| c.is_ascii_alphabetic()))
                || (r.len() == 3 && r.bytes().all(|c| c.is_ascii_digit()))
        })
}

/// Why `s` is not a CPE 2.3 formatted string, or `Ok`.
pub fn check_cpe23(s: &str) -> Result<(), &'static str> {
    let Some(rest) = s.strip_prefix("cpe:2.3:") else {
        return Err("must begin with cpe:2.3: (the CPE 2.3 formatted string, not the 2.2 URI)");
    };
    let (parts, count) = components(rest).ok_or("ends with an unfinished backslash escape")?;
    if count != 11 {
        return Err(
            "must have 13 colon-separated components: cpe, 2.3, part, vendor, product, version, update, edition, language, sw_edition, target_sw, target_hw, other",
        );
    }
    if !matches!(parts[0], "a" | "o" | "h" | "*" | "-") {
        return Err("has a part other than a, o or h");
    }
    if !is_language(parts[6]) {
        return Err("has a language component that is not a language code such as en or en\\-us");
    }
    if parts
        .iter()
        .enumerate()
        .any(|(i, p)| i != 0 && i != 6 && !is_value(p))
    {
        return Err(
            "has a component with an unquoted special character (quote it with a backslash) or an empty component",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn formatted_strings() {
        for ok in [
            "cpe:2.3:o:fedoraproject:fedora:29:*:*:*:*:*:*:*",
            "cpe:2.3:o:microsoft:windows_server_2019:-:*:*:*:*:*:*:*",
            "cpe:2.3:a:microsoft:internet_explorer:8.0.6001:beta:*:*:*:*:*:*",
            "cpe:2.3:a:hp:insight_diagnostics:7.4.0.1570:-:*:*:online:win2003:x64:*",
            "cpe:2.3:a:foo\\\\bar:big\\$money_manager_2010:*:*:*:en\\-us:*:*:*:*",
            "cpe:2.3:a:apache:http_server:2.4.*:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product:1.?:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product:??1:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product\\:x:1.0:*:*:en:*:*:*:*",
            "cpe:2.3:a:vendor:product:1.0:*:*:pt-BR:*:*:*:*",
            "cpe:2.3:a:vendor:product:1.0:*:*:es\\-419:*:*:*:*",
            "cpe:2.3:h:cisco:ios_xe:-:*:*:*:*:*:*:*",
            "cpe:2.3:*:*:*:*:*:*:*:*:*:*:*",
        ] {
            assert_eq!(check_cpe23(ok), Ok(()), "{ok}");
        }
        for bad in [
            "",
            "cpe:/a:microsoft:internet_explorer:8.0.6001:beta",
            "cpe:2.3:a:microsoft:internet_explorer",
            "cpe:2.3:a:microsoft:internet_explorer:8.0:*:*:*:*:*:*",
            "cpe:2.3:a:microsoft:internet_explorer:8.0:*:*:*:*:*:*:*:*",
            "cpe:2.3:x:microsoft:internet_explorer:8.0:*:*:*:*:*:*:*",
            "cpe:2.3:a:micro soft:ie:8.0:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product:1.0:*:*:english:*:*:*:*",
            "cpe:2.3:a:vendor::1.0:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:pro*duct:1.0:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product:**:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product:1.0!:*:*:*:*:*:*:*",
            "cpe:2.3:a:vendor:product:1.0:*:*:*:*:*:*:x\\",
            "CPE:2.3:a:vendor:product:1.0:*:*:*:*:*:*:*",
            "cpe:2.2:a:vendor:product:1.0:*:*:*:*:*:*:*",
        ] {
            assert!(check_cpe23(bad).is_err(), "{bad}");
        }
    }
}
