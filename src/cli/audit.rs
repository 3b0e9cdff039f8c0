use super::{Ctx, print_json, table};
use crate::model::Timestamp;
use crate::store::AuditQuery;

#[derive(clap::Args, Debug)]
pub struct AuditArgs {
    /// Only events of this member.
    #[arg(long)]
    member: Option<String>,
    /// Only events at or after this RFC 3339 timestamp.
    #[arg(long, value_parser = |s: &str| Timestamp::parse(s).map_err(|e| e.to_string()))]
    since: Option<Timestamp>,
    /// At most this many events (0: all).
    #[arg(long, default_value_t = 0)]
    limit: usize,
    #[arg(long)]
    json: bool,
}

pub fn run(ctx: &Ctx, args: AuditArgs) -> anyhow::Result<bool> {
    let events = ctx.exchange.store().audit(&AuditQuery {
        member: args.member,
        since: args.since,
        limit: args.limit,
    })?;
    if args.json {
        print_json(&events)?;
    } else {
        table(
            &[
                "AT",
                "MEMBER",
                "ACTION",
                "COLLECTION",
                "OBJECTS",
                "OUTCOME",
                "DETAIL",
            ],
            events.iter().map(|e| {
                vec![
                    e.at.to_string(),
                    e.member.clone().unwrap_or_else(|| "-".into()),
                    e.action.clone(),
                    e.collection.clone().unwrap_or_else(|| "-".into()),
                    e.objects
                        .map(|n| n.to_string())
                        .unwrap_or_else(|| "-".into()),
                    e.outcome.clone(),
                    e.detail.clone().unwrap_or_default(),
                ]
            }),
        );
    }
    Ok(true)
}
