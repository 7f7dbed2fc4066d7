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
    let error = PipelineState::verified(&newer, Some(&key())).unwrap_err();
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
