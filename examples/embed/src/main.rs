//! A tool that embeds cfgupdate, written from the crates' documentation alone and using only
//! their public API: it edits an image slot in a Jsonnet text, publishes CI's announcement to
//! an in-memory repository whose remote refuses the first pushes (a person pushed meanwhile,
//! as far as the core can tell), and publishes the same announcement to a real bare git
//! repository through `cfgupdate-git`.
//!
//! Run it with `cargo run -p cfgupdate-embed-example`; `tests/embed.rs` runs it in the
//! workspace's test suite.

use std::error::Error;
use std::time::{Duration, SystemTime};

use cfgupdate_core::slots::jsonnet;
use cfgupdate_core::{
    Announcement, Change, Clock, CommitId, CommitInfo, ConfigRepository, ImageRef, ImageSet,
    MemoryRepository, PairOutcome, PublishOutcome, PushOutcome, RepoPath, RepositoryError,
    ServiceName, StateVersion, WriteOptions, publish,
};
use cfgupdate_git::{Branch, GitOptions, GitRepository, RemoteUrl};

const PIPELINE: &str = r#"[[wave]]
name = "staging"
images = "images.json"
targets = ["staging"]

[target.staging]
entrypoint = "staging.jsonnet"
"#;

const APP: &str = "local images = import 'images.json';\n{ apiVersion: 'v1', kind: 'Pod', metadata: { name: 'api' }, spec: { containers: [{ name: 'api', image: images.api }] } }\n";

fn image(version: u32, digit: char) -> Result<ImageRef, Box<dyn Error>> {
    let digest = digit.to_string().repeat(64);
    Ok(ImageRef::parse(&format!(
        "reg.example.com/api:v{version}@sha256:{digest}"
    ))?)
}

fn image_file(image: &ImageRef) -> String {
    format!("{{\n  \"api\": \"{image}\"\n}}\n")
}

/// The host's clock, read the way the core asks for it.
struct Host;

impl Clock for Host {
    fn now(&self) -> SystemTime {
        SystemTime::now()
    }
    fn sleep(&self, duration: Duration) {
        std::thread::sleep(duration);
    }
}

/// A repository that refuses the next `reject` pushes of the branch and forwards everything
/// else: the fault a remote that moves on under the writer shows the core.
struct Refusing<R> {
    inner: R,
    reject: usize,
    refused: usize,
}

impl<R: ConfigRepository> ConfigRepository for Refusing<R> {
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
        if self.refused < self.reject {
            self.refused += 1;
            return Ok(PushOutcome::Rejected);
        }
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
        self.inner.push_state(parent, content, message)
    }
    fn push_with_state(
        &mut self,
        parent: &CommitId,
        change: &Change,
        state_parent: Option<&CommitId>,
        state_content: &[u8],
        state_message: &str,
    ) -> Result<PairOutcome, RepositoryError> {
        if self.refused < self.reject {
            self.refused += 1;
            return Ok(PairOutcome::Rejected);
        }
        self.inner
            .push_with_state(parent, change, state_parent, state_content, state_message)
    }
    fn state_anchor(&self) -> Result<Option<StateVersion>, RepositoryError> {
        self.inner.state_anchor()
    }
    fn set_state_anchor(&self, commit: &CommitId) -> Result<(), RepositoryError> {
        self.inner.set_state_anchor(commit)
    }
}

/// Step 1: a slot edited in a string, nothing else of the text touched.
fn edit_a_slot(new: &ImageRef) -> Result<(), Box<dyn Error>> {
    let old = image(1, '1')?;
    let text = format!("// Production images.\n{{\n  api: '{old}',  // the API\n}}\n");
    let updates = ImageSet::from([(ServiceName::parse("api")?, new.clone())]);
    let applied = jsonnet::apply("images.libsonnet", &text, &updates)?;
    let expected = format!("// Production images.\n{{\n  api: '{new}',  // the API\n}}\n");
    check(
        applied.text == expected,
        "the edit changed more than the slot",
    )?;
    println!(
        "edited: {}",
        applied.text.lines().nth(2).unwrap_or_default().trim()
    );
    Ok(())
}

