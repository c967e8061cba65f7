//! fsync(2) off the capture thread, for `flush = "incremental"` (auditd's
//! `incremental_async`): the main loop asks, a helper thread syncs a duplicate
//! of the file descriptor. Requests made while a sync runs are merged into it
//! being followed by the next one, so the disk's latency never stalls reading
//! the ring buffer. `data` and `sync` modes stay synchronous: they promise that
//! a batch is on disk before the next one is read.

use std::fs::File;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::mpsc::{sync_channel, SyncSender};
use std::sync::Arc;

pub struct Syncer {
    tx: SyncSender<File>,
    busy: Arc<AtomicBool>,
}

impl Syncer {
    pub fn start() -> Syncer {
        let (tx, rx) = sync_channel::<File>(1);
        let busy = Arc::new(AtomicBool::new(false));
        let b = busy.clone();
        std::thread::Builder::new()
            .name("tracer-fsync".into())
            .spawn(move || {
                // fsync needs no capability: this thread keeps none.
                if let Err(e) = crate::caps::keep_only(&[]) {
                    log::debug!("fsync thread: dropping capabilities: {e}");
                }
                for f in rx {
                    if let Err(e) = f.sync_all() {
                        log::warn!("fsync of the log: {e}");
                    }
                    b.store(false, Ordering::Release);
                }
            })
            .expect("spawning the fsync thread");
        Syncer { tx, busy }
    }

    /// Asks for `f` to be synced; a no-op when a sync is already running.
    pub fn request(&self, f: &File) {
        if self.busy.swap(true, Ordering::AcqRel) {
            return;
        }
        let sent = f.try_clone().is_ok_and(|d| self.tx.try_send(d).is_ok());
        if !sent {
            self.busy.store(false, Ordering::Release);
        }
    }
}
