//! Shared pieces of the fuzz targets: how an input is split into a file and the choices that
//! drive generation, generators for valid names and references, and the checks that compare an
//! edited file with its original.
//!
//! An input is `text NUL control`: the bytes before the first NUL are a file as it would be in
//! a repository (so seed files stay readable), the bytes after it feed [`arbitrary`] to choose
//! the update set, or to build a whole file from a grammar when the first control byte asks
//! for it. Neither JSON nor Jsonnet can hold a raw NUL in valid text, so nothing is lost.

pub mod align;
pub mod generate;

use arbitrary::Unstructured;

/// An input split at its first NUL byte.
pub struct Input<'a> {
    /// The file text (lossily decoded: the editors take `&str`).
    pub text: String,
    /// The choices.
    pub control: Unstructured<'a>,
}

impl<'a> Input<'a> {
    /// Splits `data` into file text and control bytes.
    pub fn split(data: &'a [u8]) -> Self {
        let (text, control) = match data.iter().position(|&b| b == 0) {
            Some(nul) => (&data[..nul], &data[nul + 1..]),
            None => (data, &[][..]),
        };
        Input {
            text: String::from_utf8_lossy(text).into_owned(),
            control: Unstructured::new(control),
        }
    }
}

/// Lets panics raised inside the jrsonnet parser and lexer unwind instead of aborting.
///
/// libfuzzer-sys installs a panic hook that aborts on every panic, even one the code under
/// test catches. `slots::jsonnet` catches the parser's panics on purpose (it gives up on some
/// malformed input, see `fuzz/regressions/jsonnet_edit/`) and turns them into errors, so only
/// those are let through; the first is printed so a run still shows they happen. A parser
/// panic that nothing catches still aborts, in libfuzzer-sys's own `catch_unwind`.
pub fn tolerate_contained_parser_panics() {
    use std::sync::atomic::{AtomicBool, Ordering};
    static SHOWN: AtomicBool = AtomicBool::new(false);
    let abort_hook = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        let in_parser = info.location().is_some_and(|l| {
            [
                "jrsonnet-rowan-parser",
                "jrsonnet-lexer",
                "jrsonnet-ir-parser",
            ]
            .iter()
            .any(|parser| l.file().contains(parser))
        });
        if !in_parser {
            abort_hook(info);
        } else if !SHOWN.swap(true, Ordering::Relaxed) {
            eprintln!("note: a jrsonnet parser panic, expected to be caught by cfgupdate: {info}");
        }
    }));
}

/// Parses `text` with the evaluator's own parser (`jrsonnet-ir-parser`), the one that decides
/// whether cfgupdate and the renderer accept a file, as cfgupdate runs it: on a large stack,
/// with a panic turned into an error. `Err` says what is wrong.
pub fn evaluator_parse(text: &str) -> Result<(), String> {
    /// As `slots/jsonnet/syntax.rs` gives it: the parser recurses once per bracket.
    const STACK: usize = 256 << 20;
    std::panic::catch_unwind(|| {
        stacker::grow(STACK, || {
            let settings = jrsonnet_ir_parser::ParserSettings {
                source: jrsonnet_ir::Source::new_virtual("fuzz.jsonnet".into(), text.into()),
            };
            jrsonnet_ir_parser::parse(text, &settings)
                .map(|_| ())
                .map_err(|error| error.message)
        })
    })
    .unwrap_or_else(|_| Err("the parser panicked".to_owned()))
}
