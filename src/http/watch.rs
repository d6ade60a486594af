//! Where one connection is in its life, and the deadline that goes with it: the
//! connection's slot marked idle or busy at the right moments, and the idle and
//! request timeouts, around a hyper connection that knows neither.
//!
//! Phases: `Idle` (waiting for a request's first byte: `idle_timeout`; the slot
//! may be evicted), `Reading` (from that byte until the handler starts:
//! `request_timeout` — slow-loris), `Handling` (the handler on the blocking pool:
//! no deadline here, the pool bounds it and a timeout could not stop it),
//! `Writing` (from the handler's answer until it is flushed: `request_timeout`),
//! then `Idle` again. The [`Watched`] stream sees the first byte and the flush;
//! the service marks the others (and the start of a request hyper found already
//! buffered, pipelined, with no new read).
//!
//! Invariants: every phase change happens while the connection future is polled
//! (by the wrapped stream or the service, both driven by it), so [`until_done`]
//! reads a current deadline right after each poll; a busy slot is never marked
//! idle before its answer is flushed.

use std::future::Future;
use std::io;
use std::pin::{Pin, pin};
use std::sync::{Mutex, PoisonError};
use std::task::{Context, Poll};
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::Instant;

use super::slots::Slot;

/// Stands in for "never" when a timeout is too large to add to the clock (a
/// `Limits` value is never a reason to panic); tokio caps its timers anyway.
const FAR_FUTURE: Duration = Duration::from_secs(30 * 365 * 86_400);

/// `timeout` from now, without overflow.
fn after(timeout: Duration) -> Instant {
    let now = Instant::now();
    now.checked_add(timeout).unwrap_or(now + FAR_FUTURE)
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(super) enum Phase {
    Idle,
    Reading,
    Handling,
    Writing,
}

struct State {
    phase: Phase,
    /// When the phase must have ended; `None` while handling.
    deadline: Option<Instant>,
}

/// One connection's phase, its deadline and its slot.
pub(super) struct Watch {
    slot: Slot,
    idle_timeout: Duration,
    request_timeout: Duration,
    state: Mutex<State>,
}

impl Watch {
    /// Idle from now (the slot is idle since its admission).
    pub(super) fn new(slot: Slot, idle_timeout: Duration, request_timeout: Duration) -> Watch {
        let deadline = Some(after(idle_timeout));
        let state = Mutex::new(State {
            phase: Phase::Idle,
            deadline,
        });
        Watch {
            slot,
            idle_timeout,
            request_timeout,
            state,
        }
    }

    pub(super) fn slot(&self) -> &Slot {
        &self.slot
    }

    fn change(&self, change: impl FnOnce(&mut State)) {
        change(&mut self.state.lock().unwrap_or_else(PoisonError::into_inner));
    }

    /// A request has begun (its first byte, or a head already buffered): busy,
    /// `request_timeout` from now. Nothing changes if one is under way.
    pub(super) fn request_begins(&self) {
        let mut began = false;
        self.change(|state| {
            if state.phase == Phase::Idle {
                began = true;
                state.phase = Phase::Reading;
                state.deadline = Some(after(self.request_timeout));
            }
        });
        if began {
            self.slot.busy();
        }
    }

    /// The request is read whole and its handler runs: no deadline.
    pub(super) fn handling(&self) {
        self.change(|state| {
            state.phase = Phase::Handling;
            state.deadline = None;
        });
    }

    /// The answer is handed to hyper: `request_timeout` to write it.
    pub(super) fn writing(&self) {
        self.change(|state| {
            state.phase = Phase::Writing;
            state.deadline = Some(after(self.request_timeout));
        });
    }

    /// The stream was flushed: if an answer was being written it is out, and the
    /// connection waits for the next request (evictable, `idle_timeout`).
    fn flushed(&self) {
        let mut answered = false;
        self.change(|state| {
            if state.phase == Phase::Writing {
                answered = true;
                state.phase = Phase::Idle;
                state.deadline = Some(after(self.idle_timeout));
            }
        });
        if answered {
            self.slot.idle();
        }
    }

    fn current(&self) -> (Phase, Option<Instant>) {
        let state = self.state.lock().unwrap_or_else(PoisonError::into_inner);
        (state.phase, state.deadline)
    }
}

/// Polls `connection` until it ends (`Ok`), or until the deadline of the phase
/// it is in passes (`Err` with that phase).
pub(super) async fn until_done<T>(
    watch: &Watch,
    mut connection: impl FnMut(&mut Context<'_>) -> Poll<T>,
) -> Result<T, Phase> {
    let (_, first) = watch.current();
    let mut sleep = pin!(tokio::time::sleep_until(first.unwrap_or_else(Instant::now)));
    std::future::poll_fn(|cx| {
        if let Poll::Ready(done) = connection(cx) {
            return Poll::Ready(Ok(done));
        }
        let (phase, deadline) = watch.current();
        // Handling: the handler's end wakes the connection, no timer needed.
        let Some(deadline) = deadline else {
            return Poll::Pending;
        };
        if sleep.deadline() != deadline {
            sleep.as_mut().reset(deadline);
        }
        sleep.as_mut().poll(cx).map(|()| Err(phase))
    })
    .await
}

/// A stream that tells its [`Watch`] of a request's first byte and of each
/// completed flush; otherwise it only passes everything through.
pub(super) struct Watched<S> {
    stream: S,
    watch: std::sync::Arc<Watch>,
}

impl<S> Watched<S> {
    pub(super) fn new(stream: S, watch: std::sync::Arc<Watch>) -> Self {
        Watched { stream, watch }
    }

    pub(super) fn into_inner(self) -> S {
        self.stream
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Watched<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let before = buf.filled().len();
        let read = Pin::new(&mut this.stream).poll_read(cx, buf);
        if matches!(read, Poll::Ready(Ok(()))) && buf.filled().len() > before {
            this.watch.request_begins();
        }
        read
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Watched<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.get_mut().stream).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.stream.is_write_vectored()
    }

    /// hyper flushes after it has written everything it buffered, so a flush that
    /// completes while `Writing` means the answer is out.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        let flushed = Pin::new(&mut this.stream).poll_flush(cx);
        if matches!(flushed, Poll::Ready(Ok(()))) {
            this.watch.flushed();
        }
        flushed
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.get_mut().stream).poll_shutdown(cx)
    }
}
