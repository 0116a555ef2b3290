//! redis-calc: hashes with a creation-only TTL, msgpack values decoded against
//! templates, and symmetric a2b purges, as native atomic Redis commands.
//! This file only declares the module; ARCHITECTURE.md is the map, and
//! docs/design-note.md the pattern ("the design note") the commands replace.

pub mod commands;
pub mod error;
pub mod json_pack;
pub mod json_print;
pub mod limits;
#[cfg(not(any(test, fuzzing)))]
mod module;
pub mod msgpack;
pub mod persistence;
pub mod printable;
pub mod redis;
pub mod registry;
pub mod stats;
pub mod template;

/// The fuzz targets' properties, replayed over the seeds and regressions.
#[cfg(test)]
#[path = "../fuzz/checks.rs"]
mod fuzz_checks;
