//! The image commands every runtime from this chapter on has: `images`, `import`, `export`.

use std::path::Path;

use boxcar::cli::{human_size, require_root, Command};
use boxcar::image::Store;
use boxcar::Failure;

/// Run one of the image commands on the store under `state_root`. Returns the exit code.
pub fn command(command: Command, state_root: &Path) -> Result<i32, Failure> {
    let store = Store::new(state_root);
    match command {
        Command::Images => {
            println!("{:<24} {:>7} {:>12}", "NAME", "LAYERS", "SIZE");
            for image in store.list() {
                println!(
                    "{:<24} {:>7} {:>12}",
                    image.name,
                    image.layers,
                    human_size(image.size)
                );
            }
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
