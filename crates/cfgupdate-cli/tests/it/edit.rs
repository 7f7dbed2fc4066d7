//! `cfgupdate edit` through the real binary: output, `--write`, exit codes, and that a failing
//! edit writes nothing.

use std::fs;
use std::path::Path;
use std::process::{Command, Output};

const DIGEST_B: &str = "sha256:bbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbbb";

fn cfgupdate(args: &[&str], dir: &Path) -> Output {
    Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(args)
        .current_dir(dir)
        .output()
        .expect("the binary runs")
}

fn stderr(output: &Output) -> String {
    String::from_utf8_lossy(&output.stderr).into_owned()
}

const JSONNET: &str = "// prod images\n{\n  api: 'reg.example.com/api:v1@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa',  # keep me\n  web: \"reg.example.com/web:v1\",  // cfgupdate: web\n}\n";

fn new_ref(service: &str) -> String {
    format!("{service}=reg.example.com/{service}:v2@{DIGEST_B}")
}

#[test]
fn edit_prints_the_edited_file_and_leaves_it_alone_without_write() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("images.jsonnet"), JSONNET).unwrap();
    let output = cfgupdate(
        &["edit", "images.jsonnet", "--set", &new_ref("api")],
        dir.path(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let expected = JSONNET.replace(
        "reg.example.com/api:v1@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa",
        &format!("reg.example.com/api:v2@{DIGEST_B}"),
    );
    assert_eq!(String::from_utf8(output.stdout).unwrap(), expected);
    assert_eq!(
        fs::read_to_string(dir.path().join("images.jsonnet")).unwrap(),
        JSONNET
    );
}

#[test]
fn edit_with_write_changes_only_the_marked_and_named_literals() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("images.jsonnet");
    fs::write(&file, JSONNET).unwrap();
    let output = cfgupdate(
        &[
            "edit",
            "images.jsonnet",
            "--set",
            &new_ref("api"),
            "--set",
            &new_ref("web"),
            "--write",
        ],
        dir.path(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    assert!(output.stdout.is_empty());
    let written = fs::read_to_string(&file).unwrap();
    assert!(
        written.contains(&format!(
            "api: 'reg.example.com/api:v2@{DIGEST_B}',  # keep me"
        )),
        "{written}"
    );
    assert!(
        written.contains(&format!(
            "web: \"reg.example.com/web:v2@{DIGEST_B}\",  // cfgupdate: web"
        )),
        "{written}"
    );
    assert!(written.starts_with("// prod images\n{\n"));
}

#[test]
fn edit_of_a_json_image_file_adds_a_new_service_as_a_key() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("staging.json");
    fs::write(&file, "{\n    \"api\": \"reg.example.com/api:v1@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa\"\n}\n").unwrap();
    let output = cfgupdate(
        &["edit", "staging.json", "--set", &new_ref("web"), "--write"],
        dir.path(),
    );
    assert!(output.status.success(), "{}", stderr(&output));
    let written = fs::read_to_string(&file).unwrap();
    assert!(
        written.contains(&format!(
            "    \"web\": \"reg.example.com/web:v2@{DIGEST_B}\""
        )),
        "{written}"
    );
    assert!(
        written.contains("\"api\": \"reg.example.com/api:v1@"),
        "{written}"
    );
}

#[test]
fn one_failing_set_writes_nothing_and_exits_2_naming_the_service_and_file() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("images.jsonnet");
    fs::write(&file, JSONNET).unwrap();
    let output = cfgupdate(
        &[
            "edit",
            "images.jsonnet",
            "--set",
            &new_ref("api"),
            "--set",
            &new_ref("billing"),
            "--write",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    let message = stderr(&output);
    assert!(
        message.contains("billing") && message.contains("images.jsonnet"),
        "{message}"
    );
    assert_eq!(fs::read_to_string(&file).unwrap(), JSONNET);
}

#[test]
fn an_invalid_reference_exits_2_naming_the_value() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(dir.path().join("images.jsonnet"), JSONNET).unwrap();
    let output = cfgupdate(
        &["edit", "images.jsonnet", "--set", "api=Reg/API:v2"],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("Reg/API:v2"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_reference_without_a_digest_exits_2_and_writes_nothing() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("images.jsonnet");
    fs::write(&file, JSONNET).unwrap();
    let output = cfgupdate(
        &[
            "edit",
            "images.jsonnet",
            "--set",
            "api=reg.example.com/api:v2",
            "--write",
        ],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(stderr(&output).contains("digest"), "{}", stderr(&output));
    assert_eq!(fs::read_to_string(&file).unwrap(), JSONNET);
}

#[test]
fn a_missing_file_exits_2_naming_it() {
    let dir = tempfile::tempdir().unwrap();
    let output = cfgupdate(
        &["edit", "nope.jsonnet", "--set", &new_ref("api")],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("nope.jsonnet"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn a_jsonnet_syntax_error_exits_2_with_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    fs::write(
        dir.path().join("bad.jsonnet"),
        "{\n  api: 'x',\n  web: ,\n}\n",
    )
    .unwrap();
    let output = cfgupdate(
        &["edit", "bad.jsonnet", "--set", &new_ref("api")],
        dir.path(),
    );
    assert_eq!(output.status.code(), Some(2));
    assert!(
        stderr(&output).contains("bad.jsonnet:"),
        "{}",
        stderr(&output)
    );
}

#[test]
fn edit_help_teaches_the_slot_rules() {
    let dir = tempfile::tempdir().unwrap();
    let output = cfgupdate(&["edit", "--help"], dir.path());
    assert!(output.status.success());
    let help = String::from_utf8(output.stdout).unwrap();
    assert!(
        help.contains("cfgupdate: api") && help.contains("--write") && help.contains("digest"),
        "{help}"
    );
}

// --- --write through symbolic links, and file modes (issue 11) ------------------------------

mod write_target {
    use super::*;
    use std::os::unix::fs::{PermissionsExt, symlink};

    const OLD_API: &str = "reg.example.com/api:v1@sha256:aaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaaa";

    /// A config repository: `cfgupdate.toml`, and `lib/images.jsonnet` holding [`JSONNET`].
    fn repository() -> tempfile::TempDir {
        let dir = tempfile::tempdir().unwrap();
        fs::write(dir.path().join("cfgupdate.toml"), "").unwrap();
        fs::create_dir_all(dir.path().join("lib")).unwrap();
        fs::create_dir_all(dir.path().join("envs/prod")).unwrap();
        fs::write(dir.path().join("lib/images.jsonnet"), JSONNET).unwrap();
        dir
    }

    #[test]
    fn a_linked_directory_of_another_repository_is_outside_the_tree_and_is_refused() {
        // `shared -> ../other` where `other` is a repository of its own: the tree is the one
        // the directories really are in, never the one a link leads to.
        let root = tempfile::tempdir().unwrap();
        let repo = root.path().join("repo");
        let other = root.path().join("other");
        fs::create_dir_all(repo.join(".git")).unwrap();
        fs::create_dir_all(other.join(".git")).unwrap();
        fs::write(other.join("images.jsonnet"), JSONNET).unwrap();
        symlink("../other", repo.join("shared")).unwrap();
        let output = cfgupdate(
            &[
                "edit",
                "shared/images.jsonnet",
                "--set",
                &new_ref("api"),
                "--write",
            ],
            &repo,
        );
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("outside the tree"),
            "{}",
            stderr(&output)
        );
        assert_eq!(
            fs::read_to_string(other.join("images.jsonnet")).unwrap(),
            JSONNET,
            "the other repository is untouched"
        );
    }

    #[test]
    fn a_link_to_a_file_inside_the_tree_is_written_through_and_stays_a_link() {
        let repo = repository();
        let link = repo.path().join("envs/prod/images.jsonnet");
        symlink("../../lib/images.jsonnet", &link).unwrap();
        let output = cfgupdate(
            &[
                "edit",
                "envs/prod/images.jsonnet",
                "--set",
                &new_ref("api"),
                "--write",
            ],
            repo.path(),
        );
        assert!(output.status.success(), "{}", stderr(&output));
        assert!(
            fs::symlink_metadata(&link).unwrap().is_symlink(),
            "the link is kept"
        );
        let target = fs::read_to_string(repo.path().join("lib/images.jsonnet")).unwrap();
        assert!(
            target.contains(&format!("reg.example.com/api:v2@{DIGEST_B}")),
            "the target is written: {target}"
        );
    }

    #[test]
    fn a_link_out_of_the_tree_is_refused_and_nothing_is_written() {
        let repo = repository();
        let elsewhere = tempfile::tempdir().unwrap();
        let outside = elsewhere.path().join("images.jsonnet");
        fs::write(&outside, JSONNET).unwrap();
        symlink(&outside, repo.path().join("envs/prod/images.jsonnet")).unwrap();
        let output = cfgupdate(
            &[
                "edit",
                "envs/prod/images.jsonnet",
                "--set",
                &new_ref("api"),
                "--write",
            ],
            repo.path(),
        );
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("envs/prod/images.jsonnet leads through a symbolic link to")
                && stderr(&output).contains("outside the tree"),
            "{}",
            stderr(&output)
        );
        assert_eq!(fs::read_to_string(&outside).unwrap(), JSONNET);
        assert!(
            fs::symlink_metadata(repo.path().join("envs/prod/images.jsonnet"))
                .unwrap()
                .is_symlink()
        );
    }

    #[test]
    fn a_link_to_a_directory_is_refused() {
        let repo = repository();
        symlink("../../lib", repo.path().join("envs/prod/images.jsonnet")).unwrap();
        let output = cfgupdate(
            &[
                "edit",
                "envs/prod/images.jsonnet",
                "--set",
                &new_ref("api"),
                "--write",
            ],
            repo.path(),
        );
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("is a directory"),
            "{}",
            stderr(&output)
        );
    }

    #[test]
    fn a_read_only_file_is_refused_not_replaced() {
        let repo = repository();
        let file = repo.path().join("lib/images.jsonnet");
        fs::set_permissions(&file, fs::Permissions::from_mode(0o444)).unwrap();
        let output = cfgupdate(
            &[
                "edit",
                "lib/images.jsonnet",
                "--set",
                &new_ref("api"),
                "--write",
            ],
            repo.path(),
        );
        assert_eq!(output.status.code(), Some(2), "{}", stderr(&output));
        assert!(
            stderr(&output).contains("is read-only"),
            "{}",
            stderr(&output)
        );
        assert_eq!(fs::read_to_string(&file).unwrap(), JSONNET);
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o444
        );
    }

    #[test]
    fn the_mode_of_a_written_file_is_kept() {
        for mode in [0o640, 0o755, 0o600] {
            let repo = repository();
            let file = repo.path().join("lib/images.jsonnet");
            fs::set_permissions(&file, fs::Permissions::from_mode(mode)).unwrap();
            let output = cfgupdate(
                &[
                    "edit",
                    "lib/images.jsonnet",
                    "--set",
                    &new_ref("api"),
                    "--write",
                ],
                repo.path(),
            );
            assert!(output.status.success(), "{}", stderr(&output));
            assert!(!fs::read_to_string(&file).unwrap().contains(OLD_API));
            assert_eq!(
                fs::metadata(&file).unwrap().permissions().mode() & 0o777,
                mode
            );
        }
    }
}
