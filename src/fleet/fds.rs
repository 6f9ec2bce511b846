//! Open files for a fleet: every codec's connection is a descriptor, and
//! the usual soft limit (1024) stops a host long before its memory or CPU
//! would. At start the soft limit is raised to the hard limit (said at
//! debug level), and a fleet that needs more than even that allows is
//! reported with the numbers and what to change, before its connections
//! start failing one by one with "too many open files".

/// Descriptors kept for everything but codec connections: the status
/// server's share is apart (an eighth of the limit, `src/ops/listen.rs`);
/// this covers the store, the scripts and config being watched, logs,
/// the database and a script's HTTP requests.
pub const RESERVED: u64 = 64;

/// The soft and hard limits on open descriptors, before and after a raise.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limits {
    pub soft: u64,
    pub hard: u64,
}

/// How many codecs a soft limit of `soft` descriptors leaves room for: an
/// eighth goes to the status server, [`RESERVED`] to the rest.
pub fn room_for_codecs(soft: u64) -> u64 {
    soft.saturating_sub(soft / 8).saturating_sub(RESERVED)
}

/// A fleet of `codecs` against the limits now: `None` when it fits, else
/// the message that says by how much it does not and what to change.
pub fn shortfall(codecs: u64, limits: Limits) -> Option<String> {
    let room = room_for_codecs(limits.soft);
    (codecs > room).then(|| {
        let need = ((codecs + RESERVED) * 8).div_ceil(7);
        format!(
            "{codecs} codecs need about {need} open files (one per connection, plus the status server's eighth and {RESERVED} for the rest), but this process may open {} (hard limit {}): only about {room} codecs can connect; raise the limit (LimitNOFILE= in the systemd unit, ulimit -n, or the container's nofile) or split the fleet over more shards (docs/scaling.md)",
            limits.soft, limits.hard
        )
    })
}

fn read() -> Option<Limits> {
    let mut l = libc::rlimit {
        rlim_cur: 0,
        rlim_max: 0,
    };
    // SAFETY: getrlimit writes into the struct it is given.
    (unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut l) } == 0).then_some(Limits {
        soft: l.rlim_cur,
        hard: l.rlim_max,
    })
}

/// Raises the soft limit on open descriptors to the hard limit; returns
/// the limits before and after (`None` when they cannot be read).
pub fn raise_to_hard() -> Option<(Limits, Limits)> {
    let before = read()?;
    if before.soft < before.hard {
        let l = libc::rlimit {
            rlim_cur: before.hard,
            rlim_max: before.hard,
        };
        // SAFETY: setrlimit reads the struct it is given; raising the soft
        // limit up to the hard one needs no privilege.
        if unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &l) } != 0 {
            tracing::debug!(
                "could not raise the open-file limit from {} to {}: {}",
                before.soft,
                before.hard,
                std::io::Error::last_os_error()
            );
        }
    }
    Some((before, read()?))
}

/// At start: the limit raised, then `codecs` checked against it (an
/// ERROR with the numbers when they do not fit; the host still starts
/// and serves those it can).
pub fn prepare_for(codecs: usize) {
    let Some((before, after)) = raise_to_hard() else {
        return;
    };
    if after.soft != before.soft {
        tracing::debug!(
            "open-file limit raised from {} to {} (the hard limit)",
            before.soft,
            after.soft
        );
    } else {
        tracing::debug!("open-file limit {} (hard limit {})", after.soft, after.hard);
    }
    if let Some(why) = shortfall(codecs as u64, after) {
        tracing::error!("{why}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_soft_limit_is_raised_to_the_hard_limit() {
        // One below the hard limit first, as a shell's default leaves it.
        let hard = read().expect("limits readable on Linux").hard;
        let lower = libc::rlimit {
            rlim_cur: hard - 1,
            rlim_max: hard,
        };
        // SAFETY: setrlimit reads the struct it is given.
        assert_eq!(unsafe { libc::setrlimit(libc::RLIMIT_NOFILE, &lower) }, 0);
        let (before, after) = raise_to_hard().unwrap();
        assert_eq!(before.soft, hard - 1);
        assert_eq!(after.soft, hard);
        assert_eq!(after.hard, hard);
    }

    #[test]
    fn a_fleet_within_the_limit_passes_and_one_beyond_it_is_told_the_numbers() {
        let limits = Limits {
            soft: 1024,
            hard: 1024,
        };
        assert_eq!(room_for_codecs(1024), 832);
        assert_eq!(shortfall(832, limits), None);
        let why = shortfall(10_000, limits).unwrap();
        for part in [
            "10000 codecs",
            "about 11502 open files",
            "may open 1024",
            "hard limit 1024",
            "about 832 codecs",
            "LimitNOFILE",
        ] {
            assert!(why.contains(part), "{part:?} in {why}");
        }
        let big = Limits {
            soft: 1 << 20,
            hard: 1 << 20,
        };
        assert_eq!(shortfall(10_000, big), None);
    }
}
