//! README, Running on Redis Cluster. Routing through declared key
//! positions, CROSSSLOT from Redis and from the module's derived-key check,
//! TRYAGAIN while a slot migrates, templates per node, and a failover that
//! keeps a shard's data, TTLs and templates.

mod common;

use std::process::Command;

use common::cluster::Cluster;
use common::{expiries, pack, snapshot, templates, wait_until, Server, PERMS};
use redis::cluster::ClusterConnection;
use redis::{Connection, Value};
use rmpv::Value as Mp;

fn cmd(con: &mut ClusterConnection, args: &[&[u8]]) -> redis::RedisResult<Value> {
    let mut c = redis::cmd(std::str::from_utf8(args[0]).unwrap());
    for a in &args[1..] {
        c.arg(*a);
    }
    c.query(con)
}

fn error_text(result: redis::RedisResult<Value>) -> String {
    let e = result.expect_err("expected an error");
    format!("{} {}", e.code().unwrap_or(""), e.detail().unwrap_or(""))
        .trim()
        .to_string()
}

/// Registers a template on every primary the documented way.
fn register_everywhere(cluster: &Cluster, name: &str, definition: &str) {
    let entry = format!("127.0.0.1:{}", cluster.nodes[0].port);
    let out = Command::new(common::cli_binary())
        .args([
            "--cluster",
            "call",
            &entry,
            "CALC.TEMPLATE.SET",
            name,
            definition,
            "--cluster-only-masters",
        ])
        .output()
        .unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    let refused = ["ERR", "READONLY", "MOVED", "NOPERM"];
    assert!(
        out.status.success() && !refused.iter().any(|e| stdout.contains(e)),
        "{stdout}"
    );
}

fn value() -> Vec<u8> {
    pack(&Mp::Array(vec![
        Mp::Boolean(true),
        Mp::Boolean(false),
        Mp::Nil,
        Mp::Array(vec![Mp::from("x"), Mp::F64(0.25)]),
    ]))
}

fn settle(node: &Server) {
    let mut con = node.client();
    let acked: i64 = redis::cmd("WAIT")
        .arg(1)
        .arg(10_000)
        .query(&mut con)
        .unwrap();
    assert_eq!(acked, 1, "the replica acknowledged the writes");
}

