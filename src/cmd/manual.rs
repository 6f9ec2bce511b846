//! `xmacro completions SHELL` and `xmacro man`: the command line described
//! for shells and `man`, generated from the clap definitions so they never
//! drift from the real flags.
//!
//! `man` alone prints the main page, whose COMMANDS section names each
//! command without a page reference (no `xmacro-run(1)` that is not
//! installed); `man --dir DIR` writes every page, and the main page there
//! refers to the others, which sit beside it.

use clap::CommandFactory;

use crate::cli::{Cli, CompletionsArgs, ManArgs};
use crate::error::AppError;

/// Prints the completion script for a shell.
pub fn completions(args: CompletionsArgs) -> Result<(), AppError> {
    let mut cmd = Cli::command();
    let mut text = Vec::new();
    clap_complete::generate(args.shell, &mut cmd, "xmacro", &mut text);
    super::out::print(&String::from_utf8_lossy(&text))
}

/// Prints the main man page (roff), or writes one page per command into
/// `--dir`.
pub fn man(args: ManArgs) -> Result<(), AppError> {
    let failed = |e: std::io::Error| AppError::Failed(format!("writing the man page: {e}"));
    if let Some(dir) = args.dir {
        let failed = |e: std::io::Error| {
            AppError::Failed(format!("writing the man pages to {}: {e}", dir.display()))
        };
        std::fs::create_dir_all(&dir).map_err(failed)?;
        clap_mangen::generate_to(Cli::command(), &dir).map_err(failed)?;
        return super::out::line(&format!(
            "wrote xmacro.1 and a page per command (xmacro-run.1, ...) to {}",
            dir.display()
        ));
    }
    let mut cmd = Cli::command().disable_help_subcommand(true);
    cmd.build();
    let page = clap_mangen::Man::new(cmd.clone());
    let mut text = Vec::new();
    page.render_title(&mut text).map_err(failed)?;
    page.render_name_section(&mut text).map_err(failed)?;
    page.render_synopsis_section(&mut text).map_err(failed)?;
    page.render_description_section(&mut text).map_err(failed)?;
    page.render_options_section(&mut text).map_err(failed)?;
    commands_section(&cmd, &mut text);
    page.render_extra_section(&mut text).map_err(failed)?;
    page.render_version_section(&mut text).map_err(failed)?;
    super::out::print(&String::from_utf8_lossy(&text))
}

/// The commands, each with its summary, named as typed (`xmacro run`)
/// rather than as pages this one page does not come with.
fn commands_section(cmd: &clap::Command, text: &mut Vec<u8>) {
    let mut roff = String::from(".SH COMMANDS\n");
    for sub in cmd.get_subcommands().filter(|s| !s.is_hide_set()) {
        roff.push_str(&format!(".TP\n\\fBxmacro {}\\fR\n", escape(sub.get_name())));
        if let Some(about) = sub.get_about() {
            for line in about.to_string().lines() {
                roff.push_str(&escape(line));
                roff.push('\n');
            }
        }
    }
    roff.push_str(
        "Each command's flags: \\fBxmacro COMMAND \\-\\-help\\fR, or its own page after \
         \\fBxmacro man \\-\\-dir DIR\\fR.\n",
    );
    text.extend_from_slice(roff.as_bytes());
}

/// Text made safe for roff: a leading `.` or `'` would be a request, `\`
/// an escape, `-` a hyphen.
fn escape(line: &str) -> String {
    let body = line.replace('\\', "\\e").replace('-', "\\-");
    if body.starts_with(['.', '\'']) {
        format!("\\&{body}")
    } else {
        body
    }
}
