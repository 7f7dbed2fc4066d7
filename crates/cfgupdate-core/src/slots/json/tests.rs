use super::edit::json_string;
use super::*;

const A: &str = "aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const B: &str = "bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn r(text: &str) -> ImageRef {
    ImageRef::parse(text).unwrap()
}

fn s(name: &str) -> ServiceName {
    ServiceName::parse(name).unwrap()
}

fn set(pairs: &[(&str, &str)]) -> ImageSet {
    pairs.iter().map(|(k, v)| (s(k), r(v))).collect()
}

fn json_err(result: Result<impl std::fmt::Debug, SlotError>) -> JsonSlotError {
    match result {
        Err(SlotError::Json(e)) => e,
        other => panic!("expected a JSON error, got {other:?}"),
    }
}

fn api(tag: &str, digest: &str) -> String {
    format!("reg.example.com/team/api:{tag}@sha256:{digest}")
}

// ---- reading ----

#[test]
fn reads_string_entries_and_objects_of_parts() {
    let text = format!(
        "{{\n  \"api\": \"{}\",\n  \"web\": {{\"name\": \"web\", \"tag\": \"v2\", \"digest\": \"sha256:{B}\"}}\n}}\n",
        api("v1", A)
    );
    let images = read("images.json", &text).unwrap();
    assert_eq!(
        images,
        set(&[
            ("api", &api("v1", A)),
            ("web", &format!("web:v2@sha256:{B}"))
        ])
    );
}

#[test]
fn an_object_with_only_a_ref_reads_as_that_ref() {
    let text = format!("{{\"api\": {{\"ref\": \"{}\"}}}}", api("v1", A));
    assert_eq!(
        read("f.json", &text).unwrap(),
        set(&[("api", &api("v1", A))])
    );
}

#[test]
fn a_ref_and_parts_that_agree_read_as_the_ref() {
    let text = format!(
        "{{\"api\": {{\"ref\": \"{}\", \"name\": \"reg.example.com/team/api\", \"tag\": \"v1\", \"digest\": \"sha256:{A}\"}}}}",
        api("v1", A)
    );
    assert_eq!(
        read("f.json", &text).unwrap(),
        set(&[("api", &api("v1", A))])
    );
}

