//! Conference event package tests: RFC examples, escaping, roster notifications, client merge.

use super::*;

/// RFC 7701 §9.6 Figure 7.
const RFC7701_FIG7: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
  <conference-info
   xmlns="urn:ietf:params:xml:ns:conference-info"
   xmlns:xcon="urn:ietf:params:xml:ns:xcon-conference-info"
   entity="sip:chatroom22@chat.example.com"
   state="full" version="1">
  <!--
    CONFERENCE INFO
  -->
   <conference-description>
     <subject>MSRP nickname example</subject>
    </conference-description>
  <!--
     CONFERENCE STATE
  -->
   <conference-state>
    <user-count>2</user-count>
   </conference-state>
  <!--
    USERS
  -->
   <users>
     <user entity="sip:bob@example.com"
           state="full"
           xcon:nickname="Dopey Donkey">
        <display-text>Bob Hoskins</display-text>
     </user>
  <!--
    USER
  -->
     <user entity="sip:alice@atlanta.example.com"
          state="full"
          xcon:nickname="Alice the great">
        <display-text>Alice Kay</display-text>
     </user>
   </users>
  </conference-info>"#;

/// RFC 4575 §7.1 (basic example).
const RFC4575_BASIC: &str = r#"<?xml version="1.0" encoding="UTF-8"?>
   <conference-info
    xmlns="urn:ietf:params:xml:ns:conference-info"
    entity="sips:conf233@example.com"
    state="full" version="1">
    <conference-description>
     <subject>Agenda: This month's goals</subject>
      <service-uris>
       <entry>
        <uri>http://sharepoint/salesgroup/</uri>
        <purpose>web-page</purpose>
       </entry>
      </service-uris>
     </conference-description>
    <conference-state>
     <user-count>33</user-count>
    </conference-state>
    <users>
     <user entity="sip:bob@example.com" state="full">
      <display-text>Bob Hoskins</display-text>
      <endpoint entity="sip:bob@pc33.example.com">
       <display-text>Bob's Laptop</display-text>
       <status>disconnected</status>
       <disconnection-method>departed</disconnection-method>
       <disconnection-info>
        <when>2005-03-04T20:00:00Z</when>
        <reason>bad voice quality</reason>
        <by>sip:mike@example.com</by>
       </disconnection-info>
       <media id="1">
        <display-text>main audio</display-text>
        <type>audio</type>
        <label>34567</label>
        <src-id>432424</src-id>
        <status>sendrecv</status>
       </media>
      </endpoint>
     </user>
     <user entity="sip:alice@example.com" state="full">
      <display-text>Alice</display-text>
      <endpoint entity="sip:4kfk4j392jsu@example.com;grid=433kj4j3u">
       <status>connected</status>
       <joining-method>dialed-out</joining-method>
       <joining-info>
        <when>2005-03-04T20:00:00Z</when>
        <by>sip:mike@example.com</by>
       </joining-info>
       <media id="1">
        <display-text>main audio</display-text>
        <type>audio</type>
        <label>34567</label>
        <src-id>534232</src-id>
        <status>sendrecv</status>
       </media>
      </endpoint>
     </user>
    </users>
   </conference-info>"#;

#[test]
fn parses_rfc_7701_figure_7() {
    let doc = parse_conference_info(RFC7701_FIG7.as_bytes()).unwrap();
    assert_eq!(doc.entity, "sip:chatroom22@chat.example.com");
    assert_eq!((doc.state, doc.version), (ElementState::Full, Some(1)));
    assert_eq!(
        doc.description.as_ref().unwrap().subject.as_deref(),
        Some("MSRP nickname example")
    );
    assert_eq!(doc.conference_state.unwrap().user_count, Some(2));
    let users = &doc.users.as_ref().unwrap().users;
    assert_eq!(users.len(), 2);
    assert_eq!(users[0].entity, "sip:bob@example.com");
    assert_eq!(users[0].nickname.as_deref(), Some("Dopey Donkey"));
    assert_eq!(users[0].display_text.as_deref(), Some("Bob Hoskins"));
    assert_eq!(users[1].nickname.as_deref(), Some("Alice the great"));
    // Our serialization of it parses back to the same document.
    let again = parse_conference_info(to_xml(&doc).as_bytes()).unwrap();
    assert_eq!(again, doc);
    let mut roster = ClientRoster::new();
    roster.apply(&doc).unwrap();
    assert_eq!(
        roster.find_by_nickname("dopey   DONKEY").unwrap().entity,
        "sip:bob@example.com"
    );
}

