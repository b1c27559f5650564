//! `exec`: a new process in a running container, by setns(2) on a pidfd.
//!
//! ```text
//!   CLI ── fork ──▶ joiner: join the container's cgroup (cgroup.procs)
//!                           setns(pidfd of its init, every namespace at once)
//!                   fork ──▶ command: in the PID namespace now; chdir, execve(2)
//!                   wait, exit with its code
//!   wait, exit with the joiner's code (the command's)
//! ```
//!
//! Since Linux 5.8 setns(2) takes a pidfd and a set of CLONE_NEW* flags and moves the caller
//! into all those namespaces of that process in one step, atomically — no /proc/PID/ns/* fd
//! to open per kind (and none kept open after: the only handle is the pidfd, closed when the
//! joiner exits). Joining a PID namespace changes only the namespace of the caller's future
//! children (pid_namespaces(7)), hence the second fork. The runtime is single-threaded when
//! it forks, and setns(2) into a mount namespace refuses a multithreaded caller anyway.
//!
//! The command inherits no fd of the runtime: every fd above stderr is close-on-exec at its
//! execve(2) (chapter 01's `Process::exec`), and its cwd is its `-w` or `/`, never ours.

use std::convert::Infallible;

use boxcar::channel::channel;
use boxcar::spec::Container;
use boxcar::{exit, Failure};
use ch01_solution::namespaces;
use ch01_solution::process::Process;
use ch03_solution::cgroup;
use nix::sys::wait::waitpid;
use nix::unistd::{fork, ForkResult, Pid};

use crate::pidfd::Pidfd;

/// What `exec` runs: its command, extra environment and working directory.
#[derive(Debug, Clone, Default)]
pub struct Request {
    pub command: Vec<String>,
    pub env: Vec<String>,
    pub workdir: Option<String>,
}

/// The process to run: the container's environment with `-e` on top, its cwd or `-w`.
pub fn process_of(container: &Container, request: &Request) -> Result<Process, Failure> {
    let mut spec = container.process().clone();
    let mut env: Vec<String> = spec.env().clone().unwrap_or_default();
    for entry in &request.env {
        if let Some((key, value)) = boxcar::spec::parse_env(entry)? {
            env.retain(|var| var.split_once('=').map(|(k, _)| k) != Some(key.as_str()));
            env.push(format!("{key}={value}"));
        }
    }
    if let Some(dir) = &request.workdir {
        if !dir.starts_with('/') {
            return Err(
                Failure::new(format!("invalid -w {dir:?}: not an absolute path"))
                    .hint("give the working directory as seen inside the container, e.g. -w /tmp"),
            );
        }
        spec.set_cwd(dir.into());
    }
    spec.set_args(Some(request.command.clone()))
        .set_env(Some(env));
    Process::from_spec(&spec)
}

/// Run `process` in the container whose init is `init` and whose cgroup is named `id`;
/// return its exit code.
pub fn exec(container: &Container, init: &Pidfd, process: &Process) -> Result<i32, Failure> {
    let flags = namespaces::clone_flags(&container.namespaces())?;
    let (mut parent_end, mut child_end) = channel()?;
    let parent_fds = parent_end.fds();
    // SAFETY: the runtime is single-threaded: the forked copy holds no lock another thread
    // owned.
    match unsafe { fork() }.map_err(|e| Failure::syscall("cannot fork", e))? {
        ForkResult::Child => {
            child_end.close_parent_fds(&parent_fds);
            let failure = match join(container, init, flags, process, &mut child_end) {
                Ok(code) => std::process::exit(code),
                Err(failure) => failure,
            };
            child_end.report(&failure);
            std::process::exit(failure.exit_code)
        }
        ForkResult::Parent { child } => {
            child_end.close_in_parent();
            parent_end.release()?;
            let reported = parent_end.wait_for_exec();
            let code = wait(child)?;
            reported?;
            Ok(code)
        }
    }
}

/// In the joiner: enter the cgroup and the namespaces, fork the command, wait for it.
fn join(
    container: &Container,
    init: &Pidfd,
    flags: nix::sched::CloneFlags,
    process: &Process,
    channel: &mut boxcar::channel::ChildEnd,
) -> Result<i32, Failure> {
    channel.wait_for_release()?;
    // TODO(ch08-4): Put a new process into the running container and return its exit
    // code. This process (the joiner) must first join the container's cgroup (named by
    // its id; chapter 03's cgroup module can add a pid to an existing one), then enter all
    // of the init's namespaces in `flags` at once through the pidfd `init` (setns(2), Linux
    // 5.8+). Entering a PID namespace moves only the caller's future children
    // (pid_namespaces(7)): the command must be a child made after the setns (fork(2)), and
    // the joiner waits for it. The child runs `run_command`, and if that fails reports the
    // failure on `channel` and exits with its code; the joiner closes its copy of the report
    // pipe at once, so that only the command's execve(2) or its report ends the CLI's wait.
    todo!("exercise ch08-4: see the TODO above")
}

/// In the command, now in the container's PID namespace: become the container's user, then
/// the command.
fn run_command(process: &Process, user: &oci_spec::runtime::User) -> Result<Infallible, Failure> {
    ch04_solution::user::switch(user)?;
    process.exec()
}

fn wait(child: Pid) -> Result<i32, Failure> {
    loop {
        match waitpid(child, None) {
            Ok(status) => {
                if let Some(code) = exit::code_of(status) {
                    return Ok(code);
                }
            }
            Err(nix::errno::Errno::EINTR) => continue,
            Err(errno) => return Err(Failure::syscall("cannot wait for exec", errno)),
        }
    }
}
