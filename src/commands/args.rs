//! The argument grammars the command families share, as pure functions on
//! bytes (a command's arguments are `AsRef<[u8]>`), unit-tested without a
//! server.

use std::cell::OnceCell;
use std::ffi::CStr;

use crate::error::CalcError;

/// The latest "now" the expiry bound allows for: 2^43 ms after the epoch, the
/// year 2248. It lets `Expiry` reject every expiry that could overflow
/// without reading the clock on the hot path (an existing key needs no expiry).
const LATEST_NOW_MS: i64 = 1 << 43;
const MAX_TTL_SECONDS: i64 = (i64::MAX - LATEST_NOW_MS) / 1000;

/// When a key the command creates expires: `seconds` from now, or at a unix
/// time in milliseconds (`PXAT`). The absolute time is computed on first use,
/// once per command, so every key one command creates expires at the same
/// instant.
#[derive(Debug)]
pub struct Expiry {
    ms: i64,
    relative: bool,
    at: OnceCell<i64>,
}

impl Expiry {
    /// `seconds`: an integer (else `ERR value is not an integer or out of
    /// range`, as `SET ... EX` and `EXPIRE` answer), positive and small enough
    /// that the expiry cannot overflow (else `ERR invalid expire time`, as
    /// `SET ... EX`).
    pub fn seconds(seconds: &[u8], command: &'static CStr) -> Result<Expiry, CalcError> {
        let seconds = redis_integer(seconds).ok_or(CalcError::NotAnInteger)?;
        if !(1..=MAX_TTL_SECONDS).contains(&seconds) {
            return Err(CalcError::InvalidExpire { command });
        }
        Ok(Expiry {
            ms: seconds * 1000,
            relative: true,
            at: OnceCell::new(),
        })
    }

    /// `PXAT` unix-time-milliseconds: an integer (else `ERR value is not an
    /// integer or out of range`), positive (else `ERR invalid expire time`),
    /// as `SET ... PXAT` reads it. A time already past creates a key that has
    /// already expired, as `PEXPIREAT` does on a replica.
    pub fn pxat(at: &[u8], command: &'static CStr) -> Result<Expiry, CalcError> {
        let ms = redis_integer(at).ok_or(CalcError::NotAnInteger)?;
        if ms < 1 {
            return Err(CalcError::InvalidExpire { command });
        }
        Ok(Expiry {
            ms,
            relative: false,
            at: OnceCell::new(),
        })
    }

    /// The absolute unix time in milliseconds; `now_ms` is asked once, at the
    /// first call, and only for a relative expiry.
    pub fn at(&self, now_ms: impl FnOnce() -> i64) -> i64 {
        *self.at.get_or_init(|| {
            if self.relative {
                now_ms() + self.ms
            } else {
                self.ms
            }
        })
    }

    /// Whether the call gave the absolute time itself (and so replicates as
    /// it was sent).
    pub fn is_absolute(&self) -> bool {
        !self.relative
    }
}

/// Splits `args` into the command's body and its trailing expiry, `seconds`
/// or `PXAT unix-time-ms`. `is_body(n)` says whether `n` leading arguments
/// form a valid body; the forms never overlap for the commands that use this
/// (an even count of field-value pairs, or a fixed count), so a field or
/// value named `PXAT` is never taken for the keyword. Anything else is a
/// wrong number of arguments.
pub fn split_expiry<'t, T: AsRef<[u8]>>(
    args: &'t [T],
    is_body: impl Fn(usize) -> bool,
    command: &'static CStr,
) -> Result<(&'t [T], Expiry), CalcError> {
    match args {
        [body @ .., seconds] if is_body(body.len()) => {
            Ok((body, Expiry::seconds(seconds.as_ref(), command)?))
        }
        [body @ .., pxat, at] if is_body(body.len()) && is_pxat(pxat.as_ref()) => {
            Ok((body, Expiry::pxat(at.as_ref(), command)?))
        }
        _ => Err(CalcError::WrongArity),
    }
}

/// One or more field-value pairs.
pub fn is_pairs(n: usize) -> bool {
    n >= 2 && n.is_multiple_of(2)
}

fn is_pxat(word: &[u8]) -> bool {
    word.eq_ignore_ascii_case(b"PXAT")
}

