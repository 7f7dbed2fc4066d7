//! The effect check's reading of a service's slots when it refuses: where each slot is, and
//! what its surroundings say (a branch of an `if`, a `local` nothing uses), from the tokens
//! alone: no parse, so no recursion whatever the file holds.

use jrsonnet_rowan_parser::SyntaxKind;

use super::SlotPlace;
use crate::names::ServiceName;
use crate::path::RepoPath;
use crate::pipeline::ImageSetLayout;
use crate::slots::jsonnet::find_slots;
use crate::slots::wave::WaveFiles;

/// One slot of a service, with what its surroundings say.
#[derive(Debug, Clone)]
pub(super) struct SlotSite {
    pub(super) file: RepoPath,
    line: Option<usize>,
    /// The literal is a `then` or `else` branch of an `if`.
    pub(super) in_branch: bool,
    /// The literal is the value of a `local` whose name appears nowhere else in the file.
    pub(super) unused_local: Option<String>,
}

impl SlotSite {
    pub(super) fn place(&self) -> SlotPlace {
        SlotPlace {
            file: self.file.to_string(),
            line: self.line,
        }
    }
}

/// Every slot of `service` in the wave's files after the write. Only the failing path calls
/// this: it reads the files' tokens again.
pub(super) fn slot_sites(
    service: &ServiceName,
    files: &WaveFiles,
    layout: &ImageSetLayout,
) -> Vec<SlotSite> {
    let json_site = |path: &RepoPath| {
        let text = files.get(path).and_then(|text| text.as_deref());
        SlotSite {
            file: path.clone(),
            line: text.and_then(|text| json_key_line(text, service.as_str())),
            in_branch: false,
            unused_local: None,
        }
    };
    match layout {
        ImageSetLayout::Json(path) => vec![json_site(path)],
        ImageSetLayout::TwoFile { tags, digests } => vec![json_site(tags), json_site(digests)],
        ImageSetLayout::Jsonnet(_) => {
            let mut sites = Vec::new();
            for (path, text) in files {
                let Some(text) = text.as_deref() else {
                    continue;
                };
                let Ok(slots) = find_slots(path.as_str(), text) else {
                    continue;
                };
                let mut lexed = None;
                for slot in slots.iter().filter(|slot| &slot.service == service) {
                    let tokens = lexed.get_or_insert_with(|| tokens(text).unwrap_or_default());
                    let surroundings = slot
                        .value
                        .as_deref()
                        .and_then(|value| surroundings(tokens, slot.line, value));
                    let (in_branch, unused_local) = surroundings.unwrap_or((false, None));
                    sites.push(SlotSite {
                        file: path.clone(),
                        line: Some(slot.line),
                        in_branch,
                        unused_local,
                    });
                }
            }
            sites
        }
    }
}

/// The 1-based line of the first `"key":` in a JSON text.
fn json_key_line(text: &str, key: &str) -> Option<usize> {
    let quoted = format!("\"{key}\"");
    let mut from = 0;
    while let Some(found) = text[from..].find(&quoted) {
        let at = from + found;
        let rest = text[at + quoted.len()..].trim_start();
        if rest.starts_with(':') {
            return Some(text[..at].bytes().filter(|&b| b == b'\n').count() + 1);
        }
        from = at + quoted.len();
    }
    None
}

/// A token of the slot's file, trivia left out.
struct Token<'t> {
    kind: SyntaxKind,
    text: &'t str,
    line: usize,
}

fn is_string(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        SyntaxKind::STRING_DOUBLE
            | SyntaxKind::STRING_SINGLE
            | SyntaxKind::STRING_DOUBLE_VERBATIM
            | SyntaxKind::STRING_SINGLE_VERBATIM
            | SyntaxKind::STRING_BLOCK
    )
}

fn opens(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        SyntaxKind::L_BRACE | SyntaxKind::L_BRACK | SyntaxKind::L_PAREN
    )
}

