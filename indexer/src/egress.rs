//! Where a clone of an organization's repository may connect. libgit2 makes its own
//! connections, so the check cannot sit in a resolver of ours; instead each such clone goes
//! through a CONNECT proxy on loopback that this module runs for it: the proxy resolves the host,
//! refuses every address that is not on the public internet (`netguard`) unless the operator
//! allows that host (`index.allowed_hosts`, for a self-hosted forge), connects to the address it
//! checked — so a DNS answer cannot change between check and use — and counts what comes back
//! against the clone's size limit. TLS stays end to end between libgit2 and the server: the proxy
//! sees host names, never contents or credentials.

use std::io::{Read, Write};
use std::net::{Shutdown, SocketAddr, TcpListener, TcpStream, ToSocketAddrs};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// What one clone may reach.
#[derive(Debug, Clone)]
pub struct Egress {
    /// Hosts reachable on any address, private ones included (lower case).
    pub allowed_hosts: Vec<String>,
    /// Most bytes the servers may send, beyond which the connection is cut; and most bytes any
    /// clone's commit may take up checked out.
    pub max_bytes: u64,
}

impl Default for Egress {
    /// No host allowed beyond the public internet, and clones of at most 2 GiB.
    fn default() -> Self {
        Egress { allowed_hosts: Vec::new(), max_bytes: 2 << 30 }
    }
}

/// The proxy of one clone. Dropping it stops it.
#[derive(Debug)]
pub(crate) struct Proxy {
    addr: SocketAddr,
    shared: Arc<Shared>,
}

#[derive(Debug)]
struct Shared {
    egress: Egress,
    /// Why a connection was refused or cut: what the clone's error should say.
    refusal: Mutex<Option<String>>,
    received: AtomicU64,
    stopped: AtomicBool,
}

impl Proxy {
    pub fn start(egress: Egress) -> std::io::Result<Proxy> {
        let listener = TcpListener::bind("127.0.0.1:0")?;
        let addr = listener.local_addr()?;
        let shared = Arc::new(Shared {
            egress,
            refusal: Mutex::new(None),
            received: AtomicU64::new(0),
            stopped: AtomicBool::new(false),
        });
        let accepting = Arc::clone(&shared);
        std::thread::Builder::new().name("clone-egress".into()).spawn(move || {
            for client in listener.incoming() {
                if accepting.stopped.load(Ordering::SeqCst) {
                    break;
                }
                let Ok(client) = client else { continue };
                let shared = Arc::clone(&accepting);
                let _ = std::thread::Builder::new()
                    .name("clone-egress-conn".into())
                    .spawn(move || serve(client, &shared));
            }
        })?;
        Ok(Proxy { addr, shared })
    }

    /// The proxy's URL, for libgit2's proxy options.
    pub fn url(&self) -> String {
        format!("http://{}", self.addr)
    }

    /// Why the clone could not have what it asked for, if that is why it failed.
    pub fn refusal(&self) -> Option<String> {
        self.shared.refusal.lock().expect("egress lock").clone()
    }
}

impl Drop for Proxy {
    fn drop(&mut self) {
        self.shared.stopped.store(true, Ordering::SeqCst);
        // Wake the accepting thread so that it sees the flag.
        let _ = TcpStream::connect_timeout(&self.addr, Duration::from_millis(200));
    }
}

fn serve(mut client: TcpStream, shared: &Shared) {
    let _ = client.set_read_timeout(Some(Duration::from_secs(30)));
    let Some(target) = read_connect(&mut client) else {
        let _ = client.write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n");
        return;
    };
    let upstream = match connect(&target, &shared.egress) {
        Ok(upstream) => upstream,
        Err(why) => {
            *shared.refusal.lock().expect("egress lock") = Some(why);
            let _ = client.write_all(b"HTTP/1.1 403 Forbidden\r\n\r\n");
            return;
        }
    };
    if client.write_all(b"HTTP/1.1 200 Connection Established\r\n\r\n").is_err() {
        return;
    }
    let _ = client.set_read_timeout(None);
    let (Ok(mut up_read), Ok(mut client_write)) = (upstream.try_clone(), client.try_clone()) else {
        return;
    };
    let (mut client_read, mut up_write) = (client, upstream);
    let sending = std::thread::spawn(move || {
        let _ = std::io::copy(&mut client_read, &mut up_write);
        let _ = up_write.shutdown(Shutdown::Write);
    });
    let mut buf = vec![0u8; 64 << 10];
    loop {
        let n = match up_read.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let total = shared.received.fetch_add(n as u64, Ordering::SeqCst) + n as u64;
        if total > shared.egress.max_bytes {
            *shared.refusal.lock().expect("egress lock") = Some(format!(
                "the repository is larger than {} MiB (index.max_clone_mb)",
                shared.egress.max_bytes >> 20
            ));
            let _ = up_read.shutdown(Shutdown::Both);
            let _ = client_write.shutdown(Shutdown::Both);
            break;
        }
        if client_write.write_all(&buf[..n]).is_err() {
            break;
        }
    }
    let _ = client_write.shutdown(Shutdown::Write);
    let _ = sending.join();
}

