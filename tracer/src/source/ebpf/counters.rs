//! The programs' per-CPU counters, summed over CPUs, and the `loss` records
//! derived from them.

use aya::maps::{Map, MapData, PerCpuArray};
use tracer_common::kind::Counter;

use super::EbpfError;
use crate::event::{Body, Event, Loss, LossCause, Source, Timestamp};

#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Totals {
    pub sent: u64,
    pub ringbuf_full: u64,
    pub ringbuf_full_exit: u64,
    pub read_errors: u64,
    pub inflight_full: u64,
    pub filtered: u64,
    pub filtered_exit: u64,
}

pub struct Counters {
    map: PerCpuArray<MapData, u64>,
    reported: [u64; 3],
    last: Timestamp,
}

impl Counters {
    pub fn new(map: Map) -> Result<Self, EbpfError> {
        let map = PerCpuArray::try_from(map).map_err(|source| EbpfError::Map {
            name: "COUNTERS",
            source,
        })?;
        Ok(Self {
            map,
            reported: [0; 3],
            last: Timestamp::now(),
        })
    }

    fn sum(&self, c: Counter) -> u64 {
        self.map
            .get(&(c as u32), 0)
            .map(|v| v.iter().sum())
            .unwrap_or(0)
    }

    pub fn totals(&self) -> Totals {
        Totals {
            sent: self.sum(Counter::Sent),
            ringbuf_full: self.sum(Counter::RingbufFull),
            ringbuf_full_exit: self.sum(Counter::RingbufFullExit),
            read_errors: self.sum(Counter::ReadError),
            inflight_full: self.sum(Counter::InflightFull),
            filtered: self.sum(Counter::Filtered),
            filtered_exit: self.sum(Counter::FilteredExit),
        }
    }

    /// A `loss` record for losses counted since the previous call, if any.
    /// `count` is how many records never reached userspace; `detail` splits
    /// them by cause.
    pub fn loss_event(&mut self, host: &str) -> Option<Event> {
        let now = Timestamp::now();
        let seen = [
            self.sum(Counter::RingbufFull),
            self.sum(Counter::RingbufFullExit),
            self.sum(Counter::InflightFull),
        ];
        let mut delta = [0u64; 3];
        for i in 0..3 {
            delta[i] = seen[i].saturating_sub(self.reported[i]);
        }
        let from = self.last;
        self.last = now;
        if delta == [0; 3] {
            return None;
        }
        self.reported = seen;
        // `execs` counts lost exec and exec_failed records (what a
        // cross-check against an exec count needs); `exits` lost exit
        // records; `exec_failed_unseen` failed execs that could not be tracked.
        let cause = if delta[2] > 0 && delta[0] + delta[1] == 0 {
            LossCause::InflightMapFull
        } else {
            LossCause::RingBufferFull
        };
        let e = Event::new(
            Source::Ebpf,
            now,
            host,
            Body::Loss(Loss {
                count: Some(delta.iter().sum()),
                cause,
                from: Some(from),
                until: Some(now),
                execs: Some(delta[0]),
                exits: Some(delta[1]),
                exec_failed_unseen: Some(delta[2]),
                file: None,
            }),
        );
        Some(e)
    }
}
