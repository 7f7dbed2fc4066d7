//! `slots::json::write` on an arbitrary or generated image file with a generated update set.
//!
//! Never panics. On success: the result is valid JSON (and, if the input was, Jsonnet for the
//! evaluator's parser, since targets import image files), reads back with the written images (and
//! every other service as it was), differs from the original only inside literals now holding
//! an update's reference or part, plus one insertion of new services and a final newline; and
//! writing again changes nothing. Otherwise a clean error. Input: `file NUL control`, see
//! `cfgupdate_fuzz::Input`.
#![no_main]

use cfgupdate_core::slots::json;
use cfgupdate_fuzz::{Input, align, generate};
use libfuzzer_sys::fuzz_target;
use serde::de::IgnoredAny;

const FILE: &str = "images.json";

/// Whether `text` is JSON by serde_json's syntax check (a leading byte-order mark allowed,
/// as the editor allows it; strings are not decoded, so lone surrogates pass as in RFC 8259).
fn is_json(text: &str) -> bool {
    let text = text.strip_prefix('\u{feff}').unwrap_or(text);
    serde_json::from_str::<IgnoredAny>(text).is_ok()
}

fuzz_target!(init: cfgupdate_fuzz::tolerate_contained_parser_panics(), |data: &[u8]| {
    let Input {
        mut text,
        mut control,
    } = Input::split(data);
    if control.arbitrary::<u8>().unwrap_or(0) % 4 == 0 {
        let Ok(generated) = generate::json_file(&mut control) else {
            return;
        };
        text = generated;
    }
    if std::env::var_os("CFGUPDATE_FUZZ_SHOW").is_some() {
        eprintln!("file: {text:?}");
    }
    let found = generate::words(&text);
    let Ok(updates) = generate::update_set(&mut control, &found) else {
        return;
    };

    if std::env::var_os("CFGUPDATE_FUZZ_SHOW").is_some() {
        eprintln!("updates: {updates:?}");
    }
    let before = json::read(FILE, &text);
    let written = match json::write(FILE, &text, &updates) {
        Ok(written) => written,
        Err(error) => {
            if std::env::var_os("CFGUPDATE_FUZZ_SHOW").is_some() {
                eprintln!("error: {error}");
            }
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    if std::env::var_os("CFGUPDATE_FUZZ_SHOW").is_some() {
        eprintln!("written: {}", written != text);
    }
    assert!(
        is_json(&text),
        "the editor accepted text that is not JSON: {text:?}"
    );
    assert!(
        is_json(&written),
        "the editor wrote text that is not JSON: {written:?}"
    );
    // Targets import image files as Jsonnet: what the evaluator's parser read before the
    // edit, it reads after.
    if cfgupdate_fuzz::evaluator_parse(&text).is_ok()
        && let Err(error) = cfgupdate_fuzz::evaluator_parse(&written)
    {
        panic!("the evaluator's parser reads the file but not the edit ({error}): {written:?}");
    }
    assert!(
        updates.values().all(|r| r.digest().is_some()),
        "a reference without a digest was written"
    );
    if written == text {
        // Nothing to write: every update is already there.
    } else {
        align::check_json_edit(&text, &written, &updates);
    }

    let after = json::read(FILE, &written);
    if let Ok(before) = &before {
        let after = after.as_ref().unwrap_or_else(|e| {
            panic!("the file read before the write but not after: {e}\n{written:?}")
        });
        for (service, reference) in &updates {
            let read = after
                .get(service)
                .unwrap_or_else(|| panic!("`{service}` was written but does not read back"));
            assert!(
                align::reads_back_as(read, reference),
                "`{service}` reads back as {read} after writing {reference}"
            );
        }
        for (service, reference) in before {
            if !updates.contains_key(service) {
                assert_eq!(
                    after.get(service),
                    Some(reference),
                    "`{service}` was not updated but changed"
                );
            }
        }
        assert!(
            after
                .keys()
                .all(|s| before.contains_key(s) || updates.contains_key(s))
        );
    }

    let again = json::write(FILE, &written, &updates)
        .unwrap_or_else(|e| panic!("writing the result again fails: {e}\n{written:?}"));
    assert_eq!(again, written, "a second write changed the file");
});
