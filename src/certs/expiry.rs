//! When certificates run out: the server's, the community CA's and the
//! members'. Pure: the caller passes the time and says what to look at.

use chrono::{DateTime, Utc};
use serde::Serialize;

/// Which certificate an [`Expiry`] is about.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum CertKind {
    Server,
    Ca,
    Member,
}

impl CertKind {
    pub fn as_str(self) -> &'static str {
        match self {
            CertKind::Server => "server",
            CertKind::Ca => "ca",
            CertKind::Member => "member",
        }
    }
}

/// One certificate and the end of its validity.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct Expiry {
    pub kind: CertKind,
    /// The member's name, the server's first host name, or the CA's common name.
    pub name: String,
    pub fingerprint: String,
    pub not_after: DateTime<Utc>,
}

/// Certificates are checked against this many days by the server's warnings.
pub const WARN_DAYS: i64 = 30;

impl Expiry {
    /// Seconds from `now` until the certificate expires (negative once expired).
    pub fn seconds_left(&self, now: DateTime<Utc>) -> i64 {
        (self.not_after - now).num_seconds()
    }

    /// Whether it expires within `days` days of `now` (or has expired).
    pub fn within(&self, now: DateTime<Utc>, days: i64) -> bool {
        self.not_after <= now + chrono::Duration::days(days)
    }

    /// One sentence for the log or the terminal, with what to do.
    pub fn describe(&self, now: DateTime<Utc>) -> String {
        let what = match self.kind {
            CertKind::Server => format!("the server certificate ({})", self.name),
            CertKind::Ca => format!("the community CA certificate ({})", self.name),
            CertKind::Member => format!(
                "the certificate {} of member {}",
                short(&self.fingerprint),
                self.name
            ),
        };
        let when = self.not_after.format("%Y-%m-%d %H:%M UTC");
        let left = self.seconds_left(now);
        let days = left.div_euclid(86_400);
        let span = if left < 0 {
            format!("expired on {when}")
        } else if days == 0 {
            format!("expires today, at {when}")
        } else if days == 1 {
            format!("expires in 1 day, on {when}")
        } else {
            format!("expires in {days} days, on {when}")
        };
        let todo = match self.kind {
            CertKind::Server => "reissue it with `breakwater certs server` and send SIGHUP",
            CertKind::Ca => {
                "plan a new community CA: every member certificate must be reissued under it"
            }
            CertKind::Member => "issue a new one with `breakwater certs issue` and hand it over",
        };
        format!("{what} {span}; {todo}")
    }
}

/// The first 16 hex digits of a fingerprint: enough to tell certificates apart.
fn short(fingerprint: &str) -> &str {
    fingerprint.get(..16).unwrap_or(fingerprint)
}

/// The certificates expiring within `days` days of `now`, soonest first.
pub fn expiring(all: &[Expiry], now: DateTime<Utc>, days: i64) -> Vec<&Expiry> {
    let mut soon: Vec<&Expiry> = all.iter().filter(|e| e.within(now, days)).collect();
    soon.sort_by_key(|e| e.not_after);
    soon
}

#[cfg(test)]
mod tests {
    use super::*;

    fn expiry(kind: CertKind, days: i64, now: DateTime<Utc>) -> Expiry {
        Expiry {
            kind,
            name: "evergreen-line".into(),
            fingerprint: "ab".repeat(32),
            not_after: now + chrono::Duration::days(days) + chrono::Duration::hours(1),
        }
    }

    #[test]
    fn finds_what_expires_within_the_window_soonest_first() {
        let now = Utc::now();
        let all = vec![
            expiry(CertKind::Member, 40, now),
            expiry(CertKind::Server, 12, now),
            expiry(CertKind::Ca, 29, now),
            expiry(CertKind::Member, -2, now),
        ];
        let soon: Vec<i64> = expiring(&all, now, WARN_DAYS)
            .iter()
            .map(|e| e.seconds_left(now).div_euclid(86_400))
            .collect();
        assert_eq!(soon, [-2, 12, 29]);
        let text = all[1].describe(now);
        assert!(
            text.starts_with("the server certificate (evergreen-line) expires in 12 days, on "),
            "{text}"
        );
        assert!(text.contains("certs server"), "{text}");
        let text = all[3].describe(now);
        assert!(
            text.starts_with(
                "the certificate abababababababab of member evergreen-line expired on"
            ),
            "{text}"
        );
    }
}
