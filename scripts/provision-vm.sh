#!/usr/bin/env bash
# Provisions the boxcar classroom VM. The Vagrantfile runs it twice:
#
#   provision-vm.sh system   as root: system packages and sudoers
#   provision-vm.sh user     as the vagrant user: Rust, then the README's ./setup.sh
#
# Every step is idempotent, so `vagrant provision` can run it again at any time.

# Stop at the first failing command, unset variable or failing pipeline stage,
# so a half-provisioned VM is reported as a failure rather than looking ready.
set -euo pipefail

# The user who does the workshop, and where cargo puts build output. The target
# directory lives inside the VM: building on the shared folder (/vagrant) is
# slow and mixes the VM's binaries with the host's.
readonly VM_USER=vagrant
readonly VM_HOME=/home/vagrant
readonly TARGET_DIR="$VM_HOME/boxcar-target"
readonly REPO_DIR=/vagrant

log() {
  printf '==> boxcar provision: %s\n' "$*"
}

die() {
  printf 'boxcar provision: error: %s\n' "$*" >&2
  exit 1
}

# Appends LINE to FILE unless FILE already has exactly that line, so running
# the provisioner again does not pile up duplicates.
append_once() {
  local file=$1 line=$2
  touch "$file"
  grep -qxF -- "$line" "$file" || printf '%s\n' "$line" >>"$file"
}

provision_system() {
  [ "$(id -u)" -eq 0 ] || die "the 'system' step must run as root"

  # apt must never stop to ask a question: nobody is there to answer it.
  export DEBIAN_FRONTEND=noninteractive

  # On a fresh Ubuntu VM, unattended-upgrades often holds the dpkg lock for a
  # few minutes after boot. Wait for it instead of failing; as an apt.conf.d
  # drop-in this also covers the apt-get calls in setup.sh.
  log "apt: wait for the dpkg lock instead of failing"
  printf 'DPkg::Lock::Timeout "600";\n' >/etc/apt/apt.conf.d/90boxcar-lock-timeout

  # build-essential: rustc links with cc, and crates with C parts build with it.
  # curl: downloads rustup. git: cargo and learners both use it.
  log "apt: installing build-essential, curl, git"
  apt-get update
  apt-get install -y --no-install-recommends build-essential ca-certificates curl git

  # The cargo runner (.cargo/config.toml) runs binaries and tests through
  # `sudo --preserve-env`. Keep the variables the workshop relies on across sudo
  # explicitly, so a binary run as root finds the same target directory and
  # state root as the learner. The file is checked with visudo before it is
  # installed: a broken sudoers file would lock the vagrant user out of sudo.
  log "sudo: keeping CARGO_TARGET_DIR and BOXCAR_ROOT for $VM_USER"
  local drop_in
  drop_in=$(mktemp)
  printf 'Defaults:%s env_keep += "CARGO_TARGET_DIR BOXCAR_ROOT"\n' "$VM_USER" >"$drop_in"
  visudo -cf "$drop_in"
  install -m 0440 -o root -g root "$drop_in" /etc/sudoers.d/boxcar
  rm -f "$drop_in"

  # The workshop teaches cgroup v2 first; Ubuntu 24.04 mounts it by default.
  # Say so loudly if this box differs, but go on: the runtime handles v1 too.
  if [ "$(stat -fc %T /sys/fs/cgroup)" = cgroup2fs ]; then
    log "cgroup v2 is mounted at /sys/fs/cgroup"
  else
    log "WARNING: /sys/fs/cgroup is not cgroup v2; the book assumes v2"
  fi
}

provision_user() {
  [ "$(id -un)" = "$VM_USER" ] || die "the 'user' step must run as $VM_USER, not $(id -un)"

  # Rust through rustup in the user's home, so the learner owns the toolchain
  # and can update it without sudo. The minimal profile keeps the download
  # small; rustfmt and clippy are what learners use on their chapter code.
  # Skipped when cargo is already there, so a re-run does not reinstall.
  if [ -x "$HOME/.cargo/bin/cargo" ]; then
    log "rust: already installed, skipping rustup"
  else
    log "rust: installing with rustup"
    curl --proto '=https' --tlsv1.2 -sSf https://sh.rustup.rs \
      | sh -s -- -y --profile minimal --component rustfmt,clippy
  fi
  # rustup adds ~/.cargo/bin to PATH for future logins; this shell needs it now
  # for cargo and for the tools setup.sh installs (mdbook).
  # shellcheck source=/dev/null
  . "$HOME/.cargo/env"

  # Build output goes inside the VM (see TARGET_DIR above). .profile covers
  # login shells (including `vagrant ssh -c`); .bashrc covers interactive
  # shells that are not login shells, such as a terminal opened in tmux.
  log "cargo: CARGO_TARGET_DIR=$TARGET_DIR"
  local export_line="export CARGO_TARGET_DIR=$TARGET_DIR"
  append_once "$VM_HOME/.profile" "$export_line"
  append_once "$VM_HOME/.bashrc" "$export_line"

  # Start interactive shells in the repository: `vagrant ssh` then lands where
  # every command of the book is run. Only from the home directory, so a shell
  # opened elsewhere (a new tmux pane, say) stays where it is. Ubuntu's .bashrc
  # returns early for non-interactive shells, so this line, appended after that
  # check, does not affect scripts or `vagrant ssh -c`.
  # shellcheck disable=SC2016 # $PWD and $HOME expand at login, not now
  append_once "$VM_HOME/.bashrc" 'if [ "$PWD" = "$HOME" ]; then cd '"$REPO_DIR"'; fi'

  # Finally the same setup the README gives learners: system packages,
  # mdbook and mdbook-mermaid, a build of the workspace and a first example.
  export CARGO_TARGET_DIR="$TARGET_DIR"
  [ -f "$REPO_DIR/setup.sh" ] || die "$REPO_DIR/setup.sh not found: is the repository synced to $REPO_DIR?"
  log "running ./setup.sh in $REPO_DIR"
  cd "$REPO_DIR"
  ./setup.sh
  log "done: run 'vagrant ssh', then follow the book"
}

case "${1:-}" in
  system) provision_system ;;
  user) provision_user ;;
  *) die "usage: $0 system|user" ;;
esac
