//! How long `slots::jsonnet::apply` takes to update every marked slot of a large file
//! (contract section 3's budget: 1,000 slots in a 1 MB file in under 20 ms, release build).

use std::hint::black_box;

use cfgupdate_core::slots::jsonnet;
use cfgupdate_core::{ImageRef, ImageSet, ServiceName};
use criterion::{Criterion, criterion_group, criterion_main};

const SERVICES: usize = 1_000;
const TARGET_BYTES: usize = 1_000_000;

fn reference(service: usize, build: u64) -> ImageRef {
    let text = format!(
        "registry.example.com/team/svc{service}:{build:040x}@sha256:{:064x}",
        (service as u64) << 32 | build
    );
    ImageRef::parse(&text).expect("the generated reference is valid")
}

/// A Tanka-style environment: one deployment per service, its image in a marked container
/// literal, padded with the comments, labels and text blocks real files carry, to 1 MB.
fn generate() -> String {
    let padding_per_service = TARGET_BYTES / SERVICES;
    let mut text = String::from(
        "local k = import 'k.libsonnet';\nlocal container = k.core.v1.container;\n\n{\n",
    );
    for service in 0..SERVICES {
        let start = text.len();
        text.push_str(&format!(
            "  // svc{service}: answers requests for team {service}; see the runbook.\n  \
             svc{service}: {{\n    deployment: k.apps.v1.deployment.new(\n      name='svc{service}',\n      \
             replicas=3,\n      containers=[\n        container.new('svc{service}', '{}')  // cfgupdate: svc{service}\n        \
             + container.withPorts([k.core.v1.containerPort.new('http', 8080)])\n        \
             + container.withArgs(['--log-level=info', '--listen=:8080']),\n      ],\n    ),\n    \
             notes: |||\n      A comment like cfgupdate: svc{service} in a text block is text.\n    |||,\n",
            reference(service, 1)
        ));
        let mut label = 0;
        while text.len() - start < padding_per_service - 2 * 40 {
            text.push_str(&format!(
                "    label{label}: 'value {label} of svc{service}',\n"
            ));
            label += 1;
        }
        text.push_str("  },\n");
    }
    text.push_str("}\n");
    text
}

fn apply_all(c: &mut Criterion) {
    let text = generate();
    let updates: ImageSet = (0..SERVICES)
        .map(|service| {
            let name = ServiceName::parse(&format!("svc{service}")).expect("valid service name");
            (name, reference(service, 2))
        })
        .collect();
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
}

criterion_group!(benches, apply_all);
criterion_main!(benches);
