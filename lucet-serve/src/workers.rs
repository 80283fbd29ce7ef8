//! The threads that run handlers. Guests never run on the async runtime:
//! each worker owns its engine state (its instance slots) and takes jobs
//! from one bounded queue that all workers share. A run whose host call
//! waits (a backend, a timer, a body) is suspended in its slot, and its
//! worker runs other instances meanwhile; so the instances alive at once
//! are bounded by `max_instances`, not by the number of workers. Past that
//! bound, or with the queue full, a request is refused at once (503).
//!
//! A suspended run is resumed on its worker when its waker is woken, or
//! when its deadline passes (it then ends as timed out); a run whose client
//! has gone is dropped (which unwinds its host call) without running again.
//! A run whose guest computes for longer than its time slice is preempted
//! and woken at once: it goes on once its worker has taken what was
//! waiting (a woken run or a new request; the worker picks among them at
//! random), so no guest keeps a worker from the others.

use std::collections::{BTreeSet, HashMap};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll, Wake, Waker};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use tokio::sync::oneshot;

use crate::app::App;
use crate::body_budget::Held;
use crate::engine::{Engine, TIDY_INTERVAL};
use crate::request::{GuestRequest, GuestResponse, HandlerError};
use crate::run::{Progress, Renewal, Responder, RunContext};

/// One request for a worker.
pub(crate) struct Job<E: Engine> {
    /// The routes as they were when the request came in.
    pub app: Arc<App<E>>,
    /// Which of them.
    pub route: usize,
    pub request: GuestRequest,
    pub reply: oneshot::Sender<Result<GuestResponse, HandlerError>>,
    /// The request body's share of the server's body budget, given back
    /// when the run ends.
    pub body_held: Arc<Held>,
}

/// Every worker is busy and the queue is full, the server holds as many
/// instances as it may, or the workers are gone.
#[derive(Debug)]
pub(crate) struct QueueFull;

/// The workers and their queue.
pub(crate) struct Workers<E: Engine> {
    queue: Sender<Job<E>>,
    /// Most jobs waiting at once.
    queue_limit: usize,
    /// Dropped to tell the workers to finish what is queued and running,
    /// and end.
    stop: Mutex<Option<Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    live: Arc<AtomicUsize>,
    max_instances: usize,
    /// When a worker last took a job from the queue.
    taken: Arc<Taken>,
}

/// When a worker last took a job, as milliseconds after `epoch`.
struct Taken {
    epoch: Instant,
    at_ms: AtomicU64,
}

impl Taken {
    fn now(&self) {
        let ms = u64::try_from(self.epoch.elapsed().as_millis()).unwrap_or(u64::MAX);
        self.at_ms.store(ms, Ordering::Relaxed);
    }

    fn since(&self) -> std::time::Duration {
        let at = std::time::Duration::from_millis(self.at_ms.load(Ordering::Relaxed));
        self.epoch.elapsed().saturating_sub(at)
    }
}

/// How long jobs may wait with no worker taking one before the workers
/// count as stalled (`/healthz`).
const STALLED_AFTER: std::time::Duration = std::time::Duration::from_secs(5);

impl<E: Engine> Workers<E> {
    /// Starts `count` workers behind a queue of `queue` jobs, holding at
    /// most `max_instances` instances alive at once, all workers together;
    /// `io` is the async runtime their runs' host calls use.
    pub fn start(
        count: usize,
        queue: usize,
        max_instances: usize,
        engine: Arc<E>,
        io: tokio::runtime::Handle,
    ) -> std::io::Result<Workers<E>> {
        // Unbounded, with the bound checked on submission: a bounded
        // channel would allocate every place of a large queue up front.
        let (tx, rx) = crossbeam_channel::unbounded::<Job<E>>();
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let live = Arc::new(AtomicUsize::new(0));
        let taken = Arc::new(Taken {
            epoch: Instant::now(),
            at_ms: AtomicU64::new(0),
        });
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let worker = Worker {
                engine: engine.clone(),
                queue: rx.clone(),
                stop: stop_rx.clone(),
                live: live.clone(),
                io: io.clone(),
                taken: taken.clone(),
            };
            threads.push(
                std::thread::Builder::new()
                    .name(format!("lucet-worker-{i}"))
                    .spawn(move || worker.work())?,
            );
        }
        Ok(Workers {
            queue: tx,
            queue_limit: queue,
            stop: Mutex::new(Some(stop_tx)),
            threads: Mutex::new(threads),
            live,
            max_instances,
            taken,
        })
    }

    /// Whether jobs are queued and no worker has taken one for a while.
    pub fn is_stalled(&self) -> bool {
        self.queued() > 0 && self.taken.since() >= STALLED_AFTER
    }

    /// Queues `job`; refused (and dropped) if the queue is full, the
    /// instances alive and queued reach `max_instances`, or the workers
    /// have stopped.
    pub fn submit(&self, job: Job<E>) -> Result<(), QueueFull> {
        let queued = self.queued();
        if queued >= self.queue_limit || self.live_instances() + queued >= self.max_instances {
            return Err(QueueFull);
        }
        self.queue.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => QueueFull,
        })
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Instances alive now, running or suspended.
    pub fn live_instances(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Instances that may still be started.
    pub fn free_slots(&self) -> usize {
        self.max_instances.saturating_sub(self.live_instances())
    }

    /// Lets the workers finish what is queued and running, then stops them.
    pub fn stop(&self) {
        self.stop.lock().unwrap_or_else(|p| p.into_inner()).take();
        let threads = std::mem::take(&mut *self.threads.lock().unwrap_or_else(|p| p.into_inner()));
        for t in threads {
            let _ = t.join();
        }
    }
}

