//! Support for the promotion simulation: a seeded random source, a clock the test moves, the
//! random config repository a sequence starts from, a repository wrapper that lets a person
//! push in the middle of an operation, and the model that checks the invariants.
#![allow(dead_code)]

pub mod clock;
pub mod fixture;
pub mod model;
pub mod racing;
pub mod rng;
