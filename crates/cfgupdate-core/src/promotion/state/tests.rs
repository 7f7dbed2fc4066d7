use super::*;

fn report(rev: char, status: DeployStatus, at: u64) -> ReportRecord {
    ReportRecord {
        revision: CommitId::parse(&rev.to_string().repeat(40)).unwrap(),
        status,
        at,
    }
}

fn key() -> StateKey {
    StateKey::new(b"0123456789abcdef-test-key").unwrap()
}

fn commit(c: char) -> CommitId {
    CommitId::parse(&c.to_string().repeat(40)).unwrap()
}

#[test]
fn a_repeated_report_is_recorded_once() {
    let mut state = PipelineState::default();
    let target = TargetName::parse("staging").unwrap();
    assert!(state.add_report(&target, report('a', DeployStatus::Succeeded, 1)));
    assert!(!state.add_report(&target, report('a', DeployStatus::Succeeded, 2)));
    assert!(state.add_report(&target, report('a', DeployStatus::Failed, 3)));
    assert_eq!(state.reports[&target].len(), 2);
}

#[test]
fn old_reports_are_pruned_to_a_bounded_history() {
    let mut state = PipelineState::default();
    let target = TargetName::parse("staging").unwrap();
    for i in 0..(KEEP_REPORTS as u64 + 10) {
        let status = if i % 2 == 0 {
            DeployStatus::Succeeded
        } else {
            DeployStatus::Failed
        };
        state.add_report(&target, report('a', status, i));
    }
    assert_eq!(state.reports[&target].len(), KEEP_REPORTS);
    assert_eq!(state.reports[&target][0].at, 10);
}

#[test]
fn a_status_is_spelled_the_same_in_words_and_in_the_document() {
    for status in [DeployStatus::Succeeded, DeployStatus::Failed] {
        assert_eq!(serde_json::to_value(status).unwrap(), status.as_str());
    }
}

#[test]
fn the_document_round_trips_and_an_unreadable_one_is_an_error() {
    let mut state = PipelineState::parse(None).unwrap();
    state.add_report(
        &TargetName::parse("prod").unwrap(),
        report('b', DeployStatus::Failed, 7),
    );
    assert_eq!(
        PipelineState::parse(Some(&state.to_bytes(None, None))).unwrap(),
        state
    );
    assert!(PipelineState::parse(Some(b"{\"reports\": 3}")).is_err());
}

fn stored(state: &PipelineState, key: Option<&StateKey>, parent: Option<CommitId>) -> StateVersion {
    StateVersion {
        commit: commit('9'),
        content: state.to_bytes(key, parent.as_ref()),
        parent,
    }
}

#[test]
fn an_authenticated_document_passes_only_on_the_parent_it_was_written_on() {
    let mut state = PipelineState::default();
    state.add_report(
        &TargetName::parse("prod").unwrap(),
        report('b', DeployStatus::Succeeded, 7),
    );
    let version = stored(&state, Some(&key()), Some(commit('1')));
    let read = PipelineState::verified(&version, Some(&key())).unwrap();
    assert_eq!(read.reports, state.reports);
    // The same bytes pushed on another state commit (a replay): refused.
    let replayed = StateVersion {
        parent: Some(commit('2')),
        ..version.clone()
    };
    let error = PipelineState::verified(&replayed, Some(&key())).unwrap_err();
    assert!(
        matches!(error, StateProblem::Unauthenticated { .. }),
        "{error}"
    );
    // Another key: refused.
    let other = StateKey::new(b"another-key-of-16-bytes").unwrap();
    assert!(PipelineState::verified(&version, Some(&other)).is_err());
}

