//! The containers' addresses: a /16 behind the bridge, one reservation file per address.
//!
//! The shape is CNI host-local's (the IPAM plugin podman and Kubernetes use): a directory
//! with one file per address in use, named by the address and holding the container's id,
//! a `last` file with the address handed out last, and a lock around every change. Creating
//! a file with O_EXCL is atomic, so two runtimes can never take the same address; the
//! search starts after `last` (round-robin), so an address just freed is not handed to the
//! next container while packets for its previous owner may still be on their way.

use std::fs::{File, OpenOptions};
use std::io::{ErrorKind, Write};
use std::net::Ipv4Addr;
use std::path::{Path, PathBuf};

use boxcar::Failure;
use nix::fcntl::{Flock, FlockArg};

/// The network: 10.88.0.0/16, podman's default (docker's is 172.17.0.0/16). 65 533
/// containers fit: .0.0 is the network, .0.1 the bridge (the gateway), .255.255 broadcast.
pub const SUBNET: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 0);
pub const PREFIX: u8 = 16;
/// The bridge's own address, the containers' default gateway.
pub const GATEWAY: Ipv4Addr = Ipv4Addr::new(10, 88, 0, 1);

/// The reservations under `<state root>/network/addresses`.
#[derive(Debug, Clone)]
pub struct Pool {
    dir: PathBuf,
}

/// The lock of the pool (and of the bridge: see `bridge`), held while it is taken.
pub struct Locked {
    _lock: Flock<File>,
}

impl Pool {
    pub fn new(state_root: &Path) -> Pool {
        Pool {
            dir: state_root.join("network").join("addresses"),
        }
    }

    /// Take the pool's lock (flock(2)): the kernel lets it go if the runtime dies.
    pub fn lock(&self) -> Result<Locked, Failure> {
        std::fs::create_dir_all(&self.dir)
            .map_err(|e| Failure::io(format!("cannot create {}", self.dir.display()), e))?;
        let path = self.dir.join("lock");
        let file = OpenOptions::new()
            .create(true)
            .truncate(false)
            .write(true)
            .open(&path)
            .map_err(|e| Failure::io(format!("cannot open {}", path.display()), e))?;
        let lock = Flock::lock(file, FlockArg::LockExclusive).map_err(|(_, errno)| {
            Failure::syscall(format!("cannot lock {}", path.display()), errno)
        })?;
        Ok(Locked { _lock: lock })
    }

    /// Reserve the next free address after the last one handed out, for container `id`.
    pub fn reserve(&self, _locked: &Locked, id: &str) -> Result<Ipv4Addr, Failure> {
        let last = std::fs::read_to_string(self.dir.join("last"))
            .ok()
            .and_then(|text| text.trim().parse::<Ipv4Addr>().ok())
            .map_or(0, offset_of);
        let size = 1u32 << (32 - PREFIX);
        // Offsets 2 ..= size - 2: neither the network, the gateway nor the broadcast address.
        for step in 1..size {
            let offset = (last + step) % size;
            if offset < 2 || offset == size - 1 {
                continue;
            }
            let address = address_at(offset);
            if self.try_take(address, id)? {
                let _ = std::fs::write(self.dir.join("last"), address.to_string());
                return Ok(address);
            }
        }
        Err(
            Failure::new(format!("no free address left in {SUBNET}/{PREFIX}"))
                .hint("remove containers you no longer need (rm), or run with --net none"),
        )
    }

    /// Create the reservation file of `address` if no one holds it (O_EXCL, open(2)).
    fn try_take(&self, address: Ipv4Addr, id: &str) -> Result<bool, Failure> {
        let path = self.dir.join(address.to_string());
        match OpenOptions::new().write(true).create_new(true).open(&path) {
            Ok(mut file) => {
                file.write_all(id.as_bytes())
                    .map_err(|e| Failure::io(format!("cannot write {}", path.display()), e))?;
                Ok(true)
            }
            Err(e) if e.kind() == ErrorKind::AlreadyExists => Ok(false),
            Err(e) => Err(Failure::io(format!("cannot create {}", path.display()), e)),
        }
    }

    /// Whether container `id` holds `address`: a container started again keeps its own.
    pub fn held_by(&self, address: Ipv4Addr, id: &str) -> bool {
        std::fs::read_to_string(self.dir.join(address.to_string()))
            .is_ok_and(|held| held.trim() == id)
    }

    /// Every reservation: (address, container id).
    pub fn reservations(&self) -> Vec<(Ipv4Addr, String)> {
        std::fs::read_dir(&self.dir)
            .into_iter()
            .flatten()
            .flatten()
            .filter_map(|entry| {
                let address = entry.file_name().to_string_lossy().parse().ok()?;
                let id = std::fs::read_to_string(entry.path()).ok()?;
                Some((address, id.trim().to_string()))
            })
            .collect()
    }

    /// Give back `address` if container `id` holds it.
    pub fn release(&self, _locked: &Locked, address: Ipv4Addr, id: &str) {
        let path = self.dir.join(address.to_string());
        if std::fs::read_to_string(&path).is_ok_and(|held| held.trim() == id) {
            let _ = std::fs::remove_file(path);
        }
    }
}

fn offset_of(address: Ipv4Addr) -> u32 {
    u32::from(address) - u32::from(SUBNET)
}

fn address_at(offset: u32) -> Ipv4Addr {
    Ipv4Addr::from(u32::from(SUBNET) + offset)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_go_round_robin_and_are_never_shared() {
        let root = tempfile::tempdir().unwrap();
        let pool = Pool::new(root.path());
        let locked = pool.lock().unwrap();
        let a = pool.reserve(&locked, "a").unwrap();
        let b = pool.reserve(&locked, "b").unwrap();
        assert_eq!(
            (a, b),
            (Ipv4Addr::new(10, 88, 0, 2), Ipv4Addr::new(10, 88, 0, 3))
        );
        pool.release(&locked, a, "a");
        // .2 was just freed: the next one is .4, not .2.
        assert_eq!(
            pool.reserve(&locked, "c").unwrap(),
            Ipv4Addr::new(10, 88, 0, 4)
        );
        // Someone else's reservation is not released.
        pool.release(&locked, b, "not-b");
        assert!(pool.reservations().contains(&(b, "b".into())));
    }

    #[test]
    fn the_search_wraps_and_skips_the_broadcast_address() {
        let root = tempfile::tempdir().unwrap();
        let pool = Pool::new(root.path());
        let locked = pool.lock().unwrap();
        std::fs::write(root.path().join("network/addresses/last"), "10.88.255.254").unwrap();
        assert_eq!(
            pool.reserve(&locked, "a").unwrap(),
            Ipv4Addr::new(10, 88, 0, 2)
        );
    }
}
