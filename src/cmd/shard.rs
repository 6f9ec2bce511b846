//! `xmacro shard --config FILE --of N`: shows an operator which host will
//! serve each codec before any host starts, and how even the split is.

use crate::cli::ShardArgs;
use crate::config::Config;
use crate::error::AppError;
use crate::fleet::shard::{MAX_SHARDS, owner};

/// Prints `codec -> shard` per codec, then the count per shard.
pub fn print_assignment(args: ShardArgs) -> Result<(), AppError> {
    if args.of == 0 || args.of > MAX_SHARDS {
        return Err(AppError::Usage(format!(
            "--of {}: the number of shards must be between 1 and {MAX_SHARDS}",
            args.of
        )));
    }
    let file = crate::config::discover(args.config.as_deref()).ok_or_else(|| {
        AppError::Usage("no config found (--config FILE, XMACRO_CONFIG, ./xmacro.toml)".into())
    })?;
    let config = Config::load(&file)?;
    super::out::print(&assignment(
        config.codecs.iter().map(|c| c.name.as_str()),
        args.of,
    ))
}

/// The text `print_assignment` prints.
pub fn assignment<'a>(names: impl Iterator<Item = &'a str>, of: u32) -> String {
    let mut counts = vec![0usize; of as usize];
    let mut out = String::new();
    for name in names {
        let s = owner(name, of);
        counts[s as usize] += 1;
        out.push_str(&format!("{name} -> {s}\n"));
    }
    let total: usize = counts.iter().sum();
    out.push_str(&format!("# {total} codecs over {of} shards\n"));
    for (i, c) in counts.iter().enumerate() {
        out.push_str(&format!("# shard {i}/{of}: {c} codecs\n"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_assignment_names_every_codec_once_and_counts_add_up() {
        let names: Vec<String> = (0..100).map(|i| format!("room-{i}")).collect();
        let text = assignment(names.iter().map(String::as_str), 3);
        for n in &names {
            let line = text
                .lines()
                .find(|l| l.starts_with(&format!("{n} -> ")))
                .unwrap();
            assert_eq!(line, format!("{n} -> {}", owner(n, 3)));
        }
        let sum: usize = text
            .lines()
            .filter_map(|l| l.strip_prefix("# shard "))
            .map(|l| {
                l.split(": ")
                    .nth(1)
                    .unwrap()
                    .trim_end_matches(" codecs")
                    .parse::<usize>()
                    .unwrap()
            })
            .sum();
        assert_eq!(sum, 100);
    }
}