fn closes(kind: SyntaxKind) -> bool {
    matches!(
        kind,
        SyntaxKind::R_BRACE | SyntaxKind::R_BRACK | SyntaxKind::R_PAREN
    )
}

/// What surrounds the string literal holding `value` on `line` (the last such literal on the
/// line): whether it is a branch of an `if`, and the name of the `local` it sets if that name
/// is used nowhere else. Read from the tokens alone (no parse, so no recursion): walking back
/// from the literal, at its own bracket level and then outwards, a `then` or `else` met before
/// a `,` or `;` of that level makes it a branch; an `if` met first makes it a condition.
fn surroundings(tokens: &[Token<'_>], line: usize, value: &str) -> Option<(bool, Option<String>)> {
    let at = tokens
        .iter()
        .rposition(|t| t.line == line && is_string(t.kind) && t.text.contains(value))?;
    Some((in_branch(tokens, at), unused_local(tokens, at)))
}

/// The tokens of a Jsonnet text with their lines, trivia left out; `None` if the lexer's
/// ranges do not fall on the text's characters.
fn tokens(text: &str) -> Option<Vec<Token<'_>>> {
    let mut tokens = Vec::new();
    let mut current_line = 1;
    for lexeme in jrsonnet_lexer::Lexer::new(text) {
        let (start, end) = (lexeme.range.0 as usize, lexeme.range.1 as usize);
        let piece = text.get(start..end)?;
        let kind = SyntaxKind::from_raw(lexeme.kind.into_raw());
        let token_line = current_line;
        current_line += piece.bytes().filter(|&b| b == b'\n').count();
        if !matches!(
            kind,
            SyntaxKind::WHITESPACE
                | SyntaxKind::SINGLE_LINE_SLASH_COMMENT
                | SyntaxKind::SINGLE_LINE_HASH_COMMENT
                | SyntaxKind::MULTI_LINE_COMMENT
        ) {
            tokens.push(Token {
                kind,
                text: piece,
                line: token_line,
            });
        }
    }
    Some(tokens)
}

