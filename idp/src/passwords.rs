//! Password hashing with bcrypt, off the async executor.
//!
//! bcrypt is deliberately slow (cost 12 ≈ a quarter of a second of CPU), so a
//! burst of logins is a CPU attack. Hashing runs on `workers` threads of its
//! own (the IdP uses one fewer than the cores, at least one, so the async
//! runtime keeps a core's worth of time for `/jwks`, tokens and everything
//! else), with a bounded queue in front: a caller that finds the workers
//! busy and the queue full is told at once to retry (`503` with
//! `Retry-After`), and one that waits too long in the queue too, rather
//! than queueing without bound.
//!
//! The queue serves password checks (logins) before new passwords
//! (signups, changes, resets): a free worker takes the oldest check, and a
//! new password only when no check waits. New passwords may also take only
//! half of the queue's places. A signup flood therefore neither turns a
//! login away nor makes it wait behind the signups already queued; it
//! waits at most for the hashes already running.
//!
//! On Linux those threads run at a lower priority ([`HASHING_NICENESS`]):
//! when the cores are contended, the scheduler serves request handling,
//! SQLite and the resource servers on the same machine first, and bcrypt
//! takes what is left. A login is a quarter of a second either way; a
//! validation or a `/jwks` answer is a millisecond that should stay one.
//!
//! bcrypt only reads the first 72 bytes of a password; longer passwords are
//! refused at signup (see [`validate_password`]), never hashed, and never
//! verified, so two passwords sharing a 72-byte prefix can never both log
//! in. (bcrypt's own `non_truncating_*` functions count the terminating NUL
//! and so stop at 71 bytes; the explicit check keeps the full 72.)
//!
//! An unknown email is verified against a dummy hash of the same cost, so it
//! takes as long as a wrong password and reveals nothing.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Condvar, Mutex, MutexGuard};
use std::time::Duration;

use tokio::sync::oneshot;
use zeroize::Zeroizing;

/// bcrypt's input limit.
pub const MAX_PASSWORD_BYTES: usize = 72;
/// bcrypt's cost range.
const MIN_COST: u32 = 4;
const MAX_COST: u32 = 31;
/// The shortest password accepted at signup.
pub const MIN_PASSWORD_CHARS: usize = 8;
/// The nice value of the hashing threads (0 is normal, 19 the lowest).
/// At 10 a busy hashing thread gets about a tenth of a core that request
/// handling also wants, and all of one that nothing else wants.
pub const HASHING_NICENESS: i32 = 10;

/// Why hashing did not happen.
#[derive(Debug, thiserror::Error)]
pub enum PasswordError {
    /// Every hashing slot is busy and the queue is full, or stayed so for
    /// the whole wait.
    #[error("too many password checks in progress")]
    Busy,
    /// bcrypt failed (bad cost, task failure).
    #[error("password hashing failed: {0}")]
    Hash(String),
}

/// Hashes and verifies passwords.
#[derive(Clone)]
pub struct Passwords {
    cost: u32,
    /// Hashes running or queued; at most `admit_limit`.
    admitted: Arc<AtomicUsize>,
    admit_limit: usize,
    /// New passwords (signups, changes, resets) are admitted only while
    /// fewer than this are running or queued: half the queue stays for
    /// password checks, so a signup flood cannot turn logins away.
    new_password_limit: usize,
    /// How long a hash may wait in the queue before its caller is told to
    /// retry.
    wait: Duration,
    /// Hash of a fixed password at the same cost, made once on first need
    /// (not at start-up, where it would cost a quarter of a second).
    dummy_hash: Arc<tokio::sync::OnceCell<String>>,
    workers: Arc<Workers>,
}

/// Which queue a hash waits in.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Class {
    /// Verifying a password at login: served first.
    Check,
    /// Hashing a new password: served when no check waits.
    NewPassword,
}

/// A hash to compute on a worker thread.
type Job = Box<dyn FnOnce() + Send>;

/// The hashes waiting for a worker, checks before new passwords.
#[derive(Default)]
struct Pending {
    checks: VecDeque<(u64, Job)>,
    new_passwords: VecDeque<(u64, Job)>,
    next_id: u64,
    closed: bool,
}

impl Pending {
    fn len(&self) -> usize {
        self.checks.len() + self.new_passwords.len()
    }
}

/// The queue the hashing threads take from.
#[derive(Default)]
struct Queue {
    pending: Mutex<Pending>,
    ready: Condvar,
}

