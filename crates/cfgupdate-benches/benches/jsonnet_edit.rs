//! How long `slots::jsonnet::apply` takes to update every marked slot of a large file
//! (docs/benchmarks.md's budget: 1,000 slots in a 1 MB file in under 20 ms, release build).

use std::hint::black_box;

use cfgupdate_core::slots::jsonnet;
use cfgupdate_core::{ImageRef, ImageSet, ServiceName};
use criterion::{Criterion, criterion_group};

const SERVICES: usize = 1_000;
const TARGET_BYTES: usize = 1_000_000;

fn reference(service: usize, build: u64) -> ImageRef {
    let text = format!(
        "registry.example.com/team/svc{service}:{build:040x}@sha256:{:064x}",
        (service as u64) << 32 | build
    );
    ImageRef::parse(&text).expect("the generated reference is valid")
}

/// A Tanka-style environment: per service, a documented deployment whose container literal is
/// marked, with ports, args, probes, resources and a text block, padded with a comment to
/// about 1 KB so that 1,000 services make 1 MB.
fn generate() -> String {
    let per_service = TARGET_BYTES / SERVICES;
    let mut text = String::from(
        "local k = import 'k.libsonnet';\nlocal container = k.core.v1.container;\n\n{\n",
    );
    for service in 0..SERVICES {
        let start = text.len();
        text.push_str(&format!(
            "  // svc{service}: answers requests for team {service}; the runbook is in the wiki.\n  \
             svc{service}: {{\n    deployment: k.apps.v1.deployment.new(\n      name='svc{service}',\n      \
             replicas=3,\n      containers=[\n        container.new('svc{service}', '{}')  // cfgupdate: svc{service}\n        \
             + container.withPorts([k.core.v1.containerPort.new('http', 8080)])\n        \
             + container.withArgs(['--log-level=info', '--listen=:8080'])\n        \
             + container.resources.withRequests({{ cpu: '100m', memory: '128Mi' }})\n        \
             + container.readinessProbe.httpGet.withPath('/ready'),\n      ],\n    ),\n    \
             notes: |||\n      A comment like cfgupdate: svc{service} in a text block is text.\n    |||,\n  }},\n",
            reference(service, 1)
        ));
        while text.len() - start < per_service {
            text.push_str("  // Owned by the platform team; changes go through review.\n");
        }
    }
    text.push_str("}\n");
    text
}

/// The benchmark file and the new reference for each of its services.
fn workload() -> (String, ImageSet) {
    let updates: ImageSet = (0..SERVICES)
        .map(|service| {
            let name = ServiceName::parse(&format!("svc{service}")).expect("valid service name");
            (name, reference(service, 2))
        })
        .collect();
    (generate(), updates)
}

fn apply_all(c: &mut Criterion) {
    let (text, updates) = workload();
    let applied = jsonnet::apply("bench.jsonnet", &text, &updates).expect("the edit succeeds");
    assert_eq!(applied.written.len(), SERVICES);
    eprintln!(
        "file: {} bytes, {} marked slots, all updated",
        text.len(),
        SERVICES
    );
    c.bench_function("jsonnet apply: 1,000 slots in 1 MB", |b| {
        b.iter(|| jsonnet::apply("bench.jsonnet", black_box(&text), black_box(&updates)))
    });
    // A service without a marker is looked for as a field, which needs the lossless tree.
    let with_field = text.replacen(
        "\n{\n",
        &format!("\n{{\n  extra: '{}',\n", reference(SERVICES, 1)),
        1,
    );
    let mut field_updates = updates.clone();
    field_updates.insert(
        ServiceName::parse("extra").expect("valid service name"),
        reference(SERVICES, 2),
    );
    let applied =
        jsonnet::apply("bench.jsonnet", &with_field, &field_updates).expect("the edit succeeds");
    assert_eq!(applied.written.len(), SERVICES + 1);
    c.bench_function(
        "jsonnet apply: 1,000 slots in 1 MB and one field slot",
        |b| {
            b.iter(|| {
                jsonnet::apply(
                    "bench.jsonnet",
                    black_box(&with_field),
                    black_box(&field_updates),
                )
            })
        },
    );
    // The floor under `apply`: the syntax check it cannot avoid.
    c.bench_function("jrsonnet-ir-parser parse alone: same 1 MB", |b| {
        b.iter(|| {
            let source =
                jrsonnet_ir::Source::new_virtual("bench.jsonnet".into(), text.as_str().into());
            jrsonnet_ir_parser::parse(
                black_box(&text),
                &jrsonnet_ir_parser::ParserSettings { source },
            )
            .is_ok()
        })
    });
    // What a file with a field slot costs on top: the lossless tree.
    c.bench_function("jrsonnet-rowan-parser parse alone: same 1 MB", |b| {
        b.iter(|| jrsonnet_rowan_parser::parse(black_box(&text)).1.len())
    });
}

criterion_group!(benches, apply_all);

/// `CFGUPDATE_BENCH_ONCE=1` runs the 1,000-slot `apply` exactly once and exits, for an
/// instruction count that noise on a shared machine does not change:
/// `valgrind --tool=callgrind --toggle-collect='*jsonnet*apply*' target/release/deps/jsonnet_edit-*`.
fn main() {
    if std::env::var_os("CFGUPDATE_BENCH_ONCE").is_some() {
        let (text, updates) = workload();
        let applied = jsonnet::apply("bench.jsonnet", black_box(&text), black_box(&updates))
            .expect("the edit succeeds");
        assert_eq!(applied.written.len(), SERVICES);
        return;
    }
    benches();
    Criterion::default().configure_from_args().final_summary();
}
