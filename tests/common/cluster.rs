//! A Redis Cluster of three primaries and three replicas on loopback ports,
//! created with `redis-cli --cluster create`, torn down with its servers.

use std::net::TcpListener;
use std::process::Command;

use redis::cluster::{ClusterClient, ClusterConnection};
use redis::Connection;

use super::{info_field, wait_until, Server};

pub struct Cluster {
    pub nodes: Vec<Server>,
}

/// A port whose cluster bus port (port + 10000) is free too.
fn free_cluster_port() -> u16 {
    loop {
        let port = super::free_port();
        if port < 55000 && TcpListener::bind(("127.0.0.1", port + 10000)).is_ok() {
            return port;
        }
    }
}

impl Cluster {
    pub fn start() -> Cluster {
        let nodes: Vec<Server> = (0..6)
            .map(|_| {
                let dir = tempfile::Builder::new()
                    .prefix("redis-calc-cluster")
                    .tempdir()
                    .expect("temp dir");
                Server::start_on_free_port(
                    dir,
                    &[
                        "--cluster-enabled",
                        "yes",
                        "--cluster-config-file",
                        "nodes.conf",
                        // Long enough that a node starved of CPU on a loaded
                        // 2-core machine is not failed over by its peers.
                        "--cluster-node-timeout",
                        "5000",
                        "--save",
                        "",
                        "--appendonly",
                        "no",
                    ],
                    free_cluster_port,
                )
            })
            .collect();
        let addresses: Vec<String> = nodes
            .iter()
            .map(|n| format!("127.0.0.1:{}", n.port))
            .collect();
        let out = Command::new(super::cli_binary())
            .args(["--cluster", "create"])
            .args(&addresses)
            .args(["--cluster-replicas", "1", "--cluster-yes"])
            .output()
            .expect("redis-cli beside the server or on PATH");
        assert!(
            out.status.success(),
            "cluster create failed: {}",
            String::from_utf8_lossy(&out.stdout)
        );
        let cluster = Cluster { nodes };
        for node in &cluster.nodes {
            let mut con = node.client();
            wait_until(30, "cluster_state:ok", || {
                info_field_cluster(&mut con) == "ok"
            });
        }
        // Every replica is attached before tests write.
        for node in cluster.replicas() {
            node.wait_for_replica_link();
        }
        cluster
    }

    pub fn client(&self) -> ClusterConnection {
        let urls: Vec<String> = self.nodes.iter().map(|n| n.url()).collect();
        ClusterClient::new(urls)
            .and_then(|c| c.get_connection())
            .expect("cluster connection")
    }

    fn role(node: &Server) -> String {
        let mut con = node.client();
        info_field(&mut con, "replication", "role").unwrap_or_default()
    }

    pub fn primaries(&self) -> Vec<&Server> {
        self.nodes
            .iter()
            .filter(|n| Cluster::role(n) == "master")
            .collect()
    }

    pub fn replicas(&self) -> Vec<&Server> {
        self.nodes
            .iter()
            .filter(|n| Cluster::role(n) == "slave")
            .collect()
    }

    /// The primary serving `key`'s slot.
    pub fn primary_for(&self, key: &str) -> &Server {
        let mut any = self.nodes[0].client();
        let slot: i64 = redis::cmd("CLUSTER")
            .arg("KEYSLOT")
            .arg(key)
            .query(&mut any)
            .unwrap();
        self.primaries()
            .into_iter()
            .find(|n| owns_slot(&mut n.client(), slot))
            .expect("a primary serves every slot")
    }

    /// Each node's port, role and templates, for a failure message.
    pub fn describe(&self) -> String {
        self.nodes
            .iter()
            .map(|n| {
                let mut con = n.client();
                let names: Vec<String> = redis::cmd("CALC.TEMPLATE")
                    .arg("LIST")
                    .query(&mut con)
                    .unwrap_or_default();
                format!("{} {} {:?}", n.port, Cluster::role(n), names)
            })
            .collect::<Vec<_>>()
            .join("; ")
    }

    pub fn node_id(node: &Server) -> String {
        let mut con = node.client();
        redis::cmd("CLUSTER").arg("MYID").query(&mut con).unwrap()
    }
}

fn info_field_cluster(con: &mut Connection) -> String {
    let info: String = redis::cmd("CLUSTER")
        .arg("INFO")
        .query(con)
        .unwrap_or_default();
    info.lines()
        .find_map(|l| l.strip_prefix("cluster_state:"))
        .unwrap_or("")
        .trim()
        .to_string()
}

fn owns_slot(con: &mut Connection, slot: i64) -> bool {
    let nodes: String = redis::cmd("CLUSTER").arg("NODES").query(con).unwrap();
    let Some(me) = nodes
        .lines()
        .find(|l| l.split(' ').nth(2).is_some_and(|f| f.contains("myself")))
    else {
        return false;
    };
    me.split(' ').skip(8).any(|range| {
        let mut bounds = range.split('-').filter_map(|b| b.parse::<i64>().ok());
        match (bounds.next(), bounds.next()) {
            (Some(lo), Some(hi)) => (lo..=hi).contains(&slot),
            (Some(one), None) => one == slot,
            _ => false,
        }
    })
}