#[test]
fn parses_rfc_4575_basic_example() {
    let doc = parse_conference_info(RFC4575_BASIC.as_bytes()).unwrap();
    let d = doc.description.as_ref().unwrap();
    assert_eq!(d.subject.as_deref(), Some("Agenda: This month's goals"));
    assert_eq!(d.service_uris[0].purpose.as_deref(), Some("web-page"));
    let users = &doc.users.as_ref().unwrap().users;
    let bob = &users[0].endpoints[0];
    assert_eq!(bob.status, Some(EndpointStatus::Disconnected));
    assert_eq!(
        bob.disconnection_method,
        Some(DisconnectionMethod::Departed)
    );
    assert_eq!(bob.media[0].status, Some(MediaStatus::SendRecv));
    assert_eq!(bob.media[0].src_id.as_deref(), Some("432424"));
    let alice = &users[1].endpoints[0];
    assert_eq!(
        alice.entity.as_deref(),
        Some("sip:4kfk4j392jsu@example.com;grid=433kj4j3u")
    );
    assert_eq!(alice.joining_method, Some(JoiningMethod::DialedOut));
    assert_eq!(parse_conference_info(to_xml(&doc).as_bytes()).unwrap(), doc);
}

#[test]
fn everything_is_escaped() {
    let evil = "a\"b'c<d>e&f</display-text><user entity=\"sip:x\">]]>\u{1}\r\n\tz";
    let doc = ConferenceInfo {
        entity: "sip:room@example.com?a=1&b=2".into(),
        version: Some(3),
        users: Some(Users {
            state: ElementState::Full,
            users: vec![User {
                entity: "sip:\"o'<x>\"@example.com".into(),
                nickname: Some(evil.into()),
                display_text: Some(evil.into()),
                ..User::default()
            }],
        }),
        ..ConferenceInfo::default()
    };
    let xml = to_xml(&doc);
    let back = parse_conference_info(xml.as_bytes()).unwrap();
    let users = &back.users.as_ref().unwrap().users;
    assert_eq!(users.len(), 1, "no element can be injected");
    let expected = evil.replace('\u{1}', "\u{FFFD}");
    assert_eq!(users[0].nickname.as_deref(), Some(expected.as_str()));
    assert_eq!(users[0].display_text.as_deref(), Some(expected.as_str()));
    assert_eq!(users[0].entity, "sip:\"o'<x>\"@example.com");
    assert_eq!(back.entity, doc.entity);
}

#[test]
fn parser_refusals() {
    let ok_root =
        r#"<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="sip:r@x">"#;
    let cases: Vec<(String, ConferenceParseError)> = vec![
        (
            format!("<!DOCTYPE x [<!ENTITY a \"b\">]>{ok_root}</conference-info>"),
            ConferenceParseError::DocType,
        ),
        (
            format!("{ok_root}<users><user entity=\"&a;\"/></users></conference-info>"),
            ConferenceParseError::UnknownEntity,
        ),
        (
            format!("{ok_root}<conference-description><subject>&bogus;</subject></conference-description></conference-info>"),
            ConferenceParseError::UnknownEntity,
        ),
        (
            "<conference-info entity=\"sip:r@x\"/>".into(),
            ConferenceParseError::WrongRoot,
        ),
        (
            "<c:conference-info xmlns:c=\"urn:other\" entity=\"x\"/>".into(),
            ConferenceParseError::WrongRoot,
        ),
        (
            r#"<conference-info xmlns="urn:ietf:params:xml:ns:conference-info"/>"#.into(),
            ConferenceParseError::MissingAttribute { element: "conference-info", attribute: "entity" },
        ),
        (
            r#"<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="x" version="-1"/>"#.into(),
            ConferenceParseError::InvalidValue { element: "conference-info", reason: "version is not a 32-bit unsigned integer" },
        ),
        (
            r#"<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" entity="x" state="weird"/>"#.into(),
            ConferenceParseError::InvalidValue { element: "conference-info", reason: "bad state" },
        ),
        (
            format!("{ok_root}<users><user/></users></conference-info>"),
            ConferenceParseError::MissingAttribute { element: "user", attribute: "entity" },
        ),
        (
            format!("{ok_root}<conference-state><user-count>many</user-count></conference-state></conference-info>"),
            ConferenceParseError::InvalidValue { element: "user-count", reason: "not an unsigned integer" },
        ),
        (
            format!("<?xml version=\"1.0\" encoding=\"ISO-8859-1\"?>{ok_root}</conference-info>"),
            ConferenceParseError::NotUtf8,
        ),
    ];
    for (input, expected) in cases {
        assert_eq!(
            parse_conference_info(input.as_bytes()).unwrap_err(),
            expected,
            "{input}"
        );
    }
    for malformed in [
        "",
        "<conference-info",
        &format!("{ok_root}<users></conference-info>"),
        &format!("{ok_root}</conference-info><x/>"),
        &format!("{ok_root}</conference-info>trailing"),
    ] {
        assert!(
            matches!(
                parse_conference_info(malformed.as_bytes()),
                Err(ConferenceParseError::Xml(_))
            ),
            "{malformed}"
        );
    }
    assert_eq!(
        parse_conference_info(&[0xff, 0xfe]).unwrap_err(),
        ConferenceParseError::NotUtf8
    );
    let deep = format!(
        "{ok_root}{}{}</conference-info>",
        "<x>".repeat(40),
        "</x>".repeat(40)
    );
    assert_eq!(
        parse_conference_info(deep.as_bytes()).unwrap_err(),
        ConferenceParseError::TooDeep(32)
    );
    let limits = XmlLimits {
        max_bytes: 10,
        ..XmlLimits::default()
    };
    assert_eq!(
        parse_conference_info_with_limits(ok_root.as_bytes(), &limits).unwrap_err(),
        ConferenceParseError::TooLarge(10)
    );
}

