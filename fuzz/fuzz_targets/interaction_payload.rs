//! Arbitrary bytes as a verified body on `POST /slack/interactions`: the decoder the endpoint
//! runs never panics, and whatever it accepts it reads the same way again.

#![no_main]

use libfuzzer_sys::fuzz_target;
use prod_access::slack::interaction::{self, Interaction};

fuzz_target!(|body: &[u8]| {
    let Ok(event) = interaction::event(body) else {
        return;
    };
    let decoded = interaction::from_event(event.clone());
    // Slack's event types derive both directions; what we accepted must survive a round trip, or
    // a payload's meaning would depend on details the bot never looks at.
    let json = serde_json::to_string(&event).expect("an event serializes");
    let again: Result<_, _> = serde_json::from_str(&json).map(interaction::from_event);
    match (&decoded, again) {
        (
            Ok(Interaction::Click {
                user,
                channel,
                click,
            }),
            Ok(Ok(Interaction::Click {
                user: u,
                channel: c,
                click: k,
            })),
        ) => {
            assert_eq!((user, channel, click), (&u, &c, &k));
        }
        (Ok(Interaction::Form { user, form }), Ok(Ok(Interaction::Form { user: u, form: f }))) => {
            assert_eq!(user, &u);
            assert_eq!(format!("{form:?}"), format!("{f:?}"));
        }
        (Ok(Interaction::Ignored), Ok(Ok(Interaction::Ignored))) | (Err(_), Ok(Err(_))) => {}
        (first, second) => panic!("read {first:?}, then {second:?} after a round trip"),
    }
});
