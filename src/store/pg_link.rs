//! The PostgreSQL store's connection thread, and how it rides out a lost
//! connection (the server restarted, a network blip, an administrator's
//! `pg_terminate_backend`) instead of taking the host down.
//!
//! While the connection is up, jobs run one at a time and writes that
//! queue up share a transaction. When it is lost, the thread says so once
//! (with the reason, never a password), reconnects with a growing pause,
//! and keeps the jobs that arrive meanwhile: each waits at most
//! [`OUTAGE_WAIT`] and then fails with an error the script can catch, so a
//! write is either committed and acknowledged, or not acknowledged; never
//! acknowledged and lost. A job cut off mid-way by the loss is run again
//! after reconnecting (puts and deletes are idempotent); if its wait ends
//! first, it is reported as one that may have been written (it reached the
//! server, whose answer was lost), and the store reads the key again once
//! the connection is back. A job its caller gave up on before it was sent
//! is never sent.
//!
//! The per-codec advisory locks belong to the session, so they go with
//! it. On reconnecting, before any queued job runs, the thread takes every
//! lock it held again; a codec whose lock another host took meanwhile is
//! reported on the `taken` channel (the host stops serving it) and its
//! writes are refused from then on, so two hosts never write for one codec.

use std::collections::{BTreeSet, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

use tokio_postgres_rustls::MakeRustlsConnect;
use tracing::{debug, info, warn};

use super::pg_sql::{self as pg, Failure, Job, OUTAGE_WAIT, Queued, Ran, is_lost};

/// How often an idle connection is checked, so a lost one (and its locks)
/// is noticed even when no script writes.
const PING_EVERY: Duration = Duration::from_secs(2);

/// First and longest pause between reconnection attempts.
const FIRST_PAUSE: Duration = Duration::from_millis(100);
const LONGEST_PAUSE: Duration = Duration::from_secs(10);

/// The connection's thread.
pub struct Link {
    config: postgres::Config,
    tls: MakeRustlsConnect,
    what: String,
    client: Option<postgres::Client>,
    /// Codecs whose lock this host took and still holds.
    held: BTreeSet<String>,
    /// Codecs whose lock another host took while the connection was down.
    taken: BTreeSet<String>,
    /// Told the name of each codec in `taken`.
    report: tokio::sync::mpsc::UnboundedSender<String>,
    pending: VecDeque<Queued>,
    /// Whether the connection is up (read by the host, to skip retries).
    up: Arc<AtomicBool>,
}

impl Link {
    pub fn new(
        config: postgres::Config,
        tls: MakeRustlsConnect,
        what: String,
        client: postgres::Client,
        report: tokio::sync::mpsc::UnboundedSender<String>,
        up: Arc<AtomicBool>,
    ) -> Link {
        Link {
            config,
            tls,
            what,
            client: Some(client),
            held: BTreeSet::new(),
            taken: BTreeSet::new(),
            report,
            pending: VecDeque::new(),
            up,
        }
    }

    /// Serves jobs until every sender is gone.
    pub fn serve(mut self, rx: Receiver<Queued>) {
        loop {
            let Some(client) = self.client.as_mut() else {
                if !self.reconnect(&rx) {
                    return;
                }
                continue;
            };
            let q = match self.pending.pop_front() {
                Some(q) => q,
                None => match rx.recv_timeout(PING_EVERY) {
                    Ok(q) => q,
                    Err(RecvTimeoutError::Timeout) => {
                        if let Err(e) = client.simple_query("") {
                            self.lose(pg::describe(&e));
                        } else if client.is_closed() {
                            self.lose("the server closed the connection".into());
                        }
                        continue;
                    }
                    Err(RecvTimeoutError::Disconnected) => return,
                },
            };
            // A job its caller gave up on before it was sent is dropped.
            if !q.progress.send() {
                continue;
            }
            let ran = match q.job {
                Job::Write(w, reply) => {
                    let mut batch = vec![Queued {
                        job: Job::Write(w, reply),
                        deadline: q.deadline,
                        progress: q.progress,
                    }];
                    let mut more = std::mem::take(&mut self.pending);
                    more.extend(rx.try_iter());
                    while let Some(next) = more.pop_front() {
                        if !matches!(next.job, Job::Write(..)) {
                            more.push_front(next);
                            break;
                        }
                        if next.progress.send() {
                            batch.push(next);
                        }
                    }
                    self.pending = more;
                    let (ok, refused): (Vec<Queued>, Vec<Queued>) =
                        batch.into_iter().partition(|q| match &q.job {
                            Job::Write(w, _) => !self.taken.contains(w.codec()),
                            _ => true,
                        });
                    for q in refused {
                        if let Job::Write(w, reply) = q.job {
                            let _ = reply.send(Err(Failure::refused(format!(
                                "not saved: another host serves codec {:?} now (it took the codec while this host's database connection was down)",
                                w.codec()
                            ))));
                        }
                    }
                    pg::commit_batch(client, ok)
                }
                Job::Load(id, reply) => match pg::load(client, &id) {
                    Err(e) if is_lost(&e, client) => {
                        Ran::again(Job::Load(id, reply), q.deadline, q.progress, &e)
                    }
                    got => {
                        let _ = reply.send(got.map_err(|e| Failure::refused(pg::describe(&e))));
                        Ran::Done
                    }
                },
                Job::TryLock(codecs, reply) => match pg::try_lock(client, &codecs) {
                    Err(e) if is_lost(&e, client) => {
                        Ran::again(Job::TryLock(codecs, reply), q.deadline, q.progress, &e)
                    }
                    got => {
                        let won = got.iter().flatten().zip(codecs).filter(|(g, _)| **g);
                        for (_, codec) in won {
                            self.taken.remove(&codec);
                            self.held.insert(codec);
                        }
                        let _ = reply.send(got.map_err(|e| Failure::refused(pg::describe(&e))));
                        Ran::Done
                    }
                },
                Job::Call(mut call, reply) => match call(client) {
                    Err(e) if is_lost(&e, client) => {
                        Ran::again(Job::Call(call, reply), q.deadline, q.progress, &e)
                    }
                    got => {
                        let _ = reply.send(got.map_err(|e| Failure::refused(pg::describe(&e))));
                        Ran::Done
                    }
                },
            };
            if let Ran::Lost(again, why) = ran {
                for q in again.into_iter().rev() {
                    self.pending.push_front(q);
                }
                self.lose(why);
            }
        }
    }

    /// Drops the connection, saying once why and what it means.
    fn lose(&mut self, why: String) {
        self.client = None;
        self.up.store(false, Ordering::SeqCst);
        warn!(
            "{}: the connection is lost ({why}); reconnecting. Until then writes wait up to {}s and then fail, and this host's {} codec lock(s) are lost and will be taken again",
            self.what,
            OUTAGE_WAIT.as_secs(),
            self.held.len()
        );
    }

    /// Reconnects with a growing pause, failing jobs that waited too long;
    /// `false` when every sender is gone.
    fn reconnect(&mut self, rx: &Receiver<Queued>) -> bool {
        let since = Instant::now();
        let mut pause = FIRST_PAUSE;
        loop {
            match pg::connect(&self.config, &self.tls) {
                Ok(client) => {
                    self.client = Some(client);
                    if self.retake_locks() {
                        self.up.store(true, Ordering::SeqCst);
                        return true;
                    }
                }
                Err(e) => debug!("{}: still unreachable: {e}", self.what),
            }
            let until = Instant::now() + pause;
            loop {
                self.expire(since);
                let now = Instant::now();
                if now >= until {
                    break;
                }
                let next = self.pending.iter().map(|q| q.deadline).min();
                let wait = next.map_or(until, |d| d.min(until)).max(now) - now;
                match rx.recv_timeout(wait.max(Duration::from_millis(1))) {
                    Ok(q) => self.pending.push_back(q),
                    Err(RecvTimeoutError::Timeout) => {}
                    Err(RecvTimeoutError::Disconnected) => return false,
                }
            }
            pause = (pause * 2).min(LONGEST_PAUSE);
        }
    }

    /// Fails the jobs whose wait is over.
    fn expire(&mut self, since: Instant) {
        let now = Instant::now();
        let (late, keep): (VecDeque<Queued>, VecDeque<Queued>) = std::mem::take(&mut self.pending)
            .into_iter()
            .partition(|q| q.deadline <= now);
        self.pending = keep;
        for q in late {
            let down = since.elapsed().as_secs();
            q.job.fail(if q.progress.was_sent() {
                Failure {
                    why: format!(
                        "the connection to the database was lost after the write was sent, and the database has been unreachable for {down}s since (xmacro keeps reconnecting); it may have been written: the key is read again once the database is back"
                    ),
                    maybe_written: true,
                }
            } else {
                Failure::refused(format!(
                    "the database has been unreachable for {down}s (xmacro keeps reconnecting); nothing was written"
                ))
            });
        }
    }

    /// Takes every held lock again on the new session; `false` if the
    /// connection went again meanwhile.
    fn retake_locks(&mut self) -> bool {
        let Some(client) = self.client.as_mut() else {
            return false;
        };
        let held: Vec<String> = self.held.iter().cloned().collect();
        let got = match pg::try_lock(client, &held) {
            Ok(got) => got,
            Err(e) => {
                let why = pg::describe(&e);
                self.client = None;
                debug!("{}: lost again while taking the locks: {why}", self.what);
                return false;
            }
        };
        let lost_to_others: Vec<String> = held
            .into_iter()
            .zip(got)
            .filter_map(|(codec, taken)| (!taken).then_some(codec))
            .collect();
        info!(
            "{}: reconnected; {} codec lock(s) taken again{}",
            self.what,
            self.held.len() - lost_to_others.len(),
            if lost_to_others.is_empty() {
                String::new()
            } else {
                format!(", {} held by another host now", lost_to_others.len())
            }
        );
        for codec in lost_to_others {
            self.held.remove(&codec);
            self.taken.insert(codec.clone());
            warn!(
                codec = %codec,
                "another host took this codec's lock while the database connection was down: it is no longer served here"
            );
            let _ = self.report.send(codec);
        }
        true
    }
}