#[test]
fn unknown_namespaces_are_ignored_and_cdata_and_refs_resolve() {
    let xml = r#"<conference-info xmlns="urn:ietf:params:xml:ns:conference-info" xmlns:v="urn:vendor" entity="sip:r@x" v:extra="1">
      <v:thing><users><user entity="sip:ghost@x"/></users></v:thing>
      <users><user entity="sip:a@x" nickname="plain"><display-text>A &amp; B &#x263A; <![CDATA[<raw>]]></display-text><v:note>n</v:note></user></users>
    </conference-info>"#;
    let doc = parse_conference_info(xml.as_bytes()).unwrap();
    let users = doc.users.unwrap().users;
    assert_eq!(
        users.len(),
        1,
        "users inside a foreign element are not ours"
    );
    assert_eq!(
        users[0].display_text.as_deref(),
        Some("A & B \u{263A} <raw>")
    );
    assert_eq!(
        users[0].nickname.as_deref(),
        Some("plain"),
        "unqualified nickname tolerated"
    );
}

fn room() -> RoomDescription {
    RoomDescription {
        entity: "sip:chatroom22@chat.example.com".into(),
        display_text: Some("Chat room 22".into()),
        subject: None,
        conf_uris: vec![UriEntry {
            uri: "sip:chatroom22@chat.example.com".into(),
            display_text: None,
            purpose: Some("participation".into()),
        }],
        maximum_user_count: Some(50),
    }
}

fn participant(aor: &str, nick: Option<&str>, anonymous: Option<&str>) -> Participant {
    Participant {
        aor: aor.into(),
        anonymous_uri: anonymous.map(Into::into),
        display_name: Some(format!("Name of {aor}")),
        nickname: nick.map(Into::into),
        roles: vec!["participant".into()],
        endpoints: vec![ParticipantEndpoint {
            entity: format!("{aor};gr=device1"),
            status: EndpointStatus::Connected,
            joining_method: Some(JoiningMethod::DialedIn),
            media_id: "1".into(),
            media_status: Some(MediaStatus::SendRecv),
        }],
    }
}

