//! Batched TUN I/O on io_uring: a multishot read per queue into a provided-buffer ring, and
//! every write of a batch in one `io_uring_enter`.
//!
//! - **Reads** (`IORING_OP_READ_MULTISHOT`, Linux 6.7+; TUN is pollable and takes nowait I/O
//!   since 6.4): one armed read per queue posts one completion per packet into a buffer the
//!   kernel picks from the queue's provided-buffer ring. A batch reaps up to [`BATCH`]
//!   completions without a syscall and hands each buffer to the worker by swapping it with the
//!   worker's frame, whose buffer goes back into the ring in its place: no copy. Waiting is one
//!   `io_uring_enter` with a timeout (which also runs the completions' task work).
//! - **Writes**: the frames of a batch for one egress port, each its own `IORING_OP_WRITE`,
//!   submitted and waited for with one `io_uring_enter` on the worker thread's own ring (a
//!   thread-local ring: no lock between the workers that write to one port).
//!
//! [`select`] probes once at start-up (a ring, the opcodes, a buffer ring) and chooses the
//! path; a kernel without them, or any failure later on a queue, runs the plain `read`/`write`
//! loop ([`super::port::Port`]'s default batch methods) instead.
//!
//! `unsafe` here is what the io_uring API requires: submission entries point at buffers the
//! kernel reads or fills later, and the buffer ring is memory shared with the kernel. Each
//! block says why the memory stays valid.

use super::port::{FRAME_LEN, Frame, MAX_PACKET, Out, RxMeta};
use super::tun::VnetHdr;
use super::worker::BATCH;
use io_uring::types::{BufRingEntry, Fd, SubmitArgs, Timespec};
use io_uring::{IoUring, cqueue, opcode};
use std::cell::RefCell;
use std::io;
use std::os::fd::RawFd;
use std::sync::Mutex;
use std::sync::atomic::{AtomicBool, AtomicU8, AtomicU16, Ordering};
use std::time::Duration;

/// Which I/O path the TUN ports run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum IoMode {
    /// io_uring: multishot reads, batched writes (where the kernel has them).
    Uring,
    /// One `read` and one `write` syscall per packet, a `poll` per batch.
    Plain,
}

/// 0: not chosen (plain), 1: plain, 2: uring.
static MODE: AtomicU8 = AtomicU8::new(0);

/// Buffers in each queue's provided-buffer ring (a power of two, more than a batch).
const RING_BUFS: u16 = 128;
/// The buffer group of every queue's ring (each queue has its own io_uring).
const BGID: u16 = 0;
/// `user_data` of the multishot read's completions.
const RX: u64 = u64::MAX;

/// Whether the TUN ports use io_uring (after [`select`]).
pub fn enabled() -> bool {
    MODE.load(Ordering::Relaxed) == 2
}

/// Chooses the I/O path: `want` (`None`: io_uring where the probe succeeds). Returns the path
/// chosen and, when io_uring was wanted but cannot run, why.
pub fn select(want: Option<IoMode>) -> (IoMode, Option<String>) {
    let (mode, why) = match want {
        Some(IoMode::Plain) => (IoMode::Plain, None),
        _ => match probe() {
            Ok(()) => (IoMode::Uring, None),
            Err(e) => (IoMode::Plain, Some(e)),
        },
    };
    let v = if mode == IoMode::Uring { 2 } else { 1 };
    MODE.store(v, Ordering::Relaxed);
    (mode, why)
}

/// Whether this kernel (and its seccomp/sysctl policy) runs what the io_uring path needs: a
/// ring, `READ_MULTISHOT` and `WRITE`, and a registered buffer ring.
pub fn probe() -> Result<(), String> {
    let ring = IoUring::new(8).map_err(|e| format!("io_uring_setup: {e}"))?;
    let mut p = io_uring::Probe::new();
    ring.submitter()
        .register_probe(&mut p)
        .map_err(|e| format!("io_uring probe: {e}"))?;
    if !p.is_supported(opcode::ReadMulti::CODE) {
        return Err("no IORING_OP_READ_MULTISHOT (Linux 6.7+)".into());
    }
    if !p.is_supported(opcode::Write::CODE) {
        return Err("no IORING_OP_WRITE".into());
    }
    let mut br = BufRing::new(&ring, 8).map_err(|e| format!("provided-buffer ring: {e}"))?;
    if ring.submitter().unregister_buf_ring(BGID).is_ok() {
        br.unmap();
    }
    Ok(())
}

