//! redis-calc: hashes with a creation-only TTL, msgpack values decoded against
//! templates, and symmetric a2b purges, as native atomic Redis commands.
//! This file only declares the module; each concern lives in its own file.

pub mod commands;
pub mod error;
#[cfg(any(test, fuzzing))]
pub mod fuzz_checks;
pub mod msgpack;
pub mod persistence;
pub mod redis;
pub mod registry;
pub mod stats;
pub mod template;
