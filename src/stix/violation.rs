//! The result type of validation: one [`Violation`] per broken rule.

use std::fmt;

/// One broken rule in one object.
///
/// `rule` is a stable kebab-case identifier (see [`crate::stix::RULE_IDS`]); `path`
/// starts with the object's type, e.g. `indicator.valid_until`, and `message` says
/// what is wrong in plain words.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub path: String,
    pub message: String,
}

impl Violation {
    pub fn new(rule: &'static str, path: impl Into<String>, message: impl Into<String>) -> Self {
        Violation {
            rule,
            path: path.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

/// Every violation found in one object, in the order the checks found them.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Violations(pub Vec<Violation>);

impl Violations {
    /// True when some violation carries `rule`.
    pub fn has_rule(&self, rule: &str) -> bool {
        self.0.iter().any(|v| v.rule == rule)
    }
}

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            write!(f, "{v}")?;
        }
        Ok(())
    }
}

impl std::error::Error for Violations {}

/// Builds dotted paths such as `file.extensions.ntfs-ext.alternate_data_streams[0].name`.
#[derive(Debug, Clone)]
pub(crate) struct Path(String);

impl Path {
    pub(crate) fn root(object_type: &str) -> Path {
        Path(object_type.to_owned())
    }
    pub(crate) fn key(&self, key: &str) -> Path {
        let mut s = String::with_capacity(self.0.len() + key.len() + 1);
        s.push_str(&self.0);
        s.push('.');
        s.push_str(key);
        Path(s)
    }
    pub(crate) fn index(&self, i: usize) -> Path {
        Path(format!("{}[{i}]", self.0))
    }
    pub(crate) fn as_str(&self) -> &str {
        &self.0
    }
    pub(crate) fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn display_joins_with_semicolons() {
        let v = Violations(vec![
            Violation::new(
                "time-order",
                "indicator.valid_until",
                "must be later than valid_from",
            ),
            Violation::new("schema", "indicator.name", "must be a string"),
        ]);
        assert_eq!(
            v.to_string(),
            "indicator.valid_until: must be later than valid_from; indicator.name: must be a string"
        );
        assert!(v.has_rule("schema"));
        assert!(!v.has_rule("id-format"));
    }

    #[test]
    fn paths_render_keys_and_indexes() {
        let p = Path::root("file")
            .key("extensions")
            .key("ntfs-ext")
            .key("alternate_data_streams")
            .index(0);
        assert_eq!(
            p.as_str(),
            "file.extensions.ntfs-ext.alternate_data_streams[0]"
        );
    }
}