impl<E: Engine> Drop for Workers<E> {
    fn drop(&mut self) {
        self.stop();
    }
}

/// One worker thread.
struct Worker<E: Engine> {
    engine: Arc<E>,
    queue: Receiver<Job<E>>,
    stop: Receiver<()>,
    live: Arc<AtomicUsize>,
    io: tokio::runtime::Handle,
    taken: Arc<Taken>,
}

/// A run suspended on this worker, with the job it serves.
struct Suspended<E: Engine> {
    job: Started<E>,
    run: E::Suspended,
    waker: Arc<RunWaker>,
    deadline: Instant,
}

/// A job whose run has started: its answer goes through a [`Responder`].
struct Started<E: Engine> {
    app: Arc<App<E>>,
    route: usize,
    request: GuestRequest,
    responder: Responder,
    renewal: Renewal,
    _body_held: Arc<Held>,
}

/// Wakes a suspended run: sends its id to its worker, once until the
/// worker takes it.
struct RunWaker {
    id: u64,
    to: Sender<u64>,
    queued: AtomicBool,
}

impl Wake for RunWaker {
    fn wake(self: Arc<Self>) {
        self.wake_by_ref();
    }

    fn wake_by_ref(self: &Arc<Self>) {
        if !self.queued.swap(true, Ordering::AcqRel) {
            // The worker has gone only when the server is stopping.
            let _ = self.to.send(self.id);
        }
    }
}

/// This worker's runs and their order of deadlines.
struct Runs<E: Engine> {
    suspended: HashMap<u64, Suspended<E>>,
    deadlines: BTreeSet<(Instant, u64)>,
    next_id: u64,
    wakes: Sender<u64>,
}

impl<E: Engine> Worker<E> {
    fn work(self) {
        let mut state = self.engine.new_worker();
        let (wakes, woken) = crossbeam_channel::unbounded::<u64>();
        let mut runs = Runs::<E> {
            suspended: HashMap::new(),
            deadlines: BTreeSet::new(),
            next_id: 0,
            wakes,
        };
        let never = crossbeam_channel::never();
        let mut stopping = false;
        let mut next_tidy = Instant::now() + TIDY_INTERVAL;
        loop {
            let stop = if stopping { &never } else { &self.stop };
            let now = Instant::now();
            if now >= next_tidy {
                self.engine.tidy(&mut state);
                next_tidy = now + TIDY_INTERVAL;
            }
            let timeout = runs
                .deadlines
                .first()
                .map_or(next_tidy, |&(d, _)| d.min(next_tidy))
                .saturating_duration_since(now);
            crossbeam_channel::select! {
                recv(woken) -> id => {
                    if let Ok(id) = id {
                        self.wake(&mut state, &mut runs, id);
                    }
                }
                recv(self.queue) -> job => match job {
                    Ok(job) => {
                        self.taken.now();
                        self.start(&mut state, &mut runs, job);
                    }
                    Err(_) if runs.suspended.is_empty() => return,
                    // The queue is gone: nothing more comes, but the
                    // suspended runs finish.
                    Err(_) => stopping = true,
                },
                recv(stop) -> _ => stopping = true,
                default(timeout) => {}
            }
            self.expire(&mut state, &mut runs);
            if stopping && runs.suspended.is_empty() && self.queue.is_empty() {
                return;
            }
        }
    }

