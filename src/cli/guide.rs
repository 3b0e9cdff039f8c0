//! Errors that say what to do: near-match suggestions for unknown members
//! and collections, the rule for names, and where the configuration was
//! looked for.

use std::path::Path;

use crate::exchange::{Exchange, ExchangeError};
use crate::store::{Collection, Member};

/// Edit distance (insertions, deletions, substitutions), on characters.
fn distance(a: &str, b: &str) -> usize {
    let b: Vec<char> = b.chars().collect();
    let mut row: Vec<usize> = (0..=b.len()).collect();
    for (i, ca) in a.chars().enumerate() {
        let mut diagonal = row[0];
        row[0] = i + 1;
        for (j, cb) in b.iter().enumerate() {
            let above = row[j + 1];
            row[j + 1] = if ca == *cb {
                diagonal
            } else {
                1 + diagonal.min(above).min(row[j])
            };
            diagonal = above;
        }
    }
    row[b.len()]
}

/// The candidates close to `wanted`, closest first: a few typos away, or
/// differing only in case, or one starting with the other.
pub fn near_matches<'a>(
    wanted: &str,
    candidates: impl IntoIterator<Item = &'a str>,
) -> Vec<&'a str> {
    let wanted_lower = wanted.to_lowercase();
    let budget = (wanted.chars().count() / 3).clamp(1, 3);
    let mut scored: Vec<(usize, &str)> = candidates
        .into_iter()
        .filter_map(|c| {
            let lower = c.to_lowercase();
            let prefix = wanted_lower.len() >= 3
                && (lower.starts_with(&wanted_lower) || wanted_lower.starts_with(&lower));
            // One name starting with the other counts as one typo away.
            let d = distance(&wanted_lower, &lower).min(if prefix { 1 } else { usize::MAX });
            (d <= budget).then_some((d, c))
        })
        .collect();
    scored.sort();
    scored.dedup_by(|a, b| a.1 == b.1);
    // Only the closest: "tlp-gren" suggests tlp-green, not tlp-red as well.
    let best = scored.first().map(|(d, _)| *d).unwrap_or(0);
    scored
        .into_iter()
        .take_while(|(d, _)| *d == best)
        .take(3)
        .map(|(_, c)| c)
        .collect()
}

/// "a", "a or b", "a, b or c".
fn alternatives(items: &[&str]) -> String {
    match items {
        [] => String::new(),
        [one] => one.to_string(),
        [init @ .., last] => format!("{} or {last}", init.join(", ")),
    }
}

/// "KIND 'WANTED' not found; did you mean X?" or, with no near match, the
/// command that lists them.
pub fn not_found(kind: &str, wanted: &str, near: &[&str], list_command: &str) -> String {
    if near.is_empty() {
        format!("{kind} '{wanted}' not found; `{list_command}` shows them all")
    } else {
        format!(
            "{kind} '{wanted}' not found; did you mean {}?",
            alternatives(near)
        )
    }
}

/// A member by name, or an error naming the near matches.
pub fn member(ex: &Exchange, name: &str) -> anyhow::Result<Member> {
    match ex.member(name) {
        Ok(m) => Ok(m),
        Err(ExchangeError::NotFound(_)) => {
            let members = ex.store().members()?;
            let near = near_matches(name, members.iter().map(|m| m.name.as_str()));
            anyhow::bail!(not_found("member", name, &near, "breakwater members list"))
        }
        Err(e) => Err(e.into()),
    }
}

/// A collection by id or alias, or an error naming the near matches.
pub fn collection(ex: &Exchange, id_or_alias: &str) -> anyhow::Result<Collection> {
    match ex.find_collection(id_or_alias) {
        Ok(c) => Ok(c),
        Err(ExchangeError::NotFound(_)) => {
            let all = ex.store().collections()?;
            let ids: Vec<String> = all.iter().map(|c| c.id.to_string()).collect();
            let candidates = all
                .iter()
                .filter_map(|c| c.alias.as_deref())
                .chain(ids.iter().map(String::as_str));
            let near = near_matches(id_or_alias, candidates);
            anyhow::bail!(not_found(
                "collection",
                id_or_alias,
                &near,
                "breakwater collections list"
            ))
        }
        Err(e) => Err(e.into()),
    }
}

/// Names that end up in URLs, file names and certificates: member names,
/// collection aliases and API root names.
pub const NAME_RULE: &str = "lower-case letters, digits, '.', '_' and '-', starting with a letter or digit, at most 64 characters";

pub fn check_name(kind: &str, name: &str, example: &str) -> anyhow::Result<()> {
    let mut chars = name.chars();
    let first_ok = chars
        .next()
        .is_some_and(|c| c.is_ascii_lowercase() || c.is_ascii_digit());
    let rest_ok = chars.all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || ".-_".contains(c));
    if first_ok && rest_ok && name.len() <= 64 {
        Ok(())
    } else {
        anyhow::bail!("'{name}' cannot be {kind}: use {NAME_RULE}, e.g. {example}")
    }
}

/// Where the configuration path came from, for messages.
pub enum ConfigSource {
    Default,
    Flag,
    Environment,
}

/// The error for a configuration file that is not there: where it looked,
/// how to point elsewhere, and only then `init` (which makes a new CA).
pub fn missing_config(path: &Path, source: ConfigSource) -> String {
    let shown = std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf());
    let origin = match source {
        ConfigSource::Default => "the default location",
        ConfigSource::Flag => "given by --config",
        ConfigSource::Environment => "given by BREAKWATER_CONFIG",
    };
    if path.is_dir() {
        return format!(
            "{} ({origin}) is a directory; pass the configuration file inside it, e.g. --config {}",
            shown.display(),
            shown.join(crate::config::FILE_NAME).display()
        );
    }
    format!(
        "no configuration at {} ({origin}); if the data directory is elsewhere, pass --config DIR/breakwater.toml or set BREAKWATER_CONFIG, otherwise create one with `breakwater init`",
        shown.display()
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn suggests_close_names_only() {
        let names = [
            "tlp-clear",
            "tlp-green",
            "tlp-amber",
            "tlp-amber-strict",
            "tlp-red",
        ];
        assert_eq!(near_matches("tlp-gren", names), ["tlp-green"]);
        assert_eq!(near_matches("TLP-RED", names), ["tlp-red"]);
        assert_eq!(near_matches("tlp-amber+", names), ["tlp-amber"]);
        assert_eq!(
            near_matches("tlp-amb", names),
            ["tlp-amber", "tlp-amber-strict"]
        );
        assert!(near_matches("shipping", names).is_empty());
        assert_eq!(
            not_found("collection", "tlp-gren", &["tlp-green"], "x"),
            "collection 'tlp-gren' not found; did you mean tlp-green?"
        );
        assert_eq!(alternatives(&["a", "b", "c"]), "a, b or c");
    }

    #[test]
    fn names_follow_the_rule() {
        for ok in ["evergreen-line", "rail.co", "a", "7seas_shipping"] {
            check_name("a member name", ok, "x").unwrap();
        }
        for bad in [
            "Bad Name!",
            "",
            "-lead",
            "Evergreen",
            "a/b",
            "ünï",
            &"a".repeat(65),
        ] {
            let err = check_name("a member name", bad, "evergreen-line")
                .unwrap_err()
                .to_string();
            assert!(err.contains(NAME_RULE), "{err}");
        }
    }
}
