// floor: the least work that starts a container, to compare runtimes with.
//
// Usage: floor [-n NAMESPACES] [-u HOSTID:SIZE] ROOTFS [CMD [ARG...]]
//
// clone(2)s a child into new namespaces (-n: OCI names, comma-separated;
// default pid,network,ipc,uts,mount), which makes its mounts private, binds
// ROOTFS onto itself, mounts proc on ROOTFS/proc, pivot_root(".", ".")s into
// it, detaches the old root and execs CMD (default /bin/true); the parent
// waits and exits with the child's status. With -u the child also gets a
// user namespace mapping uid and gid 0..SIZE-1 to HOSTID..: the parent writes
// the maps, as a runtime does, and the child becomes root in it.
//
// No cgroup, no /dev, no sysfs, no capabilities, no seccomp, no state: what
// a runtime does beyond this is its overhead (and its features).
#define _GNU_SOURCE
#include <errno.h>
#include <fcntl.h>
#include <sched.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/mount.h>
#include <sys/syscall.h>
#include <sys/wait.h>
#include <unistd.h>

static void die(const char *what, const char *on)
{
	fprintf(stderr, "floor: %s %s: %s\n", what, on, strerror(errno));
	_exit(127);
}

static void usage(void)
{
	fprintf(stderr, "usage: floor [-n NAMESPACES] [-u HOSTID:SIZE] ROOTFS [CMD [ARG...]]\n");
	exit(2);
}

static int ns_flags(char *list)
{
	static const struct { const char *name; int flag; } names[] = {
		{"pid", CLONE_NEWPID}, {"network", CLONE_NEWNET}, {"ipc", CLONE_NEWIPC},
		{"uts", CLONE_NEWUTS}, {"mount", CLONE_NEWNS}, {"cgroup", CLONE_NEWCGROUP},
		{"time", CLONE_NEWTIME},
	};
	int flags = 0;
	for (char *tok = strtok(list, ","); tok; tok = strtok(NULL, ",")) {
		size_t i;
		for (i = 0; i < sizeof names / sizeof names[0]; i++)
			if (strcmp(tok, names[i].name) == 0)
				break;
		if (i == sizeof names / sizeof names[0]) {
			fprintf(stderr, "floor: unknown namespace '%s'\n", tok);
			exit(2);
		}
		flags |= names[i].flag;
	}
	return flags;
}

static void write_file(const char *path, const char *text)
{
	int fd = open(path, O_WRONLY | O_CLOEXEC);
	if (fd < 0)
		die("failed to open", path);
	if (write(fd, text, strlen(text)) != (ssize_t)strlen(text))
		die("failed to write", path);
	close(fd);
}

int main(int argc, char **argv)
{
	char default_ns[] = "pid,network,ipc,uts,mount";
	char *ns = default_ns, *userns = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "+n:u:")) != -1) {
		switch (opt) {
		case 'n': ns = optarg; break;
		case 'u': userns = optarg; break;
		default: usage();
		}
	}
	if (optind >= argc)
		usage();
	const char *rootfs = argv[optind];
	char *default_cmd[] = {"/bin/true", NULL};
	char **cmd = optind + 1 < argc ? &argv[optind + 1] : default_cmd;

	int flags = ns_flags(ns);
	unsigned long hostid = 0, size = 0;
	if (userns) {
		if (sscanf(userns, "%lu:%lu", &hostid, &size) != 2)
			usage();
		flags |= CLONE_NEWUSER;
	}

	// The child waits on this pipe until the parent has written its maps.
	int sync[2] = {-1, -1};
	if (userns && pipe2(sync, O_CLOEXEC) < 0)
		die("failed to make", "a pipe");

	// A raw clone with fork semantics: no stack to set up, and the child
	// only makes syscalls before it execs.
	pid_t pid = syscall(SYS_clone, (unsigned long)flags | SIGCHLD, NULL, NULL, NULL, NULL);
	if (pid < 0)
		die("failed to clone", "the child");

	if (pid == 0) {
		if (userns) {
			char c;
			close(sync[1]);
			if (read(sync[0], &c, 1) < 0)
				die("failed to read", "the sync pipe");
			if (setresgid(0, 0, 0) < 0 || setresuid(0, 0, 0) < 0)
				die("failed to become", "root in the user namespace");
		}
		if (mount(NULL, "/", NULL, MS_REC | MS_PRIVATE, NULL) < 0)
			die("failed to make private", "/");
		if (mount(rootfs, rootfs, NULL, MS_BIND | MS_REC, NULL) < 0)
			die("failed to bind", rootfs);
		if (chdir(rootfs) < 0)
			die("failed to chdir to", rootfs);
		if (mount("proc", "proc", "proc", MS_NOSUID | MS_NODEV | MS_NOEXEC, NULL) < 0)
			die("failed to mount proc on", "proc");
		// pivot_root(".", ".") stacks the old root on the new one; detach it.
		if (syscall(SYS_pivot_root, ".", ".") < 0)
			die("failed to pivot_root into", rootfs);
		if (umount2(".", MNT_DETACH) < 0)
			die("failed to detach", "the old root");
		execv(cmd[0], cmd);
		die("failed to exec", cmd[0]);
	}

	if (userns) {
		char path[64], map[64];
		close(sync[0]);
		snprintf(map, sizeof map, "0 %lu %lu\n", hostid, size);
		snprintf(path, sizeof path, "/proc/%d/uid_map", pid);
		write_file(path, map);
		snprintf(path, sizeof path, "/proc/%d/gid_map", pid);
		write_file(path, map);
		close(sync[1]);
	}

	int status;
	while (waitpid(pid, &status, 0) < 0)
		if (errno != EINTR)
			die("failed to wait for", "the child");
	if (WIFSIGNALED(status))
		return 128 + WTERMSIG(status);
	return WEXITSTATUS(status);
}
