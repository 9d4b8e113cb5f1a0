//! OCI seccomp profiles compiled to classic BPF.