fn in_branch(tokens: &[Token<'_>], at: usize) -> bool {
    let mut depth = 0usize;
    let mut skipping = false;
    for token in tokens[..at].iter().rev() {
        if closes(token.kind) {
            depth += 1;
            continue;
        }
        if opens(token.kind) {
            if depth == 0 {
                // Out to the enclosing level: its separators count again.
                skipping = false;
            } else {
                depth -= 1;
            }
            continue;
        }
        if depth > 0 || skipping {
            continue;
        }
        match token.kind {
            SyntaxKind::THEN_KW | SyntaxKind::ELSE_KW => return true,
            SyntaxKind::IF_KW => return false,
            // The literal's expression starts after this separator: the rest of this level
            // is other fields or elements.
            SyntaxKind::COMMA | SyntaxKind::SEMI => skipping = true,
            _ => {}
        }
    }
    false
}

fn unused_local(tokens: &[Token<'_>], at: usize) -> Option<String> {
    // `local name = 'x'`, or a later binding of a chain: `local a = f(1, 2), name = 'x'`.
    let [.., before, name, assign] = tokens.get(..at)? else {
        return None;
    };
    if name.kind != SyntaxKind::IDENT || assign.kind != SyntaxKind::ASSIGN {
        return None;
    }
    let binds = match before.kind {
        SyntaxKind::LOCAL_KW => true,
        // A `,` before `name =` is a local chain's only when a `local` starts its level; a
        // named argument (`f(a, image = 'x')`) or a parameter's default is not a local.
        SyntaxKind::COMMA => chain_starts_with_local(&tokens[..at - 3]),
        _ => false,
    };
    if !binds {
        return None;
    }
    let uses = tokens
        .iter()
        .filter(|t| t.kind == SyntaxKind::IDENT && t.text == name.text)
        .count();
    (uses == 1).then(|| name.text.to_owned())
}

/// Whether, walking back at the current bracket level, a `local` comes before a `;` or the
/// level's opening bracket.
fn chain_starts_with_local(tokens: &[Token<'_>]) -> bool {
    let mut depth = 0usize;
    for token in tokens.iter().rev() {
        if closes(token.kind) {
            depth += 1;
        } else if opens(token.kind) {
            if depth == 0 {
                return false;
            }
            depth -= 1;
        } else if depth == 0 {
            match token.kind {
                SyntaxKind::LOCAL_KW => return true,
                SyntaxKind::SEMI => return false,
                _ => {}
            }
        }
    }
    false
}

#[cfg(test)]
mod tests {
    use super::*;

    fn around(text: &str, line: usize, value: &str) -> (bool, Option<String>) {
        surroundings(&tokens(text).unwrap(), line, value).unwrap()
    }

    #[test]
    fn a_literal_in_a_then_or_else_branch_is_a_branch_and_one_in_a_condition_is_not() {
        let text = "{\n  image: if std.extVar('prod') == 'yes' then 'api:1' else 'api:2',\n  other: 'api:3',\n}\n";
        assert!(around(text, 2, "api:1").0);
        assert!(around(text, 2, "api:2").0);
        assert!(!around(text, 2, "yes").0);
        assert!(!around(text, 3, "api:3").0);
        let nested = "local x = if false then {\n  api: 'api:1',\n  web: 'web:1',\n} else {};\nx\n";
        assert!(around(nested, 2, "api:1").0);
        assert!(around(nested, 3, "web:1").0);
        let grouped = "{ a: (if true then 'x' else 'y') + 'api:1' }\n";
        assert!(!around(grouped, 1, "api:1").0);
    }

    #[test]
    fn a_local_used_nowhere_is_found_and_one_used_is_not() {
        let text = "local unused = 'api:1';\nlocal used = 'web:1';\n{ web: used }\n";
        assert_eq!(around(text, 1, "api:1").1.as_deref(), Some("unused"));
        assert_eq!(around(text, 2, "web:1").1, None);
        let chain = "local a = std.max(1, 2), spare = 'api:1';\n{ a: a }\n";
        assert_eq!(around(chain, 1, "api:1").1.as_deref(), Some("spare"));
        let named = "local lib = import 'lib.libsonnet';\nlib.container('api', image = 'api:1')\n";
        assert_eq!(around(named, 2, "api:1").1, None);
        let object_local = "{\n  local spare = 'api:1',\n  api: 'api:2',\n}\n";
        assert_eq!(around(object_local, 2, "api:1").1.as_deref(), Some("spare"));
    }

    proptest::proptest! {
        #[test]
        fn reading_the_surroundings_of_any_text_never_panics(
            text in "[ -~\n'\"(){}\\[\\],;=:|]{0,300}",
            line in 1usize..12,
            value in "[a-z:'()]{0,6}",
        ) {
            if let Some(tokens) = tokens(&text) {
                let _ = surroundings(&tokens, line, &value);
            }
            let _ = json_key_line(&text, &value);
        }
    }

    #[test]
    fn surroundings_of_deeply_nested_and_long_texts_are_read_without_recursion() {
        let deep = format!("{}'api:1'{}", "[".repeat(100_000), "]".repeat(100_000));
        assert_eq!(around(&deep, 1, "api:1"), (false, None));
        let ladder = format!("{}'api:1'", "if true then 1 else ".repeat(20_000));
        assert!(around(&ladder, 1, "api:1").0);
    }

    #[test]
    fn the_line_of_a_json_key_skips_values_that_spell_it() {
        let text = "{\n  \"web\": \"api\",\n  \"api\" : \"x\"\n}\n";
        assert_eq!(json_key_line(text, "api"), Some(3));
        assert_eq!(json_key_line(text, "worker"), None);
    }
}
