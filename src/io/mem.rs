//! An in-memory port: queues of frames in place of a TUN device, so that tests without root
//! drive the real worker loop. A test pushes frames (and batch boundaries, and calls to run
//! between two reads) into a queue, the worker reads them as it would read a device, and what
//! the worker sends is kept for the test to take.
//!
//! With a headroom of [`VNET_HDR_LEN`] it behaves as an offload device: each frame starts with
//! a virtio-net header, read and written exactly as [`super::tun::TunPort`] does (the same
//! [`VnetHdr`] code).

use super::port::{Port, RxMeta, Tx};
use super::tun::{VNET_HDR_LEN, VnetHdr};
use std::collections::VecDeque;
use std::io;
use std::sync::{Condvar, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// What a queue holds for its reader.
pub enum Item {
    /// A frame: headroom, then the IP packet.
    Frame(Vec<u8>),
    /// The queue reads as empty here: the worker's batch ends (a device drained for now).
    EndBatch,
    /// Runs when the reader reaches it, between two reads of one batch (e.g. a reload).
    Call(Box<dyn FnOnce() + Send>),
}

#[derive(Default)]
struct Queue {
    rx: VecDeque<Item>,
    /// The reader waits on an empty queue: everything it read before is handled.
    idle: bool,
    sent: Vec<Vec<u8>>,
}

/// A port of in-memory queues.
pub struct MemPort {
    headroom: usize,
    /// Segmentation offloads it claims on writes (USO, TSO), so the worker coalesces for it.
    segmenting: (bool, bool),
    queues: Box<[(Mutex<Queue>, Condvar)]>,
}

impl MemPort {
    /// A port with `queues` queues (at least 1) whose frames carry `headroom` bytes before the
    /// packet: 0 (plain) or [`VNET_HDR_LEN`] (offload, a virtio-net header).
    pub fn new(queues: usize, headroom: usize) -> MemPort {
        assert!(headroom == 0 || headroom == VNET_HDR_LEN);
        MemPort {
            headroom,
            segmenting: (false, false),
            queues: (0..queues.max(1))
                .map(|_| (Mutex::new(Queue::default()), Condvar::new()))
                .collect(),
        }
    }

    /// The port claims UDP (USO) and TCP (TSO) segmentation on writes, as an offload TUN
    /// device does: the worker then coalesces what it sends here. Needs the virtio-net headroom.
    pub fn segmenting(mut self, udp: bool, tcp: bool) -> MemPort {
        assert!(self.headroom == VNET_HDR_LEN || !(udp || tcp));
        self.segmenting = (udp, tcp);
        self
    }

    fn q(&self, q: usize) -> (MutexGuard<'_, Queue>, &Condvar) {
        let (m, cv) = &self.queues[q % self.queues.len()];
        (m.lock().unwrap_or_else(|e| e.into_inner()), cv)
    }

    fn push_item(&self, q: usize, item: Item) {
        let (mut g, cv) = self.q(q);
        g.rx.push_back(item);
        g.idle = false;
        cv.notify_all();
    }

    /// Queues a frame (headroom, then the IP packet) for the worker of queue `q`.
    pub fn push(&self, q: usize, frame: Vec<u8>) {
        self.push_item(q, Item::Frame(frame));
    }

    /// Queues an IP packet with an empty header (no offload) in front.
    pub fn push_packet(&self, q: usize, pkt: &[u8]) {
        self.push_with(q, VnetHdr::default(), pkt);
    }

    /// Queues an IP packet behind virtio-net header `h` (or bare, on a plain port).
    pub fn push_with(&self, q: usize, h: VnetHdr, pkt: &[u8]) {
        let mut f = vec![0u8; self.headroom];
        h.write(&mut f);
        f.extend_from_slice(pkt);
        self.push(q, f);
    }

    /// Queues IP packets (each behind virtio-net header `h`, or bare) and the end of a batch,
    /// all at once: the worker reads them as one batch (up to its batch size).
    pub fn push_batch(&self, q: usize, h: VnetHdr, pkts: &[&[u8]]) {
        let (mut g, cv) = self.q(q);
        for p in pkts {
            let mut f = vec![0u8; self.headroom];
            h.write(&mut f);
            f.extend_from_slice(p);
            g.rx.push_back(Item::Frame(f));
        }
        g.rx.push_back(Item::EndBatch);
        g.idle = false;
        cv.notify_all();
    }

    /// Ends the worker's batch here.
    pub fn end_batch(&self, q: usize) {
        self.push_item(q, Item::EndBatch);
    }

    /// Runs `f` when the worker reaches this point of queue `q`.
    pub fn call(&self, q: usize, f: impl FnOnce() + Send + 'static) {
        self.push_item(q, Item::Call(Box::new(f)));
    }

    /// Takes the frames sent to queue `q` so far, in order.
    pub fn sent(&self, q: usize) -> Vec<Vec<u8>> {
        std::mem::take(&mut self.q(q).0.sent)
    }

    /// Waits (up to `timeout`) until the worker of queue `q` has read everything queued and
    /// is waiting again, so every packet it read is decided and sent. False on timeout.
    pub fn settle(&self, q: usize, timeout: Duration) -> bool {
        let deadline = Instant::now() + timeout;
        let (mut g, cv) = self.q(q);
        while !(g.rx.is_empty() && g.idle) {
            let left = deadline.saturating_duration_since(Instant::now());
            if left.is_zero() {
                return false;
            }
            g = cv
                .wait_timeout(g, left)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        true
    }

    /// Wakes a waiting reader (so that it sees a shutdown at once).
    pub fn wake(&self) {
        for (_, cv) in self.queues.iter() {
            cv.notify_all();
        }
    }
}

impl Port for MemPort {
    fn queues(&self) -> usize {
        self.queues.len()
    }

    fn headroom(&self) -> usize {
        self.headroom
    }

    fn wait(&self, q: usize, timeout: Duration) -> io::Result<bool> {
        let (mut g, cv) = self.q(q);
        if g.rx.is_empty() {
            g.idle = true;
            cv.notify_all();
            g = cv
                .wait_timeout(g, timeout)
                .unwrap_or_else(|e| e.into_inner())
                .0;
        }
        Ok(!g.rx.is_empty())
    }

    fn recv(&self, q: usize, frame: &mut [u8]) -> io::Result<Option<RxMeta>> {
        loop {
            let (mut g, _) = self.q(q);
            match g.rx.pop_front() {
                None | Some(Item::EndBatch) => return Ok(None),
                Some(Item::Call(f)) => {
                    drop(g);
                    f();
                }
                Some(Item::Frame(f)) => {
                    if f.len() <= self.headroom || f.len() > frame.len() {
                        return Err(io::ErrorKind::InvalidData.into());
                    }
                    frame[..f.len()].copy_from_slice(&f);
                    let len = f.len() - self.headroom;
                    return Ok(Some(VnetHdr::frame_meta(self.headroom > 0, &f, len)));
                }
            }
        }
    }

    fn send(&self, q: usize, frame: &mut [u8], tx: Tx) -> io::Result<()> {
        VnetHdr::frame_tx(self.headroom > 0, frame, tx);
        self.q(q).0.sent.push(frame.to_vec());
        Ok(())
    }

    fn takes_uso(&self) -> bool {
        self.segmenting.0
    }

    fn takes_tso(&self) -> bool {
        self.segmenting.1
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;
    use std::sync::atomic::{AtomicBool, Ordering};

    #[test]
    fn reads_follow_the_script_batch_ends_and_calls_included() {
        let p = MemPort::new(1, 0);
        let called = Arc::new(AtomicBool::new(false));
        p.push(0, vec![1; 20]);
        let c = Arc::clone(&called);
        p.call(0, move || c.store(true, Ordering::Relaxed));
        p.push(0, vec![2; 21]);
        p.end_batch(0);
        p.push(0, vec![3; 22]);
        let mut f = [0u8; 64];
        assert!(p.wait(0, Duration::ZERO).unwrap());
        assert_eq!(p.recv(0, &mut f).unwrap().map(|m| m.len), Some(20));
        assert!(!called.load(Ordering::Relaxed));
        assert_eq!(p.recv(0, &mut f).unwrap().map(|m| m.len), Some(21));
        assert!(called.load(Ordering::Relaxed), "ran between the two reads");
        assert_eq!(p.recv(0, &mut f).unwrap(), None, "the batch ends");
        assert!(!p.settle(0, Duration::ZERO), "a packet is still queued");
        assert_eq!(p.recv(0, &mut f).unwrap().map(|m| m.len), Some(22));
        assert!(!p.wait(0, Duration::ZERO).unwrap());
        assert!(p.settle(0, Duration::ZERO), "drained and waiting again");
    }

    #[test]
    fn an_offload_port_reads_the_header_and_empties_it_for_a_generated_packet() {
        let p = MemPort::new(1, VNET_HDR_LEN);
        let h = VnetHdr {
            flags: VnetHdr::F_NEEDS_CSUM,
            gso_type: VnetHdr::GSO_TCPV4,
            hdr_len: 40,
            gso_size: 100,
            csum_start: 20,
            csum_offset: 16,
        };
        p.push_with(0, h, &[0x45; 340]);
        let mut f = [0u8; 512];
        let m = p.recv(0, &mut f).unwrap().unwrap();
        assert_eq!(
            (m.len, m.csum, m.segments),
            (340, crate::wire::ChecksumMode::Partial, 3)
        );
        p.send(0, &mut f[..VNET_HDR_LEN + 340], Tx::Forwarded)
            .unwrap();
        p.send(0, &mut f[..VNET_HDR_LEN + 28], Tx::Generated)
            .unwrap();
        let sent = p.sent(0);
        assert_eq!(VnetHdr::parse(&sent[0]), h, "forwarded: header kept");
        assert_eq!(VnetHdr::parse(&sent[1]), VnetHdr::default());
        assert_eq!(sent[1].len(), VNET_HDR_LEN + 28);
    }
}