/// Page-aligned memory shared with the kernel as a provided-buffer ring.
struct BufRing {
    base: *mut BufRingEntry,
    entries: u16,
    /// Our tail (the kernel reads it from the ring's first entry).
    tail: u16,
}

impl BufRing {
    fn new(ring: &IoUring, entries: u16) -> io::Result<BufRing> {
        let bytes = usize::from(entries) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: an anonymous private mapping with no address hint; checked for failure.
        let p = unsafe {
            libc::mmap(
                std::ptr::null_mut(),
                bytes,
                libc::PROT_READ | libc::PROT_WRITE,
                libc::MAP_PRIVATE | libc::MAP_ANONYMOUS | libc::MAP_POPULATE,
                -1,
                0,
            )
        };
        if p == libc::MAP_FAILED {
            return Err(io::Error::last_os_error());
        }
        let base = p.cast::<BufRingEntry>();
        // SAFETY: `base` is a mapping of `entries` entries that lives until `unmap`, which runs
        // only after the ring is unregistered or its io_uring is gone (see `RxRing`'s Drop).
        if let Err(e) = unsafe {
            ring.submitter()
                .register_buf_ring_with_flags(p as u64, entries, BGID, 0)
        } {
            // SAFETY: the mapping made above, not registered.
            unsafe { libc::munmap(p, bytes) };
            return Err(e);
        }
        Ok(BufRing {
            base,
            entries,
            tail: 0,
        })
    }

    /// Puts `buf` into the ring as buffer `bid` (visible to the kernel at the next `publish`).
    fn push(&mut self, buf: &mut [u8], len: usize, bid: u16) {
        let i = usize::from(self.tail & (self.entries - 1));
        // SAFETY: `i` < entries, inside the mapping; the kernel only reads entries between
        // its head and our published tail, and this one is past the tail until `publish`.
        let e = unsafe { &mut *self.base.add(i) };
        e.set_addr(buf.as_mut_ptr() as u64);
        e.set_len(len as u32);
        e.set_bid(bid);
        self.tail = self.tail.wrapping_add(1);
    }

    /// Makes every pushed entry visible to the kernel.
    fn publish(&self) {
        // SAFETY: the tail field lives in the first entry of the mapping, 2-byte aligned; the
        // kernel reads it with acquire ordering, so a release store publishes the entries.
        let tail = unsafe { &*(BufRingEntry::tail(self.base) as *const AtomicU16) };
        tail.store(self.tail, Ordering::Release);
    }

    fn unmap(&mut self) {
        let bytes = usize::from(self.entries) * std::mem::size_of::<BufRingEntry>();
        // SAFETY: the mapping made in `new`, no longer registered with any live ring.
        unsafe { libc::munmap(self.base.cast(), bytes) };
    }
}

/// A queue's receive side: its io_uring, the multishot read, the provided buffers.
struct RxRing {
    ring: IoUring,
    br: BufRing,
    /// The buffers the kernel may fill, by buffer id.
    bufs: Vec<Frame>,
    /// The multishot read is armed (a completion without `MORE` disarms it).
    armed: bool,
}

// SAFETY: `BufRing`'s raw pointer is to a mapping owned by this value alone; the value is only
// used under the queue's mutex.
unsafe impl Send for RxRing {}

impl RxRing {
    fn new(hdr: usize) -> io::Result<RxRing> {
        let ring = IoUring::builder()
            .setup_coop_taskrun()
            .setup_taskrun_flag()
            .build(u32::from(RING_BUFS) * 2)
            .or_else(|_| IoUring::new(u32::from(RING_BUFS) * 2))?;
        let mut br = BufRing::new(&ring, RING_BUFS)?;
        let mut bufs: Vec<Frame> = (0..RING_BUFS).map(|_| super::port::frame()).collect();
        for (bid, b) in bufs.iter_mut().enumerate() {
            br.push(b, hdr + MAX_PACKET, bid as u16);
        }
        br.publish();
        Ok(RxRing {
            ring,
            br,
            bufs,
            armed: false,
        })
    }

    fn arm(&mut self, fd: RawFd) -> io::Result<()> {
        if self.armed {
            return Ok(());
        }
        let e = opcode::ReadMulti::new(Fd(fd), 0, BGID)
            .build()
            .user_data(RX);
        // SAFETY: the read fills only provided buffers of group BGID, which live in
        // `self.bufs` (or, swapped, in a worker's frames, which are handed back before the
        // kernel can pick them again: a buffer is in the ring only while we own it here).
        unsafe { self.ring.submission().push(&e) }
            .map_err(|_| io::Error::other("submission queue full"))?;
        self.ring.submit()?;
        self.armed = true;
        Ok(())
    }
}

