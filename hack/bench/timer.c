// timer: run one command and record its wall time and peak RSS.
//
// Usage: timer -o FILE -l LABEL -- CMD [ARG...]
//
// When the command succeeds, appends a line to FILE:
//   LABEL <TAB> NANOSECONDS <TAB> MAXRSS_KB <TAB> CPU_NANOSECONDS <TAB> MINFLT
// otherwise records nothing and exits with the command's status
// (128+N when it dies of signal N). The clock starts
// just before posix_spawn and stops when wait4 returns, so only the command
// is timed, not the shell that started this program. MAXRSS_KB is
// ru_maxrss from wait4(2): the peak RSS of the command's own process (across
// execs) and of any descendant it waited for, not of processes it left
// behind, such as a container's init. That is "the runtime process". CPU
// (user + system) and MINFLT (minor page faults) are summed over the
// command and the descendants it waited for.
//
// hack/bench/all.sh compiles it at bench time; hyperfine 1.15 cannot
// interleave contenders, so the benchmark loop is in bash and only the
// measurement is here.
#define _GNU_SOURCE
#include <errno.h>
#include <spawn.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/resource.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

extern char **environ;

static void usage(void)
{
	fprintf(stderr, "usage: timer -o FILE -l LABEL -- CMD [ARG...]\n");
	exit(2);
}

int main(int argc, char **argv)
{
	const char *out = NULL, *label = NULL;
	int opt;

	while ((opt = getopt(argc, argv, "+o:l:")) != -1) {
		switch (opt) {
		case 'o': out = optarg; break;
		case 'l': label = optarg; break;
		default: usage();
		}
	}
	if (!out || !label || optind >= argc)
		usage();

	FILE *f = fopen(out, "a");
	if (!f) {
		fprintf(stderr, "timer: failed to open %s: %s\n", out, strerror(errno));
		return 2;
	}

	struct timespec t0, t1;
	struct rusage ru;
	pid_t pid;
	int status, err;

	clock_gettime(CLOCK_MONOTONIC, &t0);
	err = posix_spawnp(&pid, argv[optind], NULL, NULL, &argv[optind], environ);
	if (err) {
		fprintf(stderr, "timer: failed to run %s: %s\n", argv[optind], strerror(err));
		return 127;
	}
	while (wait4(pid, &status, 0, &ru) < 0) {
		if (errno != EINTR) {
			fprintf(stderr, "timer: wait4 on %d: %s\n", pid, strerror(errno));
			return 2;
		}
	}
	clock_gettime(CLOCK_MONOTONIC, &t1);

	// A failed command records nothing: the caller sees the status and stops,
	// and no time of a half-done run gets into the figures.
	if (!WIFEXITED(status) || WEXITSTATUS(status) != 0) {
		fclose(f);
		return WIFSIGNALED(status) ? 128 + WTERMSIG(status) : WEXITSTATUS(status);
	}
	long long ns = (long long)(t1.tv_sec - t0.tv_sec) * 1000000000LL + (t1.tv_nsec - t0.tv_nsec);
	long long cpu = (long long)(ru.ru_utime.tv_sec + ru.ru_stime.tv_sec) * 1000000000LL
		+ (long long)(ru.ru_utime.tv_usec + ru.ru_stime.tv_usec) * 1000LL;
	fprintf(f, "%s\t%lld\t%ld\t%lld\t%ld\n", label, ns, ru.ru_maxrss, cpu, ru.ru_minflt);
	if (fclose(f) != 0) {
		fprintf(stderr, "timer: failed to write %s: %s\n", out, strerror(errno));
		return 2;
	}
	return 0;
}
