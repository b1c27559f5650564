//! Where boxcar keeps its state: `$BOXCAR_ROOT`, by default `/var/lib/boxcar`.
//!
//! Every behaviour test sets its own root, so tests never see each other's images or
//! containers and can run in parallel.

use std::path::PathBuf;

/// The default state directory, as `/var/lib/docker` is Docker's.
pub const DEFAULT_ROOT: &str = "/var/lib/boxcar";

/// The state directory: `$BOXCAR_ROOT` if set, else [`DEFAULT_ROOT`].
pub fn root() -> PathBuf {
    std::env::var_os("BOXCAR_ROOT")
        .map(PathBuf::from)
        .unwrap_or_else(|| DEFAULT_ROOT.into())
}

/// A new container id: 12 hex digits, like the short ids `docker ps` shows.
pub fn new_container_id() -> String {
    use std::io::Read;
    let mut bytes = [0u8; 6];
    let random = std::fs::File::open("/dev/urandom").and_then(|mut f| f.read_exact(&mut bytes));
    if random.is_err() {
        // No /dev/urandom: mix the clock and the pid. Unique enough for a name, which is all
        // an id is used for.
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map(|d| d.as_nanos())
            .unwrap_or_default();
        let mixed = nanos ^ ((std::process::id() as u128) << 32);
        bytes.copy_from_slice(&mixed.to_le_bytes()[..6]);
    }
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}