impl Drop for RxRing {
    fn drop(&mut self) {
        // Cancel the read and wait for its last completion, so that the kernel holds no buffer
        // when they are freed; if that cannot be confirmed, leak them rather than free memory
        // the kernel may still write.
        let mut quiet = !self.armed;
        if self.armed {
            let c = opcode::AsyncCancel::new(RX).build().user_data(RX - 1);
            // SAFETY: a cancel entry refers to no memory.
            if unsafe { self.ring.submission().push(&c) }.is_ok() {
                for _ in 0..100 {
                    let ts = Timespec::from(Duration::from_millis(10));
                    let _ = self
                        .ring
                        .submitter()
                        .submit_with_args(1, &SubmitArgs::new().timespec(&ts));
                    for cqe in self.ring.completion() {
                        if cqe.user_data() == RX && !cqueue::more(cqe.flags()) {
                            quiet = true;
                        }
                    }
                    if quiet {
                        break;
                    }
                }
            }
        }
        if quiet && self.ring.submitter().unregister_buf_ring(BGID).is_ok() {
            self.br.unmap();
        } else {
            for b in self.bufs.drain(..) {
                std::mem::forget(b);
            }
        }
    }
}

/// The receive side of a TUN queue on the io_uring path, made by the first worker that uses it.
#[derive(Default)]
pub struct RxQueue {
    ring: Mutex<Option<RxRing>>,
    /// Setting up or running the ring failed: this queue runs the plain loop.
    pub failed: AtomicBool,
}

impl RxQueue {
    fn with<T>(&self, hdr: usize, f: impl FnOnce(&mut RxRing) -> io::Result<T>) -> Option<T> {
        let mut g = self.ring.lock().unwrap_or_else(|e| e.into_inner());
        if g.is_none() {
            match RxRing::new(hdr) {
                Ok(r) => *g = Some(r),
                Err(e) => {
                    tracing::warn!("io_uring receive ring: {e}; this queue runs read/write");
                    self.failed.store(true, Ordering::Relaxed);
                    return None;
                }
            }
        }
        let r = g.as_mut()?;
        match f(r) {
            Ok(v) => Some(v),
            Err(e) => {
                tracing::warn!("io_uring on a TUN queue: {e}; this queue runs read/write");
                self.failed.store(true, Ordering::Relaxed);
                *g = None;
                None
            }
        }
    }

    /// Waits up to `timeout` for a packet on `fd`; `None` when the ring failed (use `poll`).
    pub fn wait(&self, fd: RawFd, hdr: usize, timeout: Duration) -> Option<bool> {
        self.with(hdr, |r| {
            r.arm(fd)?;
            let mut cq = r.ring.completion();
            cq.sync();
            if !cq.is_empty() {
                return Ok(true);
            }
            drop(cq);
            let ts = Timespec::from(timeout);
            match r
                .ring
                .submitter()
                .submit_with_args(1, &SubmitArgs::new().timespec(&ts))
            {
                Ok(_) => {}
                Err(e) if matches!(e.raw_os_error(), Some(libc::ETIME | libc::EINTR)) => {}
                Err(e) => return Err(e),
            }
            Ok(!r.ring.completion().is_empty())
        })
    }

    /// Reads up to `frames.len()` packets from the completions ready now (see the module
    /// doc); `None` when the ring failed.
    pub fn recv_batch(
        &self,
        fd: RawFd,
        hdr: usize,
        vnet: bool,
        frames: &mut [Frame],
        metas: &mut [RxMeta],
    ) -> Option<usize> {
        self.with(hdr, |r| {
            let want = frames.len().min(metas.len());
            let mut n = 0;
            let mut ran_tasks = false;
            loop {
                let mut provided = false;
                let mut cq = r.ring.completion();
                while n < want {
                    let Some(cqe) = cq.next() else { break };
                    if cqe.user_data() != RX {
                        continue;
                    }
                    if !cqueue::more(cqe.flags()) {
                        r.armed = false;
                    }
                    let res = cqe.result();
                    let Some(bid) = cqueue::buffer_select(cqe.flags()) else {
                        // No buffer: an error (ENOBUFS when the ring ran dry, EAGAIN); the read
                        // is re-armed at the next wait.
                        if res < 0 && !matches!(-res, libc::ENOBUFS | libc::EAGAIN | libc::EINTR) {
                            return Err(io::Error::from_raw_os_error(-res));
                        }
                        continue;
                    };
                    let bid_i = usize::from(bid);
                    if bid_i >= r.bufs.len() {
                        continue;
                    }
                    // The kernel is done with buffer `bid`: it becomes the worker's frame and
                    // the worker's frame takes its place in the ring.
                    std::mem::swap(&mut frames[n], &mut r.bufs[bid_i]);
                    debug_assert_eq!(r.bufs[bid_i].len(), FRAME_LEN);
                    r.br.push(&mut r.bufs[bid_i], hdr + MAX_PACKET, bid);
                    provided = true;
                    let len = res.max(0) as usize;
                    if len <= hdr {
                        continue;
                    }
                    metas[n] = VnetHdr::frame_meta(vnet, &frames[n], len - hdr);
                    n += 1;
                }
                drop(cq);
                if provided {
                    r.br.publish();
                }
                // Completions whose task work has not run yet: one enter runs it, once.
                if n < want && !ran_tasks && r.ring.submission().taskrun() {
                    ran_tasks = true;
                    r.ring.submitter().submit_and_wait(0)?;
                    continue;
                }
                break;
            }
            if !r.armed {
                r.arm(fd)?;
            }
            Ok(n)
        })
    }
}

