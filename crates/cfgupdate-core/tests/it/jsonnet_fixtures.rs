//! Jsonnet slots in layouts that real config repositories use: a Tanka environment, ksonnet
//! components, kube-prometheus values, and a plain images.libsonnet.

use cfgupdate_core::slots::jsonnet::{self, Slot, SlotKind};
use cfgupdate_core::{ImageRef, ImageSet, Part, ServiceName, SlotError};

const TANKA: &str = include_str!("../fixtures/jsonnet/tanka/environments/prod/main.jsonnet");
const KSONNET: &str = include_str!("../fixtures/jsonnet/ksonnet/components/shop.jsonnet");
const KUBE_PROMETHEUS: &str = include_str!("../fixtures/jsonnet/kube-prometheus/main.jsonnet");
const PLAIN: &str = include_str!("../fixtures/jsonnet/plain/images.libsonnet");

fn digest(fill: char) -> String {
    format!("sha256:{}", fill.to_string().repeat(64))
}

fn updates(pairs: &[(&str, String)]) -> ImageSet {
    pairs
        .iter()
        .map(|(service, reference)| {
            (
                ServiceName::parse(service).unwrap(),
                ImageRef::parse(reference).unwrap(),
            )
        })
        .collect()
}

/// (service, part, kind, line, value) of every slot, for compact assertions.
fn summary(slots: &[Slot]) -> Vec<(String, Part, SlotKind, usize, Option<String>)> {
    slots
        .iter()
        .map(|slot| {
            (
                slot.service.to_string(),
                slot.part,
                slot.kind,
                slot.line,
                slot.value.clone(),
            )
        })
        .collect()
}

/// Checks that `after` is `before` with exactly the listed replacements, each made once per
/// occurrence, and that nothing else moved.
fn assert_only_replaced(before: &str, after: &str, replacements: &[(&str, &str)]) {
    let mut expected = before.to_owned();
    for (old, new) in replacements {
        assert!(expected.contains(old), "fixture lacks `{old}`");
        expected = expected.replace(old, new);
    }
    assert_eq!(after, expected);
}

#[test]
fn tanka_environment_markers_in_a_local_images_object() {
    let old = format!(
        "registry.example.com/shop/api:7d1043473d55bfa90e8530d35801d4e381bc69f0@{}",
        digest('a')
    );
    let slots = jsonnet::find_slots("environments/prod/main.jsonnet", TANKA).unwrap();
    let found: Vec<_> = summary(&slots)
        .into_iter()
        .map(|(service, part, kind, line, _)| (service, part, kind, line))
        .collect();
    assert_eq!(
        found,
        [
            ("api".to_owned(), Part::Ref, SlotKind::Marker, 8),
            ("frontend".to_owned(), Part::Ref, SlotKind::Marker, 9),
            ("api".to_owned(), Part::Ref, SlotKind::Marker, 11),
        ],
        "metadata, apiVersion and the text block's marker-like line are not slots"
    );
    assert_eq!(slots[0].value.as_deref(), Some(old.as_str()));

    let new = format!("registry.example.com/shop/api:0f1e2d3c@{}", digest('e'));
    let applied = jsonnet::apply(
        "environments/prod/main.jsonnet",
        TANKA,
        &updates(&[("api", new.clone())]),
    )
    .unwrap();
    assert_only_replaced(TANKA, &applied.text, &[(&old, &new)]);
    assert_eq!(applied.text.matches(&new).count(), 2, "both api markers");
}

#[test]
fn ksonnet_container_calls_and_split_tag_and_digest_markers() {
    let slots = jsonnet::find_slots("components/shop.jsonnet", KSONNET).unwrap();
    let found: Vec<_> = summary(&slots)
        .into_iter()
        .map(|(service, part, _, line, value)| (service, part, line, value))
        .collect();
    assert_eq!(
        found,
        [
            (
                "worker".to_owned(),
                Part::Tag,
                7,
                Some("build-1042".to_owned())
            ),
            ("worker".to_owned(), Part::Digest, 8, Some(digest('c'))),
            (
                "api".to_owned(),
                Part::Ref,
                12,
                Some(format!(
                    "registry.example.com/shop/api:1.4.2@{}",
                    digest('a')
                ))
            ),
            (
                "cron".to_owned(),
                Part::Ref,
                19,
                Some(format!(
                    "registry.example.com/shop/cron:nightly@{}",
                    digest('4')
                ))
            ),
        ]
    );

    let api = format!("registry.example.com/shop/api:1.5.0@{}", digest('b'));
    let worker = format!(
        "registry.example.com/shop/worker:build-1043@{}",
        digest('d')
    );
    let cron = format!("registry.example.com/shop/cron:nightly@{}", digest('f'));
    let applied = jsonnet::apply(
        "components/shop.jsonnet",
        KSONNET,
        &updates(&[
            ("api", api.clone()),
            ("worker", worker),
            ("cron", cron.clone()),
        ]),
    )
    .unwrap();
    assert_only_replaced(
        KSONNET,
        &applied.text,
        &[
            (
                &format!("registry.example.com/shop/api:1.4.2@{}", digest('a')),
                &api,
            ),
            ("'build-1042'", "'build-1043'"),
            (&digest('c'), &digest('d')),
            (&digest('4'), &digest('f')),
        ],
    );
    assert!(
        applied
            .text
            .contains(&format!("container.new(\"cron\", @\"{cron}\")")),
        "the verbatim quote style is kept"
    );
}

