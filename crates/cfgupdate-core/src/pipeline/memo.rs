//! The pipeline files parsed lately in this process, so that reading the repository at another
//! revision with the same `cfgupdate.toml` does not parse and check it again.
//!
//! Every operation reads the repository at one or more revisions ([`crate::snapshot`]), and
//! walking the commits since the pipeline state (holds, history) reads it at each of them. The
//! file rarely changes between them, but parsing and checking it was about a quarter of the CPU
//! the promotion simulation spent (see docs/benchmarks.md,
//! "The pipeline file parsed once (2026-12-02, later)").
//!
//! [`Pipeline::parse`] is a function of the file's name and text alone (no clock, no
//! environment), so a result found here is the one parsing again would give. Only successes are
//! kept; a refusal is worked out again, which costs what it did before. The cache is small and
//! bounded in entries and in the size of each text kept, so a repository with many versions of
//! the file, or one huge file, cannot make it grow.

use std::collections::VecDeque;
use std::sync::{Arc, Mutex, PoisonError};

use super::{Pipeline, PipelineError};

/// How many distinct pipeline files are kept: one process usually serves one repository, whose
/// file changes rarely; a few more cover the files before and after a change, and tests that run
/// several pipelines in one process.
const ENTRIES: usize = 8;

/// Texts larger than this are parsed every time and not kept (a real file is a few KiB).
const MAX_TEXT: usize = 256 * 1024;

struct Entry {
    file: Box<str>,
    text: Box<str>,
    pipeline: Arc<Pipeline>,
}

/// Recently parsed pipeline files, most recently used first.
struct Recent {
    entries: Mutex<VecDeque<Entry>>,
}

/// The process's one cache.
static SHARED: Recent = Recent::new();

/// [`Pipeline::parse`], shared: the same file name and text give the same parsed pipeline.
pub(crate) fn parse_shared(file: &str, text: &str) -> Result<Arc<Pipeline>, PipelineError> {
    SHARED.parse(file, text)
}

impl Recent {
    const fn new() -> Self {
        Self {
            entries: Mutex::new(VecDeque::new()),
        }
    }

    fn parse(&self, file: &str, text: &str) -> Result<Arc<Pipeline>, PipelineError> {
        if text.len() > MAX_TEXT {
            return Pipeline::parse(file, text).map(Arc::new);
        }
        let same = |entry: &Entry| *entry.text == *text && *entry.file == *file;
        // A panic elsewhere while the lock was held cannot leave an entry half-made (entries
        // are pushed and removed whole), so a poisoned lock's contents are still good.
        {
            let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
            if let Some(index) = entries.iter().position(same) {
                let pipeline = Arc::clone(&entries[index].pipeline);
                if index != 0
                    && let Some(entry) = entries.remove(index)
                {
                    entries.push_front(entry);
                }
                return Ok(pipeline);
            }
        }
        // Parsed outside the lock: another thread may parse the same text at the same time,
        // and both results are the same.
        // The first result kept is the one every caller gets from then on.
        let pipeline = Arc::new(Pipeline::parse(file, text)?);
        let mut entries = self.entries.lock().unwrap_or_else(PoisonError::into_inner);
        if let Some(kept) = entries.iter().find(|entry| same(entry)) {
            return Ok(Arc::clone(&kept.pipeline));
        }
        entries.push_front(Entry {
            file: file.into(),
            text: text.into(),
            pipeline: Arc::clone(&pipeline),
        });
        entries.truncate(ENTRIES);
        Ok(pipeline)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    impl Recent {
        fn len(&self) -> usize {
            self.entries.lock().unwrap().len()
        }
    }

    fn text(wave: &str) -> String {
        format!(
            "[[wave]]\nname = \"{wave}\"\nimages = \"images/{wave}.json\"\ntargets = [\"{wave}-a\"]\n\n\
             [target.{wave}-a]\nentrypoint = \"envs/{wave}.jsonnet\"\n"
        )
    }

    #[test]
    fn the_same_text_gives_the_same_parsed_pipeline_and_another_text_its_own() {
        let recent = Recent::new();
        let one = text("memo-one");
        let first = recent.parse("cfgupdate.toml", &one).unwrap();
        let again = recent.parse("cfgupdate.toml", &one).unwrap();
        assert!(Arc::ptr_eq(&first, &again));
        assert_eq!(*first, Pipeline::parse("cfgupdate.toml", &one).unwrap());

        let two = text("memo-two");
        let other = recent.parse("cfgupdate.toml", &two).unwrap();
        assert_eq!(other.first_wave().name.as_str(), "memo-two");
        assert_eq!(first.first_wave().name.as_str(), "memo-one");
    }

    #[test]
    fn the_file_name_is_part_of_the_key_because_errors_name_it() {
        let recent = Recent::new();
        // A refusal is never kept, and a success under one name is not given for another.
        let good = text("memo-named");
        let under_one = recent.parse("a.toml", &good).unwrap();
        let under_other = recent.parse("b.toml", &good).unwrap();
        assert!(!Arc::ptr_eq(&under_one, &under_other));

        let bad = format!("{good}\nunknown = 1\n");
        let first = recent.parse("cfgupdate.toml", &bad).unwrap_err();
        let second = recent.parse("other.toml", &bad).unwrap_err();
        assert!(first.message.starts_with("cfgupdate.toml:"), "{first}");
        assert!(second.message.starts_with("other.toml:"), "{second}");
    }

    #[test]
    fn the_cache_keeps_a_bounded_number_of_entries_and_no_huge_text() {
        let recent = Recent::new();
        for index in 0..ENTRIES * 3 {
            recent
                .parse("cfgupdate.toml", &text(&format!("memo-bound-{index}")))
                .unwrap();
        }
        assert_eq!(recent.len(), ENTRIES);

        // A file over the bound is parsed each time and never kept.
        let mut huge = text("memo-huge");
        huge.push_str(&format!("# {}\n", "x".repeat(MAX_TEXT)));
        let one = recent.parse("cfgupdate.toml", &huge).unwrap();
        let two = recent.parse("cfgupdate.toml", &huge).unwrap();
        assert!(!Arc::ptr_eq(&one, &two));
        assert_eq!(recent.len(), ENTRIES);
    }

    #[test]
    fn the_file_used_last_is_kept_when_others_push_the_oldest_out() {
        let recent = Recent::new();
        let kept = text("memo-kept");
        let first = recent.parse("cfgupdate.toml", &kept).unwrap();
        for index in 0..ENTRIES - 1 {
            recent
                .parse("cfgupdate.toml", &text(&format!("memo-fill-{index}")))
                .unwrap();
        }
        // Used again: it moves to the front, so the next new file pushes out another.
        assert!(Arc::ptr_eq(
            &first,
            &recent.parse("cfgupdate.toml", &kept).unwrap()
        ));
        recent
            .parse("cfgupdate.toml", &text("memo-one-more"))
            .unwrap();
        assert!(Arc::ptr_eq(
            &first,
            &recent.parse("cfgupdate.toml", &kept).unwrap()
        ));
        // The oldest of the others was pushed out: parsing it again gives a new value.
        let oldest = text("memo-fill-0");
        let again = recent.parse("cfgupdate.toml", &oldest).unwrap();
        assert!(!Arc::ptr_eq(
            &again,
            &recent
                .parse("cfgupdate.toml", &text("memo-fill-1"))
                .unwrap()
        ));
        assert_eq!(recent.len(), ENTRIES);
    }
}
