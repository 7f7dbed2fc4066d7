//! `slots::jsonnet::apply` and `find_slots` on arbitrary or grammar-built Jsonnet with a
//! generated update set.
//!
//! Never panics. On success: the input and the result parse with the evaluator's own parser
//! (as the product judges validity), the result lexes to the original's tokens
//! with only quoted literals changed (each to an update's reference or part), its slots read
//! back the written values, every marker and written field found before is still found, and applying again changes
//! nothing. Otherwise a clean error. Input: `file NUL control`, see `cfgupdate_fuzz::Input`.
#![no_main]

use cfgupdate_core::slots::jsonnet::{self, Slot};
use cfgupdate_fuzz::{Input, align, generate};
use libfuzzer_sys::fuzz_target;

const FILE: &str = "images.jsonnet";

/// A slot without its line: rewriting a literal that spans lines moves the lines after it.
fn key(slot: &Slot) -> (String, cfgupdate_core::Part, bool) {
    (
        slot.service.to_string(),
        slot.part,
        slot.kind == jsonnet::SlotKind::Marker,
    )
}

fuzz_target!(init: cfgupdate_fuzz::tolerate_contained_parser_panics(), |data: &[u8]| {
    let Input { mut text, mut control } = Input::split(data);
    if control.arbitrary::<u8>().unwrap_or(0) % 2 == 0 {
        let Ok(generated) = generate::jsonnet_file(&mut control) else {
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
    let slots_before = jsonnet::find_slots(FILE, &text);
    let applied = match jsonnet::apply(FILE, &text, &updates) {
        Ok(applied) => applied,
        Err(error) => {
            if std::env::var_os("CFGUPDATE_FUZZ_SHOW").is_some() {
                eprintln!("error: {error}");
            }
            assert!(!error.to_string().is_empty());
            return;
        }
    };
    if std::env::var_os("CFGUPDATE_FUZZ_SHOW").is_some() {
        eprintln!("written: {:?}", applied.written);
    }
    // Validity as the product judges it: the evaluator's own parser (the one that renders the
    // file), not the lossless tree parser, which refuses valid Jsonnet such as unary `+`.
    if let Err(error) = cfgupdate_fuzz::evaluator_parse(&text) {
        panic!("apply accepted text the evaluator's parser refuses ({error}): {text:?}");
    }
    if let Err(error) = cfgupdate_fuzz::evaluator_parse(&applied.text) {
        panic!("the result does not parse ({error}):\n{:?}", applied.text);
    }
    align::check_jsonnet_edit(&text, &applied.text, &updates);
    assert!(applied.written.iter().all(|s| updates.contains_key(s)));
    if applied.written.is_empty() {
        assert_eq!(applied.text, text, "nothing was written but the text changed");
    }
    for service in &applied.written {
        assert!(updates[service].digest().is_some(), "`{service}` was written without a digest");
    }

    let again = jsonnet::apply(FILE, &applied.text, &updates)
        .unwrap_or_else(|e| panic!("applying again fails: {e}\n{:?}", applied.text));
    assert_eq!(again.text, applied.text, "a second apply changed the file");
    assert_eq!(again.written, applied.written);

    // A marker whose literal is refused stops only its own service's write, but reading the
    // file reports it: then there are no slots to compare.
    let Ok(slots_before) = slots_before else {
        return;
    };
    let slots_after = jsonnet::find_slots(FILE, &applied.text)
        .unwrap_or_else(|e| panic!("the result's slots cannot be read: {e}\n{:?}", applied.text));
    for slot in &slots_after {
        if let Some(reference) = updates.get(&slot.service)
            && applied.written.contains(&slot.service)
        {
            // A tag pinned with its digest holds both parts.
            let parts = slot.parts();
            assert!(
                !parts.is_empty()
                    && parts.iter().all(|(part, value)| reference.part(*part) == Some(*value)),
                "slot {slot:?} does not hold what was written ({reference})\n{:?}",
                applied.text
            );
        }
    }
    let mut after: Vec<_> = slots_after.iter().map(key).collect();
    // Markers stay (comments are never edited), and so do the fields of written services. A
    // field of another service may stop looking like an image when a marker of a written
    // service points at the same literal, so it is not required.
    for slot in &slots_before {
        if slot.kind == jsonnet::SlotKind::Field && !applied.written.contains(&slot.service) {
            continue;
        }
        let found = after.iter().position(|k| *k == key(slot));
        let found = found.unwrap_or_else(|| panic!("slot {slot:?} was lost by the write\n{:?}", applied.text));
        after.swap_remove(found);
    }

});
