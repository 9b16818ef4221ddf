//! glibc's allocator, set for how haul uses memory.
//!
//! haul moves bytes in buffers of 256 KiB to a few MiB that one thread
//! allocates (a file reader, the HTTP client's receive buffer) and another
//! frees (the request that sent them, the file writer). With glibc's
//! defaults, buffers that size are `mmap`ed or come from a per-thread arena
//! whose top is handed back to the kernel as soon as it is free, so the
//! next buffer is faulted in and zeroed page by page again: a 1 GiB
//! download made 28,000–34,000 minor page faults where s5cmd makes 3,000.
//! [`tune`] fixes the thresholds (so buffers stay in the heap and are
//! reused) and keeps the arenas to the number of cores (so a buffer freed
//! by another thread is found again).
//!
//! Measured on 2 cores against Garage on loopback (1 GiB in 16 MiB parts,
//! 16 in flight, medians of 5 run side by side, `/usr/bin/time` and `perf
//! stat -e minor-faults`): an upload from a local file went from 1.06 to
//! 0.70 s of CPU, 46 to 34 MiB peak RSS and 155,781 to 4,440 page faults;
//! a download from 0.83 to 0.78 s of CPU and 28,583 to 7,183 faults, its
//! peak RSS from 42 to 45 MiB.
//!
//! A setting the user gave glibc (`MALLOC_ARENA_MAX`,
//! `MALLOC_TRIM_THRESHOLD_`, `MALLOC_MMAP_THRESHOLD_`, `GLIBC_TUNABLES`)
//! is left as given. Elsewhere than Linux with glibc, [`tune`] does nothing.

/// Sets glibc's allocator for haul: call first thing in `main`, before
/// any thread is started.
pub fn tune() {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    glibc::tune();
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
mod glibc {
    /// Buffers below this are never `mmap`ed, and a free heap top below
    /// it is kept: 16 MiB, a default part.
    const THRESHOLD: i32 = 16 << 20;

    /// Whether the user set glibc's allocator through the variable `name`.
    fn user_set(name: &str) -> bool {
        std::env::var_os(name).is_some()
    }

    pub(super) fn tune() {
        if user_set("GLIBC_TUNABLES") {
            return;
        }
        let cores = std::thread::available_parallelism().map_or(2, usize::from);
        let arenas = i32::try_from(cores.max(2)).unwrap_or(i32::MAX);
        let settings = [
            (libc::M_ARENA_MAX, arenas, "MALLOC_ARENA_MAX"),
            (libc::M_TRIM_THRESHOLD, THRESHOLD, "MALLOC_TRIM_THRESHOLD_"),
            (libc::M_MMAP_THRESHOLD, THRESHOLD, "MALLOC_MMAP_THRESHOLD_"),
        ];
        for (param, value, env) in settings {
            if !user_set(env) {
                // SAFETY: `mallopt` only sets the allocator's parameters; it
                // is called before `main` starts any thread, with values in
                // the ranges glibc documents (a count, and byte sizes under
                // its 32 MiB `mmap` threshold limit). A refused value leaves
                // the default, which is not an error.
                #[allow(unsafe_code)]
                unsafe {
                    libc::mallopt(param, value);
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn tuning_twice_is_harmless_and_the_heap_still_works() {
        super::tune();
        super::tune();
        let v: Vec<u8> = vec![7; 1 << 20];
        assert_eq!(v.iter().map(|&b| u64::from(b)).sum::<u64>(), 7 << 20);
    }
}
