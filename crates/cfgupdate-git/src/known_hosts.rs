//! Reading an OpenSSH `known_hosts` file and finding what it says about one server's key.
//!
//! Supported: plain and hashed (`|1|salt|hash`) host names, comma-separated patterns with
//! `*` and `?` wildcards, negated patterns (`!pattern`), the `[host]:port` form for ports
//! other than 22, and the `@revoked` marker. `@cert-authority` lines are skipped: host
//! certificates are not offered by libssh2.

use base64::Engine;
use base64::engine::general_purpose::STANDARD;
use hmac::{KeyInit, Mac};

/// What a known_hosts file says about the key a server presented.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// A line for this host lists exactly this key.
    Known,
    /// No line names this host.
    Unknown,
    /// Lines name this host, with other keys only: the key changed, or someone is in between.
    Changed {
        /// The key types listed for the host (`ssh-ed25519`, ...), sorted, without repeats.
        listed: Vec<String>,
    },
    /// An `@revoked` line lists this key.
    Revoked,
}

/// One usable line: who it is about and which key it lists.
#[derive(Debug)]
struct Entry {
    revoked: bool,
    hosts: String,
    key_type: String,
    key: Vec<u8>,
}

/// The entries of a known_hosts file; lines that cannot be read are skipped, as OpenSSH
/// does.
#[derive(Debug, Default)]
pub(crate) struct KnownHosts {
    entries: Vec<Entry>,
}

impl KnownHosts {
    /// Reads the text of a known_hosts file.
    pub(crate) fn parse(text: &str) -> Self {
        let entries = text.lines().filter_map(parse_line).collect();
        Self { entries }
    }

    /// What the file says about `key` (the SSH wire encoding of a public key, as the
    /// server sent it) presented by `host` on `port`.
    pub(crate) fn check(&self, host: &str, port: u16, key: &[u8]) -> Verdict {
        let name = lookup_name(host, port);
        let mut listed = Vec::new();
        let mut known = false;
        for entry in self.entries.iter().filter(|e| hosts_match(&e.hosts, &name)) {
            if entry.key == key {
                if entry.revoked {
                    return Verdict::Revoked;
                }
                known = true;
            } else if !entry.revoked {
                listed.push(entry.key_type.clone());
            }
        }
        if known {
            return Verdict::Known;
        }
        if listed.is_empty() {
            return Verdict::Unknown;
        }
        listed.sort();
        listed.dedup();
        Verdict::Changed { listed }
    }
}

/// The name OpenSSH looks a server up by: the host for port 22, `[host]:port` otherwise.
fn lookup_name(host: &str, port: u16) -> String {
    let host = host.to_ascii_lowercase();
    if port == 22 {
        host
    } else {
        format!("[{host}]:{port}")
    }
}

fn parse_line(line: &str) -> Option<Entry> {
    let line = line.trim();
    if line.is_empty() || line.starts_with('#') {
        return None;
    }
    let mut fields = line.split_whitespace();
    let mut first = fields.next()?;
    let mut revoked = false;
    if first.starts_with('@') {
        match first {
            "@revoked" => revoked = true,
            // `@cert-authority` and markers OpenSSH may add later: not about plain keys.
            _ => return None,
        }
        first = fields.next()?;
    }
    let key_type = fields.next()?.to_owned();
    let key = STANDARD.decode(fields.next()?).ok()?;
    Some(Entry {
        revoked,
        hosts: first.to_owned(),
        key_type,
        key,
    })
}

/// Whether the host field of a line (`name,pattern,!negated` or `|1|salt|hash`) matches
/// `name`: one positive pattern matches and no negated one does.
fn hosts_match(field: &str, name: &str) -> bool {
    if let Some(hashed) = field.strip_prefix("|1|") {
        return hashed_match(hashed, name);
    }
    let mut matched = false;
    for pattern in field.split(',') {
        match pattern.strip_prefix('!') {
            Some(negated) if wildcard_match(&negated.to_ascii_lowercase(), name) => return false,
            Some(_) => {}
            None => matched |= wildcard_match(&pattern.to_ascii_lowercase(), name),
        }
    }
    matched
}

/// `salt|hash`, both base64: HMAC-SHA1 of the name keyed with the salt.
fn hashed_match(hashed: &str, name: &str) -> bool {
    let Some((salt, hash)) = hashed.split_once('|') else {
        return false;
    };
    let (Ok(salt), Ok(hash)) = (STANDARD.decode(salt), STANDARD.decode(hash)) else {
        return false;
    };
    let Ok(mut mac) = hmac::Hmac::<sha1::Sha1>::new_from_slice(&salt) else {
        return false;
    };
    mac.update(name.as_bytes());
    mac.verify_slice(&hash).is_ok()
}

/// OpenSSH's pattern matching: `*` is any run of characters, `?` any one.
fn wildcard_match(pattern: &str, text: &str) -> bool {
    let pattern = pattern.as_bytes();
    let text = text.as_bytes();
    let (mut p, mut t) = (0, 0);
    // Where the last `*` was, and which text position it is currently standing for.
    let mut star: Option<(usize, usize)> = None;
    while t < text.len() {
        if p < pattern.len() && (pattern[p] == b'?' || pattern[p] == text[t]) {
            p += 1;
            t += 1;
        } else if p < pattern.len() && pattern[p] == b'*' {
            star = Some((p, t));
            p += 1;
        } else if let Some((star_p, star_t)) = star {
            p = star_p + 1;
            t = star_t + 1;
            star = Some((star_p, star_t + 1));
        } else {
            return false;
        }
    }
    pattern[p..].iter().all(|&c| c == b'*')
}

