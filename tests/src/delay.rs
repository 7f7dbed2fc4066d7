//! A TCP proxy that delays every chunk by a fixed time in each direction: a network with a
//! round trip, where `tc netem` is not available.

use std::io::{self, Read, Write};
use std::net::{Ipv4Addr, Shutdown, SocketAddr, TcpListener, TcpStream};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::mpsc;
use std::sync::{Arc, Mutex};
use std::thread::{self, JoinHandle};
use std::time::{Duration, Instant};

/// How much one read takes from a socket before it is sent on.
const CHUNK: usize = 64 * 1024;

/// A connection's two sockets, and how many of its two directions have finished.
struct Open {
    sockets: [TcpStream; 2],
    finished: Arc<AtomicUsize>,
}

/// Listens on a free port of 127.0.0.1 and forwards each connection to `target`, holding
/// every chunk for `one_way` before writing it on, in both directions. Bandwidth is not
/// limited: chunks are read as they come and written when due, so a stream keeps flowing and
/// only its latency grows (a round trip costs `2 * one_way` more).
///
/// Dropping it stops accepting, closes every connection and joins the accepting thread.
pub struct DelayProxy {
    address: SocketAddr,
    stop: Arc<AtomicBool>,
    open: Arc<Mutex<Vec<Open>>>,
    acceptor: Option<JoinHandle<()>>,
}

impl DelayProxy {
    /// Starts a proxy on a free port of 127.0.0.1 to `target`.
    pub fn start(target: SocketAddr, one_way: Duration) -> io::Result<Self> {
        Self::start_on(SocketAddr::from((Ipv4Addr::LOCALHOST, 0)), target, one_way)
    }

    /// Starts a proxy listening on `listen` (port 0 for a free one) to `target`.
    pub fn start_on(listen: SocketAddr, target: SocketAddr, one_way: Duration) -> io::Result<Self> {
        let listener = TcpListener::bind(listen)?;
        let address = listener.local_addr()?;
        let stop = Arc::new(AtomicBool::new(false));
        let open = Arc::new(Mutex::new(Vec::new()));
        let acceptor = {
            let stop = Arc::clone(&stop);
            let open = Arc::clone(&open);
            thread::Builder::new()
                .name("delay-proxy-accept".into())
                .spawn(move || accept(&listener, target, one_way, &stop, &open))?
        };
        Ok(Self {
            address,
            stop,
            open,
            acceptor: Some(acceptor),
        })
    }

    /// The address it listens on.
    pub fn address(&self) -> SocketAddr {
        self.address
    }

    /// The port it listens on.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// Blocks for as long as the proxy runs (for a proxy run as a program).
    pub fn wait(mut self) {
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
    }
}

impl Drop for DelayProxy {
    fn drop(&mut self) {
        self.stop.store(true, Ordering::SeqCst);
        // Wake the accepting thread, which then sees the flag.
        let _ = TcpStream::connect(self.address);
        if let Some(acceptor) = self.acceptor.take() {
            let _ = acceptor.join();
        }
        if let Ok(open) = self.open.lock() {
            for stream in open.iter().flat_map(|open| &open.sockets) {
                let _ = stream.shutdown(Shutdown::Both);
            }
        }
    }
}

fn accept(
    listener: &TcpListener,
    target: SocketAddr,
    one_way: Duration,
    stop: &AtomicBool,
    open: &Mutex<Vec<Open>>,
) {
    for client in listener.incoming() {
        if stop.load(Ordering::SeqCst) {
            return;
        }
        let Ok(client) = client else { continue };
        let Ok(server) = TcpStream::connect(target) else {
            let _ = client.shutdown(Shutdown::Both);
            continue;
        };
        let _ = client.set_nodelay(true);
        let _ = server.set_nodelay(true);
        let finished = Arc::new(AtomicUsize::new(0));
        if let (Ok(mut open), Ok(a), Ok(b)) = (open.lock(), client.try_clone(), server.try_clone())
        {
            // Forget connections whose both directions ended (closing their sockets), so a
            // long run does not collect them.
            open.retain(|open| open.finished.load(Ordering::SeqCst) < 2);
            open.push(Open {
                sockets: [a, b],
                finished: Arc::clone(&finished),
            });
        }
        for (from, to) in [(&client, &server), (&server, &client)] {
            if let (Ok(from), Ok(to)) = (from.try_clone(), to.try_clone()) {
                forward(from, to, one_way, Arc::clone(&finished));
            } else {
                finished.fetch_add(1, Ordering::SeqCst);
            }
        }
    }
}