#[test]
fn redis_cluster_end_to_end() {
    let cluster = Cluster::start();
    let mut con = cluster.client();
    let v = value();

    // Templates: registered on every primary with `redis-cli --cluster call`.
    register_everywhere(&cluster, "perms", PERMS);
    for primary in cluster.primaries() {
        assert_eq!(templates(&mut primary.client()).len(), 1);
    }

    // Every command routes through its declared keys, from a cluster client.
    let keys: Vec<String> = (0..30).map(|i| format!("calculated-a|{i}")).collect();
    for key in &keys {
        assert_eq!(
            cmd(
                &mut con,
                &[b"CALC.HSETEX", key.as_bytes(), b"42", &v, b"3600"]
            )
            .unwrap(),
            Value::Int(1)
        );
        let dict = cmd(
            &mut con,
            &[b"CALC.GETDICT", key.as_bytes(), b"42", b"perms"],
        )
        .unwrap();
        assert!(
            matches!(&dict, Value::Array(items) if items.len() == 8),
            "{dict:?}"
        );
        let many = cmd(
            &mut con,
            &[b"CALC.MGETDICT", key.as_bytes(), b"perms", b"42", b"43"],
        )
        .unwrap();
        assert!(
            matches!(&many, Value::Array(items) if items.len() == 2 && items[1] == Value::Nil),
            "{many:?}"
        );
    }
    let on_nodes: usize = cluster
        .primaries()
        .iter()
        .map(|p| snapshot(&mut p.client()).len())
        .filter(|&n| n > 0)
        .count();
    assert_eq!(on_nodes, 3, "keys spread over all three shards");

    // A2BSET with keys in two slots: CROSSSLOT from Redis itself.
    let err = error_text(cmd(
        &mut con,
        &[
            b"CALC.A2BSET",
            b"a2b-a|1",
            b"a2b-b|7",
            b"1",
            b"7",
            &v,
            b"3600",
        ],
    ));
    assert!(err.starts_with("CROSSSLOT"), "{err}");

    // The hash-tag layout keeps an a-hash and its b-hashes in one slot.
    for (a, b) in [("1", "7"), ("1", "8"), ("2", "7")] {
        let (akey, bkey) = (
            format!("{{tenant}}a2b-a|{a}"),
            format!("{{tenant}}a2b-b|{b}"),
        );
        assert_eq!(
            cmd(
                &mut con,
                &[
                    b"CALC.A2BSET",
                    akey.as_bytes(),
                    bkey.as_bytes(),
                    a.as_bytes(),
                    b.as_bytes(),
                    &v,
                    b"3600"
                ]
            )
            .unwrap(),
            Value::Int(2)
        );
    }
    assert_eq!(
        cmd(
            &mut con,
            &[b"CALC.PURGEA", b"{tenant}a2b-a|1", b"{tenant}a2b-b|", b"1"]
        )
        .unwrap(),
        Value::Int(2)
    );
    let rest: Vec<String> = redis::cmd("HKEYS")
        .arg("{tenant}a2b-b|7")
        .query(&mut con)
        .unwrap();
    assert_eq!(rest, ["2"]);

    // A purge whose derived keys hash elsewhere: CROSSSLOT, nothing changed.
    let home = cluster.primary_for("{other}a2b-a|5");
    let mut direct = home.client();
    let _: i64 = redis::cmd("HSET")
        .arg("{other}a2b-a|5")
        .arg("7")
        .arg("v")
        .query(&mut direct)
        .unwrap();
    let before = snapshot(&mut direct);
    let err = error_text(cmd(
        &mut con,
        &[b"CALC.PURGEA", b"{other}a2b-a|5", b"a2b-b|", b"5"],
    ));
    assert!(
        err.starts_with("CROSSSLOT") && err.contains("a2b-b|7"),
        "{err}"
    );
    assert_eq!(snapshot(&mut direct), before);

    // A node without the template answers with a clear error.
    let lonely = "{lonely}k";
    let _: () = redis::cmd("CALC.TEMPLATE.DEL")
        .arg("perms")
        .query(&mut cluster.primary_for(lonely).client())
        .unwrap();
    cmd(
        &mut con,
        &[b"CALC.HSETEX", lonely.as_bytes(), b"f", &v, b"3600"],
    )
    .unwrap();
    let err = error_text(cmd(
        &mut con,
        &[b"CALC.GETDICT", lonely.as_bytes(), b"f", b"perms"],
    ));
    assert!(
        err.starts_with("NOTEMPLATE unknown template 'perms'") && err.contains("on this node"),
        "{err}"
    );
    register_everywhere(&cluster, "perms", PERMS);

    // Replicas receive templates and data by replication.
    for primary in cluster.primaries() {
        settle(primary);
    }
    for replica in cluster.replicas() {
        assert_eq!(
            templates(&mut replica.client()).len(),
            1,
            "replica {}: {}",
            replica.port,
            cluster.describe()
        );
    }

    local_purge_across_slots_without_hash_tags(&cluster);
    migrating_slot_refuses_purges_with_missing_derived_keys(&cluster);
    failover_keeps_the_shard(cluster, &keys);
}

