//! The text typed after `/prod-access`: the parser never panics, depends only on the words, and
//! every command it returns reads back the same from its canonical spelling.

#![no_main]

use std::time::Duration;

use libfuzzer_sys::fuzz_target;
use prod_access::domain::command::{
    Command, ParseError, Part, RESERVED_WORDS, parse, parse_duration,
};

fuzz_target!(|text: &str| {
    check_duration(text);
    let words: Vec<&str> = text.split_whitespace().collect();
    let parsed = parse(text);
    assert_eq!(
        parse(&words.join(" ")),
        parsed,
        "{text:?}: the spacing between words changed the result"
    );
    match &parsed {
        Ok(command) => {
            check_words(command, &words);
            let canonical = render(command);
            assert_eq!(
                parse(&canonical),
                Ok(command.clone()),
                "{text:?} gave {command:?}, which spelled {canonical:?} reads differently"
            );
        }
        Err(ParseError::BadDuration(word)) => assert!(
            words.contains(&word.as_str()),
            "{text:?}: blamed {word:?}, which is not one of its words"
        ),
        Err(ParseError::Missing(what)) => {
            assert!(matches!(what, Part::GrantId | Part::Duration), "{what:?}")
        }
        Err(ParseError::ZeroDuration) => {}
    }
});

fn check_duration(text: &str) {
    match parse_duration(text) {
        Ok(duration) => {
            assert!(!duration.is_zero(), "{text:?} parsed as zero");
            assert_eq!(parse_duration(&render_duration(duration)), Ok(duration));
        }
        Err(ParseError::BadDuration(word)) => assert_eq!(word, text),
        Err(ParseError::ZeroDuration) => {}
        Err(other) => panic!("{text:?}: a duration cannot be {other:?}"),
    }
}

/// What each command must have been made of, stated from the words rather than from the parser.
fn check_words(command: &Command, words: &[&str]) {
    let first = words.first().map(|w| w.to_ascii_lowercase());
    let subcommand = |name: &str| first.as_deref() == Some(name);
    match command {
        Command::Form => assert!(
            words.is_empty()
                || (words.len() == 1 && !RESERVED_WORDS.contains(&first.as_deref().unwrap())),
            "{words:?} opened the form"
        ),
        Command::Help => assert!(subcommand("help")),
        Command::List => assert!(subcommand("list")),
        Command::Status { grant } => assert!(subcommand("status") && words[1] == grant),
        Command::Cancel { grant } => assert!(subcommand("cancel") && words[1] == grant),
        Command::Revoke { grant } => assert!(subcommand("revoke") && words[1] == grant),
        Command::Extend { grant, by } => {
            assert!(subcommand("extend") && words[1] == grant);
            assert!(!by.is_zero());
            assert_eq!(parse_duration(words[2]).as_ref(), Ok(by));
        }
        Command::Request(args) => {
            assert!(
                !RESERVED_WORDS.contains(&first.as_deref().unwrap()),
                "{words:?}: a subcommand read as a role"
            );
            assert_eq!(
                (args.role.as_str(), args.namespace.as_str()),
                (words[0], words[1])
            );
            let reason_from = match args.duration {
                Some(duration) => {
                    assert!(!duration.is_zero());
                    assert_eq!(parse_duration(words[2]), Ok(duration));
                    3
                }
                None => {
                    // A word that starts like a duration must have been read as one.
                    if let Some(third) = words.get(2) {
                        assert!(!third.starts_with(|c: char| c.is_ascii_digit() || c == '-'));
                    }
                    2
                }
            };
            assert_eq!(args.reason, words[reason_from.min(words.len())..].join(" "));
        }
    }
}

/// A spelling of the command, with case and whitespace varied where the parser must not care.
fn render(command: &Command) -> String {
    match command {
        Command::Form => String::new(),
        Command::Help => "help".into(),
        Command::List => "LIST".into(),
        Command::Status { grant } => format!("status {grant}"),
        Command::Cancel { grant } => format!("Cancel {grant}"),
        Command::Revoke { grant } => format!("revoke\t{grant}"),
        Command::Extend { grant, by } => format!("extend {grant} {}", render_duration(*by)),
        Command::Request(args) => {
            let mut text = format!("{} {}", args.role, args.namespace);
            if let Some(duration) = args.duration {
                text += &format!(" {}", render_duration(duration));
            }
            if !args.reason.is_empty() {
                text += &format!("\n{}", args.reason);
            }
            text
        }
    }
}

/// Seconds and nanoseconds, whatever units the user wrote.
fn render_duration(duration: Duration) -> String {
    match duration.subsec_nanos() {
        0 => format!("{}s", duration.as_secs()),
        nanos => format!("{}s{nanos}ns", duration.as_secs()),
    }
}