#[test]
fn roster_notifications_drive_a_client_roster() {
    let mut server = Roster::new(room());
    server.upsert(participant(
        "sip:alice@example.com",
        Some("Alice the great"),
        None,
    ));
    server.upsert(participant("sip:bob@example.com", None, None));
    let mut sub = Subscription::new();
    let mut client = ClientRoster::new();

    let full = sub.full(&server);
    assert!(full.contains("xcon:nickname=\"Alice the great\""));
    assert!(full.contains("<type>message</type>"));
    assert_eq!(
        client.apply(&parse_conference_info(full.as_bytes()).unwrap()),
        Ok(Applied::Updated)
    );
    assert_eq!(client.version(), Some(1));
    assert_eq!(client.users().count(), 2);

    let ch = server
        .set_nickname("sip:bob@example.com", Some("Dopey Donkey".into()))
        .unwrap();
    let p2 = sub.partial(&server, &[ch]);
    let doc2 = parse_conference_info(p2.as_bytes()).unwrap();
    assert_eq!((doc2.state, doc2.version), (ElementState::Partial, Some(2)));
    assert_eq!(
        doc2.users.as_ref().unwrap().users.len(),
        1,
        "only the changed user"
    );
    client.apply(&doc2).unwrap();
    assert_eq!(
        client.find_by_nickname("DOPEY DONKEY").unwrap().entity,
        "sip:bob@example.com"
    );

    let ch = server
        .set_endpoint_status(
            "sip:alice@example.com",
            "sip:alice@example.com;gr=device1",
            EndpointStatus::Disconnected,
        )
        .unwrap();
    let left = server.remove("sip:bob@example.com").unwrap();
    let p3 = sub.partial(&server, &[ch, left]);
    client
        .apply(&parse_conference_info(p3.as_bytes()).unwrap())
        .unwrap();
    assert!(client.user("sip:bob@example.com").is_none());
    assert_eq!(
        client.user("sip:alice@example.com").unwrap().endpoints[0].status,
        Some(EndpointStatus::Disconnected)
    );
    assert_eq!(client.conference_state().unwrap().user_count, Some(1));

    // Old or repeated documents are ignored; a gap asks for a refresh.
    assert_eq!(client.apply(&doc2), Ok(Applied::Stale));
    let skipped = parse_conference_info(sub.partial(&server, &[]).as_bytes()).unwrap();
    let next = parse_conference_info(sub.partial(&server, &[]).as_bytes()).unwrap();
    assert_eq!(next.version, Some(5));
    assert_eq!(client.apply(&next), Err(RosterSyncError::NeedFullState));
    client.apply(&skipped).unwrap();
    client.apply(&next).unwrap();
    // A refresh gives a full document that replaces the state.
    let refreshed = parse_conference_info(sub.full(&server).as_bytes()).unwrap();
    client.apply(&refreshed).unwrap();
    assert_eq!(client.users().count(), 1);
    // Room deleted.
    let gone = parse_conference_info(sub.deleted(&server).as_bytes()).unwrap();
    assert_eq!(client.apply(&gone), Ok(Applied::ConferenceDeleted));
}

#[test]
fn client_refuses_partial_first_and_other_rooms() {
    let server = Roster::new(room());
    let mut sub = Subscription::new();
    let partial = parse_conference_info(sub.partial(&server, &[]).as_bytes()).unwrap();
    assert_eq!(
        ClientRoster::new().apply(&partial),
        Err(RosterSyncError::NeedFullState)
    );
    let mut client = ClientRoster::new();
    client
        .apply(&parse_conference_info(sub.full(&server).as_bytes()).unwrap())
        .unwrap();
    let mut other = Roster::new(RoomDescription {
        entity: "sip:other@x".into(),
        ..RoomDescription::default()
    })
    .full_document(9);
    other.version = Some(10);
    assert_eq!(client.apply(&other), Err(RosterSyncError::WrongConference));
}

#[test]
fn anonymous_participants_reveal_only_their_anonymous_uri() {
    let mut server = Roster::new(room());
    let anon = "sip:anonymous-7f3a@anonymous.invalid";
    let changes = server.upsert(participant(
        "sip:carol@secret.example.com",
        Some("Shadow"),
        Some(anon),
    ));
    let mut sub = Subscription::new();
    for xml in [sub.full(&server), sub.partial(&server, &changes)] {
        assert!(!xml.contains("carol"), "AoR leaked: {xml}");
        assert!(!xml.contains("secret.example.com"), "domain leaked: {xml}");
        let doc = parse_conference_info(xml.as_bytes()).unwrap();
        let u = &doc.users.as_ref().unwrap().users[0];
        assert_eq!(u.entity, anon);
        assert_eq!(u.nickname.as_deref(), Some("Shadow"));
        assert_eq!(u.display_text, None);
        assert_eq!(u.endpoints[0].entity, None);
        assert_eq!(u.endpoints[0].status, Some(EndpointStatus::Connected));
    }
    // Going public changes the published key: the anonymous user is deleted.
    let changes = server.upsert(participant(
        "sip:carol@secret.example.com",
        Some("Shadow"),
        None,
    ));
    let doc = server.partial_document(&changes, 3);
    let users = doc.users.unwrap().users;
    assert_eq!(users[0].entity, anon);
    assert_eq!(users[0].state, ElementState::Deleted);
    assert_eq!(users[1].entity, "sip:carol@secret.example.com");
}