    /// Starts `job`'s run.
    fn start(&self, state: &mut E::Worker, runs: &mut Runs<E>, job: Job<E>) {
        // A client that has gone away does not cost a run.
        if job.reply.is_closed() {
            return;
        }
        let id = runs.next_id;
        runs.next_id += 1;
        let waker = Arc::new(RunWaker {
            id,
            to: runs.wakes.clone(),
            queued: AtomicBool::new(false),
        });
        let job = Started {
            app: job.app,
            route: job.route,
            request: job.request,
            responder: Responder::new(job.reply),
            renewal: Renewal::default(),
            _body_held: job.body_held,
        };
        let cx = RunContext {
            waker: Waker::from(waker.clone()),
            io: self.io.clone(),
            responder: job.responder.clone(),
            renewal: job.renewal.clone(),
        };
        self.live.fetch_add(1, Ordering::Relaxed);
        let route = job.app.route(job.route);
        let handler = job.app.handler(job.route);
        let progress = std::panic::catch_unwind(AssertUnwindSafe(|| {
            handler.abi.start(
                &handler.config,
                &*self.engine,
                state,
                &handler.module,
                route,
                &job.request,
                cx,
            )
        }));
        self.settle(runs, job, id, waker, progress);
    }

    /// Resumes run `id`, if it is still suspended.
    fn wake(&self, state: &mut E::Worker, runs: &mut Runs<E>, id: u64) {
        let Some(s) = runs.suspended.remove(&id) else {
            return;
        };
        runs.deadlines.remove(&(s.deadline, id));
        s.waker.queued.store(false, Ordering::Release);
        if s.job.responder.is_closed() {
            // The client has gone: the run is dropped, not resumed.
            self.abandon(s.run);
            return;
        }
        self.resume(state, runs, id, s);
    }

    fn resume(&self, state: &mut E::Worker, runs: &mut Runs<E>, id: u64, s: Suspended<E>) {
        let Suspended {
            job, run, waker, ..
        } = s;
        let route = job.app.route(job.route);
        let handler = job.app.handler(job.route);
        let progress = std::panic::catch_unwind(AssertUnwindSafe(|| {
            handler
                .abi
                .resume(&*self.engine, state, route, &job.request, run)
        }));
        self.settle(runs, job, id, waker, progress);
    }

    /// Resumes every run whose deadline has passed: each ends as timed out.
    fn expire(&self, state: &mut E::Worker, runs: &mut Runs<E>) {
        let now = Instant::now();
        while let Some(&(deadline, id)) = runs.deadlines.first() {
            if deadline > now {
                break;
            }
            runs.deadlines.remove(&(deadline, id));
            if let Some(s) = runs.suspended.remove(&id) {
                self.resume(state, runs, id, s);
            }
        }
    }

    /// After a run's step: reply if it is done, or keep it suspended.
    fn settle(
        &self,
        runs: &mut Runs<E>,
        job: Started<E>,
        id: u64,
        waker: Arc<RunWaker>,
        progress: std::thread::Result<Progress<E::Suspended>>,
    ) {
        match progress {
            Ok(Progress::Suspended(mut run)) => {
                if job.renewal.take() {
                    self.engine.renew(&mut run);
                }
                // The run is also woken when its client goes away.
                let w = Waker::from(waker.clone());
                if let Poll::Ready(()) = job.responder.poll_closed(&mut Context::from_waker(&w)) {
                    self.abandon(run);
                    return;
                }
                let deadline = self.engine.deadline(&run);
                if self.engine.is_ready(&run) {
                    // Preempted: it goes on after what is waiting now
                    // (woken runs and new requests alike).
                    waker.wake_by_ref();
                }
                runs.deadlines.insert((deadline, id));
                runs.suspended.insert(
                    id,
                    Suspended {
                        job,
                        run,
                        waker,
                        deadline,
                    },
                );
            }
            Ok(Progress::Done(result)) => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                let failure = result.as_ref().err().map(|e| e.to_string());
                if !job.responder.send(result) {
                    if let Some(e) = failure {
                        failed_after_answer(&job, &e);
                    }
                }
            }
            Ok(Progress::Answered(result)) => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                if let Err(e) = result {
                    failed_after_answer(&job, &e.to_string());
                }
            }
            Err(_) => {
                self.live.fetch_sub(1, Ordering::Relaxed);
                let e = HandlerError::Failed("the handler's engine panicked".into());
                if !job.responder.send(Err(e)) {
                    tracing::error!(request = %job.request.id, "the handler's engine panicked after answering");
                }
            }
        }
    }

    /// Drops a suspended run whose client has gone.
    fn abandon(&self, run: E::Suspended) {
        let _ = std::panic::catch_unwind(AssertUnwindSafe(|| drop(run)));
        self.live.fetch_sub(1, Ordering::Relaxed);
    }
}

/// Logs a run's failure after its client was answered.
fn failed_after_answer<E: Engine>(job: &Started<E>, e: &str) {
    let route = &job.app.route(job.route).pattern;
    tracing::warn!(request = %job.request.id, route = %route, "the handler failed after answering: {e}");
}
