#!/usr/bin/env bash
# Set up this machine for the boxcar workshop, then run the newest chapter on an example.
#
# For Debian 12 and Ubuntu 24.04 with Rust installed (https://rustup.rs). Run it as root or
# as a user with sudo: packages are installed with sudo, Rust tools as you. Running it again
# is safe and fast: it only does what is missing.
set -euo pipefail
cd "$(dirname "$0")"

say() { printf '\n==> %s\n' "$*"; }
as_root() {
    if [ "$(id -u)" -eq 0 ]; then
        "$@"
    elif command -v sudo >/dev/null; then
        sudo "$@"
    else
        echo "setup.sh: installing packages needs root: run it as root, or install sudo" >&2
        exit 1
    fi
}

# Debian packages: busybox-static is the default image (chapter 04), ps and unshare are used by
# the tests and the book's experiments, gcc links Rust binaries; hyperfine, runc and crun are
# what `cargo boxcar bench` measures with and against; skopeo and umoci read and write OCI
# images (chapter 04's store is an OCI layout, and its tests check it with both); nft
# (nftables) is what chapter 07's runtime drives for NAT and published ports.
packages=(busybox-static procps util-linux iproute2 hostname gcc libc6-dev hyperfine runc crun
    skopeo umoci nftables)
missing=()
for package in "${packages[@]}"; do
    if ! dpkg-query -W -f='${Status}' "$package" 2>/dev/null | grep -q "ok installed"; then
        missing+=("$package")
    fi
done
if [ "${#missing[@]}" -gt 0 ]; then
    say "installing ${missing[*]}"
    as_root apt-get update -qq
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -qq "${missing[@]}"
fi

# Rust: rustup puts cargo in ~/.cargo/bin, which a non-login shell may not have on its PATH.
if ! command -v cargo >/dev/null && [ -f "$HOME/.cargo/env" ]; then
    # shellcheck source=/dev/null
    . "$HOME/.cargo/env"
fi
if ! command -v cargo >/dev/null; then
    echo "setup.sh: cargo not found: install Rust first (https://rustup.rs), then run this again" >&2
    exit 1
fi

# The book's tools. mdbook 0.5 with mdbook-mermaid for the diagrams; the mermaid JavaScript
# itself is committed under book/, so building the book needs no network.
# mdbook-mermaid is built against the mdbook it will run under (it warns on a mismatch), so it
# is installed without --locked: cargo then picks the newest mdbook 0.5, the one installed.
if ! command -v mdbook >/dev/null; then
    say "installing mdbook (a few minutes, once)"
    cargo install --locked --quiet "mdbook@^0.5"
fi
if ! command -v mdbook-mermaid >/dev/null; then
    say "installing mdbook-mermaid (a few minutes, once)"
    cargo install --quiet "mdbook-mermaid@^0.17"
fi

say "building the workspace"
cargo build --workspace --locked --quiet

say "checking this machine"
cargo boxcar doctor

say "building the default image, busybox, from this host's busybox-static"
cargo boxcar setup-images

say "running chapter 06's solution: busybox on an overlay, with its own hostname, processes and root"
# shellcheck disable=SC2016 # $(hostname) and $$ are for the container's shell to expand
cargo run --quiet -p ch06-solution -- run --rm --image busybox --hostname boxcar -- \
    /bin/sh -c 'echo "hello from $(hostname), where I am PID $$"; head -n 1 /etc/os-release; ps -o pid,comm'

say "ready. Next: cargo test, or read the book: mdbook serve book"
