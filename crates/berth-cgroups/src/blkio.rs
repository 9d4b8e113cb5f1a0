//! `linux.resources.blockIO`: v1 blkio (weights, per-device weights,
//! throttling) and v2 io (`io.weight`/`io.bfq.weight`, `io.max`).

use oci_spec::runtime::{LinuxBlockIo, LinuxThrottleDevice};

use crate::fs::{resource_err, Cg, FsManager};
use crate::{convert, Result};

const F: &str = "linux.resources.blockIO";

fn field(name: &str) -> String {
    format!("{F}.{name}")
}

/// The throttle lists: OCI name, v1 file, v2 `io.max` key.
type Throttle<'a> = (
    &'static str,
    &'static str,
    &'static str,
    &'a [LinuxThrottleDevice],
);

fn list(v: &Option<Vec<LinuxThrottleDevice>>) -> &[LinuxThrottleDevice] {
    v.as_deref().unwrap_or(&[])
}

fn throttles(b: &LinuxBlockIo) -> [Throttle<'_>; 4] {
    [
        (
            "throttleReadBpsDevice",
            "blkio.throttle.read_bps_device",
            "rbps",
            list(b.throttle_read_bps_device()),
        ),
        (
            "throttleWriteBpsDevice",
            "blkio.throttle.write_bps_device",
            "wbps",
            list(b.throttle_write_bps_device()),
        ),
        (
            "throttleReadIOPSDevice",
            "blkio.throttle.read_iops_device",
            "riops",
            list(b.throttle_read_iops_device()),
        ),
        (
            "throttleWriteIOPSDevice",
            "blkio.throttle.write_iops_device",
            "wiops",
            list(b.throttle_write_iops_device()),
        ),
    ]
}

fn first_field(b: &LinuxBlockIo) -> Option<(String, String)> {
    if let Some(w) = b.weight() {
        return Some((field("weight"), w.to_string()));
    }
    if let Some(w) = b.leaf_weight() {
        return Some((field("leafWeight"), w.to_string()));
    }
    if let Some(d) = b.weight_device().as_deref().and_then(|d| d.first()) {
        return Some((
            format!("{}[0]", field("weightDevice")),
            format!("{}:{}", d.major(), d.minor()),
        ));
    }
    throttles(b).into_iter().find_map(|(name, _, _, list)| {
        list.first().map(|d| {
            (
                format!("{}[0]", field(name)),
                format!("{}:{} {}", d.major(), d.minor(), d.rate()),
            )
        })
    })
}

pub(crate) fn apply(m: &FsManager, b: &LinuxBlockIo) -> Result<()> {
    let Some((name, value)) = first_field(b) else {
        return Ok(());
    };
    let cg = m.locate_for("blkio", Some("io"), &name, &value)?;
    if cg.v2 {
        apply_v2(&cg, b)
    } else {
        apply_v1(&cg, b)
    }
}

fn apply_v1(cg: &Cg, b: &LinuxBlockIo) -> Result<()> {
    // BFQ (the only proportional scheduler since Linux 5.0 removed CFQ)
    // has blkio.bfq.weight; CFQ had blkio.weight and leaf weights.
    let (weight_file, weight_device_file) = if cg.exists("blkio.bfq.weight") {
        ("blkio.bfq.weight", "blkio.bfq.weight_device")
    } else {
        ("blkio.weight", "blkio.weight_device")
    };
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if !cg.exists(weight_file) {
            return Err(resource_err(
                field("weight"),
                w,
                "no proportional I/O weight on this host (neither blkio.bfq.weight nor blkio.weight exist)",
            ));
        }
        cg.set(weight_file, &w.to_string(), &field("weight"), w)?;
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        cg.set("blkio.leaf_weight", &w.to_string(), &field("leafWeight"), w)?;
    }
    for (i, d) in b
        .weight_device()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.weight() {
            let name = format!("{}[{i}].weight", field("weightDevice"));
            cg.set(
                weight_device_file,
                &format!("{dev} {w}"),
                &name,
                format!("{dev} {w}"),
            )?;
        }
        if let Some(w) = d.leaf_weight() {
            let name = format!("{}[{i}].leafWeight", field("weightDevice"));
            cg.set(
                "blkio.leaf_weight_device",
                &format!("{dev} {w}"),
                &name,
                format!("{dev} {w}"),
            )?;
        }
    }
    for (name, file, _, list) in throttles(b) {
        for (i, d) in list.iter().enumerate() {
            // Rate 0 removes the device's rule on v1.
            let line = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            cg.set(file, &line, &format!("{}[{i}]", field(name)), &line)?;
        }
    }
    Ok(())
}

