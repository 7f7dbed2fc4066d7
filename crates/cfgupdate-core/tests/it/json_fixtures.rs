//! JSON image files as teams write them: each `NAME.json` under `tests/fixtures/json` is edited
//! with the same updates and must become `NAME.expected.json` byte for byte.
//!
//! After a deliberate change of output,
//! `CFGUPDATE_BLESS=1 cargo test -p cfgupdate-core --test it json_fixtures` rewrites the
//! expected files; review their diff before committing it.

use std::path::{Path, PathBuf};

use cfgupdate_core::slots::json;
use cfgupdate_core::{ImageRef, ImageSet, ServiceName};

const OLD_API: &str = "registry.example.com/team/api:7d1043473d55bfa90e8530d35801d4e381bc69f0@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";
const OLD_WEB: &str = "registry.example.com/team/web:1.4.2@sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";
const NEW_API: &str = "registry.example.com/team/api:0b5c1e2f4a6d8c9e1f3a5b7c9d0e2f4a6b8c0d1e@sha256:cccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccccc";
const NEW_WORKER: &str = "registry.example.com/team/worker:2.0.0@sha256:dddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddddd";

fn fixtures() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/fixtures/json")
}

fn images(pairs: &[(&str, &str)]) -> ImageSet {
    pairs
        .iter()
        .map(|(s, r)| (ServiceName::parse(s).unwrap(), ImageRef::parse(r).unwrap()))
        .collect()
}

fn updates() -> ImageSet {
    images(&[("api", NEW_API), ("worker", NEW_WORKER)])
}

fn load(path: &Path) -> String {
    std::fs::read_to_string(path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

/// Compares with the expected file, or writes it when blessing.
fn expect(path: &Path, actual: &str) {
    if std::env::var_os("CFGUPDATE_BLESS").is_some() {
        std::fs::write(path, actual).unwrap();
        return;
    }
    let expected = load(path);
    assert!(
        actual == expected,
        "{} differs:\n--- expected\n{expected:?}\n--- actual\n{actual:?}",
        path.display()
    );
}

/// Reads the fixture, writes the updates, and checks the result, its reading back, and that
/// writing the same updates again changes nothing.
fn edits_as_expected(name: &str, read_back: &[(&str, &str)]) {
    let input = fixtures().join(format!("{name}.json"));
    let text = load(&input);
    assert_eq!(
        json::read(name, &text).unwrap(),
        images(&[("api", OLD_API), ("web", OLD_WEB)]),
        "{name} before the edit"
    );
    let out = json::write(name, &text, &updates()).unwrap();
    expect(&fixtures().join(format!("{name}.expected.json")), &out);
    assert_eq!(
        json::read(name, &out).unwrap(),
        images(read_back),
        "{name} read back"
    );
    assert_eq!(
        json::write(name, &out, &updates()).unwrap(),
        out,
        "{name} written twice"
    );
}

const WRITTEN: &[(&str, &str)] = &[("api", NEW_API), ("web", OLD_WEB), ("worker", NEW_WORKER)];

#[test]
fn a_file_indented_by_two_spaces_keeps_them() {
    edits_as_expected("two-spaces", WRITTEN);
}

#[test]
fn a_file_indented_by_four_spaces_with_a_schema_keeps_both() {
    edits_as_expected("four-spaces", WRITTEN);
}

#[test]
fn a_file_indented_by_tabs_keeps_them() {
    edits_as_expected("tabs", WRITTEN);
}

#[test]
fn a_crlf_file_without_a_final_newline_keeps_crlf_and_gains_one() {
    edits_as_expected("crlf", WRITTEN);
}

#[test]
fn non_ascii_annotations_are_kept_byte_for_byte() {
    edits_as_expected("non-ascii", WRITTEN);
}

#[test]
fn objects_of_parts_get_each_part_and_a_new_service_gets_the_same_keys() {
    edits_as_expected("parts", WRITTEN);
}

#[test]
fn inline_objects_with_a_ref_and_a_tag_are_written_in_place() {
    edits_as_expected("parts-with-ref", WRITTEN);
}

#[test]
fn a_single_line_file_stays_on_one_line() {
    edits_as_expected("single-line", WRITTEN);
}

#[test]
fn an_empty_object_gets_entries_indented_by_two_spaces() {
    let text = load(&fixtures().join("empty.json"));
    assert!(json::read("empty", &text).unwrap().is_empty());
    let out = json::write("empty", &text, &updates()).unwrap();
    expect(&fixtures().join("empty.expected.json"), &out);
    assert_eq!(json::read("empty", &out).unwrap(), updates());
}

#[test]
fn the_two_file_layout_writes_name_tag_and_name_digest() {
    let dir = fixtures().join("two-file");
    let (tags, digests) = (
        load(&dir.join("tags.json")),
        load(&dir.join("digests.json")),
    );
    assert_eq!(
        json::read_two_file("tags.json", &tags, "digests.json", &digests).unwrap(),
        images(&[("api", OLD_API), ("web", OLD_WEB)])
    );
    let (tags_out, digests_out) =
        json::write_two_file("tags.json", &tags, "digests.json", &digests, &updates()).unwrap();
    expect(&dir.join("tags.expected.json"), &tags_out);
    expect(&dir.join("digests.expected.json"), &digests_out);
    assert_eq!(
        json::read_two_file("tags.json", &tags_out, "digests.json", &digests_out).unwrap(),
        images(WRITTEN)
    );
}

#[test]
fn every_fixture_has_its_expected_result() {
    for entry in std::fs::read_dir(fixtures()).unwrap() {
        let path = entry.unwrap().path();
        let name = path.file_name().unwrap().to_string_lossy().into_owned();
        if let Some(stem) = name
            .strip_suffix(".json")
            .filter(|s| !s.ends_with(".expected"))
        {
            let expected = fixtures().join(format!("{stem}.expected.json"));
            assert!(expected.exists(), "{name} has no {stem}.expected.json");
        }
    }
}
