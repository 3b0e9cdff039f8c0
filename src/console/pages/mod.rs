//! One module per page. Each handler resolves the viewer, asks the policy
//! for tokens, reads through `exchange` on a blocking thread and renders.

pub mod audit;
pub mod browse;
pub mod members;
pub mod object;
pub mod overview;
pub mod submissions;

use serde::de::DeserializeOwned;

use super::ConsoleError;

/// A page's query string; an unparsable one is a 400 page, not a 500.
pub(crate) fn query<T: DeserializeOwned>(text: &str) -> Result<T, ConsoleError> {
    serde_urlencoded::from_str(text)
        .map_err(|e| ConsoleError::BadRequest(format!("the query string is not understood: {e}")))
}

/// A filter field: absent and empty are the same.
pub(crate) fn given(value: &Option<String>) -> Option<String> {
    value
        .as_deref()
        .map(str::trim)
        .filter(|v| !v.is_empty())
        .map(str::to_string)
}

/// A time filter field, or a 400 naming the field.
pub(crate) fn time_field(
    name: &str,
    value: &Option<String>,
) -> Result<Option<crate::model::Timestamp>, ConsoleError> {
    given(value)
        .map(|v| {
            super::layout::parse_time(&v).ok_or_else(|| {
                ConsoleError::BadRequest(format!(
                    "{name}: '{v}' is not a time (use 2026-03-02T08:15 or RFC 3339)"
                ))
            })
        })
        .transpose()
}

/// A query string from pairs, without the empty ones.
pub(crate) fn query_string(pairs: &[(&str, Option<String>)]) -> String {
    let kept: Vec<(&str, &str)> = pairs
        .iter()
        .filter_map(|(k, v)| v.as_deref().filter(|v| !v.is_empty()).map(|v| (*k, v)))
        .collect();
    serde_urlencoded::to_string(kept).unwrap_or_default()
}
