//! The example runs in the workspace's test suite: built by Cargo beside this test, run as a
//! user would run it, and its three steps checked.

use std::process::Command;

#[test]
fn the_embedding_example_edits_publishes_in_memory_through_refusals_and_to_git() {
    let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate-embed"))
        .output()
        .expect("the example runs");
    let stdout = String::from_utf8_lossy(&output.stdout);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert!(output.status.success(), "{stdout}\n{stderr}");
    let lines: Vec<&str> = stdout.lines().collect();
    assert_eq!(lines.len(), 3, "{stdout}");
    assert!(
        lines[0].starts_with("edited: api: 'reg.example.com/api:v2@sha256:2222"),
        "{stdout}"
    );
    assert!(
        lines[1].starts_with("in memory: ") && lines[1].ends_with(" after 2 refused pushes"),
        "{stdout}"
    );
    assert!(
        lines[2].starts_with("git: ") && lines[2].ends_with(" on main"),
        "{stdout}"
    );
}
