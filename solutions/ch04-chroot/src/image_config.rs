//! The image's config meets `run`'s flags: what the container runs, with which environment,
//! in which directory, as whom. docker's rules (docker run reference, "Image defaults"):
//!
//! - the command is Entrypoint + Cmd; a command after the flags replaces Cmd, and
//!   `--entrypoint` replaces Entrypoint (and then Cmd too, unless a command is given);
//! - the environment is the defaults (PATH, HOSTNAME, HOME), then the image's Env, then `-e`:
//!   a later one of the same name wins;
//! - WorkingDir is the default of `-w`, made in the container if the image lacks it
//!   ([`ensure_workdir`]);
//! - `--user`, else the image's User, is resolved in the image (see [`crate::user`]);
//!   HOME becomes that user's home unless the image or `-e` set it.
//!
//! The result is the spec's process — what config.json shows and what the child runs.

use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};

use oci_spec::image::ImageConfiguration;

use boxcar::spec::Container;
use boxcar::Failure;

use crate::user;

// ANCHOR: merge
/// `container` with its process completed by `image` (the image's config, if it runs one)
/// and its user resolved in `roots` (the root filesystem, or the layers topmost first).
pub fn merge(
    container: &Container,
    image: Option<&ImageConfiguration>,
    roots: &[PathBuf],
) -> Result<Container, Failure> {
    let asked = &container.host.asked;
    let defaults = image
        .and_then(|config| config.config().clone())
        .unwrap_or_default();
    let mut process = container.process().clone();

    let entrypoint: Vec<String> = match &asked.entrypoint {
        Some(entrypoint) if entrypoint.is_empty() => Vec::new(),
        Some(entrypoint) => vec![entrypoint.clone()],
        None => defaults.entrypoint().clone().unwrap_or_default(),
    };
    let cmd = match (&asked.command, &asked.entrypoint) {
        (command, _) if !command.is_empty() => command.clone(),
        (_, Some(_)) => Vec::new(),
        (_, None) => defaults.cmd().clone().unwrap_or_default(),
    };
    let args: Vec<String> = entrypoint.into_iter().chain(cmd).collect();
    if args.is_empty() {
        return Err(Failure::new(format!(
            "image {} has no command (neither Entrypoint nor Cmd) and none was given",
            container.host.image.as_deref().unwrap_or("?")
        ))
        .hint("give one after the flags, e.g. run --image NAME -- sh"));
    }

    let user_spec = asked
        .user
        .clone()
        .or_else(|| defaults.user().clone())
        .filter(|user| !user.is_empty());
    let ids = user_spec
        .as_deref()
        .map(|spec| user::resolve(spec, roots))
        .transpose()?;

    // The defaults the kit put first, then the image's Env, then -e: the last one wins.
    let mut env = process.env().clone().unwrap_or_default();
    env.retain(|var| !asked.env.contains(var));
    let image_env = defaults.env().clone().unwrap_or_default();
    let home_given = image_env
        .iter()
        .chain(&asked.env)
        .any(|v| v.starts_with("HOME="));
    for var in image_env.iter().chain(&asked.env) {
        set_var(&mut env, var);
    }
    if let Some(home) = ids.as_ref().and_then(|ids| ids.home.as_ref()) {
        if !home_given {
            set_var(&mut env, &format!("HOME={home}"));
        }
    }

    let cwd = match (&asked.workdir, defaults.working_dir()) {
        (Some(dir), _) => dir.clone(),
        (None, Some(dir)) if dir.starts_with('/') => dir.clone(),
        (None, Some(dir)) if !dir.is_empty() => {
            return Err(Failure::new(format!(
                "the image's WorkingDir {dir:?} is not an absolute path"
            ))
            .hint("give the working directory with -w /DIR"))
        }
        _ => "/".to_string(),
    };

    process
        .set_args(Some(args))
        .set_env(Some(env))
        .set_cwd(cwd.into());
    if let Some(ids) = &ids {
        process.set_user(user::to_spec(ids));
    }
    let mut merged = container.clone();
    merged.spec.set_process(Some(process));
    Ok(merged)
}
// ANCHOR_END: merge

