//! What stops a run before its end: `--max-events`, `--max-wall`, Ctrl-C
//! and the memory ceiling. The simulator asks [`must_stop`] as it goes; the
//! reason is kept for the report (`partial_reason`).

/// Limits that stop a run cleanly.
#[derive(Clone, Copy, Debug, Default)]
pub struct Limits {
    pub max_events: Option<u64>,
    pub stop: Option<&'static std::sync::atomic::AtomicBool>,
    pub deadline: Option<std::time::Instant>,
}

/// Why a run stopped before its end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
pub enum StopReason {
    MaxEvents = 1,
    MaxWall = 2,
    Interrupted = 3,
    Memory = 4,
}

impl StopReason {
    /// Said in the report of a partial result.
    pub fn describe(self) -> &'static str {
        match self {
            StopReason::MaxEvents => "--max-events was reached",
            StopReason::MaxWall => "--max-wall was reached",
            StopReason::Interrupted => "interrupted (Ctrl-C)",
            StopReason::Memory => "the memory ceiling was reached (the run would have exhausted memory); shorten `duration`, bound the queues with `capacity`, or lower the rates",
        }
    }

    /// The reason's name in `summary.json` (`partial_reason`).
    pub fn name(self) -> &'static str {
        match self {
            StopReason::MaxEvents => "max-events",
            StopReason::MaxWall => "max-wall",
            StopReason::Interrupted => "interrupted",
            StopReason::Memory => "memory-ceiling",
        }
    }
}

/// The first reason a run of this process stopped early (0: none).
static STOPPED_BY: std::sync::atomic::AtomicU8 = std::sync::atomic::AtomicU8::new(0);

/// Records why a run stopped early (the first reason is kept).
pub fn note_stop(reason: StopReason) {
    let _ = STOPPED_BY.compare_exchange(
        0,
        reason as u8,
        std::sync::atomic::Ordering::Relaxed,
        std::sync::atomic::Ordering::Relaxed,
    );
}

/// Why a run of this process stopped early, if one did.
pub fn stop_reason() -> Option<StopReason> {
    match STOPPED_BY.load(std::sync::atomic::Ordering::Relaxed) {
        1 => Some(StopReason::MaxEvents),
        2 => Some(StopReason::MaxWall),
        3 => Some(StopReason::Interrupted),
        4 => Some(StopReason::Memory),
        _ => None,
    }
}

/// Asked by the simulator every 4096 events: Ctrl-C, the wall-clock limit,
/// and (every 65536 events) the memory ceiling.
#[cold]
#[inline(never)]
pub fn must_stop(limits: &Limits, events: u64) -> bool {
    let reason = if limits
        .stop
        .is_some_and(|s| s.load(std::sync::atomic::Ordering::Relaxed))
    {
        Some(StopReason::Interrupted)
    } else if limits
        .deadline
        .is_some_and(|d| std::time::Instant::now() >= d)
    {
        Some(StopReason::MaxWall)
    } else if events & 0xFFFF == 0 && over_memory_ceiling() {
        Some(StopReason::Memory)
    } else {
        None
    };
    if let Some(r) = reason {
        note_stop(r);
    }
    reason.is_some()
}

/// The memory ceiling of this process, in bytes of address space: a third
/// of the address-space limit (`ulimit -v`), so that the largest buffer
/// can still double once before the allocator would fail; without such a
/// limit, 80% of the physical memory. `None` where neither is known.
pub fn memory_ceiling_bytes() -> Option<u64> {
    static CEILING: std::sync::OnceLock<Option<u64>> = std::sync::OnceLock::new();
    *CEILING.get_or_init(|| {
        if let Ok(text) = std::env::var("MQSIM_MEMORY_CEILING") {
            return text.trim().parse().ok();
        }
        #[cfg(unix)]
        {
            let mut limit = libc::rlimit {
                rlim_cur: 0,
                rlim_max: 0,
            };
            // SAFETY: getrlimit only writes the struct it is given.
            let ok = unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0;
            if ok && limit.rlim_cur != libc::RLIM_INFINITY {
                return Some(limit.rlim_cur / 3);
            }
        }
        let meminfo = std::fs::read_to_string("/proc/meminfo").ok()?;
        let kib: u64 = meminfo
            .lines()
            .find(|l| l.starts_with("MemTotal:"))?
            .split_whitespace()
            .nth(1)?
            .parse()
            .ok()?;
        Some(kib * 1024 / 10 * 8)
    })
}

/// This process's (address space, resident) bytes, from /proc/self/statm.
pub fn memory_in_use_bytes() -> Option<(u64, u64)> {
    use std::io::Read;
    let mut buf = [0u8; 128];
    let mut f = std::fs::File::open("/proc/self/statm").ok()?;
    let n = f.read(&mut buf).ok()?;
    let text = std::str::from_utf8(&buf[..n]).ok()?;
    let mut fields = text.split_whitespace();
    let size: u64 = fields.next()?.parse().ok()?;
    let resident: u64 = fields.next()?.parse().ok()?;
    // SAFETY: sysconf has no preconditions.
    let page = unsafe { libc::sysconf(libc::_SC_PAGESIZE) }.max(4096) as u64;
    Some((size * page, resident * page))
}

/// Whether the process has gone over its memory ceiling: the address space
/// under a `ulimit -v`, the resident memory otherwise.
pub fn over_memory_ceiling() -> bool {
    let Some(ceiling) = memory_ceiling_bytes() else {
        return false;
    };
    let Some((size, resident)) = memory_in_use_bytes() else {
        return false;
    };
    let limited = {
        let mut limit = libc::rlimit {
            rlim_cur: 0,
            rlim_max: 0,
        };
        // SAFETY: as above.
        (unsafe { libc::getrlimit(libc::RLIMIT_AS, &mut limit) } == 0)
            && limit.rlim_cur != libc::RLIM_INFINITY
    };
    if limited {
        size > ceiling
    } else {
        resident > ceiling
    }
}
