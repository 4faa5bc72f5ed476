//! Durability: a writer process appends to the ledger while its PostgreSQL server is killed
//! with SIGKILL and restarted, three times. Afterwards every append the writer saw
//! acknowledged is present, whole, at the seq it was acknowledged at; no batch is present in
//! part; every stream verifies; the writer saw only `Unavailable` while the server was down
//! and went on appending after each restart; and a store that was in use before a crash
//! recovers on the call after the one that finds its dead connection.
//!
//! The test makes its own cluster (so that killing it disturbs no other test) with the
//! binaries and user that `scripts/with-postgres` exports: `TESSERA_PG_BINDIR`,
//! `TESSERA_PG_RUN_AS` (empty: this user) and `TESSERA_PG_SCRATCH` (a directory that user
//! may write). Without them it fails. One binary, its own `main` (no libtest harness): the
//! parent runs the scenario, and runs itself again as the writer with
//! `TESSERA_DURABILITY_ROLE=writer`.

use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::path::PathBuf;
use std::process::{Child, Command, ExitCode, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tessera_core::{
    Actor, CustomerChange, CustomerEntry, CustomerId, EntryHash, LedgerStore, StoreError, verify,
};
use tessera_store_postgres::{PostgresOptions, PostgresStore};
use time::macros::datetime;

/// Concurrent writers in the writer process, each on a customer of its own.
const WRITERS: usize = 4;
/// How many times the server is killed.
const CRASHES: usize = 3;
/// Appends acknowledged after each restart before the next crash (proof of recovery).
const ACKS_BETWEEN: usize = 40;
/// The longest any wait in the scenario may take.
const PATIENCE: Duration = Duration::from_secs(60);

const ROLE: &str = "TESSERA_DURABILITY_ROLE";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    if args.iter().any(|a| a == "--list") {
        println!("durability: test");
        return ExitCode::SUCCESS;
    }
    let filters: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    if std::env::var(ROLE).as_deref() == Ok("writer") {
        return writer::run();
    }
    println!("\nrunning 1 test");
    if !filters.is_empty() && !filters.iter().any(|f| "durability".contains(f.as_str())) {
        println!("\ntest result: ok. 0 passed; 0 failed; 0 ignored; 0 measured; 1 filtered out\n");
        return ExitCode::SUCCESS;
    }
    let started = Instant::now();
    let outcome = std::panic::catch_unwind(scenario);
    let secs = started.elapsed().as_secs_f64();
    match outcome {
        Ok(()) => {
            println!("test durability ... ok");
            println!(
                "\ntest result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::SUCCESS
        }
        Err(_) => {
            println!("test durability ... FAILED");
            println!(
                "\ntest result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in {secs:.2}s\n"
            );
            ExitCode::FAILURE
        }
    }
}

/// The digest label of entry `k` of an `n`-entry batch: what lets the check find a batch
/// that landed in part.
fn label(writer: usize, batch: u64, k: usize, n: usize) -> String {
    format!("w{writer}/b{batch}/{k}of{n}")
}

fn parse_label(digest: &str) -> Option<(usize, u64, usize, usize)> {
    let mut parts = digest.split('/');
    let writer = parts.next()?.strip_prefix('w')?.parse().ok()?;
    let batch = parts.next()?.strip_prefix('b')?.parse().ok()?;
    let (k, n) = parts.next()?.split_once("of")?;
    Some((writer, batch, k.parse().ok()?, n.parse().ok()?))
}

mod writer {
    //! The writer process: `WRITERS` tasks append batches of one to three entries to their
    //! own customers and print each acknowledged append on stdout, until stdin closes.

    use super::*;

    fn batch(
        customer: CustomerId,
        writer: usize,
        number: u64,
        prev: Option<(u64, EntryHash)>,
    ) -> Vec<CustomerEntry> {
        // The registration alone, then batches of one to three entries.
        let n = if prev.is_none() {
            1
        } else {
            1 + (number % 3) as usize
        };
        let mut out: Vec<CustomerEntry> = Vec::with_capacity(n);
        let mut prev = prev;
        for k in 0..n {
            let change = match prev {
                None => CustomerChange::Registered,
                Some(_) => CustomerChange::IdentifierLinked {
                    kind: "email".into(),
                    digest: label(writer, number, k, n),
                },
            };
            let at = datetime!(2026-11-22 10:00 UTC) + time::Duration::milliseconds(number as i64);
            let entry = CustomerEntry::next(customer, prev, at, Actor::Customer, change)
                .expect("entries can be built");
            prev = Some((entry.seq, entry.hash));
            out.push(entry);
        }
        out
    }

    /// The head of `customer`'s stream, retried until the server answers.
    async fn head(
        store: &PostgresStore,
        customer: CustomerId,
        stop: &AtomicBool,
    ) -> Option<Option<(u64, EntryHash)>> {
        loop {
            if stop.load(Ordering::SeqCst) {
                return None;
            }
            match store.read(customer, 1).await {
                Ok(stream) => return Some(stream.last().map(|e| (e.seq, e.hash))),
                Err(StoreError::Unavailable(why)) => {
                    say(&format!("unavailable {why}"));
                    tokio::time::sleep(Duration::from_millis(25)).await;
                }
                Err(e) => fail(&format!("read failed with {e:?}")),
            }
        }
    }

    fn say(line: &str) {
        let mut out = std::io::stdout().lock();
        let _ = writeln!(out, "{}", line.replace('\n', " "));
        let _ = out.flush();
    }

    fn fail(why: &str) -> ! {
        say(&format!("error {why}"));
        std::process::exit(2)
    }

    async fn append_loop(store: PostgresStore, writer: usize, stop: Arc<AtomicBool>) {
        let customer = CustomerId::from_parts(
            datetime!(2026-11-22 10:00 UTC),
            [writer as u8 + 1, 0xd0, 0x0d, 1, 2, 3, 4, 5, 6, 7],
        );
        say(&format!("customer {writer} {customer}"));
        let mut number = 0u64;
        let Some(mut prev) = head(&store, customer, &stop).await else {
            return;
        };
        while !stop.load(Ordering::SeqCst) {
            number += 1;
            let entries = batch(customer, writer, number, prev);
            let expected = prev.map_or(0, |(seq, _)| seq);
            match store.append(customer, expected, &entries).await {
                Ok(()) => {
                    let last = entries.last().expect("a batch has entries");
                    say(&format!(
                        "ack {writer} {} {} {}",
                        expected + 1,
                        entries.len(),
                        last.hash.to_hex()
                    ));
                    prev = Some((last.seq, last.hash));
                }
                // The append may or may not have landed: read the head again. (Conflict can
                // only follow an append that landed but was reported Unavailable.)
                Err(StoreError::Unavailable(why)) => {
                    say(&format!("unavailable {why}"));
                    tokio::time::sleep(Duration::from_millis(25)).await;
                    let Some(now) = head(&store, customer, &stop).await else {
                        return;
                    };
                    prev = now;
                }
                Err(StoreError::Conflict(why)) => {
                    say(&format!("conflict {why}"));
                    let Some(now) = head(&store, customer, &stop).await else {
                        return;
                    };
                    prev = now;
                }
                Err(e) => fail(&format!("append failed with {e:?}")),
            }
        }
    }

    pub(super) fn run() -> ExitCode {
        let url = std::env::var("DATABASE_URL").expect("the parent sets DATABASE_URL");
        let stop = Arc::new(AtomicBool::new(false));
        {
            let stop = Arc::clone(&stop);
            std::thread::spawn(move || {
                // The parent closes stdin to stop the writer.
                let mut sink = String::new();
                while std::io::stdin().read_line(&mut sink).is_ok_and(|n| n > 0) {}
                stop.store(true, Ordering::SeqCst);
            });
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(2)
            .enable_all()
            .build()
            .expect("a runtime");
        runtime.block_on(async {
            let store = PostgresOptions::from_url(&url)
                .expect("a valid URL")
                .max_connections(WRITERS)
                .connect_timeout(Duration::from_secs(1))
                .acquire_timeout(Duration::from_secs(2))
                .connect_lazy();
            let tasks: Vec<_> = (0..WRITERS)
                .map(|w| tokio::spawn(append_loop(store.clone(), w, Arc::clone(&stop))))
                .collect();
            for t in tasks {
                t.await.expect("a writer task");
            }
            store.close().await;
        });
        say("done");
        ExitCode::SUCCESS
    }
}

/// A PostgreSQL cluster of the test's own, stopped and deleted on drop.
///
/// The postmaster runs as this process's own child (`setpriv` switches the user and execs
/// it), not daemonised by `pg_ctl`, so that this process reaps it when it is killed: a
/// killed postmaster nobody reaps stays a zombie, and its pid file then stops the restart.
/// It leads a process group of its own, which holds every process it starts, so that one
/// `kill` reaches them all at once.
struct Cluster {
    bindir: PathBuf,
    run_as: Option<String>,
    data: PathBuf,
    log: PathBuf,
    port: u16,
    server: std::cell::RefCell<Option<Child>>,
}

fn env(name: &str) -> String {
    match std::env::var(name) {
        Ok(value) => value,
        Err(_) => panic!(
            "{name} is not set: the durability test controls a PostgreSQL server of its own \
             with the binaries and user that scripts/with-postgres exports. Run it under \
             scripts/with-postgres (scripts/test does)."
        ),
    }
}

impl Cluster {
    fn command(&self, program: &str) -> Command {
        let program = self.bindir.join(program);
        match &self.run_as {
            Some(user) => {
                let mut c = Command::new("runuser");
                c.args(["-u", user, "--"]).arg(program);
                c
            }
            None => Command::new(program),
        }
    }

    fn run(&self, program: &str, args: &[&str]) {
        let out = self
            .command(program)
            .args(args)
            .stdin(Stdio::null())
            .output()
            .unwrap_or_else(|e| panic!("run {program}: {e}"));
        assert!(
            out.status.success(),
            "{program} {args:?} failed: {}{}\n{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr),
            std::fs::read_to_string(&self.log).unwrap_or_default()
        );
    }

    fn create() -> Self {
        let bindir = PathBuf::from(env("TESSERA_PG_BINDIR"));
        let run_as = Some(env("TESSERA_PG_RUN_AS")).filter(|u| !u.is_empty());
        let scratch = PathBuf::from(env("TESSERA_PG_SCRATCH"));
        let name = format!("durability-{}", std::process::id());
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .and_then(|l| l.local_addr())
            .map(|a| a.port())
            .expect("a free port");
        let cluster = Self {
            bindir,
            run_as,
            data: scratch.join(format!("{name}-data")),
            log: scratch.join(format!("{name}.log")),
            port,
            server: std::cell::RefCell::new(None),
        };
        let data = cluster.data.to_string_lossy().into_owned();
        cluster.run(
            "initdb",
            &[
                "-D",
                &data,
                "-U",
                "postgres",
                "--auth=trust",
                "-E",
                "UTF8",
                "--no-locale",
                "--no-sync",
            ],
        );
        cluster.start();
        cluster
    }

    fn start(&self) {
        use std::os::unix::process::CommandExt;
        let log = std::fs::OpenOptions::new()
            .create(true)
            .append(true)
            .open(&self.log)
            .expect("the server log");
        let port = self.port.to_string();
        let postgres = self.bindir.join("postgres");
        let mut command = match &self.run_as {
            Some(user) => {
                let mut c = Command::new("setpriv");
                c.args(["--reuid", user, "--regid", user, "--init-groups"])
                    .arg(postgres);
                c
            }
            None => Command::new(postgres),
        };
        // Defaults otherwise: fsync and synchronous_commit on.
        let child = command
            .arg("-D")
            .arg(&self.data)
            .args(["-p", &port, "-c", "listen_addresses=127.0.0.1"])
            .args(["-c", "unix_socket_directories="])
            .process_group(0)
            .stdin(Stdio::null())
            .stdout(log.try_clone().expect("the server log"))
            .stderr(log)
            .spawn()
            .expect("start the server");
        *self.server.borrow_mut() = Some(child);
        let deadline = Instant::now() + PATIENCE;
        loop {
            let ready = Command::new(self.bindir.join("pg_isready"))
                .args(["-q", "-h", "127.0.0.1", "-p", &port, "-t", "1"])
                .status()
                .is_ok_and(|s| s.success());
            if ready {
                return;
            }
            let exited = self
                .server
                .borrow_mut()
                .as_mut()
                .and_then(|c| c.try_wait().ok().flatten());
            assert!(
                exited.is_none() && Instant::now() < deadline,
                "the server did not come up ({exited:?}):\n{}",
                std::fs::read_to_string(&self.log).unwrap_or_default()
            );
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn url(&self) -> String {
        format!("postgres://postgres@127.0.0.1:{}/postgres", self.port)
    }

    /// SIGKILL to the postmaster and every process it started, at once, as in a crash;
    /// returns when they are all gone.
    fn kill(&self) {
        let Some(mut server) = self.server.borrow_mut().take() else {
            panic!("the server is not running");
        };
        let group = server.id();
        let status = Command::new("kill")
            .args(["-KILL", "--", &format!("-{group}")])
            .status()
            .expect("run kill");
        assert!(status.success(), "kill -KILL -{group} failed");
        server.wait().expect("reap the postmaster");
        let deadline = Instant::now() + PATIENCE;
        while !group_members(group).is_empty() {
            assert!(
                Instant::now() < deadline,
                "the killed server did not go away"
            );
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        if let Some(mut server) = self.server.get_mut().take() {
            let data = self.data.to_string_lossy().into_owned();
            let stopped = self
                .command("pg_ctl")
                .args(["-D", &data, "-m", "immediate", "-w", "stop"])
                .stdout(Stdio::null())
                .stderr(Stdio::null())
                .status()
                .is_ok_and(|s| s.success());
            if !stopped {
                let _ = server.kill();
            }
            let _ = server.wait();
        }
        let _ = std::fs::remove_dir_all(&self.data);
        let _ = std::fs::remove_file(&self.log);
    }
}

/// The live (not zombie) processes of a process group, from /proc.
fn group_members(group: u32) -> Vec<u32> {
    let Ok(dir) = std::fs::read_dir("/proc") else {
        return Vec::new();
    };
    dir.filter_map(|e| e.ok()?.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| {
            // Fields after the command: state, ppid, pgrp, …
            let Ok(stat) = std::fs::read_to_string(format!("/proc/{pid}/stat")) else {
                return false;
            };
            let Some((_, rest)) = stat.rsplit_once(')') else {
                return false;
            };
            let fields: Vec<&str> = rest.split_whitespace().collect();
            fields.first().is_some_and(|state| *state != "Z")
                && fields.get(2).and_then(|g| g.parse::<u32>().ok()) == Some(group)
        })
        .collect()
}

/// What the writer printed, as it arrives.
#[derive(Default)]
struct Log {
    customers: BTreeMap<usize, CustomerId>,
    /// `(writer, first seq, entries, hash of the last)`.
    acks: Vec<(usize, u64, usize, String)>,
    unavailable: usize,
    conflicts: usize,
    errors: Vec<String>,
    done: bool,
}

fn follow(child: &mut Child) -> Arc<Mutex<Log>> {
    let log = Arc::new(Mutex::new(Log::default()));
    let stdout = child.stdout.take().expect("the writer's stdout");
    let shared = Arc::clone(&log);
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            let mut log = shared.lock().expect("the log");
            let words: Vec<&str> = line.split(' ').collect();
            match words.as_slice() {
                ["customer", w, id, ..] => {
                    log.customers
                        .insert(w.parse().expect("a writer"), id.parse().expect("an id"));
                }
                ["ack", w, seq, n, hash] => log.acks.push((
                    w.parse().expect("a writer"),
                    seq.parse().expect("a seq"),
                    n.parse().expect("a length"),
                    (*hash).to_owned(),
                )),
                ["unavailable", ..] => log.unavailable += 1,
                ["conflict", ..] => log.conflicts += 1,
                ["done"] => log.done = true,
                _ => log.errors.push(line.clone()),
            }
        }
    });
    log
}

fn wait_for(what: &str, log: &Mutex<Log>, done: impl Fn(&Log) -> bool) {
    let deadline = Instant::now() + PATIENCE;
    loop {
        {
            let log = log.lock().expect("the log");
            assert!(log.errors.is_empty(), "the writer failed: {:?}", log.errors);
            if done(&log) {
                return;
            }
        }
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn scenario() {
    let cluster = Cluster::create();
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    let url = cluster.url();
    let observer = runtime.block_on(async {
        let store = PostgresOptions::from_url(&url)
            .expect("a valid URL")
            .connect_timeout(Duration::from_secs(2))
            .connect()
            .await
            .expect("connect to the durability cluster");
        store.migrate().await.expect("migrate");
        store
    });

    let mut child = Command::new(std::env::current_exe().expect("this test's binary"))
        .env(ROLE, "writer")
        .env("DATABASE_URL", &url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .expect("start the writer");
    let log = follow(&mut child);

    let acks = |log: &Log| log.acks.len();
    wait_for("the first acknowledgements", &log, |l| {
        acks(l) >= ACKS_BETWEEN
    });
    let mut outages = Vec::new();
    for crash in 1..=CRASHES {
        // The observer holds a connection from before the crash.
        runtime
            .block_on(observer.last_seq(CustomerId::from_parts(
                datetime!(2026-11-22 10:00 UTC),
                [0; 10],
            )))
            .expect("the observer reads before the crash");
        let before = log.lock().expect("the log").unavailable;
        cluster.kill();
        let down = Instant::now();
        wait_for("the writer to notice the crash", &log, |l| {
            l.unavailable > before
        });
        cluster.start();
        outages.push(down.elapsed());
        let (now, errors) = {
            let l = log.lock().expect("the log");
            (acks(&l), l.unavailable)
        };
        wait_for("appends after the restart", &log, |l| {
            acks(l) >= now + ACKS_BETWEEN
        });
        // The call that meets the dead connection may fail; the next one must not.
        let nobody = CustomerId::from_parts(datetime!(2026-11-22 10:00 UTC), [crash as u8; 10]);
        let first = runtime.block_on(observer.last_seq(nobody));
        assert!(
            matches!(first, Ok(0) | Err(StoreError::Unavailable(_))),
            "after a restart a stale connection is Unavailable, nothing else: {first:?}"
        );
        assert_eq!(
            runtime.block_on(observer.last_seq(nobody)),
            Ok(0),
            "crash {crash}: the call after that recovers"
        );
        println!(
            "crash {crash}: server down and back in {:?}; the writer saw {} unavailable calls",
            outages[crash - 1],
            errors - before
        );
    }

    // Stop the writer and check what it was told against what is stored.
    drop(child.stdin.take());
    let deadline = Instant::now() + PATIENCE;
    let status = loop {
        if let Some(status) = child.try_wait().expect("the writer's status") {
            break status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the writer did not stop");
        }
        std::thread::sleep(Duration::from_millis(10));
    };
    assert!(status.success(), "the writer failed: {status}");
    wait_for("the writer's last words", &log, |l| l.done);
    let log = log.lock().expect("the log");
    assert_eq!(log.customers.len(), WRITERS, "every writer reported");

    let store = runtime.block_on(async {
        PostgresStore::connect(&url)
            .await
            .expect("connect to check")
    });
    let mut entries = 0;
    let mut partial = Vec::new();
    for (&writer, &customer) in &log.customers {
        let stream = runtime
            .block_on(store.read(customer, 1))
            .expect("read a stream");
        verify(&stream).unwrap_or_else(|e| panic!("writer {writer}'s stream does not verify: {e}"));
        entries += stream.len();
        for &(w, seq, n, ref hash) in log.acks.iter().filter(|a| a.0 == writer) {
            let at = usize::try_from(seq - 1).expect("a seq");
            let landed = stream.get(at..at + n);
            assert!(
                landed.is_some_and(|b| b.last().map(|e| e.hash.to_hex()) == Some(hash.clone())),
                "writer {w}'s acknowledged append at seq {seq} ({n} entries) is not in the stream"
            );
        }
        // Every batch is whole: entries k = 0..n of one batch, consecutive.
        assert!(
            matches!(
                stream.first().map(|e| &e.change),
                Some(CustomerChange::Registered)
            ),
            "writer {writer}'s stream starts with its registration"
        );
        let mut i = 1;
        while i < stream.len() {
            let CustomerChange::IdentifierLinked { digest, .. } = &stream[i].change else {
                panic!(
                    "writer {writer}: unexpected change at seq {}",
                    stream[i].seq
                );
            };
            let (w, batch, k, n) = parse_label(digest).expect("a label");
            assert_eq!((w, k), (writer, 0), "seq {} starts no batch", stream[i].seq);
            for j in 0..n {
                let whole = stream.get(i + j).is_some_and(|e| {
                    matches!(&e.change, CustomerChange::IdentifierLinked { digest, .. }
                        if *digest == label(writer, batch, j, n))
                });
                if !whole {
                    partial.push((writer, batch));
                }
            }
            i += n;
        }
    }
    assert!(partial.is_empty(), "batches present in part: {partial:?}");
    let acknowledged: usize = log.acks.iter().map(|a| a.2).sum();
    assert!(entries >= acknowledged, "fewer entries than acknowledged");
    println!(
        "{} appends ({acknowledged} entries) acknowledged, {entries} stored ({} landed \
         unacknowledged), {} unavailable and {} conflicting calls, across {CRASHES} SIGKILLs",
        log.acks.len(),
        entries - acknowledged,
        log.unavailable,
        log.conflicts
    );
    runtime.block_on(async {
        store.close().await;
        observer.close().await;
    });
    drop(cluster);
}
