//! Command families, one file each, and how each command is declared to Redis
//! (`COMMANDS`). Every command has the same shape: parse the arguments (pure
//! functions, `args`) -> open every key with its checks -> act -> one effects
//! step (notifications, replication) -> reply. A body returns a `CalcError`
//! before its first change, or succeeds.

mod args;
pub mod dict;
pub mod hash;
pub mod json;
pub mod names;
pub mod purge;
mod read;
pub mod template;
mod write;

use std::ffi::{c_int, CStr};
use std::sync::atomic::Ordering;

use crate::error::CalcError;
use crate::msgpack::Sink;
use crate::printable::printable;
use crate::redis::acl::User;
use crate::redis::command::{
    self, ArgDoc, ArgKind, Command, Container, Failure, Handler, KeyFlags, KeySpec, RawArgv, RawCtx,
};
use crate::redis::reply::ReplyWriter;
use crate::redis::{Arg, Ctx};
use crate::stats;

/// A command body: `args` (the command name first) -> reply, or the error to
/// answer with, having changed nothing.
type Body = for<'a> fn(Ctx<'a>, &[Arg<'a>], &mut ReplyWriter) -> Result<(), CalcError>;

/// The C entry point Redis calls for `body`: the redis layer's panic-guarded
/// `run`, around `serve`.
macro_rules! handler {
    ($body:path) => {{
        extern "C" fn handler(ctx: RawCtx, argv: RawArgv, argc: c_int) -> c_int {
            command::run(ctx, argv, argc, |ctx, args, reply| {
                serve(ctx, args, reply, $body)
            })
        }
        handler as Handler
    }};
}

/// The entry point of one name of an operation that has two (`$names`): the
/// dotted alias (`$called` is `Name::Alias`), whose body sees the alias
/// first, or the container's subcommand (`Name::Subcommand`), whose body sees
/// its own name first, not the container's. ACL sees two commands; the body
/// runs only if the caller may also run the other one.
macro_rules! two_names_handler {
    ($body:path, $names:expr, $called:expr) => {{
        extern "C" fn handler(ctx: RawCtx, argv: RawArgv, argc: c_int) -> c_int {
            command::run(ctx, argv, argc, |ctx, args, reply| {
                let args = match $called {
                    Name::Alias => args,
                    Name::Subcommand => args.get(1..).unwrap_or_default(),
                };
                if let Err(error) =
                    $names.check_other(ctx, $called, args.get(1..).unwrap_or_default())
                {
                    return Err(Failure::Error(error.to_string()));
                }
                serve(ctx, args, reply, $body)
            })
        }
        handler as Handler
    }};
}

/// The same for a subcommand with no other name (HELP).
macro_rules! subcommand_handler {
    ($body:path) => {{
        extern "C" fn handler(ctx: RawCtx, argv: RawArgv, argc: c_int) -> c_int {
            command::run(ctx, argv, argc, |ctx, args, reply| {
                serve(ctx, args.get(1..).unwrap_or_default(), reply, $body)
            })
        }
        handler as Handler
    }};
}

/// Which of its two names an operation was called by.
#[derive(Clone, Copy)]
enum Name {
    Alias,
    Subcommand,
}

/// An operation with two names: `calc.template.set` and `calc.template set`.
#[derive(Clone, Copy)]
struct TwoNames {
    alias: &'static CStr,
    subcommand: &'static CStr,
}

impl TwoNames {
    /// Refuses the call (`NOPERM`, and an `ACL LOG` entry for the name
    /// called, reason `command`) unless the caller may also run it, with the
    /// same `args`, by its other name: a user denied either name is denied
    /// both, whichever name a rule spells.
    fn check_other(self, ctx: Ctx, called: Name, args: &[Arg]) -> Result<(), CalcError> {
        let Some(user) = User::current(ctx) else {
            return Ok(());
        };
        let alias = self.alias.to_bytes();
        let container = names::TEMPLATE.to_bytes();
        let subcommand = self.subcommand.to_bytes();
        // As ACL LOG and NOPERM name a subcommand: `calc.template|set`.
        let full = [container, b"|", subcommand].concat();
        let (other_words, called_name, other_name): (&[&[u8]], &[u8], &[u8]) = match called {
            Name::Alias => (&[container, subcommand], alias, &full),
            Name::Subcommand => (&[alias], &full, alias),
        };
        if user.may_run(other_words, args, called_name) {
            Ok(())
        } else {
            Err(CalcError::NoPermCommand {
                command: printable(called_name),
                other: printable(other_name),
            })
        }
    }
}

const SET: TwoNames = TwoNames {
    alias: names::TEMPLATE_SET,
    subcommand: names::SET,
};
const GET: TwoNames = TwoNames {
    alias: names::TEMPLATE_GET,
    subcommand: names::GET,
};
const INFO: TwoNames = TwoNames {
    alias: names::TEMPLATE_INFO,
    subcommand: names::INFO,
};
const DEL: TwoNames = TwoNames {
    alias: names::TEMPLATE_DEL,
    subcommand: names::DEL,
};
const LIST: TwoNames = TwoNames {
    alias: names::TEMPLATE_LIST,
    subcommand: names::LIST,
};

/// Runs a body, counting it (and its decode and pack errors) in `INFO calc`.
fn serve<'a>(
    ctx: Ctx<'a>,
    args: &[Arg<'a>],
    reply: &mut ReplyWriter,
    body: Body,
) -> Result<(), Failure> {
    stats::COMMANDS_SERVED.fetch_add(1, Ordering::Relaxed);
    body(ctx, args, reply).map_err(|error| {
        if error.is_decode() {
            stats::DECODE_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        if error.is_pack() {
            stats::PACK_ERRORS.fetch_add(1, Ordering::Relaxed);
        }
        match error {
            CalcError::WrongArity => Failure::WrongArity,
            error => Failure::Error(error.to_string()),
        }
    })
}

/// The decoder writes a decoded value straight into the reply.
impl Sink for ReplyWriter {
    fn nil(&mut self) {
        self.null();
    }
    fn boolean(&mut self, value: bool) {
        ReplyWriter::boolean(self, value);
    }
    fn int(&mut self, value: i64) {
        self.integer(value);
    }
    fn big_uint(&mut self, value: u64) {
        ReplyWriter::big_uint(self, value);
    }
    fn float(&mut self, value: f64) {
        self.double(value);
    }
    fn bytes(&mut self, value: &[u8]) {
        ReplyWriter::bytes(self, value);
    }
    fn array(&mut self, len: usize) {
        ReplyWriter::array(self, len);
    }
    fn map(&mut self, pairs: usize) {
        ReplyWriter::map(self, pairs);
    }
}

const SINCE: &std::ffi::CStr = c"0.1.0";
/// The JSON commands came with the template container.
const SINCE_JSON: &std::ffi::CStr = c"0.2.0";

/// A key at argument `index`.
const fn key_at(index: i32, flags: KeyFlags) -> KeySpec {
    KeySpec {
        flags,
        index,
        last: 0,
        step: 1,
    }
}

/// Written as HSET declares its key (`RW UPDATE`: INSERT, UPDATE and DELETE
/// are exclusive, and adding a field to a hash is an update of its value).
const HASH_WRITE: KeyFlags = KeyFlags::RW.with(KeyFlags::UPDATE);
const HASH_READ: KeyFlags = KeyFlags::RO.with(KeyFlags::ACCESS);

const KEY: ArgDoc = ArgDoc::new(c"key", ArgKind::Key(0));
const TEMPLATE_NAME: ArgDoc = ArgDoc::new(c"template", ArgKind::String);
/// `seconds` from now, or `PXAT` and a unix time in milliseconds.
const EXPIRATION: ArgDoc = ArgDoc::new(c"expiration", ArgKind::OneOf).sub(&[
    ArgDoc::new(c"seconds", ArgKind::Integer),
    ArgDoc::new(c"unix-time-milliseconds", ArgKind::UnixTime).token(c"PXAT"),
]);
const NAME: ArgDoc = ArgDoc::new(c"name", ArgKind::String);

pub static COMMANDS: &[Command] = &[
    Command {
        name: names::HSETEX,
        handler: handler!(hash::hsetex),
        flags: c"write deny-oom fast",
        categories: c"write hash fast",
        arity: -5,
        keys: &[key_at(1, HASH_WRITE)],
        summary: c"Sets hash fields; sets the key's expiry only if the call creates the key.",
        complexity: c"O(N) where N is the number of field-value pairs.",
        since: SINCE,
        args: &[
            KEY,
            ArgDoc::new(c"data", ArgKind::Block).multiple().sub(&[
                ArgDoc::new(c"field", ArgKind::String),
                ArgDoc::new(c"value", ArgKind::String),
            ]),
            EXPIRATION,
        ],
    },
    Command {
        name: names::A2BSET,
        handler: handler!(hash::a2bset),
        flags: c"write deny-oom fast",
        categories: c"write hash fast",
        arity: -7,
        keys: &[key_at(1, HASH_WRITE), key_at(2, HASH_WRITE)],
        summary: c"Stashes a value under akey[id_b] and bkey[id_a] atomically; each key gets the expiry only if the call creates it.",
        complexity: c"O(1)",
        since: SINCE,
        args: &[
            ArgDoc::new(c"akey", ArgKind::Key(0)),
            ArgDoc::new(c"bkey", ArgKind::Key(1)),
            ArgDoc::new(c"id_a", ArgKind::String),
            ArgDoc::new(c"id_b", ArgKind::String),
            ArgDoc::new(c"value", ArgKind::String),
            EXPIRATION,
        ],
    },
    Command {
        name: names::GETDICT,
        handler: handler!(dict::getdict),
        flags: c"readonly fast",
        categories: c"read hash fast",
        arity: 4,
        keys: &[key_at(1, HASH_READ)],
        summary: c"Reads a hash field and decodes its msgpack value against a template into a map.",
        complexity: c"O(M) where M is the size of the value.",
        since: SINCE,
        args: &[KEY, ArgDoc::new(c"field", ArgKind::String), TEMPLATE_NAME],
    },
    Command {
        name: names::MGETDICT,
        handler: handler!(dict::mgetdict),
        flags: c"readonly",
        categories: c"read hash slow",
        arity: -4,
        keys: &[key_at(1, HASH_READ)],
        summary: c"Reads several fields of a hash, each decoded against a template into a map.",
        complexity: c"O(N*M) where N is the number of fields and M the size of a value.",
        since: SINCE,
        args: &[
            KEY,
            TEMPLATE_NAME,
            ArgDoc::new(c"field", ArgKind::String).multiple(),
        ],
    },
    Command {
        name: names::SETDICT,
        handler: handler!(json::setdict),
        flags: c"write deny-oom",
        categories: c"write hash slow",
        arity: -6,
        keys: &[key_at(1, HASH_WRITE)],
        summary: c"Packs JSON objects against a template and sets them as hash fields; sets the key's expiry only if the call creates the key.",
        complexity: c"O(N) where N is the total size of the JSON values.",
        since: SINCE_JSON,
        args: &[
            KEY,
            TEMPLATE_NAME,
            ArgDoc::new(c"data", ArgKind::Block).multiple().sub(&[
                ArgDoc::new(c"field", ArgKind::String),
                ArgDoc::new(c"json", ArgKind::String),
            ]),
            EXPIRATION,
        ],
    },
    Command {
        name: names::GETJSON,
        handler: handler!(json::getjson),
        flags: c"readonly fast",
        categories: c"read hash fast",
        arity: 4,
        keys: &[key_at(1, HASH_READ)],
        summary: c"Reads a hash field and decodes its msgpack value against a template into one JSON text.",
        complexity: c"O(M) where M is the size of the value.",
        since: SINCE_JSON,
        args: &[KEY, ArgDoc::new(c"field", ArgKind::String), TEMPLATE_NAME],
    },
    Command {
        name: names::MGETJSON,
        handler: handler!(json::mgetjson),
        flags: c"readonly",
        categories: c"read hash slow",
        arity: -4,
        keys: &[key_at(1, HASH_READ)],
        summary: c"Reads several fields of a hash, each decoded against a template into one JSON text.",
        complexity: c"O(N*M) where N is the number of fields and M the size of a value.",
        since: SINCE_JSON,
        args: &[
            KEY,
            TEMPLATE_NAME,
            ArgDoc::new(c"field", ArgKind::String).multiple(),
        ],
    },
    Command {
        name: names::GETVALUES,
        handler: handler!(json::getvalues),
        flags: c"readonly fast",
        categories: c"read hash fast",
        arity: -5,
        keys: &[key_at(1, HASH_READ)],
        summary: c"Reads a hash field decoded against a template and returns only the named entries, in the order asked.",
        complexity: c"O(M+N) where M is the size of the value and N the number of names.",
        since: SINCE_JSON,
        args: &[
            KEY,
            ArgDoc::new(c"field", ArgKind::String),
            TEMPLATE_NAME,
            ArgDoc::new(c"name", ArgKind::String).multiple(),
        ],
    },
    Command {
        name: names::PURGEA,
        handler: handler!(purge::purgea),
        flags: c"write",
        categories: c"write hash slow",
        arity: -4,
        keys: &[key_at(
            1,
            KeyFlags::RW.with(KeyFlags::ACCESS).with(KeyFlags::DELETE),
        )],
        summary: c"Removes member from the hash bprefix..b for every field b of akey, then deletes akey; with LOCAL, only the b-hashes in akey's slot.",
        complexity: c"O(N) where N is the number of fields of akey.",
        since: SINCE,
        args: &[
            ArgDoc::new(c"akey", ArgKind::Key(0)),
            ArgDoc::new(c"bprefix", ArgKind::String),
            ArgDoc::new(c"member", ArgKind::String),
            ArgDoc::new(c"local", ArgKind::PureToken)
                .token(c"LOCAL")
                .optional(),
        ],
    },
    TEMPLATE_SET,
    TEMPLATE_GET,
    TEMPLATE_INFO,
    TEMPLATE_DEL,
    TEMPLATE_LIST,
];

/// `CALC.TEMPLATE SET|GET|INFO|DEL|LIST`: the template commands as
/// subcommands of one container (cluster clients accept a module command name
/// with one dot only). The dotted names above stay, as aliases.
pub static CONTAINERS: &[Container] = &[Container {
    name: names::TEMPLATE,
    summary: c"Registers, reads and removes templates (SET, GET, INFO, DEL, LIST).",
    since: c"0.2.0",
    subcommands: &[
        TEMPLATE_SET.subcommand(
            SET.subcommand,
            two_names_handler!(template::set, SET, Name::Subcommand),
        ),
        TEMPLATE_GET.subcommand(
            GET.subcommand,
            two_names_handler!(template::get, GET, Name::Subcommand),
        ),
        TEMPLATE_INFO.subcommand(
            INFO.subcommand,
            two_names_handler!(template::info, INFO, Name::Subcommand),
        ),
        TEMPLATE_DEL.subcommand(
            DEL.subcommand,
            two_names_handler!(template::del, DEL, Name::Subcommand),
        ),
        TEMPLATE_LIST.subcommand(
            LIST.subcommand,
            two_names_handler!(template::list, LIST, Name::Subcommand),
        ),
        Command {
            name: names::HELP,
            handler: subcommand_handler!(template::help),
            flags: c"allow-loading allow-stale",
            categories: c"slow",
            arity: 2,
            keys: &[],
            summary: c"Shows helpful text about the different subcommands.",
            complexity: c"O(1)",
            since: c"0.2.0",
            args: &[],
        },
    ],
}];

const TEMPLATE_SET: Command = Command {
    name: names::TEMPLATE_SET,
    handler: two_names_handler!(template::set, SET, Name::Alias),
    flags: c"write deny-oom",
    categories: c"write slow",
    arity: -3,
    keys: &[],
    summary: c"Registers a template (a JSON array of names) under a name, replacing one of the same name.",
    complexity: c"O(N) where N is the size of the definition.",
    since: SINCE,
    args: &[
        NAME,
        ArgDoc::new(c"definition", ArgKind::String),
        ArgDoc::new(c"policy", ArgKind::OneOf)
            .token(c"ONMISMATCH")
            .optional()
            .sub(&[
                ArgDoc::new(c"error", ArgKind::PureToken).token(c"ERROR"),
                ArgDoc::new(c"nil", ArgKind::PureToken).token(c"NIL"),
            ]),
        ArgDoc::new(c"marking", ArgKind::OneOf)
            .token(c"FINGERPRINT")
            .optional()
            .sub(&[
                ArgDoc::new(c"required", ArgKind::PureToken).token(c"REQUIRED"),
                ArgDoc::new(c"optional", ArgKind::PureToken).token(c"OPTIONAL"),
            ]),
    ],
};

const TEMPLATE_GET: Command = Command {
    name: names::TEMPLATE_GET,
    handler: two_names_handler!(template::get, GET, Name::Alias),
    flags: c"readonly",
    categories: c"slow",
    arity: 2,
    keys: &[],
    summary: c"Returns a template's definition as compact JSON.",
    complexity: c"O(N) where N is the size of the definition.",
    since: SINCE,
    args: &[NAME],
};

const TEMPLATE_INFO: Command = Command {
    name: names::TEMPLATE_INFO,
    handler: two_names_handler!(template::info, INFO, Name::Alias),
    flags: c"readonly",
    categories: c"slow",
    arity: 2,
    keys: &[],
    summary: c"Returns a template's definition, mismatch policy and fingerprint.",
    complexity: c"O(N) where N is the size of the definition.",
    since: SINCE,
    args: &[NAME],
};

const TEMPLATE_DEL: Command = Command {
    name: names::TEMPLATE_DEL,
    handler: two_names_handler!(template::del, DEL, Name::Alias),
    flags: c"write",
    categories: c"write slow",
    arity: 2,
    keys: &[],
    summary: c"Deletes a template.",
    complexity: c"O(1)",
    since: SINCE,
    args: &[NAME],
};

const TEMPLATE_LIST: Command = Command {
    name: names::TEMPLATE_LIST,
    handler: two_names_handler!(template::list, LIST, Name::Alias),
    flags: c"readonly",
    categories: c"slow",
    arity: 1,
    keys: &[],
    summary: c"Returns the names of the registered templates, sorted.",
    complexity: c"O(N) where N is the number of templates.",
    since: SINCE,
    args: &[],
};
