//! containerd's CRI plugin with a runtime handler for the runtime under test, set
//! up the way a Kubernetes node is for a RuntimeClass: `runtime_type =
//! "io.containerd.runc.v2"` with `BinaryName` (and `Root`) in the handler's
//! options. `integration/cri.py` plays the kubelet.

use std::path::PathBuf;

use serde_json::Value;

use crate::{Cmd, Containerd, Output, Scratch};

/// The runtime handler (RuntimeClass `handler`) that selects the runtime under test.
pub const CRI_HANDLER: &str = "berth";
/// The namespace the CRI plugin keeps its containers and images in.
pub const CRI_NAMESPACE: &str = "k8s.io";
/// The sandbox ("pause") image, from `hack/mkimage.sh`.
pub const CRI_PAUSE_IMAGE: &str = "docker.io/berth-test/pause:latest";

/// The CRI section of containerd's config: a `berth` handler whose options name
/// the runtime under test, keeping its state in `<scratch>/cri-runtime-root`.
///
/// The default handler stays `runc` (plain runc from PATH, default root), so a
/// container that shows up in the berth handler's root was run by the handler's
/// `BinaryName`. `restrict_oom_score_adj` because this machine cannot lower
/// `oom_score_adj` (the sandbox asks for -998); host-network pods need no CNI.
pub fn cri_config(scratch: &Scratch) -> String {
    let runtime = crate::runtime_bin();
    let cri = "plugins.\"io.containerd.grpc.v1.cri\"";
    format!(
        "[{cri}]\n\
         \x20 sandbox_image = {pause:?}\n\
         \x20 restrict_oom_score_adj = true\n\
         \x20 disable_apparmor = true\n\
         \x20 stream_server_address = \"127.0.0.1\"\n\
         \x20 stream_server_port = \"0\"\n\
         [{cri}.containerd]\n\
         \x20 snapshotter = \"overlayfs\"\n\
         \x20 default_runtime_name = \"runc\"\n\
         [{cri}.containerd.runtimes.runc]\n\
         \x20 runtime_type = \"io.containerd.runc.v2\"\n\
         [{cri}.containerd.runtimes.{handler}]\n\
         \x20 runtime_type = \"io.containerd.runc.v2\"\n\
         [{cri}.containerd.runtimes.{handler}.options]\n\
         \x20 BinaryName = {runtime:?}\n\
         \x20 Root = {root:?}\n\
         [{cri}.cni]\n\
         \x20 bin_dir = {cni_bin:?}\n\
         \x20 conf_dir = {cni_conf:?}\n",
        pause = CRI_PAUSE_IMAGE,
        handler = CRI_HANDLER,
        runtime = runtime.display().to_string(),
        root = scratch.join("cri-runtime-root").display().to_string(),
        cni_bin = scratch.join("cni/bin").display().to_string(),
        cni_conf = scratch.join("cni/conf").display().to_string(),
    )
}

/// A kubelet stand-in talking to one containerd's CRI plugin.
pub struct Cri<'a> {
    containerd: &'a Containerd,
    script: PathBuf,
}

impl<'a> Cri<'a> {
    /// Imports the test and pause images into the CRI namespace of a containerd
    /// started with [`cri_config`].
    pub fn new(containerd: &'a Containerd) -> Self {
        let image = crate::image();
        for archive in [&image.docker_archive, &image.pause_archive] {
            containerd
                .ctr_in(CRI_NAMESPACE, ["images", "import"])
                .arg(archive)
                .output()
                .ok();
        }
        Cri {
            containerd,
            script: crate::workspace_root().join("integration/cri.py"),
        }
    }

    /// Where the handler's runtime keeps container state: `<Root>/k8s.io`.
    pub fn runtime_root(&self) -> PathBuf {
        self.containerd
            .scratch()
            .join("cri-runtime-root")
            .join(CRI_NAMESPACE)
    }

    /// Calls `RuntimeService/<method>` with `request`; the response as JSON, or
    /// the failed command (its stderr has the gRPC error).
    pub fn try_call(&self, method: &str, request: &Value) -> Result<Value, Output> {
        // Debian's python3, which has python3-grpcio, whatever `python3` on PATH is.
        let out = Cmd::new("/usr/bin/python3", self.containerd.scratch().path())
            .arg(&self.script)
            .arg(self.containerd.address())
            .arg(method)
            .arg(request.to_string())
            .output();
        if !out.success() {
            return Err(out);
        }
        serde_json::from_str(out.stdout.trim()).map_err(|_| out)
    }

    /// [`Cri::try_call`], panicking with the error and containerd's log.
    #[track_caller]
    pub fn call(&self, method: &str, request: &Value) -> Value {
        self.try_call(method, request).unwrap_or_else(|out| {
            panic!(
                "CRI {method} failed\n{out}\n--- containerd log ---\n{}",
                self.containerd.log()
            )
        })
    }
}