impl Queue {
    fn lock(&self) -> MutexGuard<'_, Pending> {
        self.pending
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// Queues `job`; its id withdraws it while no worker has taken it.
    fn push(&self, class: Class, job: Job) -> Result<u64, PasswordError> {
        let mut pending = self.lock();
        if pending.closed {
            return Err(PasswordError::Hash(
                "the hashing threads have stopped".into(),
            ));
        }
        let id = pending.next_id;
        pending.next_id += 1;
        match class {
            Class::Check => pending.checks.push_back((id, job)),
            Class::NewPassword => pending.new_passwords.push_back((id, job)),
        }
        drop(pending);
        self.ready.notify_one();
        Ok(id)
    }

    /// The next job, the oldest check first; `None` once closed.
    fn next(&self) -> Option<Job> {
        let mut pending = self.lock();
        loop {
            let next = match pending.checks.pop_front() {
                Some(job) => Some(job),
                None => pending.new_passwords.pop_front(),
            };
            if let Some((_, job)) = next {
                return Some(job);
            }
            if pending.closed {
                return None;
            }
            pending = self
                .ready
                .wait(pending)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
        }
    }

    /// Takes the job `id` back if no worker has started it (it is dropped
    /// unrun); `false` when one has.
    fn withdraw(&self, id: u64) -> bool {
        let mut guard = self.lock();
        let pending = &mut *guard;
        // Dropping it frees its place in the admission count.
        let withdrawn = [&mut pending.checks, &mut pending.new_passwords]
            .into_iter()
            .find_map(|queue| {
                let at = queue.iter().position(|(queued, _)| *queued == id)?;
                queue.remove(at)
            });
        withdrawn.is_some()
    }

    fn close(&self) {
        let mut pending = self.lock();
        pending.closed = true;
        let dropped = (
            std::mem::take(&mut pending.checks),
            std::mem::take(&mut pending.new_passwords),
        );
        drop(pending);
        drop(dropped);
        self.ready.notify_all();
    }
}

/// The hashing threads. They end when the last `Passwords` clone is
/// dropped (the queue closes; hashes still queued are dropped, and their
/// callers, if any, told the hashing failed).
struct Workers {
    queue: Arc<Queue>,
}

impl Workers {
    fn start(count: usize) -> Result<Self, PasswordError> {
        let queue = Arc::new(Queue::default());
        for n in 0..count {
            let queue = Arc::clone(&queue);
            std::thread::Builder::new()
                .name(format!("bcrypt-{n}"))
                .spawn(move || {
                    lower_priority();
                    while let Some(job) = queue.next() {
                        job();
                    }
                })
                .map_err(|e| PasswordError::Hash(format!("cannot start a hashing thread: {e}")))?;
        }
        Ok(Self { queue })
    }
}

impl Drop for Workers {
    fn drop(&mut self) {
        self.queue.close();
    }
}

/// A queued job, withdrawn when its caller stops waiting for it before a
/// worker took it (the request was dropped, or the wait ran out).
struct Withdraw<'a> {
    queue: &'a Queue,
    id: Option<u64>,
}

impl Withdraw<'_> {
    /// Withdraws the job now: `true` if it had not started.
    fn now(&mut self) -> bool {
        self.id.take().is_some_and(|id| self.queue.withdraw(id))
    }
}

impl Drop for Withdraw<'_> {
    fn drop(&mut self) {
        self.now();
    }
}

/// Makes the calling thread yield to request handling when cores are
/// contended. A failure (a sandbox refusing `setpriority`) leaves it at
/// normal priority, which is correct, only less polite.
#[cfg(target_os = "linux")]
fn lower_priority() {
    let me = rustix::thread::gettid();
    let _ = rustix::process::setpriority_process(Some(me), HASHING_NICENESS);
}

#[cfg(not(target_os = "linux"))]
fn lower_priority() {}

impl std::fmt::Debug for Passwords {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Passwords")
            .field("cost", &self.cost)
            .field("admit_limit", &self.admit_limit)
            .finish()
    }
}

/// Checks a signup password: at least 8 characters, at most 72 bytes.
pub fn validate_password(password: &str) -> Result<(), &'static str> {
    if password.chars().count() < MIN_PASSWORD_CHARS {
        return Err("password must be at least 8 characters");
    }
    if password.len() > MAX_PASSWORD_BYTES {
        return Err("password must be at most 72 bytes (bcrypt's limit); it is not truncated");
    }
    if password.chars().any(char::is_control) {
        // bcrypt stops at a NUL byte, so "secret\0x" would log in as
        // "secret"; other control characters are typing accidents.
        return Err("password must not contain control characters");
    }
    Ok(())
}

