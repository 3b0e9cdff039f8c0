//! STIX 2.1 validation (pure: no I/O).

use std::fmt;

use serde_json::Value;

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violation {
    pub rule: &'static str,
    pub path: String,
    pub message: String,
}

impl fmt::Display for Violation {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{}: {}", self.path, self.message)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Violations(pub Vec<Violation>);

impl fmt::Display for Violations {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        for (i, v) in self.0.iter().enumerate() {
            if i > 0 {
                f.write_str("; ")?;
            }
            v.fmt(f)?;
        }
        Ok(())
    }
}

#[derive(Debug, Default)]
pub struct Validator;

impl Validator {
    pub fn new() -> Validator {
        Validator
    }

    pub fn validate(&self, object: &Value) -> Result<(), Violations> {
        let ty = object
            .get("type")
            .and_then(Value::as_str)
            .unwrap_or("object");
        let mut v = Vec::new();
        if object.get("id").and_then(Value::as_str).is_none() {
            v.push(Violation {
                rule: "schema",
                path: format!("{ty}.id"),
                message: "required".into(),
            });
        }
        if v.is_empty() {
            Ok(())
        } else {
            Err(Violations(v))
        }
    }
}
