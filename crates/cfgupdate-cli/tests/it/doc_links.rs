//! Documents that resolve: every relative link in the repository's Markdown, and every citation
//! of a document in its Markdown and Rust files (a path to a page, the page with an anchor, or
//! the page with a section named in quotes), points at a file that exists and a heading that
//! it has. And nothing cites the numbered sections of a document the repository does not
//! hold: what the project promises is `docs/contract.md`, by section name.

use std::collections::BTreeSet;
use std::fs;
use std::path::{Path, PathBuf};

fn repository_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

/// The `.md` and `.rs` files of the repository: not build output, not hidden directories, and
/// not the test fixtures (copies of other projects' files, with their links).
fn documents(dir: &Path, out: &mut Vec<PathBuf>) {
    let mut entries: Vec<_> = fs::read_dir(dir)
        .unwrap_or_else(|e| panic!("reading {}: {e}", dir.display()))
        .map(|entry| entry.expect("a directory entry").path())
        .collect();
    entries.sort();
    for path in entries {
        let name = path.file_name().and_then(|n| n.to_str()).unwrap_or("");
        if path.is_dir() {
            if !(name.starts_with('.') || name == "target" || name == "fixtures") {
                documents(&path, out);
            }
        } else if name.ends_with(".md") || name.ends_with(".rs") {
            out.push(path);
        }
    }
}

/// GitHub's anchor for a heading: lower case, only letters, digits, `-`, `_` and spaces kept,
/// spaces made `-`.
fn slug(heading: &str) -> String {
    heading
        .trim()
        .to_lowercase()
        .chars()
        .filter(|c| c.is_alphanumeric() || *c == '-' || *c == '_' || *c == ' ')
        .map(|c| if c == ' ' { '-' } else { c })
        .collect()
}

/// A section name as cited, possibly wrapped over lines of a Rust comment, as one line.
fn unwrapped(cited: &str) -> String {
    cited
        .split_whitespace()
        .filter(|word| !matches!(*word, "//" | "///" | "//!"))
        .collect::<Vec<_>>()
        .join(" ")
}

/// What a Markdown page can be cited by: the anchors of its headings (numbered as GitHub numbers
/// repeated ones), and the slugs of its bold paragraph labels (`**Committed YAML.** ...`),
/// which the docs cite by name like sections.
struct Page {
    anchors: BTreeSet<String>,
    labels: BTreeSet<String>,
}

impl Page {
    fn read(text: &str) -> Page {
        let mut anchors = BTreeSet::new();
        let mut labels = BTreeSet::new();
        let mut in_code = false;
        for line in text.lines() {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
                continue;
            }
            if in_code {
                continue;
            }
            let hashes = line.chars().take_while(|c| *c == '#').count();
            if (1..=6).contains(&hashes) && line[hashes..].starts_with(' ') {
                let base = slug(&line[hashes + 1..]);
                let mut anchor = base.clone();
                let mut n = 0;
                while !anchors.insert(anchor.clone()) {
                    n += 1;
                    anchor = format!("{base}-{n}");
                }
            }
            let item = line.trim_start().trim_start_matches("- ");
            if let Some(rest) = item.strip_prefix("**")
                && let Some(end) = rest.find("**")
            {
                labels.insert(slug(&rest[..end]));
            }
        }
        Page { anchors, labels }
    }

    fn has_section(&self, name: &str) -> bool {
        let wanted = slug(&unwrapped(name));
        self.anchors.contains(&wanted) || self.labels.contains(&wanted)
    }
}

fn is_path_char(c: char) -> bool {
    c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '/' | '.')
}

fn is_anchor_char(c: char) -> bool {
    c.is_alphanumeric() || matches!(c, '_' | '-')
}

/// A citation found in a file: the page's path as written, and what it names in the page.
#[derive(Debug, PartialEq)]
enum Cited {
    /// A Markdown link `[text](path#anchor)`: the path is relative to the citing file.
    Link { target: String },
    /// `page.md#anchor` in running text or code.
    Anchor { page: String, anchor: String },
    /// `page.md, "Section name"` (the page possibly in a link or backquotes).
    Section { page: String, section: String },
    /// `docs/page.md` in Markdown or in a Rust comment.
    Page { page: String },
}

