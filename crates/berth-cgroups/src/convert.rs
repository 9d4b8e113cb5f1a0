//! Conversions of the OCI (cgroup v1 shaped) values into cgroup v2 values,
//! as runc does them.

/// `linux.resources.cpu.shares` ([2, 262144], default 1024) to v2
/// `cpu.weight` ([1, 10000], default 100), with the quadratic fit runc uses
/// since 1.3.2 / 1.4.0 (opencontainers/cgroups `ConvertCPUSharesToCgroupV2Value`,
/// runc#4785, runc#4896, kubernetes#131216; crun made the same change in
/// crun#1767). It maps min, default and max onto each other, which the old
/// linear formula did not (1024 shares became weight 39).
///
/// 0 means "unset" and stays 0.
pub fn cpu_shares_to_weight(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    if shares <= 2 {
        return 1;
    }
    if shares >= 262_144 {
        return 10_000;
    }
    let l = (shares as f64).log2();
    // Quadratic in log2(shares) through (1, 0), (10, 2) and (18, 4) in
    // log10(weight) space; same expression, same evaluation order as runc.
    let exponent = (l * l + 125.0 * l) / 612.0 - 7.0 / 34.0;
    10f64.powf(exponent).ceil() as u64
}

/// The linear conversion runc used before 1.3.2 / 1.4.0:
/// `1 + ((shares - 2) * 9999) / 262142`. Kept for reference and for reading
/// back weights written by older runtimes.
pub fn cpu_shares_to_weight_linear(shares: u64) -> u64 {
    if shares == 0 {
        return 0;
    }
    1 + (shares.saturating_sub(2) * 9999) / 262_142
}

/// `linux.resources.blockIO.weight` ([10, 1000]) to v2 `io.weight`
/// ([1, 10000]): `1 + (weight - 10) * 9999 / 990`, as runc's
/// `ConvertBlkIOToIOWeightValue`. Used when `io.bfq.weight` (which takes the
/// v1 range as is) is absent.
pub fn blkio_weight_to_io_weight(weight: u16) -> u64 {
    if weight == 0 {
        return 0;
    }
    1 + (u64::from(weight).saturating_sub(10)) * 9999 / 990
}

/// `linux.resources.memory.swap` is memory+swap (the v1 `memsw` limit); v2
/// `memory.swap.max` is swap alone. Returns the v2 value (-1 = "max",
/// 0 = unset) as runc's `ConvertMemorySwapToCgroupV2Value`, or why the pair
/// makes no sense.
pub fn memory_swap_to_v2(swap: i64, limit: i64) -> std::result::Result<i64, &'static str> {
    match (swap, limit) {
        // Unlimited memory and no swap given: both unlimited, as v1 does.
        (0, -1) => Ok(-1),
        (-1 | 0, _) => Ok(swap),
        (_, -1) => Ok(swap),
        (_, 0) => Err("a swap limit needs a memory limit"),
        (_, l) if l < 0 => Err("invalid memory limit"),
        (s, l) if s < l => Err("memory+swap limit must be >= the memory limit"),
        (s, l) => Ok(s - l),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn shares_to_weight_fits_min_default_max() {
        // The cases of opencontainers/cgroups' TestConvertCPUSharesToCgroupV2Value.
        for (shares, weight) in [
            (0, 0),
            (1, 1),
            (2, 1),
            (3, 2),
            (1024, 100),
            (262_143, 10_000),
            (262_144, 10_000),
            (262_145, 10_000),
        ] {
            assert_eq!(cpu_shares_to_weight(shares), weight, "shares {shares}");
        }
        // runc#4896: --cpu-shares 2000 gives 170 with runc 1.4, 77 before.
        assert_eq!(cpu_shares_to_weight(2000), 170);
        assert_eq!(cpu_shares_to_weight_linear(2000), 77);
    }

    #[test]
    fn shares_to_weight_is_monotonic() {
        let mut last = 0;
        for shares in 2..=262_144u64 {
            let w = cpu_shares_to_weight(shares);
            assert!(w >= last, "{shares}");
            assert!((1..=10_000).contains(&w));
            last = w;
        }
    }

    #[test]
    fn linear_shares_to_weight() {
        assert_eq!(cpu_shares_to_weight_linear(0), 0);
        assert_eq!(cpu_shares_to_weight_linear(2), 1);
        assert_eq!(cpu_shares_to_weight_linear(1024), 39);
        assert_eq!(cpu_shares_to_weight_linear(262_144), 10_000);
    }

    #[test]
    fn blkio_weight() {
        assert_eq!(blkio_weight_to_io_weight(0), 0);
        assert_eq!(blkio_weight_to_io_weight(10), 1);
        assert_eq!(blkio_weight_to_io_weight(500), 4950);
        assert_eq!(blkio_weight_to_io_weight(1000), 10_000);
    }

    #[test]
    fn swap_conversion() {
        // runc's TestConvertMemorySwapToCgroupV2Value cases.
        assert_eq!(memory_swap_to_v2(0, 0), Ok(0));
        assert_eq!(memory_swap_to_v2(-1, 0), Ok(-1));
        assert_eq!(memory_swap_to_v2(-1, -1), Ok(-1));
        assert_eq!(memory_swap_to_v2(0, -1), Ok(-1));
        assert_eq!(memory_swap_to_v2(-1, 1000), Ok(-1));
        assert_eq!(memory_swap_to_v2(1000, 1000), Ok(0));
        assert_eq!(memory_swap_to_v2(500, 200), Ok(300));
        assert_eq!(memory_swap_to_v2(300, -1), Ok(300));
        assert!(memory_swap_to_v2(300, 400).is_err());
        assert!(memory_swap_to_v2(300, 0).is_err());
        assert!(memory_swap_to_v2(300, -2).is_err());
    }
}