mod props {
    use super::*;
    use proptest::prelude::*;

    /// Text that survives XML: any char except the ones XML 1.0 cannot carry.
    fn text() -> impl Strategy<Value = String> {
        "[^\u{0}-\u{8}\u{b}\u{c}\u{e}-\u{1f}\u{fffe}\u{ffff}]{0,20}"
    }

    /// Values the parser trims (URIs, enumerations).
    fn word() -> impl Strategy<Value = String> {
        "[!-~]{1,12}"
    }

    fn user() -> impl Strategy<Value = User> {
        (
            word(),
            proptest::option::of(text()),
            proptest::option::of(text()),
            proptest::collection::vec(word(), 0..2),
            proptest::collection::vec(
                (
                    proptest::option::of(word()),
                    word(),
                    proptest::option::of(text()),
                ),
                0..3,
            ),
            prop_oneof![
                Just(ElementState::Full),
                Just(ElementState::Partial),
                Just(ElementState::Deleted)
            ],
        )
            .prop_map(|(entity, nickname, display_text, roles, eps, state)| User {
                entity,
                state,
                nickname,
                display_text,
                roles,
                endpoints: eps
                    .into_iter()
                    .map(|(entity, id, label)| Endpoint {
                        entity,
                        status: Some(EndpointStatus::parse("connected")),
                        media: vec![Media {
                            id,
                            media_type: Some("message".into()),
                            label,
                            status: Some(MediaStatus::SendRecv),
                            ..Media::default()
                        }],
                        ..Endpoint::default()
                    })
                    .collect(),
            })
    }

    proptest! {
        #[test]
        fn documents_roundtrip(
            entity in word(),
            version in proptest::option::of(any::<u32>()),
            subject in proptest::option::of(text()),
            count in proptest::option::of(any::<u32>()),
            users in proptest::collection::vec(user(), 0..4),
        ) {
            let doc = ConferenceInfo {
                entity,
                state: ElementState::Full,
                version,
                description: Some(ConferenceDescription { subject, ..ConferenceDescription::default() }),
                conference_state: Some(ConferenceStateInfo { user_count: count, active: Some(true), locked: Some(false) }),
                users: Some(Users { state: ElementState::Full, users }),
            };
            let xml = to_xml(&doc);
            prop_assert_eq!(parse_conference_info(xml.as_bytes()).unwrap(), doc);
        }

        #[test]
        fn arbitrary_input_never_panics(bytes in proptest::collection::vec(any::<u8>(), 0..400)) {
            let _ = parse_conference_info(&bytes);
        }

        /// Whatever the focus does, a client that applies every partial notification ends up
        /// with the focus's full state.
        #[test]
        fn client_follows_the_focus(ops in proptest::collection::vec((0usize..4, 0u8..4, proptest::option::of("[a-z ]{1,8}")), 1..30)) {
            let aors = ["sip:a@x", "sip:b@x", "sip:c@x", "sip:d@x"];
            let mut server = Roster::new(room());
            let mut sub = Subscription::new();
            let mut client = ClientRoster::new();
            client.apply(&parse_conference_info(sub.full(&server).as_bytes()).unwrap()).unwrap();
            for (who, op, nick) in ops {
                let aor = aors[who];
                let changes: Vec<RosterChange> = match op {
                    0 => server.upsert(participant(aor, nick.as_deref(), None)),
                    1 => server.remove(aor).into_iter().collect(),
                    2 => server.set_nickname(aor, nick).into_iter().collect(),
                    _ => server.upsert(participant(aor, None, Some(&format!("sip:anon-{who}@anonymous.invalid")))),
                };
                let xml = sub.partial(&server, &changes);
                prop_assert_eq!(client.apply(&parse_conference_info(xml.as_bytes()).unwrap()), Ok(Applied::Updated));
            }
            let full = server.full_document(0);
            let expected: Vec<&User> = full.users.as_ref().unwrap().users.iter().collect();
            let mut got: Vec<&User> = client.users().collect();
            got.sort_by(|a, b| a.entity.cmp(&b.entity));
            let mut expected = expected;
            expected.sort_by(|a, b| a.entity.cmp(&b.entity));
            prop_assert_eq!(got, expected);
        }
    }
}
