//! The page's HTML from statuses built by hand, hostile values included.

use std::collections::BTreeMap;
use std::time::{Duration, SystemTime};

use cfgupdate_core::promotion::{
    DeployStatus, Gate, HistoryEntry, ReportView, StateStatus, Status, StepState, TargetStatus,
    TransitionStatus, Wait, WaveStatus,
};
use cfgupdate_core::{CommitId, ImageRef, Pin, ServiceName, TargetName, WaveName};

use super::html::{esc, spoken};
use super::{WebUrl, render, render_error};

fn commit(n: u64) -> CommitId {
    CommitId::parse(&format!("{n:040x}")).unwrap()
}

fn image(service: &str, n: u64) -> ImageRef {
    ImageRef::parse(&format!(
        "reg.example.com/{service}:{:040x}@sha256:{n:064x}",
        n
    ))
    .unwrap()
}

const NOW: Duration = Duration::from_secs(1_800_000_000);

fn at(seconds_before_now: u64) -> SystemTime {
    SystemTime::UNIX_EPOCH + NOW - Duration::from_secs(seconds_before_now)
}

/// Every text field that is a plain string carries `hostile`.
fn status(hostile: &str) -> Status {
    status_waiting(hostile, false)
}

/// [`status`], whose step waits for approval when `wait` (the wait's sentence is then shown
/// instead of the reason).
fn status_waiting(hostile: &str, wait: bool) -> Status {
    let service = |s: &str| ServiceName::parse(s).unwrap();
    let wave = |name: &str, images: &[(&str, u64)], promotion| WaveStatus {
        name: WaveName::parse(name).unwrap(),
        images: images
            .iter()
            .map(|(s, n)| (service(s), image(s, *n)))
            .collect(),
        images_error: Some(hostile.to_owned()),
        soak: Some(Duration::from_secs(600)),
        approval: true,
        hold: vec![service("billing")],
        pin: Pin::Tag,
        digestless: vec![service("api")],
        held: vec![cfgupdate_core::promotion::HeldService {
            service: service("web"),
            hold: cfgupdate_core::promotion::Hold::Edit {
                commit: commit(7),
                author: hostile.to_owned(),
                time: 1_800_000_000,
            },
            rollback_commit: None,
        }],
        targets: vec![
            TargetStatus {
                name: TargetName::parse(&format!("{name}-us")).unwrap(),
                argocd_app: hostile.to_owned(),
                last_report: Some(ReportView {
                    revision: commit(7),
                    status: DeployStatus::Failed,
                    at: at(150),
                }),
            },
            TargetStatus {
                name: TargetName::parse(&format!("{name}-eu")).unwrap(),
                argocd_app: String::new(),
                last_report: None,
            },
        ],
        promotion,
        frozen: Some(cfgupdate_core::freeze::Frozen {
            until: at(0) + Duration::from_secs(3_600),
            reason: hostile.to_owned(),
        }),
        deferred: Vec::new(),
    };
    let step = TransitionStatus {
        into: WaveName::parse("production").unwrap(),
        state: StepState::Waiting,
        reason: hostile.to_owned(),
        gate: Some(Gate::Soak {
            ready_at: Some(at(0) + Duration::from_secs(250)),
        }),
        source_revision: Some(commit(7)),
        images: Some([(service("api"), image("api", 2))].into_iter().collect()),
        wait: wait.then(|| Wait::Approval {
            into: WaveName::parse("production").unwrap(),
            revision: commit(7),
        }),
    };
    Status {
        revision: commit(9),
        waves: vec![
            wave("staging", &[("api", 2), ("billing", 1)], Some(step)),
            wave("production", &[("api", 1)], None),
        ],
        state: StateStatus {
            authenticated: false,
            problem: Some(hostile.to_owned()),
            warning: Some(hostile.to_owned()),
        },
        history: vec![HistoryEntry {
            commit: commit(9),
            time: 1_800_000_000,
            subject: hostile.to_owned(),
            action: hostile.to_owned(),
            wave: Some(WaveName::parse("staging").unwrap()),
            app_commits: vec![commit(2)],
            source_wave: None,
            source_revision: None,
            images: BTreeMap::from([(service("api"), image("api", 2))]),
            approved_by: Some(hostile.to_owned()),
            sealed: Some(false),
        }],
    }
}

/// The page's elements: every `<` opens one of these (or closes it), nothing else.
const ELEMENTS: &[&str] = &[
    "!DOCTYPE", "html", "head", "meta", "title", "style", "body", "header", "h1", "h2", "h3", "h4",
    "p", "main", "section", "div", "ul", "li", "span", "br", "strong", "code", "a", "time", "bdi",
    "table", "caption", "thead", "tbody", "tr", "th", "td", "details", "summary", "footer",
];

