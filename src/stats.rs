//! Counters shown in `INFO calc`.

use std::sync::atomic::AtomicU64;

pub static COMMANDS_SERVED: AtomicU64 = AtomicU64::new(0);
/// Values that failed to decode and were answered with an error.
pub static DECODE_ERRORS: AtomicU64 = AtomicU64::new(0);
/// JSON values CALC.SETDICT refused (invalid, or not the template's shape).
pub static PACK_ERRORS: AtomicU64 = AtomicU64::new(0);
/// Values that did not decode against an `ONMISMATCH NIL` template and were
/// read as nil.
pub static MISMATCHES_READ_AS_NIL: AtomicU64 = AtomicU64::new(0);
