#![no_main]
//! The template-definition parser: see `redis_calc::fuzz_checks::template`.
libfuzzer_sys::fuzz_target!(|data: &[u8]| redis_calc::fuzz_checks::template(data));
