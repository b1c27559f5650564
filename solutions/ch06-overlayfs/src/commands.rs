//! `ps`, `diff`, `commit` and `rm`: the subcommands that act on container records.

use std::path::Path;

use boxcar::cli::{self, human_size, Command};
use boxcar::image::Store;
use boxcar::Failure;
use ch04_solution::images;
use ch04_solution::import::import_layers;

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

fn commit(containers: &Containers, root: &Path, wanted: &str, name: &str) -> Result<i32, Failure> {
    cli::require_root();
    let store = Store::new(root);
    boxcar::image::check_name(name)?;
    let record = containers.find(wanted)?;
    let base = store.manifest(&record.image)?;
    let layer = containers.dir(&record.id).join("commit.tar");
    let written = changes::write_layer(&containers.overlay(&record.id).upper, &layer);
    let mut layers: Vec<_> = base
        .layers
        .iter()
        .map(|l| store.layer_path(&record.image, l))
        .collect();
    layers.push(layer.clone());
    let imported = written.and_then(|()| import_layers(&store, name, &layers));
    let _ = std::fs::remove_file(&layer);
    let manifest = imported?;
    println!("{name} ({} layers)", manifest.layers.len());
    Ok(0)
}