thread_local! {
    /// The worker thread's ring for writes (created on its first batch).
    static TX: RefCell<Option<IoUring>> = const { RefCell::new(None) };
}

/// Writes the frames `outs` names to `fd`, in order, with one `io_uring_enter` (a batch of more
/// than the ring holds takes more), calling `done` for each. False when io_uring cannot be used
/// on this thread (nothing was written: the caller writes them itself).
pub fn send_batch(
    fd: RawFd,
    vnet: bool,
    frames: &mut [Frame],
    outs: &[Out],
    done: &mut dyn FnMut(&Out, bool),
) -> bool {
    TX.with(|t| {
        let mut t = t.borrow_mut();
        if t.is_none() {
            match IoUring::builder()
                .setup_coop_taskrun()
                .build(BATCH as u32)
                .or_else(|_| IoUring::new(BATCH as u32))
            {
                Ok(r) => *t = Some(r),
                Err(e) => {
                    tracing::warn!("io_uring write ring: {e}; this worker writes one by one");
                    return false;
                }
            }
        }
        let Some(ring) = t.as_mut() else {
            return false;
        };
        let mut broken = false;
        for chunk in outs.chunks(BATCH) {
            let mut queued = 0;
            for (i, o) in chunk.iter().enumerate() {
                let f = &mut frames[o.slot][..o.len];
                VnetHdr::frame_tx(vnet, f, o.tx);
                let e = opcode::Write::new(Fd(fd), f.as_ptr(), o.len as u32)
                    .build()
                    .user_data(i as u64);
                // SAFETY: the entry points into `frames`, which this call borrows mutably and
                // does not return before every entry queued here has completed (below).
                if unsafe { ring.submission().push(&e) }.is_err() {
                    break;
                }
                queued += 1;
            }
            let mut left = queued;
            let mut results = [false; BATCH];
            while left > 0 {
                match ring.submit_and_wait(left) {
                    Ok(_) => {}
                    Err(e) if matches!(e.raw_os_error(), Some(libc::EINTR | libc::EBUSY)) => {}
                    Err(e) => {
                        // The entries may be queued still: they must not outlive this call.
                        // Drop the ring (its teardown cancels them) after waiting a moment for
                        // the in-flight ones.
                        tracing::warn!("io_uring write: {e}");
                        std::thread::sleep(Duration::from_millis(10));
                        break;
                    }
                }
                for cqe in ring.completion() {
                    let i = cqe.user_data() as usize;
                    if let (Some(r), Some(o)) = (results.get_mut(i), chunk.get(i)) {
                        *r = cqe.result() == o.len as i32;
                        left -= 1;
                    }
                }
            }
            if left > 0 {
                broken = true;
                for (i, o) in chunk.iter().enumerate() {
                    done(o, i < queued && results[i]);
                }
                break;
            }
            for (i, o) in chunk.iter().enumerate() {
                if i < queued {
                    done(o, results[i]);
                } else {
                    // The ring had no room (it holds a batch; not expected): write it plainly.
                    let f = &frames[o.slot][..o.len];
                    // SAFETY: a plain write of a buffer we hold.
                    let r = unsafe { libc::write(fd, f.as_ptr().cast(), f.len()) };
                    done(o, r == o.len as isize);
                }
            }
        }
        if broken {
            *t = None;
        }
        true
    })
}