/// Copies `from` to `to` with every chunk held for `one_way`: one thread reads and stamps,
/// another writes each chunk when it is due, so reading never waits for the delay.
fn forward(mut from: TcpStream, mut to: TcpStream, one_way: Duration, finished: Arc<AtomicUsize>) {
    let (sender, receiver) = mpsc::channel::<(Instant, Vec<u8>)>();
    let reader = move || {
        let mut buffer = vec![0u8; CHUNK];
        loop {
            match from.read(&mut buffer) {
                Ok(0) | Err(_) => break,
                Ok(read) => {
                    let due = Instant::now() + one_way;
                    if sender.send((due, buffer[..read].to_vec())).is_err() {
                        break;
                    }
                }
            }
        }
        // The sender drops here: the writer writes what is left, then ends its side.
    };
    let writer = move || {
        for (due, chunk) in receiver {
            let now = Instant::now();
            if due > now {
                thread::sleep(due - now);
            }
            if to.write_all(&chunk).is_err() {
                break;
            }
        }
        let _ = to.shutdown(Shutdown::Write);
        finished.fetch_add(1, Ordering::SeqCst);
    };
    let _ = thread::Builder::new()
        .name("delay-proxy-read".into())
        .spawn(reader);
    let _ = thread::Builder::new()
        .name("delay-proxy-write".into())
        .spawn(writer);
}

#[cfg(test)]
mod tests {
    use super::*;

    /// An echo server on a free port, answering one connection.
    fn echo_once() -> SocketAddr {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let address = listener.local_addr().unwrap();
        thread::spawn(move || {
            if let Ok((mut stream, _)) = listener.accept() {
                let mut buffer = [0u8; 1024];
                while let Ok(read) = stream.read(&mut buffer) {
                    if read == 0 || stream.write_all(&buffer[..read]).is_err() {
                        break;
                    }
                }
            }
        });
        address
    }

    #[test]
    fn a_round_trip_through_the_proxy_takes_at_least_twice_the_delay_and_keeps_the_bytes() {
        let proxy = DelayProxy::start(echo_once(), Duration::from_millis(50)).unwrap();
        let mut stream = TcpStream::connect(proxy.address()).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        let started = Instant::now();
        stream.write_all(b"ping").unwrap();
        let mut answer = [0u8; 4];
        stream.read_exact(&mut answer).unwrap();
        assert_eq!(&answer, b"ping");
        // A lower bound only: the delay is a floor, never a timing goal.
        assert!(started.elapsed() >= Duration::from_millis(100));
    }

    #[test]
    fn dropping_the_proxy_closes_its_connections_and_its_port() {
        let proxy = DelayProxy::start(echo_once(), Duration::from_millis(1)).unwrap();
        let address = proxy.address();
        let mut stream = TcpStream::connect(address).unwrap();
        stream
            .set_read_timeout(Some(Duration::from_secs(5)))
            .unwrap();
        stream.write_all(b"x").unwrap();
        let mut one = [0u8; 1];
        stream.read_exact(&mut one).unwrap();
        drop(proxy);
        let mut rest = Vec::new();
        assert_eq!(stream.read_to_end(&mut rest).unwrap_or(0), 0);
        assert!(TcpStream::connect(address).is_err());
    }

    #[test]
    fn connections_that_ended_are_forgotten() {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).unwrap();
        let target = listener.local_addr().unwrap();
        // A server that closes every connection at once.
        thread::spawn(move || {
            for stream in listener.incoming().take(2) {
                drop(stream);
            }
        });
        let proxy = DelayProxy::start(target, Duration::from_millis(1)).unwrap();
        let first = TcpStream::connect(proxy.address()).unwrap();
        drop(first);
        let deadline = Instant::now() + Duration::from_secs(5);
        let ended = || {
            let open = proxy.open.lock().unwrap();
            open.len() == 1 && open[0].finished.load(Ordering::SeqCst) == 2
        };
        while !ended() && Instant::now() < deadline {
            thread::sleep(Duration::from_millis(10));
        }
        assert!(ended(), "the first connection did not end");
        let _second = TcpStream::connect(proxy.address()).unwrap();
        let deadline = Instant::now() + Duration::from_secs(5);
        // The second connection's arrival drops the first from the list.
        while Instant::now() < deadline {
            let open = proxy.open.lock().unwrap();
            if open.len() == 1 && open[0].finished.load(Ordering::SeqCst) < 2 {
                return;
            }
            drop(open);
            thread::sleep(Duration::from_millis(10));
        }
        panic!("the ended connection is still held");
    }
}