impl Passwords {
    /// A hasher with bcrypt `cost`, running at most `workers` hashes at
    /// once with at most `queue` more waiting, each for at most `wait`. A
    /// cost outside bcrypt's range is refused here rather than at the first
    /// signup.
    pub fn new(
        cost: u32,
        workers: usize,
        queue: usize,
        wait: Duration,
    ) -> Result<Self, PasswordError> {
        if !(MIN_COST..=MAX_COST).contains(&cost) {
            return Err(PasswordError::Hash(format!(
                "bcrypt cost must be {MIN_COST} to {MAX_COST}"
            )));
        }
        let workers = workers.max(1);
        let this = Self {
            cost,
            admitted: Arc::new(AtomicUsize::new(0)),
            admit_limit: workers + queue,
            new_password_limit: workers + queue / 2,
            wait,
            dummy_hash: Arc::new(tokio::sync::OnceCell::new()),
            workers: Arc::new(Workers::start(workers)?),
        };
        // Made in the background right away, so that the first login with
        // an unknown email does not take twice as long as a wrong password.
        if let Ok(runtime) = tokio::runtime::Handle::try_current() {
            let warm = this.clone();
            runtime.spawn(async move {
                let _ = warm.dummy_hash().await;
            });
        }
        Ok(this)
    }

    async fn dummy_hash(&self) -> Result<String, PasswordError> {
        let cost = self.cost;
        self.dummy_hash
            .get_or_try_init(|| {
                self.run(Class::Check, move || {
                    bcrypt::hash("dummy password for unknown accounts", cost)
                        .map_err(|e| PasswordError::Hash(e.to_string()))
                })
            })
            .await
            .cloned()
    }

    /// Hashes a new password.
    pub async fn hash(&self, password: Zeroizing<String>) -> Result<String, PasswordError> {
        if password.len() > MAX_PASSWORD_BYTES {
            return Err(PasswordError::Hash("password longer than 72 bytes".into()));
        }
        let cost = self.cost;
        self.run(Class::NewPassword, move || {
            bcrypt::hash(password.as_bytes(), cost).map_err(|e| PasswordError::Hash(e.to_string()))
        })
        .await
    }

    /// Verifies `password` against `hash`, or against the dummy hash when
    /// there is no account, so both cases cost the same.
    pub async fn verify(
        &self,
        password: Zeroizing<String>,
        hash: Option<String>,
    ) -> Result<bool, PasswordError> {
        let known = hash.is_some();
        let hash = match hash {
            Some(hash) => hash,
            None => self.dummy_hash().await?,
        };
        let matches = self
            .run(Class::Check, move || {
                // A password over 72 bytes, or with a NUL, can never have
                // been stored: it is a mismatch, without letting bcrypt
                // truncate it (at 72 bytes, or at the NUL) to a prefix that
                // might match.
                Ok(password.len() <= MAX_PASSWORD_BYTES
                    && !password.contains('\0')
                    && bcrypt::verify(password.as_bytes(), &hash).unwrap_or(false))
            })
            .await?;
        Ok(known && matches)
    }

    /// Hashes waiting for a hashing thread now.
    pub fn queued(&self) -> usize {
        self.workers.queue.lock().len()
    }

    /// Runs `f` on a hashing thread, in `class`'s queue, if fewer hashes
    /// than the class's limit are running or queued.
    async fn run<T, F>(&self, class: Class, f: F) -> Result<T, PasswordError>
    where
        T: Send + 'static,
        F: FnOnce() -> Result<T, PasswordError> + Send + 'static,
    {
        // Admission first, without waiting: beyond the workers and the
        // queue, the answer is "retry" at once.
        let limit = match class {
            Class::Check => self.admit_limit,
            Class::NewPassword => self.new_password_limit,
        };
        let admitted = Admitted::new(&self.admitted, limit)?;
        // The count moves into the job: a caller that goes away mid-hash
        // does not free a place the hash still occupies, and a job
        // withdrawn unrun frees it as it is dropped.
        let (answer, mut answered) = oneshot::channel();
        let id = self.workers.queue.push(
            class,
            Box::new(move || {
                let outcome = f();
                // The place is free before the caller hears back.
                drop(admitted);
                let _ = answer.send(outcome);
            }),
        )?;
        let mut queued = Withdraw {
            queue: &self.workers.queue,
            id: Some(id),
        };
        let outcome = match tokio::time::timeout(self.wait, &mut answered).await {
            Ok(outcome) => outcome,
            // Still queued after the whole wait: retry later. Started
            // meanwhile: its answer is coming.
            Err(_) if queued.now() => return Err(PasswordError::Busy),
            Err(_) => answered.await,
        };
        queued.id = None;
        outcome.map_err(|_| PasswordError::Hash("a hashing thread failed".into()))?
    }
}

