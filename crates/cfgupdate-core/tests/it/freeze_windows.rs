//! Freeze windows end to end on the in-memory repository and a manual clock
//! (docs/promotion.md#freeze-windows): an announcement into a frozen first wave is deferred and
//! published when the window ends, across the night Berlin's clocks spring forward; a
//! promotion waits at the freeze; an admin's override writes with `Cfgupdate-Override: freeze`.

use std::time::{Duration, SystemTime};

use cfgupdate_core::promotion::{self, Gate, PromoteOutcome, PromotionError};
use cfgupdate_core::testing::ManualClock;
use cfgupdate_core::{
    Announcement, CommitId, ConfigRepository, ImageRef, ImageSet, MemoryRepository, PublishOutcome,
    ServiceName, StateKey, WaveName, WriteOptions, publish, publish_deferred, run_due,
};

/// Staging is frozen from Friday 17:00 in Berlin for two calendar days and 15 hours (until
/// Monday 08:00 on the wall, whatever the weekend's clock change); production over the
/// holidays.
const PIPELINE: &str = r#"
[[wave]]
name = "staging"
images = "images/staging.json"
targets = ["staging"]
freeze = [
  { cron = "0 17 * * FRI", duration = "2d15h", timezone = "Europe/Berlin", reason = "weekend" },
]

[[wave]]
name = "production"
images = "images/production.json"
targets = ["prod"]
freeze = [
  { from = 2026-12-20T00:00:00Z, to = "2027-01-04T00:00:00Z", reason = "holidays" },
]

[target.staging]
entrypoint = "staging.jsonnet"

[target.prod]
entrypoint = "prod.jsonnet"
"#;

fn reference(tag: &str, digest: char) -> String {
    format!(
        "reg.example.com/api:{tag}@sha256:{}",
        digest.to_string().repeat(64)
    )
}

fn repository() -> MemoryRepository {
    let app = |images: &str| {
        format!(
            "local i = import '{images}';\n{{ apiVersion: 'v1', kind: 'Pod', metadata: {{ name: 'api' }}, spec: {{ containers: [{{ name: 'api', image: i.api }}] }} }}\n"
        )
    };
    let file = format!("{{\n  \"api\": \"{}\"\n}}\n", reference("v1", '1'));
    MemoryRepository::new(&[
        ("cfgupdate.toml", PIPELINE),
        ("images/staging.json", &file),
        ("images/production.json", &file),
        ("staging.jsonnet", &app("images/staging.json")),
        ("prod.jsonnet", &app("images/production.json")),
    ])
}

fn at(text: &str) -> SystemTime {
    SystemTime::try_from(text.parse::<jiff::Timestamp>().unwrap()).unwrap()
}

fn announcement(app: char, tag: &str, digest: char) -> Announcement {
    let images = ImageSet::from([(
        ServiceName::parse("api").unwrap(),
        ImageRef::parse(&reference(tag, digest)).unwrap(),
    )]);
    Announcement::new(
        CommitId::parse(&app.to_string().repeat(40)).unwrap(),
        images,
    )
    .unwrap()
}

fn options() -> WriteOptions {
    WriteOptions {
        key: Some(StateKey::new(b"the freeze test's state key").unwrap()),
        ..WriteOptions::default()
    }
}

fn tip_message(repo: &MemoryRepository) -> String {
    let tip = repo.remote_tip().clone();
    repo.log(&tip, 1).unwrap()[0].message.clone()
}

