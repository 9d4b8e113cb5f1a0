// reaper: run a command as a child subreaper and reap every orphan under it.
//
// Usage: reaper CMD [ARG...]
//
// A container's init outlives the runtime command that made it; its parent
// becomes the nearest subreaper, which is what containerd's shim and conmon
// are. Without one it goes to PID 1, which on the bench VM reaps lazily, so
// exited containers would linger as zombies and a runtime's wait for "init
// gone" would be timed against PID 1's habits. hack/bench/all.sh runs itself
// under this program so the benchmark is the subreaper, as the real callers
// are.
//
// SIGTERM and SIGHUP are passed on to CMD; SIGINT is ignored here because a
// ^C on the terminal already reaches CMD (same process group). Exits with
// CMD's status once CMD has exited; orphans still alive then go to PID 1.
#define _GNU_SOURCE
#include <errno.h>
#include <signal.h>
#include <spawn.h>
#include <stdio.h>
#include <string.h>
#include <sys/prctl.h>
#include <sys/wait.h>
#include <unistd.h>

extern char **environ;

static volatile sig_atomic_t child = 0;

static void forward(int sig)
{
	if (child > 0)
		kill(child, sig);
}

static void ignore(int sig)
{
	(void)sig;
}

int main(int argc, char **argv)
{
	if (argc < 2) {
		fprintf(stderr, "usage: reaper CMD [ARG...]\n");
		return 2;
	}
	if (prctl(PR_SET_CHILD_SUBREAPER, 1, 0, 0, 0) < 0) {
		fprintf(stderr, "reaper: failed to become a subreaper: %s\n", strerror(errno));
		return 2;
	}

	// Handlers, not SIG_IGN: dispositions set to handlers reset to default
	// in CMD on exec, so CMD can still trap them.
	struct sigaction sa;
	memset(&sa, 0, sizeof sa);
	sa.sa_handler = forward;
	sigaction(SIGTERM, &sa, NULL);
	sigaction(SIGHUP, &sa, NULL);
	sa.sa_handler = ignore;
	sigaction(SIGINT, &sa, NULL);

	pid_t pid;
	int err = posix_spawnp(&pid, argv[1], NULL, NULL, &argv[1], environ);
	if (err) {
		fprintf(stderr, "reaper: failed to run %s: %s\n", argv[1], strerror(err));
		return 127;
	}
	child = pid;

	for (;;) {
		int status;
		pid_t got = wait(&status);
		if (got < 0) {
			if (errno == EINTR)
				continue;
			fprintf(stderr, "reaper: wait: %s\n", strerror(errno));
			return 2;
		}
		if (got == pid) {
			if (WIFSIGNALED(status))
				return 128 + WTERMSIG(status);
			return WEXITSTATUS(status);
		}
	}
}
