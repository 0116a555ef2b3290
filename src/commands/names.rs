//! Every command's name, spelled once: for registration, error messages and
//! the commands a write replicates as.

use std::ffi::CStr;

pub const HSETEX: &CStr = c"calc.hsetex";
pub const A2BSET: &CStr = c"calc.a2bset";
pub const GETDICT: &CStr = c"calc.getdict";
pub const MGETDICT: &CStr = c"calc.mgetdict";
pub const PURGEA: &CStr = c"calc.purgea";
pub const TEMPLATE: &CStr = c"calc.template";
pub const SETDICT: &CStr = c"calc.setdict";
pub const GETJSON: &CStr = c"calc.getjson";
pub const MGETJSON: &CStr = c"calc.mgetjson";
pub const GETVALUES: &CStr = c"calc.getvalues";
/// The native command CALC.SETDICT replicates as where the key existed.
pub const HSET: &CStr = c"HSET";
pub const TEMPLATE_SET: &CStr = c"calc.template.set";
pub const TEMPLATE_GET: &CStr = c"calc.template.get";
pub const TEMPLATE_INFO: &CStr = c"calc.template.info";
pub const TEMPLATE_DEL: &CStr = c"calc.template.del";
pub const TEMPLATE_LIST: &CStr = c"calc.template.list";
/// The template container's subcommands, each the same operation as the
/// dotted alias above it (`calc.template.set` is `calc.template set`).
pub const SET: &CStr = c"set";
pub const GET: &CStr = c"get";
pub const INFO: &CStr = c"info";
pub const DEL: &CStr = c"del";
pub const LIST: &CStr = c"list";
pub const HELP: &CStr = c"help";