#[test]
fn an_announcement_in_a_freeze_is_deferred_and_published_when_it_ends_across_a_clock_change() {
    let mut repo = repository();
    let options = options();
    // Saturday 2026-03-28, noon UTC: inside the window that began on Friday at 17:00 CET.
    // Berlin's clocks spring forward on Sunday at 02:00; the window ends on Monday at 08:00
    // CEST, 06:00 UTC.
    let clock = ManualClock::at(at("2026-03-28T12:00:00Z"));
    let before = repo.remote_tip().clone();
    let older = publish(&mut repo, &clock, &announcement('a', "v2", '2'), &options).unwrap();
    let until = at("2026-03-30T06:00:00Z");
    assert_eq!(
        older,
        PublishOutcome::Deferred {
            until,
            reason: "weekend".to_owned()
        }
    );
    clock.advance(Duration::from_secs(3_600));
    let newer = publish(&mut repo, &clock, &announcement('b', "v3", '3'), &options).unwrap();
    assert!(
        matches!(newer, PublishOutcome::Deferred { .. }),
        "{newer:?}"
    );
    assert_eq!(
        repo.remote_tip(),
        &before,
        "nothing is written while frozen"
    );

    // Status shows the freeze and what waits.
    let status = promotion::status(&mut repo, &clock, options.key.as_ref()).unwrap();
    let staging = &status.waves[0];
    assert_eq!(staging.frozen.as_ref().map(|f| f.until), Some(until));
    let deferred: Vec<String> = staging
        .deferred
        .iter()
        .map(|record| record.app.short().to_owned())
        .collect();
    assert_eq!(deferred, ["aaaaaaaaaaaa", "bbbbbbbbbbbb"]);

    // Sunday after the clock change, and Monday a minute before the end: still waiting.
    for now in ["2026-03-29T12:00:00Z", "2026-03-30T05:59:00Z"] {
        let clock = ManualClock::at(at(now));
        let run = publish_deferred(&mut repo, &clock, &options).unwrap();
        assert_eq!(run.next_due(), Some(until), "{now}");
        assert!(run.published.is_empty(), "{now}");
        assert_eq!(repo.remote_tip(), &before, "{now}");
    }

    // Monday 08:00 in Berlin: the newest deferred image is published, once.
    let clock = ManualClock::at(until);
    let run = publish_deferred(&mut repo, &clock, &options).unwrap();
    assert_eq!(run.published.len(), 1, "{run:?}");
    assert_eq!((run.remaining, run.waiting.clone()), (0, None));
    assert_eq!(repo.remote_tip(), &run.published[0].0);
    assert!(
        repo.remote_text("images/staging.json")
            .unwrap()
            .contains(&reference("v3", '3'))
    );
    let message = tip_message(&repo);
    assert!(message.contains("Cfgupdate-Action: publish"), "{message}");
    assert!(
        message.contains(&format!("Cfgupdate-App-Commit: {}", "b".repeat(40))),
        "{message}"
    );
    assert!(!message.contains("Cfgupdate-Override"), "{message}");
    // The older image is named too, so that a replay of its announcement is recognised.
    let replay = publish(&mut repo, &clock, &announcement('a', "v2", '2'), &options).unwrap();
    assert_eq!(replay, PublishOutcome::Unchanged);
    let again = publish_deferred(&mut repo, &clock, &options).unwrap();
    assert!(
        again.published.is_empty() && again.remaining == 0,
        "{again:?}"
    );
}

#[test]
fn an_admins_override_writes_into_a_frozen_wave_with_the_trailer_and_replaces_what_was_deferred() {
    let mut repo = repository();
    let options = options();
    let clock = ManualClock::at(at("2026-10-24T12:00:00Z"));
    let deferred = publish(&mut repo, &clock, &announcement('a', "v2", '2'), &options).unwrap();
    assert!(
        matches!(deferred, PublishOutcome::Deferred { .. }),
        "{deferred:?}"
    );
    let hotfix = announcement('c', "v4", '4').overriding_freeze();
    let outcome = publish(&mut repo, &clock, &hotfix, &options).unwrap();
    assert!(
        matches!(outcome, PublishOutcome::Committed { .. }),
        "{outcome:?}"
    );
    let message = tip_message(&repo);
    assert!(message.contains("Cfgupdate-Override: freeze"), "{message}");
    // The deferred older image is dropped: the window's end publishes nothing over the hotfix.
    let status = promotion::status(&mut repo, &clock, options.key.as_ref()).unwrap();
    assert!(status.waves[0].deferred.is_empty(), "{:?}", status.waves[0]);
    let after = ManualClock::at(at("2026-10-27T00:00:00Z"));
    let run = publish_deferred(&mut repo, &after, &options).unwrap();
    assert!(run.published.is_empty(), "{run:?}");
    assert!(
        repo.remote_text("images/staging.json")
            .unwrap()
            .contains(&reference("v4", '4'))
    );
    // Outside a window an override changes nothing about the commit.
    let plain = announcement('d', "v5", '5').overriding_freeze();
    publish(&mut repo, &after, &plain, &options).unwrap();
    assert!(!tip_message(&repo).contains("Cfgupdate-Override"));
}

#[test]
fn a_promotion_into_a_frozen_wave_waits_and_an_override_writes_it() {
    let mut repo = repository();
    let options = options();
    let clock = ManualClock::at(at("2026-12-22T09:00:00Z"));
    let outcome = publish(&mut repo, &clock, &announcement('a', "v2", '2'), &options).unwrap();
    let PublishOutcome::Committed { commit, .. } = outcome else {
        panic!("staging is not frozen on a Tuesday: {outcome:?}");
    };
    let staging = WaveName::parse("staging").unwrap();
    let refused = promotion::promote(&mut repo, &clock, &staging, &commit, &options).unwrap_err();
    let PromotionError::Gated {
        gate: Gate::Freeze { until, reason },
        ..
    } = &refused
    else {
        panic!("{refused:?}");
    };
    assert_eq!(
        (*until, reason.as_str()),
        (at("2027-01-04T00:00:00Z"), "holidays")
    );
    assert!(
        refused
            .to_string()
            .contains("frozen until 2027-01-04T00:00:00Z (holidays)"),
        "{refused}"
    );
    let status = promotion::status(&mut repo, &clock, options.key.as_ref()).unwrap();
    assert_eq!(
        status.waves[1].frozen.as_ref().map(|f| f.reason.as_str()),
        Some("holidays")
    );
    let promoted =
        promotion::promote_overriding_freeze(&mut repo, &clock, &staging, &commit, &options)
            .unwrap();
    assert!(
        matches!(promoted, PromoteOutcome::Promoted { .. }),
        "{promoted:?}"
    );
    let message = tip_message(&repo);
    assert!(message.contains("Cfgupdate-Action: promote"), "{message}");
    assert!(message.contains("Cfgupdate-Override: freeze"), "{message}");
}

