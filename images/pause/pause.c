/*
 * pause: the process of a pod's sandbox container. It holds the pod's namespaces open, so it
 * only has to wait. As PID 1 of the pod it also reaps orphaned children (SIGCHLD) and exits
 * cleanly on SIGINT/SIGTERM (PID 1 ignores signals that have no handler, so handlers are needed
 * for `docker stop` / the kubelet to stop it promptly).
 *
 * Built static (gcc -static -Os) so the image can be FROM scratch. Same contract as
 * registry.k8s.io/pause: `-v` prints the version and exits.
 */
#include <errno.h>
#include <signal.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/types.h>
#include <sys/wait.h>
#include <unistd.h>

#ifndef VERSION
#define VERSION "3.10-gefyra-ts"
#endif

static void on_stop(int sig) {
  static const char msg[] = "pause: shutting down\n";
  (void)sig;
  (void)!write(STDERR_FILENO, msg, sizeof msg - 1);
  _exit(0);
}

static void on_child(int sig) {
  int saved = errno;
  (void)sig;
  while (waitpid(-1, NULL, WNOHANG) > 0) {
  }
  errno = saved;
}

int main(int argc, char **argv) {
  struct sigaction stop, child;

  if (argc > 1 && strcmp(argv[1], "-v") == 0) {
    printf("pause.c %s\n", VERSION);
    return 0;
  }
  if (getpid() != 1) {
    fprintf(stderr, "pause: warning: not running as PID 1\n");
  }

  memset(&stop, 0, sizeof stop);
  stop.sa_handler = on_stop;
  sigemptyset(&stop.sa_mask);
  if (sigaction(SIGINT, &stop, NULL) < 0 || sigaction(SIGTERM, &stop, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }

  memset(&child, 0, sizeof child);
  child.sa_handler = on_child;
  sigemptyset(&child.sa_mask);
  child.sa_flags = SA_NOCLDSTOP | SA_RESTART;
  if (sigaction(SIGCHLD, &child, NULL) < 0) {
    perror("pause: sigaction");
    return 1;
  }

  for (;;) {
    pause();
  }
  /* not reached */
  return 42;
}