/// `CALC.PURGEA ... LOCAL` and the caller's steps after it (README, Running
/// on Redis Cluster): keys without a shared tag, spread over every node.
fn local_purge_across_slots_without_hash_tags(cluster: &Cluster) {
    let mut con = cluster.client();
    let akey = "{t42}a2b-a|42";
    // Two b-ids whose b-keys share the a-key's tag (and slot), 30 that do not.
    let local_ids: Vec<String> = (0..2).map(|i| format!("{{t42}}{i}")).collect();
    let remote_ids: Vec<String> = (100..130).map(|i| i.to_string()).collect();
    for id in local_ids.iter().chain(&remote_ids) {
        // The stash as two writes, the a-side first.
        cmd(
            &mut con,
            &[
                b"CALC.HSETEX",
                akey.as_bytes(),
                id.as_bytes(),
                b"v",
                b"1000",
            ],
        )
        .unwrap();
        let bkey = format!("a2b-b|{id}");
        cmd(
            &mut con,
            &[b"CALC.HSETEX", bkey.as_bytes(), b"42", b"v", b"1000"],
        )
        .unwrap();
        cmd(
            &mut con,
            &[b"CALC.HSETEX", bkey.as_bytes(), b"other", b"w", b"1000"],
        )
        .unwrap();
    }
    let nodes: std::collections::BTreeSet<u16> = remote_ids
        .iter()
        .map(|id| cluster.primary_for(&format!("a2b-b|{id}")).port)
        .collect();
    assert_eq!(nodes.len(), 3, "the b-hashes are on every primary");

    let local = |con: &mut ClusterConnection| {
        cmd(
            con,
            &[b"CALC.PURGEA", akey.as_bytes(), b"a2b-b|", b"42", b"LOCAL"],
        )
        .unwrap()
    };
    let ids = |reply: &Value| -> (i64, std::collections::BTreeSet<String>) {
        match reply {
            Value::Array(pair) => match pair.as_slice() {
                [Value::Int(removed), Value::Array(ids)] => (
                    *removed,
                    ids.iter()
                        .map(|id| match id {
                            Value::BulkString(b) => String::from_utf8_lossy(b).into_owned(),
                            other => panic!("{other:?}"),
                        })
                        .collect(),
                ),
                other => panic!("{other:?}"),
            },
            other => panic!("{other:?}"),
        }
    };
    let expected_remote: std::collections::BTreeSet<String> = remote_ids.iter().cloned().collect();
    let (removed, remaining) = ids(&local(&mut con));
    assert_eq!(removed, 2);
    assert_eq!(remaining, expected_remote);
    // The a-hash is the record of the work left: exactly the remote ids.
    let left: std::collections::BTreeSet<String> =
        redis::cmd("HKEYS").arg(akey).query(&mut con).unwrap();
    assert_eq!(left, expected_remote);
    for id in &local_ids {
        let fields: Vec<String> = redis::cmd("HKEYS")
            .arg(format!("a2b-b|{id}"))
            .query(&mut con)
            .unwrap();
        assert_eq!(fields, ["other"], "local b-hash {id}");
    }
    // Run again (say the caller failed before its next step): nothing more
    // here, the same ids answered.
    assert_eq!(ids(&local(&mut con)), (0, expected_remote.clone()));

    // The caller's steps: HDEL each remote b-key (routed, pipelined per
    // node by the client), then HDEL the a-key's ids.
    let mut pipe = redis::cluster::cluster_pipe();
    for id in &remote_ids {
        pipe.cmd("HDEL").arg(format!("a2b-b|{id}")).arg("42");
    }
    let deleted: Vec<i64> = pipe.query(&mut con).unwrap();
    assert_eq!(deleted, vec![1; remote_ids.len()]);
    let dropped: i64 = redis::cmd("HDEL")
        .arg(akey)
        .arg(&remote_ids)
        .query(&mut con)
        .unwrap();
    assert_eq!(dropped, remote_ids.len() as i64);
    let exists: i64 = redis::cmd("EXISTS").arg(akey).query(&mut con).unwrap();
    assert_eq!(exists, 0, "an emptied a-hash disappears");
    for id in local_ids.iter().chain(&remote_ids) {
        let member: Option<String> = redis::cmd("HGET")
            .arg(format!("a2b-b|{id}"))
            .arg("42")
            .query(&mut con)
            .unwrap();
        assert_eq!(member, None, "b-hash {id}");
    }
    // A LOCAL purge of an a-key that no longer exists.
    assert_eq!(ids(&local(&mut con)), (0, Default::default()));

    // Replicas hold what their primaries hold.
    for primary in cluster.primaries() {
        settle(primary);
    }
    for primary in cluster.primaries() {
        let data = snapshot(&mut primary.client());
        let replica = cluster
            .replicas()
            .into_iter()
            .find(|r| {
                common::info_field(&mut r.client(), "replication", "master_port").as_deref()
                    == Some(&primary.port.to_string())
            })
            .expect("every primary has a replica");
        // A replica serves reads of its primary's slots after READONLY.
        let mut replica_con = replica.client();
        let _: () = redis::cmd("READONLY").query(&mut replica_con).unwrap();
        assert_eq!(
            snapshot(&mut replica_con),
            data,
            "replica of {}",
            primary.port
        );
    }
}

