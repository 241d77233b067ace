//! Parsing `/prod-access` commands: every form, and the errors that say what is allowed.

use super::*;

fn request(text: &str) -> RequestArgs {
    match parse(text) {
        Ok(Command::Request(args)) => args,
        other => panic!("expected a request from {text:?}, got {other:?}"),
    }
}

fn hours(h: u64) -> Option<Duration> {
    Some(Duration::from_secs(h * 3600))
}

#[test]
fn a_full_request_is_parsed() {
    let args = request("edit payments 2h fixing stuck queue");
    assert_eq!(args.role, "edit");
    assert_eq!(args.namespace, "payments");
    assert_eq!(args.duration, hours(2));
    assert_eq!(args.reason, "fixing stuck queue");
}

#[test]
fn extra_whitespace_is_folded_in_the_reason() {
    let args = request("  view   orders  30m   INC-123    stuck\tqueue ");
    assert_eq!(args.namespace, "orders");
    assert_eq!(args.duration, Some(Duration::from_secs(30 * 60)));
    assert_eq!(args.reason, "INC-123 stuck queue");
}

#[test]
fn compound_and_day_durations_are_accepted() {
    assert_eq!(
        request("edit a 1h30m r").duration,
        Some(Duration::from_secs(5400))
    );
    assert_eq!(request("edit a 1d r").duration, hours(24));
}

#[test]
fn the_duration_and_reason_may_be_left_out() {
    let args = request("edit payments INC-42 stuck queue");
    assert_eq!(args.duration, None);
    assert_eq!(args.reason, "INC-42 stuck queue");
    let args = request("edit payments");
    assert_eq!((args.duration, args.reason.as_str()), (None, ""));
    let args = request("edit payments 2h");
    assert_eq!((args.duration, args.reason.as_str()), (hours(2), ""));
}

#[test]
fn nothing_or_a_lone_role_opens_the_form() {
    assert_eq!(parse(""), Ok(Command::Form));
    assert_eq!(parse("   "), Ok(Command::Form));
    assert_eq!(parse("edit"), Ok(Command::Form));
}

#[test]
fn subcommands_are_recognised_in_any_case() {
    assert_eq!(parse("help"), Ok(Command::Help));
    assert_eq!(parse("HELP me"), Ok(Command::Help));
    assert_eq!(parse("list"), Ok(Command::List));
    assert_eq!(
        parse("status abc"),
        Ok(Command::Status {
            grant: "abc".into()
        })
    );
    assert_eq!(
        parse("Cancel abc"),
        Ok(Command::Cancel {
            grant: "abc".into()
        })
    );
    assert_eq!(
        parse("revoke abc"),
        Ok(Command::Revoke {
            grant: "abc".into()
        })
    );
    assert_eq!(
        parse("extend abc 30m"),
        Ok(Command::Extend {
            grant: "abc".into(),
            by: Duration::from_secs(1800)
        })
    );
}

#[test]
fn subcommands_name_what_is_missing() {
    assert_eq!(parse("status"), Err(ParseError::Missing(Part::GrantId)));
    assert_eq!(parse("cancel"), Err(ParseError::Missing(Part::GrantId)));
    assert_eq!(parse("revoke"), Err(ParseError::Missing(Part::GrantId)));
    assert_eq!(parse("extend"), Err(ParseError::Missing(Part::GrantId)));
    assert_eq!(
        parse("extend abc"),
        Err(ParseError::Missing(Part::Duration))
    );
    assert_eq!(
        parse("extend abc later"),
        Err(ParseError::BadDuration("later".into()))
    );
}

#[test]
fn bad_durations_are_refused_not_taken_as_reason() {
    for (text, bad) in [
        ("edit payments 2 because", "2"),
        ("edit payments 2hx because", "2hx"),
        ("edit payments -1h because", "-1h"),
    ] {
        assert_eq!(
            parse(text),
            Err(ParseError::BadDuration(bad.into())),
            "{text}"
        );
    }
    assert_eq!(
        parse("edit payments 0s because"),
        Err(ParseError::ZeroDuration)
    );
}

#[test]
fn every_reserved_word_is_a_subcommand() {
    for word in RESERVED_WORDS {
        let parsed = parse(&format!("{word} abc 1h"));
        assert!(
            !matches!(parsed, Ok(Command::Request(_)) | Ok(Command::Form)),
            "{word}: {parsed:?}"
        );
    }
}

proptest::proptest! {
    #[test]
    fn the_parser_never_panics(text in "\\PC*") {
        let _ = parse(&text);
    }

    #[test]
    fn well_formed_requests_round_trip(
        role in "[a-z][a-z0-9-]{0,15}",
        namespace in "[a-z][a-z0-9-]{0,15}",
        minutes in 1u64..10_000,
        reason in "[A-Za-z-][A-Za-z0-9-]{0,9}( [A-Za-z0-9-]{1,10}){0,5}",
    ) {
        proptest::prop_assume!(!RESERVED_WORDS.contains(&role.as_str()));
        let args = request(&format!("{role} {namespace} {minutes}m {reason}"));
        proptest::prop_assert_eq!(args.role, role);
        proptest::prop_assert_eq!(args.namespace, namespace);
        proptest::prop_assert_eq!(args.duration, Some(Duration::from_secs(minutes * 60)));
        proptest::prop_assert_eq!(args.reason, reason);
    }
}
