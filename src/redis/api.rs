//! The module API calls this layer unwraps, listed once. `loadmodule` checks
//! every one of them (`missing`), so an `unwrap()` on one of these pointers can
//! never fire after a successful load. A unit test reads this folder's source
//! and fails when a call is unwrapped that the list lacks.

use redis_module::raw;

/// `REQUIRED` and `missing()` from one list of names.
macro_rules! required_api {
    ($($name:ident),* $(,)?) => {
        /// Every API call the module unwraps; all exist since Redis 7.0.
        pub const REQUIRED: &[&str] = &[$(stringify!($name)),*];

        /// The first required API call this server lacks, if any.
        pub fn missing() -> Option<&'static str> {
            // SAFETY: reading the function pointers `RedisModule_Init` filled
            // in; nothing is called.
            let present = unsafe { [$({ raw::$name }.is_some()),*] };
            REQUIRED
                .iter()
                .zip(present)
                .find_map(|(name, present)| (!present).then_some(*name))
        }
    };
}

required_api![
    RedisModule_CreateCommand,
    RedisModule_CreateSubcommand,
    RedisModule_GetCommand,
    RedisModule_SetCommandInfo,
    RedisModule_ReplyWithMap,
    RedisModule_ReplyWithBool,
    RedisModule_ReplyWithBigNumber,
    RedisModule_ReplyWithDouble,
    RedisModule_ReplyWithNull,
    RedisModule_HashSet,
    RedisModule_HashGet,
    RedisModule_ScanKey,
    RedisModule_SetAbsExpire,
    RedisModule_Replicate,
    RedisModule_ReplicateVerbatim,
    RedisModule_NotifyKeyspaceEvent,
    RedisModule_ACLCheckKeyPermissions,
    RedisModule_ACLCheckCommandPermissions,
    RedisModule_ACLAddLogEntry,
    RedisModule_GetCurrentUserName,
    RedisModule_GetModuleUserFromUserName,
    RedisModule_FreeModuleUser,
    RedisModule_RegisterInfoFunc,
    RedisModule_SetModuleOptions,
    RedisModule_ScanCursorCreate,
    RedisModule_ScanCursorDestroy,
    RedisModule_GetContextFlags,
    RedisModule_Milliseconds,
    RedisModule_ReplyWithStringBuffer,
    RedisModule_ReplyWithArray,
    RedisModule_IsIOError,
    RedisModule_InfoAddSection,
    RedisModule_InfoAddFieldULongLong,
    RedisModule_Log,
    RedisModule_LogIOError,
    RedisModule_Call,
    RedisModule_OpenKey,
    RedisModule_CloseKey,
    RedisModule_KeyType,
    RedisModule_ValueLength,
    RedisModule_DeleteKey,
    RedisModule_CreateString,
    RedisModule_FreeString,
    RedisModule_StringPtrLen,
    RedisModule_Free,
    RedisModule_ReplyWithError,
    RedisModule_ReplyWithLongLong,
    RedisModule_ReplyWithSimpleString,
    RedisModule_WrongArity,
    RedisModule_SaveUnsigned,
    RedisModule_LoadUnsigned,
    RedisModule_SaveStringBuffer,
    RedisModule_LoadStringBuffer,
    RedisModule_SubscribeToServerEvent,
    RedisModule_AvoidReplicaTraffic,
    RedisModule_CreateTimer,
    RedisModule_RegisterNumericConfig,
    RedisModule_LoadConfigs,
];

#[cfg(test)]
mod tests {
    use super::REQUIRED;

    /// Every `raw::RedisModule_X.unwrap()` in this folder names a call in
    /// `REQUIRED`; the optional ones are matched with `if let`/`match`. The
    /// folder is read as it is, so a new file cannot escape the scan (all but
    /// this file, which holds the list and calls nothing).
    #[test]
    fn every_unwrapped_call_is_checked_at_load() {
        let folder = concat!(env!("CARGO_MANIFEST_DIR"), "/src/redis");
        let mut sources = Vec::new();
        for entry in std::fs::read_dir(folder).expect("src/redis") {
            let path = entry.expect("a directory entry").path();
            let this_file = path.file_name().is_some_and(|name| name == "api.rs");
            if path.extension().is_some_and(|ext| ext == "rs") && !this_file {
                sources.push(std::fs::read_to_string(&path).expect("a source file"));
            }
        }
        assert!(sources.len() > 1, "{folder}: {} files", sources.len());
        let mut unwrapped = 0;
        for source in &sources {
            for (at, _) in source.match_indices(".unwrap()") {
                let before = &source[..at];
                let start = before
                    .rfind(|c: char| !(c.is_ascii_alphanumeric() || c == '_'))
                    .map_or(0, |i| i + 1);
                let name = &before[start..];
                if name.starts_with("RedisModule_") {
                    assert!(
                        REQUIRED.contains(&name),
                        "{name} is unwrapped but not checked at load"
                    );
                    unwrapped += 1;
                }
            }
        }
        assert!(
            unwrapped > REQUIRED.len() / 2,
            "the scan found only {unwrapped} calls"
        );
    }
}
