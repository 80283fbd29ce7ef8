//! The threads that run handlers. Guests never run on the async runtime:
//! each worker owns its slots (a region per slot shape, one slot each, as a
//! worker runs one request at a time) and takes jobs from one bounded queue
//! that all workers share, so a request waits only while every worker is
//! busy. A full queue is refused at once (503), never grown.

use std::panic::AssertUnwindSafe;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::thread::JoinHandle;
use std::time::Instant;

use crossbeam_channel::{Receiver, Sender, TrySendError};
use lucet_runtime::{Limits, MmapRegion};
use lucet_wasi::{RunPolicy, Watchdog};
use tokio::sync::oneshot;

use crate::abi::{Guest, GuestRequest, GuestResponse, HandlerError};
use crate::app::App;

/// One request for a worker.
pub(crate) struct Job {
    /// The routes as they were when the request came in.
    pub app: Arc<App>,
    /// Which of them.
    pub route: usize,
    pub request: GuestRequest,
    pub reply: oneshot::Sender<Result<GuestResponse, HandlerError>>,
}

/// Every worker is busy and the queue is full (or the workers are gone).
#[derive(Debug)]
pub(crate) struct QueueFull;

/// The workers and their queue.
pub(crate) struct Workers {
    queue: Sender<Job>,
    /// Dropped to tell the workers to finish what is queued and end.
    stop: Mutex<Option<Sender<()>>>,
    threads: Mutex<Vec<JoinHandle<()>>>,
    live: Arc<AtomicUsize>,
    count: usize,
}

impl Workers {
    /// Starts `count` workers behind a queue of `queue` jobs.
    pub fn start(count: usize, queue: usize) -> std::io::Result<Workers> {
        let (tx, rx) = crossbeam_channel::bounded::<Job>(queue);
        let (stop_tx, stop_rx) = crossbeam_channel::bounded::<()>(0);
        let watchdog = Arc::new(Watchdog::new());
        let live = Arc::new(AtomicUsize::new(0));
        let mut threads = Vec::with_capacity(count);
        for i in 0..count {
            let rx = rx.clone();
            let stop = stop_rx.clone();
            let watchdog = watchdog.clone();
            let live = live.clone();
            threads.push(
                std::thread::Builder::new()
                    .name(format!("lucet-worker-{i}"))
                    .spawn(move || work(&rx, &stop, &watchdog, &live))?,
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
    pub fn submit(&self, job: Job) -> Result<(), QueueFull> {
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

impl Drop for Workers {
    fn drop(&mut self) {
        self.stop();
    }
}

/// A worker's regions: one per slot shape its routes need, made when first
/// needed.
struct Slots {
    regions: Vec<(Limits, Arc<MmapRegion>)>,
}

impl Slots {
    fn for_limits(&mut self, limits: &Limits) -> Result<&Arc<MmapRegion>, HandlerError> {
        if let Some(i) = self.regions.iter().position(|(l, _)| l == limits) {
            return Ok(&self.regions[i].1);
        }
        let region = MmapRegion::create(1, limits)
            .map_err(|e| HandlerError::Failed(format!("cannot create a slot: {e}")))?;
        // A reload can change every route's limits; shapes nothing uses any
        // more are not kept beyond a few.
        if self.regions.len() >= 8 {
            self.regions.remove(0);
        }
        self.regions.push((limits.clone(), region));
        Ok(&self.regions.last().expect("just pushed").1)
    }
}

fn work(queue: &Receiver<Job>, stop: &Receiver<()>, watchdog: &Watchdog, live: &AtomicUsize) {
    let mut slots = Slots {
        regions: Vec::new(),
    };
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
        run(&mut slots, job, watchdog, live);
    }
}

fn run(slots: &mut Slots, job: Job, watchdog: &Watchdog, live: &AtomicUsize) {
    {
        // A client that has gone away does not cost a run.
        if job.reply.is_closed() {
            return;
        }
        let route = job.app.route(job.route);
        let result = slots.for_limits(&route.region_limits).and_then(|region| {
            let guest = Guest {
                builder: region.new_instance_builder(route.module.clone()),
                policy: RunPolicy {
                    deadline: Some(Instant::now() + route.limits.timeout),
                    fuel: route.limits.fuel,
                },
                watchdog,
            };
            live.fetch_add(1, Ordering::Relaxed);
            let r = std::panic::catch_unwind(AssertUnwindSafe(|| {
                route.abi.handle(route, &job.request, guest)
            }));
            live.fetch_sub(1, Ordering::Relaxed);
            r.unwrap_or_else(|_| Err(HandlerError::Failed("the handler ABI panicked".into())))
        });
        // The client may have gone meanwhile; nothing to do then.
        let _ = job.reply.send(result);
    }
}
