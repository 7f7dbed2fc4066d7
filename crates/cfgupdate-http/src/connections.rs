//! The connections being served, so that at the cap a new one can take the place of the
//! oldest that is doing nothing: a client that opened a connection and is still sending its
//! request head (or never will), or a kept-alive connection waiting for its next request.
//!
//! A connection is *busy* while one of its requests is with the router; only idle ones are
//! ever closed to make room, so a request being handled is never cut off. Real clients send
//! their head at once and are busy within milliseconds, while a slow or half-open client is
//! idle for as long as it holds its connection: at the cap, those are the ones that go first.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, PoisonError};

use tokio::task::AbortHandle;

/// One connection: how many of its requests are with the router, and how to close it.
#[derive(Default)]
pub(crate) struct Connection {
    in_flight: AtomicUsize,
    abort: Mutex<Option<AbortHandle>>,
}

/// Counts a request of a connection as busy while it lives.
pub(crate) struct Busy(Arc<Connection>);

impl Busy {
    pub(crate) fn new(connection: &Arc<Connection>) -> Self {
        connection.in_flight.fetch_add(1, Ordering::SeqCst);
        Self(connection.clone())
    }
}

impl Drop for Busy {
    fn drop(&mut self) {
        self.0.in_flight.fetch_sub(1, Ordering::SeqCst);
    }
}

/// Every connection being served, in the order they were accepted.
#[derive(Default)]
pub(crate) struct Connections {
    next: AtomicUsize,
    open: Mutex<BTreeMap<usize, Arc<Connection>>>,
}

/// Removes a connection from the register when its task ends, however it ends.
pub(crate) struct Registered {
    connections: Arc<Connections>,
    id: usize,
}

impl Drop for Registered {
    fn drop(&mut self) {
        self.connections.lock().remove(&self.id);
    }
}

impl Connections {
    fn lock(&self) -> std::sync::MutexGuard<'_, BTreeMap<usize, Arc<Connection>>> {
        self.open.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Registers a new connection; it stays registered while the returned guard lives.
    pub(crate) fn register(self: &Arc<Self>) -> (Arc<Connection>, Registered) {
        let id = self.next.fetch_add(1, Ordering::SeqCst);
        let connection = Arc::new(Connection::default());
        self.lock().insert(id, connection.clone());
        (
            connection,
            Registered {
                connections: self.clone(),
                id,
            },
        )
    }

    /// Gives a registered connection the handle that closes it.
    pub(crate) fn closes_with(connection: &Connection, abort: AbortHandle) {
        *connection
            .abort
            .lock()
            .unwrap_or_else(PoisonError::into_inner) = Some(abort);
    }

    /// Closes the oldest idle connection; returns whether there was one.
    pub(crate) fn close_oldest_idle(&self) -> bool {
        let open = self.lock();
        for connection in open.values() {
            if connection.in_flight.load(Ordering::SeqCst) == 0
                && let Some(abort) = connection
                    .abort
                    .lock()
                    .unwrap_or_else(PoisonError::into_inner)
                    .take()
            {
                abort.abort();
                return true;
            }
        }
        false
    }

    /// How many connections are open.
    #[cfg(test)]
    pub(crate) fn len(&self) -> usize {
        self.lock().len()
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;

    #[tokio::test]
    async fn the_oldest_idle_connection_makes_room_and_a_busy_one_never_does() {
        let connections = Arc::new(Connections::default());
        let mut tasks = Vec::new();
        let mut handles = Vec::new();
        for _ in 0..3 {
            let (connection, registered) = connections.register();
            let task = tokio::spawn(async move {
                let _registered = registered;
                std::future::pending::<()>().await;
            });
            Connections::closes_with(&connection, task.abort_handle());
            handles.push(connection);
            tasks.push(task);
        }
        // The first is busy with a request: the second is the oldest idle one.
        let busy = Busy::new(&handles[0]);
        assert!(connections.close_oldest_idle());
        let closed = tokio::time::timeout(Duration::from_secs(5), tasks.remove(1)).await;
        assert!(closed.unwrap().unwrap_err().is_cancelled());
        assert!(!tasks[0].is_finished());
        assert!(connections.close_oldest_idle());
        assert!(
            !connections.close_oldest_idle(),
            "only the busy one is left"
        );
        let closed = tokio::time::timeout(Duration::from_secs(5), tasks.remove(1)).await;
        assert!(closed.unwrap().unwrap_err().is_cancelled());
        assert_eq!(connections.len(), 1);
        drop(busy);
        assert!(connections.close_oldest_idle());
    }
}
