//! People's commits, and a repository in which a person can push in the middle of an operation:
//! between cfgupdate's read of the tip and its push, as happens with a real remote.

use cfgupdate_core::CommitId;
use cfgupdate_core::RepoPath;
use cfgupdate_core::{
    Change, CommitInfo, ConfigRepository, PushOutcome, RepositoryError, StateVersion,
};
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

/// The simulation's repository: the in-memory remote, and a person's push that fires at the
/// next push cfgupdate attempts (branch or state), just before it.
pub struct Racing {
    /// The remote and cfgupdate's view of it.
    pub inner: MemoryRepository,
    /// The pipeline, to apply image edits.
    pub fixture: Fixture,
    /// A person's commit waiting for cfgupdate's next push.
    pub armed: Option<HumanEdit>,
    /// The people's commits pushed so far, in order.
    pub people: Vec<CommitId>,
}

impl Racing {
    /// A repository holding the fixture's files.
    pub fn new(fixture: Fixture) -> Self {
        let files = fixture.files();
        let borrowed: Vec<(&str, &str)> = files
            .iter()
            .map(|(p, t)| (p.as_str(), t.as_str()))
            .collect();
        Self {
            inner: MemoryRepository::new(&borrowed),
            fixture,
            armed: None,
            people: Vec::new(),
        }
    }

    /// A person pushes `edit` now.
    pub fn person_pushes(&mut self, edit: &HumanEdit) -> CommitId {
        let fixture = &self.fixture;
        let id = self
            .inner
            .person_pushes(&edit.message, |tree| edit.apply(fixture, tree));
        self.people.push(id.clone());
        id
    }

    fn race(&mut self) {
        if let Some(edit) = self.armed.take() {
            self.person_pushes(&edit);
        }
    }
}

impl ConfigRepository for Racing {
    fn tip(&self) -> Result<CommitId, RepositoryError> {
        self.inner.tip()
    }

    fn refresh(&mut self) -> Result<CommitId, RepositoryError> {
        self.inner.refresh()
    }

    fn is_fresh(&self) -> bool {
        self.inner.is_fresh()
    }

    fn read_file(
        &self,
        revision: &CommitId,
        path: &RepoPath,
    ) -> Result<Option<Vec<u8>>, RepositoryError> {
        self.inner.read_file(revision, path)
    }

    fn list_files(
        &self,
        revision: &CommitId,
        under: &str,
    ) -> Result<Vec<RepoPath>, RepositoryError> {
        self.inner.list_files(revision, under)
    }

    fn is_ancestor(
        &self,
        ancestor: &CommitId,
        descendant: &CommitId,
    ) -> Result<bool, RepositoryError> {
        self.inner.is_ancestor(ancestor, descendant)
    }

    fn log(&self, from: &CommitId, limit: usize) -> Result<Vec<CommitInfo>, RepositoryError> {
        self.inner.log(from, limit)
    }

    fn commit_and_push(
        &mut self,
        parent: &CommitId,
        change: &Change,
    ) -> Result<PushOutcome, RepositoryError> {
        self.race();
        self.inner.commit_and_push(parent, change)
    }

    fn state(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.inner.state()
    }

    fn push_state(
        &mut self,
        parent: Option<&CommitId>,
        content: &[u8],
        message: &str,
    ) -> Result<PushOutcome, RepositoryError> {
        self.race();
        self.inner.push_state(parent, content, message)
    }

    fn state_anchor(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.inner.state_anchor()
    }

    fn set_state_anchor(&self, commit: &CommitId) -> Result<(), RepositoryError> {
        self.inner.set_state_anchor(commit)
    }
}