/// One hash running or queued; counted until dropped.
struct Admitted(Arc<AtomicUsize>);

impl Admitted {
    fn new(count: &Arc<AtomicUsize>, limit: usize) -> Result<Self, PasswordError> {
        count
            .fetch_update(Ordering::AcqRel, Ordering::Acquire, |n| {
                (n < limit).then_some(n + 1)
            })
            .map_err(|_| PasswordError::Busy)?;
        Ok(Self(Arc::clone(count)))
    }
}

impl Drop for Admitted {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::AcqRel);
    }
}

/// How many hashes the IdP runs at once: one fewer than the cores, at
/// least one, so that a login storm leaves the async runtime a core.
pub fn default_workers() -> usize {
    std::thread::available_parallelism()
        .map_or(1, |n| n.get())
        .saturating_sub(1)
        .max(1)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hasher() -> Passwords {
        Passwords::new(4, 2, 8, Duration::from_secs(5)).expect("hasher")
    }

    #[test]
    fn costs_outside_bcrypts_range_are_refused() {
        assert!(Passwords::new(3, 1, 1, Duration::from_secs(1)).is_err());
        assert!(Passwords::new(32, 1, 1, Duration::from_secs(1)).is_err());
    }

    #[tokio::test]
    async fn beyond_the_workers_and_the_queue_callers_are_told_to_retry_at_once() {
        // One worker, two waiting: of ten checks at once, three are admitted.
        let p = Passwords::new(6, 1, 2, Duration::from_secs(30)).expect("hasher");
        // The dummy hash for unknown emails is made in the background
        // first: not during the burst.
        p.dummy_hash().await.expect("dummy hash");
        let hash = p
            .hash(Zeroizing::new("correct horse".into()))
            .await
            .expect("hash");
        let outcomes = futures_util::future::join_all(
            (0..10).map(|_| p.verify(Zeroizing::new("correct horse".into()), Some(hash.clone()))),
        )
        .await;
        let busy = outcomes
            .iter()
            .filter(|o| matches!(o, Err(PasswordError::Busy)))
            .count();
        assert_eq!((busy, outcomes.len() - busy), (7, 3), "{outcomes:?}");
        assert!(outcomes
            .iter()
            .all(|o| !matches!(o, Err(PasswordError::Hash(_)))));
        // Slots free up: the next caller is admitted again.
        p.hash(Zeroizing::new("correct horse".into()))
            .await
            .expect("admitted once the storm is over");
        assert_eq!(p.admitted.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn a_flood_of_new_passwords_leaves_room_for_password_checks() {
        // One worker, four waiting: new passwords may take the worker and
        // two places in the queue; the other two stay for logins.
        let p = Passwords::new(6, 1, 4, Duration::from_secs(30)).expect("hasher");
        // The dummy hash for unknown emails is made in the background
        // first: not during the burst.
        p.dummy_hash().await.expect("dummy hash");
        let hash = p
            .hash(Zeroizing::new("correct horse".into()))
            .await
            .expect("hash");
        let signups = futures_util::future::join_all(
            (0..10).map(|_| p.hash(Zeroizing::new("new password".into()))),
        );
        let logins = futures_util::future::join_all(
            (0..2).map(|_| p.verify(Zeroizing::new("correct horse".into()), Some(hash.clone()))),
        );
        let (signups, logins) = tokio::join!(signups, logins);
        let hashed = signups.iter().filter(|o| o.is_ok()).count();
        assert_eq!(hashed, 3, "{signups:?}");
        assert!(logins.iter().all(|o| matches!(o, Ok(true))), "{logins:?}");
    }

    #[cfg(target_os = "linux")]
    #[tokio::test]
    async fn hashes_run_on_their_own_threads_below_request_handling() {
        let p = hasher();
        let (name, niceness) = p
            .run(Class::Check, || {
                let name = std::thread::current().name().map(str::to_owned);
                let me = rustix::thread::gettid();
                let niceness = rustix::process::getpriority_process(Some(me))
                    .map_err(|e| PasswordError::Hash(e.to_string()))?;
                Ok((name, niceness))
            })
            .await
            .expect("ran");
        assert!(name.is_some_and(|n| n.starts_with("bcrypt-")));
        // At least ours: a test run started nicer (`nice cargo test`)
        // keeps its own niceness when it is not allowed to lower it.
        assert!(niceness >= HASHING_NICENESS, "niceness {niceness}");
    }

    #[test]
    fn the_default_leaves_a_core() {
        let cores = std::thread::available_parallelism().map_or(1, |n| n.get());
        assert_eq!(default_workers(), cores.saturating_sub(1).max(1));
    }

    #[tokio::test]
    async fn right_password_verifies_wrong_one_does_not() {
        let p = hasher();
        let hash = p
            .hash(Zeroizing::new("correct horse".into()))
            .await
            .expect("hash");
        assert!(p
            .verify(Zeroizing::new("correct horse".into()), Some(hash.clone()))
            .await
            .expect("verify"));
        assert!(!p
            .verify(Zeroizing::new("correct horsE".into()), Some(hash))
            .await
            .expect("verify"));
    }

    /// Occupies `p`'s only worker until the returned sender is dropped.
    async fn occupy(p: &Passwords) -> (tokio::task::JoinHandle<()>, std::sync::mpsc::Sender<()>) {
        let (release, released) = std::sync::mpsc::channel::<()>();
        let (started, running) = oneshot::channel();
        let worker = tokio::spawn({
            let p = p.clone();
            async move {
                p.run(Class::Check, move || {
                    let _ = started.send(());
                    let _ = released.recv();
                    Ok(())
                })
                .await
                .expect("ran");
            }
        });
        running.await.expect("the worker took the job");
        (worker, release)
    }

    /// Runs `test` with a one-worker hasher made outside any runtime, so
    /// that no warm-up hash joins its queue, on a runtime of its own.
    fn without_warm_up<F: std::future::Future<Output = ()>>(
        queue: usize,
        wait: Duration,
        test: impl FnOnce(Passwords) -> F,
    ) {
        let passwords = Passwords::new(4, 1, queue, wait).expect("hasher");
        tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("runtime")
            .block_on(test(passwords));
    }

    #[test]
    fn hashes_waiting_for_a_worker_are_counted_until_one_takes_them() {
        without_warm_up(8, Duration::from_secs(30), |passwords| async move {
            let (busy, release) = occupy(&passwords).await;
            let waiting = tokio::spawn({
                let passwords = passwords.clone();
                async move { passwords.hash(Zeroizing::new("a password".into())).await }
            });
            while passwords.queued() == 0 {
                tokio::task::yield_now().await;
            }
            assert_eq!(passwords.queued(), 1);
            drop(release);
            busy.await.expect("task");
            waiting.await.expect("task").expect("hashed");
            assert_eq!(passwords.queued(), 0);
        });
    }

    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_password_check_is_served_before_new_passwords_queued_earlier() {
        let p = Passwords::new(4, 1, 8, Duration::from_secs(30)).expect("hasher");
        p.dummy_hash().await.expect("dummy hash");
        let (busy, release) = occupy(&p).await;
        // Each job notes itself as the worker runs it: the order of the
        // queue, not of the callers waking up afterwards.
        let order = Arc::new(Mutex::new(Vec::new()));
        let job = |class: Class, name: String| {
            let (p, order) = (p.clone(), Arc::clone(&order));
            tokio::spawn(async move {
                p.run(class, move || {
                    order.lock().expect("order").push(name);
                    Ok(())
                })
                .await
                .expect("ran");
            })
        };
        let mut tasks = Vec::new();
        for n in 0..4 {
            tasks.push(job(Class::NewPassword, format!("new password {n}")));
            while p.queued() <= n {
                tokio::task::yield_now().await;
            }
        }
        tasks.push(job(Class::Check, "check".to_owned()));
        while p.queued() < 5 {
            tokio::task::yield_now().await;
        }
        drop(release);
        busy.await.expect("task");
        for task in tasks {
            task.await.expect("task");
        }
        let order = order.lock().expect("order").clone();
        assert_eq!(
            order,
            [
                "check",
                "new password 0",
                "new password 1",
                "new password 2",
                "new password 3"
            ]
        );
    }

    #[tokio::test]
    async fn logins_check_and_signups_hash_in_their_own_classes() {
        // One worker and a queue of two: a check is admitted while fewer
        // than three hashes run or wait, a new password while fewer than two.
        let p = Passwords::new(4, 1, 2, Duration::from_secs(30)).expect("hasher");
        p.dummy_hash().await.expect("dummy hash");
        let hash = p
            .hash(Zeroizing::new("correct horse".into()))
            .await
            .expect("hash");
        let (busy, release) = occupy(&p).await;
        let queued_signup = tokio::spawn({
            let p = p.clone();
            async move { p.hash(Zeroizing::new("new password".into())).await }
        });
        while p.queued() < 1 {
            tokio::task::yield_now().await;
        }
        let second_signup = p.hash(Zeroizing::new("new password".into())).await;
        assert!(
            matches!(second_signup, Err(PasswordError::Busy)),
            "{second_signup:?}"
        );
        let login = tokio::spawn({
            let p = p.clone();
            async move {
                p.verify(Zeroizing::new("correct horse".into()), Some(hash))
                    .await
            }
        });
        while p.queued() < 2 {
            tokio::task::yield_now().await;
        }
        drop(release);
        busy.await.expect("task");
        queued_signup.await.expect("task").expect("hashed");
        assert!(login.await.expect("task").expect("verified"));
    }

    #[test]
    fn a_hash_whose_caller_stopped_waiting_is_withdrawn_unrun() {
        // No warm-up hash queues ahead of the job that occupies the worker.
        without_warm_up(2, Duration::from_millis(300), withdrawn_unrun);
    }

    async fn withdrawn_unrun(p: Passwords) {
        let (busy, release) = occupy(&p).await;
        let ran = Arc::new(AtomicUsize::new(0));
        // The wait runs out while the worker is busy: told to retry.
        let outcome = p
            .run(Class::NewPassword, {
                let ran = Arc::clone(&ran);
                move || {
                    ran.fetch_add(1, Ordering::SeqCst);
                    Ok(())
                }
            })
            .await;
        assert!(matches!(outcome, Err(PasswordError::Busy)), "{outcome:?}");
        // A caller dropped while queued (its request went away).
        let dropped = tokio::time::timeout(Duration::from_millis(20), {
            let ran = Arc::clone(&ran);
            p.run(Class::Check, move || {
                ran.fetch_add(1, Ordering::SeqCst);
                Ok(())
            })
        })
        .await;
        assert!(dropped.is_err(), "still queued when dropped");
        assert_eq!((p.queued(), p.admitted.load(Ordering::Acquire)), (0, 1));
        drop(release);
        busy.await.expect("task");
        p.hash(Zeroizing::new("a password".into()))
            .await
            .expect("the worker is free again");
        assert_eq!(ran.load(Ordering::SeqCst), 0, "withdrawn hashes never ran");
        assert_eq!(p.admitted.load(Ordering::Acquire), 0);
    }

    #[tokio::test]
    async fn unknown_account_never_verifies_even_with_the_dummy_password() {
        let p = hasher();
        let ok = p
            .verify(
                Zeroizing::new("dummy password for unknown accounts".into()),
                None,
            )
            .await
            .expect("verify");
        assert!(!ok);
    }

    #[tokio::test]
    async fn a_72_byte_prefix_does_not_log_in_as_a_longer_password() {
        let p = hasher();
        let long = "a".repeat(73);
        assert!(validate_password(&long).is_err());
        let hash = p.hash(Zeroizing::new("a".repeat(72))).await.expect("hash");
        assert!(!p
            .verify(Zeroizing::new(long), Some(hash))
            .await
            .expect("verify"));
    }

    #[tokio::test]
    async fn a_nul_byte_does_not_cut_a_password_short() {
        let p = hasher();
        let prefix = "a".repeat(71);
        let with_nul = format!("{prefix}\0");
        assert!(validate_password(&with_nul).is_err(), "refused at signup");
        // A hash of the prefix (bcrypt reads up to the NUL) never matches
        // the password that carries the NUL, nor the other way round.
        let hash = p.hash(Zeroizing::new(prefix.clone())).await.expect("hash");
        assert!(!p
            .verify(Zeroizing::new(with_nul), Some(hash))
            .await
            .expect("verify"));
        for control in ["eight ch\n", "eight\tch", "\u{7f}eight ch"] {
            assert!(validate_password(control).is_err(), "{control:?}");
        }
    }

    #[test]
    fn password_rules() {
        assert!(validate_password("short").is_err());
        assert!(validate_password("eight ch").is_ok());
        assert!(validate_password(&"é".repeat(36)).is_ok()); // 72 bytes
        assert!(validate_password(&"é".repeat(37)).is_err()); // 74 bytes
    }
}
