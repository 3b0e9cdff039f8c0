//! Indicator patterns: when `pattern_type` is `stix`, `pattern` must parse under the
//! STIX patterning grammar (spec 2.1 section 9). Rule: `pattern-syntax`.

use super::Ctx;
use crate::stix::pattern;
use crate::stix::violation::Violation;

pub(crate) fn check(ctx: &Ctx<'_>, out: &mut Vec<Violation>) {
    if ctx.t != "indicator" || ctx.str("pattern_type") != Some("stix") {
        return;
    }
    let Some(p) = ctx.str("pattern") else { return };
    if let Err(e) = pattern::parse(p) {
        out.push(Violation::new(
            "pattern-syntax",
            ctx.path("pattern").into_string(),
            e.to_string(),
        ));
    }
}

#[cfg(test)]
mod tests {
    use crate::stix::rules::test_support::*;

    #[test]
    fn indicator_pattern_is_parsed() {
        let mut o = indicator();
        o["pattern"] = "[file:name = 'a.exe' AND [file:size > 10]".into();
        assert_eq!(rules(&o), vec!["pattern-syntax"]);
        o["pattern"] = "[file:name = 'a.exe'".into();
        assert_eq!(
            messages(&o),
            vec!["indicator.pattern: unbalanced '[' at column 1"]
        );
        o["pattern_type"] = "sigma".into();
        assert!(
            rules(&o).is_empty(),
            "other pattern languages are not parsed"
        );
    }
}
