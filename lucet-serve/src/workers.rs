//! The threads that run handlers. Guests never run on the async runtime:
//! each worker owns its engine state (its instance slots) and takes jobs
//! from one bounded queue that all workers share, so a request waits only
//! while every worker is busy. A full queue is refused at once (503), never
//! grown.

use crossbeam_channel::{Receiver, Sender, TrySendError};
use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use tokio::sync::oneshot;

use crate::app::App;
use crate::engine::Engine;
use crate::request::{GuestRequest, GuestResponse, HandlerError};

/// One request for a worker.
pub(crate) struct Job<E: Engine> {
    /// The routes as they were when the request came in.
    pub app: Arc<App<E>>,
    /// Which of them.
    pub route: usize,
    pub request: GuestRequest,
    pub reply: oneshot::Sender<Result<GuestResponse, HandlerError>>,
}

/// Every worker is busy and the queue is full (or the workers are gone).
#[derive(Debug)]
pub(crate) struct QueueFull;

/// The workers and their queue.
pub(crate) struct Workers<E: Engine> {
    queue: Sender<Job<E>>,
    /// Dropped to tell the workers to finish what is queued and end.
    stop: Mutex<Option<Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    live: Arc<AtomicUsize>,
    count: usize,
}

impl<E: Engine> Workers<E> {
    /// Starts `count` workers behind a queue of `queue` jobs.
    pub fn start(count: usize, queue: usize, engine: Arc<E>) -> std::io::Result<Workers<E>> {
        let (tx, rx) = crossbeam_channel::bounded::<Job<E>>(queue);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let live = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let rx = rx.clone();
            let stop = stop_rx.clone();
            let engine = engine.clone();
            let live = live.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("lucet-worker-{i}"))
                    .spawn(move || work(&rx, &stop, &*engine, &live))?,
            );
        }
        Ok(Workers {
            queue: tx,
            stop: Mutex::new(Some(stop_tx)),
            threads: Mutex::new(threads),
            live,
            count,
        })
    }

    /// Queues `job`; refused (and dropped) if the queue is full or the
    /// workers have stopped.
    pub fn submit(&self, job: Job<E>) -> Result<(), QueueFull> {
        self.queue.try_send(job).map_err(|e| match e {
            TrySendError::Full(_) | TrySendError::Disconnected(_) => QueueFull,
        })
    }

    /// Jobs waiting for a worker.
    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Instances running now.
    pub fn live_instances(&self) -> usize {
        self.live.load(Ordering::Relaxed)
    }

    /// Workers free to take a job (each has one slot).
    pub fn free_slots(&self) -> usize {
        self.count.saturating_sub(self.live_instances())
    }

    /// Lets the workers finish what is queued, then stops them.
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

fn work<E: Engine>(queue: &Receiver<Job<E>>, stop: &Receiver<()>, engine: &E, live: &AtomicUsize) {
    let mut worker = engine.new_worker();
    loop {
        let job = crossbeam_channel::select! {
            recv(queue) -> job => job,
            recv(stop) -> _ => match queue.try_recv() {
                // Stopping: what is queued still runs.
                Ok(job) => Ok(job),
                Err(_) => return,
            },
        };
        let Ok(job) = job else { return };
        run(engine, &mut worker, job, live);
    }
}

fn run<E: Engine>(engine: &E, worker: &mut E::Worker, job: Job<E>, live: &AtomicUsize) {
    // A client that has gone away does not cost a run.
    if job.reply.is_closed() {
        return;
    }
    let route = job.app.route(job.route);
    let handler = job.app.handler(job.route);
    live.fetch_add(1, Ordering::Relaxed);
    let result = std::panic::catch_unwind(AssertUnwindSafe(|| {
        handler.abi.handle(
            &handler.config,
            engine,
            worker,
            &handler.module,
            route,
            &job.request,
        )
    }));
    live.fetch_sub(1, Ordering::Relaxed);
    let result = result
        .unwrap_or_else(|_| Err(HandlerError::Failed("the handler's engine panicked".into())));
    // The client may have gone meanwhile; nothing to do then.
    let _ = job.reply.send(result);
}
