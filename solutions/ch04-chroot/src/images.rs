//! The image commands every runtime from this chapter on has: `images`, `import`, `export`.

use std::path::Path;

use boxcar::cli::{human_size, print_lines, require_root, Command};
use boxcar::image::Store;
use boxcar::Failure;

/// Run one of the image commands on the store under `state_root`. Returns the exit code.
pub fn command(command: Command, state_root: &Path) -> Result<i32, Failure> {
    let store = Store::new(state_root);
    match command {
        Command::Images => {
            let header = format!("{:<24} {:>7} {:>12}", "NAME", "LAYERS", "SIZE");
            let rows = store.list().into_iter().map(|image| {
                format!(
                    "{:<24} {:>7} {:>12}",
                    image.name,
                    image.layers,
                    human_size(image.size)
                )
            });
            print_lines(std::iter::once(header).chain(rows))?;
        }
        Command::Import { file, name } => {
            require_root();
            let manifest = crate::import::import(&store, &file, &name)?;
            println!(
                "imported {name} ({} layer, {})",
                manifest.layers.len(),
                human_size(manifest.size())
            );
        }
        Command::Export { name, file } => {
            require_root();
            crate::export::export(&store, &name, &file)?;
            println!("exported {name} to {}", file.display());
        }
        other => return Err(Failure::new(format!("{other:?} is not an image command"))),
    }
    Ok(0)
}