#[test]
fn kube_prometheus_nested_values_with_block_comment_markers() {
    let slots = jsonnet::find_slots("main.jsonnet", KUBE_PROMETHEUS).unwrap();
    let found: Vec<_> = summary(&slots)
        .into_iter()
        .map(|(service, part, _, line, _)| (service, part, line))
        .collect();
    assert_eq!(
        found,
        [
            ("prometheus".to_owned(), Part::Ref, 8),
            ("alertmanager".to_owned(), Part::Ref, 9),
            ("grafana".to_owned(), Part::Digest, 14),
        ]
    );

    let grafana = format!("grafana/grafana:11.2.0@{}", digest('9'));
    let prometheus = format!("quay.io/prometheus/prometheus:v2.54.1@{}", digest('8'));
    let applied = jsonnet::apply(
        "main.jsonnet",
        KUBE_PROMETHEUS,
        &updates(&[("grafana", grafana), ("prometheus", prometheus.clone())]),
    )
    .unwrap();
    assert_only_replaced(
        KUBE_PROMETHEUS,
        &applied.text,
        &[
            (
                &format!("quay.io/prometheus/prometheus:v2.53.0@{}", digest('a')),
                &prometheus,
            ),
            (&digest('c'), &digest('9')),
        ],
    );
    assert!(
        applied.text.contains("tag: '11.1.0'"),
        "only the digest is a slot"
    );
}

#[test]
fn plain_images_libsonnet_fields_of_every_shape() {
    let slots = jsonnet::find_slots("images.libsonnet", PLAIN).unwrap();
    let found: Vec<_> = summary(&slots)
        .into_iter()
        .map(|(service, part, kind, line, _)| (service, part, kind, line))
        .collect();
    let field = |service: &str, part, line| (service.to_owned(), part, SlotKind::Field, line);
    assert_eq!(
        found,
        [
            field("api", Part::Ref, 5),
            field("payment-gateway", Part::Ref, 6),
            field("search", Part::Ref, 12),
            field("worker", Part::Name, 8),
            field("worker", Part::Tag, 9),
            field("worker", Part::Digest, 10),
        ],
        "legacy (computed), namespace and replicas are not image slots"
    );

    let gateway = format!(
        "registry.example.com/shop/payment-gateway:3.3.0@{}",
        digest('5')
    );
    let worker = format!(
        "registry.example.com/shop/worker:build-2000@{}",
        digest('6')
    );
    let search = format!("registry.example.com/shop/search:v10@{}", digest('7'));
    let applied = jsonnet::apply(
        "images.libsonnet",
        PLAIN,
        &updates(&[
            ("payment-gateway", gateway.clone()),
            ("worker", worker),
            ("search", search.clone()),
        ]),
    )
    .unwrap();
    assert_only_replaced(
        PLAIN,
        &applied.text,
        &[
            (
                &format!(
                    "registry.example.com/shop/payment-gateway:3.2.0@{}",
                    digest('1')
                ),
                &gateway,
            ),
            ("'build-1042'", "'build-2000'"),
            (&digest('c'), &digest('6')),
            (
                &format!("registry.example.com/shop/search:v9@{}", digest('4')),
                &search,
            ),
        ],
    );
    let written: Vec<&str> = applied.written.iter().map(ServiceName::as_str).collect();
    assert_eq!(written, ["payment-gateway", "search", "worker"]);
}

#[test]
fn plain_images_libsonnet_refuses_to_write_a_computed_field() {
    let legacy = format!("registry.example.com/shop/legacy:2.0@{}", digest('2'));
    let error =
        jsonnet::apply("images.libsonnet", PLAIN, &updates(&[("legacy", legacy)])).unwrap_err();
    let SlotError::Jsonnet(error) = error else {
        panic!("expected a Jsonnet error, got {error:?}");
    };
    assert_eq!((error.file.as_str(), error.line), ("images.libsonnet", 14));
    assert!(error.message.contains("`legacy`"), "{error}");
    assert!(
        error.message.contains("registry + '/legacy:1.0'"),
        "{error}"
    );
}