fn apply_v2(cg: &Cg, b: &LinuxBlockIo) -> Result<()> {
    // io.bfq.weight takes the v1 range [1, 1000] as is; io.weight (the
    // io.cost controller) needs the converted [1, 10000] value (runc).
    let bfq = cg.exists("io.bfq.weight");
    if let Some(w) = b.weight().filter(|w| *w != 0) {
        if bfq {
            cg.set("io.bfq.weight", &w.to_string(), &field("weight"), w)?;
        } else {
            let v = convert::blkio_weight_to_io_weight(w);
            cg.set("io.weight", &v.to_string(), &field("weight"), w)?;
        }
    }
    if let Some(w) = b.leaf_weight().filter(|w| *w != 0) {
        return Err(resource_err(
            field("leafWeight"),
            w,
            "cgroup v2 has no leaf weights",
        ));
    }
    for (i, d) in b
        .weight_device()
        .as_deref()
        .unwrap_or(&[])
        .iter()
        .enumerate()
    {
        let dev = format!("{}:{}", d.major(), d.minor());
        if let Some(w) = d.leaf_weight() {
            return Err(resource_err(
                format!("{}[{i}].leafWeight", field("weightDevice")),
                format!("{dev} {w}"),
                "cgroup v2 has no leaf weights",
            ));
        }
        if let Some(w) = d.weight() {
            let name = format!("{}[{i}].weight", field("weightDevice"));
            if bfq {
                cg.set(
                    "io.bfq.weight",
                    &format!("{dev} {w}"),
                    &name,
                    format!("{dev} {w}"),
                )?;
            } else {
                let v = convert::blkio_weight_to_io_weight(w);
                cg.set(
                    "io.weight",
                    &format!("{dev} {v}"),
                    &name,
                    format!("{dev} {w}"),
                )?;
            }
        }
    }
    for (name, _, key, list) in throttles(b) {
        for (i, d) in list.iter().enumerate() {
            let line = io_max_line(d, key);
            let value = format!("{}:{} {}", d.major(), d.minor(), d.rate());
            cg.set("io.max", &line, &format!("{}[{i}]", field(name)), value)?;
        }
    }
    Ok(())
}