#[test]
fn a_ref_and_a_tag_that_disagree_are_inconsistent() {
    let text = format!(
        "{{\n\"api\": {{\n\"ref\": \"{}\",\n\"tag\": \"v2\"}}}}",
        api("v1", A)
    );
    match read("f.json", &text) {
        Err(SlotError::Inconsistent { service, detail }) => {
            assert_eq!(service.as_str(), "api");
            assert!(detail.starts_with("f.json:4:"), "{detail}");
            assert!(detail.contains("`v2`"), "{detail}");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_ref_without_a_digest_and_a_separate_digest_are_inconsistent() {
    let text = format!("{{\"api\": {{\"ref\": \"api:v1\", \"digest\": \"sha256:{A}\"}}}}");
    assert!(matches!(
        read("f.json", &text),
        Err(SlotError::Inconsistent { .. })
    ));
}

#[test]
fn a_name_with_only_a_digest_reads_as_a_reference_without_a_tag() {
    let text = format!("{{\"api\": {{\"digest\": \"sha256:{A}\", \"name\": \"api\"}}}}");
    assert_eq!(
        read("f.json", &text).unwrap(),
        set(&[("api", &format!("api@sha256:{A}"))])
    );
}

#[test]
fn an_entry_with_neither_ref_nor_name_names_no_image() {
    let text = format!("{{\n  \"api\": {{\"tag\": \"v1\", \"digest\": \"sha256:{A}\"}}\n}}");
    let e = json_err(read("f.json", &text));
    assert_eq!((e.file.as_str(), e.line), ("f.json", 2));
    assert!(
        e.message.contains("neither `ref` nor `name`"),
        "{}",
        e.message
    );
}

#[test]
fn an_unknown_key_in_an_entry_names_the_key_file_and_line() {
    let text = "{\n  \"api\": {\n    \"name\": \"api\",\n    \"image\": \"X\"\n  }\n}\n";
    let e = json_err(read("images/staging.json", text));
    assert_eq!((e.file.as_str(), e.line), ("images/staging.json", 4));
    assert!(e.message.contains("`image`"), "{}", e.message);
    assert!(e.to_string().starts_with("images/staging.json:4: "));
}

#[test]
fn a_part_that_is_not_a_string_is_an_error() {
    let e = json_err(read(
        "f.json",
        "{\"api\": {\"name\": \"api\",\n \"tag\": 7}}",
    ));
    assert_eq!(e.line, 2);
    assert!(
        e.message.contains("must be a string, not a number"),
        "{}",
        e.message
    );
}

#[test]
fn a_part_given_twice_is_an_error() {
    let e = json_err(read(
        "f.json",
        "{\"api\": {\"name\": \"a\",\n\"name\": \"b\"}}",
    ));
    assert_eq!(e.line, 2);
    assert!(e.message.contains("appears twice"), "{}", e.message);
}

#[test]
fn an_empty_entry_object_is_an_error() {
    let e = json_err(read("f.json", "{\n\"api\": {}}"));
    assert_eq!(e.line, 2);
    assert!(e.message.contains("empty object"), "{}", e.message);
}

#[test]
fn an_entry_that_is_neither_string_nor_object_is_an_error() {
    let e = json_err(read("f.json", "{\"api\": [\"X\"]}"));
    assert!(e.message.contains("not an array"), "{}", e.message);
}

#[test]
fn a_duplicate_service_names_file_and_both_lines() {
    let text = format!(
        "{{\n  \"api\": \"{a}\",\n  \"web\": \"{a}\",\n  \"api\": \"{a}\"\n}}\n",
        a = api("v1", A)
    );
    let e = json_err(read("f.json", &text));
    assert_eq!(e.line, 4);
    assert!(e.message.contains("`api` appears twice"), "{}", e.message);
    assert!(e.message.contains("line 2"), "{}", e.message);
    let e = json_err(write("f.json", &text, &set(&[("web", &api("v2", B))])));
    assert_eq!(e.line, 4);
}

#[test]
fn a_key_that_is_not_a_service_name_is_an_error() {
    let e = json_err(read("f.json", "{\n\"my service\": \"api:v1\"}"));
    assert_eq!(e.line, 2);
    assert!(e.message.contains("`my service`"), "{}", e.message);
}

#[test]
fn the_top_level_must_be_an_object() {
    for text in ["[]", "\"api:v1\"", "null", "\n\n3"] {
        let e = json_err(read("f.json", text));
        assert!(e.message.contains("must be a JSON object"), "{}", e.message);
    }
    assert_eq!(json_err(read("f.json", "\n\n3")).line, 3);
}

#[test]
fn a_syntax_error_names_the_file_and_line() {
    let e = json_err(read("images/prod.json", "{\n  \"api\": \"X\",\n}\n"));
    assert_eq!((e.file.as_str(), e.line), ("images/prod.json", 3));
    let e = json_err(write(
        "images/prod.json",
        "{\n\n  \"api\" \"X\"}",
        &ImageSet::new(),
    ));
    assert_eq!(e.line, 3);
}

#[test]
fn an_invalid_stored_reference_names_file_line_and_part() {
    match read("f.json", "{\n  \"api\": \"Bad Ref\"\n}") {
        Err(SlotError::InvalidStored {
            file,
            line,
            service,
            part,
            value,
            ..
        }) => {
            assert_eq!(
                (file.as_str(), line, service.as_str()),
                ("f.json", 2, "api")
            );
            assert_eq!((part, value.as_str()), (Part::Ref, "Bad Ref"));
        }
        other => panic!("{other:?}"),
    }
    let cases = [
        ("{\"api\": {\"name\": \"api:v1\"}}", Part::Name),
        (
            "{\"api\": {\"name\": \"api\", \"tag\": \"-bad\"}}",
            Part::Tag,
        ),
        (
            "{\"api\": {\"name\": \"api\", \"digest\": \"sha256:12\"}}",
            Part::Digest,
        ),
        ("{\"api\": {\"ref\": \"api@@\"}}", Part::Ref),
    ];
    for (text, expected) in cases {
        match read("f.json", text) {
            Err(SlotError::InvalidStored { part, .. }) => assert_eq!(part, expected, "{text}"),
            other => panic!("{text}: {other:?}"),
        }
    }
}

#[test]
fn annotations_are_kept_and_not_read_as_services() {
    let text = format!(
        "{{\n  \"$schema\": \"https://example.com/images.schema.json\",\n  \"_comment\": [\"Équipe plateforme\", 1],\n  \"api\": \"{}\"\n}}\n",
        api("v1", A)
    );
    assert_eq!(
        read("f.json", &text).unwrap(),
        set(&[("api", &api("v1", A))])
    );
    let out = write("f.json", &text, &set(&[("api", &api("v2", B))])).unwrap();
    assert_eq!(out, text.replace(&api("v1", A), &api("v2", B)));
}

#[test]
fn an_empty_object_is_an_empty_image_set() {
    assert!(read("f.json", "{}").unwrap().is_empty());
    assert!(read("f.json", "\u{feff}{ }\r\n").unwrap().is_empty());
}

// ---- writing ----

#[test]
fn writing_changes_only_the_characters_inside_the_literal() {
    let text = format!(
        "{{\n    \"api\"   :\"{}\" ,\n    \"web\": \"web:v1@sha256:{A}\"\n}}\n",
        api("v1", A)
    );
    let out = write("f.json", &text, &set(&[("api", &api("v2", B))])).unwrap();
    assert_eq!(
        out,
        format!(
            "{{\n    \"api\"   :\"{}\" ,\n    \"web\": \"web:v1@sha256:{A}\"\n}}\n",
            api("v2", B)
        )
    );
}

#[test]
fn an_object_entry_gets_each_of_its_keys_written_with_that_part() {
    let text = format!(
        "{{\n  \"api\": {{\n    \"tag\": \"v1\",\n    \"ref\": \"{}\",\n    \"digest\": \"sha256:{A}\",\n    \"name\": \"reg.example.com/team/api\"\n  }}\n}}\n",
        api("v1", A)
    );
    let out = write("f.json", &text, &set(&[("api", &api("v2", B))])).unwrap();
    let expected = text
        .replace("\"v1\"", "\"v2\"")
        .replace(&api("v1", A), &api("v2", B))
        .replace(&format!("sha256:{A}"), &format!("sha256:{B}"));
    assert_eq!(out, expected);
    assert_eq!(
        read("f.json", &out).unwrap(),
        set(&[("api", &api("v2", B))])
    );
}

#[test]
fn an_object_without_a_tag_key_keeps_only_the_parts_it_has() {
    let text = format!("{{\"api\": {{\"name\": \"api\", \"digest\": \"sha256:{A}\"}}}}\n");
    let out = write(
        "f.json",
        &text,
        &set(&[("api", &format!("api:v9@sha256:{B}"))]),
    )
    .unwrap();
    assert_eq!(out, text.replace(A, B));
}

#[test]
fn a_reference_without_a_digest_is_refused() {
    let text = format!("{{\"api\": \"{}\"}}\n", api("v1", A));
    let updates = set(&[("api", "reg.example.com/team/api:v2")]);
    match write("f.json", &text, &updates) {
        Err(SlotError::MissingDigest { service, reference }) => {
            assert_eq!(service.as_str(), "api");
            assert_eq!(reference.as_str(), "reg.example.com/team/api:v2");
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn a_tag_slot_and_a_reference_without_a_tag_is_a_missing_part() {
    let text = format!(
        "{{\n  \"api\": {{\n    \"name\": \"api\",\n    \"tag\": \"v1\",\n    \"digest\": \"sha256:{A}\"\n  }}\n}}\n"
    );
    match write(
        "f.json",
        &text,
        &set(&[("api", &format!("api@sha256:{B}"))]),
    ) {
        Err(SlotError::MissingPart {
            file,
            line,
            service,
            part,
            ..
        }) => {
            assert_eq!(
                (file.as_str(), line, service.as_str(), part),
                ("f.json", 4, "api", Part::Tag)
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn writing_the_values_the_file_holds_returns_it_byte_for_byte() {
    let held = api("v1", A);
    for text in [
        format!("{{\"api\": \"{held}\"}}"),
        format!("{{\r\n\t\"api\": \"{held}\"\r\n}}   "),
        // Escaped in the file, equal once unescaped.
        format!("{{\"api\": \"reg.example.com\\/team\\/api:v1@sha256:{A}\"}}"),
        "{\"api\": {\"name\": \"reg.example.com/team/api\", \"tag\": \"v1\"}}".to_owned(),
    ] {
        assert_eq!(
            write("f.json", &text, &set(&[("api", &held)])).unwrap(),
            text
        );
        assert_eq!(write("f.json", &text, &ImageSet::new()).unwrap(), text);
    }
}

#[test]
fn a_changed_file_ends_with_a_newline_in_its_own_style() {
    let text = format!("{{\r\n  \"api\": \"{}\"\r\n}}", api("v1", A));
    let out = write("f.json", &text, &set(&[("api", &api("v2", B))])).unwrap();
    assert_eq!(
        out,
        format!("{{\r\n  \"api\": \"{}\"\r\n}}\r\n", api("v2", B))
    );
}

#[test]
fn a_new_service_follows_the_indentation_and_newlines_of_the_file() {
    let new = api("v1", A);
    let cases = [
        (
            "{\n  \"a\": \"X\",\n  \"b\": \"Y\"\n}\n",
            "{\n  \"a\": \"X\",\n  \"b\": \"Y\",\n  \"c\": \"NEW\"\n}\n",
        ),
        (
            "{\n    \"b\": \"Y\"\n}\n",
            "{\n    \"b\": \"Y\",\n    \"c\": \"NEW\"\n}\n",
        ),
        (
            "{\n\t\"b\": \"Y\"\n}",
            "{\n\t\"b\": \"Y\",\n\t\"c\": \"NEW\"\n}\n",
        ),
        (
            "{\r\n  \"a\":\"X\",\r\n  \"b\":\"Y\"\r\n}\r\n",
            "{\r\n  \"a\":\"X\",\r\n  \"b\":\"Y\",\r\n  \"c\":\"NEW\"\r\n}\r\n",
        ),
        ("{\"b\": \"Y\"}", "{\"b\": \"Y\", \"c\": \"NEW\"}\n"),
        (
            "{\"a\":\"X\",\"b\":\"Y\"}\n",
            "{\"a\":\"X\",\"b\":\"Y\",\"c\":\"NEW\"}\n",
        ),
        ("{}", "{\n  \"c\": \"NEW\"\n}\n"),
        ("{ }\r\n", "{\r\n  \"c\": \"NEW\"\r\n}\r\n"),
        ("{\n\n}\n", "{\n  \"c\": \"NEW\"\n}\n"),
    ];
    // X, Y and NEW stand for whole references, so the layout is readable.
    let fill = |t: &str| {
        t.replace('X', &format!("x:1@sha256:{B}"))
            .replace('Y', &format!("y:1@sha256:{B}"))
            .replace("NEW", &new)
    };
    for (before, expected) in cases {
        let before = fill(before);
        let out = write("f.json", &before, &set(&[("c", &new)])).unwrap();
        assert_eq!(out, fill(expected), "from {before:?}");
    }
}

#[test]
fn several_new_services_are_added_in_order_after_the_last_member() {
    let text = format!("{{\n  \"_comment\": \"keep\",\n  \"web\": \"web:1@sha256:{A}\"\n}}\n");
    let out = write(
        "f.json",
        &text,
        &set(&[
            ("api", &api("v1", A)),
            ("zeta", &format!("zeta@sha256:{B}")),
        ]),
    )
    .unwrap();
    assert_eq!(
        out,
        format!(
            "{{\n  \"_comment\": \"keep\",\n  \"web\": \"web:1@sha256:{A}\",\n  \"api\": \"{}\",\n  \"zeta\": \"zeta@sha256:{B}\"\n}}\n",
            api("v1", A)
        )
    );
}

#[test]
fn a_new_service_takes_the_shape_of_the_last_entry() {
    let text = format!(
        "{{\n  \"web\": {{\n    \"name\": \"web\",\n    \"tag\": \"1\",\n    \"digest\": \"sha256:{A}\"\n  }}\n}}\n"
    );
    let out = write("f.json", &text, &set(&[("api", &api("v2", B))])).unwrap();
    assert_eq!(
        out,
        format!(
            "{{\n  \"web\": {{\n    \"name\": \"web\",\n    \"tag\": \"1\",\n    \"digest\": \"sha256:{A}\"\n  }},\n  \"api\": {{\n    \"name\": \"reg.example.com/team/api\",\n    \"tag\": \"v2\",\n    \"digest\": \"sha256:{B}\"\n  }}\n}}\n"
        )
    );
    // The shape holds a tag, so a reference without one does not fit it: a string does.
    let out = write(
        "f.json",
        &text,
        &set(&[("api", &format!("api@sha256:{B}"))]),
    )
    .unwrap();
    assert!(
        out.contains(&format!("  \"api\": \"api@sha256:{B}\"\n")),
        "{out}"
    );
}

#[test]
fn a_new_service_never_loses_its_name_or_digest_to_a_partial_neighbour() {
    // Neighbours whose parts cannot carry a whole reference (found by review: the new
    // service lost its name in one case and its digest in the other).
    for neighbour in [
        format!("{{ \"tag\": \"1\", \"digest\": \"sha256:{A}\" }}"),
        "{ \"name\": \"reg.example.com/team/web\", \"tag\": \"1\" }".to_owned(),
    ] {
        let text = format!("{{\n  \"web\": {neighbour}\n}}\n");
        let out = write("f.json", &text, &set(&[("api", &api("v2", B))])).unwrap();
        let value: serde_json::Value = serde_json::from_str(&out).unwrap();
        assert_eq!(value["api"], api("v2", B), "{out}");
    }
}

#[test]
fn a_new_service_follows_an_annotation_that_is_the_last_member() {
    let text = "{\n  \"$schema\": \"s\"\n}\n";
    let out = write("f.json", text, &set(&[("api", &api("v1", A))])).unwrap();
    assert_eq!(
        out,
        format!(
            "{{\n  \"$schema\": \"s\",\n  \"api\": \"{}\"\n}}\n",
            api("v1", A)
        )
    );
}

#[test]
fn a_broken_stored_value_is_repaired_by_writing_over_it() {
    let text = "{\n  \"api\": \"not a reference\"\n}\n";
    assert!(read("f.json", text).is_err());
    let out = write("f.json", text, &set(&[("api", &api("v1", A))])).unwrap();
    assert_eq!(
        read("f.json", &out).unwrap(),
        set(&[("api", &api("v1", A))])
    );
}

#[test]
fn non_ascii_elsewhere_in_the_file_is_untouched() {
    let text = format!(
        "{{\n  \"_note\": \"Ünïcode — 日本語 😀\",\n  \"api\": \"{}\"\n}}\n",
        api("v1", A)
    );
    let out = write(
        "f.json",
        &text,
        &set(&[("api", &api("v2", B)), ("web", &api("v3", B))]),
    )
    .unwrap();
    assert!(out.starts_with("{\n  \"_note\": \"Ünïcode — 日本語 😀\",\n"));
    assert_eq!(read("f.json", &out).unwrap().len(), 2);
}

#[test]
fn values_are_escaped_so_they_cannot_change_the_structure() {
    for value in [
        "\"}, \"evil\": \"",
        "back\\slash",
        "line\nbreak\r\t\u{1}\u{2028}",
        "é😀",
    ] {
        let literal = json_string(value);
        let node = scan::parse(&literal).unwrap();
        assert_eq!(node.kind, Kind::String(value.to_owned()), "{literal}");
        assert_eq!(node.span, 0..literal.len());
    }
    assert_eq!(json_string("a\"b"), "\"a\\\"b\"");
}

// ---- the two-file layout ----

fn tags_and_digests() -> (String, String) {
    (
        "{\n  \"api\": \"reg.example.com/team/api:v1\",\n  \"web\": \"web:3\"\n}\n".to_owned(),
        format!(
            "{{\n  \"api\": \"reg.example.com/team/api@sha256:{A}\",\n  \"db\": \"db@sha256:{B}\"\n}}\n"
        ),
    )
}

#[test]
fn the_two_files_combine_into_references_with_tag_and_digest() {
    let (tags, digests) = tags_and_digests();
    let images = read_two_file("tags.json", &tags, "digests.json", &digests).unwrap();
    assert_eq!(
        images,
        set(&[
            ("api", &api("v1", A)),
            ("web", "web:3"),
            ("db", &format!("db@sha256:{B}"))
        ])
    );
}

#[test]
fn names_that_differ_between_the_two_files_are_inconsistent() {
    let tags = "{\"api\": \"api:v1\"}";
    let digests = format!("{{\n\"api\": \"other@sha256:{A}\"}}");
    match read_two_file("tags.json", tags, "digests.json", &digests) {
        Err(SlotError::Inconsistent { service, detail }) => {
            assert_eq!(service.as_str(), "api");
            assert!(
                detail.contains("tags.json:1") && detail.contains("digests.json:2"),
                "{detail}"
            );
            assert!(
                detail.contains("`api`") && detail.contains("`other`"),
                "{detail}"
            );
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn each_file_of_the_two_holds_only_its_own_shape() {
    let digests = "{}";
    let tagged_with_digest = format!("{{\"api\": \"api:v1@sha256:{A}\"}}");
    for tags in [tagged_with_digest.as_str(), "{\"api\": \"api\"}"] {
        assert!(matches!(
            read_two_file("tags.json", tags, "d.json", digests),
            Err(SlotError::InvalidStored {
                part: Part::Ref,
                ..
            })
        ));
    }
    assert!(matches!(
        read_two_file("t.json", "{}", "digests.json", "{\"api\": \"api:v1\"}"),
        Err(SlotError::InvalidStored { .. })
    ));
    let e = json_err(read_two_file(
        "tags.json",
        "{\"api\": {\"name\": \"api\"}}",
        "d.json",
        "{}",
    ));
    assert!(e.message.contains("`name:tag`"), "{}", e.message);
}

#[test]
fn writing_the_two_files_keeps_their_style_and_adds_new_services() {
    let (tags, digests) = tags_and_digests();
    let updates = set(&[
        ("api", &api("v2", B)),
        ("new", &format!("new:7@sha256:{A}")),
    ]);
    let (tags_out, digests_out) =
        write_two_file("tags.json", &tags, "digests.json", &digests, &updates).unwrap();
    assert_eq!(
        tags_out,
        "{\n  \"api\": \"reg.example.com/team/api:v2\",\n  \"web\": \"web:3\",\n  \"new\": \"new:7\"\n}\n"
    );
    assert_eq!(
        digests_out,
        format!(
            "{{\n  \"api\": \"reg.example.com/team/api@sha256:{B}\",\n  \"db\": \"db@sha256:{B}\",\n  \"new\": \"new@sha256:{A}\"\n}}\n"
        )
    );
    let images = read_two_file("tags.json", &tags_out, "digests.json", &digests_out).unwrap();
    assert_eq!(images.get("api"), Some(&r(&api("v2", B))));
    assert_eq!(images.get("new"), Some(&r(&format!("new:7@sha256:{A}"))));
}

#[test]
fn writing_the_two_files_needs_a_digest_and_a_tag() {
    let (tags, digests) = tags_and_digests();
    assert!(matches!(
        write_two_file(
            "tags.json",
            &tags,
            "digests.json",
            &digests,
            &set(&[("api", "api:v2")])
        ),
        Err(SlotError::MissingDigest { .. })
    ));
    match write_two_file(
        "tags.json",
        &tags,
        "digests.json",
        &digests,
        &set(&[("api", &format!("api@sha256:{B}"))]),
    ) {
        Err(SlotError::MissingPart {
            file, line, part, ..
        }) => {
            assert_eq!((file.as_str(), line, part), ("tags.json", 2, Part::Tag));
        }
        other => panic!("{other:?}"),
    }
}

#[test]
fn writing_what_the_two_files_hold_changes_neither() {
    let (tags, digests) = tags_and_digests();
    let updates = set(&[("api", &api("v1", A))]);
    let (tags_out, digests_out) =
        write_two_file("tags.json", &tags, "digests.json", &digests, &updates).unwrap();
    assert_eq!((tags_out, digests_out), (tags, digests));
}

// ---- properties ----

mod properties {
    use super::*;
    use proptest::collection::{btree_map, vec};
    use proptest::prelude::*;

    /// How a generated entry stores its reference.
    #[derive(Debug, Clone)]
    enum Shape {
        Whole,
        Parts { parts: Vec<Part>, multiline: bool },
    }

    /// How a generated file is laid out.
    #[derive(Debug, Clone)]
    struct Style {
        indent: &'static str,
        newline: &'static str,
        colon: &'static str,
        trailing_newline: bool,
        annotation: bool,
    }

    type Entries = Vec<(ServiceName, Shape, ImageRef)>;

    fn reference() -> impl Strategy<Value = ImageRef> {
        (
            "(reg\\.example\\.com(:5000)?/)?[a-z0-9]{1,8}(/[a-z0-9]{1,8})?",
            "[A-Za-z0-9_][A-Za-z0-9_.-]{0,10}",
            "[0-9a-f]{64}",
        )
            .prop_map(|(name, tag, hex)| {
                ImageRef::from_parts(&name, Some(&tag), Some(&format!("sha256:{hex}"))).unwrap()
            })
    }

    fn shape() -> impl Strategy<Value = Shape> {
        let all = vec![Part::Ref, Part::Name, Part::Tag, Part::Digest];
        let parts = (1u8..16, Just(all).prop_shuffle(), any::<bool>()).prop_filter_map(
            "an entry needs `ref` or `name`",
            |(mask, order, multiline)| {
                let parts: Vec<Part> = order
                    .into_iter()
                    .enumerate()
                    .filter(|(i, _)| mask & (1 << i) != 0)
                    .map(|(_, p)| p)
                    .collect();
                (parts.contains(&Part::Ref) || parts.contains(&Part::Name))
                    .then_some(Shape::Parts { parts, multiline })
            },
        );
        prop_oneof![Just(Shape::Whole), parts]
    }

    fn style() -> impl Strategy<Value = Style> {
        (
            prop_oneof![Just("  "), Just("    "), Just("\t")],
            prop_oneof![Just("\n"), Just("\r\n")],
            prop_oneof![Just(": "), Just(":"), Just(" : ")],
            any::<bool>(),
            any::<bool>(),
        )
            .prop_map(
                |(indent, newline, colon, trailing_newline, annotation)| Style {
                    indent,
                    newline,
                    colon,
                    trailing_newline,
                    annotation,
                },
            )
    }

    fn entries() -> impl Strategy<Value = Entries> {
        btree_map("[a-z][a-z0-9]{0,8}", (shape(), reference()), 1..5)
            .prop_map(|m| {
                m.into_iter()
                    .map(|(k, (shape, r))| (s(&k), shape, r))
                    .collect::<Vec<_>>()
            })
            .prop_shuffle()
    }

    /// A file's text, and where the value of its last member ends.
    struct Rendered {
        text: String,
        last_value_end: usize,
    }

    fn render(style: &Style, entries: &Entries) -> Rendered {
        let (nl, ind, colon) = (style.newline, style.indent, style.colon);
        let mut members: Vec<(String, String)> = Vec::new();
        if style.annotation {
            members.push(("_note".to_owned(), "\"Ünïcode — 日本語 ✓\"".to_owned()));
        }
        for (service, shape, reference) in entries {
            let value = match shape {
                Shape::Whole => format!("\"{reference}\""),
                Shape::Parts { parts, multiline } => {
                    let field =
                        |p: &Part| format!("\"{p}\"{colon}\"{}\"", reference.part(*p).unwrap());
                    if *multiline {
                        let fields: Vec<String> = parts
                            .iter()
                            .map(|p| format!("{ind}{ind}{}", field(p)))
                            .collect();
                        format!("{{{nl}{}{nl}{ind}}}", fields.join(&format!(",{nl}")))
                    } else {
                        let fields: Vec<String> = parts.iter().map(field).collect();
                        format!("{{{}}}", fields.join(", "))
                    }
                }
            };
            members.push((service.to_string(), value));
        }
        let mut text = format!("{{{nl}");
        let mut last_value_end = 0;
        for (index, (key, value)) in members.iter().enumerate() {
            text.push_str(&format!("{ind}\"{key}\"{colon}{value}"));
            last_value_end = text.len();
            if index + 1 < members.len() {
                text.push(',');
            }
            text.push_str(nl);
        }
        text.push('}');
        if style.trailing_newline {
            text.push_str(nl);
        }
        Rendered {
            text,
            last_value_end,
        }
    }

    /// The reference an entry of `shape` holds when `reference` is written into it.
    fn held(shape: &Shape, reference: &ImageRef) -> ImageRef {
        match shape {
            Shape::Parts { parts, .. } if !parts.contains(&Part::Ref) => {
                let has = |p| parts.contains(&p).then(|| reference.part(p).unwrap());
                ImageRef::from_parts(reference.name(), has(Part::Tag), has(Part::Digest)).unwrap()
            }
            _ => reference.clone(),
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn an_edit_changes_only_the_intended_literals_and_reads_back(
            style in style(),
            entries in entries(),
            replacements in vec(proptest::option::of(reference()), 5),
            added in btree_map("new-[a-z]{1,6}", reference(), 0..3),
        ) {
            let original = render(&style, &entries);
            let stored: ImageSet =
                entries.iter().map(|(k, shape, r)| (k.clone(), held(shape, r))).collect();
            prop_assert_eq!(read("gen.json", &original.text).unwrap(), stored);

            let mut updates = ImageSet::new();
            let mut updated = entries.clone();
            for ((service, _, reference), replacement) in updated.iter_mut().zip(&replacements) {
                if let Some(replacement) = replacement {
                    *reference = replacement.clone();
                    updates.insert(service.clone(), replacement.clone());
                }
            }
            for (service, reference) in &added {
                updates.insert(s(service), reference.clone());
            }
            let out = write("gen.json", &original.text, &updates).unwrap();

            let expected = render(&style, &updated);
            let head = &expected.text[..expected.last_value_end];
            let mut tail = expected.text[expected.last_value_end..].to_owned();
            let changed = expected.text != original.text || !added.is_empty();
            if changed && !tail.ends_with('\n') {
                tail.push_str(style.newline);
            }
            if added.is_empty() {
                prop_assert_eq!(&out, &format!("{head}{tail}"));
            } else {
                prop_assert!(out.starts_with(head), "head changed: {}", out);
                prop_assert!(out.ends_with(&tail), "tail changed: {}", out);
                let inserted = &out[head.len()..out.len() - tail.len()];
                let separator = format!(",{}{}\"", style.newline, style.indent);
                prop_assert!(inserted.starts_with(&separator), "not in the file's style: {:?}", inserted);
            }

            // A new service holds its whole reference: in the shape of the last entry when
            // that shape carries every part, as a string otherwise.
            let mut want: ImageSet =
                updated.iter().map(|(k, shape, r)| (k.clone(), held(shape, r))).collect();
            for (service, reference) in &added {
                want.insert(s(service), reference.clone());
            }
            prop_assert_eq!(read("gen.json", &out).unwrap(), want);
        }

        #[test]
        fn the_two_files_read_back_what_was_written(
            existing in btree_map("[a-z]{1,6}", reference(), 0..4),
            updates in btree_map("[a-z]{1,6}", reference(), 0..4),
            crlf in any::<bool>(),
        ) {
            let nl = if crlf { "\r\n" } else { "\n" };
            let file = |line: &dyn Fn(&ImageRef) -> String| {
                let members: Vec<String> =
                    existing.iter().map(|(k, r)| format!("  \"{k}\": \"{}\"", line(r))).collect();
                format!("{{{nl}{}{nl}}}{nl}", members.join(&format!(",{nl}")))
            };
            let tags = file(&|r| format!("{}:{}", r.name(), r.tag().unwrap()));
            let digests = file(&|r| format!("{}@{}", r.name(), r.digest().unwrap()));
            let updates: ImageSet = updates.into_iter().map(|(k, r)| (s(&k), r)).collect();
            let (tags_out, digests_out) =
                write_two_file("tags.json", &tags, "digests.json", &digests, &updates).unwrap();
            prop_assert_eq!(tags_out.contains('\r'), crlf);
            let mut want: ImageSet = existing.iter().map(|(k, r)| (s(k), r.clone())).collect();
            want.extend(updates);
            prop_assert_eq!(
                read_two_file("tags.json", &tags_out, "digests.json", &digests_out).unwrap(),
                want
            );
        }

        #[test]
        fn the_scanner_accepts_what_serde_json_accepts(
            text in "[\\[\\]{}:,\" \\n\\\\/untrlsefa0-9.eE+-]{0,24}",
        ) {
            let ours = scan::parse(&text);
            match serde_json::from_str::<serde_json::Value>(&text) {
                Ok(value) => prop_assert_eq!(to_value(&text, &ours.unwrap()), value),
                Err(e) if e.to_string().contains("out of range") => {}
                Err(_) => prop_assert!(ours.is_err(), "accepted {:?}", text),
            }
        }

        #[test]
        fn the_scanner_reads_what_serde_json_writes(value in json_value()) {
            for text in [value.to_string(), serde_json::to_string_pretty(&value).unwrap()] {
                let node = scan::parse(&text).unwrap();
                prop_assert_eq!(node.span.clone(), 0..text.len());
                prop_assert_eq!(to_value(&text, &node), value.clone());
            }
        }
    }

    fn json_value() -> impl Strategy<Value = serde_json::Value> {
        use serde_json::Value;
        let leaf = prop_oneof![
            Just(Value::Null),
            any::<bool>().prop_map(Value::Bool),
            any::<i64>().prop_map(Value::from),
            // Eighths are exact in binary, so serde_json's own (not round-trip) float parsing agrees.
            (-1_000_000i32..1_000_000).prop_map(|n| Value::from(f64::from(n) / 8.0)),
            any::<String>().prop_map(Value::String),
        ];
        leaf.prop_recursive(4, 32, 5, |inner| {
            prop_oneof![
                vec(inner.clone(), 0..5).prop_map(Value::Array),
                btree_map(any::<String>(), inner, 0..5)
                    .prop_map(|m| Value::Object(m.into_iter().collect())),
            ]
        })
    }

    /// The scanned tree as serde_json sees a value, to compare the two parsers.
    fn to_value(text: &str, node: &Node) -> serde_json::Value {
        use serde_json::Value;
        match &node.kind {
            Kind::String(s) => Value::String(s.clone()),
            Kind::Number | Kind::Bool | Kind::Null => {
                serde_json::from_str(&text[node.span.clone()]).unwrap()
            }
            Kind::Array(items) => Value::Array(items.iter().map(|i| to_value(text, i)).collect()),
            Kind::Object(members) => Value::Object(
                members
                    .iter()
                    .map(|m| (m.key.clone(), to_value(text, &m.value)))
                    .collect(),
            ),
        }
    }
}