/// Step 2: published to the in-memory repository, whose remote refuses the first two pushes.
fn publish_in_memory(announcement: &Announcement) -> Result<(), Box<dyn Error>> {
    let files = image_file(&image(1, '1')?);
    let memory = MemoryRepository::new(&[
        ("cfgupdate.toml", PIPELINE),
        ("images.json", &files),
        ("staging.jsonnet", APP),
    ]);
    let mut repo = Refusing {
        inner: memory,
        reject: 2,
        refused: 0,
    };
    let outcome = publish(&mut repo, &Host, announcement, &WriteOptions::default())?;
    let PublishOutcome::Committed { commit, .. } = outcome else {
        return Err("the in-memory publish changed nothing".into());
    };
    check(
        repo.refused == 2,
        "the remote should have refused two pushes",
    )?;
    let written = repo.inner.remote_text("images.json").unwrap_or_default();
    check(
        written == image_file(announcement.images().values().next().ok_or("no image")?),
        "the in-memory remote does not hold the new image",
    )?;
    println!(
        "in memory: {} after {} refused pushes",
        commit.short(),
        repo.refused
    );
    Ok(())
}

/// Step 3: published to a real bare repository through `cfgupdate-git`.
fn publish_to_git(announcement: &Announcement) -> Result<(), Box<dyn Error>> {
    let dir = tempfile::tempdir()?;
    let remote = dir.path().join("config.git");
    let bare = git2::Repository::init_bare(&remote)?;
    let files = image_file(&image(1, '1')?);
    let mut tree = bare.treebuilder(None)?;
    for (name, text) in [
        ("cfgupdate.toml", PIPELINE),
        ("images.json", files.as_str()),
        ("staging.jsonnet", APP),
    ] {
        tree.insert(name, bare.blob(text.as_bytes())?, 0o100644)?;
    }
    let tree = bare.find_tree(tree.write()?)?;
    let person = git2::Signature::now("A Person", "person@example.com")?;
    bare.commit(
        Some("refs/heads/main"),
        &person,
        &person,
        "The config repository",
        &tree,
        &[],
    )?;

    let options = GitOptions::new(
        RemoteUrl::parse(&remote.to_string_lossy())?,
        Branch::parse("main")?,
        dir.path().join("cache"),
    );
    let mut repo = GitRepository::open(options)?;
    let outcome = publish(&mut repo, &Host, announcement, &WriteOptions::default())?;
    let PublishOutcome::Committed { commit, .. } = outcome else {
        return Err("the git publish changed nothing".into());
    };
    let head = bare.find_reference("refs/heads/main")?.peel_to_commit()?;
    check(
        head.id().to_string() == commit.as_str(),
        "the bare repository's branch is not the commit published",
    )?;
    let entry = head.tree()?.get_path(std::path::Path::new("images.json"))?;
    let blob = bare.find_blob(entry.id())?;
    check(
        blob.content()
            == image_file(announcement.images().values().next().ok_or("no image")?).as_bytes(),
        "the bare repository does not hold the new image",
    )?;
    println!("git: {} on main", commit.short());
    Ok(())
}

fn check(holds: bool, otherwise: &str) -> Result<(), Box<dyn Error>> {
    if holds { Ok(()) } else { Err(otherwise.into()) }
}

fn main() -> Result<(), Box<dyn Error>> {
    let new = image(2, '2')?;
    edit_a_slot(&new)?;
    let images = ImageSet::from([(ServiceName::parse("api")?, new)]);
    let announcement = Announcement::new(CommitId::parse(&"a".repeat(40))?, images)?;
    publish_in_memory(&announcement)?;
    publish_to_git(&announcement)?;
    Ok(())
}