/// One `io.max` line: `MAJ:MIN key=rate`, rate 0 meaning no limit (`max`),
/// as a 0 does on v1.
pub(crate) fn io_max_line(d: &LinuxThrottleDevice, key: &str) -> String {
    let rate = if d.rate() == 0 {
        "max".to_owned()
    } else {
        d.rate().to_string()
    };
    format!("{}:{} {key}={rate}", d.major(), d.minor())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testutil::{read, FakeTree, TestCgroup};
    use crate::Manager;
    use oci_spec::runtime::{
        LinuxBlockIoBuilder, LinuxResourcesBuilder, LinuxThrottleDeviceBuilder,
        LinuxWeightDeviceBuilder,
    };

    fn resources(b: LinuxBlockIo) -> oci_spec::runtime::LinuxResources {
        LinuxResourcesBuilder::default()
            .block_io(b)
            .build()
            .unwrap()
    }

    fn throttle(major: i64, minor: i64, rate: u64) -> LinuxThrottleDevice {
        LinuxThrottleDeviceBuilder::default()
            .major(major)
            .minor(minor)
            .rate(rate)
            .build()
            .unwrap()
    }

    /// A whole disk of this host (throttling refuses partitions).
    fn disk() -> (i64, i64) {
        let dev = std::fs::read_to_string("/sys/block/vda/dev").expect("this host has vda");
        let (maj, min) = dev.trim().split_once(':').unwrap();
        (maj.parse().unwrap(), min.parse().unwrap())
    }

    #[test]
    fn io_max_lines() {
        assert_eq!(io_max_line(&throttle(8, 0, 1024), "rbps"), "8:0 rbps=1024");
        assert_eq!(io_max_line(&throttle(8, 16, 0), "wiops"), "8:16 wiops=max");
    }

    #[test]
    fn v1_blkio_on_this_host() {
        let cg = TestCgroup::new();
        let m = cg.manager();
        let (maj, min) = disk();
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .throttle_read_bps_device(vec![throttle(maj, min, 1_048_576)])
            .throttle_write_bps_device(vec![throttle(maj, min, 2_097_152)])
            .throttle_read_iops_device(vec![throttle(maj, min, 100)])
            .throttle_write_iops_device(vec![throttle(maj, min, 200)])
            .build()
            .unwrap();
        m.apply(&resources(b)).unwrap();
        let dir = m.v1("blkio").unwrap().dir;
        assert_eq!(read(&dir, "blkio.bfq.weight"), "500");
        assert_eq!(
            read(&dir, "blkio.throttle.read_bps_device"),
            format!("{maj}:{min} 1048576")
        );
        assert_eq!(
            read(&dir, "blkio.throttle.write_bps_device"),
            format!("{maj}:{min} 2097152")
        );
        assert_eq!(
            read(&dir, "blkio.throttle.read_iops_device"),
            format!("{maj}:{min} 100")
        );
        assert_eq!(
            read(&dir, "blkio.throttle.write_iops_device"),
            format!("{maj}:{min} 200")
        );

        // update: rate 0 removes the rule.
        let b = LinuxBlockIoBuilder::default()
            .throttle_read_bps_device(vec![throttle(maj, min, 0)])
            .build()
            .unwrap();
        m.apply(&resources(b)).unwrap();
        assert_eq!(read(&dir, "blkio.throttle.read_bps_device"), "");

        // CFQ's leaf weights are gone from this kernel: a clear error.
        let b = LinuxBlockIoBuilder::default()
            .leaf_weight(300u16)
            .build()
            .unwrap();
        let err = m.apply(&resources(b)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.blockIO.leafWeight: 300: not supported"),
            "{err}"
        );
    }

    #[test]
    fn v2_io_on_a_fake_tree() {
        let fake = FakeTree::v2(&["io"]);
        let m = FsManager::new(fake.layout.clone(), "/berth/c");
        m.create().unwrap();
        let dir = fake.root.path().join("berth/c");
        FakeTree::touch(&dir, &["io.weight", "io.max"], "");
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .throttle_write_iops_device(vec![throttle(8, 0, 300)])
            .build()
            .unwrap();
        m.apply(&resources(b)).unwrap();
        assert_eq!(read(&dir, "io.weight"), "4950");
        assert_eq!(read(&dir, "io.max"), "8:0 wiops=300");

        let wd = LinuxWeightDeviceBuilder::default()
            .major(8i64)
            .minor(0i64)
            .weight(100u16)
            .build()
            .unwrap();
        let b = LinuxBlockIoBuilder::default()
            .weight_device(vec![wd])
            .build()
            .unwrap();
        m.apply(&resources(b)).unwrap();
        assert_eq!(read(&dir, "io.weight"), "8:0 910");

        // With BFQ the v1 range is written as is.
        FakeTree::touch(&dir, &["io.bfq.weight"], "");
        let b = LinuxBlockIoBuilder::default()
            .weight(500u16)
            .build()
            .unwrap();
        m.apply(&resources(b)).unwrap();
        assert_eq!(read(&dir, "io.bfq.weight"), "500");

        let b = LinuxBlockIoBuilder::default()
            .leaf_weight(10u16)
            .build()
            .unwrap();
        let err = m.apply(&resources(b)).unwrap_err().to_string();
        assert!(
            err.starts_with("linux.resources.blockIO.leafWeight: 10: cgroup v2"),
            "{err}"
        );
    }
}