fn elements(page: &str) -> Vec<String> {
    page.split('<')
        .skip(1)
        .map(|rest| {
            rest.trim_start_matches('/')
                .split(|c: char| c.is_whitespace() || c == '>')
                .next()
                .unwrap_or_default()
                .to_owned()
        })
        .collect()
}

fn page(hostile: &str, links: Option<&WebUrl>) -> String {
    render(
        &status(hostile),
        SystemTime::UNIX_EPOCH + NOW,
        Duration::from_secs(3),
        links,
    )
}

#[test]
fn hostile_values_are_shown_as_text_never_as_markup() {
    let hostile = "\"'><script>alert(1)</script><img src=x onerror=alert(1)><style>body{display:none}</style>&amp;";
    let page = page(hostile, None);
    for element in elements(&page) {
        assert!(
            ELEMENTS.contains(&element.as_str()),
            "unexpected element <{element}> in the page"
        );
    }
    assert!(!page.contains("<script"));
    assert!(!page.contains("<img"));
    assert!(page.contains("&lt;img src=x onerror=alert(1)&gt;"));
    assert!(page.contains("&lt;script&gt;alert(1)&lt;/script&gt;"));
    assert!(page.contains("&quot;&#39;&gt;"));
    assert!(page.contains("&amp;amp;"));
    // Exactly the one style element of the page.
    assert_eq!(page.matches("<style>").count(), 1);
}

#[test]
fn direction_overrides_and_control_characters_are_shown_not_obeyed() {
    let hostile = "approved\u{202e}gnp.exe\u{2066}x\u{0007}\u{200b}\r\nrest";
    let page = page(hostile, None);
    for hidden in ['\u{202e}', '\u{2066}', '\u{0007}', '\u{200b}', '\r'] {
        assert!(!page.contains(hidden), "{hidden:?} reached the page");
    }
    assert!(page.contains("approved⟨U+202E⟩gnp.exe⟨U+2066⟩x⟨U+0007⟩⟨U+200B⟩⟨U+000D⟩⟨U+000A⟩rest"));
}

#[test]
fn very_long_values_are_cut() {
    let hostile = "A".repeat(200_000);
    let page = page(&hostile, None);
    assert!(!page.contains(&"A".repeat(601)));
    assert!(page.contains(&format!("{}…", "A".repeat(140))));
    assert!(page.len() < 64 * 1024, "the page is {} bytes", page.len());
}

#[test]
fn the_page_shows_waves_images_waits_reports_and_history() {
    let page = page("text", None);
    // Waves left to right: staging, its step, production.
    let staging = page.find("<h3 id=\"wave-0\">staging</h3>").unwrap();
    let step = page
        .find("aria-label=\"from staging into production\"")
        .unwrap();
    let production = page.find("<h3 id=\"wave-1\">production</h3>").unwrap();
    assert!(staging < step && step < production);
    // Short tag and digest, the full reference beside them.
    assert!(page.contains(&format!(
        "<code class=\"tag\">{}…</code> <code class=\"digest\">sha256:{}</code>",
        &format!("{:040x}", 2)[..12],
        &format!("{:064x}", 2)[..12]
    )));
    assert!(page.contains(image("api", 2).as_str()));
    // What waits and why, how long is left, what would change.
    assert!(page.contains("waiting: soak"));
    assert!(page.contains("<strong>4 min 10 s</strong> of soak left"));
    assert!(page.contains("Would change:"));
    // Reports with their age; a failure stands out.
    assert!(page.contains("<span class=\"badge bad\">failed</span>"));
    assert!(page.contains("2 min 30 s ago"));
    assert!(page.contains("no report yet"));
    assert!(page.contains("<span class=\"badge warn\">held</span>"));
    // History, a commit someone else wrote in cfgupdate's name marked.
    assert!(page.contains("not written by cfgupdate: decides nothing"));
    // Table headers for both axes.
    assert!(page.contains("<th scope=\"col\">production</th>"));
    assert!(page.contains("<th scope=\"row\">api</th>"));
    assert!(page.contains("<meta http-equiv=\"refresh\" content=\"10\">"));
}

