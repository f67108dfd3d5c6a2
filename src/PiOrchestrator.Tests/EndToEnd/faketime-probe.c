/* What a process sees under FakeWallClock's environment (FakeWallClockTests builds and runs this).
 *
 *   faketime-probe wait       its wall clock's offset from the real one (read by a raw syscall, which libfaketime
 *                             does not see), and how long a 1 s timed wait on a CLOCK_MONOTONIC condition variable
 *                             really waited: the kind of wait the .NET runtime's threads make.
 *   faketime-probe race A B   four threads read the wall clock while the main one rewrites the offset file
 *                             ($FAKETIME_TIMESTAMP_FILE) 2000 times between A and B seconds, as FakeWallClock.Set
 *                             does (write aside, rename over); counts reads that were neither real+A nor real+B.
 */
#include <pthread.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <sys/syscall.h>
#include <time.h>
#include <unistd.h>

static void real_now(struct timespec *ts) { syscall(SYS_clock_gettime, CLOCK_REALTIME, ts); }

static long elapsed_ms(const struct timespec *from, const struct timespec *to) {
  return (to->tv_sec - from->tv_sec) * 1000 + (to->tv_nsec - from->tv_nsec) / 1000000;
}

static int probe_wait(void) {
  struct timespec real, fake;
  real_now(&real);
  clock_gettime(CLOCK_REALTIME, &fake);
  long offset = fake.tv_sec - real.tv_sec;

  pthread_condattr_t attr;
  pthread_condattr_init(&attr);
  pthread_condattr_setclock(&attr, CLOCK_MONOTONIC);
  pthread_cond_t cond;
  pthread_cond_init(&cond, &attr);
  pthread_mutex_t mutex = PTHREAD_MUTEX_INITIALIZER;
  struct timespec start, end, deadline;
  clock_gettime(CLOCK_MONOTONIC, &start);
  deadline = start;
  deadline.tv_sec += 1;
  pthread_mutex_lock(&mutex);
  int rc;
  do rc = pthread_cond_timedwait(&cond, &mutex, &deadline); while (rc == 0); /* 0 is a spurious wake-up */
  pthread_mutex_unlock(&mutex);
  clock_gettime(CLOCK_MONOTONIC, &end);
  printf("offset=%ld rc=%d waited_ms=%ld\n", offset, rc, elapsed_ms(&start, &end));
  return 0;
}

static volatile int stop;
static long offset_a, offset_b, reads, foreign;

static void *reader(void *unused) {
  (void)unused;
  while (!stop) {
    struct timespec before, fake, after;
    real_now(&before);
    clock_gettime(CLOCK_REALTIME, &fake);
    real_now(&after);
    int in_range = fake.tv_nsec >= 0 && fake.tv_nsec < 1000000000L &&
      ((fake.tv_sec >= before.tv_sec - 1 + offset_a && fake.tv_sec <= after.tv_sec + 1 + offset_a) ||
       (fake.tv_sec >= before.tv_sec - 1 + offset_b && fake.tv_sec <= after.tv_sec + 1 + offset_b));
    __atomic_add_fetch(&reads, 1, __ATOMIC_RELAXED);
    if (!in_range) __atomic_add_fetch(&foreign, 1, __ATOMIC_RELAXED);
  }
  return NULL;
}

static int write_offset(const char *file, long offset) {
  char next[4096];
  snprintf(next, sizeof next, "%s.next", file);
  FILE *f = fopen(next, "w");
  if (f == NULL) return -1;
  fprintf(f, "%+ld\n", offset);
  if (fclose(f) != 0) return -1;
  return rename(next, file);
}

static int probe_race(long a, long b) {
  const char *file = getenv("FAKETIME_TIMESTAMP_FILE");
  if (file == NULL) { fprintf(stderr, "FAKETIME_TIMESTAMP_FILE is not set\n"); return 2; }
  offset_a = a;
  offset_b = b;
  if (write_offset(file, a) != 0) { perror(file); return 2; }
  pthread_t threads[4];
  for (int i = 0; i < 4; i++) pthread_create(&threads[i], NULL, reader, NULL);
  for (int i = 0; i < 2000; i++)
    if (write_offset(file, i % 2 ? b : a) != 0) { perror(file); return 2; }
  stop = 1;
  for (int i = 0; i < 4; i++) pthread_join(threads[i], NULL);
  printf("reads=%ld foreign=%ld\n", reads, foreign);
  return 0;
}

int main(int argc, char **argv) {
  if (argc == 2 && strcmp(argv[1], "wait") == 0) return probe_wait();
  if (argc == 4 && strcmp(argv[1], "race") == 0) return probe_race(atol(argv[2]), atol(argv[3]));
  fprintf(stderr, "usage: faketime-probe wait | race A B\n");
  return 2;
}
