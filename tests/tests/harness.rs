//! Checks of the harness itself: a leak detector that sees nothing proves nothing.

use berth_e2e::{unique_id, Bundle, Runtime, IDLE};

#[test]
fn leak_detector_sees_a_live_container() {
    let rt = Runtime::new();
    let id = unique_id("harness-leaks");
    let mut bundle = Bundle::new();
    bundle.sh(IDLE);
    let before = rt.leaks(&id, &bundle);
    assert!(before.is_empty(), "fresh id already has traces:\n{before}");

    rt.run_detached(&id, &bundle).ok();
    rt.wait_status(&id, "running");
    let live = rt.leaks(&id, &bundle).new_since(&before);
    assert!(live.state_dir.is_some(), "state dir not seen:\n{live}");
    assert!(!live.cgroups.is_empty(), "cgroups not seen:\n{live}");
    assert!(!live.processes.is_empty(), "init not seen:\n{live}");

    rt.delete_force(&id).ok();
    rt.assert_nothing_left(&id, &bundle, &before);
}

#[test]
fn bundle_rootfs_is_a_private_copy() {
    let first = Bundle::new();
    let second = Bundle::new();
    assert!(first.rootfs().join("bin/sh").symlink_metadata().is_ok());
    std::fs::write(first.rootfs().join("tmp/mine"), "x").expect("write into rootfs");
    assert!(!second.rootfs().join("tmp/mine").exists());
}

#[test]
fn extra_fds_reach_the_runtime_process() {
    // The same fd plumbing is used for --preserve-fds; check it with a plain shell.
    let dir = tempfile::tempdir().expect("tempdir");
    let path = dir.path().join("fd3");
    std::fs::write(&path, "via-fd3").expect("write");
    let file = std::fs::File::open(&path).expect("open");
    // Give fd 4 too, with the source numbers likely to be 3 and 4 themselves.
    let other = std::fs::File::open(&path).expect("open");
    let sh = std::path::Path::new("/bin/sh");
    let script = "cat <&3; cat <&4; ls /proc/self/fd | tr '\\n' ' '";
    let out = berth_e2e::Invocation::program(sh, &["-c", script], dir.path())
        .fd(4, other)
        .fd(3, file)
        .output();
    out.ok();
    assert!(out.stdout.starts_with("via-fd3via-fd3"), "{out}");
    assert!(out.stdout.contains(" 3 4 "), "{out}");
}
