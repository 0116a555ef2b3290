#![no_main]
//! The JSON packer (CALC.SETDICT): see `fuzz/checks.rs`.
use redis_calc::{json_pack, json_print, msgpack, template};

// Each target uses its own part of the shared checks.
#[allow(dead_code)]
#[path = "../checks.rs"]
mod checks;

libfuzzer_sys::fuzz_target!(|data: &[u8]| checks::pack(data));