fn migrating_slot_refuses_purges_with_missing_derived_keys(cluster: &Cluster) {
    let akey = "{mig}a2b-a|1";
    let source = cluster.primary_for(akey);
    let target = cluster
        .primaries()
        .into_iter()
        .find(|p| p.port != source.port)
        .unwrap();
    let mut con = source.client();
    let _: i64 = redis::cmd("HSET")
        .arg(akey)
        .arg("7")
        .arg("v")
        .arg("8")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let _: i64 = redis::cmd("HSET")
        .arg("{mig}a2b-b|7")
        .arg("1")
        .arg("v")
        .query(&mut con)
        .unwrap();
    let slot: i64 = redis::cmd("CLUSTER")
        .arg("KEYSLOT")
        .arg(akey)
        .query(&mut con)
        .unwrap();
    let set_slot = |con: &mut Connection, state: &[&str]| {
        let _: () = redis::cmd("CLUSTER")
            .arg("SETSLOT")
            .arg(slot)
            .arg(state)
            .query(con)
            .unwrap();
    };
    set_slot(&mut con, &["MIGRATING", &Cluster::node_id(target)]);
    let before = snapshot(&mut con);
    // "{mig}a2b-b|8" is not here: it may already be on the target.
    let err = redis::cmd("CALC.PURGEA")
        .arg(akey)
        .arg("{mig}a2b-b|")
        .arg("1")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert_eq!(err.code(), Some("TRYAGAIN"), "{err}");
    assert_eq!(snapshot(&mut con), before);
    // LOCAL checks its b-keys the same way: both are in the a-key's slot.
    let err = redis::cmd("CALC.PURGEA")
        .arg(akey)
        .arg("{mig}a2b-b|")
        .arg("1")
        .arg("LOCAL")
        .query::<Value>(&mut con)
        .unwrap_err();
    assert_eq!(err.code(), Some("TRYAGAIN"), "{err}");
    assert_eq!(snapshot(&mut con), before);
    set_slot(&mut con, &["STABLE"]);
    let removed: i64 = redis::cmd("CALC.PURGEA")
        .arg(akey)
        .arg("{mig}a2b-b|")
        .arg("1")
        .query(&mut con)
        .unwrap();
    assert_eq!(removed, 1);
}

fn failover_keeps_the_shard(mut cluster: Cluster, keys: &[String]) {
    let victim_port = cluster.primary_for(&keys[0]).port;
    let mut victim_con = cluster
        .nodes
        .iter()
        .find(|n| n.port == victim_port)
        .unwrap()
        .client();
    let shard_data = snapshot(&mut victim_con);
    let shard_expiries = expiries(&mut victim_con);
    let shard_templates = templates(&mut victim_con);
    assert!(!shard_data.is_empty());

    // Crash the primary; its replica must take over.
    let index = cluster
        .nodes
        .iter()
        .position(|n| n.port == victim_port)
        .unwrap();
    let victim = cluster.nodes.remove(index);
    drop(victim.kill());
    let promoted = cluster
        .nodes
        .iter()
        .find(|n| {
            let mut con = n.client();
            let info: String = redis::cmd("INFO")
                .arg("replication")
                .query(&mut con)
                .unwrap();
            info.contains(&format!("master_port:{victim_port}"))
        })
        .expect("the victim's replica");
    let mut con = promoted.client();
    wait_until(30, "the replica's promotion", || {
        common::info_field(&mut con, "replication", "role").as_deref() == Some("master")
    });
    for node in &cluster.nodes {
        wait_until(30, "cluster_state:ok after failover", || {
            let info: String = redis::cmd("CLUSTER")
                .arg("INFO")
                .query(&mut node.client())
                .unwrap_or_default();
            info.contains("cluster_state:ok")
        });
    }
    assert_eq!(snapshot(&mut con), shard_data);
    assert_eq!(
        expiries(&mut con),
        shard_expiries,
        "TTLs survive the failover exactly"
    );
    assert_eq!(templates(&mut con), shard_templates);

    // And the cluster client is served by the new primary.
    let mut client = cluster.client();
    let dict = cmd(
        &mut client,
        &[b"CALC.GETDICT", keys[0].as_bytes(), b"42", b"perms"],
    )
    .unwrap();
    assert!(
        matches!(&dict, Value::Array(items) if items.len() == 8),
        "{dict:?}"
    );
    assert_eq!(
        cmd(
            &mut client,
            &[b"CALC.HSETEX", keys[0].as_bytes(), b"99", &value(), b"3600"]
        )
        .unwrap(),
        Value::Int(1)
    );
}