#[test]
fn a_forged_or_unauthenticated_document_is_refused_with_a_key_and_read_without() {
    let mut state = PipelineState::default();
    state.add_report(
        &TargetName::parse("prod").unwrap(),
        report('b', DeployStatus::Succeeded, 7),
    );
    let plain = stored(&state, None, None);
    let error = PipelineState::verified(&plain, Some(&key())).unwrap_err();
    assert!(
        error.to_string().contains("carries no authentication"),
        "{error}"
    );
    assert!(error.to_string().contains("state reset"), "{error}");
    assert!(PipelineState::verified(&plain, None).is_ok());
    // An authenticated document with one more report slipped in.
    let good = stored(&state, Some(&key()), None);
    let text = String::from_utf8(good.content.clone()).unwrap();
    let forged = text.replace("\"at\": 7", "\"at\": 8");
    assert_ne!(forged, text);
    let forged = StateVersion {
        content: forged.into_bytes(),
        ..good
    };
    let error = PipelineState::verified(&forged, Some(&key())).unwrap_err();
    assert!(error.to_string().contains("does not match"), "{error}");
}

#[test]
fn garbage_and_newer_documents_are_named_clearly() {
    let garbage = StateVersion {
        commit: commit('9'),
        parent: None,
        content: b"\x00\xffnot json".to_vec(),
    };
    let error = PipelineState::verified(&garbage, None).unwrap_err();
    assert!(error.to_string().contains("is not JSON"), "{error}");
    let newer = StateVersion {
        content: br#"{"version": 7, "whatever": []}"#.to_vec(),
        ..garbage.clone()
    };
    // Without a key nothing is authenticated: the claim is all there is.
    let error = PipelineState::verified(&newer, None).unwrap_err();
    assert_eq!(error, StateProblem::Newer { version: 7 });
    assert!(error.to_string().contains("upgrade cfgupdate"), "{error}");
    // With a key, a forged document claiming a newer format is a forgery, not a reason to
    // upgrade; nor is one with a mac that does not match.
    for forged in [
        &br#"{"version": 999, "whatever": []}"#[..],
        &br#"{"version": 999, "mac": "00"}"#[..],
        &br#"{"version": 999, "mac": 5}"#[..],
    ] {
        let forged = StateVersion {
            content: forged.to_vec(),
            ..garbage.clone()
        };
        let error = PipelineState::verified(&forged, Some(&key())).unwrap_err();
        assert!(
            matches!(error, StateProblem::Unauthenticated { .. }),
            "{error}"
        );
        assert!(!error.to_string().contains("upgrade"), "{error}");
    }
    // A newer cfgupdate's authentic document (its mac covers the canonical form, whatever its
    // fields): "upgrade".
    let mut object = serde_json::Map::new();
    object.insert("version".into(), 7.into());
    object.insert("whatever".into(), serde_json::json!([{"b": 1, "a": "x"}]));
    let tag = key().state_tag(&PipelineState::tag_parts(
        "",
        &PipelineState::canonical_bytes(&object),
    ));
    object.insert("mac".into(), tag.into());
    let authentic = StateVersion {
        content: serde_json::to_vec_pretty(&object).unwrap(),
        ..garbage.clone()
    };
    let error = PipelineState::verified(&authentic, Some(&key())).unwrap_err();
    assert_eq!(error, StateProblem::Newer { version: 7 });
    assert!(error.to_string().contains("upgrade cfgupdate"), "{error}");
    let array = StateVersion {
        content: b"[1, 2]".to_vec(),
        ..garbage
    };
    assert!(
        PipelineState::verified(&array, None)
            .unwrap_err()
            .to_string()
            .contains("not a JSON object")
    );
}

#[test]
fn a_version_one_document_is_still_read_without_a_key() {
    let old = br#"{"version": 1, "reports": {}, "approvals": {"prod": [{"images": {}, "source_revision": "1111111111111111111111111111111111111111", "at": 5}]}}"#;
    let state = PipelineState::parse(Some(old)).unwrap();
    assert_eq!(state.version, 1);
    assert_eq!(state.approvals.len(), 1);
}

mod catching_up {
    use super::*;
    use crate::memory::MemoryRepository;
    use crate::repository::CommitMessage;

