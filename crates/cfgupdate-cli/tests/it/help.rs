//! `--help` teaches with examples, and the examples keep their lines at any terminal width
//! (clap wraps help to the terminal; a command line broken inside an argument cannot be
//! copied).

use std::process::Command;

fn help(args: &[&str], columns: u16) -> String {
    let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .args(args)
        .arg("--help")
        .env("COLUMNS", columns.to_string())
        .output()
        .expect("the binary runs");
    assert!(output.status.success(), "{args:?}: {output:?}");
    String::from_utf8(output.stdout).expect("help is UTF-8")
}

/// The example section: from the first line that starts with `Example` to the end.
fn examples(text: &str) -> Vec<String> {
    text.lines()
        .skip_while(|line| !line.starts_with("Example"))
        .map(str::to_owned)
        .collect()
}

/// Every public subcommand, read from the top-level help, and `state reset`.
fn commands() -> Vec<Vec<String>> {
    let top = help(&[], 200);
    let mut commands: Vec<Vec<String>> = top
        .lines()
        .skip_while(|line| !line.starts_with("Commands:"))
        .skip(1)
        .take_while(|line| line.starts_with("  "))
        .filter_map(|line| line.split_whitespace().next())
        .filter(|name| *name != "help")
        .map(|name| vec![name.to_owned()])
        .collect();
    commands.push(vec!["state".into(), "reset".into()]);
    commands
}

#[test]
fn every_command_teaches_with_an_example_that_invokes_cfgupdate() {
    let commands = commands();
    assert!(commands.len() >= 15, "{commands:?}");
    for command in std::iter::once(Vec::new()).chain(commands) {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let lines = examples(&help(&args, 100));
        assert!(
            lines
                .iter()
                .any(|line| line.trim_start().starts_with("cfgupdate ")
                    || line.contains(" cfgupdate ")),
            "`cfgupdate {}` --help has no example:\n{}",
            command.join(" "),
            lines.join("\n")
        );
    }
}

#[test]
fn examples_keep_their_lines_at_any_terminal_width() {
    for command in std::iter::once(Vec::new()).chain(commands()) {
        let args: Vec<&str> = command.iter().map(String::as_str).collect();
        let narrow = help(&args, 40);
        let wide = help(&args, 200);
        assert_eq!(
            examples(&narrow),
            examples(&wide),
            "`cfgupdate {} --help`",
            command.join(" ")
        );
        // Short help (-h) keeps them too.
        let mut short: Vec<&str> = args.clone();
        short.push("-h");
        let short_narrow = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
            .args(&short)
            .env("COLUMNS", "40")
            .output()
            .expect("the binary runs");
        assert_eq!(
            examples(&String::from_utf8_lossy(&short_narrow.stdout)),
            examples(&wide),
            "`cfgupdate {} -h`",
            command.join(" ")
        );
    }
}

#[test]
fn the_prose_is_still_wrapped_to_the_terminal() {
    let narrow = help(&["publish"], 40);
    let prose: Vec<&str> = narrow
        .lines()
        .take_while(|line| !line.starts_with("Example"))
        // clap never wraps the usage line.
        .filter(|line| !line.starts_with("Usage:"))
        .collect();
    assert!(
        prose.iter().all(|line| line.chars().count() <= 40),
        "{}",
        prose.join("\n")
    );
}

#[test]
fn the_man_page_still_has_the_examples() {
    let output = Command::new(env!("CARGO_BIN_EXE_cfgupdate"))
        .arg("man")
        .output()
        .expect("the binary runs");
    let page = String::from_utf8_lossy(&output.stdout);
    assert!(page.contains("cfgupdate demo"), "{page}");
}
