//! README, Security (One operation, two names): `CALC.TEMPLATE.SET` and
//! `CALC.TEMPLATE SET` (and GET, INFO, DEL, LIST) are two commands to ACL and
//! one operation to the module. A user denied either name is denied both,
//! with `NOPERM` and an `ACL LOG` entry, on every server.

mod common;

use common::{call, call_err, register, templates, user, Server};
use redis::{Connection, Value};

/// Each operation: its dotted alias, its subcommand, and a call of each name.
struct Operation {
    alias: &'static str,
    subcommand: &'static str,
    args: &'static [&'static [u8]],
}

const OPERATIONS: [Operation; 5] = [
    Operation {
        alias: "calc.template.set",
        subcommand: "set",
        args: &[b"flat", b"[\"zzz\"]"],
    },
    Operation {
        alias: "calc.template.get",
        subcommand: "get",
        args: &[b"flat"],
    },
    Operation {
        alias: "calc.template.info",
        subcommand: "info",
        args: &[b"flat"],
    },
    Operation {
        alias: "calc.template.del",
        subcommand: "del",
        args: &[b"flat"],
    },
    Operation {
        alias: "calc.template.list",
        subcommand: "list",
        args: &[],
    },
];

impl Operation {
    /// `CALC.TEMPLATE.SET flat ...`
    fn by_alias(&self) -> Vec<&[u8]> {
        let mut argv = vec![self.alias.as_bytes()];
        argv.extend(self.args);
        argv
    }

    /// `CALC.TEMPLATE SET flat ...`
    fn by_subcommand(&self) -> Vec<&[u8]> {
        let mut argv = vec![&b"calc.template"[..], self.subcommand.as_bytes()];
        argv.extend(self.args);
        argv
    }

    /// As ACL names the subcommand: `calc.template|set`.
    fn full_subcommand(&self) -> String {
        format!("calc.template|{}", self.subcommand)
    }
}

fn seeded(server: &Server) -> Connection {
    let mut admin = server.client();
    register(&mut admin, "flat", r#"["a","bb"]"#);
    admin
}

/// The `ACL LOG` entries as (reason, object, username), newest first.
fn acl_log(admin: &mut Connection) -> Vec<(String, String, String)> {
    let log: Vec<Value> = redis::cmd("ACL").arg("LOG").query(admin).unwrap();
    log.iter()
        .map(|entry| {
            let Value::Array(items) = entry else {
                panic!("{entry:?}")
            };
            let get = |name: &str| {
                items
                    .chunks(2)
                    .find(|kv| kv[0] == common::bulk(name))
                    .map(|kv| match &kv[1] {
                        Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                        other => format!("{other:?}"),
                    })
                    .unwrap_or_else(|| panic!("no {name} in {entry:?}"))
            };
            (get("reason"), get("object"), get("username"))
        })
        .collect()
}

fn reset_log(admin: &mut Connection) {
    let _: () = redis::cmd("ACL")
        .arg("LOG")
        .arg("RESET")
        .query(admin)
        .unwrap();
}

/// Denying one name, in either spelling, denies both; the other operations
/// stay open; nothing changes; each refusal is logged with the name called.
#[test]
fn a_rule_on_either_name_denies_both() {
    let server = Server::start();
    let mut admin = seeded(&server);
    for denied in &OPERATIONS {
        for rule in [
            format!("-{}", denied.alias),
            format!("-{}", denied.full_subcommand()),
        ] {
            let name = format!("u-{}", rule.replace(['|', '.', '-'], "_"));
            let mut con = user(&server, &mut admin, &name, &["~*", "+@all", &rule]);
            reset_log(&mut admin);
            let before = templates(&mut admin);
            for (argv, called) in [
                (denied.by_alias(), denied.alias.to_string()),
                (denied.by_subcommand(), denied.full_subcommand()),
            ] {
                let err = call_err(&mut con, &argv);
                assert!(err.starts_with("NOPERM"), "{rule}: {called}: {err}");
                let log = acl_log(&mut admin);
                assert_eq!(
                    log.first(),
                    Some(&("command".to_string(), called.clone(), name.clone())),
                    "{rule}: {called}: {log:?}"
                );
            }
            assert_eq!(templates(&mut admin), before, "{rule}");
            // Every other operation still runs under both names (DEL last,
            // and the template put back for the next rule).
            for other in OPERATIONS.iter().filter(|o| o.alias != denied.alias) {
                for argv in [other.by_alias(), other.by_subcommand()] {
                    call(&mut con, &argv)
                        .unwrap_or_else(|e| panic!("{rule}: {:?}: {e}", other.alias));
                }
                register(&mut admin, "flat", r#"["a","bb"]"#);
            }
        }
    }
}

/// A whole container denied (`-calc.template`) denies the aliases too.
#[test]
fn denying_the_container_denies_the_aliases() {
    let server = Server::start();
    let mut admin = seeded(&server);
    let mut con = user(
        &server,
        &mut admin,
        "app",
        &["~*", "+@all", "-calc.template"],
    );
    let before = templates(&mut admin);
    for operation in &OPERATIONS {
        let err = call_err(&mut con, &operation.by_alias());
        assert!(err.starts_with("NOPERM"), "{}: {err}", operation.alias);
    }
    assert_eq!(templates(&mut admin), before);
}

/// Allowing one name is not allowing the operation: a user allowed only
/// `calc.template|get` is denied `calc.template.get` (by default), and so
/// both; allowed both, it runs under both.
#[test]
fn an_operation_runs_only_where_both_names_are_allowed() {
    let server = Server::start();
    let mut admin = seeded(&server);
    let get = &OPERATIONS[1];
    let mut one = user(&server, &mut admin, "one", &["~*", "+calc.template|get"]);
    for argv in [get.by_alias(), get.by_subcommand()] {
        let err = call_err(&mut one, &argv);
        assert!(err.starts_with("NOPERM"), "{err}");
    }
    let mut both = user(
        &server,
        &mut admin,
        "both",
        &["~*", "+calc.template|get", "+calc.template.get"],
    );
    for argv in [get.by_alias(), get.by_subcommand()] {
        assert_eq!(
            call(&mut both, &argv).unwrap(),
            common::bulk(r#"["a","bb"]"#)
        );
    }
}

/// A script runs a command as its caller: the other name is checked there too.
#[test]
fn a_script_is_denied_the_other_name_too() {
    let server = Server::start();
    let mut admin = seeded(&server);
    let mut con = user(
        &server,
        &mut admin,
        "scripted",
        &["~*", "+@all", "-calc.template.set"],
    );
    let before = templates(&mut admin);
    let err = call_err(
        &mut con,
        &[
            b"EVAL",
            b"return redis.call('CALC.TEMPLATE', 'SET', 'flat', '[\"zzz\"]')",
            b"0",
        ],
    );
    assert!(err.contains("NOPERM"), "{err}");
    assert_eq!(templates(&mut admin), before);
}