#[test]
fn a_wait_is_shown_in_the_sentence_status_gives_it() {
    let status = status_waiting("text", true);
    let page = render(
        &status,
        SystemTime::UNIX_EPOCH + NOW,
        Duration::from_secs(3),
        None,
    );
    let sentence = status.waves[0]
        .promotion
        .as_ref()
        .unwrap()
        .wait
        .as_ref()
        .unwrap()
        .sentence();
    assert!(sentence.contains(commit(7).as_str()), "{sentence}");
    assert!(
        page.contains(&format!("<p class=\"reason\">{}</p>", esc(&sentence, 1000))),
        "{page}"
    );
    // Without a wait, the reason stands there.
    assert!(page_without_wait().contains("<p class=\"reason\">text</p>"));
}

fn page_without_wait() -> String {
    page("text", None)
}

#[test]
fn commits_link_to_the_web_url_only_when_one_is_set() {
    let unlinked = page("text", None);
    assert!(!unlinked.contains("<a class=\"commit\""));
    let links = WebUrl::parse("https://git.example.com/acme/cfg").unwrap();
    let linked = page("text", Some(&links));
    assert!(linked.contains(&format!(
        "<a class=\"commit\" href=\"https://git.example.com/acme/cfg/commit/{}\"",
        commit(9).as_str()
    )));
    assert!(linked.contains(&format!(
        "href=\"https://git.example.com/acme/cfg/commit/{}\"",
        commit(7).as_str()
    )));
}

#[test]
fn an_error_page_escapes_its_sentence() {
    let page = render_error("the remote <b>git://x</b> cannot be reached");
    assert!(page.contains("the remote &lt;b&gt;git://x&lt;/b&gt; cannot be reached"));
    assert!(page.contains("http-equiv=\"refresh\""));
}

#[test]
fn escaping_and_durations() {
    assert_eq!(esc("a<b>&\"'", 100), "a&lt;b&gt;&amp;&quot;&#39;");
    assert_eq!(esc("abcdef", 3), "abc…");
    assert_eq!(esc("\u{202e}", 3), "⟨U+202E⟩");
    assert_eq!(spoken(Duration::from_secs(42)), "42 s");
    assert_eq!(spoken(Duration::from_secs(120)), "2 min");
    assert_eq!(spoken(Duration::from_secs(250)), "4 min 10 s");
    assert_eq!(spoken(Duration::from_secs(1800)), "30 min");
    assert_eq!(spoken(Duration::from_secs(3 * 3600 + 300)), "3 h 5 min");
    assert_eq!(spoken(Duration::from_secs(2 * 86400 + 4 * 3600)), "2 d 4 h");
}

/// The colour `--name` of the style sheet's `:root`, as linear-light RGB.
fn colour(name: &str) -> [f64; 3] {
    let style = super::STYLE;
    let at = style
        .find(&format!("--{name}:"))
        .unwrap_or_else(|| panic!("no --{name} in the style sheet"));
    let value = style[at..]
        .split_once('#')
        .map(|(_, rest)| &rest[..6])
        .unwrap();
    hex(value)
}

fn hex(value: &str) -> [f64; 3] {
    let channel = |i: usize| {
        let c = f64::from(u8::from_str_radix(&value[i..i + 2], 16).unwrap()) / 255.0;
        if c <= 0.04045 {
            c / 12.92
        } else {
            ((c + 0.055) / 1.055).powf(2.4)
        }
    };
    [channel(0), channel(2), channel(4)]
}

/// The WCAG 2 contrast ratio of two colours.
fn contrast(a: [f64; 3], b: [f64; 3]) -> f64 {
    let luminance = |c: [f64; 3]| 0.2126 * c[0] + 0.7152 * c[1] + 0.0722 * c[2];
    let (l1, l2) = (luminance(a), luminance(b));
    (l1.max(l2) + 0.05) / (l1.min(l2) + 0.05)
}

#[test]
fn text_and_badges_meet_wcag_aa_contrast() {
    let header_cells = hex("e8ecf0");
    assert!(super::STYLE.contains("thead th { background: #e8ecf0; }"));
    for (text, background) in [
        ("fg", "bg"),
        ("fg", "card"),
        ("muted", "bg"),
        ("muted", "card"),
        ("link", "bg"),
        ("link", "card"),
        ("ok", "ok-bg"),
        ("bad", "bad-bg"),
        ("warn", "warn-bg"),
        ("none", "none-bg"),
    ] {
        let ratio = contrast(colour(text), colour(background));
        assert!(ratio >= 4.5, "--{text} on --{background}: {ratio:.2} < 4.5");
    }
    let ratio = contrast(colour("fg"), header_cells);
    assert!(ratio >= 4.5, "header cells: {ratio:.2}");
}
