/*
 * runner.c - times one command for the benchmark scripts, with nothing
 * else in the measurement: the wall time from fork to exit on the
 * monotonic clock, and the command's CPU time and peak RSS from wait4.
 * Timing through sh -c and time(1) instead adds their own start-ups
 * (a few milliseconds, more on a virtual machine, where page faults are
 * dear), which hides small differences between two runs.
 *
 * usage: runner OUT RESULT PROGRAM [ARG...]
 *   runs PROGRAM (looked up in PATH) with its standard output to the file
 *   OUT, and appends "wall_s maxrss_kb user_s sys_s" to the file RESULT;
 *   exits with the command's status.
 */
#define _DEFAULT_SOURCE
#include <fcntl.h>
#include <stdio.h>
#include <stdlib.h>
#include <sys/resource.h>
#include <sys/time.h>
#include <sys/wait.h>
#include <time.h>
#include <unistd.h>

static double seconds(const struct timeval *t) { return (double)t->tv_sec + (double)t->tv_usec / 1e6; }

int main(int argc, char **argv)
{
    if (argc < 4) {
        fprintf(stderr, "usage: runner OUT RESULT PROGRAM [ARG...]\n");
        return 2;
    }
    int out = open(argv[1], O_WRONLY | O_CREAT | O_TRUNC, 0644);
    if (out < 0) {
        perror(argv[1]);
        return 2;
    }
    struct timespec t0, t1;
    clock_gettime(CLOCK_MONOTONIC, &t0);
    pid_t pid = fork();
    if (pid < 0) {
        perror("fork");
        return 2;
    }
    if (pid == 0) {
        dup2(out, 1);
        close(out);
        execvp(argv[3], argv + 3);
        perror(argv[3]);
        _exit(127);
    }
    close(out);
    int status;
    struct rusage ru;
    if (wait4(pid, &status, 0, &ru) < 0) {
        perror("wait4");
        return 2;
    }
    clock_gettime(CLOCK_MONOTONIC, &t1);
    double wall = (double)(t1.tv_sec - t0.tv_sec) + (double)(t1.tv_nsec - t0.tv_nsec) / 1e9;
    FILE *res = fopen(argv[2], "a");
    if (!res) {
        perror(argv[2]);
        return 2;
    }
    fprintf(res, "%.6f %ld %.6f %.6f\n", wall, ru.ru_maxrss, seconds(&ru.ru_utime), seconds(&ru.ru_stime));
    if (fclose(res) != 0) {
        perror(argv[2]);
        return 2;
    }
    return WIFEXITED(status) ? WEXITSTATUS(status) : 128 + WTERMSIG(status);
}
