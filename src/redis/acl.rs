//! The caller's ACL user, for the checks Redis does not make itself: keys a
//! command derives from data (`keys`), and the other name of an operation
//! that has two (a dotted alias and a subcommand of a container), which ACL
//! sees as two unrelated commands.

use std::ptr::NonNull;

use redis_module::{raw, ContextFlags};

use super::{Arg, Ctx, RedisStr};

/// The user running the command, freed when dropped.
pub struct User<'a> {
    ctx: Ctx<'a>,
    ptr: NonNull<raw::RedisModuleUser>,
}

impl<'a> User<'a> {
    /// The user running this command, or `None` where there is nothing to
    /// check: a command from the primary's replication stream or the AOF runs
    /// with no user (GetCurrentUserName would read a NULL one) and was
    /// checked where it first ran; a client with no user may run anything.
    pub fn current(ctx: Ctx<'a>) -> Option<User<'a>> {
        if ctx
            .flags()
            .intersects(ContextFlags::REPLICATED | ContextFlags::LOADING)
        {
            return None;
        }
        // SAFETY: the command's context; the name string is freed here, the
        // user by `Drop`.
        let user = unsafe {
            let name = raw::RedisModule_GetCurrentUserName.unwrap()(ctx.ptr);
            if name.is_null() {
                return None;
            }
            let user = raw::RedisModule_GetModuleUserFromUserName.unwrap()(name);
            raw::RedisModule_FreeString.unwrap()(ctx.ptr, name);
            user
        };
        NonNull::new(user).map(|ptr| User { ctx, ptr })
    }

    /// Whether the user may delete and write `key`; a refusal is logged in
    /// `ACL LOG` as a refused declared key is: reason `key`, the key, the
    /// user, the client (context `module`).
    pub fn may_write_key(&self, key: &impl RedisStr) -> bool {
        // SAFETY: a live module user and a live key name.
        let allowed = unsafe {
            raw::RedisModule_ACLCheckKeyPermissions.unwrap()(
                self.ptr.as_ptr(),
                key.ptr(),
                raw::REDISMODULE_CMD_KEY_DELETE as i32,
            )
        } == raw::REDISMODULE_OK as i32;
        if !allowed {
            self.log(
                key,
                raw::RedisModuleACLLogEntryReason_REDISMODULE_ACL_LOG_KEY,
            );
        }
        allowed
    }

    /// Whether the user may run the command `words` (its name, and a
    /// subcommand's name) with the arguments `args`, as ACL would decide were
    /// it called so. A refusal is logged in `ACL LOG` with reason `command`
    /// and `logged_as` as its object (the name the client called).
    pub fn may_run(&self, words: &[&[u8]], args: &[Arg], logged_as: &[u8]) -> bool {
        let words: Vec<_> = words.iter().map(|word| self.ctx.string(word)).collect();
        let mut argv: Vec<*mut raw::RedisModuleString> = words
            .iter()
            .map(RedisStr::ptr)
            .chain(args.iter().map(RedisStr::ptr))
            .collect();
        let Ok(argc) = i32::try_from(argv.len()) else {
            return false;
        };
        // SAFETY: a live module user and `argc` live strings (the words this
        // call made, the command's own arguments); Redis reads them only.
        let allowed = unsafe {
            raw::RedisModule_ACLCheckCommandPermissions.unwrap()(
                self.ptr.as_ptr(),
                argv.as_mut_ptr(),
                argc,
            )
        } == raw::REDISMODULE_OK as i32;
        if !allowed {
            self.log(
                &self.ctx.string(logged_as),
                raw::RedisModuleACLLogEntryReason_REDISMODULE_ACL_LOG_CMD,
            );
        }
        allowed
    }

    fn log(&self, object: &impl RedisStr, reason: raw::RedisModuleACLLogEntryReason) {
        // SAFETY: the command's context, this live user and a live string;
        // Redis copies what it keeps.
        unsafe {
            raw::RedisModule_ACLAddLogEntry.unwrap()(
                self.ctx.ptr,
                self.ptr.as_ptr(),
                object.ptr(),
                reason,
            );
        }
    }
}

impl Drop for User<'_> {
    fn drop(&mut self) {
        // SAFETY: the user GetModuleUserFromUserName gave, freed once.
        unsafe { raw::RedisModule_FreeModuleUser.unwrap()(self.ptr.as_ptr()) };
    }
}