/// An integer as Redis reads an argument (`string2ll`): an optional `-`,
/// then digits without a leading zero (`0` alone is zero, `-0` is not an
/// integer), within the 64-bit range; no `+`, no spaces, nothing else. Folded
/// by hand since it runs on every write.
pub fn redis_integer(bytes: &[u8]) -> Option<i64> {
    let (negative, digits) = match bytes {
        [b'-', rest @ ..] => (true, rest),
        _ => (false, bytes),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    // Accumulated below zero, so that i64::MIN fits.
    let below = digits.iter().try_fold(0i64, |n, &b| {
        let digit = b.checked_sub(b'0').filter(|d| *d <= 9)?;
        n.checked_mul(10)?.checked_sub(i64::from(digit))
    })?;
    if negative {
        Some(below)
    } else {
        below.checked_neg()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const CMD: &CStr = c"calc.hsetex";

    fn split<'t>(args: &'t [&'t str]) -> Result<(&'t [&'t str], Expiry), CalcError> {
        split_expiry(args, is_pairs, CMD)
    }

    #[test]
    fn pairs_then_seconds_or_pxat() {
        let (body, expiry) = split(&["f", "v", "10"]).unwrap();
        assert_eq!(body, ["f", "v"]);
        assert!(!expiry.is_absolute());
        assert_eq!(expiry.at(|| 1_000), 11_000);

        let (body, expiry) = split(&["f", "v", "g", "w", "pxat", "1700000000000"]).unwrap();
        assert_eq!(body, ["f", "v", "g", "w"]);
        assert!(expiry.is_absolute());
        assert_eq!(expiry.at(|| unreachable!()), 1_700_000_000_000);
    }

    #[test]
    fn a_field_or_value_named_pxat_is_data() {
        // Odd count: pairs then seconds, whatever the words are.
        let (body, _) = split(&["PXAT", "v", "10"]).unwrap();
        assert_eq!(body, ["PXAT", "v"]);
        let (body, _) = split(&["f", "PXAT", "10"]).unwrap();
        assert_eq!(body, ["f", "PXAT"]);
        let (body, expiry) = split(&["PXAT", "PXAT", "PXAT", "5"]).unwrap();
        assert_eq!(body, ["PXAT", "PXAT"]);
        assert_eq!(expiry.at(|| 0), 5);
    }

    #[test]
    fn wrong_shapes_are_arity_errors() {
        for args in [
            &[][..],
            &["10"],
            &["f", "10"],
            &["f", "v"],
            &["f", "v", "g", "10"],
            &["PXAT", "5"],
            &["f", "v", "EX", "5"],
        ] {
            assert_eq!(split(args).unwrap_err(), CalcError::WrongArity, "{args:?}");
        }
    }

    #[test]
    fn a_fixed_body_takes_either_form() {
        let stash = ["a", "b", "1", "2", "v"];
        let fixed = |n: usize| n == 5;
        let with = |tail: &[&'static str]| {
            let mut args = stash.to_vec();
            args.extend_from_slice(tail);
            split_expiry(&args, fixed, CMD).map(|(body, e)| (body.len(), e.is_absolute()))
        };
        assert_eq!(with(&["10"]), Ok((5, false)));
        assert_eq!(with(&["PXAT", "10"]), Ok((5, true)));
        assert_eq!(with(&[]), Err(CalcError::WrongArity));
        assert_eq!(with(&["EX", "10"]), Err(CalcError::WrongArity));
    }

    #[test]
    fn integers_are_read_as_redis_reads_them() {
        for (text, value) in [
            ("0", 0),
            ("5", 5),
            ("-1", -1),
            ("10", 10),
            ("9223372036854775807", i64::MAX),
            ("-9223372036854775808", i64::MIN),
        ] {
            assert_eq!(redis_integer(text.as_bytes()), Some(value), "{text}");
        }
        for text in [
            "",
            "-",
            "05",
            "00",
            "-0",
            "-05",
            "+5",
            " 5",
            "5 ",
            "5\n",
            "1e3",
            "5.0",
            "0x10",
            "abc",
            "5a",
            "9223372036854775808",
            "-9223372036854775809",
            "99999999999999999999999",
        ] {
            assert_eq!(redis_integer(text.as_bytes()), None, "{text:?}");
        }
        assert_eq!(redis_integer("٥".as_bytes()), None, "non-ASCII digit");
    }

    fn seconds(text: &str) -> Result<i64, CalcError> {
        Expiry::seconds(text.as_bytes(), CMD).map(|e| e.ms)
    }

    fn pxat(text: &str) -> Result<i64, CalcError> {
        Expiry::pxat(text.as_bytes(), CMD).map(|e| e.ms)
    }

    #[test]
    fn seconds_are_an_integer_first_then_a_valid_expiry() {
        let invalid = Err(CalcError::InvalidExpire { command: CMD });
        assert_eq!(seconds("5"), Ok(5000));
        assert_eq!(
            seconds(&MAX_TTL_SECONDS.to_string()),
            Ok(MAX_TTL_SECONDS * 1000)
        );
        for text in ["05", "+5", " 5", "", "-0", "5.0", "9223372036854775808"] {
            assert_eq!(seconds(text), Err(CalcError::NotAnInteger), "{text:?}");
        }
        for text in ["0", "-1", "-9223372036854775808", "9223372036854775807"] {
            assert_eq!(seconds(text), invalid, "{text:?}");
        }
        // A TTL whose absolute time could overflow is refused up front.
        assert_eq!(seconds(&(MAX_TTL_SECONDS + 1).to_string()), invalid);
    }

    #[test]
    fn pxat_is_an_integer_first_then_positive() {
        let invalid = Err(CalcError::InvalidExpire { command: CMD });
        assert_eq!(pxat("1"), Ok(1));
        assert_eq!(pxat("9223372036854775807"), Ok(i64::MAX));
        for text in ["05", "+1", "1 ", "", "-0", "1e3"] {
            assert_eq!(pxat(text), Err(CalcError::NotAnInteger), "{text:?}");
        }
        for text in ["0", "-1", "-9223372036854775808"] {
            assert_eq!(pxat(text), invalid, "{text:?}");
        }
    }

    #[test]
    fn the_absolute_time_is_computed_once() {
        let expiry = Expiry::seconds(b"2", CMD).unwrap();
        assert_eq!(expiry.at(|| 100), 2_100);
        assert_eq!(expiry.at(|| 999_999), 2_100);
    }
}
