//! `ps`, `diff`, `commit` and `rm`: the subcommands that act on container records.

use std::path::Path;

use boxcar::cli::{self, human_size, Command};
use boxcar::image::Store;
use boxcar::Failure;
use ch04_solution::extract::Model;
use ch04_solution::images;
use ch04_solution::import::{store_layer, write_image};
use oci_spec::image::{Config, History, ImageConfiguration};
use oci_spec::runtime::Process;

use crate::changes;
use crate::containers::{size_of, Containers, Record, Status};
use crate::layers;

/// Run one of this chapter's subcommands, or an image subcommand, on the state under
/// `root`.
pub fn run(command: Command, root: &Path) -> Result<i32, Failure> {
    let containers = Containers::new(root);
    match command {
        Command::Ps { all, size } => ps(&containers, all, size),
        Command::Diff { container } => {
            let record = containers.find(&container)?;
            let lowerdirs = layers::lowerdirs(&Store::new(root), root, &record.image)?;
            let changes = changes::diff(&containers.overlay(&record.id).upper, &lowerdirs);
            cli::print_lines(changes.iter().map(ToString::to_string))?;
            Ok(0)
        }
        Command::Commit { container, name } => commit(&containers, root, &container, &name),
        Command::Rm {
            containers: wanted, ..
        } => {
            for name in wanted {
                let record = containers.find(&name)?;
                if record.status == Status::Running && !record.is_stale() {
                    return Err(Failure::new(format!("container {name} is running"))
                        .hint("stop it first: it ends when its command ends"));
                }
                containers.remove(&record.id)?;
                println!("{}", record.id);
            }
            Ok(0)
        }
        other => images::command(other, root),
    }
}

pub fn ps(containers: &Containers, all: bool, size: bool) -> Result<i32, Failure> {
    let row = |cells: [&str; 5], size: Option<String>| {
        let line = format!(
            "{:<12}  {:<16}  {:<12}  {:<24}  {:<14}",
            cells[0], cells[1], cells[2], cells[3], cells[4]
        );
        match size {
            Some(size) => format!("{line}  {size}"),
            None => line.trim_end().to_string(),
        }
    };
    let mut lines = vec![row(
        ["CONTAINER ID", "NAME", "IMAGE", "COMMAND", "STATUS"],
        size.then(|| "SIZE".to_string()),
    )];
    for record in containers.list() {
        let status = status_text(&record);
        if !all && status != "Up" {
            continue;
        }
        let args = containers
            .config(&record.id)
            .ok()
            .and_then(|spec| spec.process().as_ref()?.args().clone())
            .unwrap_or_default();
        let command = truncate(&format!("{:?}", args.join(" ")), 24);
        let bytes = size.then(|| human_size(size_of(&containers.overlay(&record.id).upper)));
        lines.push(row(
            [&record.id, &record.name, &record.image, &command, &status],
            bytes,
        ));
    }
    // `ps -a | head` closes the pipe early: print_lines takes that as the end.
    cli::print_lines(lines)?;
    Ok(0)
}

fn status_text(record: &Record) -> String {
    match (record.status, record.exit_code) {
        _ if record.is_stale() => "Dead".into(),
        (Status::Created, _) => "Created".into(),
        (Status::Running, _) => "Up".into(),
        (Status::Exited, Some(code)) => format!("Exited ({code})"),
        (Status::Exited, None) => "Exited".into(),
    }
}

fn truncate(text: &str, width: usize) -> String {
    if text.chars().count() <= width {
        return text.to_string();
    }
    let kept: String = text.chars().take(width - 1).collect();
    format!("{kept}…")
}

/// `commit CONTAINER NAME`: a new image whose layers are the container's image's (the same
/// blobs: nothing is copied) plus one layer of its changes, and whose config carries the
/// container's command, environment and working directory, as `docker commit` does.
fn commit(containers: &Containers, root: &Path, wanted: &str, name: &str) -> Result<i32, Failure> {
    cli::require_root();
    let store = Store::new(root);
    store.check_free(name)?;
    let record = containers.find(wanted)?;
    let base = store.image(&record.image)?;
    let spec = containers.config(&record.id)?;
    let tar = containers.dir(&record.id).join("commit.tar");
    let written = changes::write_layer(&containers.overlay(&record.id).upper, &tar);
    let stored = written.and_then(|()| {
        let what = format!("committing {name}");
        store_layer(&store, &tar, &mut Model::default(), what, None)
    });
    let _ = std::fs::remove_file(&tar);
    let mut layers = base.layers.clone();
    layers.push(stored?);
    let mut config = base.config.clone();
    let mut rootfs = config.rootfs().clone();
    rootfs.set_diff_ids(layers.iter().map(|layer| layer.diff_id.clone()).collect());
    let now = boxcar::image::rfc3339(std::time::SystemTime::now());
    let mut history = config.history().clone().unwrap_or_default();
    let mut entry = History::default();
    entry
        .set_created(Some(now.clone()))
        .set_created_by(Some(format!("boxcar commit {wanted}")));
    history.push(entry);
    let runtime = committed_runtime(&base.config, spec.process().as_ref());
    config
        .set_created(Some(now))
        .set_config(Some(runtime))
        .set_rootfs(rootfs)
        .set_history(Some(history));
    let image = write_image(&store, name, &config, &layers)?;
    println!("{name} ({} layers)", image.layers.len());
    Ok(0)
}

/// The committed image's runtime config: the container's process as it ran. Its args
/// are split back into the base image's Entrypoint and a Cmd when they start with it;
/// HOSTNAME is left out (each container gets its own).
fn committed_runtime(base: &ImageConfiguration, process: Option<&Process>) -> Config {
    let mut runtime = base.config().clone().unwrap_or_default();
    let Some(process) = process else {
        return runtime;
    };
    let args = process.args().clone().unwrap_or_default();
    let entrypoint = runtime.entrypoint().clone().unwrap_or_default();
    if !entrypoint.is_empty() && args.starts_with(&entrypoint) {
        runtime.set_cmd(Some(args[entrypoint.len()..].to_vec()));
    } else {
        runtime.set_entrypoint(None).set_cmd(Some(args));
    }
    let env = process.env().clone().unwrap_or_default();
    runtime
        .set_env(Some(
            env.into_iter()
                .filter(|v| !v.starts_with("HOSTNAME="))
                .collect(),
        ))
        .set_working_dir(Some(process.cwd().display().to_string()));
    let (uid, gid) = (process.user().uid(), process.user().gid());
    runtime.set_user(Some(format!("{uid}:{gid}")).filter(|_| uid != 0 || gid != 0));
    runtime
}