/// In the child, once the container's root is `/` (after chroot or pivot_root, before the
/// root is made read-only and before the user switch): make the working directory if the
/// image lacks it, as docker does (an image's WorkingDir, or `-w /new`). Made from inside the
/// container's root, so a symlink in the image resolves in the image and never leads onto
/// the host; owned by root, mode 0755, as docker's.
pub fn ensure_workdir(cwd: &Path) -> Result<(), Failure> {
    if cwd.is_dir() {
        return Ok(());
    }
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o755)
        .create(cwd)
        .map_err(|error| {
            Failure::io(
                format!("cannot create the working directory {}", cwd.display()),
                error,
            )
            .hint(
                "-w (or the image's WorkingDir) must be a directory, or a path one can be made at",
            )
        })
}

/// Set `K=V` in `env`, replacing an earlier `K=…`. An entry without `=` is ignored.
fn set_var(env: &mut Vec<String>, var: &str) {
    let Some((key, _)) = var.split_once('=') else {
        return;
    };
    env.retain(|existing| existing.split_once('=').map(|(k, _)| k) != Some(key));
    env.push(var.to_string());
}

#[cfg(test)]
mod tests {
    use super::*;
    use boxcar::cli::RunArgs;
    use oci_spec::image::Config;

    fn container(command: &[&str], flags: impl FnOnce(&mut RunArgs)) -> Container {
        let mut args = RunArgs {
            command: command.iter().map(|s| s.to_string()).collect(),
            image: Some("img".into()),
            ..RunArgs::default()
        };
        flags(&mut args);
        Container::from_run_args(&args, 4).unwrap()
    }

    fn image() -> ImageConfiguration {
        let mut config = Config::default();
        config
            .set_entrypoint(Some(vec!["/entry".into()]))
            .set_cmd(Some(vec!["default".into()]))
            .set_env(Some(vec!["PATH=/image/bin".into(), "A=image".into()]))
            .set_working_dir(Some("/srv".into()));
        let mut image = ImageConfiguration::default();
        image.set_config(Some(config));
        image
    }

    fn env(container: &Container) -> Vec<String> {
        container.process().env().clone().unwrap_or_default()
    }

    #[test]
    fn the_images_command_env_and_workdir_run_when_none_is_given() {
        let merged = merge(&container(&[], |_| ()), Some(&image()), &[]).unwrap();
        let process = merged.process();
        assert_eq!(process.args().clone().unwrap(), ["/entry", "default"]);
        assert!(env(&merged).contains(&"PATH=/image/bin".into()));
        assert!(env(&merged).contains(&"A=image".into()));
        assert_eq!(process.cwd().to_str(), Some("/srv"));
    }

    #[test]
    fn flags_win_over_the_image() {
        let given = container(&["x", "y"], |args| {
            args.env = vec!["A=flag".into()];
            args.workdir = Some("/tmp".into());
        });
        let merged = merge(&given, Some(&image()), &[]).unwrap();
        assert_eq!(
            merged.process().args().clone().unwrap(),
            ["/entry", "x", "y"]
        );
        assert!(env(&merged).contains(&"A=flag".into()));
        assert!(!env(&merged).contains(&"A=image".into()));
        assert_eq!(merged.process().cwd().to_str(), Some("/tmp"));
        let entry = container(&[], |args| args.entrypoint = Some("/bin/other".into()));
        let merged = merge(&entry, Some(&image()), &[]).unwrap();
        assert_eq!(merged.process().args().clone().unwrap(), ["/bin/other"]);
    }

    #[test]
    fn no_command_anywhere_is_one_clear_line() {
        let failure = merge(&container(&[], |_| ()), None, &[]).unwrap_err();
        assert!(failure.what.contains("no command"), "{failure}");
    }
}
