//! `cfgupdate-delay-proxy --to HOST:PORT --delay-ms N [--listen ADDR]`: forwards TCP
//! connections with `N` ms added in each direction (a round trip gains `2N` ms), for
//! benchmarks over a network that is not loopback. Prints `listening on ADDR` once ready and
//! runs until killed.

use std::net::{SocketAddr, ToSocketAddrs};
use std::process::ExitCode;
use std::time::Duration;

use cfgupdate_tests::DelayProxy;

const USAGE: &str =
    "usage: cfgupdate-delay-proxy --to HOST:PORT --delay-ms N [--listen 127.0.0.1:PORT]";

fn main() -> ExitCode {
    match run() {
        Ok(()) => ExitCode::SUCCESS,
        Err(message) => {
            eprintln!("cfgupdate-delay-proxy: {message}\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

fn run() -> Result<(), String> {
    let mut to = None;
    let mut delay = None;
    let mut listen: SocketAddr = ([127, 0, 0, 1], 0).into();
    let mut args = std::env::args().skip(1);
    while let Some(flag) = args.next() {
        let value = args
            .next()
            .ok_or_else(|| format!("`{flag}` needs a value"))?;
        match flag.as_str() {
            "--to" => {
                to = value
                    .to_socket_addrs()
                    .map_err(|error| format!("`{value}` is not an address: {error}"))?
                    .next();
            }
            "--delay-ms" => {
                let ms: u64 = value
                    .parse()
                    .map_err(|_| format!("`{value}` is not a number of milliseconds"))?;
                delay = Some(Duration::from_millis(ms));
            }
            "--listen" => {
                listen = value
                    .parse()
                    .map_err(|_| format!("`{value}` is not an address such as 127.0.0.1:0"))?;
            }
            _ => return Err(format!("unknown argument `{flag}`")),
        }
    }
    let to = to.ok_or("--to is required")?;
    let delay = delay.ok_or("--delay-ms is required")?;
    let proxy = DelayProxy::start_on(listen, to, delay)
        .map_err(|error| format!("cannot listen on {listen}: {error}"))?;
    println!("listening on {}", proxy.address());
    proxy.wait();
    Ok(())
}
