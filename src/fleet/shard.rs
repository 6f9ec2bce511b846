//! Sharding a fleet across processes: which of N identical hosts serves a
//! codec, by rendezvous (highest-random-weight) hashing of the codec's name.
//! Every process computes the same answer from the name alone, with no
//! coordination; going from N to N+1 shards moves only the codecs the new
//! shard wins (about 1/(N+1) of them), and removing one moves only its own.
//! The hash is spelled out here (FNV-1a of the name, then SplitMix64's
//! finaliser per shard), so the assignment is the same on every platform and
//! every version of xmacro, and cheap enough for 100,000 codecs.

/// Which share of the fleet this process serves: shard `index` of `count`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Shard {
    pub index: u32,
    pub count: u32,
}

/// A `--shard` value that does not make sense.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum ShardError {
    #[error("--shard {0:?}: expected I/N (as 0/3), or auto/N to take I from the host name")]
    Syntax(String),
    #[error(
        "--shard {given:?}: the shard index must be below the count ({count}); shards are numbered from 0"
    )]
    OutOfRange { given: String, count: u32 },
    #[error("--shard {given:?}: the count must be between 1 and {max}", max = MAX_SHARDS)]
    Count { given: String },
    #[error(
        "--shard auto/{count}: the host name {name:?} does not end in -<number> \
         (a StatefulSet pod is named like xmacro-3); set --shard I/{count} instead"
    )]
    NoOrdinal { name: String, count: u32 },
}

/// The most shards a fleet may be split into.
pub const MAX_SHARDS: u32 = 4096;

impl Shard {
    /// Parses `I/N`, or `auto/N` with `I` the number at the end of
    /// `host_name` (a StatefulSet pod `xmacro-3` is shard 3).
    pub fn parse(text: &str, host_name: &str) -> Result<Shard, ShardError> {
        let syntax = || ShardError::Syntax(text.to_string());
        let (i, n) = text.trim().split_once('/').ok_or_else(syntax)?;
        let count: u32 = n.trim().parse().map_err(|_| syntax())?;
        if count == 0 || count > MAX_SHARDS {
            return Err(ShardError::Count {
                given: text.to_string(),
            });
        }
        let index = match i.trim() {
            "auto" => ordinal(host_name).ok_or_else(|| ShardError::NoOrdinal {
                name: host_name.to_string(),
                count,
            })?,
            i => i.parse().map_err(|_| syntax())?,
        };
        if index >= count {
            return Err(ShardError::OutOfRange {
                given: text.to_string(),
                count,
            });
        }
        Ok(Shard { index, count })
    }

    /// Whether this shard serves the codec called `name`.
    pub fn serves(&self, name: &str) -> bool {
        owner(name, self.count) == self.index
    }
}

impl std::fmt::Display for Shard {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}/{}", self.index, self.count)
    }
}

/// This host's name, for `auto/N`: `HOSTNAME` (set in every Kubernetes
/// pod to the pod's name), else the kernel's host name.
pub fn host_name() -> String {
    std::env::var("HOSTNAME")
        .ok()
        .filter(|h| !h.trim().is_empty())
        .or_else(|| std::fs::read_to_string("/proc/sys/kernel/hostname").ok())
        .map(|h| h.trim().to_string())
        .unwrap_or_default()
}

/// The number after the last `-` of a host name (`xmacro-3` -> 3).
fn ordinal(host_name: &str) -> Option<u32> {
    let (_, n) = host_name.trim().rsplit_once('-')?;
    n.parse().ok()
}

/// FNV-1a, 64 bits: a stable hash of the name's bytes.
fn name_hash(name: &str) -> u64 {
    name.bytes().fold(0xcbf2_9ce4_8422_2325, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    })
}

/// SplitMix64's finaliser: every input bit moves every output bit.
fn mix(mut z: u64) -> u64 {
    z = (z ^ (z >> 30)).wrapping_mul(0xbf58_476d_1ce4_e5b9);
    z = (z ^ (z >> 27)).wrapping_mul(0x94d0_49bb_1331_11eb);
    z ^ (z >> 31)
}

