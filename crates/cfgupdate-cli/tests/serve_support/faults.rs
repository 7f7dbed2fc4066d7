//! What the `faults_*` and `hostile_*` tests need beyond the rest of the support: a raw
//! HTTP/1.1 client that sends exactly the bytes it is given, and a snapshot of every ref of a
//! remote. The seeded random number generator is the test kit's `Rng`, the `git daemon` that can
//! be stopped and started again on the same port is the test kit's `GitDaemon`.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::Path;
use std::time::Duration;

use cfgupdate_tests::{git, try_git};

use super::Answer;

/// Every ref of a bare repository with the commit it points at: equal snapshots mean nothing
/// was pushed in between.
pub fn refs(bare: &Path) -> String {
    git(bare, &["for-each-ref", "--format=%(refname) %(objectname)"])
}

/// Asserts that `git fsck --strict` finds nothing wrong with `bare`.
pub fn assert_fsck_clean(bare: &Path) {
    let fsck = try_git(bare, &["fsck", "--strict"]);
    assert!(
        fsck.status.success(),
        "git fsck --strict: {}{}",
        String::from_utf8_lossy(&fsck.stdout),
        String::from_utf8_lossy(&fsck.stderr)
    );
}

/// The pipeline state document on the remote (`{}` when there is none yet).
pub fn state_document(bare: &Path) -> serde_json::Value {
    let shown = try_git(bare, &["show", "refs/cfgupdate/state/master:state.json"]);
    if !shown.status.success() {
        return serde_json::json!({});
    }
    serde_json::from_slice(&shown.stdout).expect("the state document is JSON")
}

/// `(wave, source revision)` of every promote commit on the branch, oldest first.
pub fn promotions(bare: &Path) -> Vec<(String, String)> {
    let format = "--format=%(trailers:key=Cfgupdate-Action,valueonly,separator=%x2C)|%(trailers:key=Cfgupdate-Wave,valueonly,separator=%x2C)|%(trailers:key=Cfgupdate-Source-Revision,valueonly,separator=%x2C)";
    git(bare, &["log", "--reverse", format, "master"])
        .lines()
        .filter_map(|line| {
            let mut parts = line.split('|');
            let (action, wave, source) = (parts.next()?, parts.next()?, parts.next()?);
            (action.trim() == "promote").then(|| (wave.trim().to_owned(), source.trim().to_owned()))
        })
        .collect()
}

/// Sends `request` (the whole HTTP/1.1 request, as bytes) to `url` (`http://host:port`) over a
/// fresh connection and reads the answer until the server closes it. Nothing is added,
/// normalised or checked, so duplicated headers, raw `..` in paths and bytes a client library
/// would refuse all reach the server as written. `None` when the server closed the connection
/// without answering.
pub fn raw(url: &str, request: &[u8]) -> Option<Answer> {
    let address = url.strip_prefix("http://").expect("an http:// URL");
    let mut stream = TcpStream::connect(address).expect("the server accepts connections");
    stream
        .set_read_timeout(Some(Duration::from_secs(120)))
        .unwrap();
    // The server may answer (and close) before it has read a large body: a failed write is
    // not an error of the test.
    let _ = stream.write_all(request);
    let mut bytes = Vec::new();
    let _ = stream.read_to_end(&mut bytes);
    parse_answer(&bytes)
}

fn parse_answer(bytes: &[u8]) -> Option<Answer> {
    let end = bytes.windows(4).position(|w| w == b"\r\n\r\n")?;
    let head = String::from_utf8_lossy(&bytes[..end]).into_owned();
    let mut lines = head.split("\r\n");
    let status: u16 = lines.next()?.split(' ').nth(1)?.parse().ok()?;
    let headers: Vec<(String, String)> = lines
        .filter_map(|l| l.split_once(':'))
        .map(|(n, v)| (n.trim().to_owned(), v.trim().to_owned()))
        .collect();
    let mut body = bytes[end + 4..].to_vec();
    let chunked = headers.iter().any(|(n, v)| {
        n.eq_ignore_ascii_case("transfer-encoding") && v.eq_ignore_ascii_case("chunked")
    });
    if chunked {
        body = dechunk(&body);
    }
    Some(Answer {
        status,
        headers,
        text: String::from_utf8_lossy(&body).into_owned(),
    })
}

fn dechunk(mut bytes: &[u8]) -> Vec<u8> {
    let mut out = Vec::new();
    while let Some(line_end) = bytes.windows(2).position(|w| w == b"\r\n") {
        let size = String::from_utf8_lossy(&bytes[..line_end]);
        let Ok(size) = usize::from_str_radix(size.split(';').next().unwrap_or("").trim(), 16)
        else {
            break;
        };
        if size == 0 {
            break;
        }
        let start = line_end + 2;
        let Some(chunk) = bytes.get(start..start + size) else {
            break;
        };
        out.extend_from_slice(chunk);
        bytes = bytes.get(start + size + 2..).unwrap_or_default();
    }
    out
}
