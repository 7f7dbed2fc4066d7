//! People's commits, and a repository in which a person can push in the middle of an operation:
//! between cfgupdate's read of the tip and its push, as happens with a real remote.

use std::sync::Arc;

use cfgupdate_core::strict::Strict;
use cfgupdate_core::{Clock, CommitId, RepoPath, SystemClock, WriteOptions};
use cfgupdate_core::{MemoryRepository, Tree};

use super::fixture::{Fixture, read_set, write_set};

/// One file a person changes.
#[derive(Debug, Clone)]
pub enum HumanChange {
    /// A file automation does not own gets this content.
    File {
        /// The path.
        path: String,
        /// The new content.
        content: String,
    },
    /// A service of a wave gets this image, written by hand in the given style.
    Image {
        /// The wave, by index.
        wave: usize,
        /// The service.
        service: String,
        /// The new reference.
        image: String,
        /// How the file is formatted.
        style: u64,
    },
}

/// One commit a person pushes.
#[derive(Debug, Clone)]
pub struct HumanEdit {
    /// Its message.
    pub message: String,
    /// What it changes.
    pub changes: Vec<HumanChange>,
}

impl HumanEdit {
    /// Applies the edit to the files of the tip it is made on.
    pub fn apply(&self, fixture: &Fixture, tree: &mut Tree) {
        for change in &self.changes {
            match change {
                HumanChange::File { path, content } => {
                    tree.insert(RepoPath::parse(path).unwrap(), content.clone().into_bytes());
                }
                HumanChange::Image {
                    wave,
                    service,
                    image,
                    style,
                } => {
                    let spec = &fixture.waves[*wave];
                    let read = |path: &str| {
                        tree.get(&RepoPath::parse(path).unwrap())
                            .map(|bytes| String::from_utf8(bytes.clone()).unwrap())
                    };
                    let mut set = read_set(spec, read).unwrap();
                    set.insert(service.clone(), image.clone());
                    for (path, text) in write_set(spec, &set, *style) {
                        tree.insert(RepoPath::parse(&path).unwrap(), text.into_bytes());
                    }
                }
            }
        }
    }
}

/// The simulation's repository: the in-memory remote, whose race hook has a person push at the
/// next push cfgupdate attempts (branch or state), just before it, wrapped as every command
/// and the service wrap theirs: in strict mode's [`Strict`], which passes everything through
/// unless the pipeline turns strict mode on. It dereferences to the [`MemoryRepository`]; the
/// operations under test are given `inner`.
pub struct Racing {
    /// The remote and cfgupdate's view of it.
    pub inner: Strict<MemoryRepository>,
    /// The pipeline, to apply image edits.
    pub fixture: Fixture,
    /// The people's commits pushed directly (not raced in), in order.
    direct: Vec<CommitId>,
}

impl Racing {
    /// A repository holding the fixture's files.
    pub fn new(fixture: Fixture) -> Self {
        Self::with(fixture, Arc::new(SystemClock), WriteOptions::default())
    }

    /// A repository holding the fixture's files, whose strict mode (when the fixture turns it
    /// on) writes with `options` and keeps time by `clock`.
    pub fn with(
        fixture: Fixture,
        clock: Arc<dyn Clock + Send + Sync>,
        options: WriteOptions,
    ) -> Self {
        let files = fixture.files();
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        Self {
            inner: Strict::new(MemoryRepository::new(&borrowed), clock, options),
            fixture,
            direct: Vec::new(),
        }
    }

    /// A person pushes `edit` now.
    pub fn person_pushes(&mut self, edit: &HumanEdit) -> CommitId {
        let fixture = &self.fixture;
        let id = self
            .inner
            .person_pushes(&edit.message, |tree| edit.apply(fixture, tree));
        self.direct.push(id.clone());
        id
    }

    /// A person will push `edit` just before cfgupdate's next push.
    pub fn arm(&mut self, edit: HumanEdit) {
        let fixture = self.fixture.clone();
        let message = edit.message.clone();
        self.inner
            .race_next_push(&message, move |tree| edit.apply(&fixture, tree));
    }

    /// The people's commits pushed so far, directly or raced in.
    pub fn people(&self) -> Vec<CommitId> {
        self.direct
            .iter()
            .chain(self.inner.raced())
            .cloned()
            .collect()
    }
}

impl std::ops::Deref for Racing {
    type Target = MemoryRepository;

    fn deref(&self) -> &MemoryRepository {
        self.inner.inner()
    }
}

impl std::ops::DerefMut for Racing {
    fn deref_mut(&mut self) -> &mut MemoryRepository {
        self.inner.inner_mut()
    }
}
