//! Support for the promotion simulation: a seeded random source, the
//! random config repository a sequence starts from, the in-memory repository whose race hook lets a
//! person push in the middle of an operation, and the model that checks the invariants.
#![allow(dead_code)]

pub mod fixture;
pub mod model;
pub mod racing;
