//! Independent targets rendered at once (issue 12): [`render_targets`] hands their
//! evaluations to [`Evaluator::evaluate_many`](super::Evaluator::evaluate_many), which runs up
//! to [`RenderLimits::workers`] of them at once while the calling thread serves every file
//! read, then finds their objects and writes their YAML on as many threads. [`RenderAhead`]
//! walks a list of targets in order, rendering a few ahead, so that a caller that looks at one
//! render at a time holds no more than a window of them.
//!
//! Results do not depend on the number of workers: every render is what
//! [`render_target`](super::render_target) gives for that target alone, and they come back in
//! the order asked.

use std::collections::VecDeque;

use super::evaluate::RenderLimits;
use super::source::SourceFiles;
use super::target::{RenderError, RenderedTarget, evaluation_input, finish_render};
use crate::pipeline::{Pipeline, Target};

/// How many renders [`RenderAhead`] keeps ahead per worker: enough that a slow evaluation in a
/// window seldom leaves a core idle, few enough that a window's renders stay small.
const AHEAD_PER_WORKER: usize = 4;

/// The stack of a thread that finds a render's objects and writes its YAML: values nest at
/// most 128 levels (`serde_json`'s limit), far less than this needs.
const FINISH_STACK: usize = 32 << 20;

/// Renders each of `targets` of `pipeline`, as [`render_target`](super::render_target) would
/// one at a time, with up to `limits.workers` at once. The results are in the order of
/// `targets`.
pub fn render_targets(
    files: &dyn SourceFiles,
    pipeline: &Pipeline,
    targets: &[&Target],
    limits: &RenderLimits,
) -> Vec<Result<RenderedTarget, RenderError>> {
    let inputs: Vec<_> = targets
        .iter()
        .map(|target| evaluation_input(pipeline, target))
        .collect();
    let mut evaluations = limits
        .evaluator
        .evaluate_many(files, &inputs, limits)
        .into_iter();
    // An evaluator that returns fewer results than it was given inputs leaves the targets
    // without one failed, whatever the workers, rather than silently left out.
    let mut finished: Vec<(usize, &Target, _)> = targets
        .iter()
        .copied()
        .enumerate()
        .map(|(index, target)| {
            let evaluation = evaluations.next().unwrap_or_else(|| {
                Err(super::EvaluationError::Crashed {
                    entrypoint: target.entrypoint.clone(),
                    reason: format!(
                        "the {} evaluator returned no result for it",
                        limits.evaluator.name()
                    ),
                })
            });
            (index, target, evaluation)
        })
        .collect();
    let workers = limits.workers.clamp(1, finished.len().max(1));
    if workers == 1 {
        return finished
            .into_iter()
            .map(|(_, target, evaluation)| finish_render(target, evaluation))
            .collect();
    }
    // Each thread takes every `workers`-th render; the results go back to their places.
    let mut shares: Vec<Vec<_>> = (0..workers).map(|_| Vec::new()).collect();
    for (position, item) in finished.drain(..).enumerate() {
        shares[position % workers].push(item);
    }
    let mut results: Vec<Option<Result<RenderedTarget, RenderError>>> =
        targets.iter().map(|_| None).collect();
    std::thread::scope(|scope| {
        let handles: Vec<_> = shares
            .into_iter()
            .map(|share| {
                let names: Vec<_> = share
                    .iter()
                    .map(|(index, target, _)| (*index, *target))
                    .collect();
                let spawned = std::thread::Builder::new()
                    .name("render finish".into())
                    .stack_size(FINISH_STACK)
                    .spawn_scoped(scope, move || {
                        share
                            .into_iter()
                            .map(|(index, target, evaluation)| {
                                (index, finish_render(target, evaluation))
                            })
                            .collect::<Vec<_>>()
                    });
                (names, spawned)
            })
            .collect();
        for (names, spawned) in handles {
            match spawned
                .map_err(|error| error.to_string())
                .and_then(|handle| {
                    handle
                        .join()
                        .map_err(|_| "the thread that writes YAML panicked".to_owned())
                }) {
                Ok(done) => {
                    for (index, result) in done {
                        results[index] = Some(result);
                    }
                }
                Err(reason) => {
                    for (index, target) in names {
                        results[index] = Some(Err(RenderError::Evaluation {
                            target: target.name.clone(),
                            source: super::EvaluationError::Crashed {
                                entrypoint: target.entrypoint.clone(),
                                reason: reason.clone(),
                            },
                        }));
                    }
                }
            }
        }
    });
    results
        .into_iter()
        .zip(targets)
        .map(|(result, target)| {
            result.unwrap_or_else(|| {
                Err(RenderError::Evaluation {
                    target: target.name.clone(),
                    source: super::EvaluationError::Crashed {
                        entrypoint: target.entrypoint.clone(),
                        reason: "the render ended without a result".into(),
                    },
                })
            })
        })
        .collect()
}

/// The renders of a list of targets, in its order, each made a few ahead of the one asked for
/// ([`render_targets`] over a window of `AHEAD_PER_WORKER` per worker; one at a time with
/// one worker, as [`render_target`](super::render_target) would).
pub struct RenderAhead<'a> {
    files: &'a dyn SourceFiles,
    pipeline: &'a Pipeline,
    limits: &'a RenderLimits,
    waiting: VecDeque<&'a Target>,
    ready: VecDeque<(&'a Target, Result<RenderedTarget, RenderError>)>,
}

impl<'a> RenderAhead<'a> {
    /// The renders of `targets` of `pipeline`, with files from `files`.
    pub fn new(
        files: &'a dyn SourceFiles,
        pipeline: &'a Pipeline,
        targets: impl IntoIterator<Item = &'a Target>,
        limits: &'a RenderLimits,
    ) -> Self {
        RenderAhead {
            files,
            pipeline,
            limits,
            waiting: targets.into_iter().collect(),
            ready: VecDeque::new(),
        }
    }
}

impl RenderAhead<'_> {
    /// The render of `target`, the next of the list: made ahead with the ones that follow it,
    /// or now if it is not the next (then the list is walked no further).
    pub fn render(&mut self, target: &Target) -> Result<RenderedTarget, RenderError> {
        match self.next() {
            Some((next, rendered)) if std::ptr::eq(next, target) => rendered,
            _ => {
                self.waiting.clear();
                self.ready.clear();
                super::target::render_target(self.files, self.pipeline, target, self.limits)
            }
        }
    }
}

impl<'a> Iterator for RenderAhead<'a> {
    type Item = (&'a Target, Result<RenderedTarget, RenderError>);

    fn next(&mut self) -> Option<Self::Item> {
        if self.ready.is_empty() && !self.waiting.is_empty() {
            let window = if self.limits.workers <= 1 {
                1
            } else {
                self.limits.workers.saturating_mul(AHEAD_PER_WORKER)
            };
            let batch: Vec<&Target> = self
                .waiting
                .drain(..window.min(self.waiting.len()))
                .collect();
            let renders = render_targets(self.files, self.pipeline, &batch, self.limits);
            self.ready.extend(batch.into_iter().zip(renders));
        }
        self.ready.pop_front()
    }
}