#[test]
fn a_bad_window_is_refused_naming_the_wave_the_entry_and_the_value() {
    let text = PIPELINE.replace("Europe/Berlin", "Europe/Berlim");
    let error = cfgupdate_core::Pipeline::parse("cfgupdate.toml", &text).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cfgupdate.toml:7: entry 1 of `freeze` in [[wave]] \"staging\": `timezone` is `Europe/Berlim`, which is not a time zone jiff knows; write an IANA name such as \"Europe/Berlin\", \"America/New_York\" or \"UTC\""
    );
    let text = PIPELINE.replace(
        "to = \"2027-01-04T00:00:00Z\"",
        "to = \"2026-12-01T00:00:00Z\"",
    );
    let error = cfgupdate_core::Pipeline::parse("cfgupdate.toml", &text).unwrap_err();
    assert!(
        error
            .to_string()
            .starts_with("cfgupdate.toml:15: entry 1 of `freeze` in [[wave]] \"production\": `to` (2026-12-01T00:00:00Z) is not after `from`"),
        "{error}"
    );
    let text = PIPELINE.replace(", reason = \"weekend\"", "");
    let error = cfgupdate_core::Pipeline::parse("cfgupdate.toml", &text).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("entry 1 of `freeze` in [[wave]] \"staging\" has no `reason`"),
        "{error}"
    );
    let text = PIPELINE.replace("\"0 17 * * FRI\"", "\"0 17 * * FRY\"");
    let error = cfgupdate_core::Pipeline::parse("cfgupdate.toml", &text).unwrap_err();
    assert!(
        error
            .to_string()
            .contains("`cron` is `0 17 * * FRY`, which is not a cron schedule: the day of week field `FRY` names `FRY`"),
        "{error}"
    );
}

#[test]
fn one_pass_of_what_is_due_publishes_what_a_freeze_deferred_once_the_window_ended() {
    let mut repo = repository();
    let options = options();
    let clock = ManualClock::at(at("2026-03-28T12:00:00Z"));
    let before = repo.remote_tip().clone();
    let deferred = publish(&mut repo, &clock, &announcement('a', "v2", '2'), &options).unwrap();
    assert!(
        matches!(deferred, PublishOutcome::Deferred { .. }),
        "{deferred:?}"
    );

    // Inside the window: nothing is due, and the pass says until when.
    let due = run_due(&mut repo, &clock, &options).unwrap();
    assert!(due.is_unchanged(), "{due:?}");
    let run = due.deferred.as_ref().unwrap();
    assert_eq!(run.next_due(), Some(at("2026-03-30T06:00:00Z")));
    assert_eq!(repo.remote_tip(), &before);

    // After it: the same pass the service's timer and `cfgupdate advance` run publishes it.
    let clock = ManualClock::at(at("2026-03-30T06:00:00Z"));
    let due = run_due(&mut repo, &clock, &options).unwrap();
    assert!(!due.is_unchanged(), "{due:?}");
    let run = due.deferred.unwrap();
    assert_eq!(run.published.len(), 1, "{run:?}");
    assert_eq!(repo.remote_tip(), &run.published[0].0);
    assert!(
        repo.remote_text("images/staging.json")
            .unwrap()
            .contains(&reference("v2", '2'))
    );
}

#[test]
fn a_wave_with_more_than_32_freeze_windows_is_refused_naming_the_wave_and_the_count() {
    let window = "  { cron = \"* * * * *\", duration = \"2m\", reason = \"busy\" },\n";
    let with = |count: usize| {
        PIPELINE.replacen(
            "freeze = [\n",
            &format!("freeze = [\n{}", window.repeat(count)),
            1,
        )
    };
    // 31 added to the one there: 32, the most a wave may have.
    assert!(cfgupdate_core::Pipeline::parse("cfgupdate.toml", &with(31)).is_ok());
    let error = cfgupdate_core::Pipeline::parse("cfgupdate.toml", &with(32)).unwrap_err();
    assert_eq!(
        error.to_string(),
        "cfgupdate.toml:6: `freeze` of [[wave]] \"staging\" has 33 windows; at most 32 are allowed (every write into the wave looks at each): join windows that follow each other, or use one cron schedule for a repeating freeze"
    );
}
