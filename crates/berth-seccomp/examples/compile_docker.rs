//! Compiles Docker's default profile N times (default 200) and prints the
//! time per compile: the figure behind the "seccomp compiled" phase of
//! `berth --debug run`, without a container. For profiling:
//! `perf record cargo run --release --example compile_docker -- 2000`.
fn main() {
    let n: u32 = std::env::args()
        .nth(1)
        .map(|a| a.parse().expect("N must be a number"))
        .unwrap_or(200);
    let value = berth_seccomp::docker::default_profile(
        berth_seccomp::docker::native_goarch(),
        berth_seccomp::docker::DEFAULT_CAPS,
    );
    let profile: oci_spec::runtime::LinuxSeccomp =
        serde_json::from_value(value).expect("Docker's profile is an OCI profile");
    let start = std::time::Instant::now();
    let mut len = 0;
    for _ in 0..n {
        len = berth_seccomp::compile(&profile)
            .expect("compile")
            .instructions()
            .len();
    }
    let each = start.elapsed() / n;
    println!("{n} compiles of Docker's default profile ({len} instructions): {each:?} each");
}
