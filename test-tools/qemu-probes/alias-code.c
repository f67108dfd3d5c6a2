// Code written through one mapping of a page and run through another, as the .NET runtime's W^X mode does
// (dotnet/runtime src/coreclr/minipal/Unix/doublemapping.cpp: a memfd "doublemapper", mapped RX where code runs and
// RW where the JIT writes it). After each write the cache is made coherent the way the runtime does it
// (FlushInstructionCache -> __builtin___clear_cache: dc cvau + ic ivau on arm64), then the code is run again.
// A CPU runs the new instructions; an emulator that keeps translations of the RX page and never sees the RW write
// runs the old ones. The same is then done through one RWX mapping (W^X off: code written where it runs).
// Prints one line per case: "<case> first=<n> second=<n>", where second should be 2.
#define _GNU_SOURCE
#include <stdint.h>
#include <stdio.h>
#include <sys/mman.h>
#include <unistd.h>

typedef int (*returns_int)(void);

static void emit_return(uint32_t *code, unsigned value)
{
    code[0] = 0x52800000u | (value << 5); // movz w0, #value
    code[1] = 0xd65f03c0u;                // ret
}

static int run_twice(const char *name, uint32_t *write_view, char *run_view)
{
    returns_int code = (returns_int)(void *)run_view;
    emit_return(write_view, 1);
    __builtin___clear_cache(run_view, run_view + 8);
    int first = code();
    emit_return(write_view, 2);
    __builtin___clear_cache(run_view, run_view + 8);
    int second = code();
    printf("%s first=%d second=%d\n", name, first, second);
    return second == 2 ? 0 : 1;
}

int main(void)
{
    long page = sysconf(_SC_PAGESIZE);
    int fd = memfd_create("doublemapper", 0);
    if (fd < 0 || ftruncate(fd, page) != 0) { perror("memfd"); return 2; }
    void *rw = mmap(NULL, page, PROT_READ | PROT_WRITE, MAP_SHARED, fd, 0);
    void *rx = mmap(NULL, page, PROT_READ | PROT_EXEC, MAP_SHARED, fd, 0);
    void *rwx = mmap(NULL, page, PROT_READ | PROT_WRITE | PROT_EXEC, MAP_PRIVATE | MAP_ANONYMOUS, -1, 0);
    if (rw == MAP_FAILED || rx == MAP_FAILED || rwx == MAP_FAILED) { perror("mmap"); return 2; }
    int stale = run_twice("double-mapped", rw, rx);
    stale |= run_twice("single-mapping", rwx, rwx) << 1;
    return stale;
}
