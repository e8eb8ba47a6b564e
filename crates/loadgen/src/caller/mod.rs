//! WHAT one call is: the protocol plug-in.
//!
//! A [`Caller`] builds the request for load *i*, performs it, and checks the response into
//! an outcome — the book's `BuildReq` / `Call` / `CheckResp` trio. The engine owns
//! everything else: when to call, how many at once, the timeout, the recording. One caller
//! is made per shard (a single-threaded runtime) by a [`CallerFactory`], so a caller may
//! keep `Rc`/`RefCell` state such as its connections without any lock.

use std::future::Future;
use std::time::Instant;

use crate::outcome::Failure;

pub mod data;
pub mod dist;
pub mod pool;
pub mod reads;
pub mod template;

/// One target of a run, as named in reports.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Target {
    /// The target as the user wrote it (a URL).
    pub name: String,
    /// Share of the loads, relative to the other targets' weights (≥ 1).
    pub weight: u32,
}

/// One load as the caller sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Load {
    /// Global index of the load in the run's schedule (unique across shards).
    pub index: u64,
    /// Index of the target this load goes to (0 when there is one target).
    pub target: usize,
}

/// A protocol plug-in. See `examples/custom_caller.rs` for a complete one.
///
/// The engine cancels a call by dropping its future when the call timeout passes (the
/// load becomes `timeout`), or when the stop grace period runs out (`cancelled`). A panic
/// in any of the three methods makes the load `fatal` and the run goes on.
pub trait Caller: 'static {
    /// What [`Caller::build`] produces and [`Caller::call`] sends.
    type Request;
    /// What [`Caller::call`] receives and [`Caller::check`] inspects.
    type Response;

    /// Builds the request for `load`.
    fn build(&self, load: Load) -> Self::Request;

    /// Performs the call. `deadline` is when the engine will cancel it; a caller may pass
    /// it on (to a socket option, say) but need not enforce it.
    fn call(
        &self,
        request: &Self::Request,
        deadline: Instant,
    ) -> impl Future<Output = Result<Self::Response, Failure>>;

    /// Checks a response: `Ok(())` is a success, an `Err` names the failure class
    /// (`response_error` for a wrong answer, `callee_error` for an error of the target).
    fn check(
        &self,
        load: Load,
        request: &Self::Request,
        response: &Self::Response,
    ) -> Result<(), Failure>;

    /// How many calls this caller can usefully run at once (its connections × streams
    /// per connection, say); `None` when it has no limit of its own. The engine never runs
    /// more calls at once than this, so loads beyond it wait in the dispatcher as a
    /// count — and expire as `dropped` — instead of piling up as tasks waiting for a
    /// connection.
    fn capacity(&self) -> Option<u64> {
        None
    }

    /// How many calls to target `target` this caller can run at once, when each target
    /// has connections of its own (and a load goes to its target's). With every target's
    /// given, the engine keeps the backlog per target and hands a load to a worker only
    /// when its target has room: a slow target's loads wait (and expire) on their own,
    /// never holding a worker that another target's load could use, and no call waits
    /// for a connection. `None` (the default): no per-target limit.
    fn capacity_of(&self, target: usize) -> Option<u64> {
        let _ = target;
        None
    }

    /// When `response` arrived, if the caller knows it better than the moment the engine
    /// sees the call end — the kernel's receive timestamp of its last byte (see
    /// [`crate::protocol::net`]). The engine takes it as the completion time (at most the moment it saw the call
    /// end; one before the send — a wall clock stepped between stamp and read — is not
    /// believed, and the moment the engine saw the call end counts), and a response that
    /// arrived before the deadline is in time even if it was read after it.
    fn arrival(&self, response: &Self::Response) -> Option<Instant> {
        let _ = response;
        None
    }

    /// True when every response carries its [`arrival`](Caller::arrival). The engine may
    /// then sleep between pacing ticks without waking for each response, and read the
    /// responses in a batch at the next tick: one wake-up per tick instead of one per
    /// response, with latency unchanged.
    fn stamps_arrivals(&self) -> bool {
        false
    }

    /// The report row (target index) a built request belongs to, when the caller chose
    /// what to send itself — a request from a targets file — rather than by the load's
    /// `target`. `None` (the default): the load's target.
    fn report_target(&self, request: &Self::Request) -> Option<usize> {
        let _ = request;
        None
    }

    /// Copies what the caller records beside the engine — the steps of journeys — into
    /// `out`; false when it records nothing of its own (the default). The engine calls it
    /// when a generator thread ends, and a few times a second for the live view.
    fn journeys_into(&self, out: &mut crate::record::JourneyAgg) -> bool {
        let _ = out;
        false
    }

    /// Adds how long the connections it opened took to open (µs: TCP, TLS, and a
    /// protocol's own handshake) to `out`; nothing by default. The engine calls it when a
    /// generator thread ends; reports show it apart from the loads' latency.
    fn connects_into(&self, out: &mut crate::record::hist::Hist) {
        let _ = out;
    }

    /// The class of an answer's status, 1 to 5 (HTTP's 1xx..5xx), for the live
    /// `status_class` series; `None` (the default) when the protocol has none.
    fn status_class(&self, response: &Self::Response) -> Option<u8> {
        let _ = response;
        None
    }

    /// Connections it holds open now (idle or busy); `None` (the default) when it does not
    /// say. The live view reads it a few times a second.
    fn connections_open(&self) -> Option<u64> {
        None
    }
}

/// What a shard's caller is told about its share of the run.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ThreadContext {
    /// This shard's index, 0-based.
    pub index: usize,
    /// Number of shards (threads) in this process.
    pub count: usize,
    /// Slots (concurrent calls) this shard may have in flight.
    pub slots: u64,
}

impl ThreadContext {
    /// This shard's share of a process-wide `total` (e.g. connections), at least 1:
    /// `total / count`, plus one for the first `total % count` shards.
    pub fn share(&self, total: u64) -> u64 {
        share(total, self.count, self.index)
    }
}

/// Part `index` of `count` of a `total` (e.g. connections or slots over the shards of a
/// run), at least 1: `total / count`, plus one for the first `total % count` parts.
pub fn share(total: u64, count: usize, index: usize) -> u64 {
    split(total, count, index).max(1)
}

/// Shard `index`'s part of `total` split over `count` shards.
pub(crate) fn split(total: u64, count: usize, index: usize) -> u64 {
    let count = count as u64;
    total / count + u64::from((index as u64) < total % count)
}

/// Makes one [`Caller`] per shard. Implemented for every
/// `Fn(&ThreadContext) -> C + Send + Sync`.
pub trait CallerFactory: Send + Sync + 'static {
    /// The caller type made.
    type Caller: Caller;
    /// Makes the caller of one shard; runs on that shard's thread.
    fn make(&self, shard: &ThreadContext) -> Self::Caller;
}

impl<C: Caller, F: Fn(&ThreadContext) -> C + Send + Sync + 'static> CallerFactory for F {
    type Caller = C;
    fn make(&self, shard: &ThreadContext) -> C {
        self(shard)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_add_up() {
        for total in [1u64, 2, 7, 51, 100] {
            for count in 1..5usize {
                let sum: u64 = (0..count).map(|i| split(total, count, i)).sum();
                assert_eq!(sum, total);
            }
        }
        let c = ThreadContext {
            index: 1,
            count: 2,
            slots: 1,
        };
        assert_eq!(c.share(1), 1); // never zero
    }
}