/// The `host:port` of a `CONNECT` request, read up to its blank line.
fn read_connect(client: &mut TcpStream) -> Option<String> {
    let mut head = Vec::new();
    let mut byte = [0u8; 1];
    while !head.ends_with(b"\r\n\r\n") {
        if head.len() > 8 << 10 || client.read(&mut byte).ok()? == 0 {
            return None;
        }
        head.push(byte[0]);
    }
    let line = std::str::from_utf8(&head).ok()?.lines().next()?.to_owned();
    let mut parts = line.split_whitespace();
    (parts.next()? == "CONNECT").then_some(())?;
    parts.next().map(str::to_owned)
}

/// A connection to `target` (`host:port`) on an address the policy allows, or why not.
fn connect(target: &str, egress: &Egress) -> Result<TcpStream, String> {
    let host = target.rsplit_once(':').map_or(target, |(h, _)| h);
    let host = host.trim_start_matches('[').trim_end_matches(']').to_ascii_lowercase();
    let allowed = egress.allowed_hosts.iter().any(|h| h.eq_ignore_ascii_case(&host));
    let addrs: Vec<SocketAddr> =
        target.to_socket_addrs().map_err(|e| format!("cannot resolve {host}: {e}"))?.collect();
    let usable: Vec<SocketAddr> =
        addrs.iter().copied().filter(|a| allowed || netguard::is_public(a.ip())).collect();
    if usable.is_empty() {
        return Err(format!(
            "{host} is not on the public internet (it resolves to loopback, private or \
             link-local addresses); an operator can allow a self-hosted git server with \
             index.allowed_hosts"
        ));
    }
    let mut last = String::new();
    for addr in usable {
        match TcpStream::connect_timeout(&addr, Duration::from_secs(10)) {
            Ok(stream) => return Ok(stream),
            Err(e) => last = format!("cannot connect to {host}: {e}"),
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn knock_counter() -> (u16, Arc<AtomicU64>) {
        let listener = TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let knocks = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&knocks);
        std::thread::spawn(move || {
            for mut stream in listener.incoming().flatten() {
                counted.fetch_add(1, Ordering::SeqCst);
                // A server that sends a lot.
                let _ = stream.write_all(&vec![b'x'; 256 << 10]);
            }
        });
        (port, knocks)
    }

    fn tunnel(proxy: &Proxy, target: &str) -> (String, Vec<u8>) {
        let mut client = TcpStream::connect(proxy.addr).unwrap();
        client
            .write_all(format!("CONNECT {target} HTTP/1.1\r\nHost: {target}\r\n\r\n").as_bytes())
            .unwrap();
        let mut answer = Vec::new();
        let _ = client.set_read_timeout(Some(Duration::from_secs(5)));
        let _ = client.read_to_end(&mut answer);
        let text = String::from_utf8_lossy(&answer);
        let status = text.lines().next().unwrap_or_default().to_owned();
        (status, answer)
    }

    #[test]
    fn a_clone_aimed_at_this_machine_connects_nowhere() {
        let (port, knocks) = knock_counter();
        let proxy = Proxy::start(Egress { allowed_hosts: vec![], max_bytes: 1 << 30 }).unwrap();
        for target in [
            format!("127.0.0.1:{port}"),
            format!("localhost:{port}"),
            format!("[{}]:{port}", std::net::Ipv4Addr::LOCALHOST.to_ipv6_mapped()),
        ] {
            let (status, _) = tunnel(&proxy, &target);
            assert!(status.contains("403"), "{target}: {status}");
        }
        std::thread::sleep(Duration::from_millis(100));
        assert_eq!(knocks.load(Ordering::SeqCst), 0);
        assert!(proxy.refusal().unwrap().contains("index.allowed_hosts"));
    }

    #[test]
    fn an_allowed_host_is_reached_and_what_it_sends_is_capped() {
        let (port, knocks) = knock_counter();
        let egress = Egress { allowed_hosts: vec!["localhost".into()], max_bytes: 64 << 10 };
        let proxy = Proxy::start(egress).unwrap();
        let (status, answer) = tunnel(&proxy, &format!("localhost:{port}"));
        assert!(status.contains("200"), "{status}");
        assert_eq!(knocks.load(Ordering::SeqCst), 1);
        // Cut past the cap: far less than the 256 KiB the server sent.
        assert!(answer.len() < 200 << 10, "{} bytes came through", answer.len());
        assert!(proxy.refusal().unwrap().contains("index.max_clone_mb"));
    }
}
