//! Identical questions in flight are asked upstream once: later queries wait for
//! the first one's answer. Safe when the first query's task is cancelled: its
//! [`Leader`] tells the waiters on drop.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, PoisonError};

/// Identical questions: name, type, class, DO and CD.
pub type Key = (Box<[u8]>, u16, u16, bool, bool);
/// An upstream answer shared by the queries merged into one.
pub type Shared = Option<Arc<Vec<u8>>>;
type Waiters = Vec<tokio::sync::oneshot::Sender<Shared>>;

/// Questions upstream now, with the queries waiting for the same answer.
#[derive(Debug, Default)]
pub struct InFlight {
    pending: Mutex<HashMap<Key, Waiters>>,
}

/// What [`InFlight::join`] says.
pub enum Joined<'a> {
    /// Ask upstream; the result goes to every waiter when the leader is dropped.
    Leader(Leader<'a>),
    /// The same question is upstream already: await its answer.
    Waiter(tokio::sync::oneshot::Receiver<Shared>),
}

impl InFlight {
    pub fn join(&self, key: Key) -> Joined<'_> {
        let mut pending = self.pending.lock().unwrap_or_else(PoisonError::into_inner);
        match pending.get_mut(&key) {
            Some(waiters) => {
                let (sender, receiver) = tokio::sync::oneshot::channel();
                waiters.push(sender);
                Joined::Waiter(receiver)
            }
            None => {
                pending.insert(key.clone(), Vec::new());
                Joined::Leader(Leader {
                    pending: &self.pending,
                    key: Some(key),
                    result: None,
                })
            }
        }
    }
}

/// The query that went upstream for a question; when it ends (or is dropped), the
/// queries merged into it get its result and the question leaves the table.
pub struct Leader<'a> {
    pending: &'a Mutex<HashMap<Key, Waiters>>,
    key: Option<Key>,
    result: Shared,
}

impl Leader<'_> {
    /// Records the result the waiters will get; returns it.
    pub fn finish(mut self, result: Option<Vec<u8>>) -> Shared {
        self.result = result.map(Arc::new);
        self.result.clone()
    }
}

impl Drop for Leader<'_> {
    fn drop(&mut self) {
        let Some(key) = self.key.take() else {
            return;
        };
        let waiters = self
            .pending
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
            .remove(&key)
            .unwrap_or_default();
        for waiter in waiters {
            let _ = waiter.send(self.result.clone());
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]
    use super::*;

    fn key() -> Key {
        (b"\x01a\x00".to_vec().into(), 1, 1, false, false)
    }

    #[test]
    fn waiters_hear_the_leader_even_when_it_is_cancelled() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .build()
            .unwrap();
        let table = InFlight::default();
        let Joined::Leader(leader) = table.join(key()) else {
            panic!("first is the leader")
        };
        let Joined::Waiter(waiter) = table.join(key()) else {
            panic!("second waits")
        };
        leader.finish(Some(vec![7]));
        assert_eq!(runtime.block_on(waiter).unwrap().as_deref(), Some(&vec![7]));
        // A dropped (cancelled) leader: the waiters get `None`, and the key is free.
        let Joined::Leader(leader) = table.join(key()) else {
            panic!("the key was released")
        };
        let Joined::Waiter(waiter) = table.join(key()) else {
            panic!("second waits")
        };
        drop(leader);
        assert_eq!(runtime.block_on(waiter).unwrap(), None);
        assert!(matches!(table.join(key()), Joined::Leader(_)));
    }
}
