//! Knowledge, skills and messages: schema, payload size and indexes.

use sha2::Digest as _;

use super::*;
use crate::view::apply::schema::MAX_PAYLOAD_BYTES;

// ---- knowledge ----

#[test]
fn knowledge_is_indexed_by_kind_and_topic() {
    with_pact(|v, l| {
        let r = l.write(v, &alice(), one(knowledge("sales", "Tuesdays convert")));
        assert_eq!((r.outcome, r.time_sensitive), (Outcome::Applied, false));
        assert!(has(v, ViewTable::ByKind, &kind_key(Kind::Knowledge, r.pos)));
        assert!(has(v, ViewTable::Topic, &prefixed_pos(&lp("sales"), r.pos)));
        assert!(!v.has_prefix(ViewTable::Topic, &lp("eng")).expect("read"));
    });
}

#[test]
fn knowledge_schema_is_checked() {
    let check = |topic: &str, content: &str, extra: &str| {
        let mut op = knowledge(topic, content);
        if let Op::Knowledge(k) = &mut op {
            k.extra_json = extra.into();
        }
        check_body(&one(op))
    };
    assert_eq!(check("t", "c", ""), Ok(()));
    assert_eq!(check(&"é".repeat(200), "c", ""), Ok(()));
    assert_eq!(check(&"é".repeat(201), "c", ""), Err(Code::BadEntry));
    assert_eq!(check("", "c", ""), Err(Code::BadEntry));
    assert_eq!(check("t", "", ""), Err(Code::BadEntry));
    assert_eq!(check("t", "c", r#"{"tags":["a"],"n":1}"#), Ok(()));
    assert_eq!(check("t", "c", "[1]"), Err(Code::BadEntry));
    assert_eq!(check("t", "c", "{bad"), Err(Code::BadEntry));
    // Extra fields may not shadow the named ones.
    assert_eq!(check("t", "c", r#"{"topic":"x"}"#), Err(Code::BadEntry));
    assert_eq!(check("t", "c", r#"{"source":"x"}"#), Err(Code::BadEntry));
}

/// Pads `fill` so that `size(fill)` is exactly 64 KiB, then checks the boundary both ways.
fn assert_payload_boundary(size: impl Fn(&str) -> usize, body: impl Fn(&str) -> wire::Body) {
    let base = size("");
    let fill = "a".repeat(MAX_PAYLOAD_BYTES - base);
    assert_eq!(size(&fill), MAX_PAYLOAD_BYTES);
    assert_eq!(check_body(&body(&fill)), Ok(()));
    let over = format!("{fill}a");
    assert_eq!(check_body(&body(&over)), Err(Code::PayloadTooLarge));
}

#[test]
fn payload_of_exactly_64_kib_is_accepted_and_one_byte_more_is_too_large() {
    // Knowledge with escapes, non-ASCII, a source and extra fields, measured as serde_json does.
    let tricky = "quote \" backslash \\ newline \n tab \t bell \u{7} é 日本";
    let extra = r#"{"tags":["x","y"],"score":1.5,"nested":{"k":null}}"#;
    let size = |fill: &str| {
        let mut obj: serde_json::Map<String, serde_json::Value> =
            serde_json::from_str(extra).expect("extra");
        obj.insert("topic".into(), "sales".into());
        obj.insert("content".into(), format!("{tricky}{fill}").into());
        obj.insert("source".into(), "web".into());
        serde_json::to_string(&obj).expect("json").len()
    };
    assert_payload_boundary(size, |fill| {
        one(Op::Knowledge(wire::Knowledge {
            topic: "sales".into(),
            content: format!("{tricky}{fill}"),
            source: Some("web".into()),
            extra_json: extra.into(),
        }))
    });
    // A skill, with a boolean field.
    let skill_size = |fill: &str| {
        let s = skill("scraper", "1.0.0", "generic", fill);
        serde_json::json!({"name": s.name, "version": s.version, "format": s.format,
            "content": s.content, "checksum": s.checksum, "requires_approval": true})
        .to_string()
        .len()
    };
    assert_payload_boundary(skill_size, |fill| {
        let mut s = skill("scraper", "1.0.0", "generic", fill);
        s.requires_approval = Some(true);
        one(Op::Skill(s))
    });
    // A system message: its system fields count.
    let msg_size = |fill: &str| {
        serde_json::json!({"content": format!("x{fill}"), "kind": "rename", "prev": null,
            "next": "Ada"})
        .to_string()
        .len()
    };
    assert_payload_boundary(msg_size, |fill| {
        let mut m = message(&format!("x{fill}"));
        m.kind = Some("rename".into());
        m.system_json = r#"{"prev":null,"next":"Ada"}"#.into();
        one(Op::Message(m))
    });
}

// ---- skills ----

#[test]
fn skill_checksum_vectors() {
    assert_eq!(
        skill_checksum("hello world"),
        "sha256:d5ae0e2bf8419e3fdfbb6b26073fdb005a0e39ec45019e426dd68ffad6815083"
    );
    assert_eq!(
        skill_checksum(""),
        "sha256:a7ac5d4f3d05b8d4070adb8ab99cc92836dc479c2b31db4100a2d86ff7bf7f3f"
    );
    assert_eq!(
        skill_checksum("real content"),
        "sha256:5a66434a5dac89411dfd2bb8b8b4e13989f994a5b8a26491fc289b3fd169fb98"
    );
}

#[test]
fn skill_name_rule() {
    for ok in ["foo", "foo-bar", "foo.bar", "1.2.3-rc1", "a_b", "0"] {
        assert!(is_skill_name(ok), "{ok}");
    }
    assert!(is_skill_name(&"a".repeat(200)));
    for bad in [
        "",
        ".",
        "..",
        "foo..bar",
        ".foo",
        "foo.",
        "../../etc/passwd",
        "foo/bar",
        "Foo",
        "-a",
        "_a",
        "a.-b",
        "é",
        "a b",
        "a\n",
    ] {
        assert!(!is_skill_name(bad), "{bad:?}");
    }
    assert!(!is_skill_name(&"a".repeat(201)));
}

#[test]
fn skill_is_checked_then_indexed_by_format() {
    let check = |s: wire::Skill| check_body(&one(Op::Skill(s)));
    for format in ["openclaw", "langchain", "generic"] {
        assert_eq!(check(skill("scraper", "1.0.0", format, "x")), Ok(()));
    }
    assert_eq!(
        check(skill("scraper", "1.0.0", "autogen", "x")),
        Err(Code::BadEntry)
    );
    assert_eq!(
        check(skill("../../etc/passwd", "1.0.0", "generic", "x")),
        Err(Code::BadSkillName)
    );
    assert_eq!(
        check(skill("scraper", "", "generic", "x")),
        Err(Code::BadSkillName)
    );
    let with_checksum = |c: &str| wire::Skill {
        checksum: c.into(),
        ..skill("s", "1", "generic", "x")
    };
    assert_eq!(check(with_checksum("md5:abc")), Err(Code::BadEntry));
    assert_eq!(
        check(with_checksum(&format!("sha256:{}", "A".repeat(64)))),
        Err(Code::BadEntry)
    );
    let wrong = format!("sha256:{}", "a".repeat(64));
    assert_eq!(
        check(with_checksum(&wrong)),
        Err(Code::SkillChecksumMismatch)
    );
    // The unlabelled digest of the same content is not the checksum.
    let plain = format!("sha256:{}", hex::encode(sha2::Sha256::digest(b"x")));
    assert_eq!(
        check(with_checksum(&plain)),
        Err(Code::SkillChecksumMismatch)
    );
    with_pact(|v, l| {
        let r = l.write(
            v,
            &alice(),
            one(Op::Skill(skill("scraper", "1.0.0", "langchain", "x"))),
        );
        assert_eq!(r.outcome, Outcome::Applied);
        assert!(has(v, ViewTable::ByKind, &kind_key(Kind::Skill, r.pos)));
        let fmt = prefixed_pos(&[SkillFormat::Langchain as u8], r.pos);
        assert!(has(v, ViewTable::SkillFormat, &fmt));
        let bad = l.write(v, &alice(), one(Op::Skill(with_checksum(&wrong))));
        assert_eq!(bad.outcome, rej(Code::SkillChecksumMismatch));
    });
}

// ---- messages ----

#[test]
fn message_is_indexed_by_author_recipient_and_reply() {
    with_pact(|v, l| {
        let a = alice().public();
        let first = l.write(v, &alice(), one(Op::Message(message("heads up"))));
        assert_eq!(first.outcome, Outcome::Applied);
        assert!(has(
            v,
            ViewTable::ByKind,
            &kind_key(Kind::Message, first.pos)
        ));
        assert!(has(
            v,
            ViewTable::MessageAuthor,
            &prefixed_pos(&a.0, first.pos)
        ));
        assert!(has(
            v,
            ViewTable::MessageRecipient,
            &prefixed_pos(&lp("*"), first.pos)
        ));
        let reply = wire::Message {
            to: Some(a.handle()),
            reply_to: Some(first.id.clone()),
            priority: Some("high".into()),
            ..message("got it")
        };
        let r = l.write(v, &bob(), one(Op::Message(reply)));
        assert_eq!(r.outcome, Outcome::Applied);
        assert!(has(
            v,
            ViewTable::MessageAuthor,
            &prefixed_pos(&bob().public().0, r.pos)
        ));
        assert!(has(
            v,
            ViewTable::MessageRecipient,
            &prefixed_pos(&lp(&a.handle()), r.pos)
        ));
        assert!(has(
            v,
            ViewTable::Refs,
            &prefixed_pos(&lp(&first.id), r.pos)
        ));
    });
}

#[test]
fn message_schema_is_checked() {
    let check = |m: wire::Message| check_body(&one(Op::Message(m)));
    assert_eq!(check(message("")), Err(Code::BadEntry));
    assert_eq!(
        check(wire::Message {
            priority: Some("urgent".into()),
            ..message("x")
        }),
        Err(Code::BadEntry)
    );
    assert_eq!(
        check(wire::Message {
            to: Some("*".into()),
            ..message("x")
        }),
        Ok(())
    );
    assert_eq!(
        check(wire::Message {
            to: Some("bob".into()),
            ..message("x")
        }),
        Err(Code::BadEntry)
    );
    assert_eq!(
        check(wire::Message {
            reply_to: Some("12347f2d-3".into()),
            ..message("x")
        }),
        Ok(())
    );
    assert_eq!(
        check(wire::Message {
            reply_to: Some("not-an-id".into()),
            ..message("x")
        }),
        Err(Code::BadEntry)
    );
    let system = |kind: &str, json: &str| wire::Message {
        kind: Some(kind.into()),
        system_json: json.into(),
        ..message("x")
    };
    assert_eq!(
        check(system("rename", r#"{"prev":null,"next":"Ada"}"#)),
        Ok(())
    );
    assert_eq!(check(system("pact-update", "")), Ok(()));
    assert_eq!(check(system("shout", "")), Err(Code::BadEntry));
    assert_eq!(
        check(system("rename", r#"{"to":"x"}"#)),
        Err(Code::BadEntry)
    );
    assert_eq!(
        check(system("rename", r#"{"prev":1}"#)),
        Err(Code::BadEntry)
    );
    assert_eq!(check(system("rename", "[]")), Err(Code::BadEntry));
    // System fields only come with a kind.
    assert_eq!(
        check(wire::Message {
            system_json: r#"{"prev":null}"#.into(),
            ..message("x")
        }),
        Err(Code::BadEntry)
    );
}
