//! The delivery send loop: HTTP/1.1 requests (http and https) on a small tokio runtime of its own,
//! with pooled keep-alive connections, a cap on requests in flight per host and a per-request
//! timeout. A caller submits batches without blocking and collects completions in batches, so a
//! foreign caller (Python) crosses into it once per batch each way.
//!
//! Pure Rust: it knows nothing of Python (`python.rs` binds it).

mod completions;
mod send;

#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use tokio::runtime::{Handle, Runtime};
use tokio::sync::Semaphore;

use completions::Completions;
use send::{Client, Prepared};

/// One request to send. `id` is the caller's, handed back in its `Completion`.
#[derive(Debug, Clone)]
pub struct Request {
    pub id: u64,
    pub method: String,
    pub url: String,
    pub headers: Vec<(String, String)>,
    pub body: Option<Vec<u8>>,
}

/// The outcome of one request: an HTTP answer (`status` set, `error` None), or no answer (`status`
/// None, `error` says why: a bad request, a transport failure, the timeout, or the courier closing).
#[derive(Debug, Clone)]
pub struct Completion {
    pub id: u64,
    pub status: Option<u16>,
    pub body: Vec<u8>,
    /// Response headers in arrival order, names lower-case.
    pub headers: Vec<(String, String)>,
    /// From `submit` to the end of the response body (time waiting for a free slot included).
    pub elapsed_ms: f64,
    pub error: Option<String>,
}

#[derive(Debug, Clone)]
pub struct Options {
    /// Requests in flight per scheme+host+port; HTTP/1.1 means one connection each, and as many
    /// idle connections are kept for reuse.
    pub max_connections_per_host: usize,
    /// Connect + send + whole answer, counted once a slot for the host is free.
    pub timeout: Duration,
    /// tokio worker threads: 1 leaves the other core to the caller.
    pub worker_threads: usize,
    /// A longer answer body is an error (OCPI answers are small; a peer cannot fill our memory).
    pub max_body_bytes: usize,
}

impl Options {
    pub fn new(max_connections_per_host: usize, timeout: Duration) -> Self {
        Self { max_connections_per_host, timeout, worker_threads: 1, max_body_bytes: 16 << 20 }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum CourierError {
    /// `submit` after `close`.
    Closed,
    /// Options that cannot work (zero connections, a timeout that is not a positive finite number...).
    Options(String),
    /// The runtime or the TLS setup could not be created.
    Start(String),
}

impl std::fmt::Display for CourierError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            CourierError::Closed => f.write_str("courier closed"),
            CourierError::Options(m) => write!(f, "invalid courier options: {m}"),
            CourierError::Start(m) => write!(f, "courier could not start: {m}"),
        }
    }
}

impl std::error::Error for CourierError {}

/// What the runtime's tasks share.
struct Shared {
    client: Client,
    opts: Options,
    /// One semaphore per scheme://authority: the per-host cap. Grows with the hosts seen (the peers).
    hosts: Mutex<HashMap<String, Arc<Semaphore>>>,
    done: Completions,
}

impl Shared {
    fn slots(&self, host: &str) -> Arc<Semaphore> {
        let mut hosts = self.hosts.lock().unwrap_or_else(PoisonError::into_inner);
        hosts.entry(host.to_owned()).or_insert_with(|| Arc::new(Semaphore::new(self.opts.max_connections_per_host))).clone()
    }
}

pub struct Courier {
    /// Taken by `close`; `handle` spawns onto it while it runs.
    runtime: Mutex<Option<Runtime>>,
    handle: Handle,
    shared: Arc<Shared>,
}

impl Courier {
    pub fn new(opts: Options) -> Result<Self, CourierError> {
        if opts.max_connections_per_host == 0 || opts.max_connections_per_host > Semaphore::MAX_PERMITS {
            return Err(CourierError::Options("max_connections_per_host must be at least 1".into()));
        }
        if opts.timeout.is_zero() {
            return Err(CourierError::Options("timeout must be positive".into()));
        }
        if opts.worker_threads == 0 {
            return Err(CourierError::Options("worker_threads must be at least 1".into()));
        }
        let runtime = tokio::runtime::Builder::new_multi_thread()
            .worker_threads(opts.worker_threads)
            .max_blocking_threads(4) // name resolution (getaddrinfo) only
            .thread_name("rust_core-courier")
            .enable_io()
            .enable_time()
            .build()
            .map_err(|e| CourierError::Start(e.to_string()))?;
        let client = send::client(opts.max_connections_per_host)?;
        let shared = Arc::new(Shared { client, opts, hosts: Mutex::new(HashMap::new()), done: Completions::default() });
        Ok(Self { handle: runtime.handle().clone(), runtime: Mutex::new(Some(runtime)), shared })
    }

