//! Process attributes of the runtime spec, checked from inside:
//! `process.scheduler`, `process.ioPriority`, `process.execCPUAffinity`,
//! `linux.personality`, `linux.memoryPolicy`.

use berth_e2e::{is_berth, unique_id, Bundle, Runtime};
use serde_json::json;

#[test]
fn scheduler_affinity_personality_and_memory_policy() {
    if !is_berth() {
        // runc 1.1.5 predates these fields (runtime-spec 1.2).
        return;
    }
    let rt = Runtime::new();
    let id = unique_id("attrs");
    let mut bundle = Bundle::new();
    bundle.sh(
        "uname -m; grep Cpus_allowed_list /proc/self/status | cut -f2; \
         grep policy /proc/self/sched | tr -s ' ' | cut -d' ' -f3; cut -d' ' -f19 /proc/self/stat; \
         head -1 /proc/self/numa_maps | cut -d' ' -f2",
    );
    bundle.set(
        "/process/scheduler",
        json!({"policy": "SCHED_BATCH", "nice": 5}),
    );
    bundle.set(
        "/process/ioPriority",
        json!({"class": "IOPRIO_CLASS_BE", "priority": 6}),
    );
    bundle.set(
        "/process/execCPUAffinity",
        json!({"initial": "0", "final": "1"}),
    );
    bundle.set("/linux/personality", json!({"domain": "LINUX32"}));
    bundle.set(
        "/linux/memoryPolicy",
        json!({"mode": "MPOL_BIND", "nodes": "0"}),
    );
    let before = rt.leaks(&id, &bundle);
    let out = rt.run(&id, &bundle);
    out.ok();
    // i686 (LINUX32), CPU 1 only, SCHED_BATCH (3), nice 5, bound to node 0.
    assert_eq!(out.stdout, "i686\n1\n3\n5\nbind:0\n", "{out}");
    rt.assert_nothing_left(&id, &bundle, &before);

    // exec'd processes get the personality too.
    let id = unique_id("attrs-exec");
    let mut bundle = Bundle::new();
    bundle.sh("sleep 30");
    bundle.set("/linux/personality", json!({"domain": "LINUX32"}));
    rt.run_detached(&id, &bundle).ok();
    let out = rt.exec(&["exec", &id, "uname", "-m"]);
    out.ok();
    assert_eq!(out.stdout, "i686\n");
    rt.delete_force(&id).ok();
}

#[test]
fn bad_attribute_values_fail_create() {
    if !is_berth() {
        return;
    }
    let rt = Runtime::new();
    for (pointer, value, needle) in [
        (
            "/process/execCPUAffinity",
            json!({"final": "3-1"}),
            "execCPUAffinity",
        ),
        (
            "/process/ioPriority",
            json!({"class": "IOPRIO_CLASS_BE", "priority": 9}),
            "ioPriority",
        ),
        (
            "/linux/memoryPolicy",
            json!({"mode": "MPOL_BIND", "nodes": "x"}),
            "memoryPolicy",
        ),
    ] {
        let id = unique_id("attrs-bad");
        let mut bundle = Bundle::new();
        bundle.args(&["true"]);
        bundle.set(pointer, value);
        let before = rt.leaks(&id, &bundle);
        rt.create(&id, &bundle).fails().stderr_mentions(&[needle]);
        rt.assert_nothing_left(&id, &bundle, &before);
    }
}