    fn publish_message(app: char, image: &str, build: u64) -> String {
        let app = app.to_string().repeat(40);
        CommitMessage {
            subject: "Publish".into(),
            body: String::new(),
            trailers: vec![
                (trailers::ACTION.into(), trailers::PUBLISH.into()),
                (trailers::APP_COMMIT.into(), app.clone()),
                (trailers::IMAGE.into(), format!("api={image} {app}")),
                (trailers::BUILD.into(), format!("api number={build}")),
            ],
        }
        .render()
    }

    fn image(n: char) -> String {
        format!(
            "reg.example.com/api:v{n}@sha256:{}",
            n.to_string().repeat(64)
        )
    }

    #[test]
    fn a_record_is_brought_forward_never_back_and_counts_each_publish() {
        let mut repo = MemoryRepository::new(&[("README.md", "x\n")]);
        repo.person_pushes(&publish_message('1', &image('1'), 1), |_| {});
        let middle = repo.remote_tip().clone();
        repo.person_pushes("Unrelated", |_| {});
        repo.person_pushes(&publish_message('2', &image('2'), 7), |_| {});
        let newest = repo.remote_tip().clone();
        repo.refresh().unwrap();
        let api = ServiceName::parse("api").unwrap();
        // Without a key (every trailer trusted), from nothing.
        let (all, read) = catch_up(&repo, &newest, None, &Published::default()).unwrap();
        assert_eq!(read, 4);
        assert_eq!(all.services[&api].build_number, Some(7));
        assert_eq!(all.services[&api].recent.len(), 2);
        // From the middle: only the newer commits are read.
        let (upto_middle, _) = catch_up(&repo, &middle, None, &Published::default()).unwrap();
        assert_eq!(upto_middle.services[&api].build_number, Some(1));
        let (forward, read) = catch_up(&repo, &newest, None, &upto_middle).unwrap();
        assert_eq!(read, 2);
        assert_eq!(forward, all);
        // Asked to catch up to an older tip than it records: unchanged.
        let (same, read) = catch_up(&repo, &middle, None, &all).unwrap();
        assert_eq!((same, read), (all.clone(), 0));
        // With a key, these person-written commits count for nothing.
        let (keyed, _) = catch_up(&repo, &newest, Some(&key()), &Published::default()).unwrap();
        assert!(keyed.services.is_empty());
    }
}

/// A version 2 document as the previous cfgupdate wrote it: its mac covers that cfgupdate's
/// own serialisation.
fn legacy_document(state: &PipelineState, key: &StateKey, parent: Option<&CommitId>) -> Vec<u8> {
    let mut state = state.clone();
    state.version = 2;
    state.mac = None;
    let parent = parent.map(CommitId::as_str).unwrap_or_default();
    state.mac = Some(key.state_tag(&PipelineState::legacy_parts(parent, &state.legacy_bytes())));
    serde_json::to_vec_pretty(&state).unwrap()
}

#[test]
fn a_version_two_document_still_passes_and_version_three_covers_the_position() {
    let mut state = PipelineState::default();
    state.add_report(
        &TargetName::parse("prod").unwrap(),
        report('b', DeployStatus::Succeeded, 7),
    );
    let legacy = StateVersion {
        commit: commit('9'),
        parent: Some(commit('1')),
        content: legacy_document(&state, &key(), Some(&commit('1'))),
    };
    let read = PipelineState::verified(&legacy, Some(&key())).unwrap();
    assert_eq!((read.version, read.position()), (2, (0, 0)));
    assert_eq!(read.reports, state.reports);
    // The position is authenticated: a later serial slipped into a written document fails.
    state.epoch = 1_700_000_000_000;
    state.serial = 4;
    let written = stored(&state, Some(&key()), Some(commit('1')));
    let read = PipelineState::verified(&written, Some(&key())).unwrap();
    assert_eq!(read.position(), (1_700_000_000_000, 4));
    let text = String::from_utf8(written.content.clone()).unwrap();
    let moved = text.replace("\"serial\": 4", "\"serial\": 9");
    assert_ne!(moved, text);
    let moved = StateVersion {
        content: moved.into_bytes(),
        ..written
    };
    assert!(matches!(
        PipelineState::verified(&moved, Some(&key())),
        Err(StateProblem::Unauthenticated { .. })
    ));
}
