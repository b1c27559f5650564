//! The image commands every runtime from this chapter on has: `images`, `import`, `export`,
//! `inspect`.

use std::path::Path;

use boxcar::cli::{human_size, print_lines, require_root, Command};
use boxcar::image::Store;
use boxcar::Failure;

/// Run one of the image commands on the store under `state_root`. Returns the exit code.
pub fn command(command: Command, state_root: &Path) -> Result<i32, Failure> {
    let store = Store::new(state_root);
    match command {
        Command::Images => {
            // docker images' columns: the id is the config's digest, shortened.
            let row = |name: &str, id: &str, created: &str, size: &str| {
                format!("{name:<24} {id:<12}  {created:<20}  {size:>8}")
            };
            let header = row("NAME", "IMAGE ID", "CREATED", "SIZE");
            let rows = store.list()?.into_iter().map(|image| {
                let id = boxcar::image::hex_of(&image.id);
                let created = image.created.as_deref().unwrap_or("-");
                let created = created
                    .get(..19)
                    .map_or(created.to_string(), |c| format!("{c}Z"));
                row(
                    &image.name,
                    id.get(..12).unwrap_or(id),
                    &created,
                    &human_size(image.size),
                )
            });
            print_lines(std::iter::once(header).chain(rows))?;
        }
        Command::Import { file, name } => {
            require_root();
            let image = crate::import::import(&store, &file, &name)?;
            let layers = image.layers.len();
            let plural = if layers == 1 { "" } else { "s" };
            println!(
                "imported {name} ({layers} layer{plural}, {})",
                human_size(image.size())
            );
        }
        Command::Export { name, file, rootfs } => {
            require_root();
            match rootfs {
                true => crate::export::export_rootfs(&store, &name, &file)?,
                false => crate::export::export(&store, &name, &file)?,
            }
            println!("exported {name} to {}", file.display());
        }
        Command::Inspect { name } => {
            let image = store.image(&name)?;
            let text = serde_json::to_string_pretty(&image.config)
                .map_err(|error| Failure::new(format!("cannot encode the config: {error}")))?;
            print_lines([text])?;
        }
        other => return Err(Failure::new(format!("{other:?} is not an image command"))),
    }
    Ok(0)
}