/// The weight of a name (by its hash) on shard `index`.
fn weight(hash: u64, index: u32) -> u64 {
    mix(hash ^ mix(u64::from(index).wrapping_add(0x9e37_79b9_7f4a_7c15)))
}

/// The shard (of `count`) that serves the codec called `name`: the one
/// with the highest weight, ties to the lower index.
pub fn owner(name: &str, count: u32) -> u32 {
    let hash = mix(name_hash(name));
    (0..count.max(1))
        .max_by_key(|&i| (weight(hash, i), std::cmp::Reverse(i)))
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn names(n: usize) -> Vec<String> {
        (0..n).map(|i| format!("room-{i:05}")).collect()
    }

    #[test]
    fn shards_are_balanced_within_ten_percent_for_three_to_sixteen() {
        let names = names(10_000);
        for n in 3..=16u32 {
            let mut counts = vec![0usize; n as usize];
            for name in &names {
                counts[owner(name, n) as usize] += 1;
            }
            let fair = names.len() as f64 / n as f64;
            for (i, c) in counts.iter().enumerate() {
                let off = (*c as f64 - fair).abs() / fair;
                assert!(off <= 0.10, "N={n}: shard {i} has {c}, fair is {fair:.0}");
            }
        }
    }

    #[test]
    fn growing_by_one_moves_about_one_share_and_only_to_the_new_shard() {
        let names = names(10_000);
        for n in 1..=16u32 {
            let mut moved = 0;
            for name in &names {
                let (before, after) = (owner(name, n), owner(name, n + 1));
                if before != after {
                    assert_eq!(after, n, "{name} moved between old shards");
                    moved += 1;
                }
            }
            let expected = names.len() as f64 / (n + 1) as f64;
            let off = (moved as f64 - expected).abs() / expected;
            assert!(
                off <= 0.10,
                "N={n}->{}: {moved} moved, expected about {expected:.0}",
                n + 1
            );
        }
    }

    #[test]
    fn removing_a_shard_moves_only_its_own_codecs() {
        // Going from 3 to 2 shards: codecs of shards 0 and 1 stay.
        for name in names(2_000) {
            let before = owner(&name, 3);
            if before < 2 {
                assert_eq!(owner(&name, 2), before, "{name}");
            }
        }
    }

    #[test]
    fn the_assignment_is_stable_across_builds() {
        // Fixed values: a change of hash would silently move every codec.
        let got: Vec<u32> = ["boardroom", "huddle-1", "room-00042", "大厅"]
            .iter()
            .map(|n| owner(n, 7))
            .collect();
        assert_eq!(got, vec![4, 6, 4, 2]);
    }

    #[test]
    fn parse_reads_index_count_and_pod_ordinals() {
        assert_eq!(
            Shard::parse("1/3", "h").unwrap(),
            Shard { index: 1, count: 3 }
        );
        assert_eq!(
            Shard::parse("auto/4", "xmacro-3").unwrap(),
            Shard { index: 3, count: 4 }
        );
        assert!(matches!(
            Shard::parse("3/3", "h"),
            Err(ShardError::OutOfRange { .. })
        ));
        assert!(matches!(
            Shard::parse("0/0", "h"),
            Err(ShardError::Count { .. })
        ));
        assert!(matches!(
            Shard::parse("1-3", "h"),
            Err(ShardError::Syntax(_))
        ));
        assert!(matches!(
            Shard::parse("auto/3", "laptop"),
            Err(ShardError::NoOrdinal { .. })
        ));
        assert!(matches!(
            Shard::parse("auto/3", "xmacro-5"),
            Err(ShardError::OutOfRange { .. })
        ));
        let all = Shard::parse("0/1", "h").unwrap();
        assert!(names(100).iter().all(|n| all.serves(n)));
    }
}
