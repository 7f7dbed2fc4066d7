//! A tool that embeds cfgupdate, written from the crates' documentation alone and using only
//! their public API: it edits an image slot in a Jsonnet text, publishes CI's announcement to
//! an in-memory repository whose remote refuses the first pushes (a person pushed meanwhile,
//! as far as the core can tell), and publishes the same announcement to a real bare git
//! repository through `cfgupdate-git`.
//!
//! Run it with `cargo run -p cfgupdate-embed-example`; `tests/embed.rs` runs it in the
//! workspace's test suite.

use std::error::Error;

use cfgupdate_core::slots::jsonnet;
use cfgupdate_core::{
    Announcement, CommitId, ImageRef, ImageSet, MemoryRepository, PublishOutcome, ServiceName,
    SystemClock, WriteOptions, publish,
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
    let mut repo = memory;
    // The fault hook: the next two pushes are refused as stale, as if a person had pushed
    // just before each; the core fetches and tries again.
    repo.reject_next_pushes(2);
    let outcome = publish(
        &mut repo,
        &SystemClock,
        announcement,
        &WriteOptions::default(),
    )?;
    let PublishOutcome::Committed { commit, .. } = outcome else {
        return Err("the in-memory publish changed nothing".into());
    };
    check(
        repo.rejections == 2,
        "the remote should have refused two pushes",
    )?;
    let written = repo.remote_text("images.json").unwrap_or_default();
    check(
        written == image_file(announcement.images().values().next().ok_or("no image")?),
        "the in-memory remote does not hold the new image",
    )?;
    println!(
        "in memory: {} after {} refused pushes",
        commit.short(),
        repo.rejections
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
    let outcome = publish(
        &mut repo,
        &SystemClock,
        announcement,
        &WriteOptions::default(),
    )?;
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