/// Every citation in `text` with its line number. Links only in Markdown, outside code blocks.
fn citations(text: &str, markdown: bool) -> Vec<(usize, Cited)> {
    let mut found = Vec::new();
    let line_of = |at: usize| text[..at].matches('\n').count() + 1;
    if markdown {
        let mut in_code = false;
        let mut offset = 0;
        for line in text.split_inclusive('\n') {
            if line.trim_start().starts_with("```") {
                in_code = !in_code;
            } else if !in_code {
                let mut rest = line;
                while let Some(at) = rest.find("](") {
                    let after = &rest[at + 2..];
                    let end = after.find([')', ' ']).unwrap_or(after.len());
                    let target = &after[..end];
                    let scheme = target
                        .find(':')
                        .is_some_and(|colon| !target[..colon].contains(['/', '#']));
                    if !target.is_empty() && !scheme {
                        let position = offset + (line.len() - rest.len()) + at;
                        found.push((
                            line_of(position),
                            Cited::Link {
                                target: target.to_string(),
                            },
                        ));
                    }
                    rest = &after[end..];
                }
            }
            offset += line.len();
        }
    }
    let extension = concat!(".", "md");
    for (at, _) in text.match_indices(extension) {
        let before = &text[..at];
        let start = before.rfind(|c: char| !is_path_char(c)).map_or(0, |i| {
            i + before[i..].chars().next().map_or(1, char::len_utf8)
        });
        let page = &text[start..at + extension.len()];
        let stem = &text[start..at];
        if stem.is_empty() || stem.ends_with('/') || text[..start].ends_with(':') {
            continue; // a URL, or not a file name
        }
        let after = &text[at + extension.len()..];
        if let Some(anchor) = after.strip_prefix('#') {
            let end = anchor.find(|c| !is_anchor_char(c)).unwrap_or(anchor.len());
            if end > 0 && !text[..start].ends_with("](") {
                found.push((
                    line_of(at),
                    Cited::Anchor {
                        page: page.to_string(),
                        anchor: anchor[..end].to_string(),
                    },
                ));
            }
            continue;
        }
        let closing = after.trim_start_matches([')', '`']);
        if let Some(quoted) = closing
            .strip_prefix(',')
            .map(past_a_comment_break)
            .and_then(|s| s.strip_prefix('"'))
            && let Some(end) = quoted.find('"')
            && end <= 120
        {
            found.push((
                line_of(at),
                Cited::Section {
                    page: page.to_string(),
                    section: quoted[..end].to_string(),
                },
            ));
        } else if page.starts_with("docs/") && (markdown || in_comment(text, start)) {
            found.push((
                line_of(at),
                Cited::Page {
                    page: page.to_string(),
                },
            ));
        }
    }
    found
}

/// `text` without its leading white space, and, where that crosses a line break, without the
/// next line's comment leader (`//`, `///`, `//!`): a citation wrapped in a Rust comment
/// continues there.
fn past_a_comment_break(text: &str) -> &str {
    let rest = text.trim_start();
    if text[..text.len() - rest.len()].contains('\n') && rest.starts_with("//") {
        rest.trim_start_matches('/')
            .trim_start_matches('!')
            .trim_start()
    } else {
        rest
    }
}

/// Whether `at` is on a line of a Rust comment (a path to a page in code is data, such as a
/// file of a test repository).
fn in_comment(text: &str, at: usize) -> bool {
    let line_start = text[..at].rfind('\n').map_or(0, |i| i + 1);
    text[line_start..at].contains("//")
}

/// The file a citation names: relative to the citing file's directory, else to the repository
/// root, else to `docs/`.
fn resolve(root: &Path, citing: &Path, page: &str) -> Option<PathBuf> {
    let dir = citing.parent().unwrap_or(root);
    [
        dir.join(page),
        root.join(page),
        root.join("docs").join(page),
    ]
    .into_iter()
    .find(|candidate| candidate.exists())
}

fn check(root: &Path, file: &Path, text: &str, problems: &mut Vec<String>) {
    let markdown = file.extension().is_some_and(|e| e == "md");
    let shown = file
        .strip_prefix(root)
        .unwrap_or(file)
        .display()
        .to_string();
    let page_of = |path: &Path| Page::read(&fs::read_to_string(path).unwrap_or_default());
    let old_numbering = concat!("contract ", "section");
    for (n, line) in text.lines().enumerate() {
        let lower = line.to_lowercase();
        if let Some(at) = lower.find(old_numbering)
            && lower[at + old_numbering.len()..]
                .trim_start_matches('s')
                .trim_start()
                .starts_with(|c: char| c.is_ascii_digit())
        {
            problems.push(format!(
                "{shown}:{}: cites a numbered section of a contract the repository does not \
                 hold; cite docs/contract.md by section name",
                n + 1
            ));
        }
    }
    for (line, cited) in citations(text, markdown) {
        let mut problem = |what: String| problems.push(format!("{shown}:{line}: {what}"));
        match cited {
            Cited::Link { target } => {
                let (path, anchor) = target.split_once('#').unwrap_or((&target, ""));
                let page = if path.is_empty() {
                    Some(file.to_path_buf())
                } else {
                    Some(file.parent().unwrap_or(root).join(path)).filter(|p| p.exists())
                };
                match page {
                    None => problem(format!("link to `{target}`: no such file")),
                    Some(page) => {
                        let is_markdown = page.extension().is_some_and(|e| e == "md");
                        let headings = if path.is_empty() {
                            Page::read(text)
                        } else {
                            page_of(&page)
                        };
                        if !anchor.is_empty() && is_markdown && !headings.anchors.contains(anchor) {
                            problem(format!("link to `{target}`: no such heading"));
                        }
                    }
                }
            }
            Cited::Anchor { page, anchor } => match resolve(root, file, &page) {
                None => problem(format!("`{page}#{anchor}`: no such file")),
                Some(path) if !page_of(&path).anchors.contains(&anchor) => {
                    problem(format!("`{page}#{anchor}`: no such heading"))
                }
                Some(_) => {}
            },
            Cited::Section { page, section } => match resolve(root, file, &page) {
                None => problem(format!("`{page}`, \"{section}\": no such file")),
                Some(path) if !page_of(&path).has_section(&section) => {
                    problem(format!("`{page}`, \"{section}\": no such section"))
                }
                Some(_) => {}
            },
            Cited::Page { page } => {
                if !root.join(&page).exists() {
                    problem(format!("`{page}`: no such file"));
                }
            }
        }
    }
}