/// The key type named inside an SSH wire-encoded public key (`ssh-ed25519`, ...).
pub(crate) fn key_type(key: &[u8]) -> Option<&str> {
    let length = u32::from_be_bytes(key.get(..4)?.try_into().ok()?);
    let name = key.get(4..4 + usize::try_from(length).ok()?)?;
    std::str::from_utf8(name).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A wire-encoded key of `kind` whose body is `body`.
    fn key(kind: &str, body: &[u8]) -> Vec<u8> {
        let mut key = (kind.len() as u32).to_be_bytes().to_vec();
        key.extend_from_slice(kind.as_bytes());
        key.extend_from_slice(body);
        key
    }

    fn line(hosts: &str, key: &[u8]) -> String {
        format!(
            "{hosts} {} {} comment",
            key_type(key).unwrap(),
            STANDARD.encode(key)
        )
    }

    #[test]
    fn a_listed_key_is_known_on_its_own_port_only() {
        let ours = key("ssh-ed25519", b"one");
        let file = KnownHosts::parse(&format!(
            "# comment\n\n{}\n{}\n",
            line("[git.example.com]:2222", &ours),
            line("other.example.com", &key("ssh-ed25519", b"two"))
        ));
        assert_eq!(file.check("git.example.com", 2222, &ours), Verdict::Known);
        assert_eq!(file.check("GIT.example.com", 2222, &ours), Verdict::Known);
        assert_eq!(file.check("git.example.com", 22, &ours), Verdict::Unknown);
        assert_eq!(file.check("git.example.com", 2223, &ours), Verdict::Unknown);
    }

    #[test]
    fn another_key_for_the_host_is_a_change_and_names_the_listed_types() {
        let file = KnownHosts::parse(&format!(
            "{}\n{}\n",
            line("git.example.com,10.0.0.1", &key("ssh-ed25519", b"old")),
            line("git.example.com", &key("ssh-rsa", b"rsa"))
        ));
        assert_eq!(
            file.check("10.0.0.1", 22, &key("ssh-ed25519", b"new")),
            Verdict::Changed {
                listed: vec!["ssh-ed25519".into()]
            }
        );
        assert_eq!(
            file.check("git.example.com", 22, &key("ssh-ed25519", b"new")),
            Verdict::Changed {
                listed: vec!["ssh-ed25519".into(), "ssh-rsa".into()]
            }
        );
    }

    #[test]
    fn hashed_names_match_as_ssh_keygen_writes_them() {
        // `ssh-keygen -H` of "[127.0.0.1]:2222": HMAC-SHA1 keyed with the salt.
        let salt = b"0123456789abcdefghij";
        let mut mac = hmac::Hmac::<sha1::Sha1>::new_from_slice(salt).unwrap();
        mac.update(b"[127.0.0.1]:2222");
        let hash = mac.finalize().into_bytes();
        let hosts = format!("|1|{}|{}", STANDARD.encode(salt), STANDARD.encode(hash));
        let ours = key("ssh-ed25519", b"k");
        let file = KnownHosts::parse(&line(&hosts, &ours));
        assert_eq!(file.check("127.0.0.1", 2222, &ours), Verdict::Known);
        assert_eq!(file.check("127.0.0.1", 22, &ours), Verdict::Unknown);
        assert_eq!(file.check("127.0.0.2", 2222, &ours), Verdict::Unknown);
    }

    #[test]
    fn wildcards_and_negations_follow_openssh() {
        let ours = key("ssh-ed25519", b"k");
        let file = KnownHosts::parse(&line("*.example.com,!evil.example.com,git?.test", &ours));
        assert_eq!(file.check("a.example.com", 22, &ours), Verdict::Known);
        assert_eq!(file.check("evil.example.com", 22, &ours), Verdict::Unknown);
        assert_eq!(file.check("git1.test", 22, &ours), Verdict::Known);
        assert_eq!(file.check("git12.test", 22, &ours), Verdict::Unknown);
        assert_eq!(file.check("example.com", 22, &ours), Verdict::Unknown);
    }

    #[test]
    fn a_revoked_key_is_refused_even_when_also_listed() {
        let ours = key("ssh-ed25519", b"k");
        let file = KnownHosts::parse(&format!(
            "{}\n@revoked {}\n",
            line("host", &ours),
            line("*", &ours)
        ));
        assert_eq!(file.check("host", 22, &ours), Verdict::Revoked);
    }

    #[test]
    fn broken_lines_are_skipped_and_cert_authorities_ignored() {
        let ours = key("ssh-ed25519", b"k");
        let file = KnownHosts::parse(&format!(
            "host ssh-ed25519 !!!notbase64\nhost\n@cert-authority {}\n\u{0}\u{7f} x y\n",
            line("host", &ours)
        ));
        assert_eq!(file.check("host", 22, &ours), Verdict::Unknown);
    }

    #[test]
    fn a_wire_key_names_its_type_and_a_truncated_one_nothing() {
        assert_eq!(key_type(&key("ssh-rsa", b"x")), Some("ssh-rsa"));
        assert_eq!(key_type(&[0, 0, 0, 9, b'a']), None);
        assert_eq!(key_type(&[]), None);
    }
}