    /// Start sending every request of `batch`; returns at once. A request that cannot be sent (bad
    /// URL, method or header) completes at once with its error.
    pub fn submit(&self, batch: Vec<Request>) -> Result<(), CourierError> {
        // Held while spawning, so `close` cannot shut the runtime down under us.
        let runtime = self.runtime.lock().unwrap_or_else(PoisonError::into_inner);
        if runtime.is_none() {
            return Err(CourierError::Closed);
        }
        for request in batch {
            let started = Instant::now();
            let id = request.id;
            match send::prepare(request) {
                Ok(prepared) => {
                    let guard = Pending { id, started, shared: self.shared.clone(), finished: false };
                    self.handle.spawn(run(guard, prepared));
                }
                Err(error) => self.shared.done.push(failed(id, started, error)),
            }
        }
        Ok(())
    }

    /// Up to `max_items` completions; waits up to `wait` for the first one (returns empty when none came).
    pub fn completed(&self, max_items: usize, wait: Duration) -> Vec<Completion> {
        self.shared.done.take(max_items, wait)
    }

    /// Stop: requests in flight are cancelled and complete with the error "courier closed"
    /// (collect them with `completed`); later submits fail. Idempotent.
    pub fn close(&self) {
        let runtime = self.runtime.lock().unwrap_or_else(PoisonError::into_inner).take();
        if let Some(runtime) = runtime {
            // Drops every task (each `Pending` reports itself); waits briefly for name lookups.
            runtime.shutdown_timeout(Duration::from_millis(200));
        }
    }

    pub fn is_closed(&self) -> bool {
        self.runtime.lock().unwrap_or_else(PoisonError::into_inner).is_none()
    }
}

impl Drop for Courier {
    fn drop(&mut self) {
        if let Some(runtime) = self.runtime.get_mut().unwrap_or_else(PoisonError::into_inner).take() {
            runtime.shutdown_background();
        }
    }
}

/// A request in flight. Whatever ends it (an answer, an error, the task dropped at close), exactly
/// one completion is pushed.
struct Pending {
    id: u64,
    started: Instant,
    shared: Arc<Shared>,
    finished: bool,
}

impl Pending {
    fn finish(mut self, answer: Result<send::Answer, String>) {
        self.finished = true;
        let completion = match answer {
            Ok(a) => Completion { id: self.id, status: Some(a.status), body: a.body, headers: a.headers, elapsed_ms: elapsed_ms(self.started), error: None },
            Err(e) => failed(self.id, self.started, e),
        };
        self.shared.done.push(completion);
    }
}

impl Drop for Pending {
    fn drop(&mut self) {
        if !self.finished {
            self.shared.done.push(failed(self.id, self.started, CourierError::Closed.to_string()));
        }
    }
}

async fn run(pending: Pending, prepared: Prepared) {
    let shared = pending.shared.clone();
    let slots = shared.slots(&prepared.host);
    let answer = match slots.acquire().await {
        Ok(_permit) => match tokio::time::timeout(shared.opts.timeout, send::send(&shared.client, prepared, shared.opts.max_body_bytes)).await {
            Ok(result) => result,
            Err(_) => Err(format!("timeout after {:.3} s", shared.opts.timeout.as_secs_f64())),
        },
        Err(_) => Err(CourierError::Closed.to_string()),
    };
    pending.finish(answer);
}

fn failed(id: u64, started: Instant, error: String) -> Completion {
    Completion { id, status: None, body: Vec::new(), headers: Vec::new(), elapsed_ms: elapsed_ms(started), error: Some(error) }
}

fn elapsed_ms(started: Instant) -> f64 {
    started.elapsed().as_secs_f64() * 1000.0
}