#[test]
fn every_link_and_citation_in_the_repository_resolves() {
    let root = repository_root()
        .canonicalize()
        .expect("the repository root");
    let mut files = Vec::new();
    documents(&root, &mut files);
    assert!(
        files.iter().any(|f| f.ends_with("docs/contract.md")),
        "docs/contract.md is missing"
    );
    let mut problems = Vec::new();
    let mut cited = 0;
    // This file's own examples of broken citations are checked by the tests below it.
    let this_file = root.join(file!());
    for file in files.iter().filter(|f| **f != this_file) {
        let text = fs::read_to_string(file).expect("a UTF-8 document");
        cited += citations(&text, file.extension().is_some_and(|e| e == "md")).len();
        check(&root, file, &text, &mut problems);
    }
    assert!(
        cited > 100,
        "only {cited} citations found: the scanner is broken"
    );
    assert!(
        problems.is_empty(),
        "{} citations do not resolve:\n{}",
        problems.len(),
        problems.join("\n")
    );
}

/// The checker itself, on a small repository of its own: it finds what is broken and nothing
/// else.
#[test]
fn broken_links_anchors_sections_and_numbered_citations_are_each_reported() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    fs::create_dir(root.join("docs")).expect("docs/");
    let page =
        "# Title\n\n## Status codes\n\n**Committed YAML.** text\n\n```\n# not a heading\n```\n";
    fs::write(root.join("docs/http.md"), page).expect("a page");
    let citing = root.join("docs/index.md");
    let text = [
        "# Index",
        "[ok](http.md#status-codes) [bad file](nothing.md) [bad anchor](http.md#statuses)",
        "[web](https://example.com/x.md#y) [self](#index) ok: docs/http.md#title",
        "bad: docs/http.md#not-a-heading and (http.md, \"Committed YAML\") and",
        "(`docs/http.md`, \"No Such Section\") and docs/gone.md and `http.md`, \"Status",
        "codes\" and contract section 5 and [code](http.md#not-a-heading-in-code)",
    ]
    .join("\n");
    let mut problems = Vec::new();
    check(root, &citing, &text, &mut problems);
    let lines: Vec<&str> = problems
        .iter()
        .map(|p| p.split_once(": ").map_or("", |(_, what)| what))
        .collect();
    assert_eq!(
        lines,
        [
            "cites a numbered section of a contract the repository does not hold; cite \
             docs/contract.md by section name",
            "link to `nothing.md`: no such file",
            "link to `http.md#statuses`: no such heading",
            "link to `http.md#not-a-heading-in-code`: no such heading",
            "`docs/http.md#not-a-heading`: no such heading",
            "`docs/http.md`, \"No Such Section\": no such section",
            "`docs/gone.md`: no such file",
        ],
        "{problems:#?}"
    );
}

#[test]
fn anchors_are_made_as_github_makes_them() {
    let page = Page::read(
        "# The status page: `GET /`\n## `[target.NAME]` (one for every target)\n## Results\n\
         ## Results\n",
    );
    let anchors: Vec<&str> = page.anchors.iter().map(String::as_str).collect();
    assert_eq!(
        anchors,
        [
            "results",
            "results-1",
            "targetname-one-for-every-target",
            "the-status-page-get-"
        ]
    );
    assert!(page.has_section("The status\n  //! page: `GET /`"));
}

#[test]
fn in_rust_a_page_path_is_a_citation_only_in_a_comment() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    let text = "let path = \"docs/runbook.md\"; // a file of the test repository\n\
                /// Explained in docs/missing.md.\n";
    let mut problems = Vec::new();
    check(root, &root.join("src/lib.rs"), text, &mut problems);
    assert_eq!(
        problems,
        ["src/lib.rs:2: `docs/missing.md`: no such file"],
        "{problems:#?}"
    );
}

#[test]
fn a_section_citation_wrapped_in_a_rust_comment_is_still_checked() {
    let dir = tempfile::tempdir().expect("a temporary directory");
    let root = dir.path();
    fs::create_dir(root.join("docs")).expect("docs/");
    fs::write(root.join("docs/http.md"), "# Title\n\n## Status codes\n").expect("a page");
    let text = "/// Answered as in (docs/http.md,\n    /// \"Status codes\"), and as in (see docs/http.md,\n\
                //! \"Status lines\") and docs/http.md,\n// \"Title\".\n";
    let mut problems = Vec::new();
    check(root, &root.join("src/lib.rs"), text, &mut problems);
    assert_eq!(
        problems,
        ["src/lib.rs:2: `docs/http.md`, \"Status lines\": no such section"],
        "{problems:#?}"
    );
}
