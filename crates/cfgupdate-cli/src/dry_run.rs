//! `--dry-run` on the writing commands: the operation runs in the core against a repository
//! that captures its pushes ([`cfgupdate_core::dry_run()`]), and this module prints what was
//! captured. What would be written is decided by the core exactly as for a real run; nothing
//! is pushed, neither to the branch nor to the state ref.
//!
//! Wiring a command is one call, made where the real run would start, after the repository is
//! opened:
//!
//! ```text
//! if args.dry_run {
//!     return crate::dry_run::show(&mut repo, |repo| rollback(repo, &SystemClock, &request, &options));
//! }
//! ```
//!
//! A refusal or a failure exits as the real command would (the same sentence, the same exit
//! code), after printing what would have been written before it.
//!
//! It runs on the plain git repository, never through strict mode's wrapper: bringing the auto
//! branch up to date pushes (a rebuild, a fast-forward of the main branch), which a dry run
//! must never do. In strict mode the preview therefore shows the change as a commit on the main
//! branch; the real command makes the same change as a commit on the auto branch.

use std::fmt::{self, Write as _};

use cfgupdate_core::{Classify, ConfigRepository, PlannedCommit, PlannedFile, PlannedWrite};
use cfgupdate_git::GitRepository;

use crate::failure::{Failure, classified, print_out};
use crate::remote::SystemClock;

/// Runs `operation` as a dry run on `repo` and prints what it would push (stdout) and that
/// nothing was pushed (stderr). Its error, if any, is returned as the real command returns it.
pub fn show<T, E>(
    repo: &mut GitRepository,
    operation: impl FnOnce(&mut dyn ConfigRepository) -> Result<T, E>,
) -> Result<(), Failure>
where
    E: Classify + fmt::Display,
{
    let branch = repo.branch().to_string();
    let (result, writes) = cfgupdate_core::dry_run(repo, &SystemClock, operation);
    let committed = writes
        .iter()
        .any(|write| matches!(write, PlannedWrite::Commit(_)));
    let mut text = render(&branch, &writes);
    if result.is_ok() && !committed {
        text.push_str("unchanged\n");
    }
    print_out(&text)?;
    eprintln!("dry run: nothing was pushed");
    result.map(|_| ()).map_err(|error| classified(&error))
}

/// The planned writes as text: each commit as `git show` would show it (its message, the
/// files it changes, a unified diff of each), each state document by its message.
pub fn render(branch: &str, writes: &[PlannedWrite]) -> String {
    let mut out = String::new();
    for write in writes {
        match write {
            PlannedWrite::Commit(commit) => commit_text(&mut out, branch, commit),
            PlannedWrite::State(state) => {
                let _ = writeln!(
                    out,
                    "would record in the pipeline state of {branch}: {}",
                    state.message
                );
            }
        }
    }
    out
}

fn commit_text(out: &mut String, branch: &str, commit: &PlannedCommit) {
    let _ = writeln!(
        out,
        "would commit on {branch}, on top of {}:\n",
        commit.parent
    );
    for line in commit.message.render().lines() {
        if line.is_empty() {
            out.push('\n');
        } else {
            let _ = writeln!(out, "    {line}");
        }
    }
    out.push('\n');
    for file in &commit.files {
        let status = match (&file.before, &file.after) {
            (None, _) => 'A',
            (_, None) => 'D',
            _ => 'M',
        };
        let _ = writeln!(out, " {status} {}", file.path.as_str());
    }
    for file in &commit.files {
        out.push('\n');
        diff_text(out, file);
    }
}

/// One file's unified diff, with git's headers.
fn diff_text(out: &mut String, file: &PlannedFile) {
    let path = file.path.as_str();
    let _ = writeln!(out, "diff --git a/{path} b/{path}");
    let (Some(before), Some(after)) = (as_text(&file.before), as_text(&file.after)) else {
        let _ = writeln!(out, "Binary files a/{path} and b/{path} differ");
        return;
    };
    let old_name = match file.before {
        Some(_) => format!("a/{path}"),
        None => "/dev/null".to_owned(),
    };
    let new_name = match file.after {
        Some(_) => format!("b/{path}"),
        None => "/dev/null".to_owned(),
    };
    let diff = similar::TextDiff::from_lines(before, after);
    let mut unified = diff.unified_diff();
    unified
        .context_radius(3)
        .header(&old_name, &new_name)
        .missing_newline_hint(true);
    let _ = write!(out, "{unified}");
}

/// A file's content as text (an absent file is empty), or `None` when it is not UTF-8.
fn as_text(bytes: &Option<Vec<u8>>) -> Option<&str> {
    match bytes {
        None => Some(""),
        Some(bytes) => std::str::from_utf8(bytes).ok(),
    }
}

#[cfg(test)]
mod tests {
    use cfgupdate_core::{CommitId, CommitMessage, PlannedState, RepoPath};

    use super::*;

    fn id(c: char) -> CommitId {
        CommitId::parse(&c.to_string().repeat(40)).unwrap()
    }

    #[test]
    fn a_planned_commit_reads_like_git_show_with_its_trailers_files_and_diff() {
        let writes = [
            PlannedWrite::State(PlannedState {
                parent: None,
                id: id('b'),
                message: "Approve 1 images into production (by alice)".into(),
                content: b"{}".to_vec(),
            }),
            PlannedWrite::Commit(PlannedCommit {
                parent: id('a'),
                id: id('c'),
                message: CommitMessage {
                    subject: "Promote api from staging to production".into(),
                    body: "api: v1 -> v2".into(),
                    trailers: vec![
                        ("Cfgupdate-Action".into(), "approve".into()),
                        ("Cfgupdate-Wave".into(), "production".into()),
                    ],
                },
                files: vec![
                    PlannedFile {
                        path: RepoPath::parse("images/new.json").unwrap(),
                        before: None,
                        after: Some(b"{}\n".to_vec()),
                    },
                    PlannedFile {
                        path: RepoPath::parse("images/production.json").unwrap(),
                        before: Some(b"{\n  \"api\": \"v1\"\n}\n".to_vec()),
                        after: Some(b"{\n  \"api\": \"v2\"\n}\n".to_vec()),
                    },
                    PlannedFile {
                        path: RepoPath::parse("old.bin").unwrap(),
                        before: Some(vec![0xff, 0x00]),
                        after: None,
                    },
                ],
            }),
        ];
        let expected = format!(
            "would record in the pipeline state of main: Approve 1 images into production (by alice)
would commit on main, on top of {}:

    Promote api from staging to production

    api: v1 -> v2

    Cfgupdate-Action: approve
    Cfgupdate-Wave: production

 A images/new.json
 M images/production.json
 D old.bin

diff --git a/images/new.json b/images/new.json
--- /dev/null
+++ b/images/new.json
@@ -0,0 +1 @@
+{{}}

diff --git a/images/production.json b/images/production.json
--- a/images/production.json
+++ b/images/production.json
@@ -1,3 +1,3 @@
 {{
-  \"api\": \"v1\"
+  \"api\": \"v2\"
 }}

diff --git a/old.bin b/old.bin
Binary files a/old.bin and b/old.bin differ
",
            "a".repeat(40)
        );
        assert_eq!(render("main", &writes), expected);
    }
}
