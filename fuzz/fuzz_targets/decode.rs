#![no_main]
//! The msgpack decoder against built-in templates: see `redis_calc::fuzz_checks::decode`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| redis_calc::fuzz_checks::decode(data));
